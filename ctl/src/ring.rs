//! `floectl ring plan`: what a topology change moves, computed offline from the topology file.
//!
//! [`run`] reads the current topology, applies the [`Change`]s given on the command line
//! (add, remove, reweight, rezone), validates the result with `floe-ring` (its version is the
//! current one plus one), writes it next to the current file and returns a [`Plan`]: per node
//! the token ranges and the share of all replica data it gains and loses, the fraction of all
//! copies that moves, the **ideal** fraction for the change ([`Ideal`]) and the balance before
//! and after. Nothing in the plan touches the network; `docs/rebalance.md` describes every
//! figure.
//!
//! The live commands (`floectl ring apply`, `status`, `abort`, `floectl node rebuild`) talk to
//! one node's HTTP admin endpoints ([`live`]: client and STATUS JSON) and show the progress of
//! the rebalance or rebuild ([`progress`]); [`apply_live`] and its siblings are what the binary
//! runs, [`apply_outcome`] and [`rebuild_outcome`] decide when waiting ends.

mod changes;
mod file;
mod ideal;
pub mod live;
mod plan;
pub mod progress;
mod render;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use floe_ring::{RingError, Topology};

pub use changes::{Change, Flag, apply, changes_from_flags};
pub use file::{default_out_path, write_topology};
pub use ideal::{Ideal, attainable_shares, forced_fraction, share_increase, weight_shares};
pub use live::{Client, DEFAULT_NODE_URL, LiveError, NodeUrl, RingStatus};
pub use plan::{BalanceSummary, Estimates, NodeMove, Plan, TARGET_RATIO};
pub use progress::{Mode, Progress};

/// Everything `floectl ring plan` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The current topology file breaks a rule of `floe-ring`.
    #[error("{path}: {source}")]
    Current {
        /// The current topology file.
        path: PathBuf,
        /// The rule it breaks, as `floe-ring` words it.
        #[source]
        source: Box<RingError>,
    },
    /// The new topology breaks a rule of `floe-ring` (message as `floe-ring` words it).
    #[error(transparent)]
    Ring(Box<RingError>),
    /// A flag names a node the current topology does not have.
    #[error("{flag} {id}: no node {id:?} in the current topology (version {version})")]
    UnknownNode {
        /// The flag, e.g. `--remove`.
        flag: &'static str,
        /// The node id given.
        id: String,
        /// Version of the current topology.
        version: u64,
    },
    /// A flag's value cannot be used.
    #[error("{flag} {value:?}: {reason}")]
    BadValue {
        /// The flag.
        flag: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two changes concern the same node and cannot both apply.
    #[error("node {id:?}: {first} and {second} cannot both apply to one node in one plan")]
    Conflict {
        /// The node.
        id: String,
        /// The first change, as its flag.
        first: &'static str,
        /// The second change, as its flag.
        second: &'static str,
    },
    /// No change was given.
    #[error("nothing to plan: give at least one --add, --remove, --reweight or --zone ID=Z")]
    NoChange,
    /// The output file exists and `force` is off.
    #[error("refusing to overwrite {path} (pass --force to replace it)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, as a verb phrase.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<RingError> for PlanError {
    fn from(e: RingError) -> Self {
        Self::Ring(Box::new(e))
    }
}

impl PlanError {
    /// The process exit code: 2 for bad input (topology, flags, changes), 1 when a file cannot
    /// be read or written (including a refusal to overwrite, as `floectl certs` does).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Exists { .. } | Self::Io { .. } => 1,
            _ => 2,
        }
    }
}

/// Inputs of `floectl ring plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// The current topology file.
    pub topology: PathBuf,
    /// The change flags in command-line order (see [`changes_from_flags`]).
    pub flags: Vec<(Flag, String)>,
    /// Where to write the new topology; `None`: [`default_out_path`].
    pub out: Option<PathBuf>,
    /// Replace an existing output file.
    pub force: bool,
    /// Data volumes for the estimates.
    pub estimates: Estimates,
}

/// A plan and where its topology was written.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What moves.
    pub plan: Plan,
    /// The new topology file.
    pub out: PathBuf,
}

