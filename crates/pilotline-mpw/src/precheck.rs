//! The automatic precheck of an uploaded design: the GDSII file is read with gds21, and five
//! checks each give pass/fail with the value measured. A design that fails is never accepted.
//!
//! - `readable`: the file is a GDSII stream (optionally gzipped) that reads to its end.
//! - `one_top_cell`: exactly one structure is referenced by no other.
//! - `not_empty`: the top cell, with everything it places, draws at least one shape of area.
//! - `fits`: the top cell's extent plus the seal ring on every side fits the booked space.
//! - `known_layers`: every shape is on a (layer, datatype) of the process's layer table.
//!
//! The extent is the bounding box of every boundary, path and box after placing references
//! (SREF, AREF, with reflection, magnification and rotation).

use flate2::read::MultiGzDecoder;
use gds21::{GdsElement, GdsError, GdsLibrary, GdsPoint, GdsStrans, GdsStruct};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use crate::line::{Field, Um};
use crate::phrase::Phrase;

/// A (layer, datatype) pair of a process's layer table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerKey {
    /// GDSII layer number.
    pub layer: i16,
    /// GDSII datatype.
    pub datatype: i16,
}

impl std::fmt::Display for LayerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.layer, self.datatype)
    }
}

/// One check of a precheck, by its stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    /// The file reads as GDSII.
    Readable,
    /// Exactly one top cell.
    OneTopCell,
    /// At least one shape.
    NotEmpty,
    /// The extent with the seal ring fits the booked space.
    Fits,
    /// Only layers of the process's layer table.
    KnownLayers,
}

impl CheckId {
    /// The stable id.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Readable => "readable",
            CheckId::OneTopCell => "one_top_cell",
            CheckId::NotEmpty => "not_empty",
            CheckId::Fits => "fits",
            CheckId::KnownLayers => "known_layers",
        }
    }
}

/// A check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    /// Which check.
    pub check: CheckId,
    /// Whether it passed.
    pub passed: bool,
    /// What was measured (`2 top cells: A, B`, `3120×2980 µm`), in English.
    pub measured: String,
    /// What was required, in English.
    pub expected: String,
    /// Why it failed (absent when it passed), in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `measured` as a key and values, for a front end that speaks the viewer's language.
    #[serde(default)]
    pub measured_phrase: Phrase,
    /// `expected` as a key and values.
    #[serde(default)]
    pub expected_phrase: Phrase,
    /// `reason` as a key and values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_phrase: Option<Phrase>,
}

/// English text and the phrase it renders.
struct Said(String, Phrase);

impl Check {
    fn new(
        check: CheckId,
        passed: bool,
        measured: Said,
        expected: Said,
        reason: Option<Said>,
    ) -> Self {
        let (reason, reason_phrase) = match reason {
            Some(Said(t, p)) => (Some(t), Some(p)),
            None => (None, None),
        };
        Check {
            check,
            passed,
            measured: measured.0,
            expected: expected.0,
            reason,
            measured_phrase: measured.1,
            expected_phrase: expected.1,
            reason_phrase,
        }
    }
}

fn gdsii_expected() -> Said {
    Said(
        "a GDSII stream (optionally gzipped)".into(),
        Phrase::new("precheck-gdsii-expected"),
    )
}

fn one_top_expected() -> Said {
    Said(
        "exactly one top cell".into(),
        Phrase::new("precheck-one-top-expected"),
    )
}

fn some_shape_expected() -> Said {
    Said(
        "at least one shape".into(),
        Phrase::new("precheck-some-shape-expected"),
    )
}

fn layers_text<'a>(layers: impl IntoIterator<Item = &'a LayerKey>) -> String {
    layers
        .into_iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A precheck verdict: every check, and what the design is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    /// Whether every check passed.
    pub passed: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// The top cell's name, when there is exactly one.
    pub top_cell: Option<String>,
    /// The top cell's extent, µm (without seal ring).
    pub extent: Option<Extent>,
    /// Layers the design draws on.
    pub layers: Vec<LayerKey>,
    /// Structures in the library.
    pub cells: usize,
}

