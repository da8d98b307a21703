//! The reticle and wafer layout of a shuttle: the confirmed designs placed in the stepper
//! field, the line's test structures reserved, and the field stepped over the wafer.
//!
//! **Slots** are placed on the field's grid as an open slot-grid placer does: the line's test
//! structures first, then the designs largest first (ties in booking order), each at the first
//! free spot scanning rows from the bottom, columns from the left. **Area** bookings are packed
//! in the part of the field the slots leave (above their rows): shelves, tallest first, each
//! design with its seal ring and a scribe street around it — a *proposal* an engineer approves.
//!
//! **Stepping**: the field is repeated over the wafer on a grid whose origin is tried at the
//! wafer's centre and half a field off it in x and y; the grid that yields most design dies is
//! kept. A die counts when its four corners lie within the usable radius (the wafer less its
//! edge exclusion) and above the flat, if the wafer has one.
//!
//! **Die coordinates**, as probe files give them: within a field, the distinct left edges of
//! the placed dies are its site columns and the distinct bottom edges its site rows; a die's
//! `x` is `field column × site columns + site column` counted from the wafer's leftmost field,
//! `y` likewise from the bottom.

use pilotline_domain::{Code, Refusal};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

use crate::line::{Field, LineConfig, Orientation, Um};
use crate::offer::{Offer, Space, cell};

/// A design to place: a booking holding space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The booking.
    pub booking: String,
    /// Its tenant.
    pub tenant: String,
    /// What it booked.
    pub space: Space,
}

/// What occupies a place in the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Occupant {
    /// A booking's design.
    Design {
        /// The booking.
        booking: String,
        /// Its tenant.
        tenant: String,
    },
    /// One of the line's test structures.
    TestStructure {
        /// Its name.
        name: String,
    },
    /// Another tenant's design, as a tenant's view shows it: neither booking nor tenant.
    Other,
}

impl Occupant {
    /// The booking, for a design.
    pub fn booking(&self) -> Option<&str> {
        match self {
            Occupant::Design { booking, .. } => Some(booking),
            Occupant::TestStructure { .. } | Occupant::Other => None,
        }
    }
    /// The tenant, for a design.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Occupant::Design { tenant, .. } => Some(tenant),
            Occupant::TestStructure { .. } | Occupant::Other => None,
        }
    }
}

/// A die's place in the field (lower-left corner, µm from the field's lower-left; the die
/// includes its seal ring; the scribe street lies outside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Placement {
    /// Who.
    pub occupant: Occupant,
    /// Left edge, µm.
    pub x_um: Um,
    /// Bottom edge, µm.
    pub y_um: Um,
    /// Width, µm.
    pub width_um: Um,
    /// Height, µm.
    pub height_um: Um,
    /// Site column within the field.
    pub site_col: u32,
    /// Site row within the field.
    pub site_row: u32,
}

/// A field's place on the wafer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldPos {
    /// Field column, from the wafer's leftmost field with a die.
    pub col: u32,
    /// Field row, from the bottom.
    pub row: u32,
    /// Left edge, µm from the wafer's centre.
    pub x_um: Um,
    /// Bottom edge, µm from the wafer's centre.
    pub y_um: Um,
}

/// A die on the wafer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Die {
    /// Die x, as probe files give it.
    pub x: i32,
    /// Die y.
    pub y: i32,
    /// Index into the layout's placements.
    pub placement: usize,
}

/// Dies per design per wafer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookingDies {
    /// The booking.
    pub booking: String,
    /// Its tenant.
    pub tenant: String,
    /// Places in one field.
    pub per_field: u32,
    /// Whole dies on one wafer.
    pub per_wafer: u32,
}

