//! Yield from per-die results, with retests handled explicitly.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One part result (an STDF PRR) in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartResult {
    /// Wafer the die is on (empty for final test of packaged parts).
    pub wafer: String,
    /// Die X coordinate as the tester reports it.
    pub x: i16,
    /// Die Y coordinate.
    pub y: i16,
    /// Test site.
    pub site: u8,
    /// Hardware bin.
    pub hard_bin: u16,
    /// Software bin (65535 when absent).
    pub soft_bin: u16,
    /// PART_FLG bit 3: the part failed.
    pub failed_flag: bool,
    /// PART_FLG bit 4: the pass/fail flag is not valid (the bin decides).
    pub flag_invalid: bool,
    /// Test time in milliseconds (0 when absent).
    pub test_time_ms: u32,
    /// PRR PART_ID: the part's serial at final test (empty when absent).
    pub part_id: String,
}

impl PartResult {
    /// Pass/fail from the part's own flag; `None` when the flag is marked invalid.
    pub fn flag_pass(&self) -> Option<bool> {
        (!self.flag_invalid).then_some(!self.failed_flag)
    }
}

/// What decides a result: its bins and the part's own pass/fail flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BinResult {
    /// Hardware bin.
    pub hard_bin: u16,
    /// Software bin.
    pub soft_bin: u16,
    /// The part's flag: pass, fail, or `None` when marked invalid.
    pub flag: Option<bool>,
}

impl From<&PartResult> for BinResult {
    fn from(p: &PartResult) -> BinResult {
        BinResult {
            hard_bin: p.hard_bin,
            soft_bin: p.soft_bin,
            flag: p.flag_pass(),
        }
    }
}

/// One die: its first and its final result, and how often it was tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DieSummary {
    /// Tester X.
    pub x: i16,
    /// Tester Y.
    pub y: i16,
    /// First result.
    pub first: BinResult,
    /// Last (final) result.
    pub last: BinResult,
    /// Times tested.
    pub tests: u32,
}

/// One wafer's test data, summarised: every die (in first-test order) with its first and final
/// result, and every result's bins counted. Kept as results arrive, so yields and maps never go
/// back to the per-result rows; the per-result rows stay the record they are traced to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaferSummary {
    /// Dies in first-test order.
    pub dies: Vec<DieSummary>,
    /// Results per bin outcome, retests included.
    pub results: std::collections::BTreeMap<BinResult, u32>,
}

/// Bytes of one die in [`WaferSummary::encode_dies`].
const DIE_BYTES: usize = 4 + 5 + 5 + 4;
/// Bytes of one bin outcome count in [`WaferSummary::encode_results`].
const RESULT_BYTES: usize = 5 + 4;

fn put_bin(out: &mut Vec<u8>, b: &BinResult) {
    out.extend_from_slice(&b.hard_bin.to_le_bytes());
    out.extend_from_slice(&b.soft_bin.to_le_bytes());
    out.push(match b.flag {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    });
}

fn get_bin(b: &[u8]) -> BinResult {
    BinResult {
        hard_bin: u16::from_le_bytes([b[0], b[1]]),
        soft_bin: u16::from_le_bytes([b[2], b[3]]),
        flag: match b[4] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
    }
}

