//! Validation tests: every shipped profile passes; broken files report every error with its line.

use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pilotline-profiles-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const GOOD_TYPE: &str = r#"
[device_type]
id = "oven"
equipment_type = "FURNACE"
protocol = "modbus"

[[poll_group]]
name = "fast"
interval_ms = 1000

[[point]]
name = "temperature"
area = "holding"
address = 1
type = "i16"
scale = 0.1
unit = "degC"
poll_group = "fast"

[[point]]
name = "alarm"
area = "holding"
address = 75
type = "bit"
bit = 0
poll_group = "fast"

[[e10_rule]]
point = "alarm"
equals = true
state = "unscheduled_down"
stops_tool = true
"#;

const GOOD_DEVICE: &str = r#"
[[device]]
id = "OVEN-01"
type = "oven"
unit_id = 1
transport = { kind = "tcp", host = "127.0.0.1", port = 5020 }
"#;

#[test]
fn the_shipped_profiles_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../equipment-profiles");
    let (catalogue, errors) = load_dir(&dir);
    assert!(
        errors.is_empty(),
        "{}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        catalogue.types.len() >= 12,
        "{} types",
        catalogue.types.len()
    );
    assert!(
        catalogue.devices.len() >= 12,
        "{} devices",
        catalogue.devices.len()
    );
}

#[test]
fn a_good_pair_loads() {
    let d = tempdir("good");
    write(&d, "oven.toml", GOOD_TYPE);
    write(&d, "oven-01.toml", GOOD_DEVICE);
    let (cat, errors) = load_dir(&d);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(cat.types["oven"].point.len(), 2);
    assert_eq!(cat.devices["OVEN-01"].max_registers_per_request, 125);
}

#[test]
fn three_mistakes_give_three_errors_with_lines() {
    let d = tempdir("three");
    // An unknown key, a string where a number belongs, an E10 state that does not exist.
    let text = GOOD_TYPE
        .replace("scale = 0.1", "scal = 0.1")
        .replace("address = 75", "address = \"75\"")
        .replace("state = \"unscheduled_down\"", "state = \"exploded\"");
    write(&d, "oven.toml", &text);
    let (_, errors) = load_dir(&d);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{shown:#?}");
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_eq!(errors[0].line, line_of("scal = 0.1"), "{shown:#?}");
    assert!(errors[0].message.contains("scal"), "{shown:#?}");
    assert_eq!(errors[1].line, line_of("address = \"75\""), "{shown:#?}");
    assert!(errors[1].field.starts_with("point[1]"), "{shown:#?}");
    assert_eq!(
        errors[2].line,
        line_of("state = \"exploded\""),
        "{shown:#?}"
    );
    assert!(
        errors[2].field.starts_with("e10_rule[0]") && errors[2].message.contains("exploded"),
        "{shown:#?}"
    );
    assert!(shown.iter().all(|s| s.contains("oven.toml:")), "{shown:#?}");
}

#[test]
fn semantic_mistakes_are_all_reported() {
    let d = tempdir("semantic");
    let text = r#"
[device_type]
id = "t"
equipment_type = "FURNACE"
protocol = "modbus"
address_base = 1

[[poll_group]]
name = "p"
interval_ms = 1000

[[point]]
name = "a"
area = "coil"
address = 0
type = "u16"
poll_group = "nope"

[[point]]
name = "a"
area = "holding"
address = 65535
type = "f64"
poll_group = "p"
topic = "x/y"

[[e10_rule]]
point = "ghost"
equals = 1
state = "standby"
"#;
    write(&d, "t.toml", text);
    let (_, errors) = load_dir(&d);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for needle in [
        "counts addresses from 1",
        "single bits",
        "no [[poll_group]] named",
        "defined twice",
        "65,536",
        "MQTT setting",
        "no point named",
    ] {
        assert!(
            shown.iter().any(|s| s.contains(needle)),
            "missing {needle:?} in {shown:#?}"
        );
    }
}

#[test]
fn devices_must_reference_known_types_and_match_protocols() {
    let d = tempdir("devices");
    write(&d, "oven.toml", GOOD_TYPE);
    write(
        &d,
        "tools.toml",
        r#"
[[device]]
id = "OVEN-01"
type = "oven"
transport = { kind = "mqtt", broker = "mqtt://127.0.0.1:1883" }

[[device]]
id = "OVEN-02"
type = "kiln"
unit_id = 1
transport = { kind = "tcp", host = "h", port = 502 }

[[device]]
id = "OVEN-03"
type = "oven"
unit_id = 250
max_registers_per_request = 200
transport = { kind = "rtu", path = "/dev/ttyUSB0", baud = 19200, parity = "even", stop_bits = 3 }
"#,
    );
    let (_, errors) = load_dir(&d);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for needle in [
        "speaks Modbus",
        "unknown device type",
        "0-247",
        "1-125",
        "stop_bits",
    ] {
        assert!(
            shown.iter().any(|s| s.contains(needle)),
            "missing {needle:?} in {shown:#?}"
        );
    }
}

#[test]
fn syntax_errors_and_unknown_files_are_reported() {
    let d = tempdir("syntax");
    write(&d, "broken.toml", "[device_type\nid = 1\n");
    write(&d, "other.toml", "colour = \"red\"\n");
    let (_, errors) = load_dir(&d);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        shown
            .iter()
            .any(|s| s.contains("broken.toml:1") && s.contains("TOML syntax")),
        "{shown:#?}"
    );
    assert!(
        shown
            .iter()
            .any(|s| s.contains("other.toml") && s.contains("either")),
        "{shown:#?}"
    );
}

#[test]
fn a_device_types_retention_loads_and_bad_periods_are_reported() {
    let d = tempdir("retention");
    let with = format!("{GOOD_TYPE}\n[retention]\nraw_days = 7\nhour_days = 7300\n");
    write(&d, "oven.toml", &with);
    write(&d, "oven-01.toml", GOOD_DEVICE);
    let (cat, errors) = load_dir(&d);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        cat.types["oven"].retention,
        Some(Retention {
            raw_days: Some(7),
            lot_raw_days: None,
            minute_days: None,
            hour_days: Some(7300),
        })
    );

    let bad = format!("{GOOD_TYPE}\n[retention]\nraw_days = 0\nweeks = 3\n");
    write(&d, "oven.toml", &bad);
    let (_, errors) = load_dir(&d);
    // The type does not load (so its device names an unknown type too).
    let e = errors.iter().find(|e| e.field == "retention").unwrap();
    assert!(e.message.contains("weeks"), "{e}");
    let zero = format!("{GOOD_TYPE}\n[retention]\nraw_days = 0\n");
    write(&d, "oven.toml", &zero);
    let (_, errors) = load_dir(&d);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0].field.as_str(), errors[0].line),
        ("retention", GOOD_TYPE.lines().count() + 2)
    );
    assert!(errors[0].message.contains("raw_days"), "{}", errors[0]);
}

#[test]
fn the_shipped_cleanroom_monitor_keeps_a_week_of_raw_data() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../equipment-profiles");
    let (catalogue, _) = load_dir(&dir);
    let r = catalogue.types["cleanroom-environment"].retention.unwrap();
    assert_eq!((r.raw_days, r.lot_raw_days), (Some(7), Some(7)));
    assert_eq!(catalogue.types["diffusion-furnace"].retention, None);
}
