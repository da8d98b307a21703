//! The SEMI E10 state a tool's signals say it is in, from its type's `e10_rule`s.
//!
//! Rules are tried in file order against the latest value of each point; the first that matches
//! decides. When a type has rules and none matches, the tool is idle (`standby`). A point not
//! read yet matches nothing, so a tool is never given a state from signals it has not sent.

use pilotline_domain::E10State;
use std::collections::HashMap;

use crate::decode::Decoded;
use crate::profile::{DeviceType, E10Rule, Match, Point};

/// The state the signals `values` (point name → latest value) call for, with the rule that
/// matched (`None` for the idle fallback). `None` when the type has no rules, or when none of
/// its rule points has been read yet.
pub fn signalled_state<'a>(
    ty: &'a DeviceType,
    values: &HashMap<String, Decoded>,
) -> Option<(E10State, Option<&'a E10Rule>)> {
    if ty.e10_rule.is_empty() || !ty.e10_rule.iter().any(|r| values.contains_key(&r.point)) {
        return None;
    }
    for rule in &ty.e10_rule {
        let Some(value) = values.get(&rule.point) else {
            continue;
        };
        let point = ty.point.iter().find(|p| p.name == rule.point);
        if matches(&rule.equals, value, point) {
            return Some((rule.state, Some(rule)));
        }
    }
    Some((E10State::Standby, None))
}

/// Whether `value` of `point` equals a rule's `equals`.
fn matches(want: &Match, value: &Decoded, point: Option<&Point>) -> bool {
    match (want, value) {
        (Match::Bool(b), Decoded::Bool(v)) => b == v,
        (Match::Bool(b), Decoded::Number(n)) => *b == (*n != 0.0),
        (Match::Number(w), Decoded::Number(n)) => (w - n).abs() < 1e-9,
        (Match::Number(w), Decoded::Bool(v)) => (*w != 0.0) == *v,
        (Match::Text(w), Decoded::Text(t)) => w == t,
        // A numeric status word matches an enum label.
        (Match::Text(w), Decoded::Number(n)) => point
            .and_then(|p| p.enum_labels.get(&format_key(*n)))
            .is_some_and(|label| label == w),
        (Match::Bool(_) | Match::Number(_) | Match::Text(_), _) => false,
    }
}

/// The enum key of a number: integers without a fraction (`3`, not `3.0`).
fn format_key(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = r#"
[device_type]
id = "t"
equipment_type = "T"
protocol = "modbus"

[[point]]
name = "alarm"
area = "coil"
address = 0
type = "bool"

[[point]]
name = "mode"
area = "holding"
address = 1
type = "u16"
enum = { "0" = "IDLE", "1" = "RUN", "2" = "PM" }

[[e10_rule]]
point = "alarm"
equals = true
state = "unscheduled_down"
stops_tool = true

[[e10_rule]]
point = "mode"
equals = "PM"
state = "scheduled_down"

[[e10_rule]]
point = "mode"
equals = 1
state = "productive"
"#;

    fn values(pairs: &[(&str, Decoded)]) -> HashMap<String, Decoded> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn first_matching_rule_wins_and_idle_is_the_fallback() {
        let ty: DeviceType = toml::from_str(TYPE).unwrap();
        let state = |pairs: &[(&str, Decoded)]| signalled_state(&ty, &values(pairs)).map(|s| s.0);
        assert_eq!(state(&[]), None, "nothing read yet: no state invented");
        assert_eq!(
            state(&[("mode", Decoded::Number(1.0))]),
            Some(E10State::Productive)
        );
        assert_eq!(
            state(&[("mode", Decoded::Number(2.0))]),
            Some(E10State::ScheduledDown),
            "enum label"
        );
        assert_eq!(
            state(&[
                ("mode", Decoded::Number(1.0)),
                ("alarm", Decoded::Bool(true))
            ]),
            Some(E10State::UnscheduledDown),
            "the alarm rule comes first"
        );
        assert_eq!(
            state(&[
                ("mode", Decoded::Number(0.0)),
                ("alarm", Decoded::Bool(false))
            ]),
            Some(E10State::Standby)
        );
        let (_, rule) = signalled_state(&ty, &values(&[("alarm", Decoded::Bool(true))])).unwrap();
        assert!(rule.unwrap().stops_tool);
    }

    #[test]
    fn a_type_without_rules_signals_nothing() {
        let mut ty: DeviceType = toml::from_str(TYPE).unwrap();
        ty.e10_rule.clear();
        assert_eq!(
            signalled_state(&ty, &values(&[("mode", Decoded::Number(1.0))])),
            None
        );
    }
}
