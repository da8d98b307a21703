//! The web interface against the real demo: every page as every persona (the page, 403, or
//! 404 for another tenant's object — a page missing from the matrix fails), no message missing
//! in either language, and the browser walk of each persona in Debian's Chromium with axe-core
//! (`tests/browser/walk.mjs`), its screenshots kept in `tests/browser/artifacts/`.

use pilotline_tests::{Running, get_json, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;

/// The demo's people: role → (user, password), read from what the demo printed.
fn people(demo: &Running) -> HashMap<String, (String, String)> {
    demo.printed
        .iter()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [role, "user", user, "password", password] => {
                    Some((role.to_string(), (user.to_string(), password.to_string())))
                }
                _ => None,
            }
        })
        .collect()
}

fn admin_token(demo: &Running) -> String {
    demo.printed
        .iter()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("the demo prints an admin token")
        .trim()
        .to_string()
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in through the form, as a browser does; returns the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let res = client
        .post(format!("{base}/ui/login"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("name", user), ("password", password)]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in of {user}");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pilotline_session="))
        .expect("a session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

/// What a persona gets on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sees {
    Page,
    Redirect,
    Forbidden,
    NotFound,
}

const ROLES: [&str; 6] = [
    "operator",
    "engineer",
    "manager",
    "customer",
    "tenant_admin",
    "admin",
];

