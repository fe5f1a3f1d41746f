//! Servers under test as child processes, stopped by PID on drop, and their CPU time and
//! memory from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A server process; killed and reaped when dropped.
pub struct Server {
    pub child: Child,
    pub http: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts the `floed` built with this bench, with its data in `dir`, and waits for the line
/// it prints once it listens. Its log goes to the file `FLOE_BENCH_FLOED_LOG` names, if set
/// (at `info` level), and nowhere otherwise.
pub fn start_floed(dir: &Path, extra: &[&str]) -> Server {
    let log = std::env::var_os("FLOE_BENCH_FLOED_LOG")
        .map(|p| std::fs::File::create(&p).expect("create the floed log file"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_floed"))
        .args(["--data-dir", dir.to_str().expect("utf-8 path")])
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--graphite-listen", "", "--opentsdb-listen", ""])
        .args(["--log-level", if log.is_some() { "info" } else { "warn" }])
        .args(["--max-samples-per-request", "200000"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log.map_or_else(Stdio::null, Stdio::from))
        .spawn()
        .expect("start floed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("floed's stdout"))
        .read_line(&mut line)
        .expect("floed's first line");
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http=")?.parse().ok())
        .unwrap_or_else(|| panic!("floed did not start: {line:?}"));
    Server { child, http }
}

/// CPU seconds (user + system) the process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let fields = stat_fields(pid);
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0 // utime, stime in clock ticks (100 Hz)
}

/// Peak resident set size of the process, bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The fields of `/proc/<pid>/stat` after the command name.
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    after_comm.split_whitespace().map(str::to_string).collect()
}
