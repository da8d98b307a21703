use super::*;

const T0: u64 = 1_790_000_000_000;

fn metric(name: Option<&str>, alias: Option<u64>, datatype: u32, value: Value) -> Metric {
    Metric {
        name: name.map(str::to_string),
        alias,
        timestamp: Some(T0),
        datatype: Some(datatype),
        value: Some(value),
        ..Metric::default()
    }
}

fn payload(seq: Option<u64>, metrics: Vec<Metric>) -> Vec<u8> {
    Payload {
        timestamp: Some(T0),
        metrics,
        seq,
        ..Payload::default()
    }
    .encode_to_vec()
}

fn nbirth(seq: u64, bd: u64) -> Vec<u8> {
    payload(
        Some(seq),
        vec![
            metric(Some("bdSeq"), None, 4, Value::Long(bd)),
            metric(Some(REBIRTH_METRIC), Some(1), 11, Value::Boolean(false)),
        ],
    )
}

fn dbirth(seq: u64) -> Vec<u8> {
    payload(
        Some(seq),
        vec![
            metric(Some("Chamber/Pressure"), Some(10), 10, Value::Double(30.5)),
            metric(Some("Process/Cycle"), Some(13), 3, Value::Int(7)),
            metric(
                Some("Tool/State"),
                Some(12),
                12,
                Value::String("IDLE".into()),
            ),
        ],
    )
}

/// DDATA by alias only, without data types, as compliant nodes send it.
fn ddata(seq: u64, pressure: f64, cycle: i32) -> Vec<u8> {
    let mut p = metric(None, Some(10), 0, Value::Double(pressure));
    p.datatype = None;
    let mut c = metric(None, Some(13), 0, Value::Int(cycle as u32));
    c.datatype = Some(0);
    payload(Some(seq), vec![p, c])
}

fn run(host: &mut Host, topic: &str, body: &[u8], clock: Instant) -> Vec<Action> {
    host.handle(&Topic::parse(topic).unwrap(), body, Utc::now(), clock)
}

fn values(actions: &[Action]) -> Vec<(String, Decoded)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Value { metric, value, .. } => Some((metric.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

fn rebirths(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Rebirth(_)))
        .count()
}

#[test]
fn topics_parse() {
    let t = Topic::parse("spBv1.0/fab/DDATA/etch-gw/DRIE-01").unwrap();
    assert_eq!(
        (t.group, t.kind, t.node, t.device),
        ("fab", "DDATA", "etch-gw", Some("DRIE-01"))
    );
    assert_eq!(Topic::parse("spBv1.0/fab/NBIRTH/gw").unwrap().device, None);
    assert_eq!(Topic::parse("spBv1.0/STATE/pilotline"), None);
    assert_eq!(Topic::parse("other/fab/NDATA/gw"), None);
    assert_eq!(Topic::parse("spBv1.0/fab/DDATA/gw/d/extra"), None);
}

