//! Jepsen-style latency timelines as PNG images, with no image library: the picture is drawn
//! into an RGB raster with a built-in 5x7 bitmap font and encoded by hand (signature, `IHDR`,
//! zlib-compressed `IDAT`, `IEND`, each chunk with its CRC-32).
//!
//! One panel per lane (node), stacked vertically: latency on a log10 y axis, time on the x
//! axis, faults as shaded bands behind the operations they overlapped, markers as dashed
//! vertical lines, and a legend at the bottom.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::history::Outcome;

/// One completed operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Invocation time, seconds since the run started.
    pub t: f64,
    /// Latency, ms.
    pub latency_ms: f64,
    /// Which lane (panel) it belongs to: index into [`Timeline::lanes`] (a node).
    pub lane: usize,
    /// How it ended (colour: ok blue, fail red, unknown orange).
    pub outcome: Outcome,
    /// `true` for a write (a filled 3x3 dot), `false` for a read (a 3x3 cross).
    pub write: bool,
}

/// A fault interval, shaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Start, seconds since the run started.
    pub start: f64,
    /// End, seconds since the run started.
    pub end: f64,
    /// Short label drawn at the top of the shaded band, e.g. "kill n3" (clipped to the band
    /// width).
    pub label: String,
    /// The fault's kind, which decides its colour: "kill", "pause", "partition", "clock",
    /// "disk", "rebalance" and "mirror" have fixed colours, any other kind a fallback one.
    pub kind: String,
    /// Lanes it hit; empty means every lane (cluster-wide).
    pub lanes: Vec<usize>,
}

/// The whole picture.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// Drawn at the top.
    pub title: String,
    /// One panel per lane, stacked vertically, each labelled ("n1", "n2", …). With no lanes
    /// there is one unlabelled panel holding every point; at most 64 panels are drawn.
    pub lanes: Vec<String>,
    /// The operations.
    pub points: Vec<Point>,
    /// The faults.
    pub spans: Vec<Span>,
    /// Length of the x axis, seconds (points and spans beyond are clipped). Zero, negative or
    /// not finite: the latest point or span end is used instead.
    pub duration_s: f64,
    /// Vertical dashed marker lines with their labels, e.g. `(62.0, "healed".into())`.
    pub markers: Vec<(f64, String)>,
}

type Rgb = [u8; 3];

const BG: Rgb = [255, 255, 255];
const INK: Rgb = [35, 35, 35];
const MUTED: Rgb = [110, 110, 110];
const GRID: Rgb = [228, 228, 228];
const FRAME: Rgb = [140, 140, 140];
const OK: Rgb = [31, 119, 180];
const FAIL: Rgb = [214, 39, 40];
const UNKNOWN: Rgb = [255, 127, 14];
const FAULTS: [(&str, Rgb); 7] = [
    ("kill", [228, 26, 28]),
    ("pause", [152, 78, 163]),
    ("partition", [230, 171, 2]),
    ("clock", [27, 158, 119]),
    ("disk", [166, 86, 40]),
    ("rebalance", [102, 166, 30]),
    ("mirror", [231, 41, 138]),
];
const FALLBACK: [Rgb; 4] = [
    [117, 112, 179],
    [23, 190, 207],
    [188, 189, 34],
    [127, 127, 127],
];
/// Opacity of a fault band over the panel.
const BAND_ALPHA: f64 = 0.2;

const MIN_WIDTH: u32 = 240;
const MAX_WIDTH: u32 = 8192;
const MARGIN: i64 = 10;
/// Top of the first panel: title, subtitle and the marker-label row above it.
const TOP: i64 = 58;
const GAP: i64 = 12;
/// Below the last panel: tick labels and the axis title.
const AXIS_H: i64 = 34;
const LEGEND_ROW: i64 = 16;
/// Longest lane label drawn, characters.
const LANE_CHARS: i64 = 8;
/// Most panels drawn; lanes beyond are left out (keeps the image a sane size).
const MAX_PANELS: usize = 64;
/// Largest y axis top, as a power of ten (10^7 ms); slower operations are clamped to it.
const MAX_TOP_EXP: i32 = 7;

