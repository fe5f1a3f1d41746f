//! `floe-tests` holds Floe's cross-crate integration tests (under `tests/`), the golden files
//! of every on-disk and wire format version (under `data/`), and the **multi-node test
//! harness** those tests, the jepsen suite and scripts reuse:
//!
//! - [`TestCluster`]: N real `floed` processes in cluster mode on loopback, in a temporary
//!   directory with a CA and certificates, a topology and one config file per node; each
//!   process stopped, killed, restarted, paused and resumed by PID; every process killed on
//!   drop; [`TestCluster::check_logs`] fails on a panic or an unexpected ERROR line (Neon's
//!   rule).
//! - [`floed_bin`]: the `floed` binary, built once per test process (or `$FLOE_FLOED_BIN`).
//! - [`http`]: a blocking HTTP/1.1 client for line-protocol writes, PromQL queries and
//!   `/metrics`.
//! - [`wait`]: polling with a deadline; nothing sleeps in place of synchronisation.
//! - [`client`]: `floe-client` from blocking tests ([`TestCluster::client`]): token-aware
//!   writes, queries, every node's digest.
//! - [`peer`]: raw cluster-protocol requests with any certificate (impersonating a peer or
//!   an impostor), blocking.
//! - [`load`]: line protocol from `floe-datagen`, and the loader behind the `floe-load` binary
//!   that `scripts/cluster` runs.
//!
//! ```no_run
//! use floe_tests::{ClusterSpec, TestCluster};
//!
//! let mut cluster = TestCluster::start(ClusterSpec::new(3, 3))?;
//! cluster.write_lines(0, "test", "cpu,host=a usage=1 1700000000000\n", Some("quorum"))?;
//! let v = cluster.query_vector(2, "cpu_usage", 1_700_000_000_000, None)?;
//! assert_eq!(v.len(), 1);
//! cluster.stop(2)?;
//! cluster.start_node(2)?;
//! cluster.check_logs(&[])?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! It talks to nodes only as operators and clients do (processes, files, HTTP, and QUIC
//! through `floe-wire` and `floe-client`) and must never depend on `floe-node`.

pub mod bench;
mod binary;
pub mod client;
pub mod cluster;
pub mod convergence;
pub mod http;
pub mod load;
pub mod peer;
pub mod ports;
pub mod process;
pub mod rebalance;
pub mod wait;

pub use binary::{FLOED_BIN_ENV, floectl, floectl_bin, floed_bin, workspace_root};
pub use client::BlockingClient;
pub use cluster::{CLIENT_NAME, ClusterSpec, TestCluster};
pub use wait::{wait_eq, wait_for, wait_until};
