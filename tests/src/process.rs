//! One `floed` process: spawned with a config file, stdout to a file (its first line is
//! `floed listening http=… quic=…`), stderr appended to a log file; controlled by PID only.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::wait::{POLL, wait_for};

/// Lines of a log shown in an error.
pub const LOG_TAIL_LINES: usize = 40;

/// Prefix of the marker lines the harness appends to a node's log before each start.
pub const MARKER: &str = "floe-tests:";

/// The addresses a started floed reported on its `floed listening` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// HTTP API.
    pub http: SocketAddr,
    /// QUIC transport (`None` when off or not reported).
    pub quic: Option<SocketAddr>,
    /// Graphite listener (`None` when off).
    pub graphite: Option<SocketAddr>,
    /// OpenTSDB listener (`None` when off).
    pub opentsdb: Option<SocketAddr>,
}

impl Listening {
    /// Parses `floed listening http=ADDR graphite=ADDR|off opentsdb=ADDR|off quic=ADDR|off`.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix("floed listening")?;
        let find = |key: &str| {
            rest.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.parse::<SocketAddr>().ok())
        };
        Some(Self {
            http: find("http=")?,
            quic: find("quic="),
            graphite: find("graphite="),
            opentsdb: find("opentsdb="),
        })
    }
}

/// floed could not start because an address it was told to bind was taken (the port race of
/// [`crate::ports`]); the caller may retry with other ports.
#[derive(Debug)]
pub struct AddrInUse {
    /// The log tail that said so.
    pub log_tail: String,
}

impl std::fmt::Display for AddrInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "floed could not bind an address (in use); log tail:\n{}",
            self.log_tail
        )
    }
}

impl std::error::Error for AddrInUse {}

/// Where one process's files are.
#[derive(Debug, Clone)]
pub struct ProcessFiles {
    /// The floed binary.
    pub bin: PathBuf,
    /// Its configuration file (`--config`).
    pub config: PathBuf,
    /// stderr, appended across restarts.
    pub log: PathBuf,
    /// stdout, truncated at each start.
    pub stdout: PathBuf,
    /// Extra environment of the process (set after the `FLOE_*` variables are removed).
    pub env: Vec<(String, String)>,
}

/// A running (or paused) floed child process.
#[derive(Debug)]
pub struct FloedProcess {
    child: Child,
    paused: bool,
    listening: Option<Listening>,
}

impl FloedProcess {
    /// Spawns floed and waits (up to `timeout`) for its `floed listening` line. Fails with
    /// the log tail if it exits first, with [`AddrInUse`] in the chain if a port was taken.
    pub fn spawn(files: &ProcessFiles, label: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut p = Self::launch(files, label)?;
        p.wait_listening(files, label, timeout)?;
        Ok(p)
    }

    /// Spawns floed without waiting; [`FloedProcess::wait_listening`] waits.
    pub fn launch(files: &ProcessFiles, label: &str) -> anyhow::Result<Self> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&files.log)
            .with_context(|| format!("open log file {}", files.log.display()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        writeln!(
            log,
            "{MARKER} start {label} at unix time {:.3}",
            now.as_secs_f64()
        )?;
        let stdout = File::create(&files.stdout)
            .with_context(|| format!("create {}", files.stdout.display()))?;
        let mut cmd = Command::new(&files.bin);
        cmd.arg("--config")
            .arg(&files.config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log);
        // Settings come from the config file alone, never from the test's environment.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FLOE_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(files.env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", files.bin.display()))?;
        Ok(Self {
            child,
            paused: false,
            listening: None,
        })
    }

    /// Waits (up to `timeout`) for the `floed listening` line on stdout and returns it. If
    /// the process exits first, or the time runs out, kills it and fails with its log tail
    /// ([`AddrInUse`] in the chain if a port was taken).
    pub fn wait_listening(
        &mut self,
        files: &ProcessFiles,
        label: &str,
        timeout: Duration,
    ) -> anyhow::Result<Listening> {
        match self.poll_listening(files, label, timeout) {
            Ok(l) => {
                self.listening = Some(l);
                Ok(l)
            }
            Err(e) => {
                self.kill();
                Err(e)
            }
        }
    }

    fn poll_listening(
        &mut self,
        files: &ProcessFiles,
        label: &str,
        timeout: Duration,
    ) -> anyhow::Result<Listening> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = std::fs::read_to_string(&files.stdout).unwrap_or_default();
            if let Some(line) = text.lines().next().filter(|_| text.contains('\n')) {
                return Listening::parse(line)
                    .with_context(|| format!("{label}: unexpected first stdout line {line:?}"));
            }
            if let Some(status) = self.child.try_wait()? {
                let log_tail = tail(&files.log, LOG_TAIL_LINES);
                let last_start = log_tail.rsplit(MARKER).next().unwrap_or_default();
                if last_start.contains("in use") {
                    return Err(AddrInUse { log_tail }).context(format!("start {label}"));
                }
                bail!("{label} exited with {status} before listening; log tail:\n{log_tail}");
            }
            if Instant::now() >= deadline {
                bail!(
                    "{label} did not print its listening line within {timeout:?}; log tail:\n{}",
                    tail(&files.log, LOG_TAIL_LINES)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// What it reported on its first stdout line, once [`FloedProcess::wait_listening`]
    /// has seen it.
    pub fn listening(&self) -> Option<Listening> {
        self.listening
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while paused by [`FloedProcess::pause`].
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// SIGTERM (after SIGCONT if paused), then waits up to `timeout` for the exit; SIGKILL
    /// after that. Returns the exit status, or an error if it had to be killed.
    pub fn stop(mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if self.paused {
            self.resume()?;
        }
        signal(self.pid(), "TERM")?;
        let exited = wait_for("floed to exit after SIGTERM", timeout, || {
            Ok(self.child.try_wait()?)
        });
        match exited {
            Ok(status) => Ok(status),
            Err(e) => {
                self.kill();
                Err(e.context(format!("floed pid {} killed with SIGKILL", self.pid())))
            }
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGSTOP: the process keeps its sockets but answers nothing.
    pub fn pause(&mut self) -> anyhow::Result<()> {
        signal(self.pid(), "STOP")?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        signal(self.pid(), "CONT")?;
        self.paused = false;
        Ok(())
    }

    /// `Some(status)` if the process has exited.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }
}

impl Drop for FloedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `SIG<name>` to `pid` with kill(1) (no libc in the workspace).
pub fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("run kill -{name} {pid}"))?;
    if !status.success() {
        bail!("kill -{name} {pid} failed ({status})");
    }
    Ok(())
}

/// The last `n` lines of a file (empty if unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_parse() {
        let l = Listening::parse(
            "floed listening http=127.0.0.1:8480 graphite=off opentsdb=127.0.0.1:4242 quic=127.0.0.1:7400\n",
        )
        .expect("parses");
        assert_eq!(l.http.port(), 8480);
        assert_eq!(l.quic.map(|a| a.port()), Some(7400));
        assert_eq!(l.graphite, None);
        assert_eq!(l.opentsdb.map(|a| a.port()), Some(4242));
        assert!(Listening::parse("hello").is_none());
    }
}
