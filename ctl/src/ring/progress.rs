//! STATUS as text: a header line and one row per node (phase, progress bar, volumes, rate,
//! ETA), and [`Progress`], which turns a sequence of STATUS polls into output for a terminal
//! (redrawn in place), a log (changed rows only, at most every 5 s per node) or JSON lines.
//! Pure: the caller reads the clock and writes the strings.

use std::collections::HashMap;
use std::time::Duration;

use super::live::{NodeStatus, RingStatus};

/// Width of the progress bar between its brackets.
pub const BAR_WIDTH: usize = 30;
/// Least time between two log lines for one node (and between two JSON lines).
pub const LOG_INTERVAL: Duration = Duration::from_secs(5);

/// The whole STATUS as text: header, then the node table.
pub fn render(status: &RingStatus) -> String {
    let mut out = header(status);
    out.push('\n');
    for (_, row) in rows(status) {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// `cluster at version 3 → 4: rebalancing` or `stable at version 3`, and who answered.
pub fn header(status: &RingStatus) -> String {
    let line = match &status.target {
        Some(t) => format!(
            "cluster at version {} → {}: {}",
            status.current.version, t.version, status.state
        ),
        None => format!("{} at version {}", status.state, status.current.version),
    };
    if status.node.is_empty() {
        line
    } else {
        format!("{line} (answered by {})", status.node)
    }
}

/// One aligned row per node, with the node id.
pub fn rows(status: &RingStatus) -> Vec<(String, String)> {
    let cells: Vec<[String; 8]> = status.nodes.iter().map(cells).collect();
    let mut widths = [0; 8];
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let right = [false, false, false, true, true, true, false, false];
    let lines = cells.iter().map(|row| {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            let cell = if right[i] {
                format!("{pad}{cell}")
            } else {
                format!("{cell}{pad}")
            };
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&cell);
        }
        line.trim_end().to_string()
    });
    status
        .nodes
        .iter()
        .map(|n| n.id.clone())
        .zip(lines)
        .collect()
}

/// id, phase, bar, percent, samples, bytes, rate, ETA and error.
fn cells(n: &NodeStatus) -> [String; 8] {
    let percent = match n.ranges_total {
        0 => "-".to_string(),
        total => format!(
            "{:.1} %",
            100.0 * n.ranges_done.min(total) as f64 / total as f64
        ),
    };
    let rate = if n.samples_per_s > 0.0 || n.bytes_per_s > 0.0 {
        format!(
            "{}/s, {}/s",
            si_samples(n.samples_per_s),
            si_bytes(n.bytes_per_s)
        )
    } else {
        "-".to_string()
    };
    let mut tail = match n.eta_s {
        Some(s) => format!("eta {}", duration(s)),
        None => "-".to_string(),
    };
    match (&n.error, n.reachable) {
        (Some(e), false) => tail.push_str(&format!("  unreachable: {e}")),
        (None, false) => tail.push_str("  unreachable"),
        (Some(e), true) => tail.push_str(&format!("  error: {e}")),
        (None, true) => {}
    }
    [
        n.id.clone(),
        n.phase.clone(),
        bar(n.ranges_done, n.ranges_total),
        percent,
        si_samples(n.samples as f64),
        si_bytes(n.bytes as f64),
        rate,
        tail,
    ]
}

/// `[#########.....................]`: `done / total` of [`BAR_WIDTH`] (all dots if total is 0).
pub fn bar(done: u64, total: u64) -> String {
    let filled = if total == 0 {
        0
    } else {
        let share = done.min(total) as f64 / total as f64;
        ((share * BAR_WIDTH as f64).floor() as usize).min(BAR_WIDTH)
    };
    format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled))
}

/// Bytes with an SI prefix: `999 B`, `1.2 kB`, `15 MB` (one decimal below 10, none above).
pub fn si_bytes(value: f64) -> String {
    let (number, prefix) = si(value);
    format!("{number} {prefix}B")
}

/// A count of samples with an SI prefix: `12 samples`, `1.5 M samples`.
pub fn si_samples(value: f64) -> String {
    match si(value) {
        (number, "") => format!("{number} samples"),
        (number, prefix) => format!("{number} {prefix} samples"),
    }
}

/// The number and its SI prefix.
fn si(value: f64) -> (String, &'static str) {
    const PREFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut v = if value.is_finite() {
        value.max(0.0)
    } else {
        0.0
    };
    let mut i = 0;
    while v >= 999.5 && i + 1 < PREFIXES.len() {
        v /= 1000.0;
        i += 1;
    }
    let number = if i > 0 && v < 9.95 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    };
    (number, PREFIXES[i])
}

