//! Storing a test file: the file row, every part result (bulk), its bins and parametric
//! statistics, and the per-wafer summaries brought up to date — one transaction.

use chrono::{DateTime, Utc};
use pilotline_domain::{Action, Actor, Code};
use pilotline_yield::{FileTail, PartResult, Scanner, SummaryBuilder, WaferSummary};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;

use super::{Stage, lot_tenant, lot_visible};
use crate::conn::{BulkInsert, Column, Conn, Param, RowExt, params};
use crate::write::require;
use crate::{Store, StoreError, in_write_tx, now, with_read_conn};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportedFile {
    /// File id (SHA-256).
    pub id: String,
    /// Lot it was linked to.
    pub lot: String,
    /// Wafer probe or final test.
    pub stage: Stage,
    /// Part results stored.
    pub part_results: u64,
    /// Wafers it holds.
    pub wafers: u64,
    /// Parametric (PTR) tests summarised, per wafer.
    pub parametric_tests: u64,
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
    /// The lot it is linked to.
    pub lot: String,
    /// Lot id written in the file.
    pub file_lot: String,
    /// Part type written in the file.
    pub part_type: String,
    /// Wafer probe or final test.
    pub stage: Stage,
    /// MIR TEST_COD as written.
    pub test_code: String,
    /// The lot's route step when the data arrived (MES lots).
    pub step: Option<String>,
    /// How it arrived: `cli`, `upload` or `drop-folder`.
    pub source: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Part results.
    pub part_results: u64,
    /// When the first part was tested (MIR START_T), if the file says.
    pub tested_at: Option<DateTime<Utc>>,
    /// When it was imported.
    pub imported_at: DateTime<Utc>,
    /// Who imported it.
    pub imported_by: String,
}

/// A file that was refused (parse error or no lot), kept so its sender can see why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejection {
    /// File name.
    pub name: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// How it arrived.
    pub source: String,
    /// Why it was refused (with the record number and byte offset of a parse error).
    pub detail: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who sent it.
    pub by: String,
}

/// Test files' columns as [`file_from_row`] reads them, filtered and ordered by `$tail`.
macro_rules! file_sql {
    ($tail:literal) => {
        concat!(
            "SELECT id, name, lot_id, file_lot, part_type, stage, test_code, step_id, source, \
             bytes, part_results, tested_at, imported_at, imported_by FROM test_files f ",
            $tail
        )
    };
}

fn file_from_row<R: RowExt>(r: &R) -> Result<TestFileInfo, StoreError> {
    Ok(TestFileInfo {
        id: r.text("id")?,
        name: r.text("name")?,
        lot: r.text("lot_id")?,
        file_lot: r.text("file_lot")?,
        part_type: r.text("part_type")?,
        stage: Stage::parse(&r.text("stage")?)?,
        test_code: r.text("test_code")?,
        step: r.opt_text("step_id")?,
        source: r.text("source")?,
        bytes: r.int("bytes")? as u64,
        part_results: r.int("part_results")? as u64,
        tested_at: r.opt_time("tested_at")?,
        imported_at: r.time("imported_at")?,
        imported_by: r.text("imported_by")?,
    })
}

/// Brings the summaries of `lot`'s wafers at `stage` up to date with `later` (each wafer's
/// summary of results tested after those stored): each wafer's stored summary is read, the
/// later one merged in, and written back.
async fn merge_summaries<C: Conn>(
    c: &mut C,
    lot: &str,
    stage: Stage,
    later: &BTreeMap<String, WaferSummary>,
) -> Result<u64, StoreError> {
    for (wafer, add) in later {
        let mut summary =
            match c
                .fetch_optional(
                    "SELECT dies, results FROM test_wafers \
                 WHERE lot_id = $1 AND stage = $2 AND wafer = $3",
                    params![lot, stage.as_str(), wafer.as_str()],
                )
                .await?
            {
                Some(r) => WaferSummary::decode(&r.blob("dies")?, &r.blob("results")?).ok_or_else(
                    || StoreError::Corrupt(format!("summary of wafer {wafer} of lot {lot}")),
                )?,
                None => WaferSummary::default(),
            };
        summary.merge(add);
        c.execute(
            "INSERT INTO test_wafers (lot_id, stage, wafer, dies, results) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (lot_id, stage, wafer) \
             DO UPDATE SET dies = excluded.dies, results = excluded.results",
            vec![
                Param::from(lot),
                Param::from(stage.as_str()),
                Param::from(wafer.as_str()),
                Param::Blob(summary.encode_dies()),
                Param::Blob(summary.encode_results()),
            ],
        )
        .await?;
    }
    Ok(later.len() as u64)
}

