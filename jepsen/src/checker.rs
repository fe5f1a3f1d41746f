//! Checkers: what a run's history and the cluster's final state must satisfy.
//!
//! - **acknowledged writes**: every sample of a write acknowledged at `quorum` is stored
//!   after healing, with a value at least as recent by the merge rule (version, then value)
//!   as the best acknowledged one; samples acknowledged at `one` are counted the same way but
//!   only reported (a single acknowledging replica may be the one whose disk was damaged).
//! - **reads**: every sample any read returned was written, for that series and time, by an
//!   operation invoked before the read completed; an answer that is not a well-formed matrix
//!   is a wrong read too. The final state is held to the same rule.
//! - **convergence**, **mirror**, **logs**: judged by the runner, reported here in the same
//!   shape.

use std::collections::HashMap;

use floe_storage_format::precedence;
use serde::Serialize;

use crate::history::{Entry, EntryType, Seen};

/// One checker's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Whether the property holds.
    pub valid: bool,
    /// Counts (what was checked, what failed).
    pub counts: serde_json::Map<String, serde_json::Value>,
    /// The first few violations, described.
    pub examples: Vec<String>,
}

impl Verdict {
    /// A verdict with no counts yet.
    pub fn new(valid: bool) -> Self {
        Self {
            valid,
            counts: serde_json::Map::new(),
            examples: Vec::new(),
        }
    }

    /// Sets a count.
    pub fn count(&mut self, name: &str, v: impl Into<serde_json::Value>) -> &mut Self {
        self.counts.insert(name.to_string(), v.into());
        self
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < 10 {
            self.examples.push(text);
        }
    }
}

/// One value written for one (series, ts).
#[derive(Debug, Clone, Copy)]
struct Val {
    version: u64,
    value: f64,
    /// Earliest invocation of a write carrying it, ms.
    invoked_ms: f64,
    /// Earliest acknowledgement at `quorum`, ms.
    quorum_acked_ms: Option<f64>,
    /// Acknowledged at `one` by some write.
    one_acked: bool,
}

impl Val {
    fn quorum(&self) -> bool {
        self.quorum_acked_ms.is_some()
    }
}

/// Every value written, per (series, ts).
type WrittenMap = HashMap<(String, i64), Vec<Val>>;

fn writes(history: &[Entry]) -> WrittenMap {
    // (process, op) → (invocation, completion)
    let mut ops: HashMap<(&str, u64), (&Entry, Option<&Entry>)> = HashMap::new();
    for e in history.iter().filter(|e| e.f == "write") {
        let Some(op) = e.op else { continue };
        match e.kind {
            EntryType::Invoke => {
                ops.insert((e.process.as_str(), op), (e, None));
            }
            _ => {
                if let Some(w) = ops.get_mut(&(e.process.as_str(), op)) {
                    w.1 = Some(e);
                }
            }
        }
    }
    let mut out: WrittenMap = HashMap::new();
    for (invoke, done) in ops.values() {
        let acked_ms = done.filter(|d| d.kind == EntryType::Ok).map(|d| d.time_ms);
        let quorum = invoke.consistency.as_deref() == Some("quorum");
        for x in &invoke.writes {
            let slot = out.entry((x.series.clone(), x.ts)).or_default();
            let i = match slot
                .iter()
                .position(|v| v.version == x.version && v.value.to_bits() == x.value.to_bits())
            {
                Some(i) => i,
                None => {
                    slot.push(Val {
                        version: x.version,
                        value: x.value,
                        invoked_ms: invoke.time_ms,
                        quorum_acked_ms: None,
                        one_acked: false,
                    });
                    slot.len() - 1
                }
            };
            let v = &mut slot[i];
            v.invoked_ms = v.invoked_ms.min(invoke.time_ms);
            if let Some(t) = acked_ms {
                if quorum {
                    v.quorum_acked_ms = Some(v.quorum_acked_ms.map_or(t, |q| q.min(t)));
                } else {
                    v.one_acked = true;
                }
            }
        }
    }
    out
}

/// The value among `vals` that is greatest by the merge rule and passes `pick`.
fn best(vals: &[Val], pick: impl Fn(&Val) -> bool) -> Option<Val> {
    vals.iter()
        .filter(|v| pick(v))
        .max_by(|a, b| precedence(a.version, a.value, b.version, b.value))
        .copied()
}

/// Whether `got` (a value read, whose version is that of the written value it equals) is at
/// least as recent as `want` by the merge rule.
fn at_least(vals: &[Val], got: f64, want: &Val) -> bool {
    vals.iter()
        .find(|v| v.value.to_bits() == got.to_bits())
        .is_some_and(|g| {
            precedence(g.version, g.value, want.version, want.value) != std::cmp::Ordering::Less
        })
}