/// `12 s`, `4 min 05 s`, `2 h 03 min`.
pub fn duration(secs: f64) -> String {
    let s = if secs.is_finite() {
        secs.max(0.0).round() as u64
    } else {
        0
    };
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// How [`Progress`] shows a sequence of polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A terminal: each poll redraws the whole report in place.
    Redraw,
    /// A log or pipe: the header when it changes, a node's row when it changes but at most
    /// every [`LOG_INTERVAL`], each prefixed with the seconds since the start.
    Lines,
    /// One STATUS JSON object per line, when it changes but at most every [`LOG_INTERVAL`].
    Json,
}

/// Turns polls into output text; see [`Mode`]. `now` is the time since the start.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    /// Lines of the last frame still on screen ([`Mode::Redraw`]).
    drawn: usize,
    last_header: Option<String>,
    last_rows: HashMap<String, (String, Duration)>,
    last_json: Option<(String, Duration)>,
}

impl Progress {
    /// A fresh display.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            drawn: 0,
            last_header: None,
            last_rows: HashMap::new(),
            last_json: None,
        }
    }

    /// Output for one poll (possibly empty).
    pub fn update(&mut self, status: &RingStatus, now: Duration) -> String {
        self.show(status, now, false)
    }

    /// Output for the last poll: as [`update`](Self::update) but nothing is held back for
    /// the interval, so the final state is always shown.
    pub fn finish(&mut self, status: &RingStatus, now: Duration) -> String {
        self.show(status, now, true)
    }

    /// Something else was printed: the next frame starts below it instead of redrawing.
    pub fn break_frame(&mut self) {
        self.drawn = 0;
    }

    fn show(&mut self, status: &RingStatus, now: Duration, last: bool) -> String {
        match self.mode {
            Mode::Redraw => self.redraw(status),
            Mode::Lines => self.log_lines(status, now, last),
            Mode::Json => self.json_line(status, now, last),
        }
    }

    /// Moves up over the last frame, clears to the end of the screen and draws the new one.
    /// Line wrapping is off while drawing so each line takes exactly one row; both switches
    /// go out in the same write, so Ctrl-C leaves nothing to restore.
    fn redraw(&mut self, status: &RingStatus) -> String {
        let text = render(status);
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\r\x1b[{}A", self.drawn));
        }
        out.push_str("\x1b[J\x1b[?7l");
        out.push_str(&text);
        out.push_str("\x1b[?7h");
        self.drawn = text.lines().count();
        out
    }

    fn log_lines(&mut self, status: &RingStatus, now: Duration, last: bool) -> String {
        let stamp = format!("[+{}s] ", now.as_secs());
        let mut out = String::new();
        let head = header(status);
        if self.last_header.as_ref() != Some(&head) {
            out.push_str(&format!("{stamp}{head}\n"));
            self.last_header = Some(head);
        }
        for (id, row) in rows(status) {
            let due = match self.last_rows.get(&id) {
                None => true,
                Some((printed, _)) if *printed == row => false,
                Some((_, at)) => last || now.saturating_sub(*at) >= LOG_INTERVAL,
            };
            if due {
                out.push_str(&format!("{stamp}{row}\n"));
                self.last_rows.insert(id, (row, now));
            }
        }
        out
    }

    fn json_line(&mut self, status: &RingStatus, now: Duration, last: bool) -> String {
        let line = status.raw.to_string();
        let due = match &self.last_json {
            None => true,
            Some((printed, _)) if *printed == line => false,
            Some((_, at)) => last || now.saturating_sub(*at) >= LOG_INTERVAL,
        };
        if !due {
            return String::new();
        }
        self.last_json = Some((line.clone(), now));
        line + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = r#"{"node":"n1","state":"rebalancing",
        "current":{"version":3,"hash":"00112233445566778899aabbccddeeff"},
        "target":{"version":4,"hash":"ffeeddccbbaa99887766554433221100"},
        "nodes":[{"id":"n1","reachable":true,"error":null,"phase":"streaming",
          "current_version":3,"target_version":4,"job":"rebalance","ranges_total":12,
          "ranges_done":5,"samples":123456,"bytes":789012,"samples_per_s":1.5e6,
          "bytes_per_s":2.0e7,"eta_s":12.5},
          {"id":"n2","reachable":true,"phase":"synced","ranges_total":4,"ranges_done":4,
          "samples":2500000000,"bytes":31000000000},
          {"id":"n3","reachable":false,"error":"connection refused","phase":"unknown"}]}"#;

    fn status(text: &str) -> RingStatus {
        RingStatus::parse(text).expect("valid STATUS")
    }

    #[test]
    fn renders_header_and_rows() {
        let text = render(&status(STATUS));
        println!("{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "cluster at version 3 → 4: rebalancing (answered by n1)"
        );
        let n1 = lines[1];
        for piece in [
            "n1",
            "streaming",
            "[############..................]",
            "41.7 %",
            "123 k samples",
            "789 kB",
            "1.5 M samples/s, 20 MB/s",
            "eta 13 s",
        ] {
            assert!(n1.contains(piece), "{piece:?} in {n1:?}");
        }
        let n2 = lines[2];
        for piece in [
            "synced",
            "[##############################]",
            "100.0 %",
            "2.5 G samples",
            "31 GB",
        ] {
            assert!(n2.contains(piece), "{piece:?} in {n2:?}");
        }
        assert!(n2.ends_with("  -"), "no rate, no eta: {n2:?}");
        let n3 = lines[3];
        for piece in [
            "unknown",
            "[..............................]",
            "unreachable: connection refused",
        ] {
            assert!(n3.contains(piece), "{piece:?} in {n3:?}");
        }
        // Aligned: every row has its bar at the same column.
        let col = |l: &str| l.find('[').expect("bar");
        assert_eq!(col(n1), col(n2));
        assert_eq!(col(n1), col(n3));
    }

    #[test]
    fn stable_header() {
        let s = status(r#"{"state":"stable","current":{"version":3},"target":null,"nodes":[]}"#);
        assert_eq!(render(&s), "stable at version 3\n");
    }

    #[test]
    fn units_bars_and_durations() {
        assert_eq!(si_bytes(0.0), "0 B");
        assert_eq!(si_bytes(999.0), "999 B");
        assert_eq!(si_bytes(1234.0), "1.2 kB");
        assert_eq!(si_bytes(15e6), "15 MB");
        assert_eq!(si_bytes(999_700.0), "1.0 MB");
        assert_eq!(si_samples(1.2e6), "1.2 M samples");
        assert_eq!(si_samples(12.0), "12 samples");
        assert_eq!(si_bytes(f64::NAN), "0 B");
        assert_eq!(si_bytes(3e21), "3000 EB");
        assert_eq!(bar(0, 0), format!("[{}]", ".".repeat(30)));
        assert_eq!(bar(1, 2), format!("[{}{}]", "#".repeat(15), ".".repeat(15)));
        assert_eq!(bar(9, 3), format!("[{}]", "#".repeat(30)));
        assert_eq!(duration(12.4), "12 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(7380.0), "2 h 03 min");
    }

    #[test]
    fn redraw_moves_up_over_last_frame() {
        let s = status(STATUS);
        let mut p = Progress::new(Mode::Redraw);
        let first = p.update(&s, Duration::ZERO);
        assert!(!first.contains("\x1b[4A"), "{first:?}");
        assert!(
            first.contains("\x1b[?7l") && first.ends_with("\x1b[?7h"),
            "{first:?}"
        );
        let second = p.update(&s, Duration::from_secs(1));
        assert!(second.starts_with("\r\x1b[4A\x1b[J"), "{second:?}");
        p.break_frame();
        let third = p.update(&s, Duration::from_secs(2));
        assert!(!third.contains("\x1b[4A"), "{third:?}");
    }

    #[test]
    fn lines_mode_prints_changes_at_most_every_interval() {
        let mut p = Progress::new(Mode::Lines);
        let s0 = status(STATUS);
        let first = p.update(&s0, Duration::ZERO);
        assert_eq!(first.lines().count(), 4, "{first}");
        assert!(
            first.starts_with("[+0s] cluster at version 3 → 4"),
            "{first}"
        );
        // Unchanged: nothing.
        assert_eq!(p.update(&s0, Duration::from_secs(1)), "");
        // n1 progresses: held back until 5 s after its last line.
        let s1 = status(&STATUS.replace("\"ranges_done\":5", "\"ranges_done\":6"));
        assert_eq!(p.update(&s1, Duration::from_secs(2)), "");
        let later = p.update(&s1, Duration::from_secs(5));
        assert_eq!(later.lines().count(), 1, "{later}");
        assert!(
            later.starts_with("[+5s] n1 ") && later.contains("50.0 %"),
            "{later}"
        );
        // The final poll shows every change at once, and a new header.
        let s2 = status(
            &STATUS
                .replace("\"ranges_done\":5", "\"ranges_done\":7")
                .replace("rebalancing", "committing"),
        );
        let end = p.finish(&s2, Duration::from_secs(6));
        assert!(
            end.contains("[+6s] cluster at version 3 → 4: committing"),
            "{end}"
        );
        assert!(end.contains("58.3 %"), "{end}");
    }

    #[test]
    fn json_mode_prints_changed_status_lines() {
        let mut p = Progress::new(Mode::Json);
        let s0 = status(STATUS);
        let first = p.update(&s0, Duration::ZERO);
        assert_eq!(first.lines().count(), 1);
        let back = status(first.trim_end());
        assert_eq!(back.raw, s0.raw);
        assert_eq!(p.update(&s0, Duration::from_secs(9)), "");
        let s1 = status(&STATUS.replace("\"ranges_done\":5", "\"ranges_done\":6"));
        assert_eq!(p.update(&s1, Duration::from_secs(1)), "");
        assert!(!p.finish(&s1, Duration::from_secs(2)).is_empty());
    }
}
