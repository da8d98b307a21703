//! Wafer maps from per-die results: the final bin of every die, placed with the notch (flat)
//! down whatever the tester's orientation, rendered as SVG with a legend or written as a
//! SEMI E142 substrate map.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::bins::BinTable;
use crate::stdf::Orientation;
use crate::yields::WaferSummary;

/// One die's final result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DieResult {
    /// Tester X.
    pub x: i16,
    /// Tester Y.
    pub y: i16,
    /// Column on the normalised map (0 = left, notch down).
    pub col: u32,
    /// Row on the normalised map (0 = top, notch down).
    pub row: u32,
    /// Hard bin of the last test.
    pub hard_bin: u16,
    /// Soft bin of the last test.
    pub soft_bin: u16,
    /// Whether the last test passed.
    pub pass: bool,
    /// Times the die was tested.
    pub tests: u32,
}

/// Dies per bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BinCount {
    /// Hard bin.
    pub bin: u16,
    /// Dies whose final result is this bin.
    pub dies: u32,
    /// Whether the bin passes.
    pub pass: bool,
    /// Name: the product's bin table's, else the file's HBR, else empty.
    pub name: String,
    /// Display colour from the bin table, if it sets one.
    pub colour: Option<String>,
}

/// A wafer's bin map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaferMap {
    /// Wafer id.
    pub wafer: String,
    /// Lot id.
    pub lot: String,
    /// Orientation as tested (WCR), if the file said.
    pub orientation: Option<Orientation>,
    /// Columns and rows of the normalised map.
    pub columns: u32,
    /// Rows.
    pub rows: u32,
    /// Every die, final result.
    pub dies: Vec<DieResult>,
    /// Dies per hard bin, by bin.
    pub bins: Vec<BinCount>,
}

impl WaferMap {
    /// The map of one wafer's dies; `table` decides pass/fail and names bins, `declared`
    /// names the bins the table does not (from the files' HBRs).
    pub fn build(
        wafer: &str,
        lot: &str,
        orientation: Option<Orientation>,
        summary: &WaferSummary,
        table: &BinTable,
        declared: &BTreeMap<u16, String>,
    ) -> WaferMap {
        let placed = place_all(orientation, summary.dies.iter().map(|d| (d.x, d.y)));
        let mut bins: BTreeMap<u16, (u32, bool)> = BTreeMap::new();
        let dies: Vec<DieResult> = summary
            .dies
            .iter()
            .zip(&placed.cells)
            .map(|(d, &(col, row))| {
                let ok = table.passes(&d.last);
                let b = bins.entry(d.last.hard_bin).or_insert((0, ok));
                b.0 += 1;
                DieResult {
                    x: d.x,
                    y: d.y,
                    col,
                    row,
                    hard_bin: d.last.hard_bin,
                    soft_bin: d.last.soft_bin,
                    pass: ok,
                    tests: d.tests,
                }
            })
            .collect();
        WaferMap {
            wafer: wafer.to_string(),
            lot: lot.to_string(),
            orientation,
            columns: placed.columns,
            rows: placed.rows,
            dies,
            bins: bins
                .into_iter()
                .map(|(bin, (dies, pass))| {
                    let def = table.get(bin);
                    BinCount {
                        bin,
                        dies,
                        pass,
                        name: def
                            .map(|d| d.name.clone())
                            .or_else(|| declared.get(&bin).cloned())
                            .unwrap_or_default(),
                        colour: def.and_then(|d| d.colour.clone()),
                    }
                })
                .collect(),
        }
    }