impl Verdict {
    /// The ids of the checks that failed, comma-separated.
    pub fn failed(&self) -> String {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.check.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A bounding box, µm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Extent {
    /// Left edge.
    pub x_min_um: f64,
    /// Bottom edge.
    pub y_min_um: f64,
    /// Width.
    pub width_um: f64,
    /// Height.
    pub height_um: f64,
}

/// What a design is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// The largest extent including the seal ring (from the booking's quote).
    pub limit: Field,
    /// Seal ring per side, µm.
    pub seal_ring_um: Um,
    /// The process's layer table.
    pub layers: BTreeSet<LayerKey>,
}

/// The largest uncompressed design the precheck reads (a gzip bomb stops here).
pub const MAX_DESIGN_BYTES: u64 = 2 << 30;

/// Reads the design in `raw` (GDSII, or gzipped GDSII told by its magic bytes) and checks it.
pub fn precheck(raw: impl Read, req: &Requirements) -> Verdict {
    match read_library(raw) {
        Ok(lib) => check_library(&lib, req),
        Err(reason) => unreadable(reason, req),
    }
}

fn read_library(mut raw: impl Read) -> Result<GdsLibrary, String> {
    let mut head = [0u8; 2];
    let mut bytes = Vec::new();
    let n = read_up_to(&mut raw, &mut head)?;
    let gzipped = n == 2 && head == [0x1f, 0x8b];
    let mut chained = std::io::Cursor::new(head[..n].to_vec()).chain(raw);
    let result = if gzipped {
        MultiGzDecoder::new(chained)
            .take(MAX_DESIGN_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        (&mut chained)
            .take(MAX_DESIGN_BYTES + 1)
            .read_to_end(&mut bytes)
    };
    result.map_err(|e| format!("the file cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_DESIGN_BYTES {
        return Err(format!(
            "the design is larger than {MAX_DESIGN_BYTES} bytes uncompressed"
        ));
    }
    // A GDSII stream opens with its HEADER record: length 6, record type 0x00, data type 0x02.
    if bytes.len() < 4 || bytes[2] != 0x00 || bytes[3] != 0x02 {
        return Err("not a GDSII stream: it does not open with a HEADER record (byte 0)".into());
    }
    let len = bytes.len();
    GdsLibrary::from_bytes(bytes).map_err(|e| describe(e, len))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("the file cannot be read: {e}")),
        }
    }
    Ok(n)
}

fn describe(e: GdsError, len: usize) -> String {
    match e {
        GdsError::Parse {
            msg,
            recordnum,
            bytepos,
            ..
        } => format!("{msg} (record {recordnum}, byte {bytepos})"),
        GdsError::RecordLen(n) => format!("a record has an invalid length {n}"),
        GdsError::InvalidRecordType(t) => format!("a record has an unknown record type 0x{t:02x}"),
        GdsError::InvalidDataType(t) => format!("a record has an unknown data type 0x{t:02x}"),
        GdsError::RecordDecode(r, d, l) => {
            format!("a {r:?} record of data type {d:?} and length {l} does not decode")
        }
        GdsError::Unsupported(r, _) => format!(
            "the file uses a record Pilotline does not read: {:?}",
            r.map(|r| format!("{r:?}").chars().take(60).collect::<String>())
        ),
        GdsError::Boxed(b) => {
            let text = b.to_string();
            if text.contains("fill whole buffer") || text.contains("UnexpectedEof") {
                format!(
                    "the file ends in the middle of a record after {len} bytes: it is truncated (no ENDLIB)"
                )
            } else {
                text
            }
        }
        GdsError::Str(s) => s,
    }
}

