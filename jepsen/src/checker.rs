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

/// A write operation: invocation and completion.
#[derive(Debug, Clone)]
struct WriteOp<'a> {
    invoke: &'a Entry,
    outcome: Option<EntryType>,
}

/// Every sample value written per (series, ts): (version, value, earliest invoke ms, acked
/// at quorum, acked at one).
type Written = HashMap<(String, i64), Vec<(u64, f64, f64, bool, bool)>>;

fn writes(history: &[Entry]) -> Written {
    let mut ops: HashMap<(&str, u64), WriteOp<'_>> = HashMap::new();
    for e in history.iter().filter(|e| e.f == "write") {
        let Some(op) = e.op else { continue };
        match e.kind {
            EntryType::Invoke => {
                ops.insert(
                    (e.process.as_str(), op),
                    WriteOp {
                        invoke: e,
                        outcome: None,
                    },
                );
            }
            kind => {
                if let Some(w) = ops.get_mut(&(e.process.as_str(), op)) {
                    w.outcome = Some(kind);
                }
            }
        }
    }
    let mut out: Written = HashMap::new();
    for w in ops.values() {
        let ok = w.outcome == Some(EntryType::Ok);
        let quorum = ok && w.invoke.consistency.as_deref() == Some("quorum");
        let one = ok && !quorum;
        for x in &w.invoke.writes {
            let slot = out.entry((x.series.clone(), x.ts)).or_default();
            match slot
                .iter_mut()
                .find(|v| v.0 == x.version && v.1.to_bits() == x.value.to_bits())
            {
                Some(v) => {
                    v.2 = v.2.min(w.invoke.time_ms);
                    v.3 |= quorum;
                    v.4 |= one;
                }
                None => slot.push((x.version, x.value, w.invoke.time_ms, quorum, one)),
            }
        }
    }
    out
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
    let (mut quorum, mut one, mut lost_quorum, mut lost_one, mut stale) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut unacked_present = 0u64;
    for ((series, ts), values) in &written {
        let best = |pick: fn(&(u64, f64, f64, bool, bool)) -> bool| {
            values
                .iter()
                .filter(|x| pick(x))
                .max_by(|a, b| precedence(a.0, a.1, b.0, b.1))
                .copied()
        };
        let got = stored.get(&(series.as_str(), *ts)).copied();
        let got_version = got.and_then(|g| {
            values
                .iter()
                .find(|x| x.1.to_bits() == g.to_bits())
                .map(|x| x.0)
        });
        if best(|x| x.3 || x.4).is_none() && got.is_some() {
            unacked_present += 1;
        }
        for (level, pick) in [
            (
                "quorum",
                (|x: &(u64, f64, f64, bool, bool)| x.3) as fn(&_) -> bool,
            ),
            ("one", |x: &(u64, f64, f64, bool, bool)| x.4),
        ] {
            let Some(b) = best(pick) else { continue };
            if level == "quorum" {
                quorum += 1;
            } else {
                one += 1;
            }
            let ok = match (got, got_version) {
                (Some(g), Some(gv)) => {
                    let newer = precedence(gv, g, b.0, b.1) != std::cmp::Ordering::Less;
                    if !newer {
                        stale += 1;
                    }
                    newer
                }
                // A stored value nobody wrote is the reads checker's to report.
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !ok {
                if level == "quorum" {
                    lost_quorum += 1;
                    v.valid = false;
                    v.example(format!(
                        "{series} @{ts}: acknowledged at quorum (version {}, value {}), stored {:?}",
                        b.0, b.1, got
                    ));
                } else {
                    lost_one += 1;
                }
            }
        }
    }
    v.count("acked_quorum_samples", quorum)
        .count("acked_one_samples", one)
        .count("lost_quorum", lost_quorum)
        .count("lost_one", lost_one)
        .count("stale_quorum_or_one", stale)
        .count("unacknowledged_but_stored", unacked_present)
        .count("final_samples", final_state.len() as u64);
    v
}

/// Checks every read (and the final state) against what was written.
pub fn reads(history: &[Entry], final_state: &[Seen], final_read_ms: f64) -> Verdict {
    let written = writes(history);
    let mut v = Verdict::new(true);
    let (mut reads, mut samples, mut wrong, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let check = |s: &Seen, by_ms: f64, what: &str, v: &mut Verdict| -> bool {
        let ok = written.get(&(s.series.clone(), s.ts)).is_some_and(|vals| {
            vals.iter()
                .any(|x| x.1.to_bits() == s.value.to_bits() && x.2 <= by_ms)
        });
        if !ok {
            v.example(format!(
                "{what} returned {} @{} = {}, never written (before then)",
                s.series, s.ts, s.value
            ));
        }
        ok
    };
    for e in history.iter().filter(|e| e.f == "read") {
        match e.kind {
            EntryType::Ok => {
                reads += 1;
                if let Some(err) = &e.error {
                    wrong += 1;
                    v.example(format!("{} op {:?}: {err}", e.process, e.op));
                    continue;
                }
                for s in &e.reads {
                    samples += 1;
                    if !check(
                        s,
                        e.time_ms,
                        &format!("{} op {:?}", e.process, e.op),
                        &mut v,
                    ) {
                        wrong += 1;
                    }
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
    v.valid = wrong == 0 && wrong_final == 0;
    v.count("reads_ok", reads)
        .count("reads_failed", failed)
        .count("samples_read", samples)
        .count("wrong_reads", wrong)
        .count("wrong_final_samples", wrong_final);
    v
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
