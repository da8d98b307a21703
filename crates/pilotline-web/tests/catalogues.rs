//! The message catalogues: both languages hold the same messages with the same parameters,
//! Chinese renders every refusal code with the parameters of its English template, and every
//! page route is in the list the page × persona test walks.

use pilotline_domain::Code;
use pilotline_web::i18n::{self, Catalogues, Lang};
use std::collections::BTreeSet;

/// The `{ $name }` placeables of a Fluent pattern.
fn placeables(pattern: &str) -> BTreeSet<String> {
    pattern
        .split("{ $")
        .skip(1)
        .filter_map(|rest| rest.split_once(" }").map(|(name, _)| name.to_string()))
        .collect()
}

/// Each message of a catalogue source with its text.
fn messages(source: &str) -> Vec<(String, String)> {
    source
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

#[test]
fn both_catalogues_parse_and_hold_the_same_messages_with_the_same_parameters() {
    Catalogues::load().expect("the catalogues parse");
    let en = messages(i18n::source(Lang::En));
    let zh: Vec<(String, String)> = messages(i18n::source(Lang::ZhCn))
        .into_iter()
        .filter(|(k, _)| !k.starts_with("refusal-"))
        .collect();
    let en_ids: BTreeSet<&str> = en.iter().map(|(k, _)| k.as_str()).collect();
    let zh_ids: BTreeSet<&str> = zh.iter().map(|(k, _)| k.as_str()).collect();
    let only_en: Vec<_> = en_ids.difference(&zh_ids).collect();
    let only_zh: Vec<_> = zh_ids.difference(&en_ids).collect();
    assert!(only_en.is_empty(), "missing from zh-CN.ftl: {only_en:?}");
    assert!(only_zh.is_empty(), "missing from en.ftl: {only_zh:?}");
    assert_eq!(
        en.len(),
        en_ids.len(),
        "a message is defined twice in en.ftl"
    );
    assert_eq!(
        i18n::message_ids(i18n::source(Lang::En)).len(),
        en.len(),
        "every message is on one line"
    );
    for (k, v) in &en {
        let (_, z) = zh.iter().find(|(zk, _)| zk == k).unwrap();
        assert_eq!(placeables(v), placeables(z), "{k}: parameters differ");
    }
}

#[test]
fn every_refusal_code_has_chinese_text_with_its_english_parameters() {
    let zh = messages(i18n::source(Lang::ZhCn));
    for code in Code::ALL {
        let key = format!("refusal-{}", code.as_str());
        let (_, text) = zh
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("zh-CN.ftl has no {key}"));
        let english: BTreeSet<String> = code
            .english()
            .split('{')
            .skip(1)
            .filter_map(|r| r.split_once('}').map(|(n, _)| n.to_string()))
            .collect();
        assert_eq!(placeables(text), english, "{key}: parameters differ");
    }
    let cats = Catalogues::load().unwrap();
    for code in Code::ALL {
        let key = format!("refusal-{}", code.as_str());
        assert!(
            cats.has(Lang::En, &key) && cats.has(Lang::ZhCn, &key),
            "{key}"
        );
    }
}

#[test]
fn a_refusal_reads_in_the_viewers_language_from_its_code() {
    let tr = |lang| {
        i18n::Tr::new(
            lang,
            chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
            Catalogues::shared(),
        )
    };
    let r = Code::LotHeld
        .refusal()
        .with("lot", "A1")
        .with("holds", "#1 ENG");
    assert_eq!(tr(Lang::En).refusal(&r), r.message());
    assert_eq!(
        tr(Lang::ZhCn).refusal(&r),
        "批次 A1 处于暂停（#1 ENG）；须先解除所有暂停"
    );
    // Times show in the viewer's zone.
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T16:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(tr(Lang::ZhCn).time(at), "2026-12-02 00:30");
}

