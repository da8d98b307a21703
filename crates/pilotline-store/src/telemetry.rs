//! Equipment telemetry: samples from the collector and each tool's communication state.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

use crate::conn::{Conn, Filters, Param, RowExt, params, shaped};
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// A sample to store. The lot running on the tool at that moment is recorded with it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSample {
    /// Tool id.
    pub equipment: String,
    /// Point name.
    pub point: String,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Numeric value (booleans as 0/1).
    pub number: Option<f64>,
    /// Text value (labels, ids).
    pub text: Option<String>,
}

/// A stored sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SampleRecord {
    /// Point name.
    pub point: String,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Numeric value.
    pub number: Option<f64>,
    /// Text value.
    pub text: Option<String>,
    /// Lot on the tool at that moment.
    pub lot: Option<String>,
}

/// What storing a batch of samples did. A point has one value per instant: a sample of a
/// point at a time already stored is either the same value again (a replay, ignored) or a
/// conflict (counted; the first value is kept, in the history and as the latest value alike).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplesStored {
    /// New samples stored.
    pub stored: u64,
    /// Samples already stored with the same value.
    pub replays: u64,
    /// Samples whose point already had another value at that instant.
    pub conflicts: u64,
    /// Samples not stored because retention has passed their time: older than the tool's raw
    /// horizon (the application layer's count) or behind the store's retention mark for the
    /// tool, where raw samples have been deleted and the rollups are final.
    pub expired: u64,
    /// The first conflicts (at most [`CONFLICT_EXAMPLES`]): tool, point and time.
    pub examples: Vec<(String, String, DateTime<Utc>)>,
}

/// Whether `s` holds the value `number`/`text`.
fn same_value(s: &NewSample, number: Option<f64>, text: Option<&str>) -> bool {
    let same_number = match (s.number, number) {
        (Some(a), Some(b)) => a.to_bits() == b.to_bits() || a == b,
        (a, b) => a.is_none() && b.is_none(),
    };
    same_number && s.text.as_deref() == text
}

/// How many conflicts a [`SamplesStored`] names.
pub const CONFLICT_EXAMPLES: usize = 10;

impl SamplesStored {
    /// Counts `incoming`, a sample whose key was stored already with `stored`'s value.
    pub(crate) fn duplicate(&mut self, incoming: &NewSample, stored: (Option<f64>, Option<&str>)) {
        if same_value(incoming, stored.0, stored.1) {
            self.replays += 1;
        } else {
            self.conflicts += 1;
            if self.examples.len() < CONFLICT_EXAMPLES {
                self.examples.push((
                    incoming.equipment.clone(),
                    incoming.point.clone(),
                    incoming.at,
                ));
            }
        }
    }
}

/// Where a read of samples stopped: the next page starts after this sample (samples are
/// ordered by time, then point: raw samples by point number, buckets by point name). Shown to
/// clients as an opaque text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleCursor {
    /// The last sample's time.
    pub at: DateTime<Utc>,
    /// The last sample's point.
    pub point: String,
}

impl SampleCursor {
    /// The cursor as text: microseconds since 1970, a dash, the point's name in hex.
    pub fn encode(&self) -> String {
        format!(
            "{}-{}",
            self.at.timestamp_micros(),
            hex::encode(&self.point)
        )
    }

    /// Reads back what [`encode`](Self::encode) wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<SampleCursor> {
        let (micros, point) = text.split_once('-')?;
        let at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
        let point = String::from_utf8(hex::decode(point).ok()?).ok()?;
        Some(SampleCursor { at, point })
    }
}

impl SampleCursor {
    /// Adds to `f` "after this cursor" on the time column `time` (a range on it, then the
    /// ties of that instant by point).
    pub(crate) fn filter(&self, f: &mut Filters, time: &str) {
        f.add(&format!("{time} >="), Some(Param::Time(self.at)));
        f.add_pair(
            &format!("NOT ({time} = ? AND point <= ?)"),
            Param::Time(self.at),
            Param::from(self.point.as_str()),
        );
    }
}