/// Stores one batch of part results of file number `num`, the first numbered `seq`.
async fn insert_parts<C: BulkInsert>(
    c: &mut C,
    num: i64,
    seq: i64,
    parts: &[PartResult],
) -> Result<(), StoreError> {
    let int = |f: &dyn Fn(&PartResult) -> i64| Column::Int(parts.iter().map(f).collect());
    c.insert_columns(
        "test_results",
        &[
            "file_num",
            "seq",
            "wafer",
            "x",
            "y",
            "site",
            "hard_bin",
            "soft_bin",
            "failed_flag",
            "flag_invalid",
            "test_time_ms",
        ],
        vec![
            Column::Int(vec![num; parts.len()]),
            Column::Int((seq..seq + parts.len() as i64).collect()),
            Column::Text(parts.iter().map(|p| p.wafer.as_str()).collect()),
            int(&|p| i64::from(p.x)),
            int(&|p| i64::from(p.y)),
            int(&|p| i64::from(p.site)),
            int(&|p| i64::from(p.hard_bin)),
            int(&|p| i64::from(p.soft_bin)),
            int(&|p| i64::from(p.failed_flag)),
            int(&|p| i64::from(p.flag_invalid)),
            int(&|p| i64::from(p.test_time_ms)),
        ],
    )
    .await?;
    Ok(())
}

/// Stores the file's bins and parametric statistics under file number `num`.
async fn insert_tail<C: BulkInsert>(
    c: &mut C,
    num: i64,
    file: &FileTail,
) -> Result<(), StoreError> {
    let bins = &file.bins;
    c.insert_columns(
        "test_file_bins",
        &["file_num", "kind", "bin", "name", "pass_fail"],
        vec![
            Column::Int(vec![num; bins.len()]),
            Column::Text(bins.iter().map(|b| b.kind.as_str()).collect()),
            Column::Int(bins.iter().map(|b| i64::from(b.bin)).collect()),
            Column::Text(bins.iter().map(|b| b.name.as_str()).collect()),
            Column::Text(bins.iter().map(|b| b.pass_fail.as_str()).collect()),
        ],
    )
    .await?;
    let stats = &file.parametrics;
    let float = |f: &dyn Fn(&pilotline_yield::ParametricStats) -> Option<f64>| {
        Column::Float(stats.iter().map(f).collect())
    };
    c.insert_columns(
        "test_parametrics",
        &[
            "file_num",
            "wafer",
            "test_num",
            "name",
            "units",
            "low_limit",
            "high_limit",
            "count",
            "fails",
            "invalid",
            "mean",
            "stdev",
            "min_value",
            "max_value",
        ],
        vec![
            Column::Int(vec![num; stats.len()]),
            Column::Text(stats.iter().map(|s| s.wafer.as_str()).collect()),
            Column::Int(stats.iter().map(|s| i64::from(s.test_num)).collect()),
            Column::Text(stats.iter().map(|s| s.name.as_str()).collect()),
            Column::Text(stats.iter().map(|s| s.units.as_str()).collect()),
            float(&|s| s.low_limit),
            float(&|s| s.high_limit),
            Column::Int(stats.iter().map(|s| s.count as i64).collect()),
            Column::Int(stats.iter().map(|s| s.fails as i64).collect()),
            Column::Int(stats.iter().map(|s| s.invalid as i64).collect()),
            float(&|s| s.mean),
            float(&|s| s.stdev),
            float(&|s| s.min),
            float(&|s| s.max),
        ],
    )
    .await?;
    Ok(())
}