/// Every page (as `pilotline_web::PAGES` lists them) with a concrete path in the demo and what
/// each persona of `ROLES` gets. The customers are Acme's.
fn matrix(wafer: &str) -> Vec<(&'static str, String, [Sees; 6])> {
    use Sees::*;
    let staff = [Page, Page, Page, Forbidden, Forbidden, Page];
    let movers = [Page, Page, Forbidden, Forbidden, Forbidden, Page];
    let all = [Page; 6];
    vec![
        ("/", "/ui/".into(), [Redirect; 6]),
        ("/login", "/ui/login".into(), all),
        ("/static/{file}", "/ui/static/pilotline.css".into(), all),
        ("/wip", "/ui/wip".into(), all),
        (
            "/lots/{id}",
            "/ui/lots/A26002".into(),
            [Page, Page, Page, NotFound, NotFound, Page],
        ),
        ("/lots/{id}", "/ui/lots/M26001".into(), all),
        (
            "/lots/{id}",
            "/ui/lots/M26002".into(),
            [Page, Page, Page, NotFound, NotFound, Page],
        ),
        ("/floor", "/ui/floor".into(), movers),
        ("/tools", "/ui/tools".into(), staff),
        ("/tools/live", "/ui/tools/live".into(), staff),
        ("/tools/{id}", "/ui/tools/FURNACE-01".into(), staff),
        ("/portal", "/ui/portal".into(), all),
        ("/shuttles/{id}", "/ui/shuttles/MPW-2702".into(), all),
        ("/bookings/{id}", "/ui/bookings/MPW-2702-B1".into(), all),
        (
            "/bookings/{id}",
            "/ui/bookings/MPW-2702-B2".into(),
            [Page, Page, Page, NotFound, NotFound, Page],
        ),
        ("/dashboard", "/ui/dashboard".into(), staff),
        ("/yield", "/ui/yield".into(), all),
        (
            "/wafers/{id}",
            format!("/ui/wafers/{wafer}?lot=MPW-2701-L1"),
            all,
        ),
        ("/spc", "/ui/spc".into(), staff),
        ("/spc/{id}", "/ui/spc/OX-THK".into(), staff),
        (
            "/tenants/{id}/people",
            "/ui/tenants/acme/people".into(),
            [Forbidden, Forbidden, Forbidden, Forbidden, Page, Page],
        ),
        (
            "/tenants/{id}/people",
            "/ui/tenants/nova/people".into(),
            [Forbidden, Forbidden, Forbidden, Forbidden, NotFound, Page],
        ),
        ("/modules", "/ui/modules".into(), all),
        (
            "/unit-lots/{id}",
            "/ui/unit-lots/A26006-U001".into(),
            [Page, Page, Page, NotFound, NotFound, Page],
        ),
        (
            "/units/{serial}",
            "/ui/units/M-000001".into(),
            [Page, Page, Page, NotFound, NotFound, Page],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_answers_every_persona_in_both_languages_and_the_browser_walk_passes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let demo = start(
        &["demo", "--listen", "127.0.0.1:0", "--data-dir", data],
        &[],
    )
    .await;
    let base = demo.url.clone();
    let people = people(&demo);
    assert_eq!(
        people.len(),
        ROLES.len(),
        "one sign-in per persona: {people:?}"
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = admin_token(&demo);
    let wafers = get_json(&client, &format!("{base}/api/v1/lots/MPW-2701-L1"), &token).await;
    let wafer = wafers["wafers"][0]["id"].as_str().unwrap().to_string();

    // The matrix covers every page, and nothing else.
    let matrix = matrix(&wafer);
    let mut covered: Vec<&str> = matrix.iter().map(|(p, _, _)| *p).collect();
    covered.sort_unstable();
    covered.dedup();
    let mut pages: Vec<&str> = pilotline_web::PAGES.to_vec();
    pages.sort_unstable();
    assert_eq!(covered, pages, "every page has an entry in the matrix");

    let mut cookies = HashMap::new();
    for role in ROLES {
        let (user, password) = &people[role];
        cookies.insert(role, sign_in(&client, &base, user, password).await);
    }
    for (page, path, expected) in &matrix {
        for (role, want) in ROLES.iter().zip(expected) {
            for lang in ["en", "zh-CN"] {
                let res = client
                    .get(format!("{base}{path}"))
                    .header("cookie", &cookies[role])
                    .header("accept-language", lang)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let body = res.text().await.unwrap();
                let got = match status {
                    StatusCode::OK => Sees::Page,
                    StatusCode::SEE_OTHER => Sees::Redirect,
                    StatusCode::FORBIDDEN => Sees::Forbidden,
                    StatusCode::NOT_FOUND => Sees::NotFound,
                    other => panic!("{page} ({path}) as {role}: {other}: {body}"),
                };
                assert_eq!(
                    got, *want,
                    "{page} ({path}) as {role} in {lang}: {body:.400}"
                );
                assert!(
                    !body.contains('⟦'),
                    "{path} as {role} in {lang} misses a message: {body}"
                );
                if got == Sees::Forbidden {
                    assert!(
                        body.contains("data-code=\"role_forbidden\""),
                        "{path} as {role}: {body:.400}"
                    );
                }
                if lang == "zh-CN" && got == Sees::Page && path.ends_with("/wip") {
                    assert!(
                        body.contains("lang=\"zh-CN\"") && body.contains("在制品"),
                        "{body:.300}"
                    );
                }
            }
        }
    }
    // Without a session every page sends the browser to sign in (and nothing is shown).
    for (_, path, _) in matrix
        .iter()
        .filter(|(p, _, _)| !matches!(*p, "/login" | "/static/{file}"))
    {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        let to = res.headers()["location"].to_str().unwrap();
        assert!(to.starts_with("/ui/login?next="), "{path} → {to}");
    }

    // The dashboard's yearly figures agree with the shuttles and bookings the API lists.
    let shuttles = get_json(&client, &format!("{base}/api/v1/shuttles"), &token).await;
    let year = chrono::Datelike::year(&chrono::Utc::now()).to_string();
    let run: Vec<&str> = shuttles
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            matches!(s["status"].as_str(), Some("in_fab" | "delivered"))
                && s["calendar"]["fab_start"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(&year))
        })
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let bookings = get_json(&client, &format!("{base}/api/v1/bookings"), &token).await;
    let taped: Vec<&Value> = bookings
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            run.contains(&b["shuttle"].as_str().unwrap())
                && matches!(b["status"].as_str(), Some("in_fab" | "delivered"))
        })
        .collect();
    let dashboard = client
        .get(format!("{base}/ui/dashboard"))
        .header("cookie", &cookies["manager"])
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (label, n) in [
        ("Shuttles run", run.len()),
        ("Designs taped out", taped.len()),
    ] {
        let expected = format!("<dt>{label}</dt><dd>{n}</dd>");
        assert!(
            dashboard.contains(&expected),
            "{expected} not in the dashboard"
        );
    }
    assert!(
        !run.is_empty(),
        "the demo has a shuttle in fab this year: {shuttles}"
    );
    // Lots shipped this year: the demo's lots all started today, so every shipped one counts.
    let shipped = get_json(
        &client,
        &format!("{base}/api/v1/lots?state=shipped&limit=500"),
        &token,
    )
    .await;
    let shipped = shipped["items"].as_array().unwrap();
    let wafers: u64 = shipped
        .iter()
        .map(|l| l["wafer_count"].as_u64().unwrap())
        .sum();
    assert!(!shipped.is_empty(), "the demo ships a lot");
    let expected = format!(
        "<dt>Lots shipped</dt><dd>{} lots, {wafers} wafers</dd>",
        shipped.len()
    );
    assert!(
        dashboard.contains(&expected),
        "{expected} not in the dashboard"
    );

    // Pages are counted in the same request metrics as the API, by route template.
    let metrics = client
        .get(format!("{base}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for route in ["route=\"/ui/wip\"", "route=\"/ui/lots/{id}\""] {
        assert!(metrics.contains(route), "no {route} in /metrics");
    }
    assert!(!metrics.contains("A26002"), "a lot id in a metric label");

    browser_walk(&client, &base, &token, &people).await;
    let mut demo = demo;
    demo.child.kill().await.unwrap();
}

