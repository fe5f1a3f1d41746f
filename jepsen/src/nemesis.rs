//! Nemeses: the faults a run injects, scheduled by a seed, and the code that injects and
//! heals each one against real processes, files and the kernel's packet filter.
//!
//! A schedule is a list of faults, one at a time, each with a start and a length: the same
//! seed, kinds, node count and time limit give the same schedule, so a failing run can be
//! replayed. Every fault's start and stop is recorded in the history.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use floe_tests::convergence::Rng;
use floe_tests::{TestCluster, http};
use serde::Serialize;

use crate::history::Recorder;
use crate::net::Firewall;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// SIGKILL a node, restart it at the fault's end.
    Kill,
    /// SIGSTOP a node, SIGCONT it at the end.
    Pause,
    /// Drop packets between groups of nodes (a cut, or a lossy link).
    Partition,
    /// Restart a node with its wall clock skewed (libfaketime), back to true time at the end.
    Clock,
    /// Crash a node, damage its disk (truncate its WAL's tail or flip bytes in a block file),
    /// restart it on the damaged files.
    Disk,
    /// Add a node to the ring while serving, then remove it again.
    Rebalance,
    /// Kill the mirror target cluster, restart it at the end.
    Mirror,
}

/// Every kind, in the order the matrix runs them.
pub const ALL: [Kind; 7] = [
    Kind::Kill,
    Kind::Pause,
    Kind::Partition,
    Kind::Clock,
    Kind::Disk,
    Kind::Rebalance,
    Kind::Mirror,
];

impl Kind {
    /// Its name (`kill`, `pause`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::Pause => "pause",
            Kind::Partition => "partition",
            Kind::Clock => "clock",
            Kind::Disk => "disk",
            Kind::Rebalance => "rebalance",
            Kind::Mirror => "mirror",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> anyhow::Result<Kind> {
        ALL.into_iter().find(|k| k.name() == s).with_context(|| {
            format!(
                "unknown nemesis {s:?} (one of: {})",
                ALL.map(Kind::name).join(", ")
            )
        })
    }
}

/// What exactly a fault does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Action {
    /// SIGKILL node `node`.
    Kill {
        /// Node index.
        node: usize,
    },
    /// SIGSTOP node `node`.
    Pause {
        /// Node index.
        node: usize,
    },
    /// Node `node` cut off from every other node.
    Isolate {
        /// Node index.
        node: usize,
    },
    /// The nodes split in two sides that cannot talk.
    Split {
        /// The smaller side's node indexes.
        minority: Vec<usize>,
    },
    /// Every link between nodes loses `percent` % of its packets.
    Lossy {
        /// Share of packets dropped.
        percent: u32,
    },
    /// Node `node` restarted with its clock `offset_s` seconds off.
    Clock {
        /// Node index.
        node: usize,
        /// Skew, seconds (negative: behind).
        offset_s: i64,
    },
    /// Node `node` crashed and restarted with its newest WAL segment cut short by `bytes`.
    TruncateWal {
        /// Node index.
        node: usize,
        /// Bytes cut off the end (at most half the segment).
        bytes: u64,
    },
    /// Node `node` crashed and restarted with `count` bytes flipped in one block file.
    FlipBlock {
        /// Node index.
        node: usize,
        /// Bytes flipped.
        count: u32,
        /// Picks the file and the offsets.
        salt: u64,
    },
    /// A new node joins the ring; at the end it leaves again.
    AddRemove,
    /// The mirror target cluster is killed; restarted at the end.
    MirrorDown,
}

