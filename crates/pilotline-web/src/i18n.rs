//! Languages: the message catalogues (Fluent, one file per language under `locales/`), the
//! choice of language (a switch that sticks in a cookie, else `Accept-Language`), refusals
//! rendered from their codes, and times in the viewer's time zone.
//!
//! The English text of a refusal is its code's template in `pilotline-domain` (the one source
//! the API's `detail` is rendered from too); every other language's catalogue holds a
//! `refusal-{code}` message for each code, with the same parameters.

use chrono::{DateTime, FixedOffset, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use pilotline_domain::{Code, Refusal};
use std::sync::{Arc, OnceLock};

/// A language the interface speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    /// Every language, in the order the switch shows them.
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag (`zh-CN`, `en`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name for itself.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    /// The language of a tag (`zh`, `zh-CN`, `zh-Hans-CN`, `en-GB`…), if spoken here.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::ZhCn),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers most among those spoken here (by
    /// quality, then order); English when none is.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, item) in header.split(',').enumerate() {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_tag(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _, _)| q > bq)
            {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, l)| l)
    }
}

/// The source of each language's catalogue.
const SOURCES: [(Lang, &str); 2] = [
    (Lang::En, include_str!("../locales/en.ftl")),
    (Lang::ZhCn, include_str!("../locales/zh-CN.ftl")),
];

/// The catalogue source of `lang` (for tests that compare catalogues).
pub fn source(lang: Lang) -> &'static str {
    SOURCES
        .iter()
        .find(|(l, _)| *l == lang)
        .map_or("", |(_, s)| s)
}

/// The message ids a catalogue source defines, in order.
pub fn message_ids(source: &str) -> Vec<String> {
    match FluentResource::try_new(source.to_string()) {
        Ok(res) | Err((res, _)) => res
            .entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                _ => None,
            })
            .collect(),
    }
}

/// Every language's loaded catalogue.
pub struct Catalogues {
    bundles: Vec<(Lang, FluentBundle<FluentResource>)>,
}

/// A template of the domain's (`lot {lot} is held`) as Fluent (`lot { $lot } is held`).
fn fluent_template(template: &str) -> String {
    pilotline_domain::refusal::render_with(template, |out, name| {
        out.push_str("{ $");
        out.push_str(name);
        out.push_str(" }");
    })
}

impl Catalogues {
    /// Loads the catalogues compiled into the binary (and the English refusals from the
    /// domain's templates). A catalogue that does not parse is a build defect: the test suite
    /// loads them, so this fails there first.
    pub fn load() -> Result<Catalogues, String> {
        let mut bundles = Vec::new();
        for (lang, src) in SOURCES {
            let id: unic_langid::LanguageIdentifier = lang
                .tag()
                .parse()
                .map_err(|e| format!("{}: {e}", lang.tag()))?;
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            bundle.set_use_isolating(false);
            let res = FluentResource::try_new(src.to_string())
                .map_err(|(_, errs)| format!("{}.ftl: {errs:?}", lang.tag()))?;
            bundle
                .add_resource(res)
                .map_err(|errs| format!("{}.ftl: {errs:?}", lang.tag()))?;
            if lang == Lang::En {
                let generated: String = Code::ALL
                    .iter()
                    .map(|c| {
                        format!(
                            "refusal-{} = {}\n",
                            c.as_str(),
                            fluent_template(c.english())
                        )
                    })
                    .collect();
                let res = FluentResource::try_new(generated)
                    .map_err(|(_, errs)| format!("English refusals: {errs:?}"))?;
                bundle
                    .add_resource(res)
                    .map_err(|errs| format!("English refusals: {errs:?}"))?;
            }
            bundles.push((lang, bundle));
        }
        Ok(Catalogues { bundles })
    }

    /// The process's catalogues, loaded once.
    pub fn shared() -> Arc<Catalogues> {
        static SHARED: OnceLock<Arc<Catalogues>> = OnceLock::new();
        SHARED
            .get_or_init(|| Arc::new(Catalogues::load().expect("the message catalogues parse")))
            .clone()
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        self.bundles
            .iter()
            .find(|(l, _)| *l == lang)
            .map(|(_, b)| b)
            .unwrap_or(&self.bundles[0].1)
    }

    /// Whether `lang`'s catalogue has message `key`.
    pub fn has(&self, lang: Lang, key: &str) -> bool {
        self.bundle(lang).has_message(key)
    }

