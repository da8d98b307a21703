use super::*;

const UNIT: Limits = Limits {
    center: 0.0,
    sigma: 1.0,
};

fn alternating(n: usize, a: f64) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { a } else { -a }).collect()
}

fn first(rule: Rule, series: &[f64]) -> Option<usize> {
    violations(series, UNIT, &[rule]).first().map(|v| v.index)
}

/// Each rule with a series that triggers it (at the expected point) and one that just misses.
#[test]
fn every_rule_triggers_and_just_misses() {
    let nine = vec![0.5; 9];
    let mut eight_then_centre = vec![0.5; 8];
    eight_then_centre.push(0.0);
    let mut fourteen_with_repeat = alternating(14, 0.2);
    fourteen_with_repeat[7] = fourteen_with_repeat[6];
    let mut within_then_edge = alternating(14, 0.5);
    within_then_edge.push(1.0);
    let mut beyond_then_inside = alternating(7, 1.5);
    beyond_then_inside.push(0.9);
    #[rustfmt::skip]
    let cases: Vec<(Rule, Vec<f64>, usize, Vec<f64>)> = vec![
        (Rule::Nelson1, vec![0.0, 0.0, 3.1], 2, vec![0.0, 3.0, -2.99]),
        (Rule::Nelson2, nine.clone(), 8, eight_then_centre),
        (Rule::Nelson3, vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 5, vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.5]),
        (Rule::Nelson3, vec![0.6, 0.5, 0.4, 0.3, 0.2, 0.1], 5, vec![0.5, 0.4, 0.3, 0.2, 0.1]),
        (Rule::Nelson4, alternating(14, 0.2), 13, fourteen_with_repeat),
        (Rule::Nelson4, alternating(14, 0.2), 13, alternating(13, 0.2)),
        (Rule::Nelson5, vec![2.1, 0.0, 2.2], 2, vec![2.1, 0.0, -2.2]),
        (Rule::Nelson5, vec![0.0, -2.5, -2.1], 2, vec![2.1, 0.0, 1.9]),
        (Rule::Nelson6, vec![1.1, 1.2, 0.0, 1.3, 1.4], 4, vec![1.1, 1.2, 0.0, -1.3, 1.4]),
        (Rule::Nelson7, alternating(15, 0.5), 14, within_then_edge),
        (Rule::Nelson8, alternating(8, 1.5), 7, beyond_then_inside),
        (Rule::Nelson8, alternating(8, 1.5), 7, vec![1.5; 8]),
        (Rule::WesternElectric4, vec![-0.5; 8], 7, vec![-0.5; 7]),
    ];
    for (rule, hit, at, miss) in cases {
        assert_eq!(
            first(rule, &hit),
            Some(at),
            "{rule:?} should fire on {hit:?}"
        );
        assert_eq!(
            first(rule, &miss),
            None,
            "{rule:?} should not fire on {miss:?}"
        );
    }
}

#[test]
fn violations_are_reported_per_point_and_rule() {
    // Nine points high, the last beyond 3 sigma: Nelson 1 and 2 at the last point; Nelson 5
    // (two of three beyond 2 sigma) needs a second far point.
    let mut series = vec![0.5; 8];
    series.push(3.5);
    let v = violations(&series, UNIT, &Rule::NELSON);
    let at_last: Vec<Rule> = v.iter().filter(|v| v.index == 8).map(|v| v.rule).collect();
    assert_eq!(at_last, vec![Rule::Nelson1, Rule::Nelson2]);
    // A chart without spread judges nothing.
    let flat = Limits {
        center: 1.0,
        sigma: 0.0,
    };
    assert!(violations(&[5.0], flat, &Rule::NELSON).is_empty());
}

#[test]
fn individuals_limits_from_the_moving_range() {
    let (limits, mr_ucl) = individuals_limits(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    assert_eq!(limits.center, 3.0);
    assert!((limits.sigma - 1.0 / 1.128).abs() < 1e-12);
    assert!((limits.ucl() - (3.0 + 3.0 / 1.128)).abs() < 1e-12);
    assert!((mr_ucl - 3.267).abs() < 1e-12);
    assert!(individuals_limits(&[1.0]).is_none());
}

#[test]
fn c4_matches_the_tables() {
    for (n, table) in [
        (2, 0.7979),
        (3, 0.8862),
        (5, 0.9400),
        (10, 0.9727),
        (25, 0.9896),
    ] {
        assert!((c4(n) - table).abs() < 5e-5, "c4({n}) = {}", c4(n));
    }
}

#[test]
fn xbar_s_limits_from_subgroups() {
    let groups = vec![
        vec![1.0, 2.0, 3.0],
        vec![2.0, 3.0, 4.0],
        vec![3.0, 4.0, 5.0],
    ];
    let l = xbar_s_limits(&groups).unwrap();
    assert_eq!(l.subgroup_size, 3);
    assert!((l.xbar.center - 3.0).abs() < 1e-12);
    // Every subgroup has s = 1: s̄ = 1, σ = 1 / c4(3).
    assert!((l.s_center - 1.0).abs() < 1e-12);
    assert!((l.sigma_within - 1.0 / c4(3)).abs() < 1e-12);
    assert!((l.xbar.sigma - 1.0 / c4(3) / 3f64.sqrt()).abs() < 1e-12);
    // B3 = 0 and B4 = 2.568 for n = 3.
    assert_eq!(l.s_lcl, 0.0);
    assert!((l.s_ucl - 2.568).abs() < 1e-3, "{}", l.s_ucl);
    assert!(xbar_s_limits(&[vec![1.0, 2.0]]).is_none());
}

#[test]
fn capability_indices() {
    let values = [9.0, 10.0, 11.0, 10.0, 9.0, 11.0];
    let c = capability(&values, 1.0, Some(7.0), Some(13.0));
    assert!((c.cp.unwrap() - 1.0).abs() < 1e-12);
    assert!((c.cpk.unwrap() - 1.0).abs() < 1e-12);
    let s = std_dev(&values);
    assert!((c.pp.unwrap() - 6.0 / (6.0 * s)).abs() < 1e-12);
    // One-sided spec: no Cp, Cpk from the side given.
    let upper = capability(&values, 1.0, None, Some(12.0));
    assert_eq!(upper.cp, None);
    assert!((upper.cpk.unwrap() - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn rule_codes_match_their_serde_names() {
    for r in Rule::NELSON.iter().chain(&[Rule::WesternElectric4]) {
        assert_eq!(serde_json::to_value(r).unwrap(), r.code());
    }
}