/// The 5x7 font for ASCII 32..=126: five column bytes per glyph, bit 0 the top row.
#[rustfmt::skip]
const FONT: [u8; 475] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5F, 0x00, 0x00, 0x00, 0x07, 0x00, 0x07, 0x00, // ' ' '!' '"'
    0x14, 0x7F, 0x14, 0x7F, 0x14, 0x24, 0x2A, 0x7F, 0x2A, 0x12, 0x23, 0x13, 0x08, 0x64, 0x62, // '#' '$' '%'
    0x36, 0x49, 0x55, 0x22, 0x50, 0x00, 0x05, 0x03, 0x00, 0x00, 0x00, 0x1C, 0x22, 0x41, 0x00, // '&' "'" '('
    0x00, 0x41, 0x22, 0x1C, 0x00, 0x14, 0x08, 0x3E, 0x08, 0x14, 0x08, 0x08, 0x3E, 0x08, 0x08, // ')' '*' '+'
    0x00, 0x50, 0x30, 0x00, 0x00, 0x08, 0x08, 0x08, 0x08, 0x08, 0x00, 0x60, 0x60, 0x00, 0x00, // ',' '-' '.'
    0x20, 0x10, 0x08, 0x04, 0x02, 0x3E, 0x51, 0x49, 0x45, 0x3E, 0x00, 0x42, 0x7F, 0x40, 0x00, // '/' '0' '1'
    0x42, 0x61, 0x51, 0x49, 0x46, 0x21, 0x41, 0x45, 0x4B, 0x31, 0x18, 0x14, 0x12, 0x7F, 0x10, // '2' '3' '4'
    0x27, 0x45, 0x45, 0x45, 0x39, 0x3C, 0x4A, 0x49, 0x49, 0x30, 0x01, 0x71, 0x09, 0x05, 0x03, // '5' '6' '7'
    0x36, 0x49, 0x49, 0x49, 0x36, 0x06, 0x49, 0x49, 0x29, 0x1E, 0x00, 0x36, 0x36, 0x00, 0x00, // '8' '9' ':'
    0x00, 0x56, 0x36, 0x00, 0x00, 0x08, 0x14, 0x22, 0x41, 0x00, 0x14, 0x14, 0x14, 0x14, 0x14, // ';' '<' '='
    0x00, 0x41, 0x22, 0x14, 0x08, 0x02, 0x01, 0x51, 0x09, 0x06, 0x32, 0x49, 0x79, 0x41, 0x3E, // '>' '?' '@'
    0x7E, 0x11, 0x11, 0x11, 0x7E, 0x7F, 0x49, 0x49, 0x49, 0x36, 0x3E, 0x41, 0x41, 0x41, 0x22, // 'A' 'B' 'C'
    0x7F, 0x41, 0x41, 0x22, 0x1C, 0x7F, 0x49, 0x49, 0x49, 0x41, 0x7F, 0x09, 0x09, 0x09, 0x01, // 'D' 'E' 'F'
    0x3E, 0x41, 0x49, 0x49, 0x7A, 0x7F, 0x08, 0x08, 0x08, 0x7F, 0x00, 0x41, 0x7F, 0x41, 0x00, // 'G' 'H' 'I'
    0x20, 0x40, 0x41, 0x3F, 0x01, 0x7F, 0x08, 0x14, 0x22, 0x41, 0x7F, 0x40, 0x40, 0x40, 0x40, // 'J' 'K' 'L'
    0x7F, 0x02, 0x0C, 0x02, 0x7F, 0x7F, 0x04, 0x08, 0x10, 0x7F, 0x3E, 0x41, 0x41, 0x41, 0x3E, // 'M' 'N' 'O'
    0x7F, 0x09, 0x09, 0x09, 0x06, 0x3E, 0x41, 0x51, 0x21, 0x5E, 0x7F, 0x09, 0x19, 0x29, 0x46, // 'P' 'Q' 'R'
    0x46, 0x49, 0x49, 0x49, 0x31, 0x01, 0x01, 0x7F, 0x01, 0x01, 0x3F, 0x40, 0x40, 0x40, 0x3F, // 'S' 'T' 'U'
    0x1F, 0x20, 0x40, 0x20, 0x1F, 0x3F, 0x40, 0x38, 0x40, 0x3F, 0x63, 0x14, 0x08, 0x14, 0x63, // 'V' 'W' 'X'
    0x07, 0x08, 0x70, 0x08, 0x07, 0x61, 0x51, 0x49, 0x45, 0x43, 0x00, 0x7F, 0x41, 0x41, 0x00, // 'Y' 'Z' '['
    0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x41, 0x41, 0x7F, 0x00, 0x04, 0x02, 0x01, 0x02, 0x04, // '\\' ']' '^'
    0x40, 0x40, 0x40, 0x40, 0x40, 0x00, 0x01, 0x02, 0x04, 0x00, 0x20, 0x54, 0x54, 0x54, 0x78, // '_' '`' 'a'
    0x7F, 0x48, 0x44, 0x44, 0x38, 0x38, 0x44, 0x44, 0x44, 0x20, 0x38, 0x44, 0x44, 0x48, 0x7F, // 'b' 'c' 'd'
    0x38, 0x54, 0x54, 0x54, 0x18, 0x08, 0x7E, 0x09, 0x01, 0x02, 0x0C, 0x52, 0x52, 0x52, 0x3E, // 'e' 'f' 'g'
    0x7F, 0x08, 0x04, 0x04, 0x78, 0x00, 0x44, 0x7D, 0x40, 0x00, 0x20, 0x40, 0x44, 0x3D, 0x00, // 'h' 'i' 'j'
    0x7F, 0x10, 0x28, 0x44, 0x00, 0x00, 0x41, 0x7F, 0x40, 0x00, 0x7C, 0x04, 0x18, 0x04, 0x78, // 'k' 'l' 'm'
    0x7C, 0x08, 0x04, 0x04, 0x78, 0x38, 0x44, 0x44, 0x44, 0x38, 0x7C, 0x14, 0x14, 0x14, 0x08, // 'n' 'o' 'p'
    0x08, 0x14, 0x14, 0x18, 0x7C, 0x7C, 0x08, 0x04, 0x04, 0x08, 0x48, 0x54, 0x54, 0x54, 0x20, // 'q' 'r' 's'
    0x04, 0x3F, 0x44, 0x40, 0x20, 0x3C, 0x40, 0x40, 0x20, 0x7C, 0x1C, 0x20, 0x40, 0x20, 0x1C, // 't' 'u' 'v'
    0x3C, 0x40, 0x30, 0x40, 0x3C, 0x44, 0x28, 0x10, 0x28, 0x44, 0x0C, 0x50, 0x50, 0x50, 0x3C, // 'w' 'x' 'y'
    0x44, 0x64, 0x54, 0x4C, 0x44, 0x00, 0x08, 0x36, 0x41, 0x00, 0x00, 0x00, 0x7F, 0x00, 0x00, // 'z' '{' '|'
    0x00, 0x41, 0x36, 0x08, 0x00, 0x08, 0x04, 0x08, 0x10, 0x08, // '}' '~'
];