/// Cuts `rows`, read with one more than `limit`, to `limit`: whether more matched, and then
/// the cursor after the last row kept (`key` gives its time and point).
pub(crate) fn cut<T>(
    rows: &mut Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> (DateTime<Utc>, &str),
) -> (bool, Option<String>) {
    let truncated = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = truncated.then(|| rows.last()).flatten().map(|r| {
        let (at, point) = key(r);
        SampleCursor {
            at,
            point: point.to_string(),
        }
        .encode()
    });
    (truncated, next)
}

impl std::str::FromStr for SampleCursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SampleCursor::decode(s).ok_or_else(|| {
            "not a cursor this server gave (use the `next` of an earlier answer)".to_string()
        })
    }
}

impl<'de> serde::Deserialize<'de> for SampleCursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A page of samples, oldest first: `truncated` when more match than the limit returned, and
/// then `next`, the cursor that continues after the last one. At a rolled-up resolution the
/// page holds buckets instead of samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SamplePage {
    /// The resolution read (`auto` resolved).
    pub resolution: crate::Resolution,
    /// The samples (raw resolution).
    pub samples: Vec<SampleRecord>,
    /// The buckets (1m or 1h resolution).
    pub buckets: Vec<crate::Bucket>,
    /// Buckets are complete before this time; later ones are still to be rolled up (rolled
    /// resolutions; absent when the tool has no samples).
    pub rolled_until: Option<DateTime<Utc>>,
    /// More samples match than this page holds.
    pub truncated: bool,
    /// Pass as `after` to read the next page (present when `truncated`).
    pub next: Option<String>,
}

/// A tool's communication state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommState {
    /// Communication lost: the E10 state shown is the last known one.
    pub stale: bool,
    /// Since when (absent until the collector first reported).
    pub since: Option<DateTime<Utc>>,
}

/// A row of `equipment_latest` (names and text times; the lot is filled in from the runs).
fn latest_record<R: RowExt>(r: &R) -> Result<SampleRecord, StoreError> {
    Ok(SampleRecord {
        point: r.text("point")?,
        at: r.time("at")?,
        number: r.opt_float("number")?,
        text: r.opt_text("text")?,
        lot: None,
    })
}

/// The columns that read a stored sample's value as `number` and `text`: SQLite keeps either in
/// one column without type affinity, PostgreSQL in two.
pub(crate) fn value_columns(postgres: bool) -> &'static str {
    if postgres {
        "number, text"
    } else {
        "CASE WHEN typeof(value) IN ('real', 'integer') THEN CAST(value AS REAL) END AS number, \
         CASE WHEN typeof(value) = 'text' THEN value END AS text"
    }
}

/// The condition that keeps numeric samples only.
pub(crate) fn numeric_only(postgres: bool) -> &'static str {
    if postgres {
        "number IS NOT NULL"
    } else {
        "typeof(value) IN ('real', 'integer')"
    }
}

/// The time a sample taken at `t` is stored with: to the microsecond (as every time Pilotline
/// stores).
pub fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    from_us(sample_us(t))
}

