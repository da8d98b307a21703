//! Wafer maps from per-die results: the final bin of every die, placed with the notch (flat)
//! down whatever the tester's orientation, rendered as SVG with a legend or written as a
//! SEMI E142 substrate map.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::stdf::Orientation;
use crate::yields::PartResult;

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
    /// The map of `parts` (one wafer's results in test order); `pass` decides each result.
    pub fn build(
        wafer: &str,
        lot: &str,
        orientation: Option<Orientation>,
        parts: &[PartResult],
        pass: impl Fn(&PartResult) -> bool,
    ) -> WaferMap {
        let mut last: HashMap<(i16, i16), (&PartResult, u32)> = HashMap::new();
        let mut order = Vec::new();
        for p in parts {
            let e = last.entry((p.x, p.y)).or_insert_with(|| {
                order.push((p.x, p.y));
                (p, 0)
            });
            *e = (p, e.1 + 1);
        }
        // Screen coordinates: X grows right unless the tester says left; Y grows up unless it
        // says down (screen rows grow downwards). Then rotate the flat to the bottom.
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
        let placed: Vec<(i32, i32)> = order.iter().map(|&(x, y)| place(x, y)).collect();
        let min_c = placed.iter().map(|p| p.0).min().unwrap_or(0);
        let min_r = placed.iter().map(|p| p.1).min().unwrap_or(0);
        let max_c = placed.iter().map(|p| p.0).max().unwrap_or(-1);
        let max_r = placed.iter().map(|p| p.1).max().unwrap_or(-1);
        let mut bins: BTreeMap<u16, (u32, bool)> = BTreeMap::new();
        let dies: Vec<DieResult> = order
            .iter()
            .zip(&placed)
            .map(|(key, &(c, r))| {
                let (p, tests) = last[key];
                let ok = pass(p);
                let b = bins.entry(p.hard_bin).or_insert((0, ok));
                b.0 += 1;
                DieResult {
                    x: p.x,
                    y: p.y,
                    col: (c - min_c) as u32,
                    row: (r - min_r) as u32,
                    hard_bin: p.hard_bin,
                    soft_bin: p.soft_bin,
                    pass: ok,
                    tests,
                }
            })
            .collect();
        WaferMap {
            wafer: wafer.to_string(),
            lot: lot.to_string(),
            orientation,
            columns: (max_c - min_c + 1).max(0) as u32,
            rows: (max_r - min_r + 1).max(0) as u32,
            dies,
            bins: bins
                .into_iter()
                .map(|(bin, (dies, pass))| BinCount { bin, dies, pass })
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
            if pass {
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
                r#"<rect x="0" y="{}" width="12" height="12" fill="{}"/><text x="18" y="{}">{} {} — {} dies</text>"#,
                y - 10,
                colour(b.bin, b.pass),
                y,
                b.bin,
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
                "            <BinDefinition BinCode=\"{:0digits$X}\" BinCount=\"{}\" BinQuality=\"{}\" BinDescription=\"hard bin {}\"/>",
                b.bin,
                b.dies,
                if b.pass { "Pass" } else { "Fail" },
                b.bin
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
        let pass = |p: &PartResult| !p.failed_flag;
        let up = Orientation {
            flat: 'D',
            pos_x: 'R',
            pos_y: 'U',
        };
        let m = WaferMap::build("W1", "L", Some(up), &parts, pass);
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
                    pass: true
                },
                BinCount {
                    bin: 7,
                    dies: 1,
                    pass: false
                }
            ]
        );
        // Tested with the flat up: turned half a turn.
        let flat_up = Orientation { flat: 'U', ..up };
        let turned = WaferMap::build("W1", "L", Some(flat_up), &parts, pass);
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
        let m = WaferMap::build("W<1>", "L&1", None, &parts, |p| !p.failed_flag);
        let svg = m.to_svg();
        assert_eq!(svg.matches("class=\"die\"").count(), 3);
        assert!(svg.contains("W&lt;1&gt;") && svg.ends_with("</svg>"));
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
}
