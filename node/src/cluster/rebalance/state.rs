//! The rebalance state a node keeps on disk (`<data_dir>/ring/state.json`, written to a
//! temporary file, fsynced and renamed, then the directory fsynced): the adopted topology, the
//! target of a running change and the phase, the topology adopted before, the targets aborted
//! here, and the ranges its streaming job has verified. See `docs/rebalance.md`, "State on
//! disk".

use std::io::Write;
use std::path::{Path, PathBuf};

use floe_wire::proto::{JobKind, RingPhase, RingRange, TopologyRef};
use serde::{Deserialize, Serialize};

/// Version of the file's layout.
pub(crate) const STATE_FORMAT: u32 = 1;

/// The file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Persisted {
    /// [`STATE_FORMAT`].
    pub(crate) format: u32,
    /// The adopted topology document.
    pub(crate) current: String,
    /// The target document of a running change.
    pub(crate) target: Option<String>,
    /// `stable`, `prepared` or `committed`.
    pub(crate) phase: String,
    /// The topology adopted before the current one: `(version, hash as 32 hex digits)`.
    pub(crate) previous: Option<(u64, String)>,
    /// Hashes (32 hex digits) of targets aborted on this node: a late commit of one is refused.
    pub(crate) aborted: Vec<String>,
    /// The streaming job, if one runs or ran for the current change.
    pub(crate) job: Option<PersistedJob>,
    /// Whether series this node no longer owns still have to be deleted.
    pub(crate) purge_pending: bool,
}

/// A streaming job's resumable part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PersistedJob {
    /// `rebalance` or `rebuild`.
    pub(crate) kind: String,
    /// The topology hash the job works for (32 hex digits): the target of a rebalance, the
    /// current topology of a rebuild.
    pub(crate) topology: String,
    /// Ranges verified, `(start, end)`.
    pub(crate) done: Vec<(u64, u64)>,
    /// Every range verified.
    pub(crate) finished: bool,
}

impl PersistedJob {
    pub(crate) fn new(kind: JobKind, topology: TopologyRef) -> PersistedJob {
        PersistedJob {
            kind: job_kind_str(kind).into(),
            topology: hex(topology.hash),
            done: Vec::new(),
            finished: false,
        }
    }

    pub(crate) fn kind(&self) -> JobKind {
        if self.kind == "rebuild" {
            JobKind::Rebuild
        } else {
            JobKind::Rebalance
        }
    }

    pub(crate) fn is_for(&self, kind: JobKind, topology: TopologyRef) -> bool {
        self.kind() == kind && self.topology == hex(topology.hash)
    }

    pub(crate) fn is_done(&self, r: RingRange) -> bool {
        self.done.contains(&(r.start, r.end))
    }
}

pub(crate) fn job_kind_str(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Rebalance => "rebalance",
        JobKind::Rebuild => "rebuild",
    }
}

/// A hash as 32 lowercase hex digits.
pub(crate) fn hex(hash: u128) -> String {
    format!("{hash:032x}")
}

pub(crate) fn parse_phase(s: &str) -> Result<RingPhase, String> {
    match s {
        "stable" => Ok(RingPhase::Stable),
        "prepared" => Ok(RingPhase::Prepared),
        "committed" => Ok(RingPhase::Committed),
        other => Err(format!("unknown phase {other:?}")),
    }
}

/// `(version, hex)` to a reference.
pub(crate) fn parse_ref(p: &(u64, String)) -> Result<TopologyRef, String> {
    let hash = u128::from_str_radix(&p.1, 16).map_err(|e| format!("hash {:?}: {e}", p.1))?;
    Ok(TopologyRef { version: p.0, hash })
}

/// The state file of a data directory.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("ring").join("state.json")
}

/// Reads the state file; `None` when there is none.
pub(crate) fn load(data_dir: &Path) -> Result<Option<Persisted>, String> {
    let p = path(data_dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", p.display())),
    };
    let state: Persisted =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
    if state.format != STATE_FORMAT {
        return Err(format!(
            "{}: format {} is not the supported {STATE_FORMAT}",
            p.display(),
            state.format
        ));
    }
    Ok(Some(state))
}

/// Writes the state file atomically (temporary file, fsync, rename, directory fsync).
pub(crate) fn save(data_dir: &Path, state: &Persisted) -> Result<(), String> {
    let p = path(data_dir);
    let dir = p.parent().expect("state file has a directory");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join("state.json.tmp");
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| format!("cannot write {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()).expect("no file"), None);
        let mut job = PersistedJob::new(
            JobKind::Rebalance,
            TopologyRef {
                version: 2,
                hash: 0xab,
            },
        );
        job.done.push((1, 5));
        let state = Persisted {
            format: STATE_FORMAT,
            current: "cluster = \"x\"".into(),
            target: Some("t".into()),
            phase: "prepared".into(),
            previous: Some((1, hex(7))),
            aborted: vec![hex(9)],
            job: Some(job.clone()),
            purge_pending: true,
        };
        save(dir.path(), &state).expect("save");
        assert_eq!(load(dir.path()).expect("load"), Some(state));
        assert!(job.is_done(RingRange { start: 1, end: 5 }));
        assert!(job.is_for(
            JobKind::Rebalance,
            TopologyRef {
                version: 2,
                hash: 0xab
            }
        ));
        assert_eq!(
            parse_ref(&(1, hex(7))),
            Ok(TopologyRef {
                version: 1,
                hash: 7
            })
        );
        std::fs::write(path(dir.path()), "{").expect("write");
        assert!(load(dir.path()).is_err());
    }
}