/// A shuttle's layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Layout {
    /// The stepper field.
    pub field: Field,
    /// The wafer's diameter, µm.
    pub wafer_diameter_um: Um,
    /// The usable radius, µm.
    pub usable_radius_um: Um,
    /// Where the flat cuts the wafer (y, µm), if it has one.
    pub flat_y_um: Option<Um>,
    /// Everything placed in the field.
    pub placements: Vec<Placement>,
    /// Site columns per field.
    pub site_columns: u32,
    /// Site rows per field.
    pub site_rows: u32,
    /// Fields with at least one whole die.
    pub fields: Vec<FieldPos>,
    /// Every whole die on a wafer.
    pub dies: Vec<Die>,
    /// Per booking.
    pub bookings: Vec<BookingDies>,
    /// Whether it needs an engineer's approval (area bookings were packed).
    pub needs_approval: bool,
}

fn no_fit(shuttle: &str, reason: String) -> Refusal {
    Code::LayoutDoesNotFit
        .refusal()
        .with("shuttle", shuttle)
        .with("reason", reason)
}

/// Places `requests` (in booking order) on the field and steps it over the wafer.
pub fn compute(
    shuttle: &str,
    line: &LineConfig,
    offer: &Offer,
    requests: &[Request],
) -> Result<Layout, Refusal> {
    let field = line.stepper_field;
    let mut placements: Vec<Placement> = Vec::new();
    let mut area_floor: Um = 0;
    let slots: Vec<&Request> = requests
        .iter()
        .filter(|r| matches!(r.space, Space::Slot { .. }))
        .collect();
    let areas: Vec<&Request> = requests
        .iter()
        .filter(|r| matches!(r.space, Space::Area { .. }))
        .collect();
    let mut tests_placed = false;
    if let Some(menu) = &offer.slots {
        let (cw, ch) = cell(&field, menu);
        let (cols, rows) = (menu.columns as usize, menu.rows as usize);
        let mut used = vec![vec![false; cols]; rows];
        // (cells across, cells up, occupant), test structures first, then largest first.
        let mut items: Vec<(usize, usize, Occupant)> = line
            .test_structures
            .iter()
            .map(|t| {
                (
                    ceil_div(t.width_um, cw) as usize,
                    ceil_div(t.height_um, ch) as usize,
                    Occupant::TestStructure {
                        name: t.name.clone(),
                    },
                )
            })
            .collect();
        let mut designs: Vec<(usize, usize, Occupant)> = Vec::new();
        for r in &slots {
            let Space::Slot { slot } = &r.space else {
                continue;
            };
            let shape = menu.shapes.iter().find(|s| &s.id == slot).ok_or_else(|| {
                no_fit(
                    shuttle,
                    format!(
                        "booking {} names slot {slot}, which the menu lacks",
                        r.booking
                    ),
                )
            })?;
            designs.push((
                shape.columns as usize,
                shape.rows as usize,
                Occupant::Design {
                    booking: r.booking.clone(),
                    tenant: r.tenant.clone(),
                },
            ));
        }
        // A stable sort keeps booking order among equal sizes.
        designs.sort_by_key(|(w, h, _)| std::cmp::Reverse(w * h));
        items.extend(designs);
        for (w, h, occupant) in items {
            let spot = (0..rows.saturating_sub(h - 1))
                .flat_map(|r| (0..cols.saturating_sub(w - 1)).map(move |c| (r, c)))
                .find(|&(r, c)| (r..r + h).all(|y| (c..c + w).all(|x| !used[y][x])));
            let Some((r, c)) = spot else {
                return Err(no_fit(
                    shuttle,
                    format!("no free {w}×{h} cells for {}", label(&occupant)),
                ));
            };
            for row in used.iter_mut().skip(r).take(h) {
                for u in row.iter_mut().skip(c).take(w) {
                    *u = true;
                }
            }
            let half = offer.scribe_um / 2;
            placements.push(Placement {
                occupant,
                x_um: c as Um * cw + half,
                y_um: r as Um * ch + half,
                width_um: w as Um * cw - offer.scribe_um,
                height_um: h as Um * ch - offer.scribe_um,
                site_col: 0,
                site_row: 0,
            });
            area_floor = area_floor.max((r + h) as Um * ch);
        }
        tests_placed = true;
    }
    let needs_approval = !areas.is_empty();
    if !areas.is_empty() || !tests_placed {
        let mut items: Vec<(Um, Um, Occupant)> = Vec::new();
        if !tests_placed {
            for t in &line.test_structures {
                items.push((
                    t.width_um,
                    t.height_um,
                    Occupant::TestStructure {
                        name: t.name.clone(),
                    },
                ));
            }
        }
        for r in &areas {
            let Space::Area {
                width_um,
                height_um,
            } = r.space
            else {
                continue;
            };
            items.push((
                width_um + 2 * offer.seal_ring_um,
                height_um + 2 * offer.seal_ring_um,
                Occupant::Design {
                    booking: r.booking.clone(),
                    tenant: r.tenant.clone(),
                },
            ));
        }
        placements.extend(pack(shuttle, field, area_floor, offer.scribe_um, items)?);
    }
    number_sites(&mut placements);
    Ok(step(line, placements, needs_approval))
}

