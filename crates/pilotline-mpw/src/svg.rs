//! The layout drawn as SVG: the reticle (one field) and the wafer (every field and die). A
//! tenant's view shows its own designs and masks every other design's place.

use std::fmt::Write;

use crate::layout::{Layout, Occupant};

const MASKED: &str = "#d0d0d0";
const TEST: &str = "#7a7a7a";

/// A colour per booking, stable across drawings.
fn colour(booking: &str) -> String {
    let h = booking.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    format!("hsl({}, 62%, 55%)", h % 360)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Whom a drawing is for: everyone's designs, or one tenant's (the rest masked).
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// Platform staff: every design named.
    Staff,
    /// A tenant: its own designs named, the others grey and unnamed.
    Tenant(&'a str),
}

fn fill(o: &Occupant, viewer: Viewer<'_>) -> (String, Option<String>) {
    match o {
        Occupant::TestStructure { name } => (TEST.into(), Some(name.clone())),
        Occupant::Other => (MASKED.into(), None),
        Occupant::Design { booking, tenant } => match viewer {
            Viewer::Tenant(t) if t != tenant => (MASKED.into(), None),
            _ => (colour(booking), Some(booking.clone())),
        },
    }
}

/// The reticle: the field with every placement, labelled.
pub fn reticle(l: &Layout, viewer: Viewer<'_>) -> String {
    let scale = 600.0 / l.field.width_um.max(l.field.height_um) as f64;
    let (w, h) = (
        l.field.width_um as f64 * scale,
        l.field.height_um as f64 * scale,
    );
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.1} {h:.1}" width="{w:.0}" height="{h:.0}" role="img" aria-labelledby="t"><title id="t">Reticle: {} placements in a {}×{} µm field</title><rect x="0" y="0" width="{w:.1}" height="{h:.1}" fill="#fff" stroke="#000"/>"##,
        l.placements.len(),
        l.field.width_um,
        l.field.height_um
    );
    for p in &l.placements {
        let (f, name) = fill(&p.occupant, viewer);
        let x = p.x_um as f64 * scale;
        let y = h - (p.y_um + p.height_um) as f64 * scale;
        let (pw, ph) = (p.width_um as f64 * scale, p.height_um as f64 * scale);
        let _ = write!(
            s,
            r##"<rect x="{x:.2}" y="{y:.2}" width="{pw:.2}" height="{ph:.2}" fill="{f}" stroke="#333" stroke-width="0.5"><title>{}</title></rect>"##,
            escape(name.as_deref().unwrap_or("another design"))
        );
        if let Some(n) = name {
            let _ = write!(
                s,
                r##"<text x="{:.2}" y="{:.2}" font-size="{:.1}" text-anchor="middle" dominant-baseline="middle">{}</text>"##,
                x + pw / 2.0,
                y + ph / 2.0,
                (ph / 4.0).min(pw / 6.0).clamp(4.0, 14.0),
                escape(&n)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The wafer: its edge, the usable circle, every field and every whole die.
pub fn wafer(l: &Layout, viewer: Viewer<'_>) -> String {
    let size = 600.0;
    let scale = size / l.wafer_diameter_um as f64;
    let c = size / 2.0;
    let tx = |x: i64| c + x as f64 * scale;
    let ty = |y: i64| c - y as f64 * scale;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" aria-labelledby="t"><title id="t">Wafer layout: {} fields, {} dies</title><circle cx="{c}" cy="{c}" r="{c}" fill="#f4f4f4" stroke="#000"/><circle cx="{c}" cy="{c}" r="{:.2}" fill="none" stroke="#999" stroke-dasharray="4 3"/>"##,
        l.fields.len(),
        l.dies.len(),
        l.usable_radius_um as f64 * scale
    );
    if let Some(f) = l.flat_y_um {
        let _ = write!(
            s,
            r##"<line x1="0" x2="{size}" y1="{:.2}" y2="{:.2}" stroke="#999"/>"##,
            ty(f),
            ty(f)
        );
    }
    for f in &l.fields {
        let _ = write!(
            s,
            r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="none" stroke="#bbb" stroke-width="0.4"/>"##,
            tx(f.x_um),
            ty(f.y_um + l.field.height_um),
            l.field.width_um as f64 * scale,
            l.field.height_um as f64 * scale
        );
    }
    let by_pos: std::collections::HashMap<(i32, i32), (i64, i64)> = {
        // Die (x, y) → its field's lower-left, from the field grid and the site counts.
        let (cols, rows) = (l.site_columns.max(1) as i32, l.site_rows.max(1) as i32);
        l.fields
            .iter()
            .map(|f| ((f.col as i32 * cols, f.row as i32 * rows), (f.x_um, f.y_um)))
            .collect()
    };
    let (cols, rows) = (l.site_columns.max(1) as i32, l.site_rows.max(1) as i32);
    for d in &l.dies {
        let p = &l.placements[d.placement];
        let Some(&(fx, fy)) = by_pos.get(&((d.x / cols) * cols, (d.y / rows) * rows)) else {
            continue;
        };
        let (f, name) = fill(&p.occupant, viewer);
        let _ = write!(
            s,
            r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{f}"><title>die {},{}{}</title></rect>"##,
            tx(fx + p.x_um),
            ty(fy + p.y_um + p.height_um),
            p.width_um as f64 * scale,
            p.height_um as f64 * scale,
            d.x,
            d.y,
            name.map(|n| format!(": {}", escape(&n)))
                .unwrap_or_default()
        );
    }
    s.push_str("</svg>");
    s
}
