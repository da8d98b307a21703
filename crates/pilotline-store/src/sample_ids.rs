//! The numbers of the tools and points that send samples: a stored sample carries two small
//! integers instead of two names. A number, once given, never changes, so every replica keeps
//! what it has read in memory and only asks the database about names it has not seen.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::conn::{Conn, RowExt, params};
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// A tool's number and its points' numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ToolPoints {
    /// The tool's number.
    pub id: i64,
    /// Point number by name.
    pub by_name: HashMap<String, i64>,
    /// Point name by number.
    pub by_id: HashMap<i64, String>,
}

impl ToolPoints {
    /// The number of point `name`, if it has one.
    pub fn point(&self, name: &str) -> Option<i64> {
        self.by_name.get(name).copied()
    }

    /// The name of point number `id`.
    pub fn name(&self, id: i64) -> Result<&str, StoreError> {
        self.by_id
            .get(&id)
            .map(String::as_str)
            .ok_or_else(|| StoreError::Corrupt(format!("sample of unnumbered point {id}")))
    }
}

/// Numbers known to this process, by tool id.
pub(crate) type SampleIds = Arc<RwLock<HashMap<String, Arc<ToolPoints>>>>;

/// Tool `tool`'s number; `None` when it never sent a sample.
pub(crate) async fn tool_number<C: Conn>(c: &mut C, tool: &str) -> Result<Option<i64>, StoreError> {
    c.fetch_optional(
        "SELECT CAST(id AS BIGINT) AS id FROM sample_tools WHERE equipment_id = $1",
        params![tool],
    )
    .await?
    .map(|r| r.int("id"))
    .transpose()
    .map_err(StoreError::from)
}

/// Reads tool `tool`'s numbers from the database; `None` when it never sent a sample.
pub(crate) async fn load<C: Conn>(c: &mut C, tool: &str) -> Result<Option<ToolPoints>, StoreError> {
    let Some(id) = tool_number(c, tool).await? else {
        return Ok(None);
    };
    let mut points = ToolPoints {
        id,
        ..ToolPoints::default()
    };
    for r in c
        .fetch_all(
            "SELECT CAST(id AS BIGINT) AS id, name FROM sample_points WHERE tool = $1",
            params![id],
        )
        .await?
    {
        let (n, name) = (r.int("id")?, r.text("name")?);
        points.by_name.insert(name.clone(), n);
        points.by_id.insert(n, name);
    }
    Ok(Some(points))
}

/// Numbers `names` of tool `tool` in one transaction, giving new numbers to those without one:
/// the tool's row is locked first (PostgreSQL), so two replicas never give one number twice.
async fn allocate<C: Conn>(
    c: &mut C,
    tool: &str,
    names: &[&str],
) -> Result<ToolPoints, StoreError> {
    c.execute(
        "INSERT INTO sample_tools (equipment_id) VALUES ($1) ON CONFLICT (equipment_id) DO NOTHING",
        params![tool],
    )
    .await?;
    if C::POSTGRES {
        c.execute(
            "SELECT id FROM sample_tools WHERE equipment_id = $1 FOR UPDATE",
            params![tool],
        )
        .await?;
    }
    let mut points = load(c, tool)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("tool {tool} not numbered")))?;
    let mut next = points.by_id.keys().max().copied().unwrap_or(0) + 1;
    for name in names {
        if points.by_name.contains_key(*name) {
            continue;
        }
        c.execute(
            "INSERT INTO sample_points (tool, id, name) VALUES ($1, $2, $3)",
            params![points.id, next, *name],
        )
        .await?;
        points.by_name.insert(name.to_string(), next);
        points.by_id.insert(next, name.to_string());
        next += 1;
    }
    Ok(points)
}

impl Store {
    fn known_points(&self, tool: &str) -> Option<Arc<ToolPoints>> {
        self.sample_ids.read().ok()?.get(tool).cloned()
    }

    /// Keeps `points` as tool `tool`'s numbers.
    pub(crate) fn remember_points(&self, tool: &str, points: ToolPoints) -> Arc<ToolPoints> {
        let points = Arc::new(points);
        if let Ok(mut map) = self.sample_ids.write() {
            map.insert(tool.to_string(), points.clone());
        }
        points
    }

    /// Tool `tool`'s numbers, for reading: from memory, or from the database when `point` (or
    /// the tool) is not known yet; `None` when the tool never sent a sample.
    pub(crate) async fn tool_points(
        &self,
        tool: &str,
        point: Option<&str>,
    ) -> Result<Option<Arc<ToolPoints>>, StoreError> {
        if let Some(p) = self.known_points(tool)
            && point.is_none_or(|name| p.by_name.contains_key(name))
        {
            return Ok(Some(p));
        }
        let loaded = with_read_conn!(self, |c| load(c, tool).await)?;
        Ok(loaded.map(|p| self.remember_points(tool, p)))
    }

    /// The numbers of every tool and point in `wanted` (tool, point), numbering the new ones
    /// (each tool in a short transaction of its own, committed before any sample is stored).
    pub(crate) async fn number_points(
        &self,
        wanted: &[(&str, &str)],
    ) -> Result<HashMap<String, Arc<ToolPoints>>, StoreError> {
        let mut by_tool: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (tool, point) in wanted {
            by_tool.entry(tool).or_default().push(point);
        }
        let mut out = HashMap::with_capacity(by_tool.len());
        for (tool, mut names) in by_tool {
            if let Some(p) = self.known_points(tool)
                && names.iter().all(|n| p.by_name.contains_key(*n))
            {
                out.insert(tool.to_string(), p);
                continue;
            }
            names.sort_unstable();
            names.dedup();
            let points = in_write_tx!(self, |c| allocate(c, tool, &names).await)?;
            out.insert(tool.to_string(), self.remember_points(tool, points));
        }
        Ok(out)
    }
}