fn ceil_div(a: Um, b: Um) -> Um {
    (a + b - 1) / b
}

fn label(o: &Occupant) -> String {
    match o {
        Occupant::Design { booking, .. } => format!("booking {booking}"),
        Occupant::TestStructure { name } => format!("test structure {name}"),
        Occupant::Other => "another design".into(),
    }
}

/// Shelf packing of dies (`w`, `h` with seal ring) into the field above `floor`, each with a
/// scribe street around it; tallest first.
pub fn pack(
    shuttle: &str,
    field: Field,
    floor: Um,
    scribe: Um,
    mut items: Vec<(Um, Um, Occupant)>,
) -> Result<Vec<Placement>, Refusal> {
    items.sort_by_key(|(w, h, _)| (std::cmp::Reverse(*h), std::cmp::Reverse(*w)));
    // Shelves: (bottom, height, used width).
    let mut shelves: Vec<(Um, Um, Um)> = Vec::new();
    let mut out = Vec::new();
    for (w, h, occupant) in items {
        let (fw, fh) = (w + scribe, h + scribe);
        let shelf = shelves
            .iter_mut()
            .find(|(_, height, used)| fh <= *height && *used + fw <= field.width_um);
        let (x, y) = match shelf {
            Some((bottom, _, used)) => {
                let x = *used;
                *used += fw;
                (x, *bottom)
            }
            None => {
                let bottom = shelves.last().map_or(floor, |(b, h, _)| b + h);
                if bottom + fh > field.height_um || fw > field.width_um {
                    return Err(no_fit(
                        shuttle,
                        format!(
                            "{} ({}×{} µm with seal ring and scribe) does not fit the {}×{} µm left in the field",
                            label(&occupant),
                            fw,
                            fh,
                            field.width_um,
                            field.height_um - bottom
                        ),
                    ));
                }
                shelves.push((bottom, fh, fw));
                (0, bottom)
            }
        };
        out.push(Placement {
            occupant,
            x_um: x + scribe / 2,
            y_um: y + scribe / 2,
            width_um: w,
            height_um: h,
            site_col: 0,
            site_row: 0,
        });
    }
    Ok(out)
}

/// Numbers the sites: the rank of each die's left edge among the field's distinct left
/// edges, and of its bottom edge among the bottom edges.
fn number_sites(placements: &mut [Placement]) {
    let xs: BTreeSet<Um> = placements.iter().map(|p| p.x_um).collect();
    let ys: BTreeSet<Um> = placements.iter().map(|p| p.y_um).collect();
    let xr: HashMap<Um, u32> = xs.iter().enumerate().map(|(i, x)| (*x, i as u32)).collect();
    let yr: HashMap<Um, u32> = ys.iter().enumerate().map(|(i, y)| (*y, i as u32)).collect();
    for p in placements {
        p.site_col = xr[&p.x_um];
        p.site_row = yr[&p.y_um];
    }
}