/// The time of `us` microseconds since 1970.
pub(crate) fn from_us(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

/// A raw row (`at`, `point`, `number`, `text`) of tool `points` as a record (lot not yet known).
fn raw_record<R: RowExt>(
    r: &R,
    points: &crate::sample_ids::ToolPoints,
) -> Result<SampleRecord, StoreError> {
    Ok(SampleRecord {
        point: points.name(r.int("point")?)?.to_string(),
        at: from_us(r.int("at")?),
        number: r.opt_float("number")?,
        text: r.opt_text("text")?,
        lot: None,
    })
}

/// One run of a lot on a tool, in microseconds: `[start, end)`, open while `end` is `None`.
#[derive(Debug, Clone)]
struct Run {
    lot: String,
    start: i64,
    end: Option<i64>,
}

impl Run {
    fn holds(&self, at: i64) -> bool {
        self.start <= at && self.end.is_none_or(|e| at < e)
    }
}

/// Tool `tool`'s runs that may hold a time in `[from, to]` (µs): the last one started at or
/// before `from`, and those started after it up to `to` (two index seeks however long the
/// tool's history).
async fn runs_within<C: Conn>(
    c: &mut C,
    tool: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Run>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT lot_id, started_at, ended_at FROM (SELECT lot_id, started_at, ended_at \
             FROM equipment_runs WHERE equipment_id = $1 AND started_at <= $2 \
             ORDER BY started_at DESC LIMIT 1) AS before_from \
             UNION ALL SELECT lot_id, started_at, ended_at FROM equipment_runs \
             WHERE equipment_id = $3 AND started_at > $4 AND started_at <= $5 \
             ORDER BY started_at",
            params![tool, from, tool, from, to],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Run {
                lot: r.text("lot_id")?,
                start: r.int("started_at")?,
                end: r.opt_int("ended_at")?,
            })
        })
        .collect()
}

/// Fills in the lot of each of tool `tool`'s `records`: the lot whose run on the tool held the
/// sample's time.
async fn tag_lots<C: Conn>(
    c: &mut C,
    tool: &str,
    records: &mut [SampleRecord],
) -> Result<(), StoreError> {
    let (Some(from), Some(to)) = (
        records.iter().map(|r| sample_us(r.at)).min(),
        records.iter().map(|r| sample_us(r.at)).max(),
    ) else {
        return Ok(());
    };
    let runs = runs_within(c, tool, from, to).await?;
    if runs.is_empty() {
        return Ok(());
    }
    for r in records {
        let at = sample_us(r.at);
        r.lot = runs
            .iter()
            .rev()
            .find(|run| run.holds(at))
            .map(|run| run.lot.clone());
    }
    Ok(())
}

/// The newest of each (tool, point) among `samples` (the first of equal times: the one stored).
pub(crate) fn latest_of<'a>(
    samples: impl IntoIterator<Item = &'a NewSample>,
) -> Vec<&'a NewSample> {
    let mut newest: HashMap<(&str, &str), &NewSample> = HashMap::new();
    for s in samples {
        let e = newest
            .entry((s.equipment.as_str(), s.point.as_str()))
            .or_insert(s);
        if s.at > e.at {
            *e = s;
        }
    }
    newest.into_values().collect()
}

/// The oldest of `samples` per tool, tools in order (so locks are always taken in one order).
pub(crate) fn oldest_per_tool<'a>(samples: &[&'a NewSample]) -> Vec<(&'a str, DateTime<Utc>)> {
    let mut oldest: std::collections::BTreeMap<&str, DateTime<Utc>> = Default::default();
    for s in samples {
        let at = stored_time(s.at);
        let e = oldest.entry(s.equipment.as_str()).or_insert(at);
        *e = (*e).min(at);
    }
    oldest.into_iter().collect()
}

/// Microseconds since 1970: how a sample's time is stored.
pub(crate) fn sample_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A sample's key as stored: tool number, time in microseconds, point number.
type SampleKey = (i64, i64, i64);
/// A stored sample's value, and whether the running transaction wrote it.
type StoredValue = (Option<f64>, Option<String>, bool);

/// The numbers of the tools and points of a batch, by tool id.
pub(crate) type Numbered = HashMap<String, std::sync::Arc<crate::sample_ids::ToolPoints>>;

/// The stored key of `s`.
pub(crate) fn key_of(ids: &Numbered, s: &NewSample) -> Result<SampleKey, StoreError> {
    let tool = ids
        .get(&s.equipment)
        .ok_or_else(|| StoreError::Corrupt(format!("tool {} not numbered", s.equipment)))?;
    let point = tool.point(&s.point).ok_or_else(|| {
        StoreError::Corrupt(format!("point {}/{} not numbered", s.equipment, s.point))
    })?;
    Ok((tool.id, sample_us(s.at), point))
}

