//! Reading domain values out of rows and loading them inside a transaction.

use pilotline_domain::equipment::StateChange;
use pilotline_domain::{Code, E10State, Equipment, Lot, LotEvent, Product, Route};
use std::sync::Arc;

use crate::conn::{Conn, RowExt, params};
use crate::error::corrupt;
use crate::{Store, StoreError};

pub(crate) fn lot_from_row<R: RowExt>(row: &R) -> Result<Lot, StoreError> {
    row.json::<Lot>("doc")
        .map_err(|e| corrupt(format!("lot document: {e}")))
}

pub(crate) fn equipment_from_row<R: RowExt>(row: &R) -> Result<Equipment, StoreError> {
    let state: String = row.text("state")?;
    Ok(Equipment {
        id: row.text("id")?,
        equipment_type: row.text("equipment_type")?,
        description: row.text("description")?,
        state: state.parse::<E10State>().map_err(corrupt)?,
        current_lot: row.opt_text("current_lot")?,
        state_since: row.time("state_since")?,
        version: row.int("version")? as u64,
    })
}

pub(crate) fn state_change_from_row<R: RowExt>(row: &R) -> Result<StateChange, StoreError> {
    Ok(StateChange {
        equipment: row.text("equipment_id")?,
        from: row
            .text("from_state")?
            .parse::<E10State>()
            .map_err(corrupt)?,
        to: row.text("to_state")?.parse::<E10State>().map_err(corrupt)?,
        at: row.time("at")?,
        lot: row.opt_text("lot_id")?,
        actor: row.text("user_name")?,
        reason: row.opt_text("reason")?,
    })
}

pub(crate) fn product_from_row<R: RowExt>(row: &R) -> Result<Product, StoreError> {
    Ok(Product {
        id: row.text("id")?,
        description: row.text("description")?,
        default_route: row.text("default_route")?,
        tenant: row.opt_text("tenant")?,
    })
}

pub(crate) fn event_from_row<R: RowExt>(row: &R) -> Result<LotEvent, StoreError> {
    Ok(LotEvent {
        lot_id: row.text("lot_id")?,
        seq: row.int("seq")? as u64,
        at: row.time("at")?,
        user: row.text("user_name")?,
        role: row.text("role")?.parse().map_err(corrupt)?,
        why: row.opt_text("why")?,
        change: row
            .json("change")
            .map_err(|e| corrupt(format!("event change: {e}")))?,
        before: row
            .json::<Option<_>>("before_state")
            .map_err(|e| corrupt(format!("event before: {e}")))?,
        after: row
            .json("after_state")
            .map_err(|e| corrupt(format!("event after: {e}")))?,
    })
}

/// Loads a lot; on PostgreSQL the row is locked until the transaction ends (SQLite's single
/// writer already excludes every other writer), except on an unlocked connection.
pub(crate) async fn lock_lot<C: Conn>(c: &mut C, id: &str) -> Result<Option<Lot>, StoreError> {
    let sql = if C::POSTGRES && C::LOCKS {
        "SELECT doc FROM lots WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT doc FROM lots WHERE id = $1"
    };
    c.fetch_optional(sql, params![id])
        .await?
        .map(|r| lot_from_row(&r))
        .transpose()
}

/// `SELECT` of every equipment column `equipment_from_row` reads, followed by the rest of the
/// statement (a literal, so the whole stays a `&'static str`).
macro_rules! select_equipment {
    ($rest:literal) => {
        concat!(
            "SELECT id, equipment_type, description, state, current_lot, state_since, version \
             FROM equipment ",
            $rest
        )
    };
}
pub(crate) use select_equipment;

/// Loads a tool, locking it like [`lock_lot`].
pub(crate) async fn lock_equipment<C: Conn>(
    c: &mut C,
    id: &str,
) -> Result<Option<Equipment>, StoreError> {
    let sql = if C::POSTGRES && C::LOCKS {
        select_equipment!("WHERE id = $1 FOR UPDATE")
    } else {
        select_equipment!("WHERE id = $1")
    };
    c.fetch_optional(sql, params![id])
        .await?
        .map(|r| equipment_from_row(&r))
        .transpose()
}