impl WaferSummary {
    /// Adds results of this wafer, in test order: a die seen before is a retest.
    pub fn add<'a>(&mut self, parts: impl IntoIterator<Item = &'a PartResult>) {
        let mut index = self.index();
        for p in parts {
            self.record(&mut index, p);
        }
    }

    /// Where each die sits in `dies`.
    fn index(&self) -> DieIndex {
        self.dies
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.x, d.y), i))
            .collect()
    }

    /// Adds one result, `index` being this summary's.
    fn record(&mut self, index: &mut DieIndex, p: &PartResult) {
        let r = BinResult::from(p);
        *self.results.entry(r).or_default() += 1;
        match index.get(&(p.x, p.y)) {
            Some(&i) => {
                let d = &mut self.dies[i];
                d.last = r;
                d.tests += 1;
            }
            None => {
                index.insert((p.x, p.y), self.dies.len());
                self.dies.push(DieSummary {
                    x: p.x,
                    y: p.y,
                    first: r,
                    last: r,
                    tests: 1,
                });
            }
        }
    }

    /// Adds a later summary of the same wafer (results tested after this one's): a die in both
    /// keeps this one's first result and takes the later one's last, as if the later parts had
    /// been [`add`](Self::add)ed one by one.
    pub fn merge(&mut self, later: &WaferSummary) {
        let mut index = self.index();
        for (r, n) in &later.results {
            *self.results.entry(*r).or_default() += n;
        }
        for d in &later.dies {
            match index.get(&(d.x, d.y)) {
                Some(&i) => {
                    let mine = &mut self.dies[i];
                    mine.last = d.last;
                    mine.tests += d.tests;
                }
                None => {
                    index.insert((d.x, d.y), self.dies.len());
                    self.dies.push(*d);
                }
            }
        }
    }

    /// The part of this wafer's data that covers the dies `keep` chooses (one design of an MPW
    /// wafer). The dies are exact; the result counts are rebuilt from them — each die's first
    /// result, and its later tests at its final bin — since the summary does not keep the bins
    /// of a die's middle retests (exact for dies tested at most twice).
    pub fn subset(&self, keep: impl Fn(&DieSummary) -> bool) -> WaferSummary {
        let mut out = WaferSummary::default();
        for d in self.dies.iter().filter(|d| keep(d)) {
            out.push_die(*d);
        }
        out
    }

    /// Adds die `d` of another summary, counting its results as [`subset`](Self::subset) does.
    pub fn push_die(&mut self, d: DieSummary) {
        self.dies.push(d);
        *self.results.entry(d.first).or_default() += 1;
        if d.tests > 1 {
            *self.results.entry(d.last).or_default() += d.tests - 1;
        }
    }

    /// The dies packed little-endian: x, y, first and last (hard bin, soft bin, flag), tests.
    pub fn encode_dies(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.dies.len() * DIE_BYTES);
        for d in &self.dies {
            out.extend_from_slice(&d.x.to_le_bytes());
            out.extend_from_slice(&d.y.to_le_bytes());
            put_bin(&mut out, &d.first);
            put_bin(&mut out, &d.last);
            out.extend_from_slice(&d.tests.to_le_bytes());
        }
        out
    }

    /// The result counts packed little-endian: (hard bin, soft bin, flag), count.
    pub fn encode_results(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.results.len() * RESULT_BYTES);
        for (b, n) in &self.results {
            put_bin(&mut out, b);
            out.extend_from_slice(&n.to_le_bytes());
        }
        out
    }

    /// Reads back what [`encode_dies`](Self::encode_dies) and
    /// [`encode_results`](Self::encode_results) wrote; `None` if the bytes are not such.
    pub fn decode(dies: &[u8], results: &[u8]) -> Option<WaferSummary> {
        if !dies.len().is_multiple_of(DIE_BYTES) || !results.len().is_multiple_of(RESULT_BYTES) {
            return None;
        }
        let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        Some(WaferSummary {
            dies: dies
                .chunks_exact(DIE_BYTES)
                .map(|c| DieSummary {
                    x: i16::from_le_bytes([c[0], c[1]]),
                    y: i16::from_le_bytes([c[2], c[3]]),
                    first: get_bin(&c[4..9]),
                    last: get_bin(&c[9..14]),
                    tests: u32_at(&c[14..18]),
                })
                .collect(),
            results: results
                .chunks_exact(RESULT_BYTES)
                .map(|c| (get_bin(&c[..5]), u32_at(&c[5..9])))
                .collect(),
        })
    }

    /// The counts behind this wafer's yields; `pass` decides each result.
    pub fn counts(&self, pass: impl Fn(&BinResult) -> bool) -> YieldCounts {
        YieldCounts {
            part_results: self.results.values().map(|&n| u64::from(n)).sum(),
            passing_results: self
                .results
                .iter()
                .filter(|(b, _)| pass(b))
                .map(|(_, &n)| u64::from(n))
                .sum(),
            dies: self.dies.len() as u64,
            first_pass_dies: self.dies.iter().filter(|d| pass(&d.first)).count() as u64,
            final_pass_dies: self.dies.iter().filter(|d| pass(&d.last)).count() as u64,
        }
    }
}

/// Counts yields are computed from; they add up across wafers and lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct YieldCounts {
    /// Part results, retests included.
    pub part_results: u64,
    /// Passing part results.
    pub passing_results: u64,
    /// Distinct dies.
    pub dies: u64,
    /// Dies passing at their first test.
    pub first_pass_dies: u64,
    /// Dies passing at their last test.
    pub final_pass_dies: u64,
}