/// PostgreSQL: the whole batch in one statement, as arrays; then the stored values of the keys
/// that were there already, to tell replays from conflicts.
async fn insert_all_pg(
    pool: &crate::pg_pool::PgPool,
    all: &[NewSample],
    ids: &Numbered,
) -> Result<SamplesStored, StoreError> {
    let mut conn = pool.acquire().await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // Where retention has deleted each tool's raw samples up to: nothing is stored behind it
    // (its rollups are final there). The rows stay locked, in tool order, until commit, so the
    // retention job cannot move a mark past samples being stored.
    let mut tools: Vec<&str> = all.iter().map(|s| s.equipment.as_str()).collect();
    tools.sort_unstable();
    tools.dedup();
    let purged_until: HashMap<String, i64> = sqlx::query_as(
        "SELECT equipment_id, raw_purged_until FROM rollup_progress \
         WHERE equipment_id = ANY($1) ORDER BY equipment_id FOR UPDATE",
    )
    .bind(&tools)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let behind = |s: &NewSample| {
        purged_until
            .get(&s.equipment)
            .is_some_and(|m| sample_us(s.at) < *m)
    };
    let samples: Vec<&NewSample> = all.iter().filter(|s| !behind(s)).collect();
    let expired = (all.len() - samples.len()) as u64;
    let mut tool = Vec::with_capacity(samples.len());
    let mut at = Vec::with_capacity(samples.len());
    let mut point = Vec::with_capacity(samples.len());
    let mut number = Vec::with_capacity(samples.len());
    let mut text = Vec::with_capacity(samples.len());
    let mut keys = Vec::with_capacity(samples.len());
    for s in &samples {
        let key = key_of(ids, s)?;
        tool.push(key.0 as i32);
        at.push(key.1);
        point.push(key.2 as i16);
        number.push(s.number);
        text.push(s.text.as_deref());
        keys.push(key);
    }
    let inserted = sqlx::query(
        "INSERT INTO samples (tool, at, point, number, text) \
         SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::int2[], $4::float8[], $5::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&tool)
    .bind(&at)
    .bind(&point)
    .bind(&number)
    .bind(&text)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let mut outcome = SamplesStored {
        stored: inserted,
        expired,
        ..SamplesStored::default()
    };
    let mut kept: Vec<&NewSample> = Vec::with_capacity(samples.len());
    if inserted == samples.len() as u64 {
        kept.extend(samples.iter().copied());
    } else {
        // Some keys were there already (or twice in the batch): read the stored values of the
        // batch's keys, and which of them this transaction wrote (`xmin`). A key written now
        // took its first sample in the batch; every other sample of a key is a duplicate.
        let stored: HashMap<SampleKey, StoredValue> =
            sqlx::query_as::<_, (i32, i64, i16, Option<f64>, Option<String>, bool)>(
                "SELECT s.tool, s.at, s.point, s.number, s.text, \
                 s.xmin = pg_current_xact_id()::xid FROM samples s \
                 JOIN (SELECT DISTINCT * FROM UNNEST($1::int4[], $2::int8[], $3::int2[])) \
                 AS k(t, a, p) ON s.tool = k.t AND s.at = k.a AND s.point = k.p",
            )
            .bind(&tool)
            .bind(&at)
            .bind(&point)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(t, a, p, n, x, fresh)| ((i64::from(t), a, i64::from(p)), (n, x, fresh)))
            .collect();
        let mut taken: std::collections::HashSet<SampleKey> = Default::default();
        for (s, key) in samples.iter().copied().zip(&keys) {
            match stored.get(key) {
                // Written now: by the first of the key's samples that holds the stored value.
                Some((n, x, true)) if !taken.contains(key) && same_value(s, *n, x.as_deref()) => {
                    taken.insert(*key);
                    kept.push(s);
                }
                Some((n, x, _)) => outcome.duplicate(s, (*n, x.as_deref())),
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "sample {}/{} at {} neither stored nor found",
                        s.equipment, s.point, s.at
                    )));
                }
            }
        }
    }
    // Rollups from the oldest stored sample of each tool on must be rolled up (again). The
    // tool's row stays locked until commit, so the rollup job never reads a slice while
    // samples of it are being stored.
    let marks = oldest_per_tool(&kept);
    sqlx::query(
        "INSERT INTO rollup_progress (equipment_id, rolled_1m, rolled_1h) \
         SELECT t, a, a FROM UNNEST($1::text[], $2::timestamptz[]) AS m(t, a) ORDER BY t \
         ON CONFLICT (equipment_id) DO UPDATE SET \
         rolled_1m = LEAST(rollup_progress.rolled_1m, excluded.rolled_1m), \
         rolled_1h = LEAST(rollup_progress.rolled_1h, excluded.rolled_1h)",
    )
    .bind(marks.iter().map(|(t, _)| *t).collect::<Vec<_>>())
    .bind(marks.iter().map(|(_, a)| *a).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    // The newest stored sample of each point in the batch, unless a newer one is stored.
    let latest = latest_of(kept);
    sqlx::query(
        "INSERT INTO equipment_latest (equipment_id, point, at, number, text) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[]) \
         ON CONFLICT (equipment_id, point) DO UPDATE SET at = excluded.at, number = excluded.number, \
         text = excluded.text WHERE excluded.at > equipment_latest.at",
    )
    .bind(latest.iter().map(|s| s.equipment.as_str()).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| s.point.as_str()).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| stored_time(s.at)).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| s.number).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| s.text.as_deref()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

