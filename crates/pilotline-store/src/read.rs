//! Queries: lots, history, genealogy, WIP, routes, products and equipment.
//!
//! Every lot query takes the caller and restricts itself to what the caller may see: a customer
//! sees its own tenant's lots and nothing else.

use chrono::{DateTime, Utc};
use pilotline_domain::equipment::StateChange;
use pilotline_domain::{Actor, Code, Equipment, LotEvent, LotState, LotView, Product, Route};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::conn::{Conn, Filters, Param, RowExt, params, shaped};
use crate::rows::{
    equipment_from_row, event_from_row, lot_from_row, product_from_row, select_equipment,
    state_change_from_row,
};
use crate::{Store, StoreError, tenant_read, with_read_conn};

/// Filters of the lot list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LotFilter {
    /// Only lots in this state.
    pub state: Option<LotState>,
    /// Only lots at this step id.
    pub step: Option<String>,
    /// Only lots of this product.
    pub product: Option<String>,
    /// Page size (1..=500, default 50).
    pub limit: Option<u32>,
    /// Return lots with ids after this one (the previous page's `next_cursor`).
    pub after: Option<String>,
}

/// One page of lots.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LotPage {
    /// Lots, ordered by id.
    pub items: Vec<LotView>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One row of the WIP report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WipRow {
    /// Route id.
    pub route: String,
    /// Route version.
    pub route_version: u32,
    /// Step position in the route.
    pub step_index: usize,
    /// Step id.
    pub step: String,
    /// Step name.
    pub step_name: String,
    /// Process state (`waiting` or `running`).
    pub state: LotState,
    /// Lots in this state at this step.
    pub lots: u64,
    /// Of which on hold.
    pub held_lots: u64,
    /// Wafers in those lots.
    pub wafers: u64,
}

/// A genealogy edge: wafers moved from one lot to another by a split or a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenealogyLink {
    /// Lot the wafers came from.
    pub from_lot: String,
    /// Lot the wafers went to.
    pub to_lot: String,
    /// `split` or `merge`.
    pub kind: String,
    /// Wafers moved.
    pub wafers: Vec<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A lot's family: every lot connected to it by splits and merges, and the links between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Genealogy {
    /// The lot asked about.
    pub lot: String,
    /// Lots its wafers came from (directly).
    pub parents: Vec<String>,
    /// Lots its wafers went to (directly).
    pub children: Vec<String>,
    /// Every link of the connected family, oldest first.
    pub links: Vec<GenealogyLink>,
}

