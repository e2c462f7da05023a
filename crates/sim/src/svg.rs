//! Hand-written SVG charts (no JavaScript, readable in any browser): latency percentiles
//! over time for each run and p99 compared across runs, each server's load over time,
//! and share bars. `index.html` shows them all on one page.
//!
//! Only two chart shapes exist — a line chart and a grouped bar chart — so the drawing
//! code stays small; every chart is a function of the [`Report`].

use std::fmt::Write as _;
use std::path::Path;

use crate::report::{write_file, Report};
use crate::SimError;

const W: f64 = 800.0;
const H: f64 = 360.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// Legend entries that fit beside the plot.
const LEGEND_MAX: usize = 16;
/// A generous average glyph width of sans-serif text, in ems: long names (legend
/// entries, bar labels) are measured with it so the SVG grows to hold them.
const GLYPH_EM: f64 = 0.62;
/// Bar labels too wide for their group are turned this many degrees (clockwise).
const LABEL_TURN_DEG: f64 = 30.0;
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One line of a line chart.
struct Series<'a> {
    name: &'a str,
    points: Vec<(f64, f64)>,
}

// === impl Report (charts) ===

impl Report {
    /// Writes every chart and `index.html` into `dir`.
    pub fn write_svgs(&self, dir: &Path) -> Result<(), SimError> {
        let mut files = Vec::new();
        let mut put = |name: String, svg: String| -> Result<(), SimError> {
            write_file(&dir.join(&name), &svg)?;
            files.push(name);
            Ok(())
        };
        put("latency-p99.svg".into(), self.p99_chart())?;
        put("errors.svg".into(), self.errors_chart())?;
        put("share.svg".into(), self.share_chart())?;
        for r in &self.runs {
            put(
                format!("latency-{}.svg", r.name),
                self.latency_chart(&r.name),
            )?;
            put(format!("load-{}.svg", r.name), self.load_chart(&r.name))?;
        }
        let mut html = String::from(
            "<!doctype html>\n<meta charset=\"utf-8\">\n<title>switchyard simulate</title>\n\
             <style>body{font-family:sans-serif;max-width:840px;margin:auto}pre{font-size:11px;overflow-x:auto}img{max-width:100%}</style>\n\
             <h1>switchyard simulate</h1>\n",
        );
        let _ = writeln!(html, "<pre>{}</pre>", escape(&self.table()));
        for f in &files {
            let _ = writeln!(html, "<p><img src=\"{f}\" alt=\"{f}\"></p>");
        }
        write_file(&dir.join("index.html"), &html)
    }

    fn p99_chart(&self) -> String {
        let series = self
            .runs
            .iter()
            .map(|r| Series {
                name: &r.name,
                points: self.over_time(r.window_latency_ms.iter().map(|w| w[2])),
            })
            .collect();
        line_chart("p99 latency over time", "ms", self.duration_s, series)
    }

    fn errors_chart(&self) -> String {
        let per_second = self.duration_s / self.window_starts.len().max(1) as f64;
        let series = self
            .runs
            .iter()
            .map(|r| Series {
                name: &r.name,
                points: self.over_time(r.window_errors.iter().map(|&e| e as f64 / per_second)),
            })
            .collect();
        line_chart(
            "failed requests (dropped + errors) over time",
            "per second",
            self.duration_s,
            series,
        )
    }

    fn latency_chart(&self, run: &str) -> String {
        let r = self.run(run).expect("chart of an existing run");
        let series = ["p50", "p95", "p99"]
            .iter()
            .enumerate()
            .map(|(i, name)| Series {
                name,
                points: self.over_time(r.window_latency_ms.iter().map(|w| w[i])),
            })
            .collect();
        line_chart(
            &format!("{run}: latency percentiles over time"),
            "ms",
            self.duration_s,
            series,
        )
    }

    fn load_chart(&self, run: &str) -> String {
        let r = self.run(run).expect("chart of an existing run");
        let series = self
            .servers
            .iter()
            .zip(&r.window_load)
            .map(|(name, w)| Series {
                name,
                points: self.over_time(w.iter().copied()),
            })
            .collect();
        line_chart(
            &format!("{run}: requests at each server over time"),
            "requests",
            self.duration_s,
            series,
        )
    }

    /// Pairs window values with the middle of their window.
    fn over_time(&self, values: impl Iterator<Item = f64>) -> Vec<(f64, f64)> {
        let half = self.duration_s / self.window_starts.len().max(1) as f64 / 2.0;
        self.window_starts
            .iter()
            .map(|t| t + half)
            .zip(values)
            .collect()
    }

    fn share_chart(&self) -> String {
        let groups: Vec<(&str, &[f64])> = self
            .runs
            .iter()
            .map(|r| (r.name.as_str(), r.share.as_slice()))
            .collect();
        bar_chart("share of attempts per server", &self.servers, &groups)
    }
}