    /// Message `key` in `lang` with `args`; a missing key shows as `⟦key⟧` (and the page
    /// tests fail on that mark).
    pub fn message(&self, lang: Lang, key: &str, args: &[(&str, String)]) -> String {
        let bundle = self.bundle(lang);
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            tracing::warn!(key, lang = lang.tag(), "message missing from the catalogue");
            return format!("⟦{key}⟧");
        };
        let mut fargs = FluentArgs::new();
        for (name, value) in args {
            fargs.set(*name, value.clone());
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fargs), &mut errors);
        if !errors.is_empty() {
            tracing::warn!(
                key,
                lang = lang.tag(),
                ?errors,
                "message rendered with errors"
            );
        }
        text.into_owned()
    }
}

/// The words of one viewer: a language and a time zone.
#[derive(Clone)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
    /// The viewer's offset from UTC (from the browser; UTC until it is known).
    pub offset: FixedOffset,
    catalogues: Arc<Catalogues>,
}

impl Tr {
    /// Words in `lang`, times at `offset`.
    pub fn new(lang: Lang, offset: FixedOffset, catalogues: Arc<Catalogues>) -> Tr {
        Tr {
            lang,
            offset,
            catalogues,
        }
    }

    /// Message `key`.
    pub fn t(&self, key: &str) -> String {
        self.catalogues.message(self.lang, key, &[])
    }

    /// Message `key` with arguments.
    pub fn ta(&self, key: &str, args: &[(&str, String)]) -> String {
        self.catalogues.message(self.lang, key, args)
    }

    /// A quote line's or a precheck's phrase in this language; `english` (the text stored
    /// beside it) for a phrase stored before phrases existed.
    pub fn phrase(&self, phrase: &pilotline_mpw::Phrase, english: &str) -> String {
        if phrase.is_empty() || !self.catalogues.has(self.lang, &phrase.key) {
            return english.to_string();
        }
        let args: Vec<(&str, String)> = phrase
            .args
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.catalogues.message(self.lang, &phrase.key, &args)
    }

    /// A refusal in this language, rendered from its code and parameters.
    pub fn refusal(&self, refusal: &Refusal) -> String {
        let key = format!("refusal-{}", refusal.code().as_str());
        let args: Vec<(&str, String)> = refusal
            .params()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        if self.catalogues.has(self.lang, &key) {
            self.catalogues.message(self.lang, &key, &args)
        } else {
            refusal.message()
        }
    }

    /// A time in the viewer's zone: `2026-12-01 14:05`, with the zone's offset when it is
    /// not known to be the viewer's own.
    pub fn time(&self, at: DateTime<Utc>) -> String {
        let local = at.with_timezone(&self.offset);
        if self.offset.local_minus_utc() == 0 {
            format!("{} UTC", local.format("%Y-%m-%d %H:%M"))
        } else {
            local.format("%Y-%m-%d %H:%M").to_string()
        }
    }

    /// A date in the viewer's zone.
    pub fn date(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.offset)
            .format("%Y-%m-%d")
            .to_string()
    }

    /// A number with `decimals` places and digit grouping (both languages group by three).
    pub fn number(&self, value: f64, decimals: usize) -> String {
        let text = format!("{value:.decimals$}");
        let (int, frac) = text
            .split_once('.')
            .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
        let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
        let mut grouped = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        match frac {
            Some(f) => format!("{sign}{grouped}.{f}"),
            None => format!("{sign}{grouped}"),
        }
    }

    /// A fraction as a percentage with one decimal.
    pub fn percent(&self, fraction: f64) -> String {
        format!("{}%", self.number(fraction * 100.0, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_spoken_language() {
        assert_eq!(Lang::negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("de-DE,en;q=0.5,zh;q=0.4")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr, zh-Hans-CN;q=0.7")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("en;q=0, zh;q=0.1")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(None), Lang::En);
    }

    #[test]
    fn domain_templates_become_fluent_placeables() {
        assert_eq!(
            fluent_template("lot {lot} is {state}"),
            "lot { $lot } is { $state }"
        );
        assert_eq!(fluent_template("no params"), "no params");
    }

    #[test]
    fn numbers_group_by_three() {
        let tr = Tr::new(
            Lang::En,
            FixedOffset::east_opt(0).unwrap(),
            Catalogues::shared(),
        );
        assert_eq!(tr.number(1234567.891, 2), "1,234,567.89");
        assert_eq!(tr.number(-999.0, 0), "-999");
        assert_eq!(tr.percent(0.9345), "93.5%");
    }
}