/// A die found on the wafer: field column and row, field origin, placement index.
type Found = (i64, i64, Um, Um, usize);

fn step(line: &LineConfig, placements: Vec<Placement>, needs_approval: bool) -> Layout {
    let field = line.stepper_field;
    let r = line.usable_radius();
    let radius = line.wafer.diameter_um / 2;
    let flat_y = match line.wafer.orientation {
        Orientation::Notch => None,
        Orientation::Flat { length_um } => {
            let half = (length_um / 2) as f64;
            let d = ((radius as f64).powi(2) - half * half).max(0.0).sqrt();
            Some(-(d as Um) + line.wafer.edge_exclusion_um)
        }
    };
    let inside = |x: Um, y: Um| {
        let (x, y) = (i128::from(x), i128::from(y));
        x * x + y * y <= i128::from(r) * i128::from(r) && flat_y.is_none_or(|f| y as Um >= f)
    };
    let die_inside = |fx: Um, fy: Um, p: &Placement| {
        let (x0, y0) = (fx + p.x_um, fy + p.y_um);
        let (x1, y1) = (x0 + p.width_um, y0 + p.height_um);
        inside(x0, y0) && inside(x1, y0) && inside(x0, y1) && inside(x1, y1)
    };
    let n = (radius / field.width_um.min(field.height_um)) + 2;
    let mut best: Option<(usize, Vec<Found>)> = None;
    for (ox, oy) in [
        (0, 0),
        (-field.width_um / 2, 0),
        (0, -field.height_um / 2),
        (-field.width_um / 2, -field.height_um / 2),
    ] {
        let mut found = Vec::new();
        let mut designs = 0;
        for i in -n..=n {
            for j in -n..=n {
                let (fx, fy) = (ox + i * field.width_um, oy + j * field.height_um);
                for (k, p) in placements.iter().enumerate() {
                    if die_inside(fx, fy, p) {
                        found.push((i, j, fx, fy, k));
                        designs += usize::from(p.occupant.booking().is_some());
                    }
                }
            }
        }
        if best.as_ref().is_none_or(|(b, _)| designs > *b) {
            best = Some((designs, found));
        }
    }
    let found = best.map(|(_, f)| f).unwrap_or_default();
    let i0 = found.iter().map(|f| f.0).min().unwrap_or(0);
    let j0 = found.iter().map(|f| f.1).min().unwrap_or(0);
    let cols = placements.iter().map(|p| p.site_col + 1).max().unwrap_or(0);
    let rows = placements.iter().map(|p| p.site_row + 1).max().unwrap_or(0);
    let mut fields: Vec<FieldPos> = found
        .iter()
        .map(|&(i, j, fx, fy, _)| FieldPos {
            col: (i - i0) as u32,
            row: (j - j0) as u32,
            x_um: fx,
            y_um: fy,
        })
        .collect();
    fields.sort_by_key(|f| (f.row, f.col));
    fields.dedup();
    let dies: Vec<Die> = found
        .iter()
        .map(|&(i, j, _, _, k)| Die {
            x: ((i - i0) as u32 * cols + placements[k].site_col) as i32,
            y: ((j - j0) as u32 * rows + placements[k].site_row) as i32,
            placement: k,
        })
        .collect();
    let mut bookings: Vec<BookingDies> = Vec::new();
    for p in &placements {
        if let Occupant::Design { booking, tenant } = &p.occupant {
            match bookings.iter_mut().find(|b| &b.booking == booking) {
                Some(b) => b.per_field += 1,
                None => bookings.push(BookingDies {
                    booking: booking.clone(),
                    tenant: tenant.clone(),
                    per_field: 1,
                    per_wafer: 0,
                }),
            }
        }
    }
    for d in &dies {
        if let Some(b) = placements[d.placement].occupant.booking()
            && let Some(x) = bookings.iter_mut().find(|x| x.booking == b)
        {
            x.per_wafer += 1;
        }
    }
    Layout {
        field,
        wafer_diameter_um: line.wafer.diameter_um,
        usable_radius_um: r,
        flat_y_um: flat_y,
        placements,
        site_columns: cols,
        site_rows: rows,
        fields,
        dies,
        bookings,
        needs_approval,
    }
}

