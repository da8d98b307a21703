//! The command line: token creation, users who sign in, route import, validation errors, migrate,
//! help, and an engineer's shuttle steps.

use std::process::Command;

const ROUTE_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../ops/routes/mhp-gas-sensor.toml"
);

fn pilotline(args: &[&str], db: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pilotline"))
        .args(args)
        .env("PILOTLINE_DATABASE_URL", db)
        .env("PILOTLINE_LOG", "warn")
        .env_remove("PILOTLINE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn token_create_prints_the_token_alone_on_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let (ok, out, err) = pilotline(
        &["token", "create", "--user", "root", "--role", "admin"],
        &db,
    );
    assert!(ok, "{err}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("plt_") && !last.contains(' '), "{out}");
    let (ok, _, err) = pilotline(
        &["token", "create", "--user", "c", "--role", "customer"],
        &db,
    );
    assert!(!ok && err.contains("tenant"), "{err}");
    let (ok, _, err) = pilotline(&["token", "create", "--user", "x", "--role", "wizard"], &db);
    assert!(!ok && err.contains("unknown role"), "{err}");
    let (ok, _, err) = pilotline(
        &[
            "token", "create", "--user", "a", "--role", "customer", "--tenant", "acme",
        ],
        &db,
    );
    assert!(!ok && err.contains("tenant acme does not exist"), "{err}");
    let (ok, out, err) = pilotline(&["tenant", "create", "acme", "--name", "Acme Sensing"], &db);
    assert!(
        ok && out.contains("tenant acme (Acme Sensing) is active"),
        "{out}{err}"
    );
    let (ok, out, _) = pilotline(&["tenant", "list"], &db);
    assert!(
        ok && out.contains("acme") && out.contains("Acme Sensing"),
        "{out}"
    );
    let (ok, out, _) = pilotline(
        &[
            "token", "create", "--user", "a", "--role", "customer", "--tenant", "acme",
        ],
        &db,
    );
    assert!(ok && out.lines().last().unwrap().starts_with("plt_"));
}

#[test]
fn route_import_stores_a_version_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let (ok, out, err) = pilotline(&["route", "import", ROUTE_FILE], &db);
    assert!(ok, "{err}");
    assert!(out.contains("route MHP-GAS v1 stored (27 steps)"), "{out}");
    let (ok, out, _) = pilotline(&["route", "import", ROUTE_FILE], &db);
    assert!(ok && out.contains("MHP-GAS v1 unchanged"), "{out}");
}

#[test]
fn bad_route_files_are_refused_with_the_place_of_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("b.db").display());
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "id = \"R\"\nname = \"r\"\n[[steps]]\nid = \"S1\"\nname = \"x\"\nstage = \"baking\"\n",
    )
    .unwrap();
    let (ok, _, err) = pilotline(&["route", "import", bad.to_str().unwrap()], &db);
    assert!(!ok);
    assert!(
        err.contains("bad.toml") && err.contains("line 6") && err.contains("baking"),
        "{err}"
    );
    std::fs::write(&bad, "id = \"R R\"\nname = \"\"\nsteps = []\n").unwrap();
    let (ok, _, err) = pilotline(&["route", "import", bad.to_str().unwrap()], &db);
    assert!(
        !ok && err.contains("id:") && err.contains("name:") && err.contains("steps:"),
        "{err}"
    );
}

#[test]
fn migrate_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let (ok, out, err) = pilotline(&["migrate"], &db);
    assert!(ok && out.contains("migrations applied"), "{err}");
    for cmd in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["route", "import", "--help"],
        vec!["token", "create", "--help"],
        vec!["demo", "--help"],
    ] {
        let (ok, out, _) = pilotline(&cmd, &db);
        assert!(ok && out.contains("Usage"), "{cmd:?}");
    }
    let (ok, _, err) = pilotline(&["migrate"], "mysql://nope");
    assert!(!ok && err.contains("unsupported database URL"), "{err}");
}