impl std::ops::AddAssign for YieldCounts {
    fn add_assign(&mut self, o: YieldCounts) {
        self.part_results += o.part_results;
        self.passing_results += o.passing_results;
        self.dies += o.dies;
        self.first_pass_dies += o.first_pass_dies;
        self.final_pass_dies += o.final_pass_dies;
    }
}

impl YieldCounts {
    /// The yields these counts give.
    pub fn summary(&self) -> YieldSummary {
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        YieldSummary {
            part_results: self.part_results,
            passing_results: self.passing_results,
            dies: self.dies,
            retests: self.part_results - self.dies,
            first_pass_dies: self.first_pass_dies,
            final_pass_dies: self.final_pass_dies,
            all_results: ratio(self.passing_results, self.part_results),
            first_pass: ratio(self.first_pass_dies, self.dies),
            final_yield: ratio(self.final_pass_dies, self.dies),
        }
    }
}

/// Yields of a set of part results, with the counts they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct YieldSummary {
    /// Part results (every test of every die, retests included).
    pub part_results: u64,
    /// Passing part results.
    pub passing_results: u64,
    /// Distinct dies (wafer, X, Y).
    pub dies: u64,
    /// Results beyond the first for a die.
    pub retests: u64,
    /// Dies passing at their first test.
    pub first_pass_dies: u64,
    /// Dies passing at their last test.
    pub final_pass_dies: u64,
    /// Passing results / all results.
    pub all_results: f64,
    /// Dies passing at their first test / dies.
    pub first_pass: f64,
    /// Dies passing at their last test / dies.
    pub final_yield: f64,
}

/// Summarises `parts` (in test order, any wafers); `pass` decides each result — the product's
/// bin table where there is one, else the part's flag.
pub fn summarise(parts: &[PartResult], pass: impl Fn(&BinResult) -> bool) -> YieldSummary {
    let mut wafers: std::collections::BTreeMap<&str, Vec<&PartResult>> = Default::default();
    for p in parts {
        wafers.entry(p.wafer.as_str()).or_default().push(p);
    }
    let mut total = YieldCounts::default();
    for ps in wafers.into_values() {
        let mut w = WaferSummary::default();
        w.add(ps);
        total += w.counts(&pass);
    }
    total.summary()
}

/// Per-wafer summaries built part by part as a file is read, in bounded memory: one entry per
/// die, however many results the file holds.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    wafers: BTreeMap<String, (WaferSummary, DieIndex)>,
}

/// Where each die (X, Y) sits in a summary's `dies`.
type DieIndex = HashMap<(i16, i16), usize>;

impl SummaryBuilder {
    /// Adds one result, in test order: a die seen before is a retest.
    pub fn add(&mut self, p: &PartResult) {
        let (summary, index) = match self.wafers.get_mut(p.wafer.as_str()) {
            Some(w) => w,
            None => self.wafers.entry(p.wafer.clone()).or_default(),
        };
        summary.record(index, p);
    }

    /// Takes out the summaries of every wafer but `current` (the one still being read), so a
    /// file of many wafers never holds more than one in memory. A wafer taken out and seen
    /// again later starts a new summary, to be [`merge`](WaferSummary::merge)d after the first.
    pub fn take_all_but(&mut self, current: &str) -> BTreeMap<String, WaferSummary> {
        let keep = self.wafers.remove(current);
        let out = std::mem::take(&mut self.wafers);
        if let Some(k) = keep {
            self.wafers.insert(current.to_string(), k);
        }
        out.into_iter()
            .map(|(wafer, (summary, _))| (wafer, summary))
            .collect()
    }