/// The colour of a fault kind.
fn fault_colour(kind: &str) -> Rgb {
    let kind = kind.trim().to_ascii_lowercase();
    if let Some((_, c)) = FAULTS.iter().find(|(name, _)| *name == kind) {
        return *c;
    }
    let fnv = |h: u32, b: u8| (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    FALLBACK[kind.bytes().fold(0x811c_9dc5, fnv) as usize % FALLBACK.len()]
}

fn outcome_colour(o: Outcome) -> Rgb {
    match o {
        Outcome::Ok => OK,
        Outcome::Fail => FAIL,
        Outcome::Unknown => UNKNOWN,
    }
}

/// `a` with `alpha` of `b` over it.
fn mix(a: Rgb, b: Rgb, alpha: f64) -> Rgb {
    let f = |x: u8, y: u8| (f64::from(x) * (1.0 - alpha) + f64::from(y) * alpha).round() as u8;
    [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2])]
}

/// Width in pixels of `s` drawn at `scale`.
fn text_width(s: &str, scale: i64) -> i64 {
    (s.chars().count() as i64 * 6 * scale - scale).max(0)
}

/// `s` cut to at most `max` characters.
fn clip_str(s: &str, max: i64) -> String {
    s.chars().take(max.max(0) as usize).collect()
}