#[test]
fn validate_passes_the_shipped_profiles_and_reports_every_error() {
    let profiles = concat!(env!("CARGO_MANIFEST_DIR"), "/../../equipment-profiles");
    let (ok, out, err) = pilotline(&["validate", profiles], "sqlite://unused.db");
    assert!(ok, "{err}");
    assert!(out.contains("no errors"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("oven.toml");
    std::fs::write(
        &bad,
        "[device_type]\nid = \"oven\"\nequipment_type = \"FURNACE\"\nprotocol = \"modbus\"\n\n\
         [[poll_group]]\nname = \"p\"\ninterval_ms = 1000\n\n\
         [[point]]\nname = \"t\"\narea = \"holding\"\naddress = 1\ntype = \"i16\"\nsacle = 0.1\npoll_group = \"p\"\n\n\
         [[point]]\nname = \"s\"\narea = \"holding\"\naddress = -4\ntype = \"u16\"\npoll_group = \"p\"\n\n\
         [[point]]\nname = \"f\"\narea = \"input\"\naddress = 9\ntype = \"f32\"\norder = \"ACBD\"\npoll_group = \"p\"\n",
    )
    .unwrap();
    let (ok, _, err) = pilotline(
        &["validate", dir.path().to_str().unwrap()],
        "sqlite://unused.db",
    );
    assert!(!ok, "a broken profile must fail validation");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("oven.toml:")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].contains("oven.toml:15:") && lines[0].contains("sacle"),
        "{err}"
    );
    assert!(
        lines[1].contains("oven.toml:21:") && lines[1].contains("-4"),
        "{err}"
    );
    assert!(
        lines[2].contains("oven.toml:30:") && lines[2].contains("ACBD"),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
}

#[test]
fn tokens_are_listed_by_prefix_and_revoked_by_token_id_or_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let create = |user: &str| {
        let (ok, out, err) = pilotline(
            &[
                "token",
                "create",
                "--user",
                user,
                "--role",
                "operator",
                "--expires-in-days",
                "30",
            ],
            &db,
        );
        assert!(ok, "{err}");
        out.lines().last().unwrap().to_string()
    };
    let (t1, t2, t3) = (create("ann"), create("ann"), create("bob"));
    let (ok, list, err) = pilotline(&["token", "list"], &db);
    assert!(ok, "{err}");
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.contains(&t1[..12]) && !list.contains(&t1), "{list}");
    assert!(list.contains("live until"), "{list}");

    let (ok, out, err) = pilotline(&["token", "revoke", &t1], &db);
    assert!(ok && out.contains("revoked"), "{out}{err}");
    let (ok, _, err) = pilotline(&["token", "revoke", &t1], &db);
    assert!(
        !ok && err.contains(&t1[..8]),
        "a second revocation is refused: {err}"
    );
    let (ok, out, err) = pilotline(&["token", "revoke", "--user", "ann"], &db);
    assert!(
        ok && out.contains("1 token(s) of ann revoked"),
        "{out}{err}"
    );
    let id = |list: &str, token: &str| -> String {
        let line = list.lines().find(|l| l.contains(&token[..12])).unwrap();
        line.split_whitespace().next().unwrap().to_string()
    };
    let (ok, out, err) = pilotline(&["token", "revoke", "--id", &id(&list, &t3)], &db);
    assert!(ok && out.contains("revoked"), "{out}{err}");
    let (_, list, _) = pilotline(&["token", "list", "--user", "ann"], &db);
    assert_eq!(list.matches("revoked").count(), 2, "{list}");
    assert!(list.contains(&t2[..12]), "{list}");
    let (ok, out, err) = pilotline(&["token", "disable-user", "bob"], &db);
    assert!(ok && out.contains("bob disabled"), "{out}{err}");
    let (ok, _, err) = pilotline(&["token", "disable-user", "nobody"], &db);
    assert!(!ok && err.contains("nobody"), "{err}");
}

#[test]
fn an_engineer_runs_a_shuttle_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let (ok, _, err) = pilotline(&["route", "import", ROUTE_FILE], &db);
    assert!(ok, "{err}");
    let line = dir.path().join("line.json");
    std::fs::write(
        &line,
        r#"{"stepper_field": {"width_um": 20000, "height_um": 20000},
            "wafer": {"diameter_um": 200000, "edge_exclusion_um": 3000, "orientation": {"kind": "notch"}},
            "time_zone": "Asia/Shanghai",
            "test_structures": [{"name": "PCM", "width_um": 4000, "height_um": 4000}]}"#,
    )
    .unwrap();
    let (ok, out, err) = pilotline(&["line", "set", line.to_str().unwrap()], &db);
    assert!(ok && out.contains("line configuration set"), "{out}{err}");
    let (ok, out, _) = pilotline(&["line", "show"], &db);
    assert!(ok && out.contains("\"Asia/Shanghai\""), "{out}");
    let now = calendar_dates();
    let shuttle = dir.path().join("shuttle.json");
    std::fs::write(
        &shuttle,
        format!(
            r#"{{"id": "MPW-C", "name": "CLI shuttle", "route": "MHP-GAS", "product": "MPW-X", "wafer_count": 2,
                "calendar": {{"booking_opens": "{}", "booking_closes": "{}", "design_deadline": "{}",
                              "drc_freeze": "{}", "fab_start": "{}", "expected_delivery": "{}"}},
                "offer": {{"currency": "CNY", "seal_ring_um": 20, "scribe_um": 80,
                           "slots": {{"columns": 4, "rows": 4, "shapes": [
                               {{"id": "1x1", "columns": 1, "rows": 1, "count": 8, "price_minor": 1000000, "dies_delivered": 40}}]}},
                           "options": []}}}}"#,
            now[0], now[1], now[2], now[3], now[4], now[5]
        ),
    )
    .unwrap();
    let (ok, out, err) = pilotline(&["shuttle", "create", shuttle.to_str().unwrap()], &db);
    assert!(
        ok && out.contains("shuttle MPW-C (CLI shuttle) is planned"),
        "{out}{err}"
    );
    let (ok, out, err) = pilotline(&["shuttle", "open", "MPW-C"], &db);
    assert!(ok && out.contains("is open"), "{out}{err}");
    let (ok, out, _) = pilotline(&["shuttle", "list"], &db);
    assert!(
        ok && out.contains("MPW-C") && out.contains("slot:1x1 8/8"),
        "{out}"
    );
    let (ok, out, err) = pilotline(&["shuttle", "close", "MPW-C"], &db);
    assert!(
        ok && out.contains("is closed") && out.contains("dies on a wafer"),
        "{out}{err}"
    );
    // A refusal is the application layer's, rendered with what to fix.
    let (ok, _, err) = pilotline(&["shuttle", "open", "MPW-C"], &db);
    assert!(!ok && err.contains("MPW-C"), "{err}");
    let (ok, _, err) = pilotline(&["shuttle", "start", "MPW-C"], &db);
    assert!(
        !ok && err.contains("MPW-X"),
        "the shuttle's product does not exist: {err}"
    );
    let (ok, out, err) = pilotline(&["shuttle", "cancel", "MPW-C"], &db);
    assert!(ok && out.contains("is cancelled"), "{out}{err}");
}