impl Store {
    /// Stores a batch of samples in one transaction. A point has one value per instant: a
    /// sample of a point at a time already stored (or earlier in the batch) is not stored
    /// again, and is counted as a replay (same value) or a conflict (another value; the first
    /// stays, in the history and as the latest value).
    pub async fn insert_samples(&self, samples: &[NewSample]) -> Result<SamplesStored, StoreError> {
        if samples.is_empty() {
            return Ok(SamplesStored::default());
        }
        let wanted: Vec<(&str, &str)> = samples
            .iter()
            .map(|s| (s.equipment.as_str(), s.point.as_str()))
            .collect();
        let ids = self.number_points(&wanted).await?;
        match &self.backend {
            crate::Backend::Postgres(pool) => insert_all_pg(pool, samples, &ids).await,
            crate::Backend::Sqlite { writer, .. } => {
                let mut conn = writer.lock().await;
                crate::sqlite_writer::blocking(|| {
                    crate::sqlite_writer::insert_samples(&mut conn, samples, &ids)
                })
            }
        }
    }

    /// Records that communication with a registered tool was lost (`stale`) or is back.
    pub async fn set_comm_state(
        &self,
        equipment: &str,
        stale: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |c| {
            c.execute(
                "UPDATE equipment SET comm_stale = $1, comm_since = $2 WHERE id = $3",
                params![stale, at, equipment],
            )
            .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// A tool's communication state; `None` for an unknown tool.
    pub async fn comm_state(&self, equipment: &str) -> Result<Option<CommState>, StoreError> {
        with_read_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "SELECT CAST(CASE WHEN comm_stale THEN 1 ELSE 0 END AS BIGINT) AS stale, comm_since \
                     FROM equipment WHERE id = $1",
                    params![equipment],
                )
                .await?;
            match row {
                None => Ok(None),
                Some(r) => Ok(Some(CommState {
                    stale: r.int("stale")? != 0,
                    since: r.opt_time("comm_since")?,
                })),
            }
        })
    }

    /// The latest sample of every point of a tool.
    pub async fn latest_samples(&self, equipment: &str) -> Result<Vec<SampleRecord>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT point, at, number, text FROM equipment_latest \
                     WHERE equipment_id = $1 ORDER BY point",
                    params![equipment],
                )
                .await?;
            let mut records = rows
                .iter()
                .map(latest_record)
                .collect::<Result<Vec<_>, _>>()?;
            tag_lots(c, equipment, &mut records).await?;
            Ok(records)
        })
    }

    /// Samples of a tool, oldest first (by time, then point number), optionally of one point, within
    /// `[from, to)` and after `after`: at most `limit` (1 to 100,000), saying whether more match
    /// and where to continue.
    pub async fn samples(
        &self,
        equipment: &str,
        point: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<&SampleCursor>,
        limit: u32,
    ) -> Result<SamplePage, StoreError> {
        let limit = limit.clamp(1, 100_000);
        let empty = SamplePage {
            resolution: crate::Resolution::Raw,
            samples: Vec::new(),
            buckets: Vec::new(),
            rolled_until: None,
            truncated: false,
            next: None,
        };
        let Some(mut points) = self.tool_points(equipment, point).await? else {
            return Ok(empty);
        };
        // A cursor's point numbered by another replica since this one read the tool's numbers.
        if let Some(c) = after
            && points.point(&c.point).is_none()
            && let Some(fresh) = self.tool_points(equipment, Some(&c.point)).await?
        {
            points = fresh;
        }
        let point_id = match point {
            Some(name) => match points.point(name) {
                Some(id) => Some(id),
                None => return Ok(empty),
            },
            None => None,
        };
        let mut f = Filters::new();
        f.add("tool =", Some(Param::Int(points.id)))
            .add("point =", point_id.map(Param::Int))
            .add("at >=", from.map(|t| Param::Int(sample_us(t))))
            .add("at <", to.map(|t| Param::Int(sample_us(t))));
        if let Some(c) = after {
            // After the cursor's instant and point (points in the order of their numbers; a
            // point this tool does not have continues at the next instant).
            let at = sample_us(c.at);
            f.add("at >=", Some(Param::Int(at)));
            f.add_pair(
                "NOT (at = ? AND point <= ?)",
                Param::Int(at),
                Param::Int(points.point(&c.point).unwrap_or(i64::from(i32::MAX))),
            );
        }
        let n = f.next();
        let (filters, mut params) = f.finish();
        params.push(Param::Int(i64::from(limit) + 1));
        let sql = shaped(format!(
            "SELECT at, CAST(point AS BIGINT) AS point, {} FROM samples{filters} \
             ORDER BY at, point LIMIT ${n}",
            value_columns(self.kind() == crate::BackendKind::Postgres)
        ));
        with_read_conn!(self, |c| {
            let rows = c.fetch_all(sql, params).await?;
            // Points numbered since this process last read the tool's numbers: read them again.
            let unknown =
                |r: &_| RowExt::int(r, "point").is_ok_and(|p: i64| !points.by_id.contains_key(&p));
            let points = if rows.iter().any(unknown) {
                let fresh = crate::sample_ids::load(c, equipment)
                    .await?
                    .unwrap_or_default();
                self.remember_points(equipment, fresh)
            } else {
                points
            };
            let mut samples = rows
                .iter()
                .map(|r| raw_record(r, &points))
                .collect::<Result<Vec<_>, _>>()?;
            let (truncated, next) = cut(&mut samples, limit, |s| (s.at, s.point.as_str()));
            tag_lots(c, equipment, &mut samples).await?;
            Ok(SamplePage {
                resolution: crate::Resolution::Raw,
                samples,
                buckets: Vec::new(),
                rolled_until: None,
                truncated,
                next,
            })
        })
    }
}