/// An RGB raster; drawing outside it is ignored.
struct Canvas {
    w: i64,
    h: i64,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: i64, h: i64) -> Self {
        let px = BG.repeat((w * h) as usize);
        Canvas { w, h, px }
    }

    fn index(&self, x: i64, y: i64) -> Option<usize> {
        (x >= 0 && y >= 0 && x < self.w && y < self.h).then(|| ((y * self.w + x) * 3) as usize)
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if let Some(i) = self.index(x, y) {
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Blends `c` over `[x0, x1) x [y0, y1)` with opacity `alpha`.
    fn blend(&mut self, (x0, y0, x1, y1): (i64, i64, i64, i64), c: Rgb, alpha: f64) {
        for y in y0..y1 {
            for x in x0..x1 {
                if let Some(i) = self.index(x, y) {
                    let old = [self.px[i], self.px[i + 1], self.px[i + 2]];
                    self.px[i..i + 3].copy_from_slice(&mix(old, c, alpha));
                }
            }
        }
    }

    /// Fills `[x0, x1) x [y0, y1)`.
    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        for y in y0.max(0)..y1.min(self.h) {
            for x in x0.max(0)..x1.min(self.w) {
                self.set(x, y, c);
            }
        }
    }

    /// Outlines `[x0, x1) x [y0, y1)`.
    fn frame(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        self.fill(x0, y0, x1, y0 + 1, c);
        self.fill(x0, y1 - 1, x1, y1, c);
        self.fill(x0, y0, x0 + 1, y1, c);
        self.fill(x1 - 1, y0, x1, y1, c);
    }

    /// A dashed vertical line over `[y0, y1)`.
    fn dashed(&mut self, x: i64, y0: i64, y1: i64, c: Rgb) {
        for y in (y0..y1).filter(|y| (y - y0) % 7 < 4) {
            self.set(x, y, c);
        }
    }

    /// Draws `s` with its top left at `(x, y)`, each font pixel `scale` pixels square (7 rows,
    /// 8 with the descender of `g`); characters outside printable ASCII are drawn as `?`.
    fn text(&mut self, x: i64, y: i64, s: &str, c: Rgb, scale: i64) {
        for (i, ch) in s.chars().enumerate() {
            let code = if (' '..='~').contains(&ch) {
                ch as usize
            } else {
                '?' as usize
            } - 32;
            let descends = u32::from(ch == 'g'); // the table's g sits a row high
            for (col, bits) in FONT[code * 5..code * 5 + 5].iter().enumerate() {
                let bits = u16::from(*bits) << descends;
                for row in (0..8).filter(|row| bits >> row & 1 == 1) {
                    let px = x + (i as i64 * 6 + col as i64) * scale;
                    let py = y + row * scale;
                    self.fill(px, py, px + scale, py + scale, c);
                }
            }
        }
    }
}

/// A write is a filled 3x3 dot, a read a 3x3 diagonal cross; only the parts inside `clip`
/// (`[x0, x1) x [y0, y1)`) are drawn.
fn mark(c: &mut Canvas, (x, y): (i64, i64), write: bool, colour: Rgb, clip: (i64, i64, i64, i64)) {
    for (dx, dy) in (-1..=1_i64).flat_map(|dx| (-1..=1_i64).map(move |dy| (dx, dy))) {
        let (px, py) = (x + dx, y + dy);
        let inside = px >= clip.0 && py >= clip.1 && px < clip.2 && py < clip.3;
        if inside && (write || dx.abs() == dy.abs()) {
            c.set(px, py, colour);
        }
    }
}

/// What a legend entry shows next to its label.
#[derive(Debug, Clone, Copy)]
enum Swatch {
    Outcome(Rgb),
    Write,
    Read,
    Fault(Rgb),
    Marker,
}

/// Where everything goes.
struct Layout {
    width: i64,
    height: i64,
    /// The panels' plotting area spans `[x0, x1)` horizontally.
    x0: i64,
    x1: i64,
    panel_h: i64,
    panels: usize,
    /// The timeline has lanes: points and spans go to the panel of their lane.
    laned: bool,
    duration: f64,
    /// The y axis runs from 0.1 ms to 10^top_exp ms.
    top_exp: i32,
    /// Legend entries: position, swatch, label.
    legend: Vec<(i64, i64, Swatch, String)>,
}

impl Layout {
    fn new(t: &Timeline, width: u32) -> Self {
        let width = i64::from(width.clamp(MIN_WIDTH, MAX_WIDTH));
        let panels = t.lanes.len().clamp(1, MAX_PANELS);
        let panel_h = (3600 / panels as i64).clamp(30, 150);
        let finite = t
            .points
            .iter()
            .filter(|p| p.t.is_finite() && p.latency_ms.is_finite());
        let max_ms = finite.map(|p| p.latency_ms).fold(0.0, f64::max);
        let top_exp = if max_ms > 0.0 {
            max_ms.log10().ceil() as i32
        } else {
            3
        };
        let top_exp = top_exp.clamp(3, MAX_TOP_EXP);
        let label_w = t
            .lanes
            .iter()
            .map(|l| text_width(&clip_str(l, LANE_CHARS), 2))
            .max();
        let x0 = MARGIN + label_w.map_or(0, |w| w + 10) + text_width(&ms_label(top_exp), 1) + 6;
        let bottom = TOP + panels as i64 * (panel_h + GAP) - GAP;

        let mut items = vec![
            (Swatch::Outcome(OK), "ok".to_string()),
            (Swatch::Outcome(FAIL), "fail".into()),
            (Swatch::Outcome(UNKNOWN), "unknown".into()),
            (Swatch::Write, "write".into()),
            (Swatch::Read, "read".into()),
        ];
        let mut kinds: Vec<String> = Vec::new();
        for s in &t.spans {
            let key = s.kind.trim().to_ascii_lowercase();
            if !kinds.contains(&key) {
                items.push((
                    Swatch::Fault(fault_colour(&key)),
                    clip_str(s.kind.trim(), 24),
                ));
                kinds.push(key);
            }
        }
        if !t.markers.is_empty() {
            items.push((Swatch::Marker, "marker".into()));
        }
        let (mut x, mut y) = (MARGIN, bottom + AXIS_H + 6);
        let mut legend = Vec::new();
        for (swatch, label) in items {
            let w = 17 + text_width(&label, 1);
            if x > MARGIN && x + w > width - MARGIN {
                (x, y) = (MARGIN, y + LEGEND_ROW);
            }
            legend.push((x, y, swatch, label));
            x += w + 18;
        }
        let (height, x1, laned) = (y + LEGEND_ROW + 6, width - 16, !t.lanes.is_empty());
        let duration = axis_duration(t);
        Layout {
            width,
            height,
            x0,
            x1,
            panel_h,
            panels,
            laned,
            duration,
            top_exp,
            legend,
        }
    }

