//! Rollups of numeric samples per tool, point and bucket (1 minute, 1 hour), kept by a job:
//! count, min, max, sum (mean), first and last. The job rolls each tool up slice by slice, each
//! slice one short transaction; storing samples older than a tool's marks moves them back, so
//! late data is rolled up again. The aggregation is Rust's, the same on both backends.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::conn::{Conn, Param, RowExt, params};
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// How finely samples are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Finest that keeps the answer to a few thousand rows per point: raw up to 2 hours,
    /// 1-minute buckets up to 3 days, 1-hour buckets beyond.
    Auto,
    /// Every sample.
    Raw,
    /// 1-minute buckets.
    #[serde(rename = "1m")]
    Minute,
    /// 1-hour buckets.
    #[serde(rename = "1h")]
    Hour,
}

impl Resolution {
    /// The resolution `Auto` stands for over `[from, to)` (raw when the window is open).
    pub fn resolve(self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Resolution {
        match self {
            Resolution::Auto => match (from, to.unwrap_or_else(crate::now)) {
                (Some(f), t) if t - f > Duration::days(3) => Resolution::Hour,
                (Some(f), t) if t - f > Duration::hours(2) => Resolution::Minute,
                _ => Resolution::Raw,
            },
            r => r,
        }
    }

    /// Bucket width in seconds (`None` for raw and auto).
    pub fn width(self) -> Option<i64> {
        match self {
            Resolution::Minute => Some(60),
            Resolution::Hour => Some(3600),
            _ => None,
        }
    }

    /// The name used in queries and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Auto => "auto",
            Resolution::Raw => "raw",
            Resolution::Minute => "1m",
            Resolution::Hour => "1h",
        }
    }
}

/// One point's numeric samples in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bucket {
    /// Point name.
    pub point: String,
    /// Bucket start.
    pub bucket: DateTime<Utc>,
    /// Samples in it.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of the values (mean = sum / count).
    pub sum: f64,
    /// Mean value.
    pub mean: f64,
    /// Time of the first sample.
    pub first_at: DateTime<Utc>,
    /// The first sample's value.
    pub first: f64,
    /// Time of the last sample.
    pub last_at: DateTime<Utc>,
    /// The last sample's value.
    pub last: f64,
}

impl Bucket {
    /// A bucket of one sample.
    pub fn of(point: &str, bucket: DateTime<Utc>, at: DateTime<Utc>, value: f64) -> Bucket {
        Bucket {
            point: point.to_string(),
            bucket,
            count: 1,
            min: value,
            max: value,
            sum: value,
            mean: value,
            first_at: at,
            first: value,
            last_at: at,
            last: value,
        }
    }

    /// Adds `other` (another part of the same point and bucket, or of a bucket it contains).
    pub fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.mean = self.sum / self.count as f64;
        if other.first_at < self.first_at {
            (self.first_at, self.first) = (other.first_at, other.first);
        }
        if other.last_at > self.last_at {
            (self.last_at, self.last) = (other.last_at, other.last);
        }
    }
}

/// The start of the `width`-second bucket holding `t`.
pub fn bucket_start(t: DateTime<Utc>, width: i64) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    let w = width * 1_000_000;
    DateTime::<Utc>::from_timestamp_micros(micros.div_euclid(w) * w).unwrap_or(t)
}

/// Buckets of `width` seconds from samples `(point, at, value)`, keyed by (point, start).
pub fn fold<'a>(
    samples: impl IntoIterator<Item = (&'a str, DateTime<Utc>, f64)>,
    width: i64,
) -> BTreeMap<(String, DateTime<Utc>), Bucket> {
    let mut out: BTreeMap<(String, DateTime<Utc>), Bucket> = BTreeMap::new();
    for (point, at, value) in samples {
        let start = bucket_start(at, width);
        let one = Bucket::of(point, start, at, value);
        match out.get_mut(&(point.to_string(), start)) {
            Some(b) => b.merge(&one),
            None => {
                out.insert((point.to_string(), start), one);
            }
        }
    }
    out
}

/// The widest slice of raw samples one rollup transaction reads (5 minutes of a tool).
const SLICE_MINUTES: i64 = 5;
/// Samples are rolled up once they are this old, so a bucket is complete when it is read.
pub const ROLLUP_GRACE_S: i64 = 120;

/// What one run of the rollup job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupRun {
    /// Transactions run (slices of a tool).
    pub slices: u64,
    /// Buckets written.
    pub buckets: u64,
}

fn bucket_from_row<R: RowExt>(r: &R) -> Result<Bucket, StoreError> {
    let value = |c: &str| -> Result<f64, StoreError> {
        r.opt_float(c)?
            .ok_or_else(|| StoreError::Corrupt(format!("rollup without {c}")))
    };
    let count = r.int("count")? as u64;
    let sum = value("sum_value")?;
    Ok(Bucket {
        point: r.text("point")?,
        bucket: r.time("bucket")?,
        count,
        min: value("min_value")?,
        max: value("max_value")?,
        sum,
        mean: sum / count.max(1) as f64,
        first_at: r.time("first_at")?,
        first: value("first_value")?,
        last_at: r.time("last_at")?,
        last: value("last_value")?,
    })
}

