//! The history of a run: every operation's invocation and completion, and every fault the
//! nemesis injected and healed, in the order they happened, as JSON lines (`history.jsonl`).
//!
//! ```text
//! {"index":0,"time_ms":12.3,"process":"client-q","type":"invoke","f":"write","node":"n2",…}
//! {"index":1,"time_ms":19.8,"process":"client-q","type":"ok","f":"write","node":"n2",…}
//! {"index":2,"time_ms":5012.0,"process":"nemesis","type":"info","f":"start","fault":"kill n3"}
//! ```
//!
//! An operation is one `invoke` entry and then one completion by the same `process` with the
//! same `op` number: `ok` (acknowledged), `fail` (refused: may still be partly stored, as a
//! write reaches its owners independently) or `unknown` (no answer: timed out, connection
//! lost). The recorder writes entries as they happen, so a run that dies leaves its history.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Acknowledged (a write) or answered (a read).
    Ok,
    /// Refused with an error answer.
    Fail,
    /// No answer: timed out or the connection was lost.
    Unknown,
}

/// What kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// An operation starts.
    Invoke,
    /// Completed: acknowledged or answered.
    Ok,
    /// Completed: refused.
    Fail,
    /// Completed: no answer.
    Unknown,
    /// A nemesis event.
    Info,
}

impl From<Outcome> for EntryType {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Ok => EntryType::Ok,
            Outcome::Fail => EntryType::Fail,
            Outcome::Unknown => EntryType::Unknown,
        }
    }
}

/// One sample a write carried: series (canonical `name{l="v",…}` text), timestamp, value,
/// version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    /// The series, as its canonical text.
    pub series: String,
    /// Timestamp, ms.
    pub ts: i64,
    /// Value.
    pub value: f64,
    /// Version (the merge rule's first key).
    pub version: u64,
}

/// One sample a read returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// The series, as its canonical text.
    pub series: String,
    /// Timestamp, ms.
    pub ts: i64,
    /// Value.
    pub value: f64,
}

/// One line of the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the history.
    pub index: u64,
    /// Time since the run started, ms.
    pub time_ms: f64,
    /// Who: a workload process (`client-quorum`, `rw-quorum`, `line-one`, `reader-http`, …)
    /// or `nemesis`.
    pub process: String,
    /// Invocation, completion or nemesis event.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// The function: `write`, `read`, or for the nemesis `start` / `stop`.
    pub f: String,
    /// The operation's number within its process (pairs invoke and completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<u64>,
    /// The node the operation was sent to (`n2`), or the node a fault hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Write consistency asked for (`quorum`, `one`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// Samples a write carried (on the invocation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<Written>,
    /// Samples a read returned (on the completion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<Seen>,
    /// Latency of a completed operation, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// A fault's description (`kill n3`, `partition n1 | n2 n3`), or an error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Error text of a failed or unknown operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What a fault did exactly (the file damaged, the bytes cut), or a read's query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What a read asked for (on the invocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ReadRange>,
}

/// The samples a read is held to: one series, timestamps in `(after, until]` (its range
/// selector returns `[after, until]`; the boundary sample is not required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRange {
    /// The series, as its canonical text.
    pub series: String,
    /// Timestamps after this (exclusive), ms.
    pub after: i64,
    /// Timestamps up to this (inclusive), ms.
    pub until: i64,
}

impl Entry {
    /// A blank entry of `kind` by `process` doing `f` (index and time set by the recorder).
    pub fn new(process: &str, kind: EntryType, f: &str) -> Self {
        Self {
            index: 0,
            time_ms: 0.0,
            process: process.to_string(),
            kind,
            f: f.to_string(),
            op: None,
            node: None,
            consistency: None,
            writes: Vec::new(),
            reads: Vec::new(),
            latency_ms: None,
            fault: None,
            error: None,
            detail: None,
            range: None,
        }
    }
}

#[derive(Debug)]
struct Inner {
    out: BufWriter<File>,
    entries: Vec<Entry>,
    failed: Option<String>,
}

/// Records entries to the history file (as they happen) and in memory (for the checkers).
/// Cheap to clone; every workload thread and the nemesis hold one.
#[derive(Debug, Clone)]
pub struct Recorder {
    started: Instant,
    inner: Arc<Mutex<Inner>>,
}

impl Recorder {
    /// Creates `path` (the run's `history.jsonl`); times count from now.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
        Ok(Self {
            started: Instant::now(),
            inner: Arc::new(Mutex::new(Inner {
                out: BufWriter::new(file),
                entries: Vec::new(),
                failed: None,
            })),
        })
    }

    /// Seconds since the run started.
    pub fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The instant times count from.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Appends `entry`, stamped with the next index and the current time; returns the time (ms).
    pub fn record(&self, mut entry: Entry) -> f64 {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        entry.index = inner.entries.len() as u64;
        entry.time_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let t = entry.time_ms;
        let line = serde_json::to_string(&entry).expect("history entries serialize");
        // Flushed line by line: a run that dies keeps its history up to its last entry.
        if let Err(e) = writeln!(inner.out, "{line}").and_then(|()| inner.out.flush())
            && inner.failed.is_none()
        {
            inner.failed = Some(e.to_string());
        }
        inner.entries.push(entry);
        t
    }

    /// A nemesis event (`f` = `start` or `stop`) about `fault`, on `node` if it hit one,
    /// with what it did exactly.
    pub fn nemesis(&self, f: &str, fault: &str, node: Option<&str>, detail: Option<String>) {
        let mut e = Entry::new("nemesis", EntryType::Info, f);
        e.fault = Some(fault.to_string());
        e.node = node.map(str::to_string);
        e.detail = detail;
        self.record(e);
    }

    /// Flushes the file; fails if any write to it failed.
    pub fn flush(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.out.flush().context("flush the history file")?;
        if let Some(e) = &inner.failed {
            anyhow::bail!("writing the history file failed: {e}");
        }
        Ok(())
    }

    /// Every entry so far, in order.
    pub fn entries(&self) -> Vec<Entry> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .clone()
    }
}

/// Reads a history file back (for re-checking a run).
pub fn read(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), n + 1))
        })
        .collect()
}