    /// The rows `[top, bottom)` of a panel.
    fn rows(&self, panel: usize) -> (i64, i64) {
        let top = TOP + panel as i64 * (self.panel_h + GAP);
        (top, top + self.panel_h)
    }

    /// The panel a lane is drawn in.
    fn panel_of(&self, lane: usize) -> Option<usize> {
        if self.laned {
            (lane < self.panels).then_some(lane)
        } else {
            Some(0)
        }
    }

    /// The column of time `t` (seconds), or `None` when off the axis or not finite.
    fn x_of(&self, t: f64) -> Option<i64> {
        let frac = t / self.duration;
        (0.0..=1.0)
            .contains(&frac)
            .then(|| self.x0 + (frac * (self.x1 - self.x0 - 1) as f64).round() as i64)
    }

    /// The row of latency `ms` in `panel`, clamped to the axis.
    fn y_of(&self, panel: usize, ms: f64) -> i64 {
        let hi = f64::from(self.top_exp);
        let v = if ms > 0.0 {
            ms.log10().clamp(-1.0, hi)
        } else {
            -1.0
        };
        let frac = (v + 1.0) / (hi + 1.0);
        self.rows(panel).1 - 1 - (frac * (self.panel_h - 1) as f64).round() as i64
    }
}

/// The length of the x axis: the timeline's duration, else the latest time in it, else 1 s.
fn axis_duration(t: &Timeline) -> f64 {
    if t.duration_s.is_finite() && t.duration_s > 0.0 {
        return t.duration_s;
    }
    let times = t.points.iter().map(|p| p.t);
    let times = times.chain(t.spans.iter().flat_map(|s| [s.start, s.end]));
    let latest = times.filter(|x| x.is_finite()).fold(0.0, f64::max);
    if latest > 0.0 { latest } else { 1.0 }
}

/// The y tick label for 10^exp ms.
fn ms_label(exp: i32) -> String {
    if exp <= 5 {
        10_i64.pow(exp.max(0) as u32).to_string()
    } else {
        format!("1e{exp}")
    }
}

/// About eight nicely rounded x ticks over `[0, duration]`: (step, decimals to print).
fn x_step(duration: f64) -> (f64, usize) {
    let raw = duration / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * 0.999);
    let step = step.unwrap_or(10.0 * mag);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    (step, decimals.min(6))
}