    /// The summaries by wafer id.
    pub fn finish(self) -> BTreeMap<String, WaferSummary> {
        self.wafers
            .into_iter()
            .map(|(wafer, (summary, _))| (wafer, summary))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(x: i16, y: i16, failed: bool) -> PartResult {
        PartResult {
            wafer: "W1".into(),
            x,
            y,
            site: 0,
            hard_bin: if failed { 5 } else { 1 },
            soft_bin: 65535,
            failed_flag: failed,
            flag_invalid: false,
            test_time_ms: 0,
            part_id: String::new(),
        }
    }

    #[test]
    fn retests_are_counted_three_ways() {
        // Die (0,0) fails then passes on retest; (1,0) passes; (2,0) fails twice; (3,0) passes then fails.
        let parts = [
            part(0, 0, true),
            part(1, 0, false),
            part(2, 0, true),
            part(3, 0, false),
            part(0, 0, false),
            part(2, 0, true),
            part(3, 0, true),
        ];
        let y = summarise(&parts, |r| r.flag == Some(true));
        assert_eq!((y.part_results, y.dies, y.retests), (7, 4, 3));
        assert!((y.all_results - 3.0 / 7.0).abs() < 1e-12);
        assert!((y.first_pass - 2.0 / 4.0).abs() < 1e-12);
        assert!((y.final_yield - 2.0 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn a_subset_of_dies_counts_only_their_results() {
        let mut w = WaferSummary::default();
        w.add(&[
            part(0, 0, true),
            part(1, 0, false),
            part(2, 0, true),
            part(0, 0, false),
        ]);
        let pass = |r: &BinResult| r.flag == Some(true);
        // Dies (0,0) — failed, then passed on retest — and (2,0), failed once.
        let s = w.subset(|d| d.x != 1);
        let c = s.counts(pass);
        assert_eq!((c.dies, c.part_results, c.passing_results), (2, 3, 1));
        assert_eq!((c.first_pass_dies, c.final_pass_dies), (0, 1));
        // The whole wafer split in two adds back up to the whole.
        let mut sum = c;
        sum += w.subset(|d| d.x == 1).counts(pass);
        assert_eq!(sum, w.counts(pass));
    }

    #[test]
    fn the_same_xy_on_another_wafer_is_another_die_and_bins_can_decide() {
        let mut other = part(0, 0, false);
        other.wafer = "W2".into();
        let mut invalid = part(1, 1, true);
        invalid.flag_invalid = true;
        let parts = [part(0, 0, false), other, invalid];
        assert_eq!(summarise(&parts, |_| true).dies, 3);
        assert_eq!(parts[2].flag_pass(), None);
        // A bin table saying hard bin 5 passes overrides the (invalid) flag.
        let y = summarise(&parts, |r| r.flag.unwrap_or(r.hard_bin == 5));
        assert_eq!(y.final_yield, 1.0);
        assert_eq!(summarise(&[], |_| true).all_results, 0.0);
    }

    #[test]
    fn a_wafer_summary_survives_encoding_and_merges_a_later_retest() {
        let mut w = WaferSummary::default();
        w.add(&[part(0, 0, true), part(1, 0, false)]);
        let mut back = WaferSummary::decode(&w.encode_dies(), &w.encode_results()).unwrap();
        assert_eq!(back, w);
        // A retest file arriving later updates the die's final result.
        back.add(&[part(0, 0, false)]);
        let c = back.counts(|r| r.flag == Some(true));
        assert_eq!(
            (
                c.part_results,
                c.passing_results,
                c.dies,
                c.first_pass_dies,
                c.final_pass_dies
            ),
            (3, 2, 2, 1, 2)
        );
        assert!(WaferSummary::decode(&[1, 2, 3], &[]).is_none());
    }

    #[test]
    fn summaries_built_in_batches_and_merged_equal_adding_every_part() {
        let first = [part(0, 0, true), part(1, 0, false), part(2, 0, true)];
        let later = [
            part(2, 0, false),
            part(3, 0, true),
            part(0, 0, false),
            part(2, 0, true),
        ];
        let mut whole = WaferSummary::default();
        whole.add(first.iter().chain(&later));

        let mut stored = WaferSummary::default();
        stored.add(&first);
        let mut builder = SummaryBuilder::default();
        for p in &later {
            builder.add(p);
        }
        let built = builder.finish();
        assert_eq!(built.len(), 1);
        stored.merge(&built["W1"]);
        assert_eq!(stored, whole);

        // Taken out wafer by wafer as the file moves on, merged in order: the same again.
        let other = |x| PartResult {
            wafer: "W2".into(),
            ..part(x, 0, false)
        };
        let mut builder = SummaryBuilder::default();
        let mut merged = WaferSummary::default();
        for (i, p) in first.iter().chain(&later).enumerate() {
            builder.add(p);
            builder.add(&other(i as i16));
            for (wafer, s) in builder.take_all_but("W2") {
                assert_eq!(wafer, "W1");
                merged.merge(&s);
            }
        }
        assert_eq!(merged, whole);
        assert_eq!(builder.finish()["W2"].dies.len(), first.len() + later.len());
    }
}