    /// The map as SVG: one square per die coloured by bin (passing bins green), a legend with
    /// each bin's count, and the notch at the bottom.
    pub fn to_svg(&self) -> String {
        const CELL: u32 = 10;
        const LEGEND: u32 = 170;
        let width = self.columns * CELL + LEGEND + 20;
        let map_h = self.rows * CELL;
        let height = (map_h + 60).max(40 + 18 * self.bins.len() as u32);
        let colour = |bin: u16, pass: bool| -> String {
            if let Some(c) = self
                .bins
                .iter()
                .find(|b| b.bin == bin)
                .and_then(|b| b.colour.clone())
            {
                c
            } else if pass {
                ["#2e7d32", "#66bb6a", "#a5d6a7"][usize::from(bin) % 3].to_string()
            } else {
                const FAIL: [&str; 8] = [
                    "#c62828", "#ef6c00", "#f9a825", "#6a1b9a", "#1565c0", "#00838f", "#4e342e",
                    "#ad1457",
                ];
                FAIL[usize::from(bin) % FAIL.len()].to_string()
            }
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(
            s,
            r#"<title>Wafer {} (lot {}): bin map, notch down</title>"#,
            esc(&self.wafer),
            esc(&self.lot)
        );
        let _ = write!(
            s,
            r#"<text x="10" y="14" font-size="13">Wafer {} — lot {} — {} dies</text><g transform="translate(10,24)">"#,
            esc(&self.wafer),
            esc(&self.lot),
            self.dies.len()
        );
        for d in &self.dies {
            let _ = write!(
                s,
                r##"<rect class="die" x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#fff" stroke-width="0.5"><title>({}, {}) bin {}{}</title></rect>"##,
                d.col * CELL,
                d.row * CELL,
                CELL,
                CELL,
                colour(d.hard_bin, d.pass),
                d.x,
                d.y,
                d.hard_bin,
                if d.tests > 1 {
                    format!(", tested {} times", d.tests)
                } else {
                    String::new()
                }
            );
        }
        // The notch, centred under the map.
        let mid = self.columns * CELL / 2;
        let _ = write!(
            s,
            r##"<path d="M{} {} l6 -8 l6 8 z" fill="#555"><title>notch</title></path></g>"##,
            mid.saturating_sub(6),
            map_h + 14
        );
        let lx = self.columns * CELL + 30;
        let _ = write!(
            s,
            r#"<g transform="translate({lx},30)"><text y="0">Hard bin</text>"#
        );
        for (i, b) in self.bins.iter().enumerate() {
            let y = 14 + 18 * i as u32;
            let _ = write!(
                s,
                r#"<rect x="0" y="{}" width="12" height="12" fill="{}"/><text x="18" y="{}">{} {}{} — {} dies</text>"#,
                y - 10,
                colour(b.bin, b.pass),
                y,
                b.bin,
                if b.name.is_empty() {
                    String::new()
                } else {
                    format!("{} ", esc(&b.name))
                },
                if b.pass { "pass" } else { "fail" },
                b.dies
            );
        }
        s.push_str("</g></svg>");
        s
    }

    /// The map as a SEMI E142 substrate map (`MapData`, one bin-code row per map row, two
    /// hexadecimal digits per die, `FF` where there is no die; bins above 254 use four digits).
    pub fn to_e142(&self) -> String {
        let wide = self.bins.iter().any(|b| b.bin >= 255);
        let (digits, null) = if wide { (4, "FFFF") } else { (2, "FF") };
        let mut grid = vec![vec![None; self.columns as usize]; self.rows as usize];
        for d in &self.dies {
            grid[d.row as usize][d.col as usize] = Some(d.hard_bin);
        }
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str("<MapData xmlns=\"urn:semi-org:xsd.E142-1.V1005.SubstrateMap\">\n");
        let _ = writeln!(
            s,
            "  <Layouts>\n    <Layout LayoutId=\"WaferLayout\" DefaultUnits=\"micron\" TopLevel=\"true\">\n      <Dimension X=\"{}\" Y=\"{}\"/>\n    </Layout>\n  </Layouts>",
            self.columns, self.rows
        );
        let _ = writeln!(
            s,
            "  <Substrates>\n    <Substrate SubstrateType=\"Wafer\" SubstrateId=\"{}\">\n      <LotId>{}</LotId>\n    </Substrate>\n  </Substrates>",
            esc(&self.wafer),
            esc(&self.lot)
        );
        let _ = writeln!(
            s,
            "  <SubstrateMaps>\n    <SubstrateMap SubstrateType=\"Wafer\" SubstrateId=\"{}\" LayoutSpecifier=\"WaferLayout\" Orientation=\"0\" OriginLocation=\"UpperLeft\" AxisDirection=\"DownRight\">\n      <Overlay MapName=\"BinMap\" MapVersion=\"1\">\n        <BinCodeMap BinType=\"HexaDecimal\" NullBin=\"{null}\">\n          <BinDefinitions>",
            esc(&self.wafer)
        );
        for b in &self.bins {
            let _ = writeln!(
                s,
                "            <BinDefinition BinCode=\"{:0digits$X}\" BinCount=\"{}\" BinQuality=\"{}\" BinDescription=\"{}\"/>",
                b.bin,
                b.dies,
                if b.pass { "Pass" } else { "Fail" },
                if b.name.is_empty() {
                    format!("hard bin {}", b.bin)
                } else {
                    esc(&b.name)
                }
            );
        }
        s.push_str("          </BinDefinitions>\n");
        for row in &grid {
            s.push_str("          <BinCode>");
            for cell in row {
                match cell {
                    Some(bin) => {
                        let _ = write!(s, "{bin:0digits$X}");
                    }
                    None => s.push_str(null),
                }
            }
            s.push_str("</BinCode>\n");
        }
        s.push_str("        </BinCodeMap>\n      </Overlay>\n    </SubstrateMap>\n  </SubstrateMaps>\n</MapData>\n");
        s
    }
}

/// Dies placed on a normalised grid: (column, row) per die in input order.
struct Placed {
    cells: Vec<(u32, u32)>,
    columns: u32,
    rows: u32,
}

/// Places tester coordinates on screen with the notch (flat) down: X grows right unless the
/// tester says left; Y grows up unless it says down (screen rows grow downwards); then the flat
/// is rotated to the bottom.
fn place_all(orientation: Option<Orientation>, xy: impl Iterator<Item = (i16, i16)>) -> Placed {
    let o = orientation.unwrap_or(Orientation {
        flat: 'D',
        pos_x: 'R',
        pos_y: 'U',
    });
    let place = |x: i16, y: i16| -> (i32, i32) {
        let c = if o.pos_x == 'L' {
            -i32::from(x)
        } else {
            i32::from(x)
        };
        let r = if o.pos_y == 'D' {
            i32::from(y)
        } else {
            -i32::from(y)
        };
        match o.flat {
            'U' => (-c, -r),
            'L' => (r, -c),
            'R' => (-r, c),
            _ => (c, r),
        }
    };
    let placed: Vec<(i32, i32)> = xy.map(|(x, y)| place(x, y)).collect();
    let min_c = placed.iter().map(|p| p.0).min().unwrap_or(0);
    let min_r = placed.iter().map(|p| p.1).min().unwrap_or(0);
    let max_c = placed.iter().map(|p| p.0).max().unwrap_or(-1);
    let max_r = placed.iter().map(|p| p.1).max().unwrap_or(-1);
    Placed {
        cells: placed
            .iter()
            .map(|&(c, r)| ((c - min_c) as u32, (r - min_r) as u32))
            .collect(),
        columns: (max_c - min_c + 1).max(0) as u32,
        rows: (max_r - min_r + 1).max(0) as u32,
    }
}

/// One die position of a lot's stacked map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StackedSite {
    /// Tester X.
    pub x: i16,
    /// Tester Y.
    pub y: i16,
    /// Column on the normalised map.
    pub col: u32,
    /// Row on the normalised map.
    pub row: u32,
    /// Wafers with a die tested here.
    pub tested: u32,
    /// Wafers whose die here passed at its final test.
    pub passed: u32,
}

