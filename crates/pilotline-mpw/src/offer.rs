//! What a shuttle sells — a slot menu on the field's grid and/or area by the mm², options —
//! and the quote a start-up sees before it confirms.

use pilotline_domain::{Code, Refusal, check_text, valid_id};
use serde::{Deserialize, Serialize};

use crate::line::{Field, Um};
use crate::phrase::Phrase;

/// Money in the currency's minor unit (cents, fen): exact.
pub type Minor = i64;

/// A slot shape on the field's grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SlotShape {
    /// Id (`1x1`, `2x2`).
    pub id: String,
    /// Grid cells across.
    pub columns: u32,
    /// Grid cells up.
    pub rows: u32,
    /// How many of this shape the shuttle sells.
    pub count: u32,
    /// Price of one slot.
    pub price_minor: Minor,
    /// Dies the customer receives.
    pub dies_delivered: u32,
}

/// Fixed slots on a grid that divides the stepper field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SlotMenu {
    /// Grid columns across the field.
    pub columns: u32,
    /// Grid rows up the field.
    pub rows: u32,
    /// The shapes sold.
    pub shapes: Vec<SlotShape>,
}

/// Area sold by the mm² (CMP's model): the design plus its seal ring is what is charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AreaTerms {
    /// Price of one mm² (design plus seal ring).
    pub price_per_mm2_minor: Minor,
    /// The smallest area charged, µm² (a 1 mm² minimum is 1,000,000).
    pub min_area_um2: i64,
    /// Total area the shuttle sells this way, µm².
    pub capacity_um2: i64,
    /// Dies the customer receives.
    pub dies_delivered: u32,
}

/// An option with its price (dicing, packaging, a full undiced wafer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OptionOffer {
    /// Id (`dicing`, `packaging`, `full_wafer`).
    pub id: String,
    /// Shown to people.
    pub name: String,
    /// Price.
    pub price_minor: Minor,
}

/// What a shuttle sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// ISO 4217 currency of every price (`CNY`, `EUR`).
    pub currency: String,
    /// Seal ring around every design, µm per side.
    pub seal_ring_um: Um,
    /// Scribe street between designs, µm.
    pub scribe_um: Um,
    /// Fixed slots, if sold.
    #[serde(default)]
    pub slots: Option<SlotMenu>,
    /// Area, if sold.
    #[serde(default)]
    pub area: Option<AreaTerms>,
    /// Options.
    #[serde(default)]
    pub options: Vec<OptionOffer>,
}

/// The space a booking asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Space {
    /// One slot of a shape on the menu.
    Slot {
        /// The shape's id.
        slot: String,
    },
    /// A design of this size (without seal ring).
    Area {
        /// Width, µm.
        width_um: Um,
        /// Height, µm.
        height_um: Um,
    },
}

/// A line of a quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuoteLine {
    /// What is charged (`slot:2x2`, `area`, `option:dicing`).
    pub item: String,
    /// Said for people, in English.
    pub description: String,
    /// The same as a key and values, for a front end that speaks the viewer's language.
    #[serde(default)]
    pub phrase: Phrase,
    /// Amount.
    pub amount_minor: Minor,
}

/// The price of a booking, shown before it is confirmed and kept with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quote {
    /// What is booked.
    pub space: Space,
    /// The options chosen.
    pub options: Vec<String>,
    /// The largest design extent (including the seal ring) that fits what is booked, µm.
    pub design_limit: Field,
    /// Seal ring per side, µm.
    pub seal_ring_um: Um,
    /// Area charged, µm² (design plus seal ring, at least the minimum; slots: the slot).
    pub charged_area_um2: i64,
    /// Dies delivered.
    pub dies_delivered: u32,
    /// The lines.
    pub lines: Vec<QuoteLine>,
    /// Sum of the lines.
    pub total_minor: Minor,
    /// Currency.
    pub currency: String,
}

/// Which pool of the shuttle's capacity a booking takes, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `slot:{id}` or `area`.
    pub pool: String,
    /// Slots (1) or µm².
    pub amount: i64,
}