/// Reads the current topology, applies the changes, writes the new topology and plans the move.
///
/// An existing output file without `force` fails before the plan is computed; the file is
/// written (temporary file, fsync, link or rename into place) before the plan is returned.
pub fn run(opts: &PlanOptions) -> Result<Planned, PlanError> {
    let current = read_topology(&opts.topology)?;
    let changes = changes_from_flags(&opts.flags)?;
    let new = apply(&current, &changes)?;
    let out = match &opts.out {
        Some(path) => path.clone(),
        None => default_out_path(&opts.topology, new.version()),
    };
    if !opts.force && out.symlink_metadata().is_ok() {
        return Err(PlanError::Exists { path: out });
    }
    let plan = Plan::new(&current, &new, changes, opts.estimates);
    write_topology(&out, &new, opts.force)?;
    Ok(Planned { plan, out })
}

/// Reads and validates a topology file.
pub fn read_topology(path: &Path) -> Result<Topology, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Io {
        op: "read topology",
        path: path.to_path_buf(),
        source,
    })?;
    Topology::parse(&text).map_err(|source| PlanError::Current {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// How often `--wait` and `--watch` poll the status.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Failed polls in a row tolerated while waiting (a node restarting, a dropped connection).
pub const MAX_POLL_FAILURES: u32 = 3;
/// How long `node rebuild --wait` waits to see the rebuild running before taking a quiet
/// node as done (it may have finished between two polls).
pub const REBUILD_GRACE: Duration = Duration::from_secs(5);

/// Options shared by the live commands.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The node to ask.
    pub client: Client,
    /// How to show polls ([`Mode::Json`] for `--json`); a single status is shown as text
    /// unless the mode is JSON.
    pub mode: Mode,
    /// `--wait` / `--watch`: poll until the job ends.
    pub wait: bool,
    /// Give up waiting after this long.
    pub timeout: Option<Duration>,
    /// Time between polls ([`POLL_INTERVAL`]; shorter in tests).
    pub poll: Duration,
}

/// What a poll says about the awaited job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still running.
    Pending,
    /// Ended as awaited.
    Done,
    /// Ended otherwise, with the message to print.
    Failed(String),
}

/// `ring apply --wait`: done when the cluster is stable at `new` (or later); failed when the
/// target disappears or changes while the current version is still older than `new`.
pub fn apply_outcome(status: &RingStatus, new: u64) -> Outcome {
    let current = status.current.version;
    if current >= new {
        return match status.state.as_str() {
            "stable" => Outcome::Done,
            _ => Outcome::Pending,
        };
    }
    match &status.target {
        None => Outcome::Failed(format!(
            "the rebalance to version {new} was aborted: the cluster is {} at version {current}",
            status.state
        )),
        Some(t) if t.version != new => Outcome::Failed(format!(
            "the cluster now moves to version {} instead of {new} (from version {current})",
            t.version
        )),
        Some(_) => Outcome::Pending,
    }
}

/// `node rebuild --wait`: done when `node` no longer runs a rebuild (after it was seen running,
/// or after [`REBUILD_GRACE`]), failed if it then reports an error.
pub fn rebuild_outcome(
    status: &RingStatus,
    node: &str,
    seen_running: bool,
    waited: Duration,
) -> Outcome {
    let Some(n) = status.nodes.iter().find(|n| n.id == node) else {
        return Outcome::Failed(format!(
            "node {node} is not in the status of node {}",
            status.node
        ));
    };
    // The node keeps reporting its finished rebuild job (phase back to stable): the phase
    // says whether it runs.
    let running = n.phase == "rebuilding";
    if running || !n.reachable || (!seen_running && waited < REBUILD_GRACE) {
        return Outcome::Pending;
    }
    match &n.error {
        Some(e) => Outcome::Failed(format!("rebuild of {node} failed: {e}")),
        None => Outcome::Done,
    }
}