/// What to read of a tool's samples.
#[derive(Debug, Clone, Copy)]
pub struct SampleQuery<'a> {
    /// Only this point.
    pub point: Option<&'a str>,
    /// From this time (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Continue after this cursor.
    pub after: Option<&'a SampleCursor>,
    /// At most this many samples or buckets (1 to 100,000).
    pub limit: u32,
    /// Raw samples or buckets (`auto` chooses from the window).
    pub resolution: crate::Resolution,
}

impl Store {
    /// A tool's samples or buckets as `q` asks, oldest first, paged like
    /// [`samples`](Self::samples).
    pub async fn read_samples(
        &self,
        equipment: &str,
        q: &SampleQuery<'_>,
    ) -> Result<SamplePage, StoreError> {
        let resolution = q.resolution.resolve(q.from, q.to);
        let Some(width) = resolution.width() else {
            return self
                .samples(equipment, q.point, q.from, q.to, q.after, q.limit)
                .await;
        };
        let limit = q.limit.clamp(1, 100_000);
        let mut buckets = self.buckets(equipment, width, q, limit).await?;
        let (truncated, next) = cut(&mut buckets, limit, |b| (b.bucket, b.point.as_str()));
        Ok(SamplePage {
            resolution,
            samples: Vec::new(),
            buckets,
            rolled_until: self.rolled_until(equipment, width).await?,
            truncated,
            next,
        })
    }
}

