//! A tenant's people, as its tenant admin (or a platform admin) manages them: who they are,
//! adding one with a password, disabling and enabling (with their API tokens revoked).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;
use pilotline_domain::{Code, Role};
use serde::Deserialize;

use super::forms::{decode, filled, see_other};
use crate::WebState;
use crate::error::{OrPage, PageError};
use crate::layout::{self, Html};
use crate::session::Viewer;

/// `/ui/tenants/{id}/people`.
pub async fn page(
    State(s): State<WebState>,
    v: Viewer,
    Path(tenant): Path<String>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let people = s.app.tenant_users(&tenant, &v.actor).await.or_page(tr)?;
    let base = format!("/ui/tenants/{tenant}/people");
    let content = html! {
        table {
            thead { tr {
                th scope="col" { (tr.t("people-name")) } th scope="col" { (tr.t("people-role")) }
                th scope="col" { (tr.t("col-status")) } th.num scope="col" { (tr.t("people-tokens")) }
                th scope="col" { (tr.t("people-action")) }
            } }
            tbody {
                @for p in &people {
                    tr {
                        td { (p.name) }
                        td { (tr.t(&format!("role-{}", p.role.as_str()))) }
                        td { @if p.disabled { span.badge.bad { (tr.t("people-disabled")) } } @else { span.badge.ok { (tr.t("people-active")) } } }
                        td.num { (p.live_tokens) }
                        td {
                            form.inline method="post" action=(format!("{base}/{}/status", p.name)) {
                                @if p.disabled {
                                    input type="hidden" name="disabled" value="false";
                                    button type="submit" { (tr.t("people-enable")) }
                                } @else {
                                    input type="hidden" name="disabled" value="true";
                                    button.danger type="submit" { (tr.t("people-disable")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (tr.t("people-add")) }
        form.stack method="post" action=(base) {
            label for="name" { (tr.t("people-name")) }
            input id="name" name="name" required maxlength="64" autocomplete="off";
            label for="role" { (tr.t("people-role")) }
            select id="role" name="role" {
                option value="customer" { (tr.t("role-customer")) }
                option value="tenant_admin" { (tr.t("role-tenant_admin")) }
            }
            label for="password" { (tr.t("people-password")) }
            input id="password" name="password" type="password" required minlength=(pilotline_app::MIN_PASSWORD) autocomplete="new-password";
            button.primary type="submit" { (tr.t("people-add")) }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/portal",
        &tr.ta("people-title", &[("tenant", tenant.clone())]),
        content,
    ))
}

#[derive(Deserialize)]
struct Add {
    name: Option<String>,
    role: Option<String>,
    password: Option<String>,
}

/// `POST /ui/tenants/{id}/people`: adds (or updates) a person with a password.
pub async fn add(
    State(s): State<WebState>,
    v: Viewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let tr = &v.tr;
    let form: Add = decode(&body, tr)?;
    let empty =
        |f: &'static str| PageError::new(tr.clone(), Code::FieldEmpty.refusal().with("field", f));
    let name = filled(form.name).ok_or_else(|| empty("name"))?;
    let role: Role = filled(form.role)
        .ok_or_else(|| empty("role"))?
        .parse()
        .map_err(|e: String| {
            PageError::new(
                tr.clone(),
                Code::BodyInvalid
                    .refusal()
                    .with("field", "role")
                    .with("reason", e),
            )
        })?;
    let password = form.password.unwrap_or_default();
    s.app
        .set_tenant_password(&tenant, &name, role, &password, &v.actor)
        .await
        .or_page(tr)?;
    Ok(see_other(&format!("/ui/tenants/{tenant}/people")))
}

#[derive(Deserialize)]
struct Status {
    disabled: bool,
}

/// `POST /ui/tenants/{id}/people/{name}/status`: disables (revoking the person's tokens) or
/// enables a person.
pub async fn status(
    State(s): State<WebState>,
    v: Viewer,
    Path((tenant, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let tr = &v.tr;
    let form: Status = decode(&body, tr)?;
    s.app
        .set_tenant_user(&tenant, &name, form.disabled, form.disabled, &v.actor)
        .await
        .or_page(tr)?;
    Ok(see_other(&format!("/ui/tenants/{tenant}/people")))
}
