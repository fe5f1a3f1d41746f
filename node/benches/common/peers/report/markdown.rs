//! The generated section of `docs/benchmarks.md`.

use std::fmt::Write as _;

use super::{Agreement, Report, clip, geomean, utc_date_time};
use crate::common::peers::{Protocol, System};

impl Report {
    pub(super) fn markdown(&self) -> String {
        let mut s = String::new();
        let v: Vec<String> = self
            .versions
            .iter()
            .map(|(sys, v)| format!("{} {v}", sys.name()))
            .collect();
        let samples = self.ingest.first().map_or(0, |r| r.samples);
        let _ = writeln!(
            s,
            "Run of {} ({:.0} s; load average {:.2} at the start, {:.2} at the end), {}. Versions: {}. Data: {} hosts × {} h at 10 s = {} samples per mode, ending 5 minutes before the run; {} timed queries per type.\n",
            utc_date_time(self.started_unix_s),
            self.elapsed_s,
            self.load_start,
            self.load_end,
            self.machine,
            v.join(", "),
            self.hosts,
            self.hours,
            samples,
            self.reps
        );
        self.markdown_ratios(&mut s);
        self.markdown_ingest(&mut s);
        self.markdown_queries(&mut s);
        let _ = writeln!(s, "![Floe / peer ratios](bench/peers.png)\n");
        let _ = writeln!(
            s,
            "Last line of the run:\n\n```json\n{}\n```",
            self.headline_json()
        );
        s
    }

    fn markdown_ratios(&self, s: &mut String) {
        let m = self.query_mode;
        let (l, rw) = (Protocol::Line, Protocol::RemoteWrite);
        let (vm, prom, influx) = (
            System::VictoriaMetrics,
            System::Prometheus,
            System::InfluxDb,
        );
        let f = |r: Option<f64>| r.map_or("—".to_string(), |r| format!("{r:.2}"));
        let q = |peer| {
            let r = self.p50_ratios(peer);
            let (lo, hi) = r.iter().fold((f64::MAX, 0f64), |(lo, hi), (_, x)| {
                (lo.min(*x), hi.max(*x))
            });
            match geomean(r.iter().map(|(_, x)| *x)) {
                Some(g) => format!("{g:.2} ({lo:.2}–{hi:.2})"),
                None => "—".into(),
            }
        };
        let _ = writeln!(s, "Ratios Floe / peer, {} values:\n", m.name());
        let _ = writeln!(
            s,
            "| Floe / peer | VictoriaMetrics | Prometheus | InfluxDB |\n|---|---|---|---|"
        );
        let _ = writeln!(
            s,
            "| ingest samples/s, line protocol (higher: Floe faster) | {} | — | {} |",
            f(self.ingest_ratio(m, l, vm)),
            f(self.ingest_ratio(m, l, influx))
        );
        let _ = writeln!(
            s,
            "| ingest samples/s, remote write | {} | {} | — |",
            f(self.ingest_ratio(m, rw, vm)),
            f(self.ingest_ratio(m, rw, prom))
        );
        let _ = writeln!(
            s,
            "| bytes per sample on disk (lower: Floe smaller) | {} | {} | {} |",
            f(self.bytes_ratio(m, rw, vm)),
            f(self.bytes_ratio(m, rw, prom)),
            f(self.bytes_ratio(m, l, influx))
        );
        let _ = writeln!(
            s,
            "| bytes per sample, Floe without its rollup blocks | {} | {} | {} |",
            f(self.bytes_ratio_without_rollups(m, rw, vm)),
            f(self.bytes_ratio_without_rollups(m, rw, prom)),
            f(self.bytes_ratio_without_rollups(m, l, influx))
        );
        let _ = writeln!(
            s,
            "| query p50, geometric mean over the types (best–worst) (lower: Floe faster) | {} | {} | — |\n",
            q(vm),
            q(prom)
        );
    }

