//! Machinery shared by the HTTP benchmarks (`ingest`, `query`, `peers`): a keep-alive HTTP
//! client, the servers' processes and their CPU and memory from `/proc`, the TSBS data set
//! encoded for each ingest protocol, a concurrent loader, the TSBS-style PromQL queries and
//! latency percentiles. Each bench target uses a part of it.
#![allow(dead_code, unreachable_pub)]

pub mod http;
pub mod load;
pub mod peers;
pub mod process;
pub mod stats;
pub mod tsbs;
