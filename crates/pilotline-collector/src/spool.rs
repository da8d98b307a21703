//! The collector's local spool: what could not be written to the database waits here, on disk,
//! and is replayed in order when the database is back.
//!
//! The spool is one append-only file of frames, each a little-endian `u32` length and a JSON
//! array of [`Record`]s. Every append is flushed to disk (`fdatasync`) before it returns, so a
//! record is acknowledged upstream only once it would survive a crash. A frame cut short by a
//! crash mid-append was never acknowledged; opening the spool drops it. Replay reads frames from
//! the front; once all are stored the file is emptied. A crash during replay replays again from
//! the front: samples are keyed by tool, point and time, so the store ignores the repeats.

use chrono::{DateTime, Utc};
use pilotline_domain::E10State;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest frame accepted when reading back (a corrupt length is not believed).
const MAX_FRAME: u32 = 256 * 1024 * 1024;

/// One thing the collector has to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A sample.
    Sample {
        /// Tool id.
        equipment: String,
        /// Point.
        point: String,
        /// Sample time.
        at: DateTime<Utc>,
        /// Numeric value (booleans as 0/1).
        number: Option<f64>,
        /// Text value.
        text: Option<String>,
    },
    /// A state the tool's signals call for.
    State {
        /// Tool id.
        equipment: String,
        /// State.
        state: E10State,
        /// When.
        at: DateTime<Utc>,
        /// Which signal.
        reason: String,
    },
    /// Communication lost (`stale`) or back.
    Comm {
        /// Tool id.
        equipment: String,
        /// Lost or back.
        stale: bool,
        /// When.
        at: DateTime<Utc>,
    },
}

/// The spool file.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: File,
    /// Bytes of complete frames in the file.
    len: u64,
    /// Where the next frame to replay starts.
    read_pos: u64,
    /// Records in the file not yet replayed (as far as this process knows).
    pending: usize,
    /// End and record count of the frame [`Spool::next_frame`] last returned.
    handed_out: Option<(u64, usize)>,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, dropping a frame a crash cut short.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("collector.spool");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut good = 0u64;
        let mut pending = 0usize;
        file.seek(SeekFrom::Start(0))?;
        while let Some((records, next)) = read_frame(&mut file, good)? {
            pending += records.len();
            good = next;
        }
        let total = file.metadata()?.len();
        if total != good {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = total - good,
                "dropping a spool frame cut short by a crash (it was never acknowledged)"
            );
            file.set_len(good)?;
            file.sync_all()?;
        }
        if pending > 0 {
            tracing::info!(path = %path.display(), records = pending, "spool holds records to replay");
        }
        Ok(Spool {
            path,
            file,
            len: good,
            read_pos: 0,
            pending,
            handed_out: None,
        })
    }

    /// Where the spool lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether everything spooled has been replayed.
    pub fn is_empty(&self) -> bool {
        self.read_pos >= self.len
    }

    /// Records waiting to be replayed.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Appends `records` as one frame and flushes it to disk.
    pub fn append(&mut self, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_vec(records).map_err(io::Error::other)?;
        let len = u32::try_from(body.len())
            .ok()
            .filter(|n| *n <= MAX_FRAME)
            .ok_or_else(|| io::Error::other("spool frame too large"))?;
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&body);
        if let Err(e) = self
            .file
            .write_all(&frame)
            .and_then(|()| self.file.sync_data())
        {
            // Leave no half frame behind for the next append to follow.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += frame.len() as u64;
        self.pending += records.len();
        Ok(())
    }

    /// The next frame to replay; call [`Spool::replayed`] once it is stored.
    pub fn next_frame(&mut self) -> io::Result<Option<Vec<Record>>> {
        if self.is_empty() {
            return Ok(None);
        }
        self.file.seek(SeekFrom::Start(self.read_pos))?;
        let frame = read_frame(&mut self.file, self.read_pos)?;
        self.handed_out = frame.as_ref().map(|(records, end)| (*end, records.len()));
        Ok(frame.map(|(records, _)| records))
    }

    /// Marks the frame returned by [`Spool::next_frame`] stored; empties the file after the last.
    pub fn replayed(&mut self) -> io::Result<()> {
        let Some((next, count)) = self.handed_out.take() else {
            return Ok(());
        };
        self.pending = self.pending.saturating_sub(count);
        self.read_pos = next;
        if self.read_pos >= self.len {
            self.file.set_len(0)?;
            self.file.sync_all()?;
            self.len = 0;
            self.read_pos = 0;
            self.pending = 0;
        }
        Ok(())
    }
}

/// Reads the frame at `pos` (the file is positioned there); `None` at the end or at a frame
/// that is incomplete or unreadable.
fn read_frame(file: &mut File, pos: u64) -> io::Result<Option<(Vec<Record>, u64)>> {
    let mut len = [0u8; 4];
    if !read_full(file, &mut len)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Ok(None);
    }
    let mut body = vec![0u8; len as usize];
    if !read_full(file, &mut body)? {
        return Ok(None);
    }
    match serde_json::from_slice::<Vec<Record>>(&body) {
        Ok(records) => Ok(Some((records, pos + 4 + u64::from(len)))),
        Err(_) => Ok(None),
    }
}

/// Fills `buf`; `false` at end of file before it is full.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: f64) -> Record {
        Record::Sample {
            equipment: "FURNACE-01".into(),
            point: "t".into(),
            at: Utc::now(),
            number: Some(n),
            text: None,
        }
    }

    #[test]
    fn frames_replay_in_order_and_the_file_empties() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        assert!(spool.is_empty());
        spool.append(&[sample(1.0), sample(2.0)]).unwrap();
        spool.append(&[sample(3.0)]).unwrap();
        assert_eq!(spool.pending(), 3);
        let first = spool.next_frame().unwrap().unwrap();
        assert_eq!(first.len(), 2, "one frame per append");
        assert!(matches!(first[0], Record::Sample { number: Some(n), .. } if n == 1.0));
        assert!(matches!(first[1], Record::Sample { number: Some(n), .. } if n == 2.0));
        spool.replayed().unwrap();
        // Appending while replaying keeps the order.
        spool.append(&[sample(4.0)]).unwrap();
        let second = spool.next_frame().unwrap().unwrap();
        assert!(matches!(second[0], Record::Sample { number: Some(n), .. } if n == 3.0));
        spool.replayed().unwrap();
        let third = spool.next_frame().unwrap().unwrap();
        assert!(matches!(third[0], Record::Sample { number: Some(n), .. } if n == 4.0));
        spool.replayed().unwrap();
        assert!(spool.is_empty());
        assert_eq!(std::fs::metadata(spool.path()).unwrap().len(), 0);
    }

    #[test]
    fn a_reopened_spool_replays_what_was_left_and_drops_a_torn_frame() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path()).unwrap();
            spool.append(&[sample(1.0)]).unwrap();
            spool.append(&[sample(2.0)]).unwrap();
        }
        // A crash in the middle of a third append.
        let path = dir.path().join("collector.spool");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, b'[', b'{']).unwrap();
        drop(f);
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 2);
        let mut seen = Vec::new();
        while let Some(frame) = spool.next_frame().unwrap() {
            seen.extend(frame);
            spool.replayed().unwrap();
        }
        assert_eq!(seen.len(), 2);
        assert!(matches!(seen[1], Record::Sample { number: Some(n), .. } if n == 2.0));
        spool.append(&[sample(5.0)]).unwrap();
        assert_eq!(
            spool.next_frame().unwrap().unwrap().len(),
            1,
            "appends after the cut are readable"
        );
    }
}
