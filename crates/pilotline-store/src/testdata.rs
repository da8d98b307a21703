//! Test data: imported STDF files linked to a lot, every part result they hold, and yields
//! computed from those results (never from the files' summary records).

use chrono::{DateTime, Utc};
use pilotline_domain::{Action, Actor, Refusal};
use pilotline_yield::{Orientation, PartResult, TestFile, WaferMap, YieldSummary, summarise};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::conn::{Conn, Param, RowExt, params};
use crate::write::require;
use crate::{Store, StoreError, in_write_tx, now, with_read_conn};

/// A parsed test file to store.
#[derive(Debug, Clone)]
pub struct TestFileImport<'a> {
    /// The file's content.
    pub file: &'a TestFile,
    /// SHA-256 of its bytes (hex): the file's identity.
    pub sha256: String,
    /// File name as given.
    pub name: String,
    /// Size in bytes as read.
    pub bytes: u64,
    /// The MES lot it belongs to, when its own lot id differs (`None`: the file's lot id).
    pub lot: Option<String>,
    /// Record an external lot when the lot is unknown (data from outside the line).
    pub create_lot: bool,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportedFile {
    /// File id (SHA-256).
    pub id: String,
    /// Lot it was linked to.
    pub lot: String,
    /// Part results stored.
    pub part_results: u64,
    /// The same file was imported before; nothing was stored again.
    pub duplicate: bool,
}

/// A stored test file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestFileInfo {
    /// File id (SHA-256).
    pub id: String,
    /// File name.
    pub name: String,
    /// Lot id written in the file.
    pub file_lot: String,
    /// Part type written in the file.
    pub part_type: String,
    /// Part results.
    pub part_results: u64,
    /// When it was imported.
    pub imported_at: DateTime<Utc>,
}

/// Yield of one wafer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaferYield {
    /// Wafer id.
    pub wafer: String,
    /// Its yields.
    pub summary: YieldSummary,
}

/// A lot's yield from every test file imported for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LotYield {
    /// Lot id.
    pub lot: String,
    /// The files the figures come from.
    pub files: Vec<TestFileInfo>,
    /// Yields over all the lot's part results: all results, first pass, final.
    pub summary: YieldSummary,
    /// Yields per wafer.
    pub wafers: Vec<WaferYield>,
}

/// What yields are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Per lot.
    Lot,
    /// Per wafer (`lot/wafer`).
    Wafer,
    /// Per product (the MES product, else the file's part type).
    Product,
    /// Per tenant (start-up; `platform` for the platform's own and external lots).
    Tenant,
}

/// Yields of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct YieldGroup {
    /// The group's key (lot, `lot/wafer`, product or tenant).
    pub key: String,
    /// Lots in the group.
    pub lots: u32,
    /// Yields over its part results.
    pub summary: YieldSummary,
}

/// The tenant of lot `id` (MES or external): `None` if unknown, `Some(None)` for the platform.
async fn lot_tenant<C: Conn>(c: &mut C, id: &str) -> Result<Option<Option<String>>, StoreError> {
    if let Some(r) = c
        .fetch_optional("SELECT tenant FROM lots WHERE id = $1", params![id])
        .await?
    {
        return Ok(Some(r.opt_text("tenant")?));
    }
    let external = c
        .fetch_optional("SELECT id FROM external_lots WHERE id = $1", params![id])
        .await?;
    Ok(external.map(|_| None))
}

/// The part results of test files, filtered and ordered by `$tail`.
macro_rules! parts_sql {
    ($tail:literal) => {
        concat!(
            "SELECT p.wafer, p.x, p.y, p.site, p.hard_bin, p.soft_bin, p.failed_flag, \
             p.flag_invalid, p.test_time_ms FROM test_parts p \
             JOIN test_files f ON f.id = p.file_id ",
            $tail
        )
    };
}

fn part_from_row<R: RowExt>(r: &R) -> Result<PartResult, StoreError> {
    Ok(PartResult {
        wafer: r.text("wafer")?,
        x: r.int("x")? as i16,
        y: r.int("y")? as i16,
        site: r.int("site")? as u8,
        hard_bin: r.int("hard_bin")? as u16,
        soft_bin: r.int("soft_bin")? as u16,
        failed_flag: r.int("failed_flag")? != 0,
        flag_invalid: r.int("flag_invalid")? != 0,
        test_time_ms: r.int("test_time_ms")? as u32,
    })
}

