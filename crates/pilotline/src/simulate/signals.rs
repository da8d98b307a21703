//! What a simulated tool reads: a state machine (idle, running, the odd alarm, maintenance)
//! whose state drives the points its E10 rules watch, and plausible, slowly varying values for
//! every other point.

use pilotline_domain::E10State;
use pilotline_equipment::Decoded;
use pilotline_equipment::profile::{DeviceType, Match, Point};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

/// One simulated tool's signals.
pub struct ToolModel {
    ty: std::sync::Arc<DeviceType>,
    rng: StdRng,
    /// The state the tool is in and how long it stays.
    pub state: E10State,
    left: Duration,
    counters: HashMap<String, f64>,
    started: std::time::Instant,
}

impl ToolModel {
    /// A tool of type `ty`; `seed` makes its behaviour repeatable.
    pub fn new(ty: std::sync::Arc<DeviceType>, seed: u64) -> ToolModel {
        let mut rng = StdRng::seed_from_u64(seed);
        let left = Duration::from_secs(rng.random_range(5..30));
        ToolModel {
            ty,
            rng,
            state: E10State::Standby,
            left,
            counters: HashMap::new(),
            started: std::time::Instant::now(),
        }
    }

    /// Moves the state machine on by `dt`.
    pub fn step(&mut self, dt: Duration) {
        if self.left > dt {
            self.left -= dt;
            return;
        }
        let roll: f64 = self.rng.random();
        let (next, secs) = match self.state {
            E10State::Standby if roll < 0.04 => (E10State::ScheduledDown, 60..120),
            E10State::Standby => (E10State::Productive, 40..120),
            E10State::Productive if roll < 0.08 => (E10State::UnscheduledDown, 15..45),
            _ => (E10State::Standby, 10..40),
        };
        // A type without a rule for a state cannot signal it: it stays idle instead.
        self.state = if next == E10State::Standby || self.rule_for(next).is_some() {
            next
        } else {
            E10State::Standby
        };
        self.left = Duration::from_secs(self.rng.random_range(secs));
    }

    fn rule_for(&self, state: E10State) -> Option<&pilotline_equipment::profile::E10Rule> {
        self.ty.e10_rule.iter().find(|r| r.state == state)
    }

    /// The value of `point` now (scaled, as the collector will read it).
    pub fn value(&mut self, point: &Point) -> Decoded {
        if let Some(v) = self.rule_value(point) {
            return v;
        }
        let phase = seed_of(&point.name) as f64 / u64::MAX as f64 * std::f64::consts::TAU;
        let t = self.started.elapsed().as_secs_f64();
        let running = self.state == E10State::Productive;
        let name = point.name.as_str();
        match point.data_type {
            Some(pilotline_equipment::DataType::Bool | pilotline_equipment::DataType::Bit) => {
                Decoded::Bool(false)
            }
            Some(pilotline_equipment::DataType::String) => {
                let n = (t / 120.0) as u64 % 25 + 1;
                Decoded::Text(if name.contains("wafer") {
                    format!("W{n:02}")
                } else if name.contains("lot") {
                    "PL-DEMO".into()
                } else {
                    "STD-RECIPE-01".into()
                })
            }
            _ if !point.enum_labels.is_empty() => {
                let keys: Vec<f64> = point
                    .enum_labels
                    .keys()
                    .filter_map(|k| k.parse().ok())
                    .collect();
                let k = keys.first().copied().unwrap_or(0.0);
                Decoded::Number(k * point.scale + point.offset)
            }
            _ if ["count", "cycle", "touchdown", "energy", "hours"]
                .iter()
                .any(|c| name.contains(c)) =>
            {
                let c = self.counters.entry(point.name.clone()).or_insert(0.0);
                if running {
                    *c += 1.0;
                }
                Decoded::Number(*c)
            }
            _ => {
                let (lo, hi) = match (point.valid_min, point.valid_max) {
                    (Some(lo), Some(hi)) if hi > lo => (lo, hi),
                    (Some(lo), None) => (lo, lo + 100.0),
                    (None, Some(hi)) => (hi - 100.0, hi),
                    _ => (0.0, 100.0),
                };
                // Idle tools sit low in their range; running ones high, with a slow wave.
                let level = if running { 0.6 } else { 0.2 };
                let wave = 0.05 * (t / 60.0 + phase).sin();
                let noise = self.rng.random_range(-0.01..0.01);
                let v = lo + (hi - lo) * (level + wave + noise);
                Decoded::Number((v * 1000.0).round() / 1000.0)
            }
        }
    }

    /// The value a rule point takes in the current state: the rule's value when its state is
    /// the current one, otherwise a value no rule of the point matches.
    fn rule_value(&self, point: &Point) -> Option<Decoded> {
        let rules: Vec<_> = self
            .ty
            .e10_rule
            .iter()
            .filter(|r| r.point == point.name)
            .collect();
        if rules.is_empty() {
            return None;
        }
        if let Some(rule) = rules.iter().find(|r| r.state == self.state) {
            return Some(to_value(&rule.equals, point));
        }
        Some(match &rules[0].equals {
            Match::Bool(_) => Decoded::Bool(false),
            Match::Number(_) | Match::Text(_) => {
                // An enum key (or 0) that no rule names.
                let taken: Vec<Decoded> =
                    rules.iter().map(|r| to_value(&r.equals, point)).collect();
                let text = matches!(
                    point.data_type,
                    None | Some(pilotline_equipment::DataType::String)
                ) && point.enum_labels.is_empty()
                    && matches!(rules[0].equals, Match::Text(_));
                if text {
                    Decoded::Text("IDLE".into())
                } else {
                    (0..100)
                        .map(|k| Decoded::Number(f64::from(k) * point.scale + point.offset))
                        .find(|v| !taken.contains(v))
                        .unwrap_or(Decoded::Number(0.0))
                }
            }
        })
    }
}

/// The value that makes a rule on `point` match.
fn to_value(m: &Match, point: &Point) -> Decoded {
    match m {
        Match::Bool(b) => Decoded::Bool(*b),
        Match::Number(n) => Decoded::Number(*n),
        Match::Text(label) => match point
            .enum_labels
            .iter()
            .find(|(_, l)| *l == label)
            .and_then(|(k, _)| k.parse::<f64>().ok())
        {
            Some(k) => Decoded::Number(k * point.scale + point.offset),
            None => Decoded::Text(label.clone()),
        },
    }
}

/// A stable seed from a name.
pub fn seed_of(name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pilotline_equipment::e10::signalled_state;
    use std::sync::Arc;

    /// Every shipped type, in every state the simulator drives it to, signals exactly that
    /// state to the collector's E10 rules.
    #[test]
    fn simulated_signals_make_the_rules_report_the_simulated_state() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../equipment-profiles");
        let (catalogue, errors) = pilotline_equipment::load_dir(std::path::Path::new(dir));
        assert!(errors.is_empty(), "{errors:?}");
        for ty in catalogue.types.values() {
            if ty.e10_rule.is_empty() {
                continue;
            }
            let ty = Arc::new(ty.clone());
            let mut model = ToolModel::new(ty.clone(), 1);
            for state in E10State::ALL {
                if state != E10State::Standby && model.rule_for(state).is_none() {
                    continue;
                }
                model.state = state;
                let values: HashMap<String, Decoded> = ty
                    .point
                    .iter()
                    .map(|p| (p.name.clone(), model.value(p)))
                    .collect();
                let (signalled, _) = signalled_state(&ty, &values).unwrap();
                assert_eq!(signalled, state, "{}", ty.device_type.id);
            }
        }
    }
}