fn unreadable(reason: String, req: &Requirements) -> Verdict {
    let skipped = |check, expected: Said| {
        Check::new(
            check,
            false,
            Said("not checked".into(), Phrase::new("precheck-not-checked")),
            expected,
            Some(Said(
                "not checked: the file does not read".into(),
                Phrase::new("precheck-not-checked-reason"),
            )),
        )
    };
    Verdict {
        passed: false,
        checks: vec![
            Check::new(
                CheckId::Readable,
                false,
                Said("unreadable".into(), Phrase::new("precheck-unreadable")),
                gdsii_expected(),
                Some(Said(
                    reason.clone(),
                    Phrase::new("precheck-unreadable-reason").with("detail", reason),
                )),
            ),
            skipped(CheckId::OneTopCell, one_top_expected()),
            skipped(CheckId::NotEmpty, some_shape_expected()),
            skipped(CheckId::Fits, fits_expected(req)),
            skipped(
                CheckId::KnownLayers,
                Said(
                    format!("only layers of the process: {}", layers_text(&req.layers)),
                    Phrase::new("precheck-known-layers-expected")
                        .with("layers", layers_text(&req.layers)),
                ),
            ),
        ],
        top_cell: None,
        extent: None,
        layers: Vec::new(),
        cells: 0,
    }
}

fn fits_expected(req: &Requirements) -> Said {
    Said(
        format!(
            "at most {}×{} µm with the {} µm seal ring",
            req.limit.width_um, req.limit.height_um, req.seal_ring_um
        ),
        Phrase::new("precheck-fits-expected")
            .with("width", req.limit.width_um)
            .with("height", req.limit.height_um)
            .with("seal", req.seal_ring_um),
    )
}

/// A box in database units.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bbox {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Bbox {
    fn point(x: f64, y: f64) -> Self {
        Bbox {
            x0: x,
            y0: y,
            x1: x,
            y1: y,
        }
    }
    fn union(self, o: Bbox) -> Bbox {
        Bbox {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }
    fn grow(self, d: f64) -> Bbox {
        Bbox {
            x0: self.x0 - d,
            y0: self.y0 - d,
            x1: self.x1 + d,
            y1: self.y1 + d,
        }
    }
    fn corners(self) -> [(f64, f64); 4] {
        [
            (self.x0, self.y0),
            (self.x1, self.y0),
            (self.x0, self.y1),
            (self.x1, self.y1),
        ]
    }
}

fn of_points(pts: &[GdsPoint]) -> Option<Bbox> {
    pts.iter()
        .map(|p| Bbox::point(f64::from(p.x), f64::from(p.y)))
        .reduce(Bbox::union)
}

/// Whether a polygon encloses area (the shoelace sum is not zero).
fn has_area(pts: &[GdsPoint]) -> bool {
    let n = pts.len();
    if n < 3 {
        return false;
    }
    let mut s: i128 = 0;
    for i in 0..n {
        let (a, b) = (&pts[i], &pts[(i + 1) % n]);
        s += i128::from(a.x) * i128::from(b.y) - i128::from(b.x) * i128::from(a.y);
    }
    s != 0
}

/// What a structure draws, with everything it places: its box, layers and whether it has a
/// shape of area.
#[derive(Debug, Clone, Default)]
struct Drawn {
    bbox: Option<Bbox>,
    layers: BTreeSet<LayerKey>,
    shapes: bool,
}

/// Places a box through a reference's transform: reflect about x, magnify, rotate, translate.
fn place(b: Bbox, strans: Option<&GdsStrans>, at: (f64, f64)) -> Bbox {
    let (reflect, mag, angle) = strans.map_or((false, 1.0, 0.0), |s| {
        (s.reflected, s.mag.unwrap_or(1.0), s.angle.unwrap_or(0.0))
    });
    let (sin, cos) = angle.to_radians().sin_cos();
    b.corners()
        .into_iter()
        .map(|(x, y)| {
            let y = if reflect { -y } else { y };
            let (x, y) = (x * mag, y * mag);
            Bbox::point(x * cos - y * sin + at.0, x * sin + y * cos + at.1)
        })
        .reduce(Bbox::union)
        .expect("four corners")
}

