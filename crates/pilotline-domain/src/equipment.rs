//! Equipment (fab tools) and their SEMI E10 states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::lot::LotType;
use crate::refusal::{Code, Refusal};

/// The six basic equipment states of SEMI E10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum E10State {
    /// Running a production, MPW or other revenue lot.
    Productive,
    /// Available, waiting for work.
    Standby,
    /// Running engineering or qualification work.
    Engineering,
    /// Down for planned maintenance.
    ScheduledDown,
    /// Down for a failure or a tool-stopping alarm.
    UnscheduledDown,
    /// Not scheduled to be used (shift calendar, holidays).
    NonScheduled,
}

impl E10State {
    /// Every state, in E10's order.
    pub const ALL: [E10State; 6] = [
        E10State::Productive,
        E10State::Standby,
        E10State::Engineering,
        E10State::ScheduledDown,
        E10State::UnscheduledDown,
        E10State::NonScheduled,
    ];

    /// The state's name as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            E10State::Productive => "productive",
            E10State::Standby => "standby",
            E10State::Engineering => "engineering",
            E10State::ScheduledDown => "scheduled_down",
            E10State::UnscheduledDown => "unscheduled_down",
            E10State::NonScheduled => "non_scheduled",
        }
    }

    /// The state a tool enters while it runs a lot of `lot_type`.
    pub fn running(lot_type: LotType) -> Self {
        match lot_type {
            LotType::Production | LotType::Mpw => E10State::Productive,
            LotType::Engineering | LotType::Qualification => E10State::Engineering,
        }
    }
}

impl fmt::Display for E10State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for E10State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        E10State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown E10 state {s:?}"))
    }
}

/// A fab tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Equipment {
    /// Tool id (e.g. `FUR-01`).
    pub id: String,
    /// Equipment type matched against route steps (e.g. `FURNACE`).
    pub equipment_type: String,
    /// Free text.
    pub description: String,
    /// Current SEMI E10 state.
    pub state: E10State,
    /// The lot running on the tool, if any.
    pub current_lot: Option<String>,
    /// When the current state began.
    pub state_since: DateTime<Utc>,
    /// Optimistic-concurrency version, incremented by every change.
    pub version: u64,
}

impl Equipment {
    /// Whether a lot may be tracked in on this tool now; the refusal names why not.
    pub fn check_available(&self) -> Result<(), Refusal> {
        if let Some(lot) = &self.current_lot {
            return Err(Code::EquipmentBusy
                .refusal()
                .with("equipment", &self.id)
                .with("lot", lot));
        }
        match self.state {
            E10State::Standby => Ok(()),
            other => Err(Code::EquipmentUnavailable
                .refusal()
                .with("equipment", &self.id)
                .with("state", other)),
        }
    }

    /// The tool once the run of `lot` ends: a running tool goes idle (standby), but one its
    /// signals took down mid-run stays down; with the E10 change it records.
    pub fn run_ended(
        &self,
        lot: &str,
        actor: &str,
        reason: String,
        now: DateTime<Utc>,
    ) -> (Equipment, StateChange) {
        let idle = match self.state {
            E10State::Productive | E10State::Engineering | E10State::Standby => E10State::Standby,
            down => down,
        };
        let after = Equipment {
            state: idle,
            current_lot: None,
            state_since: if idle == self.state {
                self.state_since
            } else {
                now
            },
            version: self.version + 1,
            ..self.clone()
        };
        let change = StateChange {
            equipment: self.id.clone(),
            from: self.state,
            to: idle,
            at: now,
            lot: Some(lot.to_string()),
            actor: actor.to_string(),
            reason: Some(reason),
        };
        (after, change)
    }

    /// Changes the E10 state by hand (maintenance, repair, calendar).
    ///
    /// A tool running a lot cannot be moved to another state until the lot is tracked out;
    /// `productive` and `engineering` are entered only by tracking a lot in.
    pub fn set_state(&self, to: E10State, now: DateTime<Utc>) -> Result<Equipment, Refusal> {
        if let Some(lot) = &self.current_lot {
            return Err(Code::EquipmentRunning
                .refusal()
                .with("equipment", &self.id)
                .with("lot", lot));
        }
        if matches!(to, E10State::Productive | E10State::Engineering) {
            return Err(Code::StateNotManual.refusal().with("state", to));
        }
        if to == self.state {
            return Err(Code::EquipmentSameState
                .refusal()
                .with("equipment", &self.id)
                .with("state", to));
        }
        Ok(Equipment {
            state: to,
            state_since: now,
            version: self.version + 1,
            ..self.clone()
        })
    }
}