#[test]
fn every_page_route_is_in_the_page_list() {
    let source = include_str!("../src/lib.rs");
    let mut routes = Vec::new();
    for line in source.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(".route(\"")
            && let Some((path, handler)) = rest.split_once('"')
            && handler.contains("get(")
        {
            routes.push(path.to_string());
        }
    }
    // The nest's own root and `/` only redirect; `/ui/` is the page list's `/`.
    routes.retain(|r| r != "/" && r != "/ui");
    for r in routes {
        let page = if r == "/ui/" { "/".to_string() } else { r };
        assert!(
            pilotline_web::PAGES.contains(&page.as_str()),
            "page {page} is not in pilotline_web::PAGES (so no persona test visits it)"
        );
    }
}

#[test]
fn quote_lines_and_precheck_results_read_in_english_as_the_api_sends_them_and_in_chinese() {
    use pilotline_mpw::offer::{AreaTerms, OptionOffer, SlotMenu, SlotShape};
    use pilotline_mpw::precheck::{Requirements, precheck, sample};
    use pilotline_mpw::{Field, LayerKey, Offer, Space};
    let tr = |lang| {
        i18n::Tr::new(
            lang,
            chrono::FixedOffset::east_opt(0).unwrap(),
            Catalogues::shared(),
        )
    };
    let (en, zh) = (tr(Lang::En), tr(Lang::ZhCn));
    let offer = Offer {
        currency: "CNY".into(),
        seal_ring_um: 20,
        scribe_um: 80,
        slots: Some(SlotMenu {
            columns: 4,
            rows: 4,
            shapes: vec![SlotShape {
                id: "2x2".into(),
                columns: 2,
                rows: 2,
                count: 1,
                price_minor: 3_500_000,
                dies_delivered: 40,
            }],
        }),
        area: Some(AreaTerms {
            price_per_mm2_minor: 150_000,
            min_area_um2: 1_000_000,
            capacity_um2: 100_000_000,
            dies_delivered: 25,
        }),
        options: vec![OptionOffer {
            id: "dicing".into(),
            name: "Dicing and sorting of good dies".into(),
            price_minor: 200_000,
        }],
    };
    let field = Field {
        width_um: 10_000,
        height_um: 10_000,
    };
    let mut lines = Vec::new();
    for space in [
        Space::Slot { slot: "2x2".into() },
        Space::Area {
            width_um: 1500,
            height_um: 900,
        },
    ] {
        let quote = offer
            .quote("MPW-1", &field, &space, &["dicing".into()])
            .unwrap();
        lines.extend(quote.lines);
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
    for line in &lines {
        assert!(!line.phrase.is_empty(), "{line:?}");
        assert_eq!(en.phrase(&line.phrase, ""), line.description);
    }
    assert!(zh.phrase(&lines[0].phrase, "").starts_with("版位 2x2"));

    let req = Requirements {
        limit: Field {
            width_um: 1000,
            height_um: 1000,
        },
        seal_ring_um: 20,
        layers: [LayerKey {
            layer: 1,
            datatype: 0,
        }]
        .into(),
    };
    // A design that passes, one too large on an unknown layer, an empty library and a file
    // that is not GDSII: every check's every text, passed and failed.
    let files = [
        sample::design(500, 500, &[1]),
        sample::design(5000, 800, &[1, 7]),
        sample::library(Vec::new()),
        b"not a GDSII stream at all".to_vec(),
    ];
    let mut seen = BTreeSet::new();
    for file in &files {
        let verdict = precheck(file.as_slice(), &req);
        for c in &verdict.checks {
            for (phrase, text) in [
                (&c.measured_phrase, &c.measured),
                (&c.expected_phrase, &c.expected),
            ]
            .into_iter()
            .chain(c.reason_phrase.iter().zip(c.reason.iter()))
            {
                assert!(!phrase.is_empty(), "{c:?}");
                assert_eq!(&en.phrase(phrase, ""), text, "{}", phrase.key);
                let chinese = zh.phrase(phrase, "");
                assert!(
                    !chinese.is_empty() && !chinese.contains('⟦'),
                    "{}",
                    phrase.key
                );
                seen.insert(phrase.key.clone());
            }
        }
    }
    assert!(seen.len() >= 20, "{seen:?}");
}
