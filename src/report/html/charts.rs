//! The page's charts: inline SVG, one point per run with its run in a `<title>` (the
//! browser's tooltip), axes with ticks and titles. No script: what a point says is in the
//! markup, so it prints and reads the same everywhere.

use super::{esc, span};

/// One chart's frame.
pub(super) struct Chart<'a> {
    /// The class of every point (`lag-point`, `duration-point`), besides `ok` or `failed`
    /// (the run's result) and `unknown` (no value).
    pub class: &'a str,
    pub caption: &'a str,
    pub y_title: &'a str,
    /// The span the chart may cover (Unix seconds): points before `from` are not drawn.
    pub from: i64,
    pub to: i64,
}

/// One run.
pub(super) struct Point {
    pub t: i64,
    /// Seconds; None when unknown (drawn hollow on the base line, still one point per run).
    pub v: Option<i64>,
    pub failed: bool,
    pub title: String,
}

const W: f64 = 720.0;
const H: f64 = 250.0;
const LEFT: f64 = 66.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 48.0;
/// A chart never spans less: runs a few seconds apart would sit on the frame's edges.
const MIN_SPAN: i64 = 120;

/// Tick steps of the value axis, in seconds: round durations.
const STEPS: [i64; 22] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 432000, 864000, 2592000,
];

/// Up to 4 round steps from 0 that hold `max`: (step, how many).
fn value_ticks(max: i64) -> (i64, i64) {
    // A century: beyond it a value is a broken date, and the sums below stay in range.
    let max = max.clamp(1, 100 * 366 * 86400);
    for step in STEPS {
        let n = (max + step - 1) / step;
        if n <= 4 {
            return (step, n.max(1));
        }
    }
    let step = (max + 3) / 4;
    (step, 4)
}

fn fmt(t: i64, description: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(description).ok())
        .unwrap_or_default()
}

/// The label of a time tick: the day over spans of days, the minute or second below.
fn time_label(t: i64, span: i64) -> String {
    if span >= 3 * 86400 {
        fmt(t, time::macros::format_description!("[month]-[day]"))
    } else if span >= 2 * 86400 {
        fmt(
            t,
            time::macros::format_description!("[month]-[day] [hour]h"),
        )
    } else if span >= 2 * 3600 {
        fmt(t, time::macros::format_description!("[hour]:[minute]"))
    } else {
        fmt(
            t,
            time::macros::format_description!("[hour]:[minute]:[second]"),
        )
    }
}

pub(super) fn chart(c: &Chart, points: &[Point]) -> String {
    let mut pts: Vec<&Point> = points.iter().filter(|p| p.t >= c.from).collect();
    pts.sort_by_key(|p| p.t);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let mut s = format!(
        "<figure>\n<figcaption>{cap}</figcaption>\n<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{cap}\">\n<title>{cap}</title>\n",
        cap = esc(c.caption)
    );
    let base = TOP + ph;
    s.push_str(&format!(
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\"/>\n\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\n\
         <text class=\"title\" transform=\"rotate(-90)\" x=\"{}\" y=\"14\" text-anchor=\"middle\">{}</text>\n\
         <text class=\"title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">when the run ended (UTC)</text>\n",
        LEFT + pw,
        -(TOP + ph / 2.0),
        esc(c.y_title),
        LEFT + pw / 2.0,
        H - 6.0
    ));
    if pts.is_empty() {
        s.push_str(&format!(
            "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no run in these two weeks</text>\n</svg>\n</figure>\n",
            LEFT + pw / 2.0,
            TOP + ph / 2.0
        ));
        return s;
    }
    // Time axis: the runs' own span, padded, at least MIN_SPAN, ending no later than `to`
    // unless a run ended later (a clock that moved).
    let first = pts[0].t;
    let last = pts[pts.len() - 1].t.max(c.to);
    let span_t = (last - first).max(MIN_SPAN);
    let pad = span_t / 20;
    let (lo, hi) = (last - span_t - pad, last + pad);
    let x = |t: i64| LEFT + (t - lo) as f64 / (hi - lo) as f64 * pw;
    for k in 0..=4 {
        let t = lo + (hi - lo) * k / 4;
        let xt = x(t);
        // The outer labels lean inwards: centred, they would stick out of the frame.
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        s.push_str(&format!(
            "<line class=\"axis\" x1=\"{xt:.1}\" y1=\"{base}\" x2=\"{xt:.1}\" y2=\"{}\"/>\n\
             <text x=\"{xt:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>\n",
            base + 5.0,
            base + 18.0,
            esc(&time_label(t, hi - lo))
        ));
    }
    // Value axis: from 0 to a round value above the largest; a negative value (clocks
    // apart) sits on 0, its title says it.
    let max = pts.iter().filter_map(|p| p.v).max().unwrap_or(0);
    let (step, n) = value_ticks(max);
    let top = step * n;
    let y = |v: i64| base - v.clamp(0, top) as f64 / top as f64 * ph;
    for k in 0..=n {
        let yv = y(k * step);
        s.push_str(&format!(
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yv:.1}\" x2=\"{}\" y2=\"{yv:.1}\"/>\n\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            LEFT + pw,
            LEFT - 6.0,
            yv + 4.0,
            span(k * step)
        ));
    }
    let line: Vec<String> = pts
        .iter()
        .filter_map(|p| p.v.map(|v| format!("{:.1},{:.1}", x(p.t), y(v))))
        .collect();
    if line.len() > 1 {
        s.push_str(&format!(
            "<polyline class=\"line\" points=\"{}\"/>\n",
            line.join(" ")
        ));
    }
    for p in &pts {
        let (cx, cy) = (x(p.t), p.v.map_or(base, y));
        let state = match (p.failed, p.v) {
            (false, Some(_)) => "ok",
            (true, Some(_)) => "failed",
            (false, None) => "ok unknown",
            (true, None) => "failed unknown",
        };
        let r = if p.failed { 6.0 } else { 4.5 };
        s.push_str(&format!(
            "<circle class=\"{} {state}\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r}\"><title>{}</title></circle>\n",
            c.class,
            esc(&p.title)
        ));
        if p.failed {
            // The cross tells a failed run from a good one without its colour.
            let d = 3.2;
            s.push_str(&format!(
                "<path class=\"cross\" aria-hidden=\"true\" d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\"/>\n",
                cx - d, cy - d, cx + d, cy + d, cx - d, cy + d, cx + d, cy - d
            ));
        }
    }
    s.push_str("</svg>\n</figure>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ticks_are_round_and_hold_the_largest() {
        assert_eq!(value_ticks(0), (1, 1));
        assert_eq!(value_ticks(7), (2, 4));
        assert_eq!(value_ticks(100), (30, 4));
        assert_eq!(value_ticks(3 * 3600 + 1), (3600, 4));
        assert_eq!(value_ticks(100 * 86400), (2592000, 4));
        let (step, n) = value_ticks(i64::MAX);
        assert!(step * n >= 100 * 366 * 86400);
    }
}