impl Equipment {
    /// The tool after its own signals (see the profile's E10 rules) called for `signalled`;
    /// `None` when nothing changes. `running` is the type of the lot tracked in on it, if any.
    ///
    /// Down states are taken at once, lot or no lot: a tool that faults mid-run is down. While a
    /// lot is tracked in, "running" and "idle" signals both mean the lot's run goes on
    /// (productive, or engineering for engineering and qualification lots), so a fault that
    /// clears returns the tool to its run. Running without a tracked-in lot is recorded as
    /// engineering time: Pilotline cannot attribute it to product.
    pub fn signalled(
        &self,
        signalled: E10State,
        running: Option<LotType>,
        at: DateTime<Utc>,
    ) -> Option<Equipment> {
        let to = match (signalled, running) {
            (E10State::Productive | E10State::Standby, Some(lot_type)) => {
                E10State::running(lot_type)
            }
            (E10State::Productive, None) => E10State::Engineering,
            (other, _) => other,
        };
        (to != self.state).then(|| Equipment {
            state: to,
            state_since: at.max(self.state_since),
            version: self.version + 1,
            ..self.clone()
        })
    }
}

/// A recorded change of a tool's E10 state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateChange {
    /// Tool id.
    pub equipment: String,
    /// State before.
    pub from: E10State,
    /// State after.
    pub to: E10State,
    /// When it changed.
    pub at: DateTime<Utc>,
    /// Lot that caused it (track-in/out), if any.
    pub lot: Option<String>,
    /// Who changed it.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(state: E10State, lot: Option<&str>) -> Equipment {
        Equipment {
            id: "FUR-01".into(),
            equipment_type: "FURNACE".into(),
            description: String::new(),
            state,
            current_lot: lot.map(Into::into),
            state_since: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn only_an_idle_standby_tool_is_available() {
        let cases = [
            (E10State::Standby, None, true),
            (E10State::Productive, Some("L1"), false),
            (E10State::Engineering, Some("L1"), false),
            (E10State::ScheduledDown, None, false),
            (E10State::UnscheduledDown, None, false),
            (E10State::NonScheduled, None, false),
        ];
        for (state, lot, ok) in cases {
            assert_eq!(tool(state, lot).check_available().is_ok(), ok, "{state}");
        }
    }

    #[test]
    fn lot_type_decides_productive_or_engineering() {
        assert_eq!(E10State::running(LotType::Production), E10State::Productive);
        assert_eq!(E10State::running(LotType::Mpw), E10State::Productive);
        assert_eq!(
            E10State::running(LotType::Engineering),
            E10State::Engineering
        );
        assert_eq!(
            E10State::running(LotType::Qualification),
            E10State::Engineering
        );
    }

    #[test]
    fn manual_state_changes() {
        let now = Utc::now();
        let t = tool(E10State::Standby, None);
        let down = t.set_state(E10State::ScheduledDown, now).unwrap();
        assert_eq!((down.state, down.version), (E10State::ScheduledDown, 2));
        assert!(t.set_state(E10State::Productive, now).is_err());
        assert!(t.set_state(E10State::Standby, now).is_err());
        assert!(
            tool(E10State::Productive, Some("L1"))
                .set_state(E10State::UnscheduledDown, now)
                .is_err()
        );
    }

    #[test]
    fn signalled_states() {
        use E10State::*;
        let now = Utc::now();
        let to = |state, lot: Option<&str>, signal, running| {
            tool(state, lot)
                .signalled(signal, running, now)
                .map(|t| t.state)
        };
        let eng = Some(LotType::Engineering);
        let prod = Some(LotType::Production);
        // (from, lot on tool, signal, lot type) → recorded state (None: no change)
        assert_eq!(
            to(Standby, None, UnscheduledDown, None),
            Some(UnscheduledDown)
        );
        assert_eq!(
            to(Productive, Some("L1"), UnscheduledDown, prod),
            Some(UnscheduledDown)
        );
        assert_eq!(
            to(UnscheduledDown, Some("L1"), Productive, prod),
            Some(Productive)
        );
        assert_eq!(
            to(UnscheduledDown, Some("L1"), Standby, eng),
            Some(Engineering)
        );
        assert_eq!(
            to(Productive, Some("L1"), Standby, prod),
            None,
            "the run goes on"
        );
        assert_eq!(
            to(Standby, None, Productive, None),
            Some(Engineering),
            "no lot tracked in"
        );
        assert_eq!(to(UnscheduledDown, None, Standby, None), Some(Standby));
        assert_eq!(to(Standby, None, Standby, None), None);
        let earlier = now - chrono::Duration::seconds(5);
        let t = tool(Standby, None)
            .signalled(ScheduledDown, None, earlier)
            .unwrap();
        assert!(t.state_since >= earlier && t.version == 2);
    }
}