struct Walker<'a> {
    by_name: HashMap<&'a str, &'a GdsStruct>,
    done: HashMap<&'a str, Drawn>,
    visiting: BTreeSet<&'a str>,
}

impl<'a> Walker<'a> {
    fn drawn(&mut self, name: &'a str) -> Result<Drawn, String> {
        if let Some(d) = self.done.get(name) {
            return Ok(d.clone());
        }
        let s = *self.by_name.get(name).ok_or_else(|| {
            format!("a reference names cell {name:?}, which the file does not define")
        })?;
        if !self.visiting.insert(name) {
            return Err(format!("cell {name:?} places itself (a reference cycle)"));
        }
        let mut d = Drawn::default();
        let add = |d: &mut Drawn, b: Bbox| d.bbox = Some(d.bbox.map_or(b, |x| x.union(b)));
        for e in &s.elems {
            match e {
                GdsElement::GdsBoundary(b) => {
                    if let Some(bb) = of_points(&b.xy) {
                        add(&mut d, bb);
                    }
                    d.layers.insert(LayerKey {
                        layer: b.layer,
                        datatype: b.datatype,
                    });
                    d.shapes |= has_area(&b.xy);
                }
                GdsElement::GdsPath(p) => {
                    let half = f64::from(p.width.unwrap_or(0).abs()) / 2.0;
                    let ext = f64::from(
                        p.begin_extn
                            .unwrap_or(0)
                            .abs()
                            .max(p.end_extn.unwrap_or(0).abs()),
                    );
                    if let Some(bb) = of_points(&p.xy) {
                        add(&mut d, bb.grow(half.max(ext)));
                    }
                    d.layers.insert(LayerKey {
                        layer: p.layer,
                        datatype: p.datatype,
                    });
                    d.shapes |= half > 0.0 && p.xy.len() >= 2;
                }
                GdsElement::GdsBox(b) => {
                    if let Some(bb) = of_points(&b.xy) {
                        add(&mut d, bb);
                        d.shapes |= bb.x1 > bb.x0 && bb.y1 > bb.y0;
                    }
                    d.layers.insert(LayerKey {
                        layer: b.layer,
                        datatype: b.boxtype,
                    });
                }
                GdsElement::GdsStructRef(r) => {
                    let inner = self.drawn(&r.name)?;
                    if let Some(bb) = inner.bbox {
                        let at = (f64::from(r.xy.x), f64::from(r.xy.y));
                        add(&mut d, place(bb, r.strans.as_ref(), at));
                    }
                    d.layers.extend(inner.layers);
                    d.shapes |= inner.shapes;
                }
                GdsElement::GdsArrayRef(r) => {
                    let inner = self.drawn(&r.name)?;
                    if let Some(bb) = inner.bbox {
                        let (cols, rows) = (f64::from(r.cols.max(1)), f64::from(r.rows.max(1)));
                        let o = (f64::from(r.xy[0].x), f64::from(r.xy[0].y));
                        let col = (
                            (f64::from(r.xy[1].x) - o.0) / cols,
                            (f64::from(r.xy[1].y) - o.1) / cols,
                        );
                        let row = (
                            (f64::from(r.xy[2].x) - o.0) / rows,
                            (f64::from(r.xy[2].y) - o.1) / rows,
                        );
                        for (i, j) in [
                            (0.0, 0.0),
                            (cols - 1.0, 0.0),
                            (0.0, rows - 1.0),
                            (cols - 1.0, rows - 1.0),
                        ] {
                            let at = (o.0 + i * col.0 + j * row.0, o.1 + i * col.1 + j * row.1);
                            add(&mut d, place(bb, r.strans.as_ref(), at));
                        }
                    }
                    d.layers.extend(inner.layers);
                    d.shapes |= inner.shapes;
                }
                GdsElement::GdsTextElem(_) | GdsElement::GdsNode(_) => {}
            }
        }
        self.visiting.remove(name);
        self.done.insert(name, d.clone());
        Ok(d)
    }
}

