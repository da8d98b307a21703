//! Charts drawn on the server as SVG: control charts, line charts of samples, bar charts (bin
//! Pareto, yield by group) and E10 state timelines. Each has a title and a description (its
//! text alternative), so a screen reader says what it shows; the numbers are in a table beside
//! it on every page that shows one.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// A horizontal line across a chart (a control or specification limit).
pub struct Rule {
    /// Its value.
    pub value: f64,
    /// Its label (`UCL`, `CL`, `LSL`…).
    pub label: String,
    /// The CSS colour.
    pub colour: &'static str,
    /// Dashed (specification) or solid (control).
    pub dashed: bool,
}

/// A series of points in order (x is the index).
pub struct Series<'a> {
    /// The values.
    pub values: &'a [f64],
    /// Indices of the points to mark as signals.
    pub marked: &'a [usize],
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < f64::EPSILON {
        let pad = lo.abs().max(1.0) * 0.05;
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.08;
    (lo - pad, hi + pad)
}

fn label(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// `text` cut to `max` characters (with an ellipsis), for a label that must fit.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// A control or line chart: the series, the limit lines, and marked signals.
pub fn line_chart(title: &str, description: &str, series: &Series<'_>, rules: &[Rule]) -> Markup {
    let (lo, hi) = bounds(
        series
            .values
            .iter()
            .copied()
            .chain(rules.iter().map(|r| r.value)),
    );
    let n = series.values.len().max(2);
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * (i as f64) / ((n - 1) as f64);
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v - lo) / (hi - lo));
    let path: String = series
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
        .collect::<Vec<_>>()
        .join(" ");
    let ticks = 5;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) role="img"
            aria-label=(format!("{title}. {description}")) width=(W) height=(H) {
            title { (title) }
            desc { (description) }
            rect x=(LEFT) y=(TOP) width=(W - LEFT - RIGHT) height=(H - TOP - BOTTOM) fill="#fbfcfd" stroke="#c9d1d9" {}
            @for k in 0..=ticks {
                @let v = lo + (hi - lo) * f64::from(k) / f64::from(ticks);
                line x1=(LEFT - 4.0) x2=(LEFT) y1=(y(v)) y2=(y(v)) stroke="#4a5560" {}
                text x=(LEFT - 6.0) y=(y(v) + 4.0) font-size="11" text-anchor="end" fill="#1b1f24" { (label(v)) }
            }
            @for r in rules {
                line x1=(LEFT) x2=(W - RIGHT) y1=(y(r.value)) y2=(y(r.value)) stroke=(r.colour)
                    stroke-width="1.5" stroke-dasharray=(if r.dashed { "6 4" } else { "none" }) {}
                text x=(W - RIGHT - 2.0) y=(y(r.value) - 3.0) font-size="11" text-anchor="end" fill=(r.colour) {
                    (r.label) " " (label(r.value))
                }
            }
            polyline points=(path) fill="none" stroke="#0b5cad" stroke-width="1.5" {}
            @for (i, v) in series.values.iter().enumerate() {
                @if v.is_finite() {
                    @let signal = series.marked.contains(&i);
                    circle cx=(x(i)) cy=(y(*v)) r=(if signal { 4.5 } else { 2.5 })
                        fill=(if signal { "#b42318" } else { "#0b5cad" }) {}
                }
            }
            text x=(LEFT) y=(H - 10.0) font-size="11" fill="#4a5560" { "1" }
            text x=(W - RIGHT) y=(H - 10.0) font-size="11" text-anchor="end" fill="#4a5560" { (series.values.len()) }
        }
    }
}

/// A horizontal bar chart (a Pareto, yields by group): bars in the order given.
pub fn bar_chart(title: &str, description: &str, bars: &[(String, f64)], unit: &str) -> Markup {
    let row = 22.0;
    let height = TOP + row * bars.len().max(1) as f64 + 8.0;
    // Percentages are drawn against 100 %, other figures against the largest bar.
    let max = if unit == "%" {
        100.0
    } else {
        bars.iter()
            .map(|b| b.1)
            .fold(0.0_f64, f64::max)
            .max(f64::EPSILON)
    };
    let label_w = 180.0;
    let bar_w = W - label_w - 90.0;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {height}")) role="img"
            aria-label=(format!("{title}. {description}")) width=(W) height=(height) {
            title { (title) }
            desc { (description) }
            @for (i, (name, value)) in bars.iter().enumerate() {
                @let top = TOP + row * i as f64;
                text x=(label_w - 6.0) y=(top + 15.0) font-size="12" text-anchor="end" fill="#1b1f24" {
                    title { (name) }
                    (short(name, 22))
                }
                rect x=(label_w) y=(top + 3.0) width=(bar_w * value / max) height=(row - 6.0) fill="#0b5cad" {}
                text x=(label_w + bar_w * value / max + 6.0) y=(top + 15.0) font-size="12" fill="#1b1f24" {
                    @if unit == "%" { (format!("{value:.1}")) } @else { (label(*value)) } (unit)
                }
            }
        }
    }
}

/// One span of an E10 timeline.
pub struct Span {
    /// E10 state name (`productive`…), which picks its colour.
    pub state: String,
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
}

/// The colour of an E10 state.
pub fn e10_colour(state: &str) -> &'static str {
    match state {
        "productive" => "#1a7f37",
        "standby" => "#8a6d00",
        "engineering" => "#0b5cad",
        "scheduled_down" => "#6e40c9",
        "unscheduled_down" => "#b42318",
        _ => "#57606a",
    }
}

/// A tool's states over a window, as coloured spans.
pub fn timeline(
    title: &str,
    description: &str,
    spans: &[Span],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Markup {
    let total = (to - from).num_seconds().max(1) as f64;
    let x =
        |t: DateTime<Utc>| LEFT + (W - LEFT - RIGHT) * ((t - from).num_seconds() as f64 / total);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} 70")) role="img"
            aria-label=(format!("{title}. {description}")) width=(W) height="70" {
            title { (title) }
            desc { (description) }
            @for s in spans {
                rect x=(x(s.from)) y="10" width=((x(s.to) - x(s.from)).max(0.5)) height="30"
                    fill=(e10_colour(&s.state)) {}
            }
            text x=(LEFT) y="60" font-size="11" fill="#4a5560" { (from.format("%m-%d %H:%M")) }
            text x=(W - RIGHT) y="60" font-size="11" text-anchor="end" fill="#4a5560" { (to.format("%m-%d %H:%M")) }
        }
    }
}
