//! `pilotline import stdf` on the public sample `../shared/samples/lot2.stdf.gz` (lot GAL-LOT):
//! counts and yields from per-die data through the CLI and `GET /api/v1/lots/GAL-LOT/yield`;
//! an unknown lot refused without `--create-lots`; a second import not counted twice; a
//! truncated file rejected whole. Read in place, never copied; skipped loudly without ../shared.

use pilotline_tests::{get_json, run, start, token};
use std::io::Read;
use std::path::PathBuf;

fn sample() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/lot2.stdf.gz");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "\n*** SKIPPED the STDF import test: {} is absent (it comes with ../shared) ***\n",
            p.display()
        );
        None
    }
}

const YIELD_LINE: &str = "lot GAL-LOT: 1569 part results, 1456 dies (113 retests); \
                          yield 88.5 % all results, 92.2 % first pass, 95.4 % final";

#[tokio::test]
async fn the_sample_lot_yields_from_per_die_data() {
    let Some(sample) = sample() else { return };
    let sample = sample.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("y.db").display());
    let env = [
        ("PILOTLINE_DATABASE_URL", db.as_str()),
        ("PILOTLINE_LISTEN", "127.0.0.1:0"),
    ];

    let (ok, _, err) = run(&["import", "stdf", sample], &env).await;
    assert!(!ok, "an unknown lot is refused");
    assert!(
        err.contains("GAL-LOT") && err.contains("--create-lots"),
        "{err}"
    );

    let (ok, out, err) = run(&["import", "stdf", "--create-lots", sample], &env).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("1569 part results stored for lot GAL-LOT (probe test"),
        "{out}"
    );
    assert!(out.contains(YIELD_LINE), "{out}");
    // The same file again: recognised, not counted twice.
    let (ok, out, err) = run(&["import", "stdf", "--create-lots", sample], &env).await;
    assert!(ok, "{err}");
    assert!(out.contains("already imported"), "{out}");
    assert!(out.contains(YIELD_LINE), "{out}");

    // A truncated copy (plain STDF, cut inside a record) is rejected whole, naming the record.
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(sample).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let cut = dir.path().join("cut.stdf");
    std::fs::write(&cut, &raw[..raw.len() * 2 / 3 + 3]).unwrap();
    let (ok, _, err) = run(
        &["import", "stdf", "--create-lots", cut.to_str().unwrap()],
        &env,
    )
    .await;
    assert!(!ok, "a truncated file is refused");
    assert!(err.contains("record"), "{err}");

    let engineer = token(&db, "erin", "engineer", None).await;
    let (ok, _, err) = run(
        &["tenant", "create", "acme", "--name", "Acme Sensing"],
        &[("PILOTLINE_DATABASE_URL", db.as_str())],
    )
    .await;
    assert!(ok, "{err}");
    let customer = token(&db, "acme", "customer", Some("acme")).await;
    let mut server = start(&["serve"], &env).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/lots/GAL-LOT/yield", server.url);
    let y = get_json(&client, &url, &engineer).await;
    let s = &y["summary"];
    assert_eq!(
        (
            s["part_results"].as_u64(),
            s["dies"].as_u64(),
            s["retests"].as_u64()
        ),
        (Some(1569), Some(1456), Some(113))
    );
    let pct = |k: &str| format!("{:.1}", 100.0 * s[k].as_f64().unwrap());
    assert_eq!(
        (pct("all_results"), pct("first_pass"), pct("final_yield")),
        ("88.5".into(), "92.2".into(), "95.4".into())
    );
    assert_eq!(
        y["files"].as_array().unwrap().len(),
        1,
        "nothing of the truncated file, no duplicate: {y}"
    );
    let wafer_results: u64 = y["wafers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["summary"]["part_results"].as_u64().unwrap())
        .sum();
    assert_eq!(wafer_results, 1569);
    // The wafer's bin map: every die once (final result), as JSON, SVG and SEMI E142.
    let wafer = y["wafers"][0]["wafer"].as_str().unwrap().to_string();
    let map_url = format!("{}/api/v1/wafers/{wafer}/map", server.url);
    let map = get_json(&client, &map_url, &engineer).await;
    assert_eq!(map["dies"].as_array().unwrap().len(), 1456);
    assert_eq!(map["lot"], "GAL-LOT");
    let fetch = |format: &str| {
        let (client, url, token) = (
            client.clone(),
            format!("{map_url}?format={format}"),
            engineer.clone(),
        );
        async move {
            let res = client.get(url).bearer_auth(token).send().await.unwrap();
            assert!(res.status().is_success());
            let mime = res.headers()["content-type"].to_str().unwrap().to_string();
            (mime, res.text().await.unwrap())
        }
    };
    let (mime, svg) = fetch("svg").await;
    assert_eq!(mime, "image/svg+xml");
    let svg_doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let rects = svg_doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("die"))
        .count();
    assert_eq!(rects, 1456);
    let (mime, xml) = fetch("e142").await;
    assert_eq!(mime, "application/xml");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed E142 XML");
    let bin_map = doc
        .descendants()
        .find(|n| n.has_tag_name("BinCodeMap"))
        .expect("BinCodeMap");
    let null = bin_map.attribute("NullBin").unwrap();
    let width = null.len();
    let dies: usize = bin_map
        .children()
        .filter(|n| n.has_tag_name("BinCode"))
        .map(|row| {
            let codes = row.text().unwrap_or("");
            (0..codes.len() / width)
                .filter(|i| &codes[i * width..(i + 1) * width] != null)
                .count()
        })
        .sum();
    assert_eq!(dies, 1456, "E142 holds every die once");
    let defined: u64 = doc
        .descendants()
        .filter(|n| n.has_tag_name("BinDefinition"))
        .map(|n| n.attribute("BinCount").unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(defined, 1456);

    // Uploads: the truncated copy is refused naming the byte offset, and listed as rejected;
    // the sample again is recognised as a duplicate.
    let upload = |name: &str, bytes: Vec<u8>| {
        let (client, token) = (client.clone(), engineer.clone());
        let url = format!(
            "{}/api/v1/test-files?name={name}&create_lots=true",
            server.url
        );
        async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(bytes)
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = upload("cut.stdf", std::fs::read(&cut).unwrap()).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("at byte"),
        "{body}"
    );
    let (status, body) = upload("again.stdf.gz", std::fs::read(sample).unwrap()).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], true);
    let rejected = get_json(
        &client,
        &format!("{}/api/v1/test-files/rejections", server.url),
        &engineer,
    )
    .await;
    let names: Vec<&str> = rejected
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    // Newest first: the upload, the truncated copy and the unknown lot from the CLI.
    assert_eq!(names, ["upload", "cli", "cli"], "{rejected}");
    let files = get_json(
        &client,
        &format!("{}/api/v1/test-files", server.url),
        &engineer,
    )
    .await;
    assert_eq!(files.as_array().unwrap().len(), 1, "{files}");
    assert_eq!(files[0]["stage"], "probe");

    // Bin Pareto: the dies failing at their final test, by bin.
    let pareto_url = format!("{}/api/v1/bins/pareto?lot=GAL-LOT", server.url);
    let pareto = get_json(&client, &pareto_url, &engineer).await;
    let failing = s["dies"].as_u64().unwrap() - s["final_pass_dies"].as_u64().unwrap();
    assert_eq!(pareto["dies"], 1456);
    assert_eq!(pareto["failing_dies"].as_u64(), Some(failing), "{pareto}");
    let listed: u64 = pareto["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["dies"].as_u64().unwrap())
        .sum();
    assert_eq!(listed, failing);

    // The product's bin table is authoritative: calling every bin good makes every die good.
    let part_type = y["files"][0]["part_type"].as_str().unwrap();
    let table: Vec<serde_json::Value> = map["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| serde_json::json!({"bin": b["bin"], "name": format!("B{}", b["bin"]), "pass": true}))
        .collect();
    let res = client
        .put(format!("{}/api/v1/products/{part_type}/bins", server.url))
        .bearer_auth(&engineer)
        .json(&table)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let judged = get_json(&client, &url, &engineer).await;
    assert_eq!(judged["bin_table"], true);
    assert_eq!(judged["summary"]["final_yield"], 1.0, "{judged}");
    let pareto = get_json(&client, &pareto_url, &engineer).await;
    assert_eq!(pareto["failing_dies"], 0);

    // The stacked map covers every probed wafer; roll-ups by stage and by week.
    let stacked = get_json(
        &client,
        &format!("{}/api/v1/lots/GAL-LOT/map", server.url),
        &engineer,
    )
    .await;
    assert_eq!(
        stacked["wafers"].as_u64(),
        Some(y["wafers"].as_array().unwrap().len() as u64)
    );
    let by_stage = get_json(
        &client,
        &format!("{}/api/v1/yield?group_by=stage", server.url),
        &engineer,
    )
    .await;
    assert_eq!(by_stage[0]["key"], "probe");
    assert_eq!(by_stage[0]["summary"]["part_results"], 1569);

    // Data from outside the line belongs to no start-up: a customer does not see it.
    let res = client
        .get(&url)
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
    server.child.kill().await.unwrap();
}