/// Replaces tool `tool`'s `width` buckets in `[from, to)` with `buckets`.
async fn replace<C: Conn>(
    c: &mut C,
    tool: &str,
    width: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    buckets: impl Iterator<Item = &Bucket>,
) -> Result<u64, StoreError> {
    c.execute(
        "DELETE FROM sample_rollups WHERE equipment_id = $1 AND width = $2 \
         AND bucket >= $3 AND bucket < $4",
        params![tool, width, from, to],
    )
    .await?;
    let mut n = 0;
    for b in buckets {
        c.execute(
            "INSERT INTO sample_rollups (equipment_id, point, width, bucket, count, min_value, \
             max_value, sum_value, first_at, first_value, last_at, last_value) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            vec![
                Param::from(tool),
                Param::from(b.point.as_str()),
                Param::Int(width),
                Param::Time(b.bucket),
                Param::Int(b.count as i64),
                Param::from(Some(b.min)),
                Param::from(Some(b.max)),
                Param::from(Some(b.sum)),
                Param::Time(b.first_at),
                Param::from(Some(b.first)),
                Param::Time(b.last_at),
                Param::from(Some(b.last)),
            ],
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// What rolling one slice of a tool did.
struct Slice {
    /// Buckets written.
    buckets: u64,
    /// More of the tool is left to roll up.
    more: bool,
}

/// Rolls tool `tool` up by at most one slice, up to `until` (`None`: the tool has no marks).
async fn roll_slice<C: Conn>(
    c: &mut C,
    tool: &str,
    until: DateTime<Utc>,
) -> Result<Option<Slice>, StoreError> {
    let sql = if C::POSTGRES {
        "SELECT rolled_1m, rolled_1h FROM rollup_progress WHERE equipment_id = $1 FOR UPDATE"
    } else {
        "SELECT rolled_1m, rolled_1h FROM rollup_progress WHERE equipment_id = $1"
    };
    let Some(row) = c.fetch_optional(sql, params![tool]).await? else {
        return Ok(None);
    };
    let from_1m = bucket_start(row.time("rolled_1m")?, 60);
    let from_1h = bucket_start(row.time("rolled_1h")?, 3600);
    let to_1m = bucket_start(until, 60).min(from_1m + Duration::minutes(SLICE_MINUTES));
    let mut written = 0;
    let mut rolled_1m = from_1m;
    if to_1m > from_1m {
        let mut raw = Vec::new();
        if let Some(points) = crate::sample_ids::load(c, tool).await? {
            let sql = crate::conn::shaped(format!(
                "SELECT at, CAST(point AS BIGINT) AS point, {} FROM samples WHERE tool = $1 \
                 AND at >= $2 AND at < $3 AND {}",
                crate::telemetry::value_columns(C::POSTGRES),
                crate::telemetry::numeric_only(C::POSTGRES)
            ));
            let rows = c
                .fetch_all(
                    sql,
                    params![
                        points.id,
                        crate::telemetry::sample_us(from_1m),
                        crate::telemetry::sample_us(to_1m)
                    ],
                )
                .await?;
            raw.reserve(rows.len());
            for r in &rows {
                let n = r.opt_float("number")?.unwrap_or_default();
                let point = points.name(r.int("point")?)?.to_string();
                raw.push((point, crate::telemetry::from_us(r.int("at")?), n));
            }
        }
        let buckets = fold(raw.iter().map(|(p, t, n)| (p.as_str(), *t, *n)), 60);
        written += replace(c, tool, 60, from_1m, to_1m, buckets.values()).await?;
        rolled_1m = to_1m;
    }
    // Hours whose every minute is rolled up, from the minutes.
    let to_1h = bucket_start(rolled_1m, 3600).min(from_1h + Duration::hours(1));
    let mut rolled_1h = from_1h;
    if to_1h > from_1h {
        let rows = c
            .fetch_all(
                "SELECT point, bucket, count, min_value, max_value, sum_value, first_at, \
                 first_value, last_at, last_value FROM sample_rollups WHERE equipment_id = $1 \
                 AND width = 60 AND bucket >= $2 AND bucket < $3",
                params![tool, from_1h, to_1h],
            )
            .await?;
        let mut hours: BTreeMap<(String, DateTime<Utc>), Bucket> = BTreeMap::new();
        for r in &rows {
            let mut m = bucket_from_row(r)?;
            m.bucket = bucket_start(m.bucket, 3600);
            match hours.get_mut(&(m.point.clone(), m.bucket)) {
                Some(h) => h.merge(&m),
                None => {
                    hours.insert((m.point.clone(), m.bucket), m);
                }
            }
        }
        written += replace(c, tool, 3600, from_1h, to_1h, hours.values()).await?;
        rolled_1h = to_1h;
    }
    c.execute(
        "UPDATE rollup_progress SET rolled_1m = $1, rolled_1h = $2 WHERE equipment_id = $3",
        params![rolled_1m, rolled_1h, tool],
    )
    .await?;
    let more = rolled_1m < bucket_start(until, 60) || rolled_1h < bucket_start(rolled_1m, 3600);
    Ok(Some(Slice {
        buckets: written,
        more,
    }))
}

impl Store {
    /// Rolls every tool's samples up to `now` less [`ROLLUP_GRACE_S`], one slice (one short
    /// transaction) at a time, at most `max_slices` in all.
    pub async fn roll_up(
        &self,
        now: DateTime<Utc>,
        max_slices: u64,
    ) -> Result<RollupRun, StoreError> {
        let until = now - Duration::seconds(ROLLUP_GRACE_S);
        let tools: Vec<String> = with_read_conn!(self, |c| {
            c.fetch_all(
                "SELECT equipment_id FROM rollup_progress ORDER BY equipment_id",
                vec![],
            )
            .await?
            .iter()
            .map(|r| r.text("equipment_id").map_err(StoreError::from))
            .collect::<Result<Vec<_>, _>>()
        })?;
        let mut run = RollupRun::default();
        for tool in &tools {
            loop {
                if run.slices >= max_slices {
                    return Ok(run);
                }
                let done = in_write_tx!(self, |c| roll_slice(c, tool, until).await)?;
                run.slices += 1;
                let Some(slice) = done else { break };
                run.buckets += slice.buckets;
                if !slice.more {
                    break;
                }
            }
        }
        Ok(run)
    }

    /// Tool `tool`'s buckets of `width` seconds, oldest first (by bucket, then point), as `q`
    /// filters them: at most `limit`, plus one to tell whether more match.
    pub(crate) async fn buckets(
        &self,
        tool: &str,
        width: i64,
        q: &crate::SampleQuery<'_>,
        limit: u32,
    ) -> Result<Vec<Bucket>, StoreError> {
        let mut f = crate::conn::Filters::new();
        f.add("equipment_id =", Some(Param::from(tool)))
            .add("width =", Some(Param::Int(width)))
            .add("point =", q.point.map(Param::from))
            .add(
                "bucket >=",
                q.from.map(|t| Param::Time(bucket_start(t, width))),
            )
            .add("bucket <", q.to.map(Param::Time));
        if let Some(c) = q.after {
            c.filter(&mut f, "bucket");
        }
        let n = f.next();
        let (filters, mut params) = f.finish();
        params.push(Param::Int(i64::from(limit) + 1));
        let sql = crate::conn::shaped(format!(
            "SELECT point, bucket, count, min_value, max_value, sum_value, first_at, first_value, \
             last_at, last_value FROM sample_rollups{filters} ORDER BY bucket, point LIMIT ${n}"
        ));
        with_read_conn!(self, |c| {
            let rows = c.fetch_all(sql, params).await?;
            rows.iter().map(bucket_from_row).collect()
        })
    }

    /// How far tool `tool`'s buckets of `width` seconds are complete (`None`: no samples yet).
    pub(crate) async fn rolled_until(
        &self,
        tool: &str,
        width: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let sql = if width == 60 {
            "SELECT rolled_1m AS rolled FROM rollup_progress WHERE equipment_id = $1"
        } else {
            "SELECT rolled_1h AS rolled FROM rollup_progress WHERE equipment_id = $1"
        };
        with_read_conn!(self, |c| {
            c.fetch_optional(sql, params![tool])
                .await?
                .map(|r| r.time("rolled").map(|t| bucket_start(t, width)))
                .transpose()
                .map_err(StoreError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_on_their_width_and_merge_like_one_fold() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T10:37:42.5Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            bucket_start(t, 60).to_rfc3339(),
            "2026-12-01T10:37:00+00:00"
        );
        assert_eq!(
            bucket_start(t, 3600).to_rfc3339(),
            "2026-12-01T10:00:00+00:00"
        );
        let s = |secs: i64, v: f64| ("p", t + Duration::seconds(secs), v);
        let all = fold([s(0, 3.0), s(30, 1.0), s(90, 7.0), s(100, -2.0)], 3600);
        let minutes = fold([s(0, 3.0), s(30, 1.0), s(90, 7.0), s(100, -2.0)], 60);
        let mut merged: Option<Bucket> = None;
        for m in minutes.values() {
            match &mut merged {
                Some(h) => h.merge(m),
                None => merged = Some(m.clone()),
            }
        }
        let mut merged = merged.unwrap();
        merged.bucket = bucket_start(t, 3600);
        let hour = all.values().next().unwrap();
        assert_eq!(&merged, hour);
        assert_eq!(
            (hour.count, hour.min, hour.max, hour.sum),
            (4, -2.0, 7.0, 9.0)
        );
        assert_eq!((hour.first, hour.last), (3.0, -2.0));
    }
}
