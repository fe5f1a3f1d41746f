//! `floe-node` is the storage node behind the `floed` daemon: the single-node storage engine
//! (WAL, head, blocks, compaction, label index), the cluster transport, replication and the
//! HTTP and Graphite APIs.
//!
//! It builds on [`floe_storage_format`] for every byte it writes and on [`floe_ring`] for
//! placement. It must never be a dependency of `floe-client` (the client depends on the shared
//! wire types only) and it never re-implements the merge rule, the digest or the hash
//! functions: it calls the ones in those crates.
//!
//! Today it holds the single-node storage engine ([`engine`]) and its label index ([`index`]),
//! the ingest protocols ([`ingest`]), PromQL over the engine ([`query`], evaluated by
//! `floe-query`) and the daemon ([`server`]); the cluster layer comes with later issues.

pub mod cluster;
pub mod engine;
pub mod index;
pub mod ingest;
pub mod query;
pub mod server;

#[cfg(test)]
mod tests {
    #[test]
    fn depends_on_the_shared_merge_rule() {
        use floe_storage_format::{Sample, merge};
        let a = Sample::new(1, 1.0, 0);
        let b = Sample::new(1, 2.0, 0);
        assert_eq!(merge(a, b).value, 2.0);
    }
}
