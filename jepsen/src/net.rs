//! The network a run lives in, and the partitions the nemesis makes in it.
//!
//! A run (as root) re-executes itself in a **network namespace of its own** (`unshare
//! --net`), with only a loopback device: its nodes, clients and firewall rules touch nothing
//! outside it, and everything disappears with the run's processes. Partitions are real packet
//! drops by the kernel, `nft` rules in that namespace's `input` hook matching the UDP ports
//! of the nodes' QUIC endpoints (a node dials its peers from its listening socket, so its
//! port names it in both directions). The nodes do not cooperate with the fault: they see
//! packets vanish. Clients (ephemeral ports) still reach every node, as in Jepsen.

use std::process::Command;

use anyhow::{Context, bail};

/// Set in the environment of the re-executed run: it is inside its own namespace.
pub const NETNS_ENV: &str = "FLOE_JEPSEN_NETNS";

/// The nft table the run owns.
const TABLE: &str = "floe_jepsen";

/// Whether this process runs as root (from `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Whether this process already runs in the run's own namespace.
pub fn in_private_netns() -> bool {
    std::env::var_os(NETNS_ENV).is_some()
}

/// Runs this program again, with the same arguments, in a new network namespace (`unshare
/// --net`), with `env` added; returns its exit code.
pub fn reexec_in_private_netns(env: &[(&str, String)]) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().context("find the running program")?;
    let status = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(&exe)
        .args(std::env::args_os().skip(1))
        .env(NETNS_ENV, "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .context("run `unshare --net` (util-linux) to get a network namespace of the run's own")?;
    Ok(status.code().unwrap_or(1))
}

/// Brings the namespace's loopback up (a new namespace starts with it down).
pub fn loopback_up() -> anyhow::Result<()> {
    run("ip", &["link", "set", "dev", "lo", "up"])
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("run {program} (is it installed?)"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The run's firewall: one nft table with an `input` chain, flushed on heal.
#[derive(Debug)]
pub struct Firewall {
    _private: (),
}

impl Firewall {
    /// Creates the table and chain (replacing any left by an earlier run in this namespace).
    pub fn new() -> anyhow::Result<Self> {
        let _ = run("nft", &["delete", "table", "inet", TABLE]);
        run("nft", &["add", "table", "inet", TABLE]).context(
            "the partition nemesis needs nft (Debian package nftables) and root in the run's namespace",
        )?;
        run(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                TABLE,
                "input",
                "{ type filter hook input priority 0; policy accept; }",
            ],
        )?;
        Ok(Self { _private: () })
    }

    /// Drops every UDP packet between nodes of different `groups` (each a list of QUIC
    /// ports), both ways. With `loss_percent` below 100, drops only that share of them, at
    /// random (a flaky link rather than a cut).
    pub fn partition(&self, groups: &[Vec<u16>], loss_percent: u32) -> anyhow::Result<()> {
        for (a, ga) in groups.iter().enumerate() {
            for (b, gb) in groups.iter().enumerate() {
                if a == b || ga.is_empty() || gb.is_empty() {
                    continue;
                }
                let rule = format!(
                    "udp sport {{ {} }} udp dport {{ {} }} {}counter drop",
                    join(ga),
                    join(gb),
                    if loss_percent < 100 {
                        format!("numgen random mod 100 < {loss_percent} ")
                    } else {
                        String::new()
                    }
                );
                let mut args = vec!["add", "rule", "inet", TABLE, "input"];
                args.extend(rule.split(' '));
                run("nft", &args)?;
            }
        }
        Ok(())
    }

    /// Removes every rule: the network is whole again.
    pub fn heal(&self) -> anyhow::Result<()> {
        run("nft", &["flush", "chain", "inet", TABLE, "input"])
    }

    /// Packets the current rules dropped so far (the sum of their counters).
    pub fn dropped(&self) -> anyhow::Result<u64> {
        let out = Command::new("nft")
            .args(["list", "chain", "inet", TABLE, "input"])
            .output()
            .context("run nft list")?;
        anyhow::ensure!(
            out.status.success(),
            "nft list failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(dropped_in(&String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = run("nft", &["delete", "table", "inet", TABLE]);
    }
}

/// The sum of the `counter packets N` of an `nft list` output.
fn dropped_in(listing: &str) -> u64 {
    let words: Vec<&str> = listing.split_whitespace().collect();
    words
        .windows(3)
        .filter(|w| w[0] == "counter" && w[1] == "packets")
        .filter_map(|w| w[2].parse::<u64>().ok())
        .sum()
}

/// Whether this process may make a network namespace (`unshare --net true` works).
pub fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

fn join(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_summed() {
        let listing = "table inet floe_jepsen {\n chain input {\n  udp sport { 1, 2 } udp dport { 3 } counter packets 12 bytes 900 drop\n  udp sport { 3 } udp dport { 1, 2 } counter packets 30 bytes 1 drop\n }\n}\n";
        assert_eq!(super::dropped_in(listing), 42);
        assert_eq!(super::dropped_in(""), 0);
    }
}