/// Checks the acknowledged writes against `final_state` (every sample of the workload's
/// series, read after healing).
pub fn acknowledged(history: &[Entry], final_state: &[Seen]) -> Verdict {
    let written = writes(history);
    let stored: HashMap<(&str, i64), f64> = final_state
        .iter()
        .map(|s| ((s.series.as_str(), s.ts), s.value))
        .collect();
    let mut v = Verdict::new(true);
    let (mut quorum, mut one, mut lost_quorum, mut lost_one) = (0u64, 0u64, 0u64, 0u64);
    let mut unacked_present = 0u64;
    for ((series, ts), vals) in &written {
        let got = stored.get(&(series.as_str(), *ts)).copied();
        if best(vals, |x| x.quorum() || x.one_acked).is_none() && got.is_some() {
            unacked_present += 1;
        }
        if let Some(b) = best(vals, Val::quorum) {
            quorum += 1;
            // A stored value nobody wrote is the reads checker's to report.
            let written_value =
                got.is_some_and(|g| vals.iter().any(|x| x.value.to_bits() == g.to_bits()));
            let ok = match got {
                Some(g) => !written_value || at_least(vals, g, &b),
                None => false,
            };
            if !ok {
                lost_quorum += 1;
                v.valid = false;
                v.example(format!(
                    "{series} @{ts}: acknowledged at quorum (version {}, value {}), stored {got:?}",
                    b.version, b.value
                ));
            }
        }
        if let Some(b) = best(vals, |x| x.one_acked) {
            one += 1;
            if !got.is_some_and(|g| at_least(vals, g, &b)) {
                lost_one += 1;
            }
        }
    }
    v.count("acked_quorum_samples", quorum)
        .count("acked_one_samples", one)
        .count("lost_quorum", lost_quorum)
        .count("lost_one", lost_one)
        .count("unacknowledged_but_stored", unacked_present)
        .count("final_samples", final_state.len() as u64);
    v
}