/// `floectl ring apply`: checks the document, posts it and shows the status; with `wait`,
/// follows the rebalance until the cluster is stable at the new version.
pub fn apply_live(path: &Path, opts: &LiveOptions, out: &mut dyn Write) -> Result<(), LiveError> {
    let text = std::fs::read_to_string(path).map_err(|source| LiveError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let topology = Topology::parse(&text).map_err(|source| LiveError::Topology {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let new = topology.version();
    let status = opts.client.apply(&text)?;
    if opts.mode != Mode::Json {
        let (url, hash) = (opts.client.url(), topology.content_hash());
        emit(
            out,
            &format!("{url} accepted topology version {new} (content hash {hash})\n"),
        );
    }
    if !opts.wait {
        emit(out, &single(&status, opts.mode));
        return Ok(());
    }
    let what = format!("the cluster to be stable at version {new}");
    follow(opts, status, out, &what, |s, _| apply_outcome(s, new)).map(drop)
}

/// `floectl ring status`: one status; with `wait` (`--watch`), until the cluster is stable.
pub fn status_live(opts: &LiveOptions, out: &mut dyn Write) -> Result<(), LiveError> {
    let status = opts.client.status()?;
    if !opts.wait {
        emit(out, &single(&status, opts.mode));
        return Ok(());
    }
    let done = |s: &RingStatus, _: Duration| match s.is_stable() {
        true => Outcome::Done,
        false => Outcome::Pending,
    };
    follow(opts, status, out, "the cluster to be stable", done).map(drop)
}

/// `floectl ring abort`: asks for the rebalance to stop and shows the status.
pub fn abort_live(opts: &LiveOptions, out: &mut dyn Write) -> Result<(), LiveError> {
    let status = opts.client.abort()?;
    emit(out, &single(&status, opts.mode));
    Ok(())
}

/// `floectl node rebuild ID`: starts the rebuild and shows the status; with `wait`, follows it
/// until the node's rebuild ends.
pub fn rebuild_live(node: &str, opts: &LiveOptions, out: &mut dyn Write) -> Result<(), LiveError> {
    let status = opts.client.rebuild(node)?;
    if !opts.wait {
        emit(out, &single(&status, opts.mode));
        return Ok(());
    }
    let mut seen = false;
    let judge = |s: &RingStatus, waited: Duration| {
        let running = s
            .nodes
            .iter()
            .any(|n| n.id == node && n.phase == "rebuilding");
        seen |= running;
        rebuild_outcome(s, node, seen, waited)
    };
    let what = format!("the rebuild of {node} to end");
    follow(opts, status, out, &what, judge).map(drop)
}

/// One status as text, or as one JSON line.
fn single(status: &RingStatus, mode: Mode) -> String {
    match mode {
        Mode::Json => format!("{}\n", status.raw),
        Mode::Redraw | Mode::Lines => progress::render(status),
    }
}

/// Writes and flushes; a closed stdout (`| head`) is not worth failing the command for.
fn emit(out: &mut dyn Write, text: &str) {
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Shows `first`, then polls every `opts.poll` until `judge` says the job ended or the
/// timeout passes. Up to [`MAX_POLL_FAILURES`] failed polls in a row are reported on stderr
/// and retried.
fn follow(
    opts: &LiveOptions,
    first: RingStatus,
    out: &mut dyn Write,
    what: &str,
    mut judge: impl FnMut(&RingStatus, Duration) -> Outcome,
) -> Result<RingStatus, LiveError> {
    let start = Instant::now();
    let mut progress = Progress::new(opts.mode);
    let mut status = first;
    let mut failures = 0;
    loop {
        let now = start.elapsed();
        match judge(&status, now) {
            Outcome::Pending => emit(out, &progress.update(&status, now)),
            Outcome::Done => {
                emit(out, &progress.finish(&status, now));
                return Ok(status);
            }
            Outcome::Failed(message) => {
                emit(out, &progress.finish(&status, now));
                return Err(LiveError::Ended(message));
            }
        }
        loop {
            let now = start.elapsed();
            if let Some(timeout) = opts.timeout.filter(|t| now >= *t) {
                emit(out, &progress.finish(&status, now));
                return Err(LiveError::Timeout {
                    secs: timeout.as_secs(),
                    what: what.to_string(),
                });
            }
            let left = opts.timeout.map_or(opts.poll, |t| t.saturating_sub(now));
            std::thread::sleep(opts.poll.min(left));
            match opts.client.status() {
                Ok(next) => {
                    status = next;
                    failures = 0;
                    break;
                }
                Err(e) if failures < MAX_POLL_FAILURES => {
                    failures += 1;
                    eprintln!("floectl: {e} (retrying, {failures} of {MAX_POLL_FAILURES})");
                    progress.break_frame();
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;
    use std::thread::{self, JoinHandle};

    use super::*;

    fn status(text: &str) -> RingStatus {
        RingStatus::parse(text).expect("valid STATUS")
    }

    fn ring(state: &str, current: u64, target: Option<u64>) -> String {
        let target = target.map_or("null".to_string(), |v| format!("{{\"version\":{v}}}"));
        format!(
            r#"{{"node":"n1","state":"{state}","current":{{"version":{current}}},"target":{target},
            "nodes":[{{"id":"n1","phase":"streaming","ranges_total":4,"ranges_done":1}}]}}"#
        )
    }

    fn rebuild(job: Option<&str>, phase: &str, error: Option<&str>) -> RingStatus {
        let job = job.map_or("null".into(), |j| format!("\"{j}\""));
        let error = error.map_or("null".into(), |e| format!("\"{e}\""));
        status(&format!(
            r#"{{"node":"n1","state":"stable","current":{{"version":3}},
            "nodes":[{{"id":"n2","reachable":true,"phase":"{phase}","job":{job},"error":{error}}}]}}"#
        ))
    }

    #[test]
    fn apply_outcomes() {
        let s = |state, cur, tgt| status(&ring(state, cur, tgt));
        assert_eq!(
            apply_outcome(&s("rebalancing", 3, Some(4)), 4),
            Outcome::Pending
        );
        assert_eq!(
            apply_outcome(&s("rebalancing", 4, None), 4),
            Outcome::Pending
        );
        assert_eq!(apply_outcome(&s("stable", 4, None), 4), Outcome::Done);
        assert_eq!(apply_outcome(&s("stable", 5, None), 4), Outcome::Done);
        let Outcome::Failed(aborted) = apply_outcome(&s("stable", 3, None), 4) else {
            panic!("a vanished target is an abort");
        };
        assert!(aborted.contains("aborted"), "{aborted}");
        let Outcome::Failed(other) = apply_outcome(&s("rebalancing", 3, Some(5)), 4) else {
            panic!("another target is a failure");
        };
        assert!(other.contains("version 5 instead of 4"), "{other}");
    }

    #[test]
    fn rebuild_outcomes() {
        let long = REBUILD_GRACE;
        let running = rebuild(Some("rebuild"), "rebuilding", None);
        assert_eq!(
            rebuild_outcome(&running, "n2", true, long),
            Outcome::Pending
        );
        let quiet = rebuild(None, "stable", None);
        assert_eq!(
            rebuild_outcome(&quiet, "n2", true, Duration::ZERO),
            Outcome::Done
        );
        assert_eq!(
            rebuild_outcome(&quiet, "n2", false, Duration::ZERO),
            Outcome::Pending
        );
        assert_eq!(rebuild_outcome(&quiet, "n2", false, long), Outcome::Done);
        let finished = rebuild(Some("rebuild"), "stable", None);
        assert_eq!(
            rebuild_outcome(&finished, "n2", true, Duration::ZERO),
            Outcome::Done
        );
        let failed = rebuild(None, "stable", Some("disk full"));
        assert_eq!(
            rebuild_outcome(&failed, "n2", true, long),
            Outcome::Failed("rebuild of n2 failed: disk full".into())
        );
        assert!(matches!(
            rebuild_outcome(&quiet, "n9", true, long),
            Outcome::Failed(_)
        ));
    }

    /// Serves `bodies` as successful envelopes, one connection each, on loopback; stops after
    /// the last or after 500 ms without a connection. Returns the request lines.
    fn serve(bodies: Vec<String>) -> (NodeUrl, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = NodeUrl::parse(&listener.local_addr().expect("addr").to_string()).expect("url");
        let handle = thread::spawn(move || {
            let mut requests = Vec::new();
            for body in bodies {
                let deadline = Instant::now() + Duration::from_millis(500);
                let stream = loop {
                    match listener.accept() {
                        Ok((stream, _)) => break stream,
                        Err(_) if Instant::now() < deadline => {
                            thread::sleep(Duration::from_millis(2))
                        }
                        Err(_) => return requests,
                    }
                };
                stream.set_nonblocking(false).expect("blocking");
                let mut reader = BufReader::new(stream);
                let (mut line, mut length) = (String::new(), 0);
                reader.read_line(&mut line).expect("request line");
                requests.push(line.trim_end().to_string());
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).expect("header");
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().expect("length");
                    }
                    if header.trim_end().is_empty() {
                        break;
                    }
                }
                reader.read_exact(&mut vec![0; length]).expect("body");
                let body = format!("{{\"status\":\"success\",\"data\":{body}}}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut stream = reader.into_inner();
                stream.write_all(response.as_bytes()).expect("respond");
            }
            requests
        });
        (url, handle)
    }

    fn topology_file(dir: &Path, version: u64) -> PathBuf {
        let path = dir.join(format!("t{version}.toml"));
        let mut text = format!("cluster = \"demo\"\nversion = {version}\nreplication_factor = 1\n");
        text.push_str(
            "\n[[nodes]]\nid = \"n1\"\nzone = \"a\"\nquic_addr = \"127.0.0.1:7400\"\n\
             http_addr = \"127.0.0.1:8480\"\n",
        );
        std::fs::write(&path, text).expect("write topology");
        path
    }

    fn options(url: NodeUrl, timeout: Option<Duration>) -> LiveOptions {
        LiveOptions {
            client: Client::new(url),
            mode: Mode::Lines,
            wait: true,
            timeout,
            poll: Duration::from_millis(10),
        }
    }

    #[test]
    fn apply_wait_follows_until_stable_at_new_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = topology_file(dir.path(), 4);
        let (url, server) = serve(vec![
            ring("rebalancing", 3, Some(4)),
            ring("rebalancing", 3, Some(4)).replace("\"ranges_done\":1", "\"ranges_done\":3"),
            ring("stable", 4, None),
        ]);
        let mut out = Vec::new();
        apply_live(&path, &options(url.clone(), None), &mut out).expect("applied");
        let text = String::from_utf8(out).expect("utf-8");
        println!("{text}");
        assert!(
            text.contains(&format!("{url} accepted topology version 4")),
            "{text}"
        );
        assert!(
            text.contains("cluster at version 3 → 4: rebalancing"),
            "{text}"
        );
        assert!(text.contains("stable at version 4"), "{text}");
        let requests = server.join().expect("server");
        assert_eq!(
            requests,
            [
                "POST /api/v1/admin/ring/apply HTTP/1.1",
                "GET /api/v1/admin/ring/status HTTP/1.1",
                "GET /api/v1/admin/ring/status HTTP/1.1",
            ]
        );
    }

    #[test]
    fn apply_wait_reports_abort_and_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = topology_file(dir.path(), 4);
        let (url, server) = serve(vec![
            ring("rebalancing", 3, Some(4)),
            ring("stable", 3, None),
        ]);
        let e = apply_live(&path, &options(url, None), &mut Vec::new()).expect_err("aborted");
        server.join().expect("server");
        assert!(
            matches!(e, LiveError::Ended(_)) && e.to_string().contains("aborted"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 1);

        let pending = vec![ring("rebalancing", 3, Some(4)); 50];
        let (url, server) = serve(pending);
        let opts = options(url, Some(Duration::from_millis(60)));
        let e = apply_live(&path, &opts, &mut Vec::new()).expect_err("timeout");
        server.join().expect("server");
        assert!(matches!(e, LiveError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("stable at version 4"), "{e}");
    }

    #[test]
    fn invalid_topology_exits_2_before_any_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "cluster = \"demo\"\nversion = 4\nreplication_factor = 3\n",
        )
        .expect("write");
        let (url, server) = serve(Vec::new());
        let e = apply_live(&path, &options(url, None), &mut Vec::new()).expect_err("invalid");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        assert!(server.join().expect("server").is_empty());
        let missing = apply_live(
            &dir.path().join("none.toml"),
            &options(NodeUrl::parse("x:1").expect("url"), None),
            &mut Vec::new(),
        );
        assert_eq!(missing.expect_err("missing").exit_code(), 1);
    }
}
