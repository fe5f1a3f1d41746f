//! `floe-ring` decides where every series lives.
//!
//! It parses and validates the cluster's [`Topology`] document (TOML), identifies it by a
//! [`ContentHash`] of a canonical encoding, builds the token [`Ring`] (each node owns
//! `weight × vnodes_per_weight` tokens hashed from its id), answers [`Ring::owners`] — the N
//! distinct nodes holding a ring position, spread across zones first — with one binary search,
//! computes what moves between two topologies ([`diff`]) and how evenly data spreads
//! ([`Ring::balance`]).
//!
//! Placement must be identical across versions, platforms and restarts, so the crate is pure:
//! it must never depend on tokio, the network, the disk, or another Floe crate. Its hash
//! functions and encodings are specified byte by byte in `docs/ring.md` and pinned by test
//! vectors.
//!
//! ```
//! use floe_ring::{Ring, Topology};
//!
//! let topology = Topology::parse(
//!     r#"
//!     cluster = "demo"
//!     version = 1
//!     replication_factor = 2
//!
//!     [[nodes]]
//!     id = "n1"
//!     zone = "a"
//!     quic_addr = "10.0.0.1:7400"
//!     http_addr = "10.0.0.1:8080"
//!
//!     [[nodes]]
//!     id = "n2"
//!     zone = "b"
//!     quic_addr = "10.0.0.2:7400"
//!     http_addr = "10.0.0.2:8080"
//!     "#,
//! )?;
//! let ring = Ring::new(&topology);
//! let position = 0x1234_5678_9abc_def0; // upper 64 bits of a SeriesId
//! let owners: Vec<&str> = ring.owners(position).iter().map(|&i| ring.node_id(i)).collect();
//! assert_eq!(owners.len(), 2);
//! assert_ne!(owners[0], owners[1]);
//! # Ok::<(), floe_ring::RingError>(())
//! ```

mod balance;
mod diff;
mod error;
mod hash;
mod placement;
mod ring;
mod topology;

pub use balance::{BalanceReport, NodeBalance, ZoneBalance};
pub use diff::{RangeChange, RingDiff, diff};
pub use error::RingError;
pub use hash::{ContentHash, HASH_SEED, token_hash};
pub use ring::{NodeIndex, Ring, TokenRange};
pub use topology::{
    CANONICAL_ENCODING_VERSION, CANONICAL_MAGIC, DEFAULT_VNODES_PER_WEIGHT, MAX_NAME_BYTES,
    MAX_REPLICATION_FACTOR, MAX_TOTAL_TOKENS, Node, Topology,
};
