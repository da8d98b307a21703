//! Master data reads: routes, products, equipment and its E10 history.

use pilotline_domain::equipment::StateChange;
use pilotline_domain::{Action, Actor, Code, Equipment, Product, Route};
use std::sync::Arc;

use crate::perform::require;
use crate::reads::reads;
use crate::{App, AppError};

reads! {
    /// Every route's latest version (staff).
    staff fn routes() -> Vec<Arc<Route>> = ReadMasterData, "read routes";
    /// Every product (staff).
    staff fn products() -> Vec<Product> = ReadMasterData, "read products";
    /// Every tool, optionally of one type (staff).
    staff fn equipment_list(equipment_type: Option<&str>) -> Vec<Equipment> = ReadMasterData, "read equipment";
}

impl App {
    /// A route version (the latest without `version`).
    pub async fn route(
        &self,
        id: &str,
        version: Option<u32>,
        actor: &Actor,
    ) -> Result<Arc<Route>, AppError> {
        require(actor, Action::ReadMasterData, "read routes")?;
        self.store.route(id, version).await?.ok_or_else(|| {
            let name = version.map_or_else(|| id.to_string(), |v| format!("{id} v{v}"));
            Code::RouteNotFound.refusal().with("route", name).into()
        })
    }

    /// One tool.
    pub async fn equipment(&self, id: &str, actor: &Actor) -> Result<Equipment, AppError> {
        require(actor, Action::ReadMasterData, "read equipment")?;
        self.store.equipment(id).await?.ok_or_else(|| {
            Code::EquipmentNotFound
                .refusal()
                .with("equipment", id)
                .into()
        })
    }

    /// A tool's E10 state changes, oldest first.
    pub async fn equipment_states(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<Vec<StateChange>, AppError> {
        self.equipment(id, actor).await?;
        Ok(self.store.equipment_states(id).await?)
    }
}

/// The longest window a tool's state history answers (a year and a month: a yearly
/// utilisation report), so an answer's size is bounded.
pub const MAX_STATE_WINDOW_DAYS: i64 = 400;

/// A tool with its communication state and the latest value of every point.
#[derive(Debug, Clone)]
pub struct ToolStatus {
    /// The tool.
    pub equipment: Equipment,
    /// Communication lost: the E10 state is the last known one.
    pub stale: bool,
    /// Since when the communication state holds.
    pub comm_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Latest value of every point the collector reported.
    pub latest: Vec<pilotline_store::SampleRecord>,
}

/// A tool's E10 history over a window.
#[derive(Debug, Clone)]
pub struct StateHistory {
    /// State changes within the window, oldest first.
    pub changes: Vec<StateChange>,
    /// Time in each state and the figures derived from it.
    pub utilisation: pilotline_domain::utilisation::Utilisation,
}

impl App {
    /// One tool with its communication state and latest values (staff).
    pub async fn tool_status(&self, id: &str, actor: &Actor) -> Result<ToolStatus, AppError> {
        let equipment = self.equipment(id, actor).await?;
        let comm = self.store.comm_state(id).await?;
        let latest = self.store.latest_samples(id).await?;
        Ok(ToolStatus {
            equipment,
            stale: comm.as_ref().is_some_and(|c| c.stale),
            comm_since: comm.and_then(|c| c.since),
            latest,
        })
    }

    /// A tool's E10 changes within `[from, to)` (default: the 24 hours before now; at most
    /// [`MAX_STATE_WINDOW_DAYS`], else `out_of_range`) with time per state, utilisation,
    /// availability, MTBF and MTTR (staff). Reads only the window, however long the history.
    pub async fn state_history(
        &self,
        id: &str,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
        actor: &Actor,
    ) -> Result<StateHistory, AppError> {
        let tool = self.equipment(id, actor).await?;
        let to = to.unwrap_or_else(pilotline_store::now);
        let from = from.unwrap_or(to - chrono::Duration::hours(24));
        if from >= to {
            return Err(Code::WindowReversed
                .refusal()
                .with("from", from.to_rfc3339())
                .with("to", to.to_rfc3339())
                .into());
        }
        if to - from > chrono::Duration::days(MAX_STATE_WINDOW_DAYS) {
            return Err(Code::OutOfRange
                .refusal()
                .with("field", "to - from")
                .with("value", format!("{} days", (to - from).num_days()))
                .with("range", format!("at most {MAX_STATE_WINDOW_DAYS} days"))
                .into());
        }
        let (changes, after) = self.store.equipment_states_between(id, from, to).await?;
        // The state at `from` is the one the first later change left; with none, the current.
        let initial = changes
            .iter()
            .chain(after.iter())
            .find(|c| c.at > from)
            .map_or(tool.state, |c| c.from);
        let utilisation = pilotline_domain::utilisation::utilisation(initial, &changes, from, to);
        Ok(StateHistory {
            changes,
            utilisation,
        })
    }
}