fn check_library(lib: &GdsLibrary, req: &Requirements) -> Verdict {
    let mut checks = vec![Check::new(
        CheckId::Readable,
        true,
        Said(
            format!("GDSII v{}, {} cells", lib.version, lib.structs.len()),
            Phrase::new("precheck-read")
                .with("version", lib.version)
                .with("cells", lib.structs.len()),
        ),
        gdsii_expected(),
        None,
    )];
    let mut referenced = BTreeSet::new();
    for s in &lib.structs {
        for e in &s.elems {
            match e {
                GdsElement::GdsStructRef(r) => {
                    referenced.insert(r.name.as_str());
                }
                GdsElement::GdsArrayRef(r) => {
                    referenced.insert(r.name.as_str());
                }
                _ => {}
            }
        }
    }
    let tops: Vec<&str> = lib
        .structs
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !referenced.contains(n))
        .collect();
    let one_top = tops.len() == 1;
    checks.push(Check::new(
        CheckId::OneTopCell,
        one_top,
        Said(
            format!("{} top cells{}", tops.len(), list(&tops)),
            match tops.is_empty() {
                true => Phrase::new("precheck-top-cells-none"),
                false => Phrase::new("precheck-top-cells")
                    .with("count", tops.len())
                    .with("names", list(&tops).trim_start_matches(": ")),
            },
        ),
        one_top_expected(),
        (!one_top).then(|| match tops.len() {
            0 => Said(
                "the file defines no top cell (no cells, or every cell is placed by another)"
                    .to_string(),
                Phrase::new("precheck-no-top-cell"),
            ),
            n => Said(
                format!(
                    "{n} top cells ({}): a design has exactly one",
                    tops.join(", ")
                ),
                Phrase::new("precheck-many-top-cells")
                    .with("count", n)
                    .with("names", tops.join(", ")),
            ),
        }),
    ));
    let mut walker = Walker {
        by_name: lib.structs.iter().map(|s| (s.name.as_str(), s)).collect(),
        done: HashMap::new(),
        visiting: BTreeSet::new(),
    };
    // The geometry of the top cell (of the largest top cell when there are several, so the
    // other checks still say something useful).
    let mut drawn: Option<(String, Drawn)> = None;
    let mut walk_error = None;
    for t in &tops {
        match walker.drawn(t) {
            Ok(d) => {
                let area = d.bbox.map_or(0.0, |b| (b.x1 - b.x0) * (b.y1 - b.y0));
                let best = drawn.as_ref().map_or(-1.0, |(_, x)| {
                    x.bbox.map_or(0.0, |b| (b.x1 - b.x0) * (b.y1 - b.y0))
                });
                if area > best {
                    drawn = Some((t.to_string(), d));
                }
            }
            Err(e) => walk_error = Some(e),
        }
    }
    if let Some(e) = walk_error.clone() {
        checks[0].passed = false;
        checks[0].measured = "unresolved references".into();
        checks[0].measured_phrase = Phrase::new("precheck-unresolved");
        checks[0].reason_phrase =
            Some(Phrase::new("precheck-unresolved-reason").with("detail", &e));
        checks[0].reason = Some(e);
    }
    let um = lib.units.db_unit() * 1e6;
    let (shapes, extent, layers) = match &drawn {
        Some((_, d)) => (
            d.shapes,
            d.bbox.map(|b| Extent {
                x_min_um: b.x0 * um,
                y_min_um: b.y0 * um,
                width_um: (b.x1 - b.x0) * um,
                height_um: (b.y1 - b.y0) * um,
            }),
            d.layers.iter().copied().collect::<Vec<_>>(),
        ),
        None => (false, None, Vec::new()),
    };
    let not_empty = shapes && extent.is_some_and(|e| e.width_um > 0.0 && e.height_um > 0.0);
    checks.push(Check::new(
        CheckId::NotEmpty,
        not_empty,
        if not_empty {
            Said("shapes drawn".into(), Phrase::new("precheck-shapes-drawn"))
        } else {
            Said(
                "no shape of any area".into(),
                Phrase::new("precheck-no-shape"),
            )
        },
        some_shape_expected(),
        (!not_empty).then(|| {
            Said(
                "the design draws no boundary, path or box of any area: it is empty".into(),
                Phrase::new("precheck-empty"),
            )
        }),
    ));
    let seal = req.seal_ring_um as f64;
    let fits = extent.is_some_and(|e| {
        e.width_um + 2.0 * seal <= req.limit.width_um as f64 + 1e-6
            && e.height_um + 2.0 * seal <= req.limit.height_um as f64 + 1e-6
    });
    let um3 = |v: f64| format!("{v:.3}");
    checks.push(Check::new(
        CheckId::Fits,
        fits,
        extent.map_or_else(
            || Said("no extent".into(), Phrase::new("precheck-no-extent")),
            |e| {
                Said(
                    format!(
                        "{:.3}×{:.3} µm ({:.3}×{:.3} µm with the seal ring)",
                        e.width_um,
                        e.height_um,
                        e.width_um + 2.0 * seal,
                        e.height_um + 2.0 * seal
                    ),
                    Phrase::new("precheck-extent")
                        .with("width", um3(e.width_um))
                        .with("height", um3(e.height_um))
                        .with("ring_width", um3(e.width_um + 2.0 * seal))
                        .with("ring_height", um3(e.height_um + 2.0 * seal)),
                )
            },
        ),
        fits_expected(req),
        (!fits).then(|| match extent {
            Some(e) => Said(
                format!(
                    "the design with its seal ring is {:.3}×{:.3} µm, larger than the booked {}×{} µm",
                    e.width_um + 2.0 * seal,
                    e.height_um + 2.0 * seal,
                    req.limit.width_um,
                    req.limit.height_um
                ),
                Phrase::new("precheck-too-large")
                    .with("ring_width", um3(e.width_um + 2.0 * seal))
                    .with("ring_height", um3(e.height_um + 2.0 * seal))
                    .with("width", req.limit.width_um)
                    .with("height", req.limit.height_um),
            ),
            None => Said(
                "the design has no extent".into(),
                Phrase::new("precheck-no-extent-reason"),
            ),
        }),
    ));
    let unknown: Vec<String> = layers
        .iter()
        .filter(|l| !req.layers.contains(l))
        .map(|l| l.to_string())
        .collect();
    let known = unknown.is_empty();
    checks.push(Check::new(
        CheckId::KnownLayers,
        known,
        Said(
            format!("layers {}", layers_text(&layers)),
            Phrase::new("precheck-layers").with("layers", layers_text(&layers)),
        ),
        Said(
            format!("only layers of the process: {}", layers_text(&req.layers)),
            Phrase::new("precheck-known-layers-expected").with("layers", layers_text(&req.layers)),
        ),
        (!known).then(|| {
            Said(
                format!(
                    "layer {} is not in the process's layer table",
                    unknown.join(", ")
                ),
                Phrase::new("precheck-unknown-layers").with("layers", unknown.join(", ")),
            )
        }),
    ));
    Verdict {
        passed: checks.iter().all(|c| c.passed),
        checks,
        top_cell: if one_top { drawn.map(|(n, _)| n) } else { None },
        extent,
        layers,
        cells: lib.structs.len(),
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        let mut s = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
        if names.len() > 5 {
            s.push_str(", …");
        }
        format!(": {s}")
    }
}

