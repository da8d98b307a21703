//! The form change at dicing: a completed, probed wafer lot becomes unit lots (trays) whose
//! units are its picked dies.
//!
//! The dies of one tray belong to one tenant: on an MPW lot each start-up's dies go to trays
//! of their own (so it follows its dies and only its dies), the platform's to others. Trays
//! are filled in pick-list order — wafer by wafer, row by row — and numbered `{lot}-U001`,
//! `{lot}-U002` … in that order.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use super::pick::{Pick, PickList};
use super::{MAX_TRAY, UnitKind, UnitLot, UnitLotEvent, UnitLotEventKind, UnitLotState};
use crate::identity::{Action, Actor};
use crate::lot::{Lot, LotState};
use crate::refusal::{Code, Refusal};
use crate::route::Route;

/// What dicing decided: the new unit lots, the dies of each (same order), their events.
#[derive(Debug, Clone, PartialEq)]
pub struct Diced {
    /// The unit lots, version 1, waiting at the first step of the back-end route.
    pub lots: Vec<UnitLot>,
    /// The dies of each unit lot, in tray position order.
    pub trays: Vec<Vec<Pick>>,
    /// One `created` event per unit lot.
    pub events: Vec<UnitLotEvent>,
}

/// The id of the `n`th (from 1) unit lot diced from `lot`.
pub fn unit_lot_id(lot: &str, n: usize) -> String {
    format!("{lot}-U{n:03}")
}

/// Dices `lot` by its pick list `list` into trays of at most `tray` dies that start the
/// back-end route `route`. The lot must have completed its route; overrides in the list
/// need an engineer's right to disposition dies.
pub fn dice(
    lot: &Lot,
    list: &PickList,
    route: &Route,
    tray: u32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Diced, Refusal> {
    actor.require(Action::MoveLots, "dice lots")?;
    if list
        .wafers
        .iter()
        .flat_map(|w| &w.dies)
        .any(|p| p.note.is_some())
    {
        actor.require(Action::DispositionDies, "override the probe map")?;
    }
    if lot.state != LotState::Completed {
        return Err(Code::LotStateForbids
            .refusal()
            .with("lot", &lot.id)
            .with("state", lot.state.as_str())
            .with("allowed", "a lot is diced once it has completed its route"));
    }
    crate::transaction::ensure_unheld(lot)?;
    if tray == 0 || tray > MAX_TRAY {
        return Err(Code::TrayOutOfRange
            .refusal()
            .with("tray", tray)
            .with("max", MAX_TRAY));
    }
    // Each owner's dies, in pick-list order; the lot's own tenant for dies no design owns.
    let mut owners: BTreeMap<Option<String>, Vec<Pick>> = BTreeMap::new();
    for p in list.picked_dies() {
        let owner = p.die.tenant.clone().or_else(|| lot.tenant.clone());
        owners.entry(owner).or_default().push(p.clone());
    }
    let mut out = Diced {
        lots: Vec::new(),
        trays: Vec::new(),
        events: Vec::new(),
    };
    for (tenant, dies) in owners {
        for chunk in dies.chunks(tray as usize) {
            let id = unit_lot_id(&lot.id, out.lots.len() + 1);
            let n = chunk.len() as u32;
            let unit_lot = UnitLot {
                id: id.clone(),
                kind: UnitKind::Die,
                product: lot.product.clone(),
                tenant: tenant.clone(),
                route_id: route.id.clone(),
                route_version: route.version,
                step_index: 0,
                state: UnitLotState::Waiting,
                equipment: None,
                recipe: None,
                source_lot: Some(lot.id.clone()),
                parent: None,
                children: 0,
                units: n,
                scrapped: 0,
                consumed: 0,
                units_at_track_in: n,
                arrived_at: now,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            out.events.push(UnitLotEvent {
                lot: id,
                kind: UnitLotEventKind::Created,
                at: now,
                user: actor.user.clone(),
                step_index: 0,
                units: n,
                detail: format!("diced from {}: {n} dies", lot.id),
            });
            out.lots.push(unit_lot);
            out.trays.push(chunk.to_vec());
        }
    }
    Ok(out)
}