/// An STDF file on disk to read and store.
#[derive(Debug, Clone, Copy)]
pub struct StdfUpload<'a> {
    /// File name as given (errors name it).
    pub name: &'a str,
    /// Where the file is (plain or gzipped); it is read as a stream, never whole.
    pub path: &'a Path,
    /// Its SHA-256 (hex), when already known (an upload is hashed as it arrives); computed
    /// from the file otherwise.
    pub sha256: Option<&'a str>,
    /// The MES lot, when the file's own lot id differs.
    pub lot: Option<&'a str>,
    /// Record an external lot when the lot is unknown.
    pub create_lot: bool,
    /// How it arrived: `cli`, `upload` or `drop-folder`.
    pub source: &'a str,
}

/// Part results stored per statement: bounds the memory an import holds, whatever the size
/// of the file.
pub const IMPORT_BATCH: usize = 8192;

/// SHA-256 (hex) of the file at `path`, read in chunks.
fn hash_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A read failure of the file's content: the whole file is refused.
fn invalid(e: pilotline_yield::ImportError) -> StoreError {
    StoreError::Refused(Code::TestFileInvalid.refusal().with("reason", e))
}

impl Store {
    /// Reads an STDF file record by record and stores it in one transaction, linked to its
    /// lot: the file, every part result (in batches of [`IMPORT_BATCH`], so memory stays
    /// bounded whatever the file's size), its bins and parametric statistics, and the lot's
    /// per-wafer summaries. A file that cannot be read or linked is refused whole — a bad
    /// record rolls back what was stored before it — and the refusal is recorded with its
    /// reason. The same file (by SHA-256) is stored once; an unknown lot is refused unless
    /// `create_lot` records it as an external lot.
    pub async fn import_stdf(
        &self,
        upload: StdfUpload<'_>,
        actor: &Actor,
    ) -> Result<ImportedFile, StoreError> {
        require(actor, Action::WriteMasterData, "import test data")?;
        // A file that cannot be read at all is not refused: it can be tried again.
        let unreadable = |e: std::io::Error| {
            StoreError::Blob(format!("cannot read {}: {e}", upload.path.display()))
        };
        let bytes = std::fs::metadata(upload.path).map_err(unreadable)?.len();
        let sha256 = match upload.sha256 {
            Some(s) => s.to_string(),
            None => {
                crate::sqlite_writer::blocking(|| hash_file(upload.path)).map_err(unreadable)?
            }
        };
        let result = self.import_scan(&upload, &sha256, bytes, actor).await;
        if let Err(e @ StoreError::Refused(_)) = &result {
            self.record_rejection(&Rejection {
                name: upload.name.to_string(),
                sha256,
                source: upload.source.to_string(),
                detail: e.to_string(),
                at: now(),
                by: actor.user.clone(),
            })
            .await?;
        }
        result
    }

