//! Test data: imported STDF files linked to a lot, every part result they hold, per-wafer
//! summaries kept at import, the products' bin tables, and yields, maps and Paretos computed
//! from the summaries (never from the files' summary records).

mod bins;
mod designs;
mod import;
mod query;

pub use bins::ProductBins;
pub use import::{IMPORT_BATCH, ImportedFile, Rejection, StdfUpload, TestFileInfo};
pub(crate) use query::probe_dies;
pub use query::{
    BinPareto, GroupBy, LotYield, ParametricRow, ParetoBin, StageYield, WaferYield, YieldFilter,
    YieldGroup,
};

use pilotline_yield::{BinTable, Orientation};
use std::collections::HashMap;

use crate::StoreError;
use crate::conn::{Conn, RowExt, params};

/// The stage of a test file: wafer probe (CP) or final test (FT).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Wafer probe (wafer sort, CP): the file has wafers.
    Probe,
    /// Final test (FT) of packaged parts.
    Final,
}

impl Stage {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Probe => "probe",
            Stage::Final => "final",
        }
    }

    fn parse(s: &str) -> Result<Stage, StoreError> {
        match s {
            "probe" => Ok(Stage::Probe),
            "final" => Ok(Stage::Final),
            other => Err(StoreError::Corrupt(format!("unknown test stage {other:?}"))),
        }
    }
}

/// The tenant of lot `id` (MES or external): `None` if unknown, `Some(None)` for the platform.
async fn lot_tenant<C: Conn>(c: &mut C, id: &str) -> Result<Option<Option<String>>, StoreError> {
    if let Some(r) = c
        .fetch_optional("SELECT tenant FROM lots WHERE id = $1", params![id])
        .await?
    {
        return Ok(Some(r.opt_text("tenant")?));
    }
    // A unit lot's final test names the unit lot (a tray of packaged parts).
    if let Some(r) = c
        .fetch_optional("SELECT tenant FROM unit_lots WHERE id = $1", params![id])
        .await?
    {
        return Ok(Some(r.opt_text("tenant")?));
    }
    let external = c
        .fetch_optional("SELECT id FROM external_lots WHERE id = $1", params![id])
        .await?;
    Ok(external.map(|_| None))
}

/// Whether lot `id` is known (MES or external) and `actor` may see it.
async fn lot_visible<C: Conn>(
    c: &mut C,
    id: &str,
    actor: &pilotline_domain::Actor,
) -> Result<bool, StoreError> {
    Ok(lot_tenant(c, id)
        .await?
        .is_some_and(|tenant| actor.may_see_tenant(tenant.as_deref())))
}

/// Which of a lot's dies a reader sees.
enum DieScope {
    /// Every die: staff, or the lot's own tenant.
    All,
    /// The dies these designs own (a tenant on an MPW lot: its own; a design asked for).
    Designs(designs::Designs, Option<String>),
}

impl DieScope {
    /// The part of `summary` this scope covers.
    fn apply(&self, summary: pilotline_yield::WaferSummary) -> pilotline_yield::WaferSummary {
        match self {
            DieScope::All => summary,
            DieScope::Designs(d, booking) => d.only(&summary, |o| {
                o.is_some_and(|o| booking.as_deref().is_none_or(|b| o.booking == b))
            }),
        }
    }
}

/// What of lot `id`'s test data `actor` sees (`design`: one booking's dies only); `None` when
/// the lot is unknown, or neither the reader's nor an MPW lot carrying the reader's design.
async fn lot_dies<C: Conn>(
    c: &mut C,
    id: &str,
    actor: &pilotline_domain::Actor,
    design: Option<&str>,
) -> Result<Option<DieScope>, StoreError> {
    let Some(tenant) = lot_tenant(c, id).await? else {
        return Ok(None);
    };
    let designs = designs::lot_designs(c, id, actor).await?;
    let own_lot = actor.may_see_tenant(tenant.as_deref());
    Ok(match (own_lot, designs, design) {
        (true, _, None) => Some(DieScope::All),
        (_, Some(d), Some(b)) if d.designs.iter().any(|x| x.booking == b) => {
            Some(DieScope::Designs(d, Some(b.to_string())))
        }
        (false, Some(d), None) if !d.designs.is_empty() => Some(DieScope::Designs(d, None)),
        _ => None,
    })
}

/// The product of lot `id`: the MES lot's (or unit lot's) product, else the external lot's
/// part type.
async fn lot_product<C: Conn>(c: &mut C, id: &str) -> Result<Option<String>, StoreError> {
    let r = c
        .fetch_optional(
            "SELECT COALESCE((SELECT product FROM lots WHERE id = $1), \
             (SELECT product FROM unit_lots WHERE id = $1), \
             (SELECT part_type FROM external_lots WHERE id = $1)) AS product",
            params![id],
        )
        .await?;
    Ok(r.map(|r| r.opt_text("product")).transpose()?.flatten())
}

/// The bin tables of `product` (or of every product when `None`).
async fn bin_tables<C: Conn>(
    c: &mut C,
    product: Option<&str>,
) -> Result<HashMap<String, BinTable>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT product, bin, name, CAST(CASE WHEN pass THEN 1 ELSE 0 END AS BIGINT) AS pass, \
             category, colour FROM product_bins WHERE ($1 IS NULL OR product = $1) \
             ORDER BY product, bin",
            params![product],
        )
        .await?;
    let mut defs: HashMap<String, Vec<pilotline_yield::BinDefinition>> = HashMap::new();
    for r in &rows {
        defs.entry(r.text("product")?)
            .or_default()
            .push(pilotline_yield::BinDefinition {
                bin: r.int("bin")? as u16,
                name: r.text("name")?,
                pass: r.int("pass")? != 0,
                category: r.text("category")?,
                colour: r.opt_text("colour")?,
            });
    }
    defs.into_iter()
        .map(|(p, d)| {
            let t = BinTable::new(d).map_err(StoreError::Corrupt)?;
            Ok((p, t))
        })
        .collect()
}

/// The orientation the lot's latest file with a WCR gives.
async fn lot_orientation<C: Conn>(c: &mut C, lot: &str) -> Result<Option<Orientation>, StoreError> {
    let o = c
        .fetch_optional(
            "SELECT orientation FROM test_files WHERE lot_id = $1 \
             AND orientation IS NOT NULL ORDER BY num DESC LIMIT 1",
            params![lot],
        )
        .await?
        .map(|r| r.opt_text("orientation"))
        .transpose()?
        .flatten();
    Ok(o.and_then(|o| {
        let c: Vec<char> = o.chars().collect();
        (c.len() == 3).then(|| Orientation {
            flat: c[0],
            pos_x: c[1],
            pos_y: c[2],
        })
    }))
}
