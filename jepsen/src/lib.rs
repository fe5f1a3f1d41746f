//! `floe-jepsen` is Floe's fault-injection suite: it starts real `floed` processes, runs
//! workloads through `floe-client` and HTTP, injects faults (kill, pause, partition, clock,
//! disk, rebalance, mirror), records every operation and checks that nothing acknowledged was
//! lost and that all replicas converge.
//!
//! - [`run`]: one scenario end to end; [`matrix`]: every scenario for several seeds.
//! - [`workload`]: the writers and readers; [`history`]: the recorder and its file.
//! - [`nemesis`]: the faults, their seeded schedule, injecting and healing them; [`net`]: the
//!   run's network namespace and its packet filter.
//! - [`checker`]: the properties; [`report`] and [`plot`]: the latency timeline PNG.
//!
//! Nothing in the workspace may depend on this crate; it drives the system only from outside,
//! through processes, sockets and files (with the test harness `floe-tests`, `floe-client`
//! and the wire types), never by calling into the node's internals.

pub mod checker;
pub mod history;
pub mod matrix;
pub mod nemesis;
pub mod net;
pub mod plot;
pub mod report;
pub mod run;
pub mod workload;
