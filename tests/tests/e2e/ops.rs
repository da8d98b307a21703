//! The operations files in `ops/` are checked by the tools that read them: Prometheus' config
//! and rules by `promtool` (Debian's `prometheus` package; its rule unit tests too), the
//! Kubernetes manifests against the Kubernetes schemas (`kubernetes-validate`, PyPI), and the
//! Grafana dashboards as dashboards: the fields Grafana needs to load one, panels on the grid
//! with the provisioned data source, and every query parsed as PromQL by promtool. Where a
//! tool is missing the test says loudly that it skipped (CI installs both and requires them,
//! `PILOTLINE_REQUIRE_PEERS=1`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

/// Runs `program args`, or returns `None` (after saying so loudly, or failing when the peers
/// are required) when it is not installed.
fn run(program: &str, args: &[&str], what: &str) -> Option<std::process::Output> {
    match Command::new(program).args(args).output() {
        Ok(out) => Some(out),
        Err(e) => {
            if std::env::var("PILOTLINE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
                panic!("{what}: {program} cannot run ({e}) but PILOTLINE_REQUIRE_PEERS=1");
            }
            eprintln!("\n*** SKIPPED {what}: {program} is not installed ({e}) ***\n");
            None
        }
    }
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prometheus_config_and_rules_pass_promtool_and_the_alerts_fire() {
    // The scrape config names its token file beside it: check a copy with a token there.
    let dir = tempfile::tempdir().unwrap();
    for f in ["prometheus.yml", "alerts.yml", "alerts_test.yml"] {
        std::fs::copy(ops().join("prometheus").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("pilotline-token"), "pl_example\n").unwrap();
    let config = dir.path().join("prometheus.yml");
    let Some(out) = run(
        "promtool",
        &["check", "config", config.to_str().unwrap()],
        "promtool check config",
    ) else {
        return;
    };
    assert_ok(&out, "promtool check config");
    let rules = dir.path().join("alerts.yml");
    let out = run(
        "promtool",
        &["check", "rules", rules.to_str().unwrap()],
        "rules",
    )
    .unwrap();
    assert_ok(&out, "promtool check rules");
    let tests = dir.path().join("alerts_test.yml");
    let out = run(
        "promtool",
        &["test", "rules", tests.to_str().unwrap()],
        "rule tests",
    )
    .unwrap();
    assert_ok(&out, "promtool test rules");
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let dir = ops().join("kubernetes");
    let kustomization: serde_json::Value = {
        let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
        yaml_resources(&text)
    };
    let files: Vec<String> = kustomization
        .as_array()
        .unwrap()
        .iter()
        .map(|f| dir.join(f.as_str().unwrap()).to_str().unwrap().to_string())
        .collect();
    let kinds: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter_map(|l| l.strip_prefix("kind: ").map(String::from))
                .collect::<Vec<_>>()
        })
        .collect();
    for kind in [
        "Deployment",
        "StatefulSet",
        "Job",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "Service",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    let mut args = vec!["-m", "kubernetes_validate", "--strict"];
    args.extend(files.iter().map(String::as_str));
    let Some(out) = run("python3", &args, "kubernetes-validate") else {
        return;
    };
    let said = String::from_utf8_lossy(&out.stderr);
    if said.contains("No module named kubernetes_validate") {
        if std::env::var("PILOTLINE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("kubernetes-validate is not installed but PILOTLINE_REQUIRE_PEERS=1");
        }
        eprintln!(
            "\n*** SKIPPED the Kubernetes schema check: pip install kubernetes-validate ***\n"
        );
        return;
    }
    assert_ok(&out, "kubernetes-validate --strict");
}

/// The `resources:` list of a kustomization (one file name per `  - ` line).
fn yaml_resources(text: &str) -> Value {
    let mut inside = false;
    let mut files = Vec::new();
    for line in text.lines() {
        if line.starts_with("resources:") {
            inside = true;
        } else if inside {
            match line.trim_start().strip_prefix("- ") {
                Some(f) if line.starts_with("  ") => files.push(Value::from(f.trim())),
                _ => inside = false,
            }
        }
    }
    Value::from(files)
}

#[test]
fn grafana_dashboards_load_as_dashboards_and_their_queries_parse() {
    let dir = ops().join("grafana/dashboards");
    let provisioned =
        std::fs::read_to_string(ops().join("grafana/provisioning/datasources.yml")).unwrap();
    assert!(provisioned.contains("uid: prometheus"));
    let mut exprs = Vec::new();
    let mut uids = std::collections::BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        let name = path.display().to_string();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for field in ["uid", "title"] {
            assert!(d[field].is_string(), "{name}: no {field}");
        }
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{name}: uid repeated"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{name}: schemaVersion"
        );
        let panels = d["panels"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no panels"));
        assert!(!panels.is_empty());
        let mut ids = std::collections::BTreeSet::new();
        for p in panels {
            let title = p["title"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: untitled panel"));
            assert!(
                ids.insert(p["id"].as_u64().unwrap()),
                "{name}: panel id repeated"
            );
            assert!(
                ["timeseries", "stat", "gauge", "table", "bargauge"]
                    .contains(&p["type"].as_str().unwrap()),
                "{name}/{title}: panel type"
            );
            let g = &p["gridPos"];
            let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
            assert!(
                x + w <= 24 && g["h"].as_u64().unwrap() > 0,
                "{name}/{title}: off the grid"
            );
            assert_eq!(p["datasource"]["uid"], "prometheus", "{name}/{title}");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}/{title}: no query");
            for t in targets {
                let e = t["expr"].as_str().unwrap();
                assert!(e.contains("pilotline_"), "{name}/{title}: {e}");
                exprs.push(e.replace("$instance", ".*"));
            }
        }
    }
    // Every query as a recording rule: promtool parses each as PromQL.
    let tmp = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(e).unwrap()
        ));
    }
    let file = tmp.path().join("queries.yml");
    std::fs::write(&file, rules).unwrap();
    let Some(out) = run(
        "promtool",
        &["check", "rules", file.to_str().unwrap()],
        "PromQL of the dashboards",
    ) else {
        return;
    };
    assert_ok(&out, "promtool check rules (the dashboards' queries)");
}
