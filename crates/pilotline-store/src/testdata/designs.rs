//! MPW attribution: the dies of a lot that carries a shuttle's layout belong to the designs
//! the layout placed there, so its probe data gives yields, Paretos and maps per design, and a
//! tenant sees its own dies only.
//!
//! Only bookings fabricated on the lot (in fab or delivered) own dies; a slot whose booking was
//! cancelled at fab start is an empty place on the mask. The bookings are read in the
//! connection's tenant scope, so on PostgreSQL row-level security hides other tenants'
//! bookings even before the explicit filter does.

use pilotline_domain::Actor;
use pilotline_mpw::layout::Layout;
use pilotline_yield::{DieSummary, WaferSummary};
use std::collections::HashMap;

use crate::StoreError;
use crate::conn::{Conn, Param, RowExt, params};

/// One design fabricated on an MPW lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Design {
    /// The booking.
    pub booking: String,
    /// Its tenant.
    pub tenant: String,
}

/// Who owns each die of an MPW lot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Designs {
    /// Die position → index into `designs`.
    owners: HashMap<(i16, i16), usize>,
    /// The designs visible to the reader.
    pub designs: Vec<Design>,
}

impl Designs {
    /// The design that owns die (`x`, `y`), if a visible one does.
    pub fn owner(&self, x: i16, y: i16) -> Option<&Design> {
        self.owners.get(&(x, y)).map(|&i| &self.designs[i])
    }

    /// `summary` split by design: each visible design's dies, then (as `None`) the dies no
    /// visible design owns — test structures, empty places, other tenants' designs.
    pub fn split(&self, summary: &WaferSummary) -> Vec<(Option<&Design>, WaferSummary)> {
        // One pass over the dies: part `i` is design `i`'s, the last part the rest.
        let mut parts = vec![WaferSummary::default(); self.designs.len() + 1];
        for d in &summary.dies {
            let i = self
                .owners
                .get(&(d.x, d.y))
                .copied()
                .unwrap_or(self.designs.len());
            parts[i].push_die(*d);
        }
        let owners = self.designs.iter().map(Some).chain([None]);
        owners
            .zip(parts)
            .filter(|(_, s)| !s.dies.is_empty())
            .collect()
    }

    /// The dies of `summary` that `keep` says yes to by their owner.
    pub fn only(
        &self,
        summary: &WaferSummary,
        keep: impl Fn(Option<&Design>) -> bool,
    ) -> WaferSummary {
        summary.subset(|d: &DieSummary| keep(self.owner(d.x, d.y)))
    }
}

/// The designs of shuttle `shuttle`'s layout that `actor` may see: a tenant its own only.
pub(crate) async fn shuttle_designs<C: Conn>(
    c: &mut C,
    shuttle: &str,
    actor: &Actor,
) -> Result<Designs, StoreError> {
    let Some(row) = c
        .fetch_optional(
            "SELECT layout FROM shuttle_layouts WHERE shuttle_id = $1",
            params![shuttle],
        )
        .await?
    else {
        return Ok(Designs::default());
    };
    let layout: Layout = serde_json::from_str(&row.text("layout")?)
        .map_err(|e| crate::error::corrupt(format!("layout of shuttle {shuttle}: {e}")))?;
    let rows = c
        .fetch_all(
            "SELECT id, tenant_id FROM bookings WHERE shuttle_id = $1 \
             AND status IN ('in_fab', 'delivered') AND ($2 IS NULL OR tenant_id = $2) ORDER BY seq",
            vec![
                Param::from(shuttle),
                Param::from(actor.tenant_scope().map(str::to_string)),
            ],
        )
        .await?;
    let mut designs = Vec::with_capacity(rows.len());
    for r in &rows {
        designs.push(Design {
            booking: r.text("id")?,
            tenant: r.text("tenant_id")?,
        });
    }
    let index: HashMap<&str, usize> = designs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.booking.as_str(), i))
        .collect();
    let mut owners = HashMap::new();
    for die in &layout.dies {
        let Some(booking) = layout.placements[die.placement].occupant.booking() else {
            continue;
        };
        if let (Some(&i), Ok(x), Ok(y)) = (
            index.get(booking),
            i16::try_from(die.x),
            i16::try_from(die.y),
        ) {
            owners.insert((x, y), i);
        }
    }
    Ok(Designs { owners, designs })
}

/// The shuttle whose layout lot `lot` carries (its MPW lot or one split from it).
pub(crate) async fn lot_shuttle<C: Conn>(
    c: &mut C,
    lot: &str,
) -> Result<Option<String>, StoreError> {
    let row = c
        .fetch_optional(
            "SELECT shuttle_id FROM mpw_lots WHERE lot_id = $1",
            params![lot],
        )
        .await?;
    Ok(match row {
        Some(r) => Some(r.text("shuttle_id")?),
        None => None,
    })
}

/// The designs of lot `lot` that `actor` may see, when it carries a shuttle's layout.
pub(crate) async fn lot_designs<C: Conn>(
    c: &mut C,
    lot: &str,
    actor: &Actor,
) -> Result<Option<Designs>, StoreError> {
    match lot_shuttle(c, lot).await? {
        Some(s) => Ok(Some(shuttle_designs(c, &s, actor).await?)),
        None => Ok(None),
    }
}
