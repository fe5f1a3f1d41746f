//! `floectl ring plan`: what a topology change moves, computed offline from the topology file.
//!
//! [`run`] reads the current topology, applies the [`Change`]s given on the command line
//! (add, remove, reweight, rezone), validates the result with `floe-ring` (its version is the
//! current one plus one), writes it next to the current file and returns a [`Plan`]: per node
//! the token ranges and the share of all replica data it gains and loses, the fraction of all
//! copies that moves, the **ideal** fraction for the change ([`Ideal`]) and the balance before
//! and after. Nothing here touches the network; `docs/rebalance.md` describes every figure.

mod changes;
mod file;
mod ideal;
mod plan;
mod render;

use std::path::{Path, PathBuf};

use floe_ring::{RingError, Topology};

pub use changes::{Change, Flag, apply, changes_from_flags};
pub use file::{default_out_path, write_topology};
pub use ideal::{Ideal, attainable_shares, forced_fraction, share_increase, weight_shares};
pub use plan::{BalanceSummary, Estimates, NodeMove, Plan, TARGET_RATIO};

/// Everything `floectl ring plan` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The current topology file breaks a rule of `floe-ring`.
    #[error("{path}: {source}")]
    Current {
        /// The current topology file.
        path: PathBuf,
        /// The rule it breaks, as `floe-ring` words it.
        #[source]
        source: Box<RingError>,
    },
    /// The new topology breaks a rule of `floe-ring` (message as `floe-ring` words it).
    #[error(transparent)]
    Ring(Box<RingError>),
    /// A flag names a node the current topology does not have.
    #[error("{flag} {id}: no node {id:?} in the current topology (version {version})")]
    UnknownNode {
        /// The flag, e.g. `--remove`.
        flag: &'static str,
        /// The node id given.
        id: String,
        /// Version of the current topology.
        version: u64,
    },
    /// A flag's value cannot be used.
    #[error("{flag} {value:?}: {reason}")]
    BadValue {
        /// The flag.
        flag: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two changes concern the same node and cannot both apply.
    #[error("node {id:?}: {first} and {second} cannot both apply to one node in one plan")]
    Conflict {
        /// The node.
        id: String,
        /// The first change, as its flag.
        first: &'static str,
        /// The second change, as its flag.
        second: &'static str,
    },
    /// No change was given.
    #[error("nothing to plan: give at least one --add, --remove, --reweight or --zone ID=Z")]
    NoChange,
    /// The output file exists and `force` is off.
    #[error("refusing to overwrite {path} (pass --force to replace it)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, as a verb phrase.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<RingError> for PlanError {
    fn from(e: RingError) -> Self {
        Self::Ring(Box::new(e))
    }
}

impl PlanError {
    /// The process exit code: 2 for bad input (topology, flags, changes), 1 when a file cannot
    /// be read or written (including a refusal to overwrite, as `floectl certs` does).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Exists { .. } | Self::Io { .. } => 1,
            _ => 2,
        }
    }
}

/// Inputs of `floectl ring plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// The current topology file.
    pub topology: PathBuf,
    /// The change flags in command-line order (see [`changes_from_flags`]).
    pub flags: Vec<(Flag, String)>,
    /// Where to write the new topology; `None`: [`default_out_path`].
    pub out: Option<PathBuf>,
    /// Replace an existing output file.
    pub force: bool,
    /// Data volumes for the estimates.
    pub estimates: Estimates,
}

/// A plan and where its topology was written.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What moves.
    pub plan: Plan,
    /// The new topology file.
    pub out: PathBuf,
}

/// Reads the current topology, applies the changes, writes the new topology and plans the move.
///
/// An existing output file without `force` fails before the plan is computed; the file is
/// written (temporary file, fsync, link or rename into place) before the plan is returned.
pub fn run(opts: &PlanOptions) -> Result<Planned, PlanError> {
    let current = read_topology(&opts.topology)?;
    let changes = changes_from_flags(&opts.flags)?;
    let new = apply(&current, &changes)?;
    let out = match &opts.out {
        Some(path) => path.clone(),
        None => default_out_path(&opts.topology, new.version()),
    };
    if !opts.force && out.symlink_metadata().is_ok() {
        return Err(PlanError::Exists { path: out });
    }
    let plan = Plan::new(&current, &new, changes, opts.estimates);
    write_topology(&out, &new, opts.force)?;
    Ok(Planned { plan, out })
}

/// Reads and validates a topology file.
pub fn read_topology(path: &Path) -> Result<Topology, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Io {
        op: "read topology",
        path: path.to_path_buf(),
        source,
    })?;
    Topology::parse(&text).map_err(|source| PlanError::Current {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}
