//! Loopback ports for a cluster whose topology must name every address before any node starts.
//!
//! A port is chosen by binding `127.0.0.1:0` (TCP for HTTP, UDP for QUIC) and releasing it.
//! Between the release and floed's own bind another process may take it: a small race that
//! port 0 cannot avoid here, because each node must know its peers' ports in advance. The
//! harness narrows it (ports handed out in this process are never handed out twice, and all
//! sockets of one allocation are held until every port is chosen, so the OS cannot return the
//! same one twice) and recovers from it: a node that fails with "address in use" makes
//! [`crate::TestCluster::start`] retry the whole cluster with fresh ports.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};

/// The ports of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePorts {
    /// HTTP (TCP).
    pub http: SocketAddr,
    /// QUIC (UDP).
    pub quic: SocketAddr,
}

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static SET: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Chooses `n` pairs of free loopback ports, all distinct and never handed out before in this
/// process.
pub fn allocate(n: usize) -> anyhow::Result<Vec<NodePorts>> {
    let mut used = handed_out()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut tcp_held = Vec::new();
    let mut udp_held = Vec::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let http = loop {
            let l = TcpListener::bind("127.0.0.1:0").context("bind a TCP port")?;
            let addr = l.local_addr()?;
            tcp_held.push(l);
            if used.insert(addr.port()) {
                break addr;
            }
            if tcp_held.len() > 1000 {
                bail!("no fresh TCP port after 1000 tries");
            }
        };
        let quic = loop {
            let s = UdpSocket::bind("127.0.0.1:0").context("bind a UDP port")?;
            let addr = s.local_addr()?;
            udp_held.push(s);
            if used.insert(addr.port()) {
                break addr;
            }
            if udp_held.len() > 1000 {
                bail!("no fresh UDP port after 1000 tries");
            }
        };
        out.push(NodePorts { http, quic });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_across_calls() {
        let a = allocate(3).expect("ports");
        let b = allocate(3).expect("ports");
        let mut all: Vec<u16> = a
            .iter()
            .chain(&b)
            .flat_map(|p| [p.http.port(), p.quic.port()])
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 12);
    }
}