/// Which tool to lock with a lot.
pub(crate) enum ToolOf<'a> {
    /// The tool named in a track-in.
    Named(&'a str),
    /// The tool the lot is running on (track-out).
    Running,
}

/// Loads and locks a lot together with a tool in one statement (the hot path of track-in and
/// track-out). Either may be `None` when it does not exist (or, for [`ToolOf::Running`], when
/// the lot is not running).
pub(crate) async fn lock_lot_and_tool<C: Conn>(
    c: &mut C,
    lot_id: &str,
    tool: ToolOf<'_>,
) -> Result<(Option<Lot>, Option<Equipment>), StoreError> {
    let row = match tool {
        ToolOf::Named(tool_id) => {
            let sql = if C::POSTGRES && C::LOCKS {
                "SELECT l.doc, e.id, e.equipment_type, e.description, e.state, e.current_lot, \
                 e.state_since, e.version FROM lots l, equipment e \
                 WHERE l.id = $1 AND e.id = $2 FOR UPDATE"
            } else {
                "SELECT l.doc, e.id, e.equipment_type, e.description, e.state, e.current_lot, \
                 e.state_since, e.version FROM lots l, equipment e WHERE l.id = $1 AND e.id = $2"
            };
            c.fetch_optional(sql, params![lot_id, tool_id]).await?
        }
        ToolOf::Running => {
            let sql = if C::POSTGRES && C::LOCKS {
                "SELECT l.doc, e.id, e.equipment_type, e.description, e.state, e.current_lot, \
                 e.state_since, e.version FROM lots l JOIN equipment e ON e.id = l.equipment \
                 WHERE l.id = $1 FOR UPDATE"
            } else {
                "SELECT l.doc, e.id, e.equipment_type, e.description, e.state, e.current_lot, \
                 e.state_since, e.version FROM lots l JOIN equipment e ON e.id = l.equipment \
                 WHERE l.id = $1"
            };
            c.fetch_optional(sql, params![lot_id]).await?
        }
    };
    match row {
        Some(r) => Ok((Some(lot_from_row(&r)?), Some(equipment_from_row(&r)?))),
        // One of the two is missing: fall back to single lookups to tell which.
        None => {
            let lot = lock_lot(c, lot_id).await?;
            let tool = match tool {
                ToolOf::Named(id) => lock_equipment(c, id).await?,
                ToolOf::Running => None,
            };
            Ok((lot, tool))
        }
    }
}

impl Store {
    /// A route version, from the cache or the database.
    pub(crate) async fn route_in<C: Conn>(
        &self,
        c: &mut C,
        id: &str,
        version: u32,
    ) -> Result<Arc<Route>, StoreError> {
        if let Some(r) = self.cached_route(id, version) {
            return Ok(r);
        }
        let row = c
            .fetch_optional(
                "SELECT doc FROM routes WHERE id = $1 AND version = $2",
                params![id, i64::from(version)],
            )
            .await?
            .ok_or_else(|| {
                Code::RouteNotFound
                    .refusal()
                    .with("route", format!("{id} v{version}"))
            })?;
        let route: Route = row
            .json("doc")
            .map_err(|e| corrupt(format!("route document: {e}")))?;
        let route = Arc::new(route);
        self.cache_route(route.clone());
        Ok(route)
    }

    /// The latest version of a route.
    pub(crate) async fn latest_route_in<C: Conn>(
        &self,
        c: &mut C,
        id: &str,
    ) -> Result<Option<Arc<Route>>, StoreError> {
        let row = c
            .fetch_optional(
                "SELECT MAX(version) AS v FROM routes WHERE id = $1",
                params![id],
            )
            .await?;
        match row.map(|r| r.opt_int("v")).transpose()?.flatten() {
            Some(v) => Ok(Some(self.route_in(c, id, v as u32).await?)),
            None => Ok(None),
        }
    }
}