impl Offer {
    /// Refuses an offer that cannot be sold: nothing offered, a shape off the grid, a
    /// negative price, a grid cell smaller than the seal rings.
    pub fn validate(&self, field: &Field) -> Result<(), Refusal> {
        let bad = |what: &str, why: String| {
            Err(Code::DefinitionInvalid
                .refusal()
                .with("what", format!("offer {what}"))
                .with("problems", why))
        };
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return bad("currency", "an ISO 4217 code such as CNY".into());
        }
        if self.slots.is_none() && self.area.is_none() {
            return bad("", "sells neither slots nor area".into());
        }
        if self.seal_ring_um < 0 || self.scribe_um < 0 {
            return bad(
                "seal ring",
                "seal ring and scribe widths are not negative".into(),
            );
        }
        if let Some(menu) = &self.slots {
            if menu.columns == 0 || menu.rows == 0 || menu.columns > 64 || menu.rows > 64 {
                return bad("slots", "the grid has 1-64 columns and rows".into());
            }
            let (cw, ch) = cell(field, menu);
            if cw <= 2 * self.seal_ring_um + self.scribe_um
                || ch <= 2 * self.seal_ring_um + self.scribe_um
            {
                return bad(
                    "slots",
                    format!("a grid cell ({cw}×{ch} µm) leaves no room inside its seal ring"),
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut cells = 0u64;
            for s in &menu.shapes {
                if !valid_id(&s.id) || !seen.insert(s.id.as_str()) {
                    return bad(
                        "slots",
                        format!("shape id {:?} is malformed or repeated", s.id),
                    );
                }
                if s.columns == 0 || s.rows == 0 || s.columns > menu.columns || s.rows > menu.rows {
                    return bad(
                        "slots",
                        format!(
                            "shape {} is off the {}×{} grid",
                            s.id, menu.columns, menu.rows
                        ),
                    );
                }
                if s.price_minor < 0 {
                    return bad("slots", format!("shape {} has a negative price", s.id));
                }
                cells += u64::from(s.columns * s.rows) * u64::from(s.count);
            }
            if menu.shapes.is_empty() {
                return bad("slots", "no shapes".into());
            }
            if cells > u64::from(menu.columns * menu.rows) {
                return bad(
                    "slots",
                    format!(
                        "{cells} cells sold but the grid has {}",
                        menu.columns * menu.rows
                    ),
                );
            }
        }
        if let Some(a) = &self.area {
            let field_area = field.width_um * field.height_um;
            if a.price_per_mm2_minor < 0 || a.min_area_um2 < 0 || a.capacity_um2 <= 0 {
                return bad("area", "prices and areas are positive".into());
            }
            if a.capacity_um2 > field_area {
                return bad(
                    "area",
                    format!(
                        "capacity {} µm² exceeds the field's {field_area} µm²",
                        a.capacity_um2
                    ),
                );
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for o in &self.options {
            if !valid_id(&o.id) || !seen.insert(o.id.as_str()) || o.price_minor < 0 {
                return bad(
                    "options",
                    format!("option {:?} is malformed, repeated or negative", o.id),
                );
            }
            check_text("options.name", &o.name, 200)?;
        }
        Ok(())
    }

    /// The quote for `space` with `options` on shuttle `shuttle` (a refusal names what is not
    /// offered).
    pub fn quote(
        &self,
        shuttle: &str,
        field: &Field,
        space: &Space,
        options: &[String],
    ) -> Result<Quote, Refusal> {
        let mut lines = Vec::new();
        let seal = self.seal_ring_um;
        let (design_limit, charged, dies) = match space {
            Space::Slot { slot } => {
                let menu = self.slots.as_ref().ok_or_else(|| {
                    Code::BookingKindNotOffered
                        .refusal()
                        .with("shuttle", shuttle)
                        .with("kind", "slot")
                })?;
                let shape = menu.shapes.iter().find(|s| &s.id == slot).ok_or_else(|| {
                    Code::SlotShapeUnknown
                        .refusal()
                        .with("shuttle", shuttle)
                        .with("slot", slot)
                        .with(
                            "offered",
                            menu.shapes
                                .iter()
                                .map(|s| s.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        )
                })?;
                let (w, h) = slot_size(field, menu, shape);
                lines.push(QuoteLine {
                    item: format!("slot:{}", shape.id),
                    description: format!(
                        "slot {} ({}×{} cells, {}×{} µm)",
                        shape.id, shape.columns, shape.rows, w, h
                    ),
                    phrase: Phrase::new("quote-slot")
                        .with("slot", &shape.id)
                        .with("columns", shape.columns)
                        .with("rows", shape.rows)
                        .with("width", w)
                        .with("height", h),
                    amount_minor: shape.price_minor,
                });
                // The design with its seal ring must leave the scribe street free.
                let limit = Field {
                    width_um: w - self.scribe_um,
                    height_um: h - self.scribe_um,
                };
                (limit, w * h, shape.dies_delivered)
            }
            Space::Area {
                width_um,
                height_um,
            } => {
                let terms = self.area.as_ref().ok_or_else(|| {
                    Code::BookingKindNotOffered
                        .refusal()
                        .with("shuttle", shuttle)
                        .with("kind", "area")
                })?;
                for (f, v, max) in [
                    (
                        "width_um",
                        *width_um,
                        field.width_um - 2 * seal - self.scribe_um,
                    ),
                    (
                        "height_um",
                        *height_um,
                        field.height_um - 2 * seal - self.scribe_um,
                    ),
                ] {
                    if v <= 0 || v > max {
                        return Err(Code::OutOfRange
                            .refusal()
                            .with("field", f)
                            .with("value", v)
                            .with(
                                "range",
                                format!("1..={max} µm (the field less seal ring and scribe)"),
                            ));
                    }
                }
                let with_ring = (width_um + 2 * seal) * (height_um + 2 * seal);
                let charged = with_ring.max(terms.min_area_um2);
                let amount = (i128::from(charged) * i128::from(terms.price_per_mm2_minor))
                    .div_euclid(1_000_000) as Minor
                    + Minor::from(
                        (i128::from(charged) * i128::from(terms.price_per_mm2_minor)) % 1_000_000
                            != 0,
                    );
                lines.push(QuoteLine {
                    item: "area".into(),
                    description: format!(
                        "{width_um}×{height_um} µm design with {seal} µm seal ring: {} mm² charged",
                        fmt_mm2(charged)
                    ),
                    phrase: Phrase::new("quote-area")
                        .with("width", width_um)
                        .with("height", height_um)
                        .with("seal", seal)
                        .with("charged", fmt_mm2(charged)),
                    amount_minor: amount,
                });
                let limit = Field {
                    width_um: width_um + 2 * seal,
                    height_um: height_um + 2 * seal,
                };
                (limit, charged, terms.dies_delivered)
            }
        };
        let mut chosen: Vec<String> = Vec::new();
        for id in options {
            let o = self.options.iter().find(|o| &o.id == id).ok_or_else(|| {
                Code::OptionUnknown
                    .refusal()
                    .with("shuttle", shuttle)
                    .with("option", id)
                    .with(
                        "offered",
                        self.options
                            .iter()
                            .map(|o| o.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
            })?;
            if chosen.contains(id) {
                continue;
            }
            chosen.push(id.clone());
            lines.push(QuoteLine {
                item: format!("option:{}", o.id),
                description: o.name.clone(),
                phrase: Phrase::new("quote-option").with("name", &o.name),
                amount_minor: o.price_minor,
            });
        }
        Ok(Quote {
            space: space.clone(),
            options: chosen,
            design_limit,
            seal_ring_um: seal,
            charged_area_um2: charged,
            dies_delivered: dies,
            total_minor: lines.iter().map(|l| l.amount_minor).sum(),
            lines,
            currency: self.currency.clone(),
        })
    }

    /// The capacity pools of this offer and their sizes: one per slot shape, one for area.
    pub fn pools(&self) -> Vec<(String, i64)> {
        let mut pools: Vec<(String, i64)> = self
            .slots
            .iter()
            .flat_map(|m| &m.shapes)
            .map(|s| (format!("slot:{}", s.id), i64::from(s.count)))
            .collect();
        if let Some(a) = &self.area {
            pools.push(("area".into(), a.capacity_um2));
        }
        pools
    }
}

impl Quote {
    /// The capacity this booking takes.
    pub fn claim(&self) -> Claim {
        match &self.space {
            Space::Slot { slot } => Claim {
                pool: format!("slot:{slot}"),
                amount: 1,
            },
            Space::Area { .. } => Claim {
                pool: "area".into(),
                amount: self.charged_area_um2,
            },
        }
    }
}

/// A grid cell's size, µm.
pub fn cell(field: &Field, menu: &SlotMenu) -> (Um, Um) {
    (
        field.width_um / Um::from(menu.columns),
        field.height_um / Um::from(menu.rows),
    )
}

/// A slot shape's size, µm.
pub fn slot_size(field: &Field, menu: &SlotMenu, shape: &SlotShape) -> (Um, Um) {
    let (cw, ch) = cell(field, menu);
    (cw * Um::from(shape.columns), ch * Um::from(shape.rows))
}

fn fmt_mm2(um2: i64) -> String {
    format!("{:.3}", um2 as f64 / 1e6)
}

#[cfg(test)]
pub(crate) fn example() -> Offer {
    Offer {
        currency: "CNY".into(),
        seal_ring_um: 20,
        scribe_um: 80,
        slots: Some(SlotMenu {
            columns: 4,
            rows: 4,
            shapes: vec![
                SlotShape {
                    id: "1x1".into(),
                    columns: 1,
                    rows: 1,
                    count: 8,
                    price_minor: 1_000_000,
                    dies_delivered: 40,
                },
                SlotShape {
                    id: "2x2".into(),
                    columns: 2,
                    rows: 2,
                    count: 1,
                    price_minor: 3_500_000,
                    dies_delivered: 40,
                },
            ],
        }),
        area: Some(AreaTerms {
            price_per_mm2_minor: 150_000,
            min_area_um2: 1_000_000,
            capacity_um2: 100_000_000,
            dies_delivered: 25,
        }),
        options: vec![OptionOffer {
            id: "dicing".into(),
            name: "Dicing and sorting of good dies".into(),
            price_minor: 200_000,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field() -> Field {
        crate::line::example().stepper_field
    }

    #[test]
    fn a_slot_quote_is_its_price_plus_options() {
        let q = example()
            .quote(
                "S1",
                &field(),
                &Space::Slot { slot: "2x2".into() },
                &["dicing".into()],
            )
            .unwrap();
        assert_eq!(q.total_minor, 3_700_000);
        assert_eq!(q.lines.len(), 2);
        assert_eq!(
            q.design_limit,
            Field {
                width_um: 9_920,
                height_um: 9_920
            }
        );
        assert_eq!(
            q.claim(),
            Claim {
                pool: "slot:2x2".into(),
                amount: 1
            }
        );
    }

    #[test]
    fn an_area_quote_charges_the_seal_ring_and_the_minimum() {
        let o = example();
        // 2,960 × 1,960 µm + 20 µm ring per side = 3,000 × 2,000 µm = 6 mm² at 1,500.00.
        let q = o
            .quote(
                "S1",
                &field(),
                &Space::Area {
                    width_um: 2_960,
                    height_um: 1_960,
                },
                &[],
            )
            .unwrap();
        assert_eq!(q.charged_area_um2, 6_000_000);
        assert_eq!(q.total_minor, 900_000);
        // A tiny design is charged the 1 mm² minimum.
        let q = o
            .quote(
                "S1",
                &field(),
                &Space::Area {
                    width_um: 100,
                    height_um: 100,
                },
                &[],
            )
            .unwrap();
        assert_eq!(q.charged_area_um2, 1_000_000);
        assert_eq!(q.total_minor, 150_000);
    }

    #[test]
    fn what_is_not_offered_is_refused_by_code() {
        let o = example();
        let code =
            |s: Space, opts: &[String]| o.quote("S1", &field(), &s, opts).unwrap_err().code();
        assert_eq!(
            code(Space::Slot { slot: "9x9".into() }, &[]),
            Code::SlotShapeUnknown
        );
        assert_eq!(
            code(Space::Slot { slot: "1x1".into() }, &["gold".into()]),
            Code::OptionUnknown
        );
        assert_eq!(
            code(
                Space::Area {
                    width_um: 0,
                    height_um: 10
                },
                &[]
            ),
            Code::OutOfRange
        );
        let mut slots_only = o.clone();
        slots_only.area = None;
        assert_eq!(
            slots_only
                .quote(
                    "S1",
                    &field(),
                    &Space::Area {
                        width_um: 10,
                        height_um: 10
                    },
                    &[]
                )
                .unwrap_err()
                .code(),
            Code::BookingKindNotOffered
        );
    }

    #[test]
    fn an_offer_selling_more_cells_than_the_grid_is_refused() {
        let mut o = example();
        assert!(o.validate(&field()).is_ok());
        o.slots.as_mut().unwrap().shapes[0].count = 20;
        assert_eq!(
            o.validate(&field()).unwrap_err().code(),
            Code::DefinitionInvalid
        );
    }
}