    fn markdown_ingest(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "| mode | protocol | system | samples/s, median (range) | server CPU s / M samples | persist s (CPU s) | bytes/sample | without rollups | files | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.ingest {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} M ({}) | {:.3} | {:.1} ({:.1}){} | {:.3} | {} | {} | {:.0} |",
                r.mode.name(),
                r.protocol.name(),
                r.system.name(),
                r.rate() / 1e6,
                rate_range(r),
                r.cpu_per_million(),
                r.persisted.seconds,
                r.persisted.cpu_s,
                if r.persisted.settled {
                    ""
                } else {
                    " not settled"
                },
                r.bytes_per_sample(),
                r.persisted.rollup_bytes.map_or("—".to_string(), |_| {
                    format!("{:.3}", r.bytes_per_sample_without_rollups())
                }),
                r.persisted.bytes.files,
                r.peak_rss_bytes as f64 / 1e6
            );
        }
        let notes: Vec<String> = self
            .ingest
            .iter()
            .flat_map(|r| {
                r.persisted.notes.iter().map(move |n| {
                    format!(
                        "{} {} {}: {n}",
                        r.mode.name(),
                        r.protocol.name(),
                        r.system.name()
                    )
                })
            })
            .collect();
        if !notes.is_empty() {
            s.push('\n');
        }
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
        s.push('\n');
    }

    fn markdown_queries(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "Queries ({} values), p50 / p99 in ms, and how many of the {} answers agree:\n",
            self.query_mode.name(),
            self.reps
        );
        let _ = writeln!(
            s,
            "| type | Floe | VictoriaMetrics | Prometheus | Floe/VM p50 | Floe/Prom p50 | Floe = Prom | VM = Prom | Floe = VM |\n|---|---|---|---|---|---|---|---|---|"
        );
        let agreements = self.agreements();
        let kinds: Vec<&str> = self
            .queries
            .iter()
            .filter(|q| q.system == System::Floe)
            .map(|q| q.kind.as_str())
            .collect();
        for kind in kinds {
            let cell = |sys| {
                self.query(sys, kind).map_or("—".into(), |q| {
                    let failed = if q.failed() > 0 {
                        format!(" ({} failed)", q.failed())
                    } else {
                        String::new()
                    };
                    format!("{:.2} / {:.2}{failed}", q.p50_us / 1e3, q.p99_us / 1e3)
                })
            };
            let ratio = |peer| {
                let f = self.query(System::Floe, kind).filter(|q| q.failed() == 0)?;
                let p = self.query(peer, kind).filter(|q| q.failed() == 0)?;
                Some(format!("{:.2}", f.p50_us / p.p50_us))
            };
            let agree = |a, b| {
                agreements
                    .iter()
                    .find(|g| g.kind == kind && g.a == a && g.b == b)
                    .map_or("—".into(), |g| {
                        let refused = if g.both_refused > 0 {
                            " (both refuse)"
                        } else {
                            ""
                        };
                        format!("{}/{}{refused}", g.agreed, g.total)
                    })
            };
            let _ = writeln!(
                s,
                "| {kind} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(System::Floe),
                cell(System::VictoriaMetrics),
                cell(System::Prometheus),
                ratio(System::VictoriaMetrics).unwrap_or("—".into()),
                ratio(System::Prometheus).unwrap_or("—".into()),
                agree(System::Floe, System::Prometheus),
                agree(System::VictoriaMetrics, System::Prometheus),
                agree(System::Floe, System::VictoriaMetrics)
            );
        }
        // Floe against VictoriaMetrics is listed only where Floe and Prometheus disagree
        // (otherwise it repeats VictoriaMetrics against Prometheus).
        let floe_is_prom = |kind: &str| {
            agreements.iter().any(|g| {
                g.kind == kind
                    && g.a == System::Floe
                    && g.b == System::Prometheus
                    && g.agreed == g.total
            })
        };
        let differences: Vec<&Agreement> = agreements
            .iter()
            .filter(|g| g.first.is_some())
            .filter(|g| {
                !(g.a == System::Floe && g.b == System::VictoriaMetrics && floe_is_prom(&g.kind))
            })
            .collect();
        if !differences.is_empty() {
            let _ = writeln!(
                s,
                "\nFirst difference of each pair that disagrees (A is the first system named):\n"
            );
            for g in differences {
                let _ = writeln!(
                    s,
                    "- {} {} vs {}: {}",
                    g.kind,
                    g.a.name(),
                    g.b.name(),
                    clip(g.first.as_deref().unwrap_or(""), 300).replace('|', "\\|")
                );
            }
        }
        s.push('\n');
    }
}

/// The slowest and fastest load's rate, `2.31–2.87`.
fn rate_range(r: &super::IngestRun) -> String {
    let rates = r.loads.iter().map(|l| r.samples as f64 / l.0 / 1e6);
    let (lo, hi) = rates.fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    format!("{lo:.2}–{hi:.2}")
}

const BEGIN: &str = "<!-- peers:begin (generated by scripts/bench-peers; edits between the markers are overwritten) -->";
const END: &str = "<!-- peers:end -->";

/// `text` with what lies between the markers replaced by `section` (markers appended if absent).
pub(super) fn splice(text: &str, section: &str) -> String {
    match (text.find("<!-- peers:begin"), text.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{BEGIN}\n\n{section}\n{}", &text[..b], &text[e..])
        }
        _ => format!("{}\n{BEGIN}\n\n{section}\n{END}\n", text.trim_end()),
    }
}