/// Test designs written with gds21: a top cell placing a sub-cell, for tests and the demo.
pub mod sample {
    use gds21::{GdsBoundary, GdsElement, GdsLibrary, GdsPoint, GdsStruct, GdsStructRef};

    /// A rectangle of `w`×`h` µm at the origin on `layer`/0 (1 nm database units).
    pub fn rect(layer: i16, x: i32, y: i32, w_um: i32, h_um: i32) -> GdsElement {
        let (w, h) = (w_um * 1000, h_um * 1000);
        GdsElement::GdsBoundary(GdsBoundary {
            layer,
            datatype: 0,
            xy: GdsPoint::vec(&[(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]),
            ..Default::default()
        })
    }

    /// A library whose top cell `TOP` places cell `CORE` (a `w`×`h` µm rectangle on each of
    /// `layers`), as a GDSII byte stream.
    pub fn design(w_um: i32, h_um: i32, layers: &[i16]) -> Vec<u8> {
        let mut core = GdsStruct::new("CORE");
        for l in layers {
            core.elems.push(rect(*l, 0, 0, w_um, h_um));
        }
        let mut top = GdsStruct::new("TOP");
        top.elems.push(GdsElement::GdsStructRef(GdsStructRef {
            name: "CORE".into(),
            xy: GdsPoint::new(0, 0),
            ..Default::default()
        }));
        library(vec![core, top])
    }

    /// `structs` as a GDSII byte stream.
    pub fn library(structs: Vec<GdsStruct>) -> Vec<u8> {
        let mut lib = GdsLibrary::new("PILOTLINE");
        lib.structs = structs;
        let mut out = Vec::new();
        lib.write(&mut out).expect("a library writes to memory");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::sample::*;
    use super::*;
    use gds21::{GdsArrayRef, GdsStrans, GdsStructRef};

    fn req() -> Requirements {
        Requirements {
            limit: Field {
                width_um: 1_000,
                height_um: 800,
            },
            seal_ring_um: 20,
            layers: [1, 2]
                .map(|l| LayerKey {
                    layer: l,
                    datatype: 0,
                })
                .into(),
        }
    }

    fn failed(v: &Verdict) -> Vec<CheckId> {
        v.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.check)
            .collect()
    }

    fn reason(v: &Verdict, id: CheckId) -> String {
        v.checks
            .iter()
            .find(|c| c.check == id)
            .unwrap()
            .reason
            .clone()
            .unwrap_or_default()
    }

    #[test]
    fn a_good_design_passes_every_check() {
        let v = precheck(&design(900, 700, &[1, 2])[..], &req());
        assert!(v.passed, "{v:#?}");
        assert_eq!(v.top_cell.as_deref(), Some("TOP"));
        let e = v.extent.unwrap();
        assert!((e.width_um - 900.0).abs() < 1e-6 && (e.height_um - 700.0).abs() < 1e-6);
        assert_eq!(v.checks.len(), 5);
    }

    #[test]
    fn a_gzipped_design_reads_as_the_plain_one() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&design(900, 700, &[1])).unwrap();
        let v = precheck(&gz.finish().unwrap()[..], &req());
        assert!(v.passed, "{v:#?}");
    }

    #[test]
    fn a_file_that_is_not_gds_names_its_fault() {
        let v = precheck(&b"%PDF-1.7 not a layout"[..], &req());
        assert!(!v.passed);
        assert_eq!(failed(&v)[0], CheckId::Readable);
        assert!(
            reason(&v, CheckId::Readable).contains("HEADER record"),
            "{v:#?}"
        );
    }

    #[test]
    fn a_truncated_file_is_unreadable() {
        let bytes = design(900, 700, &[1]);
        let v = precheck(&bytes[..bytes.len() / 2], &req());
        assert_eq!(failed(&v)[0], CheckId::Readable);
        assert!(
            reason(&v, CheckId::Readable).contains("truncated"),
            "{v:#?}"
        );
    }

    #[test]
    fn two_top_cells_fail_and_are_named() {
        let mut a = GdsStruct::new("A");
        a.elems.push(rect(1, 0, 0, 10, 10));
        let mut b = GdsStruct::new("B");
        b.elems.push(rect(1, 0, 0, 10, 10));
        let v = precheck(&library(vec![a, b])[..], &req());
        assert_eq!(failed(&v), vec![CheckId::OneTopCell]);
        assert!(reason(&v, CheckId::OneTopCell).contains("A, B"));
    }

    #[test]
    fn a_design_larger_than_its_slot_fails_with_its_size() {
        // 980 µm + 2 × 20 µm seal ring = 1,020 µm > 1,000 µm.
        let v = precheck(&design(980, 700, &[1])[..], &req());
        assert_eq!(failed(&v), vec![CheckId::Fits]);
        assert!(
            reason(&v, CheckId::Fits).contains("1020.000×740.000"),
            "{v:#?}"
        );
    }

    #[test]
    fn an_empty_design_fails() {
        let mut top = GdsStruct::new("TOP");
        top.elems.push(GdsElement::GdsTextElem(gds21::GdsTextElem {
            string: "label only".into(),
            layer: 1,
            ..Default::default()
        }));
        let v = precheck(&library(vec![top])[..], &req());
        assert!(failed(&v).contains(&CheckId::NotEmpty), "{v:#?}");
        // A cell with no elements at all, too.
        let v = precheck(&library(vec![GdsStruct::new("TOP")])[..], &req());
        assert!(failed(&v).contains(&CheckId::NotEmpty));
    }

    #[test]
    fn a_layer_the_process_lacks_fails_and_is_named() {
        let v = precheck(&design(100, 100, &[1, 63])[..], &req());
        assert_eq!(failed(&v), vec![CheckId::KnownLayers]);
        assert!(reason(&v, CheckId::KnownLayers).contains("63/0"));
    }

    #[test]
    fn references_are_placed_with_their_transforms() {
        let mut core = GdsStruct::new("CORE");
        core.elems.push(rect(1, 0, 0, 100, 10));
        let mut top = GdsStruct::new("TOP");
        // Rotated by 90°: 10 wide, 100 high, at x = 500 µm.
        top.elems.push(GdsElement::GdsStructRef(GdsStructRef {
            name: "CORE".into(),
            xy: GdsPoint::new(500_000, 0),
            strans: Some(GdsStrans {
                angle: Some(90.0),
                ..Default::default()
            }),
            ..Default::default()
        }));
        // A 3 × 2 array with a 200 µm × 50 µm pitch at the origin: 500 × 60 µm.
        top.elems.push(GdsElement::GdsArrayRef(GdsArrayRef {
            name: "CORE".into(),
            xy: [
                GdsPoint::new(0, 0),
                GdsPoint::new(600_000, 0),
                GdsPoint::new(0, 100_000),
            ],
            cols: 3,
            rows: 2,
            ..Default::default()
        }));
        let v = precheck(&library(vec![core, top])[..], &req());
        let e = v.extent.unwrap();
        // x from 490 (the rotated cell's left edge) back to 0; y from 0 to 100.
        assert!((e.x_min_um - 0.0).abs() < 1e-6, "{e:?}");
        assert!((e.width_um - 500.0).abs() < 1e-6, "{e:?}");
        assert!((e.height_um - 100.0).abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn a_reference_to_a_missing_cell_is_unreadable() {
        let mut top = GdsStruct::new("TOP");
        top.elems.push(GdsElement::GdsStructRef(GdsStructRef {
            name: "GHOST".into(),
            xy: GdsPoint::new(0, 0),
            ..Default::default()
        }));
        let v = precheck(&library(vec![top])[..], &req());
        assert!(reason(&v, CheckId::Readable).contains("GHOST"), "{v:#?}");
    }
}
