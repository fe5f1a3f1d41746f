//! `floe-jepsen` is Floe's fault-injection suite: it starts real `floed` processes, runs
//! workloads through `floe-client` and HTTP, injects faults (kill, pause, partition, clock,
//! disk, rebalance, mirror), records every operation and checks that nothing acknowledged was
//! lost and that all replicas converge.
//!
//! Nothing in the workspace may depend on this crate; it drives the system only from outside,
//! through processes, sockets and files, never by calling into the node's internals.
//!
//! This crate is filled by the fault-suite issue.