/// The calendar's six dates as RFC 3339, from tomorrow on.
fn calendar_dates() -> Vec<String> {
    let now = chrono::Utc::now();
    [1, 10, 20, 25, 30, 120]
        .iter()
        .map(|&days| (now + chrono::Duration::days(days)).to_rfc3339())
        .collect()
}

#[test]
fn backup_and_restore_round_trip_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("live.db").display());
    let (ok, _, err) = pilotline(
        &["token", "create", "--user", "kept", "--role", "engineer"],
        &db,
    );
    assert!(ok, "{err}");
    let copy = dir.path().join("copy.db");
    let copy = copy.to_str().unwrap();
    let (ok, out, err) = pilotline(&["backup", copy], &db);
    assert!(ok && out.contains("integrity ok"), "{out}{err}");
    // A backup never overwrites.
    let (ok, _, err) = pilotline(&["backup", copy], &db);
    assert!(!ok && err.contains("exists"), "{err}");
    // Restored into a fresh place, the store holds the user made before the backup.
    let fresh = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let (ok, out, err) = pilotline(&["restore", copy], &fresh);
    assert!(ok && out.contains("integrity ok"), "{out}{err}");
    let (ok, out, _) = pilotline(&["token", "list"], &fresh);
    assert!(ok && out.contains("kept"), "{out}");
    // Over an existing store only with --replace, which keeps the old one beside.
    let (ok, _, err) = pilotline(&["restore", copy], &fresh);
    assert!(!ok && err.contains("--replace"), "{err}");
    let (ok, _, err) = pilotline(&["restore", copy, "--replace"], &fresh);
    assert!(ok, "{err}");
    let kept_aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("fresh.db.before-restore-")
        })
        .count();
    assert!(kept_aside >= 1);
    // A file that is not a store is refused whole.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let other = format!("sqlite://{}", dir.path().join("other.db").display());
    let (ok, _, err) = pilotline(&["restore", junk.to_str().unwrap()], &other);
    assert!(!ok, "{err}");
    assert!(
        !dir.path().join("other.db").exists(),
        "nothing put in place"
    );
}

/// `pilotline user create` with `input` on stdin.
fn user_create(args: &[&str], input: &str, db: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pilotline"))
        .args(["user", "create"])
        .args(args)
        .env("PILOTLINE_DATABASE_URL", db)
        .env("PILOTLINE_LOG", "warn")
        .env_remove("PILOTLINE_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_reads_the_password_from_stdin_and_the_user_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("u.db").display());
    let (ok, out, err) = user_create(
        &["--name", "otto", "--role", "operator"],
        "a long floor password\n",
        &db,
    );
    assert!(ok && out.contains("otto"), "{out}{err}");
    // The password is neither echoed nor logged.
    assert!(!out.contains("floor password") && !err.contains("floor password"));
    let (ok, _, err) = user_create(&["--name", "short", "--role", "operator"], "2short\n", &db);
    assert!(!ok && err.contains("at least 10 characters"), "{err}");
    let app = pilotline_app::App::open(&db, &Default::default())
        .await
        .unwrap();
    let signed = app.sign_in("otto", "a long floor password").await.unwrap();
    assert_eq!(signed.actor.role, pilotline_domain::Role::Operator);
    let wrong = app
        .sign_in("otto", "a long floor passwort")
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some(pilotline_domain::Code::SignInFailed));
    app.close().await;
}