impl Store {
    /// Stores a parsed test file and its part results in one transaction, linked to its lot.
    /// The same file (by SHA-256) is stored once; an unknown lot is refused unless
    /// `create_lot` records it as an external lot.
    pub async fn import_test_file(
        &self,
        import: &TestFileImport<'_>,
        actor: &Actor,
    ) -> Result<ImportedFile, StoreError> {
        require(actor, Action::WriteMasterData, "import test data")?;
        let lot = import
            .lot
            .clone()
            .unwrap_or_else(|| import.file.lot.clone());
        if lot.trim().is_empty() {
            return Err(Refusal::invalid(format!(
                "{}: the file names no lot (MIR LOT_ID); give the lot explicitly",
                import.name
            ))
            .into());
        }
        let at = now();
        in_write_tx!(self, |c| {
            if let Some(r) = c
                .fetch_optional(
                    "SELECT lot_id FROM test_files WHERE id = $1",
                    params![import.sha256.as_str()],
                )
                .await?
            {
                return Ok(ImportedFile {
                    id: import.sha256.clone(),
                    lot: r.text("lot_id")?,
                    part_results: 0,
                    duplicate: true,
                });
            }
            if lot_tenant(c, &lot).await?.is_none() {
                if !import.create_lot {
                    return Err(StoreError::NotFound(format!(
                        "lot {lot} is not known to Pilotline: name the MES lot it belongs to, \
                         or import with --create-lots for data from outside the line"
                    )));
                }
                c.execute(
                    "INSERT INTO external_lots (id, part_type, created_at, created_by) \
                     VALUES ($1, $2, $3, $4)",
                    params![
                        lot.as_str(),
                        import.file.part_type.as_str(),
                        at,
                        actor.user.as_str()
                    ],
                )
                .await?;
            }
            c.execute(
                "INSERT INTO test_files (id, name, lot_id, file_lot, part_type, bytes, \
                 part_results, imported_at, imported_by, orientation) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                vec![
                    Param::from(import.sha256.as_str()),
                    Param::from(import.name.as_str()),
                    Param::from(lot.as_str()),
                    Param::from(import.file.lot.as_str()),
                    Param::from(import.file.part_type.as_str()),
                    Param::Int(import.bytes as i64),
                    Param::Int(import.file.parts.len() as i64),
                    Param::Time(at),
                    Param::from(actor.user.as_str()),
                    Param::OptText(
                        import
                            .file
                            .orientation
                            .map(|o| [o.flat, o.pos_x, o.pos_y].iter().collect()),
                    ),
                ],
            )
            .await?;
            for (seq, p) in import.file.parts.iter().enumerate() {
                c.execute(
                    "INSERT INTO test_parts (file_id, seq, wafer, x, y, site, hard_bin, soft_bin, \
                     failed_flag, flag_invalid, test_time_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    vec![
                        Param::from(import.sha256.as_str()),
                        Param::Int(seq as i64),
                        Param::from(p.wafer.as_str()),
                        Param::Int(i64::from(p.x)),
                        Param::Int(i64::from(p.y)),
                        Param::Int(i64::from(p.site)),
                        Param::Int(i64::from(p.hard_bin)),
                        Param::Int(i64::from(p.soft_bin)),
                        Param::Int(i64::from(p.failed_flag)),
                        Param::Int(i64::from(p.flag_invalid)),
                        Param::Int(i64::from(p.test_time_ms)),
                    ],
                )
                .await?;
            }
            Ok(ImportedFile {
                id: import.sha256.clone(),
                lot: lot.clone(),
                part_results: import.file.parts.len() as u64,
                duplicate: false,
            })
        })
    }

    /// The yield of lot `lot` from its part results (the part's flag decides pass/fail until the
    /// product has a bin table); `None` when the lot is unknown or not visible to `actor`, or
    /// has no test data.
    pub async fn lot_yield(
        &self,
        lot: &str,
        actor: &Actor,
    ) -> Result<Option<LotYield>, StoreError> {
        with_read_conn!(self, |c| {
            let Some(tenant) = lot_tenant(c, lot).await? else {
                return Ok(None);
            };
            if !actor.may_see_tenant(tenant.as_deref()) {
                return Ok(None);
            }
            let files = c
                .fetch_all(
                    "SELECT id, name, file_lot, part_type, part_results, imported_at \
                     FROM test_files WHERE lot_id = $1 ORDER BY imported_at, id",
                    params![lot],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(TestFileInfo {
                        id: r.text("id")?,
                        name: r.text("name")?,
                        file_lot: r.text("file_lot")?,
                        part_type: r.text("part_type")?,
                        part_results: r.int("part_results")? as u64,
                        imported_at: r.time("imported_at")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            if files.is_empty() {
                return Ok(None);
            }
            let rows = c
                .fetch_all(
                    parts_sql!("WHERE f.lot_id = $1 ORDER BY f.imported_at, f.id, p.seq"),
                    params![lot],
                )
                .await?;
            let parts = rows
                .iter()
                .map(part_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let pass = |p: &PartResult| p.flag_pass().unwrap_or(false);
            let mut by_wafer: BTreeMap<&str, Vec<PartResult>> = BTreeMap::new();
            for p in &parts {
                by_wafer
                    .entry(p.wafer.as_str())
                    .or_default()
                    .push(p.clone());
            }
            let wafers = by_wafer
                .into_iter()
                .map(|(wafer, ps)| WaferYield {
                    wafer: wafer.to_string(),
                    summary: summarise(&ps, pass),
                })
                .collect();
            Ok(Some(LotYield {
                lot: lot.to_string(),
                files,
                summary: summarise(&parts, pass),
                wafers,
            }))
        })
    }

    /// The bin map of wafer `wafer` (its test data's wafer id), from its final results. With
    /// several lots holding that wafer id, `lot` chooses; `None` when no visible lot has it.
    pub async fn wafer_map(
        &self,
        wafer: &str,
        lot: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<WaferMap>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT DISTINCT f.lot_id FROM test_parts p JOIN test_files f ON f.id = p.file_id \
                     WHERE p.wafer = $1 AND ($2 IS NULL OR f.lot_id = $2) ORDER BY f.lot_id",
                    params![wafer, lot],
                )
                .await?;
            let mut lots = Vec::new();
            for r in rows {
                let id = r.text("lot_id")?;
                if let Some(tenant) = lot_tenant(c, &id).await?
                    && actor.may_see_tenant(tenant.as_deref())
                {
                    lots.push(id);
                }
            }
            let lot = match lots.as_slice() {
                [] => return Ok(None),
                [one] => one.clone(),
                many => {
                    return Err(StoreError::Conflict(format!(
                        "wafer {wafer} appears in lots {}: choose one with ?lot=",
                        many.join(", ")
                    )));
                }
            };
            let parts = c
                .fetch_all(
                    parts_sql!(
                        "WHERE f.lot_id = $1 AND p.wafer = $2 ORDER BY f.imported_at, f.id, p.seq"
                    ),
                    params![lot.as_str(), wafer],
                )
                .await?
                .iter()
                .map(part_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let orientation = c
                .fetch_optional(
                    "SELECT orientation FROM test_files WHERE lot_id = $1 \
                     AND orientation IS NOT NULL ORDER BY imported_at DESC LIMIT 1",
                    params![lot.as_str()],
                )
                .await?
                .map(|r| r.opt_text("orientation"))
                .transpose()?
                .flatten()
                .and_then(|o| {
                    let c: Vec<char> = o.chars().collect();
                    (c.len() == 3).then(|| Orientation {
                        flat: c[0],
                        pos_x: c[1],
                        pos_y: c[2],
                    })
                });
            Ok(Some(WaferMap::build(
                wafer,
                &lot,
                orientation,
                &parts,
                |p| p.flag_pass().unwrap_or(false),
            )))
        })
    }

    /// Yields grouped by `group_by` over test files imported in `[from, to)`. A customer sees
    /// only its own tenant's lots; external lots are the platform's.
    pub async fn yield_rollup(
        &self,
        group_by: GroupBy,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<Vec<YieldGroup>, StoreError> {
        let tenant = actor.tenant_scope();
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT f.lot_id, COALESCE(l.product, f.part_type) AS product, \
                     COALESCE(l.tenant, 'platform') AS tenant, p.wafer, p.x, p.y, p.site, \
                     p.hard_bin, p.soft_bin, p.failed_flag, p.flag_invalid, p.test_time_ms \
                     FROM test_parts p JOIN test_files f ON f.id = p.file_id \
                     LEFT JOIN lots l ON l.id = f.lot_id \
                     WHERE ($1 IS NULL OR l.tenant = $1) \
                     AND ($2 IS NULL OR f.imported_at >= $2) AND ($3 IS NULL OR f.imported_at < $3) \
                     ORDER BY f.imported_at, f.id, p.seq",
                    vec![Param::from(tenant), Param::OptTime(from), Param::OptTime(to)],
                )
                .await?;
            let mut groups: BTreeMap<
                String,
                (std::collections::BTreeSet<String>, Vec<PartResult>),
            > = BTreeMap::new();
            for r in &rows {
                let part = part_from_row(r)?;
                let lot = r.text("lot_id")?;
                let key = match group_by {
                    GroupBy::Lot => lot.clone(),
                    GroupBy::Wafer => format!("{lot}/{}", part.wafer),
                    GroupBy::Product => r.text("product")?,
                    GroupBy::Tenant => r.text("tenant")?,
                };
                let g = groups.entry(key).or_default();
                g.0.insert(lot);
                g.1.push(part);
            }
            Ok(groups
                .into_iter()
                .map(|(key, (lots, parts))| YieldGroup {
                    key,
                    lots: lots.len() as u32,
                    summary: summarise(&parts, |p| p.flag_pass().unwrap_or(false)),
                })
                .collect())
        })
    }
}