    async fn import_scan(
        &self,
        upload: &StdfUpload<'_>,
        sha256: &str,
        bytes: u64,
        actor: &Actor,
    ) -> Result<ImportedFile, StoreError> {
        use crate::sqlite_writer::blocking;
        let mut scan = blocking(|| {
            let file = std::fs::File::open(upload.path).map_err(|e| {
                StoreError::Blob(format!("cannot read {}: {e}", upload.path.display()))
            })?;
            Scanner::open(upload.name, BufReader::with_capacity(1 << 20, file)).map_err(invalid)
        })?;
        let header = scan.header().clone();
        let lot = upload
            .lot
            .map(str::to_string)
            .unwrap_or_else(|| header.lot.clone());
        if lot.trim().is_empty() {
            return Err(Code::TestFileNoLot
                .refusal()
                .with(
                    "reason",
                    format!(
                        "{}: the file names no lot (MIR LOT_ID); give the lot explicitly",
                        upload.name
                    ),
                )
                .into());
        }
        let tested_at = (header.started > 0)
            .then(|| DateTime::<Utc>::from_timestamp(i64::from(header.started), 0))
            .flatten();
        let at = now();
        // The file is read on a thread of its own, a few batches ahead of the inserts, so
        // parsing and storing overlap; it stops when the transaction drops its receiver.
        let (sender, batches) = std::sync::mpsc::sync_channel::<(Vec<PartResult>, bool)>(2);
        let reader = std::thread::spawn(move || {
            loop {
                let mut batch = Vec::with_capacity(IMPORT_BATCH);
                if !scan.next_parts(IMPORT_BATCH, &mut batch)? {
                    break;
                }
                // A file with a wafer (WIR) is wafer probe, whatever follows.
                let probe = !scan.wafers().is_empty();
                if sender.send((batch, probe)).is_err() {
                    break;
                }
            }
            scan.finish()
        });
        in_write_tx!(self, |c| {
            // The transaction's body owns the receiver (one that is not `Sync` cannot be
            // borrowed by a future that may move between threads).
            let batches = batches;
            if let Some(r) = c
                .fetch_optional(
                    "SELECT lot_id, stage FROM test_files WHERE id = $1",
                    params![sha256],
                )
                .await?
            {
                return Ok(ImportedFile {
                    id: sha256.to_string(),
                    lot: r.text("lot_id")?,
                    stage: Stage::parse(&r.text("stage")?)?,
                    part_results: 0,
                    wafers: 0,
                    parametric_tests: 0,
                    duplicate: true,
                });
            }
            if lot_tenant(c, &lot).await?.is_none() {
                if !upload.create_lot {
                    return Err(Code::TestFileLotUnknown.refusal().with("lot", &lot).into());
                }
                c.execute(
                    "INSERT INTO external_lots (id, part_type, created_at, created_by) \
                     VALUES ($1, $2, $3, $4)",
                    params![
                        lot.as_str(),
                        header.part_type.as_str(),
                        at,
                        actor.user.as_str()
                    ],
                )
                .await?;
            }
            let step = c
                .fetch_optional(
                    "SELECT step_id FROM lots WHERE id = $1",
                    params![lot.as_str()],
                )
                .await?
                .map(|r| r.text("step_id"))
                .transpose()?;
            // The stage, orientation and count are known once the file is read; the row is
            // written first (its number keys the results) and completed at the end.
            let num = c
                .fetch_optional(
                    "INSERT INTO test_files (id, name, lot_id, file_lot, part_type, stage, \
                     test_code, step_id, source, bytes, orientation, part_results, tested_at, \
                     imported_at, imported_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 0, $11, $12, $13) \
                     RETURNING num",
                    vec![
                        Param::from(sha256),
                        Param::from(upload.name),
                        Param::from(lot.as_str()),
                        Param::from(header.lot.as_str()),
                        Param::from(header.part_type.as_str()),
                        Param::from(Stage::Final.as_str()),
                        Param::from(header.test_code.trim()),
                        Param::OptText(step),
                        Param::from(upload.source),
                        Param::Int(bytes as i64),
                        Param::OptTime(tested_at),
                        Param::Time(at),
                        Param::from(actor.user.as_str()),
                    ],
                )
                .await?
                .ok_or_else(|| StoreError::Corrupt("INSERT … RETURNING gave no row".into()))?
                .int("num")?;
            // Each wafer's summary is merged into the stored one as soon as the file moves
            // past it, so memory holds one wafer's dies at a time.
            // A unit lot's final test: each PART_ID's last result goes to the part with that
            // serial in the lot, judged by the product's bin table.
            let unit_lot = c
                .fetch_optional(
                    "SELECT id FROM unit_lots WHERE id = $1",
                    params![lot.as_str()],
                )
                .await?
                .is_some();
            let table = if unit_lot {
                Some(super::query::lot_bin_table(c, &lot).await?)
            } else {
                None
            };
            let mut finals: BTreeMap<String, (u16, u16, bool, i64)> = BTreeMap::new();
            let mut summaries = SummaryBuilder::default();
            let mut wafers = std::collections::BTreeSet::new();
            let mut seq = 0i64;
            while let Ok((batch, probe)) = blocking(|| batches.recv()) {
                insert_parts(c, num, seq, &batch).await?;
                batch.iter().for_each(|p| summaries.add(p));
                if let (Some(table), false) = (&table, probe) {
                    for p in batch.iter().filter(|p| !p.part_id.trim().is_empty()) {
                        let pass = table.passes(&pilotline_yield::BinResult::from(p));
                        let e = finals.entry(p.part_id.trim().to_string()).or_default();
                        *e = (p.hard_bin, p.soft_bin, pass, e.3 + 1);
                    }
                }
                seq += batch.len() as i64;
                if probe {
                    let current = batch.last().map(|p| p.wafer.as_str()).unwrap_or_default();
                    let done = summaries.take_all_but(current);
                    wafers.extend(done.keys().cloned());
                    merge_summaries(c, &lot, Stage::Probe, &done).await?;
                }
            }
            let tail = blocking(|| reader.join())
                .map_err(|_| StoreError::Corrupt("the STDF reader thread panicked".into()))?
                .map_err(invalid)?;
            if tail.parts == 0 {
                return Err(StoreError::Refused(Code::TestFileEmpty.refusal()));
            }
            let stage = if tail.wafers.is_empty() {
                Stage::Final
            } else {
                Stage::Probe
            };
            c.execute(
                "UPDATE test_files SET stage = $1, orientation = $2, part_results = $3 \
                 WHERE num = $4",
                vec![
                    Param::from(stage.as_str()),
                    Param::OptText(
                        tail.orientation
                            .map(|o| [o.flat, o.pos_x, o.pos_y].iter().collect()),
                    ),
                    Param::Int(tail.parts as i64),
                    Param::Int(num),
                ],
            )
            .await?;
            insert_tail(c, num, &tail).await?;
            if stage == Stage::Final {
                for (serial, (hard, soft, pass, tests)) in &finals {
                    c.execute(
                        "UPDATE units SET final_hard_bin = $3, final_soft_bin = $4, final_pass = $5, \
                         final_file = $6, final_tests = final_tests + $7 WHERE serial = $1 AND lot_id = $2",
                        params![
                            serial.as_str(),
                            lot.as_str(),
                            i64::from(*hard),
                            i64::from(*soft),
                            i64::from(*pass),
                            num,
                            *tests
                        ],
                    )
                    .await?;
                }
            }
            let last = summaries.finish();
            wafers.extend(last.keys().cloned());
            merge_summaries(c, &lot, stage, &last).await?;
            let wafers = wafers.len() as u64;
            Ok(ImportedFile {
                id: sha256.to_string(),
                lot: lot.clone(),
                stage,
                part_results: tail.parts,
                wafers: if stage == Stage::Probe { wafers } else { 0 },
                parametric_tests: tail.parametrics.len() as u64,
                duplicate: false,
            })
        })
    }

