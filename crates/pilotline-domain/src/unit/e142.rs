//! A pick list written as a SEMI E142 substrate map, the form a die bonder loads.
//!
//! One `SubstrateMap` per wafer with a `BinCodeMap` overlay named `PickList`: `01` pick, `00`
//! leave, `FF` no die probed there. Rows are written from the top (the highest y) down, so
//! the origin is the upper left; the `ReferenceDevice` names the die coordinates of the first
//! cell, which ties the map to the tester's (and the probe map's) coordinates.

use std::fmt::Write;

use super::pick::PickList;

/// Escapes text for an XML attribute or element.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The pick list as an E142 `MapData` document.
pub fn write(list: &PickList, created: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<MapData xmlns=\"urn:semi-org:xsd.E142-1.V1005.SubstrateMap\">\n");
    out.push_str("  <Layouts>\n");
    for w in &list.wafers {
        let (cols, rows, _, _) = extent(w);
        let _ = writeln!(
            out,
            "    <Layout LayoutId=\"{id}\" DefaultUnits=\"mm\"><Dimension X=\"{cols}\" Y=\"{rows}\"/></Layout>",
            id = xml(&format!("Devices-{}", w.wafer)),
        );
    }
    out.push_str("  </Layouts>\n  <Substrates>\n");
    for w in &list.wafers {
        let _ = writeln!(
            out,
            "    <Substrate SubstrateType=\"Wafer\" SubstrateId=\"{}\"><LotId>{}</LotId><ProductId>{}</ProductId></Substrate>",
            xml(&w.wafer),
            xml(&list.lot),
            xml(&list.product)
        );
    }
    out.push_str("  </Substrates>\n  <SubstrateMaps>\n");
    for w in &list.wafers {
        let (cols, rows, min_x, max_y) = extent(w);
        let _ = writeln!(
            out,
            "    <SubstrateMap SubstrateType=\"Wafer\" SubstrateId=\"{}\" LayoutSpecifier=\"{}\" OriginLocation=\"UpperLeft\" Orientation=\"0\">",
            xml(&w.wafer),
            xml(&format!("Devices-{}", w.wafer))
        );
        let _ = writeln!(
            out,
            "      <Overlay MapName=\"PickList\" MapVersion=\"1\">\n        <ReferenceDevices><ReferenceDevice Name=\"FirstCell\"><Coordinates X=\"{min_x}\" Y=\"{max_y}\"/></ReferenceDevice></ReferenceDevices>"
        );
        let left = w.probed - w.picked;
        let _ = writeln!(
            out,
            "        <BinCodeMap BinType=\"HexaDecimal\" NullBin=\"FF\" MapType=\"2DArray\">\n          <BinDefinitions>\n            <BinDefinition BinCode=\"01\" BinCount=\"{}\" BinQuality=\"Pass\" BinDescription=\"pick\"/>\n            <BinDefinition BinCode=\"00\" BinCount=\"{left}\" BinQuality=\"Fail\" BinDescription=\"leave\"/>\n          </BinDefinitions>",
            w.picked
        );
        let mut grid = vec![vec!["FF"; cols]; rows];
        for p in &w.dies {
            let col = (i32::from(p.die.x) - min_x) as usize;
            let row = (max_y - i32::from(p.die.y)) as usize;
            grid[row][col] = if p.picked { "01" } else { "00" };
        }
        for row in grid {
            let _ = writeln!(out, "          <BinCode>{}</BinCode>", row.concat());
        }
        out.push_str("        </BinCodeMap>\n      </Overlay>\n    </SubstrateMap>\n");
    }
    let _ = writeln!(
        out,
        "  </SubstrateMaps>\n  <!-- written by Pilotline {} -->\n</MapData>",
        created.to_rfc3339()
    );
    out
}

/// Columns, rows, the lowest x and the highest y of a wafer's probed dies.
fn extent(w: &super::pick::WaferPicks) -> (usize, usize, i32, i32) {
    let xs = w.dies.iter().map(|p| i32::from(p.die.x));
    let ys = w.dies.iter().map(|p| i32::from(p.die.y));
    let (min_x, max_x) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(0));
    let (min_y, max_y) = (ys.clone().min().unwrap_or(0), ys.max().unwrap_or(0));
    (
        (max_x - min_x + 1) as usize,
        (max_y - min_y + 1) as usize,
        min_x,
        max_y,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::pick::{ProbeDie, pick_list};

    #[test]
    fn the_pick_list_reads_back_as_an_e142_map_with_one_code_per_die() {
        let dies = [(0, 1, true), (1, 1, false), (0, 0, true), (2, 0, true)]
            .into_iter()
            .map(|(x, y, good)| ProbeDie {
                wafer: "W<1>".into(),
                x,
                y,
                hard_bin: if good { 1 } else { 5 },
                soft_bin: 1,
                good,
                booking: None,
                tenant: None,
            })
            .collect();
        let list = pick_list("A&1", "P", dies, &[]).unwrap();
        let text = write(&list, chrono::Utc::now());
        let doc = roxmltree::Document::parse(&text).unwrap();
        let substrate = doc
            .descendants()
            .find(|n| n.has_tag_name("SubstrateMap"))
            .unwrap();
        assert_eq!(substrate.attribute("SubstrateId"), Some("W<1>"));
        let rows: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("BinCode"))
            .map(|n| n.text().unwrap())
            .collect();
        // Top row (y = 1) first: x = 0 picked, x = 1 left, x = 2 not probed.
        assert_eq!(rows, vec!["0100FF", "01FF01"]);
        let lot = doc.descendants().find(|n| n.has_tag_name("LotId")).unwrap();
        assert_eq!(lot.text(), Some("A&1"));
    }
}