impl Layout {
    /// Who a die at (`x`, `y`) belongs to, as an index: built once, looked up per die.
    pub fn owners(&self) -> HashMap<(i32, i32), &Occupant> {
        self.dies
            .iter()
            .map(|d| ((d.x, d.y), &self.placements[d.placement].occupant))
            .collect()
    }

    /// The layout as tenant `tenant` may see it: its own designs named, every other design
    /// an anonymous [`Occupant::Other`], only its own bookings' counts.
    pub fn masked_for(&self, tenant: &str) -> Layout {
        let mut l = self.clone();
        for p in &mut l.placements {
            if matches!(&p.occupant, Occupant::Design { tenant: t, .. } if t != tenant) {
                p.occupant = Occupant::Other;
            }
        }
        l.bookings.retain(|b| b.tenant == tenant);
        l
    }

    /// The dies per wafer of `booking`.
    pub fn dies_of(&self, booking: &str) -> u32 {
        self.bookings
            .iter()
            .find(|b| b.booking == booking)
            .map_or(0, |b| b.per_wafer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::{TestStructure, WaferSpec};
    use crate::offer::{SlotMenu, SlotShape};
    use proptest::prelude::*;

    fn line(diameter: Um, exclusion: Um) -> LineConfig {
        LineConfig {
            stepper_field: Field {
                width_um: 20_000,
                height_um: 20_000,
            },
            wafer: WaferSpec {
                diameter_um: diameter,
                edge_exclusion_um: exclusion,
                orientation: Orientation::Notch,
            },
            time_zone: "Asia/Shanghai".into(),
            test_structures: vec![TestStructure {
                name: "PCM".into(),
                width_um: 9_000,
                height_um: 9_000,
            }],
        }
    }

    fn grid_offer() -> Offer {
        Offer {
            currency: "CNY".into(),
            seal_ring_um: 0,
            scribe_um: 0,
            slots: Some(SlotMenu {
                columns: 2,
                rows: 2,
                shapes: vec![SlotShape {
                    id: "1x1".into(),
                    columns: 1,
                    rows: 1,
                    count: 3,
                    price_minor: 1,
                    dies_delivered: 1,
                }],
            }),
            area: None,
            options: vec![],
        }
    }

    fn slot(b: &str, t: &str) -> Request {
        Request {
            booking: b.into(),
            tenant: t.into(),
            space: Space::Slot { slot: "1x1".into() },
        }
    }

    /// A 20 mm field in a 2 × 2 grid of 10 mm cells: the test structure takes cell (0,0), then
    /// A, B, C in booking order (1,0), (0,1), (1,1). Stepped over the wafer the dies are the
    /// 10 mm squares of a grid through the wafer's centre. With a 25 mm usable radius a square
    /// counts when its far corner is (10,10) or (10,20) mm away: 12 of the 16 squares of the
    /// central 40 mm, 3 of each cell type. With 29 mm, (20,20) counts too: all 16, 4 each.
    #[test]
    fn dies_per_design_match_the_hand_count() {
        let reqs = [slot("A", "acme"), slot("B", "beta"), slot("C", "gamma")];
        for (diameter, exclusion, each) in [(60_000, 5_000, 3), (60_000, 1_000, 4)] {
            let l = compute("S", &line(diameter, exclusion), &grid_offer(), &reqs).unwrap();
            let cells: Vec<_> = l
                .placements
                .iter()
                .map(|p| (p.x_um, p.y_um, label(&p.occupant)))
                .collect();
            assert_eq!(
                cells,
                vec![
                    (0, 0, "test structure PCM".to_string()),
                    (10_000, 0, "booking A".into()),
                    (0, 10_000, "booking B".into()),
                    (10_000, 10_000, "booking C".into()),
                ]
            );
            for b in ["A", "B", "C"] {
                assert_eq!(
                    l.dies_of(b),
                    each,
                    "booking {b} at {exclusion} µm exclusion"
                );
            }
            assert_eq!(l.dies.len() as u32, 4 * each);
            // Every die has its own coordinates.
            let coords: BTreeSet<_> = l.dies.iter().map(|d| (d.x, d.y)).collect();
            assert_eq!(coords.len(), l.dies.len());
        }
    }

    #[test]
    fn larger_slots_go_first_and_a_full_grid_is_refused() {
        let mut offer = grid_offer();
        offer.slots.as_mut().unwrap().shapes.push(SlotShape {
            id: "2x1".into(),
            columns: 2,
            rows: 1,
            count: 1,
            price_minor: 1,
            dies_delivered: 1,
        });
        let mut cfg = line(200_000, 3_000);
        cfg.test_structures.clear();
        let wide = Request {
            booking: "W".into(),
            tenant: "t".into(),
            space: Space::Slot { slot: "2x1".into() },
        };
        let l = compute("S", &cfg, &offer, &[slot("A", "t"), wide.clone()]).unwrap();
        assert_eq!(l.placements[0].occupant.booking(), Some("W"));
        assert_eq!((l.placements[0].x_um, l.placements[0].y_um), (0, 0));
        assert_eq!((l.placements[1].x_um, l.placements[1].y_um), (0, 10_000));
        let err = compute(
            "S",
            &cfg,
            &offer,
            &[wide.clone(), wide.clone(), slot("A", "t")],
        )
        .unwrap_err();
        assert_eq!(err.code(), Code::LayoutDoesNotFit);
    }

    fn overlaps(a: &Placement, b: &Placement, gap: Um) -> bool {
        a.x_um < b.x_um + b.width_um + gap
            && b.x_um < a.x_um + a.width_um + gap
            && a.y_um < b.y_um + b.height_um + gap
            && b.y_um < a.y_um + a.height_um + gap
    }

    proptest! {
        /// Whatever designs are booked by area, a packing that succeeds never overlaps, keeps
        /// a scribe street between dies, keeps every seal ring and stays in the field.
        #[test]
        fn area_packing_never_overlaps_and_keeps_seal_rings(
            sizes in proptest::collection::vec((200i64..6_000, 200i64..6_000), 1..40),
            seal in 0i64..60,
            scribe in 0i64..200,
        ) {
            let mut offer = grid_offer();
            offer.slots = None;
            offer.seal_ring_um = seal;
            offer.scribe_um = scribe;
            let reqs: Vec<Request> = sizes.iter().enumerate().map(|(i, (w, h))| Request {
                booking: format!("B{i}"),
                tenant: "t".into(),
                space: Space::Area { width_um: *w, height_um: *h },
            }).collect();
            let cfg = line(200_000, 3_000);
            if let Ok(l) = compute("S", &cfg, &offer, &reqs) {
                for (i, a) in l.placements.iter().enumerate() {
                    prop_assert!(a.x_um >= 0 && a.y_um >= 0);
                    prop_assert!(a.x_um + a.width_um <= cfg.stepper_field.width_um);
                    prop_assert!(a.y_um + a.height_um <= cfg.stepper_field.height_um);
                    if let Some(b) = a.occupant.booking() {
                        let k: usize = b[1..].parse().unwrap();
                        prop_assert_eq!(a.width_um, sizes[k].0 + 2 * seal);
                        prop_assert_eq!(a.height_um, sizes[k].1 + 2 * seal);
                    }
                    for b in &l.placements[i + 1..] {
                        prop_assert!(!overlaps(a, b, scribe - 1), "{:?} and {:?}", a, b);
                    }
                }
                prop_assert!(l.needs_approval);
                prop_assert_eq!(l.bookings.len(), reqs.len());
            }
        }
    }
}