    /// Records a refused file, so whoever sent it (a drop folder, an upload) can see why.
    pub async fn record_rejection(&self, r: &Rejection) -> Result<(), StoreError> {
        in_write_tx!(self, |c| {
            c.execute(
                "INSERT INTO test_file_rejections (name, sha256, source, detail, at, by_user) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                params![
                    r.name.as_str(),
                    r.sha256.as_str(),
                    r.source.as_str(),
                    r.detail.as_str(),
                    r.at,
                    r.by.as_str()
                ],
            )
            .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Refused files, newest first (staff only: a customer sees none).
    pub async fn rejections(
        &self,
        limit: u32,
        actor: &Actor,
    ) -> Result<Vec<Rejection>, StoreError> {
        if actor.tenant_scope().is_some() {
            return Ok(Vec::new());
        }
        with_read_conn!(self, |c| {
            c.fetch_all(
                "SELECT name, sha256, source, detail, at, by_user FROM test_file_rejections \
                 ORDER BY at DESC, id DESC LIMIT $1",
                params![i64::from(limit.clamp(1, 1000))],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(Rejection {
                    name: r.text("name")?,
                    sha256: r.text("sha256")?,
                    source: r.text("source")?,
                    detail: r.text("detail")?,
                    at: r.time("at")?,
                    by: r.text("by_user")?,
                })
            })
            .collect()
        })
    }

    /// Test files, newest first, of lot `lot` or of every lot `actor` may see.
    pub async fn test_files(
        &self,
        lot: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<Vec<TestFileInfo>, StoreError> {
        let tenant = actor.tenant_scope();
        crate::tenant_read!(self, actor, |c| {
            c.fetch_all(
                file_sql!(
                    "WHERE ($1 IS NULL OR lot_id = $1) AND ($2 IS NULL OR \
                     EXISTS (SELECT 1 FROM lots l WHERE l.id = f.lot_id AND l.tenant = $2)) \
                     ORDER BY num DESC LIMIT $3"
                ),
                params![lot, tenant, i64::from(limit.clamp(1, 1000))],
            )
            .await?
            .iter()
            .map(file_from_row)
            .collect()
        })
    }

    /// One test file by id; `None` when unknown or not visible to `actor`.
    pub async fn test_file(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<Option<TestFileInfo>, StoreError> {
        crate::tenant_read!(self, actor, |c| {
            let Some(file) = c
                .fetch_optional(file_sql!("WHERE id = $1"), params![id])
                .await?
                .map(|r| file_from_row(&r))
                .transpose()?
            else {
                return Ok(None);
            };
            Ok(lot_visible(c, &file.lot, actor).await?.then_some(file))
        })
    }

    /// Rebuilds the per-wafer summaries of lots that have test files but none (files stored
    /// before summaries were kept). Run after migrating; returns the lots rebuilt.
    pub async fn rebuild_test_summaries(&self) -> Result<u64, StoreError> {
        let lots: Vec<String> = with_read_conn!(self, |c| {
            c.fetch_all(
                "SELECT DISTINCT f.lot_id FROM test_files f WHERE NOT EXISTS \
                 (SELECT 1 FROM test_wafers w WHERE w.lot_id = f.lot_id) ORDER BY f.lot_id",
                vec![],
            )
            .await?
            .iter()
            .map(|r| r.text("lot_id"))
            .collect::<Result<Vec<_>, _>>()
        })?;
        for lot in &lots {
            in_write_tx!(self, |c| {
                let rows = c
                    .fetch_all(
                        "SELECT f.stage, r.wafer, r.x, r.y, r.site, r.hard_bin, r.soft_bin, \
                         r.failed_flag, r.flag_invalid, r.test_time_ms FROM test_results r \
                         JOIN test_files f ON f.num = r.file_num WHERE f.lot_id = $1 \
                         ORDER BY f.num, r.seq",
                        params![lot.as_str()],
                    )
                    .await?;
                let mut by_stage: BTreeMap<Stage, SummaryBuilder> = BTreeMap::new();
                for r in &rows {
                    by_stage
                        .entry(Stage::parse(&r.text("stage")?)?)
                        .or_default()
                        .add(&PartResult {
                            wafer: r.text("wafer")?,
                            x: r.int("x")? as i16,
                            y: r.int("y")? as i16,
                            site: r.int("site")? as u8,
                            hard_bin: r.int("hard_bin")? as u16,
                            soft_bin: r.int("soft_bin")? as u16,
                            failed_flag: r.int("failed_flag")? != 0,
                            flag_invalid: r.int("flag_invalid")? != 0,
                            test_time_ms: r.int("test_time_ms")? as u32,
                            part_id: String::new(),
                        });
                }
                for (stage, parts) in by_stage {
                    merge_summaries(c, lot, stage, &parts.finish()).await?;
                }
                Ok::<_, StoreError>(())
            })?;
        }
        Ok(lots.len() as u64)
    }
}