/// Checks every read (and the final state) against what was written: each returned value
/// was written for its series and time by a write invoked before the read completed. And
/// every read at `quorum` (R = 2 of N = 3 meets every W = 2 write set) returned every sample
/// acknowledged at `quorum` before the read was invoked, in its window, at least as recent
/// as acknowledged (`stale_quorum_reads` fail the check). One exception, counted apart
/// (`stale_excused_by_disk_damage`): a sample acknowledged before a disk fault that began
/// before the read — the damaged WAL or block may have held one of its two acknowledging
/// copies, and the read may have met that replica and the one that had not stored it yet.
pub fn reads(history: &[Entry], final_state: &[Seen], final_read_ms: f64) -> Verdict {
    let disk_faults: Vec<f64> = history
        .iter()
        .filter(|e| e.process == "nemesis" && e.f == "start")
        .filter(|e| e.detail.as_deref().is_some_and(is_disk_damage))
        .map(|e| e.time_ms)
        .collect();
    let written = writes(history);
    let mut v = Verdict::new(true);
    let (mut reads, mut samples, mut wrong, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let (mut quorum_reads, mut stale_reads, mut stale_samples) = (0u64, 0u64, 0u64);
    let mut excused = 0u64;
    let check = |s: &Seen, by_ms: f64, what: &str, v: &mut Verdict| -> bool {
        let ok = written.get(&(s.series.clone(), s.ts)).is_some_and(|vals| {
            vals.iter()
                .any(|x| x.value.to_bits() == s.value.to_bits() && x.invoked_ms <= by_ms)
        });
        if !ok {
            v.example(format!(
                "{what} returned {} @{} = {}, never written (before then)",
                s.series, s.ts, s.value
            ));
        }
        ok
    };
    // Index of the written timestamps per series, for the windows of quorum reads.
    let mut by_series: HashMap<&str, Vec<i64>> = HashMap::new();
    for (series, ts) in written.keys() {
        by_series.entry(series.as_str()).or_default().push(*ts);
    }
    by_series.values_mut().for_each(|t| t.sort_unstable());
    let mut invokes: HashMap<(&str, u64), &Entry> = HashMap::new();
    for e in history.iter().filter(|e| e.f == "read") {
        match e.kind {
            EntryType::Invoke => {
                if let Some(op) = e.op {
                    invokes.insert((e.process.as_str(), op), e);
                }
            }
            EntryType::Ok => {
                reads += 1;
                if let Some(err) = &e.error {
                    wrong += 1;
                    v.example(format!("{} op {:?}: {err}", e.process, e.op));
                    continue;
                }
                let what = format!("{} op {:?}", e.process, e.op);
                for s in &e.reads {
                    samples += 1;
                    if !check(s, e.time_ms, &what, &mut v) {
                        wrong += 1;
                    }
                }
                let Some(inv) = e.op.and_then(|op| invokes.get(&(e.process.as_str(), op))) else {
                    continue;
                };
                let (Some(range), Some("quorum")) = (&inv.range, inv.consistency.as_deref()) else {
                    continue;
                };
                quorum_reads += 1;
                let got: HashMap<i64, f64> = e
                    .reads
                    .iter()
                    .filter(|s| s.series == range.series)
                    .map(|s| (s.ts, s.value))
                    .collect();
                let mut stale_here = 0u64;
                for ts in by_series.get(range.series.as_str()).into_iter().flatten() {
                    if *ts <= range.after || *ts > range.until {
                        continue;
                    }
                    let Some(vals) = written.get(&(range.series.clone(), *ts)) else {
                        continue;
                    };
                    let Some(b) =
                        best(vals, |x| x.quorum_acked_ms.is_some_and(|t| t < inv.time_ms))
                    else {
                        continue;
                    };
                    if !got.get(ts).is_some_and(|g| at_least(vals, *g, &b)) {
                        let acked = b.quorum_acked_ms.unwrap_or(f64::MAX);
                        if disk_faults.iter().any(|&d| acked < d && d < inv.time_ms) {
                            excused += 1;
                            continue;
                        }
                        stale_here += 1;
                        if stale_here == 1 {
                            v.example(format!(
                                "{what} (quorum, via {:?}) lacks {} @{ts} = {} (version {}), acknowledged before it began; got {:?}",
                                inv.node,
                                range.series,
                                b.value,
                                b.version,
                                got.get(ts)
                            ));
                        }
                    }
                }
                if stale_here > 0 {
                    stale_reads += 1;
                    stale_samples += stale_here;
                }
            }
            EntryType::Fail | EntryType::Unknown => failed += 1,
            _ => {}
        }
    }
    let mut wrong_final = 0u64;
    for s in final_state {
        if !check(s, final_read_ms, "the final read", &mut v) {
            wrong_final += 1;
        }
    }
    v.valid = wrong == 0 && wrong_final == 0 && stale_reads == 0;
    v.count("reads_ok", reads)
        .count("reads_failed", failed)
        .count("samples_read", samples)
        .count("wrong_reads", wrong)
        .count("wrong_final_samples", wrong_final)
        .count("quorum_reads_checked", quorum_reads)
        .count("stale_quorum_reads", stale_reads)
        .count("stale_quorum_samples", stale_samples)
        .count("stale_excused_by_disk_damage", excused);
    v
}

/// Whether a nemesis event's detail says it damaged a disk (the texts of
/// [`crate::nemesis::truncate_newest_wal`] and [`crate::nemesis::flip_block_bytes`]).
pub fn is_disk_damage(detail: &str) -> bool {
    detail.starts_with("cut ") || detail.starts_with("flipped ")
}

/// Operation totals by function and outcome, for the report.
pub fn op_counts(history: &[Entry]) -> serde_json::Value {
    let mut m: std::collections::BTreeMap<String, std::collections::BTreeMap<&str, u64>> =
        Default::default();
    for e in history {
        let outcome = match e.kind {
            EntryType::Ok => "ok",
            EntryType::Fail => "fail",
            EntryType::Unknown => "unknown",
            _ => continue,
        };
        *m.entry(format!("{} {}", e.process, e.f))
            .or_default()
            .entry(outcome)
            .or_default() += 1;
    }
    serde_json::to_value(m).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Written as W;

    fn write(process: &str, op: u64, c: &str, t: f64, samples: &[(i64, f64, u64)]) -> Entry {
        let mut e = Entry::new(process, EntryType::Invoke, "write");
        e.op = Some(op);
        e.time_ms = t;
        e.consistency = Some(c.into());
        e.writes = samples
            .iter()
            .map(|&(ts, value, version)| W {
                series: "p/0".into(),
                ts,
                value,
                version,
            })
            .collect();
        e
    }

    fn done(process: &str, op: u64, kind: EntryType, t: f64) -> Entry {
        let mut e = Entry::new(process, kind, "write");
        e.op = Some(op);
        e.time_ms = t;
        e
    }

    fn seen(ts: i64, value: f64) -> Seen {
        Seen {
            series: "p/0".into(),
            ts,
            value,
        }
    }

    #[test]
    fn a_lost_quorum_write_fails_and_a_lost_failed_write_does_not() {
        let h = vec![
            write("a", 0, "quorum", 0.0, &[(1, 10.0, 0)]),
            done("a", 0, EntryType::Ok, 1.0),
            write("a", 1, "quorum", 2.0, &[(2, 20.0, 0)]),
            done("a", 1, EntryType::Fail, 3.0),
        ];
        let v = acknowledged(&h, &[seen(1, 10.0)]);
        assert!(v.valid, "{v:?}");
        let v = acknowledged(&h, &[seen(2, 20.0)]);
        assert!(!v.valid);
        assert_eq!(v.counts["lost_quorum"], 1);
    }

    #[test]
    fn an_older_version_than_acknowledged_is_a_loss() {
        let h = vec![
            write("a", 0, "quorum", 0.0, &[(1, 10.0, 0)]),
            done("a", 0, EntryType::Ok, 1.0),
            write("a", 1, "quorum", 2.0, &[(1, 5.0, 1)]),
            done("a", 1, EntryType::Ok, 3.0),
        ];
        assert!(
            !acknowledged(&h, &[seen(1, 10.0)]).valid,
            "version 0 after an acked version 1"
        );
        assert!(acknowledged(&h, &[seen(1, 5.0)]).valid);
    }

    #[test]
    fn one_acknowledged_losses_are_reported_not_fatal() {
        let h = vec![
            write("l", 0, "one", 0.0, &[(1, 10.0, 0)]),
            done("l", 0, EntryType::Ok, 1.0),
        ];
        let v = acknowledged(&h, &[]);
        assert!(v.valid);
        assert_eq!(v.counts["lost_one"], 1);
    }

    fn quorum_read(t_invoke: f64, t_done: f64, got: &[(i64, f64)]) -> Vec<Entry> {
        let mut inv = Entry::new("reader-quorum", EntryType::Invoke, "read");
        inv.op = Some(0);
        inv.time_ms = t_invoke;
        inv.consistency = Some("quorum".into());
        inv.range = Some(crate::history::ReadRange {
            series: "p/0".into(),
            after: 0,
            until: 10,
        });
        let mut done = Entry::new("reader-quorum", EntryType::Ok, "read");
        done.op = Some(0);
        done.time_ms = t_done;
        done.reads = got.iter().map(|&(ts, v)| seen(ts, v)).collect();
        vec![inv, done]
    }

    #[test]
    fn a_quorum_read_must_see_writes_acknowledged_before_it_began() {
        let mut h = vec![
            write("a", 0, "quorum", 0.0, &[(1, 10.0, 0)]),
            done("a", 0, EntryType::Ok, 1.0),
            write("a", 1, "quorum", 5.0, &[(2, 20.0, 0)]),
            done("a", 1, EntryType::Ok, 9.0),
        ];
        // Began at 2: must hold ts 1, may lack ts 2 (acknowledged later).
        h.extend(quorum_read(2.0, 3.0, &[(1, 10.0)]));
        let v = reads(&h, &[], 20.0);
        assert!(v.valid, "{v:?}");
        assert_eq!(v.counts["quorum_reads_checked"], 1);
        h.truncate(4);
        h.extend(quorum_read(2.0, 3.0, &[]));
        let v = reads(&h, &[], 20.0);
        assert!(!v.valid);
        assert_eq!(v.counts["stale_quorum_reads"], 1);
        // A disk fault between the acknowledgement and the read excuses it.
        let mut disk = Entry::new("nemesis", EntryType::Info, "start");
        disk.time_ms = 1.5;
        disk.detail = Some("cut 10 of 100 bytes off wal/1.wal".into());
        h.insert(2, disk);
        let v = reads(&h, &[], 20.0);
        assert!(v.valid, "{v:?}");
        assert_eq!(v.counts["stale_excused_by_disk_damage"], 1);
    }

    #[test]
    fn reads_of_unwritten_or_future_values_are_wrong() {
        let mut h = vec![
            write("a", 0, "quorum", 10.0, &[(1, 10.0, 0)]),
            done("a", 0, EntryType::Unknown, 11.0),
        ];
        let mut r = Entry::new("reader", EntryType::Ok, "read");
        r.time_ms = 12.0;
        r.reads = vec![seen(1, 10.0)];
        h.push(r.clone());
        assert!(reads(&h, &[], 20.0).valid, "an unknown write may be read");
        r.reads = vec![seen(1, 11.0)];
        h.push(r.clone());
        let v = reads(&h, &[], 20.0);
        assert!(!v.valid);
        assert_eq!(v.counts["wrong_reads"], 1);
        h.pop();
        r.time_ms = 5.0;
        r.reads = vec![seen(1, 10.0)];
        h.push(r);
        assert!(
            !reads(&h, &[], 20.0).valid,
            "read before the write was invoked"
        );
        assert!(!reads(&h[..2], &[seen(1, 3.0)], 20.0).valid, "final state");
    }
}
