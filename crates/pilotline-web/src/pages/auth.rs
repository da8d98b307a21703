//! Signing in and out, the language switch, and the start page of each role.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use maud::html;
use pilotline_domain::Role;
use serde::Deserialize;

use super::forms::{decode, local_path, see_other};
use crate::WebState;
use crate::error::PageError;
use crate::i18n::Lang;
use crate::layout;
use crate::session::{Viewer, Words, cleared_session_cookie, lang_cookie, session_cookie};

/// Where a role starts.
fn start_of(role: Role) -> &'static str {
    match role {
        Role::Operator => "/ui/floor",
        Role::Engineer | Role::Admin => "/ui/wip",
        Role::Manager => "/ui/dashboard",
        Role::Customer | Role::TenantAdmin => "/ui/portal",
    }
}

/// `/ui/`: the viewer's start page.
pub async fn home(v: Viewer) -> Response {
    see_other(start_of(v.actor.role))
}

/// Where sign-in returns to.
#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

fn login_page(
    tr: &crate::i18n::Tr,
    next: &str,
    name: &str,
    problem: Option<(&str, String)>,
) -> layout::Html {
    layout::bare(
        tr,
        &tr.t("sign-in-title"),
        html! {
            @if let Some(p) = problem {
                div.problem role="alert" data-code=(p.0) { p { (p.1) } }
            }
            form.signin method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next);
                label for="name" { (tr.t("sign-in-name")) }
                input id="name" name="name" type="text" autocomplete="username" required value=(name) autofocus;
                label for="password" { (tr.t("sign-in-password")) }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button.primary type="submit" { (tr.t("sign-in-submit")) }
            }
        },
    )
}

/// The sign-in form.
pub async fn login_form(Words(tr): Words, Query(q): Query<Next>) -> layout::Html {
    login_page(&tr, &local_path(q.next.as_deref()), "", None)
}

#[derive(Deserialize)]
struct SignIn {
    name: String,
    password: String,
    next: Option<String>,
}

/// Signs in: a session cookie and back to where the viewer was going; a refusal re-shows the
/// form with its reason (the same one for a wrong name and a wrong password).
pub async fn login(
    State(state): State<WebState>,
    Words(tr): Words,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: SignIn = decode(&body, &tr)?;
    let next = local_path(form.next.as_deref());
    match state.app.sign_in(form.name.trim(), &form.password).await {
        Ok(signed) => {
            let to = if next == "/ui/" {
                start_of(signed.actor.role).to_string()
            } else {
                next
            };
            let mut res = see_other(&to);
            res.headers_mut().append(
                SET_COOKIE,
                session_cookie(&signed.secret)
                    .parse()
                    .expect("cookie header"),
            );
            Ok(res)
        }
        Err(e) => {
            let refusal = e.refusal();
            let status = axum::http::StatusCode::from_u16(refusal.kind().http_status())
                .unwrap_or(axum::http::StatusCode::UNAUTHORIZED);
            let page = login_page(
                &tr,
                &next,
                form.name.trim(),
                Some((refusal.code().as_str(), tr.refusal(&refusal))),
            );
            Ok((status, page).into_response())
        }
    }
}

#[derive(Deserialize)]
struct SignOut {
    everywhere: Option<String>,
}

/// Signs out (this session, or with `everywhere` every session of the user).
pub async fn logout(
    State(state): State<WebState>,
    v: Viewer,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: SignOut = decode(&body, &v.tr)?;
    state
        .app
        .sign_out(&v.secret, form.everywhere.is_some())
        .await
        .map_err(|e| PageError::new(v.tr.clone(), e))?;
    let mut res = see_other("/ui/login");
    res.headers_mut().append(
        SET_COOKIE,
        cleared_session_cookie().parse().expect("cookie header"),
    );
    Ok(res)
}

#[derive(Deserialize)]
struct Switch {
    lang: String,
    back: Option<String>,
}

/// The language switch: remembered in a cookie, back to the same page.
pub async fn switch_lang(Words(tr): Words, body: Bytes) -> Result<Response, PageError> {
    let form: Switch = decode(&body, &tr)?;
    let lang = Lang::from_tag(&form.lang).unwrap_or(tr.lang);
    let mut res = see_other(&local_path(form.back.as_deref()));
    res.headers_mut().append(
        SET_COOKIE,
        lang_cookie(lang).parse().expect("cookie header"),
    );
    Ok(res)
}