impl Action {
    /// The kind it belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Action::Kill { .. } => Kind::Kill,
            Action::Pause { .. } => Kind::Pause,
            Action::Isolate { .. } | Action::Split { .. } | Action::Lossy { .. } => Kind::Partition,
            Action::Clock { .. } => Kind::Clock,
            Action::TruncateWal { .. } | Action::FlipBlock { .. } => Kind::Disk,
            Action::AddRemove => Kind::Rebalance,
            Action::MirrorDown => Kind::Mirror,
        }
    }

    /// The single node it hits, if any.
    pub fn node(&self) -> Option<usize> {
        match self {
            Action::Kill { node }
            | Action::Pause { node }
            | Action::Isolate { node }
            | Action::Clock { node, .. }
            | Action::TruncateWal { node, .. }
            | Action::FlipBlock { node, .. } => Some(*node),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |i: &usize| format!("n{}", i + 1);
        match self {
            Action::Kill { node } => write!(f, "kill {}", n(node)),
            Action::Pause { node } => write!(f, "pause {}", n(node)),
            Action::Isolate { node } => write!(f, "isolate {}", n(node)),
            Action::Split { minority } => write!(
                f,
                "split {} | rest",
                minority.iter().map(n).collect::<Vec<_>>().join(" ")
            ),
            Action::Lossy { percent } => write!(f, "lossy {percent}%"),
            Action::Clock { node, offset_s } => write!(f, "clock {} {offset_s:+}s", n(node)),
            Action::TruncateWal { node, bytes } => write!(f, "truncate wal {} -{bytes}B", n(node)),
            Action::FlipBlock { node, count, .. } => write!(f, "flip {count}B block {}", n(node)),
            Action::AddRemove => write!(f, "add+remove node"),
            Action::MirrorDown => write!(f, "mirror target down"),
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// Start, seconds after the workloads start.
    pub at_s: f64,
    /// How long it lasts, seconds.
    pub for_s: f64,
    /// What it does.
    pub action: Action,
}

/// The schedule for `kinds` over `time_limit_s` on `nodes` nodes from `seed`: faults one after
/// another, 3–8 s each (rebalance 10–15 s), 2–5 s apart, the first after 3 s, the last ending
/// before the time limit. The disk nemesis damages one node per run (chosen by the seed): a
/// second damaged replica of the same data is beyond what N = 3 promises.
pub fn schedule(kinds: &[Kind], seed: u64, nodes: usize, time_limit_s: f64) -> Vec<Fault> {
    let mut rng = Rng::new(seed ^ 0x6a65_7073_656e);
    let mut out = Vec::new();
    if kinds.is_empty() || nodes == 0 {
        return out;
    }
    let disk_node = rng.below(nodes);
    let mut t = 3.0;
    loop {
        let kind = kinds[rng.below(kinds.len())];
        let for_s = match kind {
            Kind::Rebalance => 10.0 + rng.below(6) as f64,
            _ => 3.0 + rng.below(6) as f64,
        };
        if t + for_s > time_limit_s {
            break;
        }
        let node = rng.below(nodes);
        let action = match kind {
            Kind::Kill => Action::Kill { node },
            Kind::Pause => Action::Pause { node },
            Kind::Partition => match rng.below(3) {
                0 => Action::Isolate { node },
                1 if nodes >= 3 => {
                    let size = 1 + rng.below((nodes - 1) / 2);
                    let mut minority: Vec<usize> = Vec::new();
                    while minority.len() < size {
                        let i = rng.below(nodes);
                        if !minority.contains(&i) {
                            minority.push(i);
                        }
                    }
                    minority.sort_unstable();
                    Action::Split { minority }
                }
                _ => Action::Lossy {
                    percent: 30 + 10 * rng.below(5) as u32,
                },
            },
            Kind::Clock => {
                let magnitude = 30 + rng.below(271) as i64;
                Action::Clock {
                    node,
                    offset_s: if rng.below(2) == 0 {
                        magnitude
                    } else {
                        -magnitude
                    },
                }
            }
            Kind::Disk => {
                if rng.below(2) == 0 {
                    Action::TruncateWal {
                        node: disk_node,
                        bytes: 1 + rng.below(64 * 1024) as u64,
                    }
                } else {
                    Action::FlipBlock {
                        node: disk_node,
                        count: 1 + rng.below(16) as u32,
                        salt: rng.next_u64(),
                    }
                }
            }
            Kind::Rebalance => Action::AddRemove,
            Kind::Mirror => Action::MirrorDown,
        };
        out.push(Fault {
            at_s: t,
            for_s,
            action,
        });
        t += for_s + 2.0 + rng.below(4) as f64;
    }
    out
}

/// What the nemesis acts on.
#[derive(Debug)]
pub struct Env {
    /// The cluster under test.
    pub cluster: Arc<Mutex<TestCluster>>,
    /// The mirror target cluster, when the run mirrors.
    pub mirror: Option<Arc<Mutex<TestCluster>>>,
    /// The firewall, when partitions are scheduled.
    pub firewall: Option<Firewall>,
    /// The recorder.
    pub rec: Recorder,
    /// The libfaketime library, when clock faults are scheduled.
    pub faketime: Option<PathBuf>,
    /// Bound on a rebalance step.
    pub change_timeout: Duration,
    /// Nodes found exited on their own (see [`Env::note_exits`]).
    pub exited: Mutex<Vec<String>>,
}

/// Locks a shared cluster (a panicked holder's lock is taken over).
pub fn lock(c: &Arc<Mutex<TestCluster>>) -> std::sync::MutexGuard<'_, TestCluster> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where libfaketime's library is (Debian package `faketime`).
pub fn find_faketime() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/faketime/libfaketimeMT.so.1",
        "/usr/local/lib/faketime/libfaketimeMT.so.1",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

impl Env {
    /// Runs `schedule` (each fault at its time, relative to the recorder's start), then heals
    /// whatever is still broken. Stops early, healing, when `stop` is set. Errors injecting or
    /// healing are fatal to the run: a nemesis that did not do what it says proves nothing.
    pub fn run(&self, schedule: &[Fault], stop: &AtomicBool) -> anyhow::Result<()> {
        for f in schedule {
            if !self.wait_until(f.at_s, stop) {
                break;
            }
            let text = f.action.to_string();
            let node_id = f.action.node().map(|i| format!("n{}", i + 1));
            self.note_exits();
            let detail = self
                .start(&f.action)
                .with_context(|| format!("inject {text}"))?;
            if let Some(d) = &detail {
                eprintln!("jepsen: {text}: {d}");
            }
            self.rec.nemesis("start", &text, node_id.as_deref(), detail);
            self.wait_until(f.at_s + f.for_s, stop);
            self.note_exits();
            let detail = self
                .stop(&f.action)
                .with_context(|| format!("heal {text}"))?;
            self.rec.nemesis("stop", &text, node_id.as_deref(), detail);
        }
        Ok(())
    }

    /// Records every member node (and the mirror target) that exited on its own since the
    /// last look: a crash no fault caused (a later fault would otherwise restart it unseen).
    pub fn note_exits(&self) {
        let mut found = Vec::new();
        {
            let mut c = lock(&self.cluster);
            for i in members(&c) {
                if c.pid(i).is_some() && !c.is_running(i) {
                    found.push(c.node_id(i).to_string());
                    let _ = c.kill(i);
                }
            }
        }
        if let Some(m) = &self.mirror {
            let mut m = lock(m);
            if m.pid(0).is_some() && !m.is_running(0) {
                found.push("mirror-n1".to_string());
                let _ = m.kill(0);
            }
        }
        for id in found {
            eprintln!("jepsen: {id} exited on its own");
            self.rec.nemesis(
                "exited",
                &format!("{id} exited on its own"),
                Some(&id),
                None,
            );
            self.exited
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(id);
        }
    }

    /// Every member node running, on true time, resumed; the network whole; the mirror
    /// target up. Nodes found exited on their own are recorded first ([`Env::note_exits`]).
    pub fn heal_all(&self) -> anyhow::Result<()> {
        if let Some(fw) = &self.firewall {
            fw.heal()?;
        }
        self.note_exits();
        let mut c = lock(&self.cluster);
        for i in members(&c) {
            if c.is_running(i) {
                let _ = c.resume(i);
            } else {
                c.set_node_env(i, Vec::new());
                c.start_node(i)?;
            }
        }
        drop(c);
        if let Some(m) = &self.mirror {
            let mut m = lock(m);
            if !m.is_running(0) {
                m.start_node(0)?;
            }
        }
        Ok(())
    }

    /// Sleeps until `at_s` on the run's clock (the fault schedule is a timetable) or `stop`;
    /// false if stopped.
    fn wait_until(&self, at_s: f64, stop: &AtomicBool) -> bool {
        loop {
            if stop.load(Ordering::Acquire) {
                return false;
            }
            let left = at_s - self.rec.now_s();
            if left <= 0.0 {
                return true;
            }
            std::thread::sleep(Duration::from_secs_f64(left.min(0.1)));
        }
    }

    fn ports(&self, nodes: &[usize]) -> Vec<u16> {
        let c = lock(&self.cluster);
        nodes.iter().map(|&i| c.quic_addr(i).port()).collect()
    }

    fn firewall(&self) -> anyhow::Result<&Firewall> {
        self.firewall
            .as_ref()
            .context("partition faults need the run's firewall")
    }

    /// Injects `a`; what it did exactly, where that says more than the action (the file
    /// damaged).
    pub fn start(&self, a: &Action) -> anyhow::Result<Option<String>> {
        let done = |r: anyhow::Result<()>| r.map(|()| None);
        match a {
            Action::Kill { node } => done(lock(&self.cluster).kill(*node)),
            Action::Pause { node } => done(lock(&self.cluster).pause(*node)),
            Action::Isolate { node } => {
                let n = lock(&self.cluster).len();
                let rest: Vec<usize> = (0..n).filter(|i| i != node).collect();
                done(
                    self.firewall()?
                        .partition(&[self.ports(&[*node]), self.ports(&rest)], 100),
                )
            }
            Action::Split { minority } => {
                let n = lock(&self.cluster).len();
                let rest: Vec<usize> = (0..n).filter(|i| !minority.contains(i)).collect();
                done(
                    self.firewall()?
                        .partition(&[self.ports(minority), self.ports(&rest)], 100),
                )
            }
            Action::Lossy { percent } => {
                let n = lock(&self.cluster).len();
                let groups: Vec<Vec<u16>> = (0..n).map(|i| self.ports(&[i])).collect();
                done(self.firewall()?.partition(&groups, *percent))
            }
            Action::Clock { node, offset_s } => {
                let lib = self
                    .faketime
                    .clone()
                    .context("the clock nemesis needs libfaketime (Debian package faketime)")?;
                let mut c = lock(&self.cluster);
                c.kill(*node)?;
                c.set_node_env(
                    *node,
                    vec![
                        ("LD_PRELOAD".into(), lib.to_string_lossy().into_owned()),
                        ("FAKETIME".into(), format!("{offset_s:+}")),
                        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
                    ],
                );
                done(c.start_node(*node))
            }
            Action::TruncateWal { node, bytes } => {
                let mut c = lock(&self.cluster);
                c.kill(*node)?;
                let what = truncate_newest_wal(&c.data_dir(*node), *bytes)?;
                c.start_node(*node)?;
                Ok(Some(what))
            }
            Action::FlipBlock { node, count, salt } => {
                let mut c = lock(&self.cluster);
                // Blocks are written at flush: ask for one so there is a block to damage.
                let flush = http::request_within(
                    c.http_addr(*node),
                    "POST",
                    "/api/v1/admin/flush",
                    &[],
                    b"",
                    Duration::from_secs(30),
                );
                let flushed = match &flush {
                    Ok(r) if r.is_success() => "after a flush".to_string(),
                    Ok(r) => format!("flush answered {}", r.status),
                    Err(e) => format!("flush failed: {e:#}"),
                };
                c.kill(*node)?;
                let what = flip_block_bytes(&c.data_dir(*node), *count, *salt)?;
                c.start_node(*node)?;
                Ok(Some(format!("{what} ({flushed})")))
            }
            Action::AddRemove => {
                let mut c = lock(&self.cluster);
                let mut all = members(&c);
                let zone = format!("z{}", c.len() + 1);
                let new = c.add_node(&zone)?;
                all.push(new);
                let next = c.next_topology(&all, &[])?;
                c.set_node_topology(new, &next)?;
                c.start_node(new)?;
                let r = c.ring_apply(0, &next)?;
                anyhow::ensure!(
                    r.status == 200,
                    "ring apply answered {}: {}",
                    r.status,
                    r.text()
                );
                Ok(Some(format!(
                    "{} joins (topology version {})",
                    c.node_id(new),
                    next.version()
                )))
            }
            Action::MirrorDown => {
                let m = self
                    .mirror
                    .as_ref()
                    .context("no mirror target in this run")?;
                done(lock(m).kill(0))
            }
        }
    }

    /// Heals `a`; what it found, where that says more (the packets a partition dropped).
    pub fn stop(&self, a: &Action) -> anyhow::Result<Option<String>> {
        if a.kind() == Kind::Partition {
            let fw = self.firewall()?;
            let dropped = fw.dropped()?;
            fw.heal()?;
            // A partition that dropped nothing did not happen (the rules missed the nodes'
            // traffic): the run would prove nothing.
            anyhow::ensure!(
                dropped > 0,
                "the partition dropped no packet: its rules do not match the nodes' traffic"
            );
            return Ok(Some(format!("dropped {dropped} packets")));
        }
        self.heal(a).map(|()| None)
    }

    fn heal(&self, a: &Action) -> anyhow::Result<()> {
        match a {
            Action::Kill { node } => lock(&self.cluster).start_node(*node),
            Action::Pause { node } => lock(&self.cluster).resume(*node),
            Action::Isolate { .. } | Action::Split { .. } | Action::Lossy { .. } => {
                self.firewall()?.heal()
            }
            Action::Clock { node, .. } => {
                let mut c = lock(&self.cluster);
                c.kill(*node)?;
                c.set_node_env(*node, Vec::new());
                c.start_node(*node)
            }
            Action::TruncateWal { .. } | Action::FlipBlock { .. } => Ok(()),
            Action::AddRemove => {
                let mut c = lock(&self.cluster);
                // The node that joined is the last one added; the others are the members.
                let last = c.len() - 1;
                let before = members(&c);
                // The join must finish before the leave starts.
                let joined = c.topology().version() + 1;
                c.wait_ring_stable(0, joined, self.change_timeout)?;
                let mut grown_nodes = before.clone();
                grown_nodes.push(last);
                let grown = c.next_topology(&grown_nodes, &[])?;
                c.adopt_topology(grown);
                let shrunk = c.next_topology(&before, &[])?;
                let r = c.ring_apply(0, &shrunk)?;
                anyhow::ensure!(
                    r.status == 200,
                    "ring apply answered {}: {}",
                    r.status,
                    r.text()
                );
                c.wait_ring_stable(0, shrunk.version(), self.change_timeout)?;
                c.stop(last)?;
                c.adopt_topology(shrunk);
                Ok(())
            }
            Action::MirrorDown => {
                let m = self
                    .mirror
                    .as_ref()
                    .context("no mirror target in this run")?;
                lock(m).start_node(0)
            }
        }
    }
}

/// The indexes of the nodes in the cluster's topology (a removed node keeps its index).
fn members(c: &TestCluster) -> Vec<usize> {
    c.topology()
        .nodes()
        .iter()
        .filter_map(|n| c.index_of(&n.id))
        .collect()
}

/// The WAL segment files of a data directory, oldest first.
fn wal_segments(data: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = data.join("wal");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    out.sort();
    Ok(out)
}

/// Cuts `bytes` (at most half of its records, never into its header) off the newest WAL
/// segment that holds a record; says which and how much.
pub fn truncate_newest_wal(data: &Path, bytes: u64) -> anyhow::Result<String> {
    let header = floe_storage_format::wal::SEGMENT_HEADER_LEN as u64;
    for seg in wal_segments(data)?.into_iter().rev() {
        let len = std::fs::metadata(&seg)?.len();
        // A segment with no record after its header holds nothing to lose.
        if len <= header {
            continue;
        }
        let cut = bytes.min((len - header).div_ceil(2)).max(1);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .with_context(|| format!("open {}", seg.display()))?;
        f.set_len(len - cut)?;
        f.sync_all()?;
        return Ok(format!(
            "cut {cut} of {len} bytes off wal/{}",
            seg.file_name().unwrap_or_default().to_string_lossy()
        ));
    }
    Ok("no WAL segment to cut".to_string())
}

/// Flips one bit in each of `count` bytes at offsets chosen by `salt` in one block file chosen
/// by `salt` (none when the node has no block yet); says which.
pub fn flip_block_bytes(data: &Path, count: u32, salt: u64) -> anyhow::Result<String> {
    let dir = data.join("blocks");
    let mut blocks: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "blk"))
            .collect(),
        Err(_) => return Ok("no block file to damage".to_string()),
    };
    if blocks.is_empty() {
        return Ok("no block file to damage".to_string());
    }
    blocks.sort();
    let mut rng = Rng::new(salt);
    let path = &blocks[rng.below(blocks.len())];
    let mut bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    if bytes.is_empty() {
        return Ok("an empty block file".to_string());
    }
    for _ in 0..count {
        let at = rng.below(bytes.len());
        bytes[at] ^= 1 << rng.below(8);
    }
    std::fs::write(path, &bytes).with_context(|| format!("write {}", path.display()))?;
    Ok(format!(
        "flipped a bit in {count} bytes of blocks/{} ({} bytes)",
        path.file_name().unwrap_or_default().to_string_lossy(),
        bytes.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_and_faults_do_not_overlap() {
        let kinds = [Kind::Kill, Kind::Partition, Kind::Disk];
        let a = schedule(&kinds, 7, 3, 60.0);
        assert_eq!(a, schedule(&kinds, 7, 3, 60.0));
        assert_ne!(a, schedule(&kinds, 8, 3, 60.0));
        assert!(a.len() >= 4, "{a:?}");
        for w in a.windows(2) {
            assert!(w[0].at_s + w[0].for_s < w[1].at_s, "{w:?}");
        }
        let last = a.last().expect("faults");
        assert!(last.at_s + last.for_s <= 60.0);
        assert!(a.iter().all(|f| kinds.contains(&f.action.kind())));
        // One disk per run.
        let disks: std::collections::HashSet<_> = a
            .iter()
            .filter(|f| f.action.kind() == Kind::Disk)
            .filter_map(|f| f.action.node())
            .collect();
        assert!(disks.len() <= 1, "{a:?}");
    }

    #[test]
    fn names_parse_back() {
        for k in ALL {
            assert_eq!(Kind::parse(k.name()).expect("parses"), k);
        }
        assert!(Kind::parse("meteor").is_err());
        assert!(schedule(&[], 1, 3, 60.0).is_empty());
    }

    #[test]
    fn wal_truncation_and_block_flips_touch_only_their_files() {
        let tmp = std::env::temp_dir().join(format!("floe-jepsen-disk-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("wal")).expect("dir");
        std::fs::create_dir_all(tmp.join("blocks")).expect("dir");
        std::fs::write(tmp.join("wal/0000000000000001.wal"), vec![1u8; 100]).expect("w");
        std::fs::write(tmp.join("wal/0000000000000002.wal"), vec![2u8; 1000]).expect("w");
        std::fs::write(tmp.join("blocks/0000000000000001.blk"), vec![0u8; 4096]).expect("w");
        truncate_newest_wal(&tmp, 300).expect("truncate");
        assert_eq!(
            std::fs::metadata(tmp.join("wal/0000000000000002.wal"))
                .expect("m")
                .len(),
            700
        );
        assert_eq!(
            std::fs::metadata(tmp.join("wal/0000000000000001.wal"))
                .expect("m")
                .len(),
            100
        );
        // A newer segment holding only its header is passed over; at most half the records
        // go, never the header.
        std::fs::write(tmp.join("wal/0000000000000003.wal"), vec![3u8; 24]).expect("w");
        let what = truncate_newest_wal(&tmp, 100_000).expect("truncate");
        assert!(what.contains("0000000000000002.wal"), "{what}");
        assert_eq!(
            std::fs::metadata(tmp.join("wal/0000000000000002.wal"))
                .expect("m")
                .len(),
            700 - (700 - 24) / 2
        );
        assert_eq!(
            std::fs::metadata(tmp.join("wal/0000000000000003.wal"))
                .expect("m")
                .len(),
            24
        );
        flip_block_bytes(&tmp, 5, 42).expect("flip");
        let b = std::fs::read(tmp.join("blocks/0000000000000001.blk")).expect("r");
        let flipped = b.iter().filter(|&&x| x != 0).count();
        assert!((1..=5).contains(&flipped), "{flipped}");
        std::fs::remove_dir_all(&tmp).expect("clean");
    }
}