/// One run of a lot on a tool (track-in to track-out) with the tool's samples during it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessRun {
    /// The run's number among the lot's runs (0 first), to ask for the rest of its samples.
    pub run: usize,
    /// Route step.
    pub step: String,
    /// Tool.
    pub equipment: String,
    /// Recipe run.
    pub recipe: String,
    /// Track-in time.
    pub tracked_in: DateTime<Utc>,
    /// Track-out time; absent while the lot is still on the tool.
    pub tracked_out: Option<DateTime<Utc>>,
    /// The tool's samples in `[tracked_in, tracked_out)`, oldest first.
    pub samples: Vec<SampleRecord>,
    /// More samples exist than the limit returned.
    pub truncated: bool,
    /// Pass as `after` (with `run`) to read the run's next samples (present when `truncated`).
    pub next: Option<String>,
}

/// Which samples of a lot's process data to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessDataQuery<'a> {
    /// Only this point.
    pub point: Option<&'a str>,
    /// Only this run (its `run` number).
    pub run: Option<usize>,
    /// Continue after this sample (with `run`).
    pub after: Option<&'a SampleCursor>,
    /// At most this many samples per run (1 to 50,000).
    pub limit: u32,
}

impl Store {
    /// The process data of lot `lot`: each of its runs on a tool, from its history, with the
    /// tool's samples during the run (at most `limit` per run, with a cursor to the rest). A
    /// customer sees only its own lots.
    pub async fn process_data(
        &self,
        lot: &str,
        actor: &pilotline_domain::Actor,
        q: ProcessDataQuery<'_>,
    ) -> Result<Vec<ProcessRun>, StoreError> {
        use pilotline_domain::event::Change;
        let history = self.history(lot, actor).await?;
        let mut runs: Vec<ProcessRun> = Vec::new();
        for event in &history {
            match &event.change {
                Change::TrackedIn {
                    step,
                    equipment,
                    recipe,
                    ..
                } => runs.push(ProcessRun {
                    run: runs.len(),
                    step: step.clone(),
                    equipment: equipment.clone(),
                    recipe: recipe.clone(),
                    tracked_in: event.at,
                    tracked_out: None,
                    samples: Vec::new(),
                    truncated: false,
                    next: None,
                }),
                Change::TrackedOut {
                    step, equipment, ..
                } => {
                    if let Some(run) = runs.iter_mut().rev().find(|r| {
                        r.tracked_out.is_none() && &r.step == step && &r.equipment == equipment
                    }) {
                        run.tracked_out = Some(event.at);
                    }
                }
                _ => {}
            }
        }
        if let Some(n) = q.run {
            runs.retain(|r| r.run == n);
        }
        let limit = q.limit.clamp(1, 50_000);
        for run in &mut runs {
            let page = self
                .samples(
                    &run.equipment,
                    q.point,
                    Some(run.tracked_in),
                    run.tracked_out,
                    q.after,
                    limit,
                )
                .await?;
            run.samples = page.samples;
            run.truncated = page.truncated;
            run.next = page.next;
        }
        Ok(runs)
    }
}
