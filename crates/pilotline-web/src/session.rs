//! Who is looking: the session cookie resolved to an actor through the application layer on
//! every request, the viewer's language and time zone, and the cookies that carry them.

use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;
use chrono::FixedOffset;
use pilotline_app::Use;
use pilotline_domain::{Actor, Code};

use crate::WebState;
use crate::error::PageError;
use crate::i18n::{Lang, Tr};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pilotline_session";
/// The language switch's cookie.
pub const LANG_COOKIE: &str = "pilotline_lang";
/// The browser's offset from UTC in minutes east (written by the page's script).
pub const TZ_COOKIE: &str = "pilotline_tz";
/// The header the page's own polling sends: such a request does not keep the session alive.
pub const POLL_HEADER: &str = "x-pilotline-poll";

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// `Set-Cookie` for the session: `Secure`, `HttpOnly`, `SameSite=Strict`, the whole site.
/// Without `Max-Age` it ends with the browser; the store ends it by the idle and absolute
/// timeouts whatever the browser keeps.
pub fn session_cookie(secret: &str) -> String {
    format!("{SESSION_COOKIE}={secret}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// `Set-Cookie` for the language switch (a year).
pub fn lang_cookie(lang: Lang) -> String {
    format!(
        "{LANG_COOKIE}={}; Path=/; Secure; SameSite=Lax; Max-Age=31536000",
        lang.tag()
    )
}

/// The viewer's language: the switch's cookie, else `Accept-Language`.
pub fn lang_of(parts: &Parts) -> Lang {
    cookie(parts, LANG_COOKIE)
        .and_then(Lang::from_tag)
        .unwrap_or_else(|| {
            Lang::negotiate(
                parts
                    .headers
                    .get(ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        })
}

/// The viewer's offset from UTC (bounded to ±14 h), UTC until the browser said.
fn offset_of(parts: &Parts) -> FixedOffset {
    cookie(parts, TZ_COOKIE)
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|m| m.abs() <= 14 * 60)
        .and_then(|m| FixedOffset::east_opt(m * 60))
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// The words of anyone, signed in or not (the sign-in page, error pages).
#[derive(Clone)]
pub struct Words(pub Tr);

impl FromRequestParts<WebState> for Words {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Words(Tr::new(
            lang_of(parts),
            offset_of(parts),
            state.catalogues.clone(),
        )))
    }
}

/// A signed-in viewer: the actor its session belongs to, and its words.
#[derive(Clone)]
pub struct Viewer {
    /// Who, with the role and tenant the application layer checks.
    pub actor: Actor,
    /// The session's secret (to sign out).
    pub secret: String,
    /// Language and time zone.
    pub tr: Tr,
    /// The path asked for (where sign-in returns to).
    pub path: String,
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        let tr = Tr::new(lang_of(parts), offset_of(parts), state.catalogues.clone());
        // The path as the browser asked for it (a nested router sees it without `/ui`).
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(&parts.uri, |o| &o.0);
        let path = uri
            .path_and_query()
            .map_or_else(|| "/ui/".to_string(), |p| p.as_str().to_string());
        let Some(secret) = cookie(parts, SESSION_COOKIE).filter(|s| !s.is_empty()) else {
            return Err(PageError::sign_in(
                tr,
                &path,
                Code::SessionInvalid.refusal(),
            ));
        };
        let usage = if parts.headers.contains_key(POLL_HEADER) {
            Use::Poll
        } else {
            Use::Activity
        };
        match state.app.session_actor(secret, usage).await {
            Ok(actor) => Ok(Viewer {
                actor,
                secret: secret.to_string(),
                tr,
                path,
            }),
            Err(e) => {
                let refusal = e.refusal();
                if refusal.kind().http_status() == 401 {
                    Err(PageError::sign_in(tr, &path, refusal))
                } else {
                    Err(PageError::new(tr, e))
                }
            }
        }
    }
}