impl Store {
    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_read_conn!(self, |c| {
            c.fetch_optional("SELECT 1 AS one", vec![]).await?;
            Ok(())
        })
    }

    /// The lot `id` as `actor` may see it; `None` when it does not exist or is another tenant's.
    pub async fn lot(&self, id: &str, actor: &Actor) -> Result<Option<LotView>, StoreError> {
        tenant_read!(self, actor, |c| {
            let Some(row) = c
                .fetch_optional("SELECT doc FROM lots WHERE id = $1", params![id])
                .await?
            else {
                return Ok(None);
            };
            let lot = lot_from_row(&row)?;
            if !actor.may_see_tenant(lot.tenant.as_deref()) {
                return Ok(None);
            }
            let route = self.route_in(c, &lot.route_id, lot.route_version).await?;
            Ok(Some(LotView::new(&lot, &route)))
        })
    }

    async fn visible<C: Conn>(&self, c: &mut C, id: &str, actor: &Actor) -> Result<(), StoreError> {
        let row = c
            .fetch_optional("SELECT tenant FROM lots WHERE id = $1", params![id])
            .await?;
        match row {
            Some(r) if actor.may_see_tenant(r.opt_text("tenant")?.as_deref()) => Ok(()),
            _ => Err(Code::LotNotFound.refusal().with("lot", id).into()),
        }
    }

    /// Lots matching `filter` that `actor` may see, one page at a time.
    pub async fn lots(&self, filter: &LotFilter, actor: &Actor) -> Result<LotPage, StoreError> {
        let limit = i64::from(filter.limit.unwrap_or(50).clamp(1, 500));
        let scope = actor.tenant_scope();
        let mut f = Filters::new();
        f.add("state =", filter.state.map(|s| Param::from(s.as_str())))
            .add("step_id =", filter.step.as_deref().map(Param::from))
            .add("product =", filter.product.as_deref().map(Param::from))
            .add("tenant =", scope.map(Param::from))
            .add("id >", filter.after.as_deref().map(Param::from));
        let n = f.next();
        let (filters, mut params) = f.finish();
        params.push(Param::Int(limit + 1));
        let sql = shaped(format!(
            "SELECT doc FROM lots{filters} ORDER BY id LIMIT ${n}"
        ));
        tenant_read!(self, actor, |c| {
            let rows = c.fetch_all(sql, params).await?;
            let mut items = Vec::with_capacity(rows.len());
            for row in rows.iter().take(limit as usize) {
                let lot = lot_from_row(row)?;
                let route = self.route_in(c, &lot.route_id, lot.route_version).await?;
                items.push(LotView::new(&lot, &route));
            }
            let next_cursor = if rows.len() as i64 > limit {
                items.last().map(|l| l.id.clone())
            } else {
                None
            };
            Ok(LotPage { items, next_cursor })
        })
    }

    /// Every event of lot `id`, oldest first.
    pub async fn history(&self, id: &str, actor: &Actor) -> Result<Vec<LotEvent>, StoreError> {
        tenant_read!(self, actor, |c| {
            self.visible(c, id, actor).await?;
            let rows = c.fetch_all(HISTORY_SQL, params![id]).await?;
            rows.iter().map(event_from_row).collect()
        })
    }

    /// The split/merge family of lot `id`.
    pub async fn genealogy(&self, id: &str, actor: &Actor) -> Result<Genealogy, StoreError> {
        tenant_read!(self, actor, |c| {
            self.visible(c, id, actor).await?;
            let mut seen: HashSet<String> = HashSet::from([id.to_string()]);
            let mut queue = VecDeque::from([id.to_string()]);
            let mut links: Vec<GenealogyLink> = Vec::new();
            let mut link_keys = HashSet::new();
            while let Some(lot) = queue.pop_front() {
                let rows = c
                    .fetch_all(
                        "SELECT from_lot, to_lot, kind, wafers, at FROM lot_links WHERE from_lot = $1 OR to_lot = $1",
                        params![lot.as_str()],
                    )
                    .await?;
                for r in rows {
                    let link = GenealogyLink {
                        from_lot: r.text("from_lot")?,
                        to_lot: r.text("to_lot")?,
                        kind: r.text("kind")?,
                        wafers: r.json("wafers")?,
                        at: r.time("at")?,
                    };
                    for next in [&link.from_lot, &link.to_lot] {
                        if seen.insert(next.clone()) {
                            queue.push_back(next.clone());
                        }
                    }
                    if link_keys.insert((
                        link.from_lot.clone(),
                        link.to_lot.clone(),
                        link.kind.clone(),
                    )) {
                        links.push(link);
                    }
                }
            }
            links.sort_by(|a, b| {
                (a.at, &a.from_lot, &a.to_lot).cmp(&(b.at, &b.from_lot, &b.to_lot))
            });
            let parents = links
                .iter()
                .filter(|l| l.to_lot == id)
                .map(|l| l.from_lot.clone())
                .collect();
            let children = links
                .iter()
                .filter(|l| l.from_lot == id)
                .map(|l| l.to_lot.clone())
                .collect();
            Ok(Genealogy {
                lot: id.to_string(),
                parents,
                children,
                links,
            })
        })
    }

    /// Work in progress by route step and state, for the lots `actor` may see.
    pub async fn wip(&self, actor: &Actor) -> Result<Vec<WipRow>, StoreError> {
        let mut f = Filters::new();
        f.add("tenant =", actor.tenant_scope().map(Param::from))
            .raw("state IN ('waiting', 'running')");
        let (filters, params) = f.finish();
        let sql = shaped(format!(
            "SELECT route_id, route_version, step_index, state, COUNT(*) AS lots, \
             CAST(SUM(CASE WHEN held THEN 1 ELSE 0 END) AS BIGINT) AS held_lots, \
             CAST(SUM(wafer_count) AS BIGINT) AS wafers FROM lots{filters} \
             GROUP BY route_id, route_version, step_index, state"
        ));
        tenant_read!(self, actor, |c| {
            let rows = c.fetch_all(sql, params).await?;
            let mut out = BTreeMap::new();
            for r in rows {
                let route_id = r.text("route_id")?;
                let version = r.int("route_version")? as u32;
                let index = r.int("step_index")? as usize;
                let state: LotState = r.text("state")?.parse().map_err(crate::error::corrupt)?;
                let route = self.route_in(c, &route_id, version).await?;
                let step = &route.steps[index.min(route.steps.len() - 1)];
                let row = WipRow {
                    route: route_id.clone(),
                    route_version: version,
                    step_index: index,
                    step: step.id.clone(),
                    step_name: step.name.clone(),
                    state,
                    lots: r.int("lots")? as u64,
                    held_lots: r.opt_int("held_lots")?.unwrap_or(0) as u64,
                    wafers: r.opt_int("wafers")?.unwrap_or(0) as u64,
                };
                out.insert((route_id, version, index, state.as_str()), row);
            }
            Ok(out.into_values().collect())
        })
    }

    /// A route version (the latest when `version` is `None`).
    pub async fn route(
        &self,
        id: &str,
        version: Option<u32>,
    ) -> Result<Option<Arc<Route>>, StoreError> {
        with_read_conn!(self, |c| match version {
            Some(v) => match self.route_in(c, id, v).await {
                Ok(r) => Ok(Some(r)),
                Err(StoreError::Refused(r)) if r.code() == Code::RouteNotFound => Ok(None),
                Err(e) => Err(e),
            },
            None => self.latest_route_in(c, id).await,
        })
    }

    /// The latest version of every route.
    pub async fn routes(&self) -> Result<Vec<Arc<Route>>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT id, MAX(version) AS v FROM routes GROUP BY id ORDER BY id",
                    vec![],
                )
                .await?;
            let mut out = Vec::new();
            for r in rows {
                let id = r.text("id")?;
                let v = r.int("v")? as u32;
                out.push(self.route_in(c, &id, v).await?);
            }
            Ok(out)
        })
    }

    /// Every product.
    pub async fn products(&self) -> Result<Vec<Product>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT id, description, default_route, tenant FROM products ORDER BY id",
                    vec![],
                )
                .await?;
            rows.iter().map(product_from_row).collect()
        })
    }

    /// One tool.
    pub async fn equipment(&self, id: &str) -> Result<Option<Equipment>, StoreError> {
        with_read_conn!(self, |c| {
            c.fetch_optional(EQUIPMENT_BY_ID_SQL, params![id])
                .await?
                .map(|r| equipment_from_row(&r))
                .transpose()
        })
    }

    /// Every tool, optionally only of one equipment type.
    pub async fn equipment_list(
        &self,
        equipment_type: Option<&str>,
    ) -> Result<Vec<Equipment>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(EQUIPMENT_LIST_SQL, params![equipment_type])
                .await?;
            rows.iter().map(equipment_from_row).collect()
        })
    }

    /// A tool's E10 state changes, oldest first.
    pub async fn equipment_states(&self, id: &str) -> Result<Vec<StateChange>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT equipment_id, from_state, to_state, at, lot_id, user_name, reason \
                     FROM equipment_state_events WHERE equipment_id = $1 ORDER BY id",
                    params![id],
                )
                .await?;
            rows.iter().map(state_change_from_row).collect()
        })
    }

    /// A tool's E10 state changes within `[from, to)`, oldest first, and the first change at
    /// or after `to` (it says which state the window ended in). Index range reads: the cost
    /// follows the window, not the tool's history.
    pub async fn equipment_states_between(
        &self,
        id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Vec<StateChange>, Option<StateChange>), StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT equipment_id, from_state, to_state, at, lot_id, user_name, reason \
                     FROM equipment_state_events WHERE equipment_id = $1 AND at >= $2 AND at < $3 \
                     ORDER BY at, id",
                    params![id, from, to],
                )
                .await?;
            let changes = rows
                .iter()
                .map(state_change_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let after = c
                .fetch_optional(
                    "SELECT equipment_id, from_state, to_state, at, lot_id, user_name, reason \
                     FROM equipment_state_events WHERE equipment_id = $1 AND at >= $2 \
                     ORDER BY at, id LIMIT 1",
                    params![id, to],
                )
                .await?
                .map(|r| state_change_from_row(&r))
                .transpose()?;
            Ok((changes, after))
        })
    }

    /// Waiting lots whose Q-time window closed before `now` (for the Q-time monitor).
    pub async fn lots_past_qtime(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT id FROM lots WHERE qtime_deadline IS NOT NULL AND qtime_deadline < $1 \
                     AND state = 'waiting' ORDER BY qtime_deadline",
                    params![now],
                )
                .await?;
            rows.iter()
                .map(|r| r.text("id").map_err(StoreError::from))
                .collect()
        })
    }
}

const HISTORY_SQL: &str = "SELECT lot_id, seq, at, user_name, role, why, change, before_state, after_state \
     FROM lot_events WHERE lot_id = $1 ORDER BY seq";
const EQUIPMENT_BY_ID_SQL: &str = select_equipment!("WHERE id = $1");
const EQUIPMENT_LIST_SQL: &str =
    select_equipment!("WHERE ($1 IS NULL OR equipment_type = $1) ORDER BY id");