/// Renders the timeline as PNG bytes, `width` pixels wide (clamped to 240..=8192). The height
/// follows from the lane count: 150 px per panel (less beyond 24 lanes) plus title, axis and
/// legend. Never panics: points, spans and markers at non-finite times are skipped.
pub fn render_png(t: &Timeline, width: u32) -> Vec<u8> {
    let l = Layout::new(t, width);
    let mut c = Canvas::new(l.width, l.height);
    let bottom = l.rows(l.panels - 1).1;
    let fit = |s: &str, px: i64, scale: i64| clip_str(s, (px + scale) / (6 * scale));

    c.text(MARGIN, 8, &fit(&t.title, l.width - 2 * MARGIN, 2), INK, 2);
    let (ops, faults) = (t.points.len(), t.spans.len());
    let sub = format!("latency (ms, log scale) per lane vs time (s); {ops} ops, {faults} faults");
    c.text(MARGIN, 28, &fit(&sub, l.width - 2 * MARGIN, 1), MUTED, 1);

    // Grid, y ticks and lane labels.
    let (step, decimals) = x_step(l.duration);
    let ticks: Vec<f64> = (0..64)
        .map(|k| f64::from(k) * step)
        .take_while(|v| *v <= l.duration * 1.000_001)
        .collect();
    for p in 0..l.panels {
        let (top, bot) = l.rows(p);
        for e in 0..=l.top_exp {
            let (y, label) = (l.y_of(p, 10f64.powi(e)), ms_label(e));
            c.fill(l.x0, y, l.x1, y + 1, GRID);
            c.text(l.x0 - 6 - text_width(&label, 1), y - 3, &label, MUTED, 1);
        }
        for x in ticks.iter().filter_map(|v| l.x_of(*v)) {
            c.fill(x, top, x + 1, bot, GRID);
        }
        if let Some(name) = t.lanes.get(p) {
            let name = clip_str(name, LANE_CHARS);
            c.text(MARGIN, top + l.panel_h / 2 - 7, &name, INK, 2);
        }
    }

    // Fault bands, then their labels (in up to three rows where they would overlap).
    let spans: Vec<(&Span, i64, i64, Vec<usize>)> = t
        .spans
        .iter()
        .filter(|s| s.start.is_finite() && s.end.is_finite())
        .filter(|s| s.start.max(s.end) >= 0.0 && s.start.min(s.end) <= l.duration)
        .filter_map(|s| {
            let x0 = l.x_of(s.start.min(s.end).clamp(0.0, l.duration))?;
            let x1 = l.x_of(s.start.max(s.end).clamp(0.0, l.duration))?;
            let panels = if s.lanes.is_empty() {
                (0..l.panels).collect()
            } else {
                s.lanes
                    .iter()
                    .filter_map(|lane| l.panel_of(*lane))
                    .collect()
            };
            Some((s, x0, x1 + 1, panels))
        })
        .collect();
    for (s, x0, x1, panels) in &spans {
        for p in panels {
            let (top, bot) = l.rows(*p);
            c.blend((*x0, top, *x1, bot), fault_colour(&s.kind), BAND_ALPHA);
        }
    }
    let mut row_ends = vec![[i64::MIN; 3]; l.panels];
    for (s, x0, x1, panels) in &spans {
        let label = fit(&s.label, x1 - x0 - 3, 1);
        for p in panels.iter().filter(|_| !label.is_empty()) {
            let row = row_ends[*p].iter().position(|end| end < x0).unwrap_or(0);
            row_ends[*p][row] = x0 + 6 + text_width(&label, 1);
            let y = l.rows(*p).0 + 3 + row as i64 * 10;
            let ink = mix(fault_colour(&s.kind), [0; 3], 0.35);
            c.text(x0 + 2, y, &label, ink, 1);
        }
    }

    // Points, failures and unknowns last so they stay visible.
    for outcome in [Outcome::Ok, Outcome::Unknown, Outcome::Fail] {
        for pt in t
            .points
            .iter()
            .filter(|p| p.outcome == outcome && p.latency_ms.is_finite())
        {
            let (Some(p), Some(x)) = (l.panel_of(pt.lane), l.x_of(pt.t)) else {
                continue;
            };
            let (top, bot) = l.rows(p);
            let (at, colour) = ((x, l.y_of(p, pt.latency_ms)), outcome_colour(outcome));
            mark(&mut c, at, pt.write, colour, (l.x0, top, l.x1, bot));
        }
    }

    // Markers across all panels, labelled above the first.
    for (at, label) in &t.markers {
        let Some(x) = l.x_of(*at) else { continue };
        c.dashed(x, TOP, bottom, INK);
        let w = text_width(label, 1);
        let lx = if x + 3 + w <= l.width - 2 {
            x + 3
        } else {
            (x - 3 - w).max(0)
        };
        c.text(lx, TOP - 12, label, INK, 1);
    }

    // Panel frames, then x ticks and labels under the last panel.
    for p in 0..l.panels {
        let (top, bot) = l.rows(p);
        c.frame(l.x0 - 1, top - 1, l.x1 + 1, bot + 1, FRAME);
    }
    for v in &ticks {
        let Some(x) = l.x_of(*v) else { continue };
        c.fill(x, bottom + 1, x + 1, bottom + 4, FRAME);
        let label = format!("{v:.decimals$}");
        let w = text_width(&label, 1);
        let lx = (x - w / 2).clamp(0, l.width - w);
        c.text(lx, bottom + 7, &label, MUTED, 1);
    }
    let axis = "time since start (s)";
    let ax = (l.x0 + l.x1 - text_width(axis, 1)) / 2;
    c.text(ax, bottom + 20, axis, INK, 1);

    // Legend.
    let all = (0, 0, l.width, l.height);
    for (x, y, swatch, label) in &l.legend {
        let (x, y) = (*x, *y);
        match *swatch {
            Swatch::Outcome(col) => c.fill(x + 2, y + 3, x + 10, y + 11, col),
            Swatch::Write => mark(&mut c, (x + 6, y + 7), true, INK, all),
            Swatch::Read => mark(&mut c, (x + 6, y + 7), false, INK, all),
            Swatch::Fault(col) => {
                c.fill(x, y + 2, x + 12, y + 12, mix(BG, col, BAND_ALPHA));
                c.frame(x, y + 2, x + 12, y + 12, col);
            }
            Swatch::Marker => c.dashed(x + 6, y + 1, y + 14, INK),
        }
        c.text(x + 17, y + 4, label, INK, 1);
    }
    encode_png(&c)
}

