//! The page shell: document head, the navigation a role sees, the language switch and sign-out,
//! and a skip link, around each page's content.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use pilotline_domain::Role;

use crate::i18n::{Lang, Tr};
use crate::session::Viewer;

/// A rendered HTML page (never cached: it shows live state and is someone's own).
pub struct Html(pub Markup);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        let mut res = self.0.into_string().into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        res
    }
}

/// One entry of the navigation.
struct NavItem {
    href: &'static str,
    key: &'static str,
}

/// The pages a role works with, in the order its people use them.
fn nav(role: Role) -> Vec<NavItem> {
    let item = |href, key| NavItem { href, key };
    match role {
        Role::Operator => vec![
            item("/ui/floor", "nav-floor"),
            item("/ui/wip", "nav-wip"),
            item("/ui/tools", "nav-tools"),
        ],
        Role::Engineer | Role::Admin => vec![
            item("/ui/wip", "nav-wip"),
            item("/ui/floor", "nav-floor"),
            item("/ui/tools", "nav-tools"),
            item("/ui/yield", "nav-yield"),
            item("/ui/spc", "nav-spc"),
            item("/ui/modules", "nav-modules"),
            item("/ui/portal", "nav-shuttles"),
            item("/ui/dashboard", "nav-dashboard"),
        ],
        Role::Manager => vec![
            item("/ui/dashboard", "nav-dashboard"),
            item("/ui/yield", "nav-yield"),
            item("/ui/spc", "nav-spc"),
            item("/ui/wip", "nav-wip"),
            item("/ui/tools", "nav-tools"),
            item("/ui/modules", "nav-modules"),
            item("/ui/portal", "nav-shuttles"),
        ],
        Role::Customer | Role::TenantAdmin => vec![
            item("/ui/portal", "nav-portal"),
            item("/ui/modules", "nav-modules"),
        ],
    }
}

fn head(tr: &Tr, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Pilotline" }
            link rel="stylesheet" href="/ui/static/pilotline.css";
            script src="/ui/static/pilotline.js" defer {}
            meta name="pilotline-lang" content=(tr.lang.tag());
        }
    }
}

fn lang_switch(tr: &Tr, back: &str) -> Markup {
    html! {
        form.lang method="post" action="/ui/lang" {
            input type="hidden" name="back" value=(back);
            @for lang in Lang::ALL {
                @if lang == tr.lang {
                    span.current lang=(lang.tag()) aria-current="true" { (lang.own_name()) }
                } @else {
                    button type="submit" name="lang" value=(lang.tag()) lang=(lang.tag()) { (lang.own_name()) }
                }
            }
        }
    }
}

/// A page for a signed-in viewer: `current` is the navigation entry it belongs to.
pub fn page(v: &Viewer, current: &str, title: &str, content: Markup) -> Html {
    let tr = &v.tr;
    let who = match &v.actor.tenant {
        Some(t) => format!(
            "{} · {} · {t}",
            v.actor.user,
            tr.t(&format!("role-{}", v.actor.role.as_str()))
        ),
        None => format!(
            "{} · {}",
            v.actor.user,
            tr.t(&format!("role-{}", v.actor.role.as_str()))
        ),
    };
    Html(html! {
        (DOCTYPE)
        html lang=(tr.lang.tag()) {
            (head(tr, title))
            body {
                a.skip href="#main" { (tr.t("skip-to-content")) }
                header.top {
                    a.brand href="/ui/" { "Pilotline" }
                    nav aria-label=(tr.t("nav-label")) {
                        ul {
                            @for item in nav(v.actor.role) {
                                li {
                                    @if item.href == current {
                                        a href=(item.href) aria-current="page" { (tr.t(item.key)) }
                                    } @else {
                                        a href=(item.href) { (tr.t(item.key)) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (who) }
                        (lang_switch(tr, &v.path))
                        form method="post" action="/ui/logout" {
                            button type="submit" { (tr.t("sign-out")) }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    })
}

/// A page without navigation (sign-in, errors).
pub fn bare(tr: &Tr, title: &str, content: Markup) -> Html {
    Html(html! {
        (DOCTYPE)
        html lang=(tr.lang.tag()) {
            (head(tr, title))
            body {
                header.top {
                    a.brand href="/ui/" { "Pilotline" }
                    div.who { (lang_switch(tr, "/ui/")) }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    })
}

/// Inline SVG produced by a chart renderer (already escaped by it).
pub fn svg(markup: String) -> Markup {
    PreEscaped(markup)
}
