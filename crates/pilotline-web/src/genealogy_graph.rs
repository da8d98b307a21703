//! A lot family's genealogy as an SVG graph: one lane per lot (in the order the lots appear in
//! the family's history), one arrow per split or merge at its place in time, every lot a link
//! to its page. Splits and merges can point both ways between two lots (a child split off and
//! merged back), so the picture is lanes against time rather than a tree.

use maud::{Markup, html};
use pilotline_app::{Genealogy, GenealogyLink};

const W: f64 = 760.0;
const LABEL: f64 = 150.0;
const RIGHT: f64 = 24.0;
const LANE: f64 = 34.0;
const TOP: f64 = 14.0;
/// Families larger than this are shown as the list alone: a graph of them would not be read.
pub const MAX_LINKS: usize = 120;

/// The texts the graph needs, in the viewer's language.
pub struct Words<'a> {
    /// Its title.
    pub title: &'a str,
    /// Its text alternative (what it shows, in a sentence).
    pub description: &'a str,
    /// One link's tooltip (its kind, wafers and time, in the viewer's words).
    pub link: &'a dyn Fn(&GenealogyLink) -> String,
}

/// The lane of `lot`, added below the others when it has none yet.
fn lane_of<'g>(lot: &'g str, lanes: &mut Vec<&'g str>) -> usize {
    match lanes.iter().position(|l| *l == lot) {
        Some(i) => i,
        None => {
            lanes.push(lot);
            lanes.len() - 1
        }
    }
}

/// The family of `g` as lanes and arrows; `None` when there is nothing to draw (no link) or
/// too much to draw (more than [`MAX_LINKS`]).
pub fn graph(g: &Genealogy, words: &Words<'_>) -> Option<Markup> {
    if g.links.is_empty() || g.links.len() > MAX_LINKS {
        return None;
    }
    let mut lanes: Vec<&str> = Vec::new();
    let mut arrows = Vec::with_capacity(g.links.len());
    for l in &g.links {
        let from = lane_of(&l.from_lot, &mut lanes);
        let to = lane_of(&l.to_lot, &mut lanes);
        arrows.push((from, to, l));
    }
    if !lanes.contains(&g.lot.as_str()) {
        lanes.push(&g.lot);
    }
    let n = arrows.len() as f64;
    let x = |i: usize| LABEL + (W - LABEL - RIGHT) * (i as f64 + 0.5) / n;
    let y = |lane: usize| TOP + LANE * lane as f64 + LANE / 2.0;
    // A lot's lane starts at the split that made it; the family's roots run from the left edge.
    let start = |lane: usize| match arrows
        .iter()
        .enumerate()
        .find(|(_, (f, t, _))| *f == lane || *t == lane)
    {
        Some((i, (_, t, l))) if *t == lane && l.kind == "split" => x(i),
        _ => LABEL,
    };
    let height = TOP * 2.0 + LANE * lanes.len() as f64;
    Some(html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {height}")) role="img"
            aria-label=(format!("{}. {}", words.title, words.description)) width=(W) height=(height) class="genealogy" {
            title { (words.title) }
            desc { (words.description) }
            defs {
                marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" fill="#1b1f24" {}
                }
            }
            @for (i, lot) in lanes.iter().enumerate() {
                @let asked = *lot == g.lot;
                line x1=(start(i)) y1=(y(i)) x2=(W - RIGHT) y2=(y(i))
                    stroke=(if asked { "#0b5cad" } else { "#8c959f" }) stroke-width=(if asked { 4 } else { 2 }) {}
                a href=(format!("/ui/lots/{lot}")) {
                    text x=(LABEL - 8.0) y=(y(i) + 4.0) font-size="13" text-anchor="end"
                        font-weight=(if asked { "700" } else { "400" }) fill="#0b5cad" {
                        title { (lot) }
                        (lot)
                    }
                }
            }
            @for (i, (from, to, l)) in arrows.iter().enumerate() {
                @let colour = if l.kind == "merge" { "#6e40c9" } else { "#1a7f37" };
                @let (y1, y2) = (y(*from), y(*to));
                @let dir = if y2 >= y1 { 1.0 } else { -1.0 };
                g {
                    title { ((words.link)(l)) }
                    circle cx=(x(i)) cy=(y1) r="4" fill=(colour) {}
                    line x1=(x(i)) y1=(y1) x2=(x(i)) y2=(y2 - dir * 6.0) stroke=(colour) stroke-width="2" marker-end="url(#arrow)" {}
                    text x=(x(i) + 5.0) y=((y1 + y2) / 2.0 + 4.0) font-size="11" fill=(colour) { (l.wafers.len()) }
                }
            }
        }
    })
}
