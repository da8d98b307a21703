//! The steps of the back end's use cases, each inside the caller's transaction.

use chrono::{DateTime, Utc};
use pilotline_domain::unit::bom::ComponentLot;
use pilotline_domain::unit::calibration::CalibrationSchema;
use pilotline_domain::unit::dice::Diced;
use pilotline_domain::unit::integrate::{Built, PartRef};
use pilotline_domain::unit::pick::{PickReason, ProbeDie};
use pilotline_domain::unit::{
    StepCount, UnitApplied, UnitLot, UnitLotEvent, UnitMove, UnitRef, UnitState, die_uid, serial,
};
use pilotline_domain::{Actor, Code, Equipment, Lot, Route};
use std::sync::Arc;

use super::{unit_from_row, unit_lot_from_row};
use crate::conn::{Conn, Param, RowExt, params};
use crate::tx::{TxConn, on_conn};
use crate::{StoreError, Tx};

fn pick_reason(r: PickReason) -> &'static str {
    match r {
        PickReason::Good => "good",
        PickReason::Failed => "failed",
        PickReason::OverridePick => "override_pick",
        PickReason::OverrideLeave => "override_leave",
    }
}

impl Tx<'_> {
    /// Wafer lot `id`, locked until the transaction ends.
    pub async fn lock_wafer_lot(&mut self, id: &str) -> Result<Option<Lot>, StoreError> {
        on_conn!(self, |c| crate::rows::lock_lot(c, id).await)
    }

    /// Route `id` at `version`.
    pub async fn route(&mut self, id: &str, version: u32) -> Result<Arc<Route>, StoreError> {
        let store = self.store;
        on_conn!(self, |c| store.route_in(c, id, version).await)
    }

    /// The current version of route `id`.
    pub async fn current_route(&mut self, id: &str) -> Result<Option<Arc<Route>>, StoreError> {
        let row = on_conn!(self, |c| c
            .fetch_optional(
                "SELECT MAX(version) AS v FROM routes WHERE id = $1",
                params![id]
            )
            .await?
            .map(|r| r.opt_int("v"))
            .transpose()?
            .flatten());
        match row {
            Some(v) => Ok(Some(self.route(id, v as u32).await?)),
            None => Ok(None),
        }
    }

    /// Tool `id`, locked until the transaction ends.
    pub async fn lock_tool(&mut self, id: &str) -> Result<Option<Equipment>, StoreError> {
        on_conn!(self, |c| crate::rows::lock_equipment(c, id).await)
    }

    /// The probe map of wafer lot `lot`, each die judged by the product's bin table and, on
    /// an MPW lot, owned by its design.
    pub async fn probe_dies(
        &mut self,
        lot: &str,
        actor: &Actor,
    ) -> Result<Vec<ProbeDie>, StoreError> {
        on_conn!(self, |c| crate::testdata::probe_dies(c, lot, actor).await)
    }

    /// The unit lots wafer lot `lot` was diced into.
    pub async fn diced_into(&mut self, lot: &str) -> Result<Vec<String>, StoreError> {
        on_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT id FROM unit_lots WHERE source_lot = $1 AND parent IS NULL ORDER BY id",
                    params![lot],
                )
                .await?;
            rows.iter()
                .map(|r| r.text("id").map_err(StoreError::from))
                .collect()
        })
    }

    /// Writes what dicing decided: the unit lots, one unit per picked die (in tray order), and
    /// their events.
    pub async fn insert_diced(&mut self, diced: &Diced) -> Result<(), StoreError> {
        let at = self.at();
        for lot in &diced.lots {
            self.insert_unit_lot(lot).await?;
        }
        for (lot, tray) in diced.lots.iter().zip(&diced.trays) {
            let uids: Vec<String> = tray
                .iter()
                .map(|p| die_uid(&p.die.wafer, p.die.x, p.die.y))
                .collect();
            let units: Vec<NewUnit<'_>> = tray
                .iter()
                .zip(&uids)
                .enumerate()
                .map(|(i, (p, uid))| NewUnit {
                    uid,
                    kind: "die",
                    lot: &lot.id,
                    product: &lot.product,
                    tenant: lot.tenant.as_deref(),
                    source_lot: lot.source_lot.as_deref(),
                    wafer: Some(&p.die.wafer),
                    x: Some(p.die.x),
                    y: Some(p.die.y),
                    probe: Some((p.die.hard_bin, p.die.soft_bin)),
                    pick: Some(pick_reason(p.reason)),
                    booking: p.die.booking.as_deref(),
                    position: Some(i as u32 + 1),
                    serial: None,
                })
                .collect();
            on_conn!(self, |c| insert_units(c, &units, at).await)?;
            let (source, tenant) = (
                lot.source_lot.as_deref().unwrap_or_default(),
                lot.tenant.as_deref().unwrap_or_default(),
            );
            on_conn!(self, |c| {
                c.execute(
                    "INSERT INTO lot_unit_counts (source_lot, tenant, units, modules) VALUES ($1, $2, $3, 0) \
                     ON CONFLICT (source_lot, tenant) DO UPDATE SET units = lot_unit_counts.units + excluded.units",
                    params![source, tenant, tray.len() as i64],
                )
                .await?;
                Ok::<(), StoreError>(())
            })?;
        }
        self.append_unit_events(&diced.events).await
    }

    /// Inserts a new unit lot (version 1).
    pub async fn insert_unit_lot(&mut self, lot: &UnitLot) -> Result<(), StoreError> {
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO unit_lots (id, kind, product, tenant, route_id, route_version, step_index, \
                 state, equipment, recipe, source_lot, parent, children, units, scrapped, consumed, \
                 units_at_track_in, arrived_at, created_at, updated_at, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
                unit_lot_params(lot),
            )
            .await
            .map_err(|e| {
                crate::write::conflict_on_unique(e, || {
                    Code::AlreadyExists
                        .refusal()
                        .with("what", "unit lot")
                        .with("id", &lot.id)
                })
            })?;
            Ok(())
        })
    }

    /// Unit lot `id`, locked until the transaction ends.
    pub async fn lock_unit_lot(&mut self, id: &str) -> Result<Option<UnitLot>, StoreError> {
        on_conn!(self, |c| {
            let sql = if c.postgres() {
                select_unit_lots!("WHERE id = $1 FOR UPDATE")
            } else {
                select_unit_lots!("WHERE id = $1")
            };
            c.fetch_optional(sql, params![id])
                .await?
                .map(|r| unit_lot_from_row(&r))
                .transpose()
        })
    }

    /// The units `keys` name (unit ids or serials), as the store has them, in the order named;
    /// refused (`unit_not_found`) for one that does not exist.
    pub async fn unit_refs(
        &mut self,
        field: &str,
        keys: &[String],
    ) -> Result<Vec<UnitRef>, StoreError> {
        let parts = self.parts(field, keys).await?;
        Ok(parts
            .into_iter()
            .map(|p| UnitRef {
                uid: p.uid,
                lot: p.lot,
                state: p.state,
            })
            .collect())
    }

    /// The parts `keys` name (unit ids or serials), in the order named.
    pub async fn parts(
        &mut self,
        field: &str,
        keys: &[String],
    ) -> Result<Vec<PartRef>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let part = on_conn!(self, |c| part_ref(c, k).await)?;
            let Some(part) = part else {
                return Err(Code::UnitNotFound
                    .refusal()
                    .with("unit", k)
                    .with("field", field)
                    .into());
            };
            out.push(part);
        }
        Ok(out)
    }

    /// Writes what a unit lot transaction decided: the lots (a new one inserted, the others
    /// version-checked), the units moved and scrapped, the step's count, the events, the tool
    /// and its run.
    pub async fn apply_units(&mut self, applied: &UnitApplied) -> Result<(), StoreError> {
        let at = self.at();
        for lot in &applied.lots {
            if lot.version == 1 {
                self.insert_unit_lot(lot).await?;
            } else {
                self.update_unit_lot(lot).await?;
            }
        }
        match &applied.moved {
            Some(UnitMove::Named { units, to }) => {
                for uid in units {
                    on_conn!(self, |c| {
                        c.execute(
                            "INSERT INTO unit_moves (unit_num, from_lot, to_lot, at) \
                             SELECT num, lot_id, $2, $3 FROM units WHERE uid = $1",
                            params![uid.as_str(), to.as_str(), at],
                        )
                        .await?;
                        c.execute(
                            "UPDATE units SET lot_id = $2 WHERE uid = $1",
                            params![uid.as_str(), to.as_str()],
                        )
                        .await?;
                        Ok::<(), StoreError>(())
                    })?;
                }
            }
            Some(UnitMove::All { from, to }) => {
                on_conn!(self, |c| {
                    c.execute(
                        "INSERT INTO unit_moves (unit_num, from_lot, to_lot, at) \
                         SELECT num, lot_id, $2, $3 FROM units WHERE lot_id = $1 AND state = 'active'",
                        params![from.as_str(), to.as_str(), at],
                    )
                    .await?;
                    c.execute(
                        "UPDATE units SET lot_id = $2 WHERE lot_id = $1 AND state = 'active'",
                        params![from.as_str(), to.as_str()],
                    )
                    .await?;
                    Ok::<(), StoreError>(())
                })?;
            }
            None => {}
        }
        for uid in &applied.scrapped {
            let reason = applied.scrap_reason.clone();
            on_conn!(self, |c| {
                c.execute(
                    "UPDATE units SET state = 'scrapped', scrap_reason = $2 WHERE uid = $1",
                    params![uid.as_str(), reason],
                )
                .await?;
                Ok::<(), StoreError>(())
            })?;
        }
        if let Some(step) = &applied.step {
            self.insert_step_count(step).await?;
        }
        self.append_unit_events(&applied.events).await?;
        if let Some((tool, change)) = &applied.equipment {
            on_conn!(self, |c| crate::write::write_equipment(c, tool, change)
                .await)?;
            // The tool's run: open at track-in, closed at track-out (its samples are the
            // unit lot's process data).
            let run = match (&applied.step, tool.current_lot.as_deref()) {
                (None, Some(lot)) => Some((lot, true)),
                (Some(step), _) => Some((step.lot.as_str(), false)),
                (None, None) => None,
            };
            if let Some((lot, open)) = run {
                on_conn!(self, |c| crate::write::write_run(
                    c, &tool.id, lot, at, open
                )
                .await)?;
            }
        }
        Ok(())
    }

    async fn update_unit_lot(&mut self, lot: &UnitLot) -> Result<(), StoreError> {
        let updated = on_conn!(self, |c| c
            .execute(
                "UPDATE unit_lots SET step_index = $2, state = $3, equipment = $4, recipe = $5, \
                 children = $6, units = $7, scrapped = $8, consumed = $9, units_at_track_in = $10, \
                 arrived_at = $11, updated_at = $12, version = $13 WHERE id = $1 AND version = $14",
                vec![
                    Param::from(lot.id.as_str()),
                    Param::Int(lot.step_index as i64),
                    Param::from(lot.state.as_str()),
                    Param::from(lot.equipment.as_deref()),
                    Param::from(lot.recipe.as_deref()),
                    Param::Int(i64::from(lot.children)),
                    Param::Int(i64::from(lot.units)),
                    Param::Int(i64::from(lot.scrapped)),
                    Param::Int(i64::from(lot.consumed)),
                    Param::Int(i64::from(lot.units_at_track_in)),
                    Param::Time(lot.arrived_at),
                    Param::Time(lot.updated_at),
                    Param::Int(lot.version as i64),
                    Param::Int(lot.version as i64 - 1),
                ],
            )
            .await?);
        if updated == 0 {
            return Err(Code::UnitLotChanged.refusal().with("lot", &lot.id).into());
        }
        Ok(())
    }

    /// Records one step's count of a unit lot.
    pub async fn insert_step_count(&mut self, s: &StepCount) -> Result<(), StoreError> {
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO unit_step_counts (lot_id, step_index, step_id, equipment, recipe, units_in, \
                 units_out, scrapped, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                vec![
                    Param::from(s.lot.as_str()),
                    Param::Int(s.step_index as i64),
                    Param::from(s.step.as_str()),
                    Param::from(s.equipment.as_str()),
                    Param::from(s.recipe.as_str()),
                    Param::Int(i64::from(s.units_in)),
                    Param::Int(i64::from(s.units_out)),
                    Param::Int(i64::from(s.scrapped)),
                    Param::Time(s.started_at),
                    Param::Time(s.ended_at),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Appends unit lot events.
    pub async fn append_unit_events(&mut self, events: &[UnitLotEvent]) -> Result<(), StoreError> {
        for e in events {
            on_conn!(self, |c| {
                c.execute(
                    "INSERT INTO unit_lot_events (lot_id, kind, at, user_name, step_index, units, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    vec![
                        Param::from(e.lot.as_str()),
                        Param::from(e.kind.as_str()),
                        Param::Time(e.at),
                        Param::from(e.user.as_str()),
                        Param::Int(e.step_index as i64),
                        Param::Int(i64::from(e.units)),
                        Param::from(e.detail.as_str()),
                    ],
                )
                .await?;
                Ok::<(), StoreError>(())
            })?;
        }
        Ok(())
    }

    /// Reserves `n` serial numbers under `prefix`, returning them in order.
    pub async fn reserve_serials(
        &mut self,
        prefix: &str,
        n: u64,
    ) -> Result<Vec<String>, StoreError> {
        let next = on_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "INSERT INTO serial_counters (prefix, next) VALUES ($1, $2) \
                     ON CONFLICT (prefix) DO UPDATE SET next = serial_counters.next + $3 RETURNING next",
                    params![prefix, (n + 1) as i64, n as i64],
                )
                .await?
                .ok_or_else(|| crate::error::corrupt("serial counter not returned"))?;
            Ok::<i64, StoreError>(row.int("next")?)
        })?;
        // `next` is the number after the last reserved.
        let first = next as u64 - n;
        Ok((first..first + n).map(|i| serial(prefix, i)).collect())
    }

    /// Gives every active part of unit lot `lot` that has none a serial under `prefix`, in
    /// tray order; returns (unit id, serial) pairs.
    pub async fn serialise(
        &mut self,
        lot: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let uids: Vec<String> = on_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT uid FROM units WHERE lot_id = $1 AND state = 'active' AND serial IS NULL \
                     ORDER BY position, num",
                    params![lot],
                )
                .await?;
            rows.iter()
                .map(|r| r.text("uid").map_err(StoreError::from))
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        let serials = self.reserve_serials(prefix, uids.len() as u64).await?;
        for (uid, s) in uids.iter().zip(&serials) {
            on_conn!(self, |c| {
                c.execute(
                    "UPDATE units SET serial = $2, position = NULL WHERE uid = $1",
                    params![uid.as_str(), s.as_str()],
                )
                .await?;
                Ok::<(), StoreError>(())
            })?;
        }
        Ok(uids.into_iter().zip(serials).collect())
    }

    /// A product's calibration schema.
    pub async fn calibration_schema(
        &mut self,
        product: &str,
    ) -> Result<Option<CalibrationSchema>, StoreError> {
        on_conn!(self, |c| {
            c.fetch_optional(
                "SELECT schema FROM calibration_schemas WHERE product = $1",
                params![product],
            )
            .await?
            .map(|r| {
                r.json::<CalibrationSchema>("schema")
                    .map_err(StoreError::from)
            })
            .transpose()
        })
    }

    /// Replaces a product's calibration schema.
    pub async fn put_calibration_schema(
        &mut self,
        product: &str,
        schema: &CalibrationSchema,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let (doc, at) = (
            serde_json::to_value(schema).map_err(|e| crate::error::corrupt(e.to_string()))?,
            self.at(),
        );
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO calibration_schemas (product, schema, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (product) DO UPDATE SET schema = excluded.schema, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                vec![
                    Param::from(product),
                    Param::Json(doc),
                    Param::Time(at),
                    Param::from(actor.user.as_str()),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// The part with serial `serial` (locked on PostgreSQL).
    pub async fn part(&mut self, serial: &str) -> Result<Option<super::UnitRecord>, StoreError> {
        on_conn!(self, |c| {
            let sql = if c.postgres() {
                select_units!("WHERE u.serial = $1 FOR UPDATE")
            } else {
                select_units!("WHERE u.serial = $1")
            };
            c.fetch_optional(sql, params![serial])
                .await?
                .map(|r| unit_from_row(&r))
                .transpose()
        })
    }

    /// Stores a part's calibration coefficients.
    pub async fn set_calibration(
        &mut self,
        serial: &str,
        doc: &serde_json::Value,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let at = self.at();
        on_conn!(self, |c| {
            c.execute(
                "UPDATE units SET calibration = $2, calibrated_at = $3, calibrated_by = $4 WHERE serial = $1",
                vec![
                    Param::from(serial),
                    Param::Json(doc.clone()),
                    Param::Time(at),
                    Param::from(actor.user.as_str()),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Receives a supplier lot of components.
    pub async fn insert_component_lot(
        &mut self,
        lot: &ComponentLot,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let at = self.at();
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO component_lots (id, part_number, supplier, supplier_lot, quantity, remaining, \
                 received_at, received_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    Param::from(lot.id.as_str()),
                    Param::from(lot.part_number.as_str()),
                    Param::from(lot.supplier.as_str()),
                    Param::from(lot.supplier_lot.as_str()),
                    Param::Int(i64::from(lot.quantity)),
                    Param::Int(i64::from(lot.remaining)),
                    Param::Time(at),
                    Param::from(actor.user.as_str()),
                ],
            )
            .await
            .map_err(|e| {
                crate::write::conflict_on_unique(e, || {
                    Code::AlreadyExists
                        .refusal()
                        .with("what", "component lot")
                        .with("id", &lot.id)
                })
            })?;
            Ok(())
        })
    }

    /// Component lot `id`, locked until the transaction ends.
    pub async fn lock_component_lot(
        &mut self,
        id: &str,
    ) -> Result<Option<ComponentLot>, StoreError> {
        on_conn!(self, |c| {
            let sql = if c.postgres() {
                "SELECT id, part_number, supplier, supplier_lot, quantity, remaining FROM component_lots \
                 WHERE id = $1 FOR UPDATE"
            } else {
                "SELECT id, part_number, supplier, supplier_lot, quantity, remaining FROM component_lots \
                 WHERE id = $1"
            };
            c.fetch_optional(sql, params![id])
                .await?
                .map(|r| super::read::component_from_row(&r))
                .transpose()
        })
    }

    /// Writes a module build: the module lot and the parts' lots, the modules, what each
    /// consumed, the parts consumed, the components taken, the BOM step's count and events.
    pub async fn insert_built(&mut self, built: &Built) -> Result<(), StoreError> {
        let at = self.at();
        for lot in &built.lots {
            if lot.version == 1 {
                self.insert_unit_lot(lot).await?;
            } else {
                self.update_unit_lot(lot).await?;
            }
        }
        let module_lot = &built.lots[0];
        let units: Vec<NewUnit<'_>> = built
            .modules
            .iter()
            .map(|m| NewUnit {
                uid: &m.serial,
                kind: "module",
                lot: &module_lot.id,
                product: &module_lot.product,
                tenant: module_lot.tenant.as_deref(),
                source_lot: None,
                wafer: None,
                x: None,
                y: None,
                probe: None,
                pick: None,
                booking: None,
                position: None,
                serial: Some(&m.serial),
            })
            .collect();
        on_conn!(self, |c| insert_units(c, &units, at).await)?;
        on_conn!(self, |c| {
            for m in &built.modules {
                for (item, uid) in &m.parts {
                    c.execute(
                        "INSERT INTO module_parts (module_num, item, unit_num, component_lot, quantity, at) \
                         SELECT (SELECT num FROM units WHERE uid = $1), $2, num, NULL, 1, $4 FROM units WHERE uid = $3",
                        params![m.serial.as_str(), item.as_str(), uid.as_str(), at],
                    )
                    .await?;
                }
                for (item, lot, q) in &m.components {
                    c.execute(
                        "INSERT INTO module_parts (module_num, item, unit_num, component_lot, quantity, at) \
                         SELECT num, $2, NULL, $3, $4, $5 FROM units WHERE uid = $1",
                        params![m.serial.as_str(), item.as_str(), lot.as_str(), i64::from(*q), at],
                    )
                    .await?;
                }
            }
            for uid in &built.consumed {
                c.execute(
                    "UPDATE units SET state = 'consumed' WHERE uid = $1",
                    params![uid.as_str()],
                )
                .await?;
                // The die's wafer lot counts one more unit in a module.
                c.execute(
                    "UPDATE lot_unit_counts SET modules = modules + 1 \
                     WHERE source_lot = (SELECT source_lot FROM units WHERE uid = $1) \
                     AND tenant = (SELECT COALESCE(tenant, '') FROM units WHERE uid = $1)",
                    params![uid.as_str()],
                )
                .await?;
            }
            for (lot, q) in &built.taken {
                c.execute(
                    "UPDATE component_lots SET remaining = remaining - $2 WHERE id = $1",
                    params![lot.as_str(), i64::from(*q)],
                )
                .await?;
            }
            Ok::<(), StoreError>(())
        })?;
        self.insert_step_count(&built.step).await?;
        self.append_unit_events(&built.events).await
    }
}

async fn part_ref<C: Conn>(c: &mut C, key: &str) -> Result<Option<PartRef>, StoreError> {
    let Some(r) = c
        .fetch_optional(
            "SELECT uid, serial, lot_id, state, product, tenant FROM units WHERE serial = $1 \
             UNION ALL SELECT uid, serial, lot_id, state, product, tenant FROM units WHERE uid = $1 LIMIT 1",
            params![key],
        )
        .await?
    else {
        return Ok(None);
    };
    let state = r.text("state")?;
    Ok(Some(PartRef {
        uid: r.text("uid")?,
        serial: r.opt_text("serial")?,
        lot: r.text("lot_id")?,
        state: UnitState::parse(&state)
            .ok_or_else(|| crate::error::corrupt(format!("unit state {state}")))?,
        product: r.text("product")?,
        tenant: r.opt_text("tenant")?,
    }))
}

/// Whether a connection is PostgreSQL, as a method (for use inside `on_conn!`).
trait ConnKind {
    fn postgres(&self) -> bool;
}

impl<C: Conn> ConnKind for C {
    fn postgres(&self) -> bool {
        C::POSTGRES
    }
}

fn unit_lot_params(lot: &UnitLot) -> Vec<Param> {
    vec![
        Param::from(lot.id.as_str()),
        Param::from(lot.kind.as_str()),
        Param::from(lot.product.as_str()),
        Param::from(lot.tenant.as_deref()),
        Param::from(lot.route_id.as_str()),
        Param::Int(i64::from(lot.route_version)),
        Param::Int(lot.step_index as i64),
        Param::from(lot.state.as_str()),
        Param::from(lot.equipment.as_deref()),
        Param::from(lot.recipe.as_deref()),
        Param::from(lot.source_lot.as_deref()),
        Param::from(lot.parent.as_deref()),
        Param::Int(i64::from(lot.children)),
        Param::Int(i64::from(lot.units)),
        Param::Int(i64::from(lot.scrapped)),
        Param::Int(i64::from(lot.consumed)),
        Param::Int(i64::from(lot.units_at_track_in)),
        Param::Time(lot.arrived_at),
        Param::Time(lot.created_at),
        Param::Time(lot.updated_at),
        Param::Int(lot.version as i64),
    ]
}

/// A unit to insert.
struct NewUnit<'a> {
    uid: &'a str,
    kind: &'static str,
    lot: &'a str,
    product: &'a str,
    tenant: Option<&'a str>,
    source_lot: Option<&'a str>,
    wafer: Option<&'a str>,
    x: Option<i16>,
    y: Option<i16>,
    probe: Option<(u16, u16)>,
    pick: Option<&'static str>,
    booking: Option<&'a str>,
    position: Option<u32>,
    serial: Option<&'a str>,
}

/// Rows per multi-row insert of units (17 parameters each, well under both databases' limits).
const UNIT_CHUNK: usize = 200;

/// Inserts units, [`UNIT_CHUNK`] rows per statement.
async fn insert_units<C: Conn>(
    c: &mut C,
    units: &[NewUnit<'_>],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    const COLS: usize = 17;
    for chunk in units.chunks(UNIT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=COLS).map(|j| format!("${}", i * COLS + j)).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = crate::conn::shaped(format!(
            "INSERT INTO units (uid, kind, lot_id, state, product, tenant, source_lot, wafer, x, y, \
             probe_hard_bin, probe_soft_bin, pick_reason, booking, position, serial, created_at) \
             VALUES {}",
            rows.join(", ")
        ));
        let mut params = Vec::with_capacity(chunk.len() * COLS);
        for u in chunk {
            params.extend([
                Param::from(u.uid),
                Param::from(u.kind),
                Param::from(u.lot),
                Param::from("active"),
                Param::from(u.product),
                Param::from(u.tenant),
                Param::from(u.source_lot),
                Param::from(u.wafer),
                Param::OptInt(u.x.map(i64::from)),
                Param::OptInt(u.y.map(i64::from)),
                Param::OptInt(u.probe.map(|p| i64::from(p.0))),
                Param::OptInt(u.probe.map(|p| i64::from(p.1))),
                Param::from(u.pick),
                Param::from(u.booking),
                Param::OptInt(u.position.map(i64::from)),
                Param::from(u.serial),
                Param::Time(at),
            ]);
        }
        c.execute(sql, params).await.map_err(|e| {
            crate::write::conflict_on_unique(e, || {
                Code::AlreadyExists
                    .refusal()
                    .with("what", "unit")
                    .with("id", chunk[0].uid)
            })
        })?;
    }
    Ok(())
}
