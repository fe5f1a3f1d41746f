//! `floe-ctl` is Floe's admin CLI `floectl` and the library behind it, so tests call the
//! same code the binary runs. Today it creates the cluster's certificates
//! ([`certs`]): a cluster CA, and node and client certificates signed by it, for the mutual
//! TLS of `floe-wire`; it plans topology changes offline ([`ring`]: `floectl ring plan`
//! writes the next topology and prints what moves), and drives them on a running cluster
//! through a node's HTTP admin endpoints (`floectl ring apply|status|abort`,
//! `floectl node rebuild`), and checks convergence: `floectl repair`, `floectl digest [compare]`
//! ([`entropy`]) and `floectl mirror status` ([`mirror`]).
//!
//! It talks to nodes only through `floe-wire` (and, later, `floe-client`) and must never
//! depend on `floe-node`: an admin tool needs the protocol, not the storage engine.

pub mod certs;
pub mod entropy;
pub mod mirror;
pub mod ring;