/// Encodes the canvas as an 8-bit RGB PNG, every row with filter type 0 (none).
fn encode_png(c: &Canvas) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    const INFALLIBLE: &str = "compressing into a Vec cannot fail";
    for row in c.px.chunks_exact((c.w * 3) as usize) {
        z.write_all(&[0]).expect(INFALLIBLE);
        z.write_all(row).expect(INFALLIBLE);
    }
    let idat = z.finish().expect(INFALLIBLE);

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(c.w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(c.h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    for part in idat.chunks(1 << 20) {
        chunk(&mut out, b"IDAT", part);
    }
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Appends one chunk: length, type, data, CRC-32 of type and data. `data` is at most 1 MiB.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::ZlibDecoder;

    use super::*;

    fn be32(b: &[u8]) -> u32 {
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Checks the signature, the chunk order and every chunk's CRC, and that the image data
    /// inflates to one filter-0 row per line; returns (width, height, inflated image data).
    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let (mut pos, mut kinds, mut ihdr, mut idat) = (8, Vec::new(), Vec::new(), Vec::new());
        while pos < png.len() {
            let len = be32(&png[pos..]) as usize;
            let (kind, data) = (&png[pos + 4..pos + 8], &png[pos + 8..pos + 8 + len]);
            let mut h = crc32fast::Hasher::new();
            h.update(kind);
            h.update(data);
            assert_eq!(h.finalize(), be32(&png[pos + 8 + len..]), "CRC of {kind:?}");
            match kind {
                b"IHDR" => ihdr = data.to_vec(),
                b"IDAT" => idat.extend_from_slice(data),
                _ => {}
            }
            kinds.push(kind.to_vec());
            pos += 12 + len;
        }
        assert_eq!(kinds.first().map(Vec::as_slice), Some(&b"IHDR"[..]));
        assert_eq!(kinds.last().map(Vec::as_slice), Some(&b"IEND"[..]));
        assert_eq!(&ihdr[8..], &[8, 2, 0, 0, 0]);
        let (w, h) = (be32(&ihdr), be32(&ihdr[4..]));
        let mut raw = Vec::new();
        ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).unwrap();
        let stride = 1 + 3 * w as usize;
        assert_eq!(raw.len(), h as usize * stride);
        assert!(
            raw.chunks(stride).all(|row| row[0] == 0),
            "filter bytes are 0"
        );
        (w, h, raw)
    }

    fn pixel(raw: &[u8], w: u32, x: i64, y: i64) -> Rgb {
        let i = y as usize * (1 + 3 * w as usize) + 1 + 3 * x as usize;
        [raw[i], raw[i + 1], raw[i + 2]]
    }

    fn pt(t: f64, latency_ms: f64, lane: usize, outcome: Outcome, write: bool) -> Point {
        Point {
            t,
            latency_ms,
            lane,
            outcome,
            write,
        }
    }

    fn span(start: f64, end: f64, label: &str, kind: &str, lanes: Vec<usize>) -> Span {
        Span {
            start,
            end,
            label: label.into(),
            kind: kind.into(),
            lanes,
        }
    }

    /// A five-node, two-minute run with a few faults; latencies from a small LCG.
    fn sample() -> Timeline {
        let mut seed = 42_u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut points = Vec::new();
        for i in 0..6000 {
            let (t, lane) = (f64::from(i) * 0.02, i as usize % 5);
            let mut ms = 0.3 + 4.0 * rnd().powi(3) * 10f64.powf(2.0 * rnd());
            let mut outcome = Outcome::Ok;
            if (20.0..35.0).contains(&t) && lane == 2 && rnd() < 0.5 {
                (ms, outcome) = (5000.0 + 200.0 * rnd(), Outcome::Unknown);
            } else if (50.0..62.0).contains(&t) && lane >= 3 && rnd() < 0.3 {
                outcome = Outcome::Fail;
            }
            points.push(pt(t, ms, lane, outcome, rnd() < 0.6));
        }
        Timeline {
            title: "floe-jepsen: kill+partition, seed 7 (write 60%, read 40%)".into(),
            lanes: (1..=5).map(|n| format!("n{n}")).collect(),
            points,
            spans: vec![
                span(20.0, 35.0, "kill n3", "kill", vec![2]),
                span(
                    50.0,
                    62.0,
                    "partition n1 n2 n3 | n4 n5",
                    "partition",
                    vec![],
                ),
                span(80.0, 90.0, "pause n1", "pause", vec![0]),
                span(84.0, 86.0, "clock +30s n1", "clock", vec![0]),
                span(95.0, 110.0, "disk full n5", "disk", vec![4]),
                span(112.0, 118.0, "mystery", "gremlin", vec![1, 3]),
            ],
            duration_s: 120.0,
            markers: vec![(62.0, "healed".into()), (0.0, "start".into())],
        }
    }

    #[test]
    fn png_is_well_formed() {
        let (w, h, _) = decode(&render_png(&sample(), 1000));
        assert_eq!(w, 1000);
        assert_eq!(i64::from(h), Layout::new(&sample(), 1000).height);
        assert!(h > 5 * 150);
    }

    #[test]
    fn span_is_shaded_only_in_its_lane() {
        let lanes = vec!["n1".into(), "n2".into(), "n3".into()];
        let mut t = Timeline {
            lanes,
            duration_s: 100.0,
            ..Default::default()
        };
        t.spans.push(span(20.0, 40.0, "pause n2", "pause", vec![1]));
        let l = Layout::new(&t, 800);
        let (inside, after) = (l.x_of(31.0).unwrap(), l.x_of(45.0).unwrap());
        let (w, _, raw) = decode(&render_png(&t, 800));
        assert_ne!(pixel(&raw, w, inside, l.y_of(1, 3.0)), BG);
        assert_eq!(pixel(&raw, w, inside, l.y_of(0, 3.0)), BG);
        assert_eq!(pixel(&raw, w, inside, l.y_of(2, 3.0)), BG);
        assert_eq!(pixel(&raw, w, after, l.y_of(1, 3.0)), BG);
    }

    #[test]
    fn empty_and_degenerate_inputs_render() {
        let (w, h, _) = decode(&render_png(&Timeline::default(), 0));
        let height = Layout::new(&Timeline::default(), 0).height;
        assert_eq!((w, i64::from(h)), (MIN_WIDTH, height));
        let bad = Timeline {
            title: "ünïcode ✓".into(),
            lanes: vec!["a-very-long-lane-name".into()],
            points: vec![
                pt(f64::NAN, 1.0, 0, Outcome::Ok, true),
                pt(1.0, f64::INFINITY, 0, Outcome::Fail, false),
                pt(1.0, -5.0, 7, Outcome::Unknown, false),
                pt(1.0, 1e300, 0, Outcome::Ok, false),
                pt(-1.0, 1.0, 0, Outcome::Ok, false),
            ],
            spans: vec![
                span(f64::NEG_INFINITY, 3.0, "", "", vec![9]),
                span(9.0, 2.0, "x", "", vec![]),
            ],
            duration_s: f64::NAN,
            markers: vec![(f64::NAN, "x".into()), (1e9, "far".into())],
        };
        assert_eq!(decode(&render_png(&bad, 100_000)).0, MAX_WIDTH);
        let many = Timeline {
            lanes: vec![String::new(); 500],
            ..Default::default()
        };
        decode(&render_png(&many, 300));
    }

    #[test]
    fn colours_and_ticks() {
        let colours: Vec<Rgb> = FAULTS
            .iter()
            .map(|(k, _)| fault_colour(&k.to_uppercase()))
            .collect();
        for (i, a) in colours.iter().enumerate() {
            assert!(colours[i + 1..].iter().all(|b| b != a) && !FALLBACK.contains(a));
        }
        assert_eq!(fault_colour("gremlin"), fault_colour(" Gremlin "));
        assert_eq!(x_step(120.0), (20.0, 0));
        assert_eq!(x_step(3.0), (0.5, 1));
        assert_eq!(x_step(80.0), (10.0, 0));
    }

    /// Writes an example to the temp dir: `cargo test -p floe-jepsen plot -- --ignored`.
    #[test]
    #[ignore]
    fn example_png() {
        let path = std::env::temp_dir().join("plot-example.png");
        std::fs::write(&path, render_png(&sample(), 1200)).unwrap();
    }
}
