//! `floe-ctl` is Floe's admin CLI `floectl` and the library behind it, so tests call the
//! same code the binary runs. Today it creates the cluster's certificates
//! ([`certs`]): a cluster CA, and node and client certificates signed by it, for the mutual
//! TLS of `floe-wire`. Ring, repair, digest and mirror commands come with the cluster work.
//!
//! It talks to nodes only through `floe-wire` (and, later, `floe-client`) and must never
//! depend on `floe-node`: an admin tool needs the protocol, not the storage engine.

pub mod certs;