/// A lot's stacked (composite) map: per die position, how many wafers' dies passed — the view
/// that shows a systematic (reticle or process) signature behind random defects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StackedMap {
    /// Lot id.
    pub lot: String,
    /// Wafers stacked.
    pub wafers: u32,
    /// Columns of the normalised map.
    pub columns: u32,
    /// Rows.
    pub rows: u32,
    /// Every die position any wafer has.
    pub sites: Vec<StackedSite>,
}

impl StackedMap {
    /// Stacks `wafers` (all with the lot's orientation); `table` decides pass/fail.
    pub fn build<'a>(
        lot: &str,
        orientation: Option<Orientation>,
        wafers: impl IntoIterator<Item = &'a WaferSummary>,
        table: &BinTable,
    ) -> StackedMap {
        let mut at: BTreeMap<(i16, i16), (u32, u32)> = BTreeMap::new();
        let mut count = 0;
        for w in wafers {
            count += 1;
            for d in &w.dies {
                let e = at.entry((d.x, d.y)).or_default();
                e.0 += 1;
                e.1 += u32::from(table.passes(&d.last));
            }
        }
        let placed = place_all(orientation, at.keys().copied());
        StackedMap {
            lot: lot.to_string(),
            wafers: count,
            columns: placed.columns,
            rows: placed.rows,
            sites: at
                .iter()
                .zip(&placed.cells)
                .map(|(((x, y), (tested, passed)), &(col, row))| StackedSite {
                    x: *x,
                    y: *y,
                    col,
                    row,
                    tested: *tested,
                    passed: *passed,
                })
                .collect(),
        }
    }

    /// The stacked map as SVG: each position shaded from red (no wafer passed) to green (all
    /// passed), with its count, notch at the bottom.
    pub fn to_svg(&self) -> String {
        const CELL: u32 = 10;
        let width = self.columns * CELL + 200;
        let map_h = self.rows * CELL;
        let height = map_h + 60;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11"><title>Lot {}: stacked map of {} wafers, notch down</title><text x="10" y="14" font-size="13">Lot {} — {} wafers stacked</text><g transform="translate(10,24)">"#,
            esc(&self.lot),
            self.wafers,
            esc(&self.lot),
            self.wafers
        );
        for site in &self.sites {
            let share = if site.tested > 0 {
                f64::from(site.passed) / f64::from(site.tested)
            } else {
                0.0
            };
            let (r, g) = ((200.0 * (1.0 - share)) as u8, (160.0 * share) as u8 + 40);
            let _ = write!(
                s,
                r##"<rect class="site" x="{}" y="{}" width="{CELL}" height="{CELL}" fill="#{r:02x}{g:02x}40" stroke="#fff" stroke-width="0.5"><title>({}, {}) {} of {} passed</title></rect>"##,
                site.col * CELL,
                site.row * CELL,
                site.x,
                site.y,
                site.passed,
                site.tested
            );
        }
        let mid = self.columns * CELL / 2;
        let _ = write!(
            s,
            r##"<path d="M{} {} l6 -8 l6 8 z" fill="#555"><title>notch</title></path></g><g transform="translate({},30)"><rect x="0" y="-10" width="12" height="12" fill="#28c840"/><text x="18" y="0">every wafer passed</text><rect x="0" y="8" width="12" height="12" fill="#c82840"/><text x="18" y="18">no wafer passed</text></g></svg>"##,
            mid.saturating_sub(6),
            map_h + 14,
            self.columns * CELL + 30
        );
        s
    }
}