/// A line chart over `[0, x_top]` seconds.
fn line_chart(title: &str, unit: &str, x_top: f64, series: Vec<Series>) -> String {
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let x_step = nice(x_top).0;
    let x_top = if x_top > 0.0 { x_top } else { 1.0 };
    let (y_step, y_top) = nice(y_max);
    let px = |x: f64| LEFT + x / x_top * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / y_top * (H - TOP - BOTTOM);
    let names = series.iter().take(LEGEND_MAX).map(|s| s.name);
    let mut svg = header(title, legend_right(names).max(W), H);
    axes(&mut svg, x_step, x_top, y_step, y_top, "time (s)", unit);
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        );
        if i < LEGEND_MAX {
            legend(&mut svg, i, s.name, color);
        } else if i == LEGEND_MAX {
            legend(
                &mut svg,
                i,
                &format!("… {} more", series.len() - LEGEND_MAX),
                "#ffffff",
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn bar_chart(title: &str, servers: &[String], groups: &[(&str, &[f64])]) -> String {
    let y_max = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .fold(0.0, f64::max)
        * 100.0;
    let (y_step, y_top) = nice(y_max);
    let plot_w = W - LEFT - RIGHT;
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / servers.len().max(1) as f64;
    let py = |y: f64| H - BOTTOM - y / y_top * (H - TOP - BOTTOM);
    // Group labels wider than their group would run into each other: turn them all.
    let label_w = |name: &str| text_width(name, 11.0);
    let turned = groups.iter().any(|g| label_w(g.0) > group_w * 0.95);
    let (sin, cos) = LABEL_TURN_DEG.to_radians().sin_cos();
    let label_at = |g: usize| {
        let x0 = LEFT + g as f64 * group_w + group_w * 0.1;
        if turned {
            (x0 + group_w * 0.4, H - BOTTOM + 12.0)
        } else {
            (x0 + group_w * 0.4, H - BOTTOM + 18.0)
        }
    };
    let (mut width, mut height) = (
        legend_right(servers.iter().take(LEGEND_MAX).map(String::as_str)).max(W),
        H,
    );
    if turned {
        for (g, (name, _)) in groups.iter().enumerate() {
            let (x, y) = label_at(g);
            width = width.max(x + label_w(name) * cos + 8.0);
            height = height.max(y + label_w(name) * sin + 14.0);
        }
    }
    let mut svg = header(title, width.ceil(), height.ceil());
    axes(&mut svg, 0.0, 0.0, y_step, y_top, "", "% of attempts");
    for (g, (name, shares)) in groups.iter().enumerate() {
        let x0 = LEFT + g as f64 * group_w + group_w * 0.1;
        for (s, share) in shares.iter().enumerate() {
            let y = py(share * 100.0);
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: {:.1}%</title></rect>",
                x0 + s as f64 * bar_w,
                bar_w.max(0.5),
                H - BOTTOM - y,
                PALETTE[s % PALETTE.len()],
                escape(name),
                escape(&servers[s]),
                share * 100.0
            );
        }
        let (x, y) = label_at(g);
        if turned {
            let _ = writeln!(
                svg,
                "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"11\" text-anchor=\"start\" \
                 transform=\"rotate({LABEL_TURN_DEG} {x:.1} {y:.1})\">{}</text>",
                escape(name)
            );
        } else {
            let _ = writeln!(
                svg,
                "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                escape(name)
            );
        }
    }
    for (s, name) in servers.iter().enumerate().take(LEGEND_MAX) {
        legend(&mut svg, s, name, PALETTE[s % PALETTE.len()]);
    }
    if servers.len() > LEGEND_MAX {
        let more = format!("… {} more", servers.len() - LEGEND_MAX);
        legend(&mut svg, LEGEND_MAX, &more, "#ffffff");
    }
    svg.push_str("</svg>\n");
    svg
}

/// The SVG element, `width` × `height` (at least `W` × `H`: the plot keeps its place and
/// the extra room holds long legend entries and turned labels).
fn header(title: &str, width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"24\" font-size=\"15\">{}</text>\n",
        escape(title)
    )
}

/// Axes with gridlines; an `x_step` of 0 draws no x ticks (bar charts).
fn axes(
    svg: &mut String,
    x_step: f64,
    x_top: f64,
    y_step: f64,
    y_top: f64,
    x_label: &str,
    y_label: &str,
) {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let py = y0 - y / y_top * (y0 - y1);
        let _ = writeln!(
            svg,
            "<line x1=\"{x0}\" y1=\"{py:.1}\" x2=\"{x1}\" y2=\"{py:.1}\" stroke=\"#e0e0e0\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            py + 4.0,
            tick(y)
        );
        y += y_step;
    }
    if x_step > 0.0 {
        let mut x = 0.0;
        while x <= x_top * 1.000_001 {
            let px = x0 + x / x_top * (x1 - x0);
            let _ = writeln!(
                svg,
                "<text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                y0 + 16.0,
                tick(x)
            );
            x += x_step;
        }
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"black\"/>"
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"black\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
        (x0 + x1) / 2.0,
        H - 10.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">{}</text>",
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(y_label)
    );
}

/// Where legend text starts.
const LEGEND_TEXT_X: f64 = W - RIGHT + 26.0;

/// The right edge of the longest legend entry (the "… N more" line fits any width).
fn legend_right<'a>(names: impl Iterator<Item = &'a str>) -> f64 {
    let widest = names.map(|n| text_width(n, 12.0)).fold(0.0, f64::max);
    (LEGEND_TEXT_X + widest + 8.0).ceil()
}

/// The estimated width of `text` at `size` pixels.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * GLYPH_EM
}

fn legend(svg: &mut String, i: usize, name: &str, color: &str) {
    let y = TOP + 16.0 * i as f64;
    let x = LEGEND_TEXT_X - 14.0;
    let _ = writeln!(
        svg,
        "<rect x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/>",
        y - 9.0
    );
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"12\">{}</text>",
        x + 14.0,
        escape(name)
    );
}

/// A round tick step (1, 2 or 5 times a power of ten) and the axis top it gives.
fn nice(max: f64) -> (f64, f64) {
    if !(max > 0.0 && max.is_finite()) {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    (step, (max / step).ceil() * step)
}

fn tick(v: f64) -> String {
    if v == v.round() {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_owned()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_cover_the_maximum_with_round_numbers() {
        assert_eq!(nice(97.0), (20.0, 100.0));
        assert_eq!(nice(0.3).0, 0.1);
        assert_eq!(nice(0.0), (1.0, 1.0));
        assert_eq!(nice(1234.0), (500.0, 1500.0));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