#[test]
fn births_define_aliases_and_types_for_data() {
    let mut host = Host::default();
    let clock = Instant::now();
    assert!(run(&mut host, "spBv1.0/g/NBIRTH/n", &nbirth(0, 3), clock).is_empty());
    let birth = run(&mut host, "spBv1.0/g/DBIRTH/n/d", &dbirth(1), clock);
    assert!(birth.contains(&Action::DeviceOnline("d".into())));
    assert_eq!(values(&birth).len(), 3, "a birth carries current values");
    let data = run(
        &mut host,
        "spBv1.0/g/DDATA/n/d",
        &ddata(2, 31.25, -7),
        clock,
    );
    assert_eq!(
        values(&data),
        vec![
            ("Chamber/Pressure".into(), Decoded::Number(31.25)),
            // Int32 from the birth's data type: two's complement.
            ("Process/Cycle".into(), Decoded::Number(-7.0)),
        ]
    );
    assert_eq!(rebirths(&data), 0);
    match &data[0] {
        Action::Value { at, device, .. } => {
            assert_eq!(
                at.timestamp_millis() as u64,
                T0,
                "the metric's own timestamp"
            );
            assert_eq!(device.as_deref(), Some("d"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_seq_gap_asks_for_a_rebirth_once_and_keeps_the_values() {
    let mut host = Host::default();
    let clock = Instant::now();
    run(&mut host, "spBv1.0/g/NBIRTH/n", &nbirth(0, 0), clock);
    run(&mut host, "spBv1.0/g/DBIRTH/n/d", &dbirth(1), clock);
    let gap = run(&mut host, "spBv1.0/g/DDATA/n/d", &ddata(3, 1.0, 1), clock);
    assert_eq!(rebirths(&gap), 1, "{gap:?}");
    assert_eq!(values(&gap).len(), 2, "resolvable values are kept");
    let again = run(&mut host, "spBv1.0/g/DDATA/n/d", &ddata(5, 2.0, 2), clock);
    assert_eq!(
        rebirths(&again),
        0,
        "not asked again within {REBIRTH_EVERY:?}"
    );
    let later = clock + REBIRTH_EVERY + Duration::from_millis(1);
    let third = run(&mut host, "spBv1.0/g/DDATA/n/d", &ddata(9, 3.0, 3), later);
    assert_eq!(rebirths(&third), 1, "asked again once the pause is over");
    // After the rebirth the session restarts at 0 and in-order data asks nothing.
    run(&mut host, "spBv1.0/g/NBIRTH/n", &nbirth(0, 0), later);
    run(&mut host, "spBv1.0/g/DBIRTH/n/d", &dbirth(1), later);
    let ok = run(&mut host, "spBv1.0/g/DDATA/n/d", &ddata(2, 4.0, 4), later);
    assert_eq!(rebirths(&ok), 0);
}

#[test]
fn seq_wraps_at_256() {
    let mut host = Host::default();
    let clock = Instant::now();
    run(&mut host, "spBv1.0/g/NBIRTH/n", &nbirth(254, 0), clock);
    run(&mut host, "spBv1.0/g/DBIRTH/n/d", &dbirth(255), clock);
    let wrapped = run(&mut host, "spBv1.0/g/DDATA/n/d", &ddata(0, 1.0, 1), clock);
    assert_eq!(rebirths(&wrapped), 0, "{wrapped:?}");
}

#[test]
fn data_without_a_birth_asks_for_one() {
    let mut host = Host::default();
    let out = run(
        &mut host,
        "spBv1.0/g/DDATA/n/d",
        &ddata(7, 1.0, 1),
        Instant::now(),
    );
    assert_eq!(rebirths(&out), 1);
    assert!(values(&out).is_empty(), "aliases cannot be resolved");
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Rejected(r) if r.contains("alias")))
    );
}

#[test]
fn deaths_take_devices_and_nodes_offline_when_bdseq_matches() {
    let mut host = Host::default();
    let clock = Instant::now();
    run(&mut host, "spBv1.0/g/NBIRTH/n", &nbirth(0, 5), clock);
    run(&mut host, "spBv1.0/g/DBIRTH/n/d", &dbirth(1), clock);
    let dd = run(
        &mut host,
        "spBv1.0/g/DDEATH/n/d",
        &payload(Some(2), vec![]),
        clock,
    );
    assert!(dd.contains(&Action::DeviceOffline("d".into())));
    let bd = |n| payload(None, vec![metric(Some("bdSeq"), None, 4, Value::Long(n))]);
    let stale_will = run(&mut host, "spBv1.0/g/NDEATH/n", &bd(4), clock);
    assert!(
        stale_will.is_empty(),
        "an earlier session's NDEATH is ignored"
    );
    let death = run(&mut host, "spBv1.0/g/NDEATH/n", &bd(5), clock);
    assert_eq!(death, vec![Action::NodeOffline]);
}

#[test]
fn garbage_is_rejected_not_fatal() {
    let mut host = Host::default();
    let out = run(
        &mut host,
        "spBv1.0/g/NBIRTH/n",
        b"\xff\xff\xff",
        Instant::now(),
    );
    assert!(matches!(&out[..], [Action::Rejected(_)]), "{out:?}");
}

#[test]
fn rebirth_request_is_a_boolean_node_control_metric() {
    let p = Payload::decode(&rebirth_request(Utc::now())[..]).unwrap();
    assert_eq!(p.metrics.len(), 1);
    assert_eq!(p.metrics[0].name.as_deref(), Some(REBIRTH_METRIC));
    assert_eq!(p.metrics[0].datatype, Some(DataType::Boolean as u32));
    assert_eq!(p.metrics[0].value, Some(Value::Boolean(true)));
}