/// Escapes text for XML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yields::PartResult;

    fn summary(parts: &[PartResult]) -> WaferSummary {
        let mut w = WaferSummary::default();
        w.add(parts);
        w
    }

    fn part(x: i16, y: i16, bin: u16, failed: bool) -> PartResult {
        PartResult {
            wafer: "W1".into(),
            x,
            y,
            site: 0,
            hard_bin: bin,
            soft_bin: bin,
            failed_flag: failed,
            flag_invalid: false,
            test_time_ms: 1,
            part_id: String::new(),
        }
    }

    #[test]
    fn final_results_placed_notch_down() {
        let parts = [
            part(0, 0, 5, true),
            part(0, 0, 1, false), // retest passes
            part(1, 0, 1, false),
            part(0, 1, 7, true),
        ];
        let flag = BinTable::default();
        let none = BTreeMap::new();
        let up = Orientation {
            flat: 'D',
            pos_x: 'R',
            pos_y: 'U',
        };
        let m = WaferMap::build("W1", "L", Some(up), &summary(&parts), &flag, &none);
        assert_eq!((m.columns, m.rows, m.dies.len()), (2, 2, 3));
        let die = |x, y| m.dies.iter().find(|d| d.x == x && d.y == y).unwrap();
        assert_eq!(
            (die(0, 0).hard_bin, die(0, 0).tests, die(0, 0).pass),
            (1, 2, true)
        );
        // Y up: (0,1) is on the top row; X right: (1,0) in the right column.
        assert_eq!((die(0, 1).col, die(0, 1).row), (0, 0));
        assert_eq!((die(1, 0).col, die(1, 0).row), (1, 1));
        assert_eq!(
            m.bins,
            vec![
                BinCount {
                    bin: 1,
                    dies: 2,
                    pass: true,
                    name: String::new(),
                    colour: None
                },
                BinCount {
                    bin: 7,
                    dies: 1,
                    pass: false,
                    name: String::new(),
                    colour: None
                }
            ]
        );
        // Tested with the flat up: turned half a turn.
        let flat_up = Orientation { flat: 'U', ..up };
        let turned = WaferMap::build("W1", "L", Some(flat_up), &summary(&parts), &flag, &none);
        let t = |x, y| turned.dies.iter().find(|d| d.x == x && d.y == y).unwrap();
        assert_eq!((t(0, 1).col, t(0, 1).row), (1, 1));
        assert_eq!((t(1, 0).col, t(1, 0).row), (0, 0));
    }

    #[test]
    fn svg_and_e142_hold_every_die() {
        let parts = [
            part(0, 0, 1, false),
            part(1, 0, 300, true),
            part(3, 2, 1, false),
        ];
        let m = WaferMap::build(
            "W<1>",
            "L&1",
            None,
            &summary(&parts),
            &BinTable::default(),
            &BTreeMap::from([(300, "OPEN <short>".to_string())]),
        );
        let svg = m.to_svg();
        assert_eq!(svg.matches("class=\"die\"").count(), 3);
        assert!(svg.contains("W&lt;1&gt;") && svg.ends_with("</svg>"));
        assert!(svg.contains("300 OPEN &lt;short&gt; fail"), "{svg}");
        let xml = m.to_e142();
        // Bin 300 needs four hex digits: 012C.
        assert!(
            xml.contains("BinCode=\"012C\"") && xml.contains("NullBin=\"FFFF\""),
            "{xml}"
        );
        let rows: Vec<&str> = xml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("<BinCode>"))
            .map(|l| l.trim_end_matches("</BinCode>"))
            .collect();
        assert_eq!(rows.len(), m.rows as usize);
        let dies: usize = rows
            .iter()
            .map(|r| {
                (0..r.len() / 4)
                    .filter(|i| &r[i * 4..i * 4 + 4] != "FFFF")
                    .count()
            })
            .sum();
        assert_eq!(dies, 3);
    }

    #[test]
    fn a_stacked_map_counts_passing_wafers_per_position() {
        let a = summary(&[part(0, 0, 1, false), part(1, 0, 5, true)]);
        let b = summary(&[
            part(0, 0, 1, false),
            part(1, 0, 1, false),
            part(2, 0, 1, false),
        ]);
        let m = StackedMap::build("L", None, [&a, &b], &BinTable::default());
        let at = |x| m.sites.iter().find(|s| s.x == x).unwrap();
        assert_eq!((m.wafers, m.columns, m.rows), (2, 3, 1));
        assert_eq!((at(0).tested, at(0).passed), (2, 2));
        assert_eq!((at(1).tested, at(1).passed), (2, 1));
        assert_eq!((at(2).tested, at(2).passed), (1, 1));
        assert_eq!(m.to_svg().matches("class=\"site\"").count(), 3);
    }
}