/// The browser walk: a lot of its own on a route of the demo, free tools for its first two
/// steps, a design file; then `node walk.mjs` (skipped, loudly, when Node's packages or
/// Chromium are not installed, unless `PILOTLINE_REQUIRE_BROWSER=1`).
async fn browser_walk(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    people: &HashMap<String, (String, String)>,
) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    let chromium =
        std::env::var("PILOTLINE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = root.join("node_modules/playwright-core").exists()
        && root.join("node_modules/axe-core").exists()
        && std::path::Path::new(&chromium).exists();
    if !ready {
        assert!(
            std::env::var("PILOTLINE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "PILOTLINE_REQUIRE_BROWSER=1 but Chromium or tests/browser/node_modules is missing"
        );
        eprintln!(
            "SKIPPED: the browser walk needs {chromium} and `npm ci` in {} (.ci/run installs both)",
            root.display()
        );
        return;
    }
    // A lot of the walk's own, at the first step of the demo's route.
    let lot = "WEB-WALK-1";
    let res = client
        .post(format!("{base}/api/v1/lots"))
        .bearer_auth(token)
        .json(
            &json!({"id": lot, "product": "MHP-GS200", "route": "MHP-GAS", "wafer_count": 5,
            "priority": 5, "lot_type": "production"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let route = get_json(client, &format!("{base}/api/v1/routes/MHP-GAS"), token).await;
    let tools = get_json(client, &format!("{base}/api/v1/equipment"), token).await;
    let mut steps = Vec::new();
    for step in route["steps"].as_array().unwrap().iter().take(2) {
        assert!(step["measurements"].as_array().is_none_or(|m| m.is_empty()));
        let ty = step["equipment_type"].as_str().unwrap();
        // Every free tool of the type, in order: the demo's own simulated work shares them,
        // and one may be taken or go down between this list and the operator's scan.
        let free: Vec<&Value> = tools
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| {
                t["equipment_type"] == ty
                    && t["current_lot"].is_null()
                    && matches!(t["state"].as_str(), Some("standby" | "productive"))
            })
            .map(|t| &t["id"])
            .collect();
        assert!(!free.is_empty(), "a free {ty} tool: {tools}");
        steps.push(json!({"tools": free}));
    }
    let dir = tempfile::tempdir().unwrap();
    let design = dir.path().join("sensor.gds");
    std::fs::write(
        &design,
        pilotline_mpw::precheck::sample::design(1_000, 1_000, &[1]),
    )
    .unwrap();
    let artifacts = root.join("artifacts");
    let person = |role: &str| json!({"user": people[role].0, "password": people[role].1});
    let plan = json!({
        "base": base,
        "chromium": chromium,
        "artifacts": artifacts,
        "people": {"operator": person("operator"), "startup": person("tenant_admin"), "manager": person("manager")},
        "floor": {"lot": lot, "steps": steps},
        "family": {"lot": "A26005"},
        "shuttle": "MPW-2703",
        "design": design,
        "wafer": {"id": "MPW-2701-L1-W01", "lot": "MPW-2701-L1"},
    });
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, serde_json::to_vec(&plan).unwrap()).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(root.join("walk.mjs"))
        .arg(&plan_file)
        .current_dir(&root)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser walk failed:\n{stdout}\n{stderr}"
    );
    let checks: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for needed in [
        "floor scan",
        "hold placed",
        "hold released",
        "genealogy graph",
        "booked",
        "design verdict",
        "design submitted",
        "wafer map",
        "control chart",
        "done",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["check"] == needed && c["ok"] == true),
            "{needed}: {stdout}"
        );
    }
    for main_page in [
        "axe floor terminal",
        "axe start-up portal",
        "axe manager dashboard",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["check"] == main_page && c["ok"] == true),
            "{main_page}: {stdout}"
        );
    }
    // The lot moved two steps on the terminal.
    let after = get_json(client, &format!("{base}/api/v1/lots/{lot}"), token).await;
    assert_eq!(after["step"]["index"], 2, "{after}");
    assert!(after["holds"].as_array().unwrap().is_empty(), "{after}");
}
