//! Crash test: this test binary re-runs itself as a child that appends and replays until the
//! parent kills it (SIGKILL) at a random moment; the parent then opens the journal and checks
//! that every append the child saw return is still there, in order, with no gap.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::*;

/// Set in the child: the journal directory to work in.
const CHILD_DIR: &str = "FLOE_JOURNAL_CRASH_CHILD_DIR";

const OPTIONS: JournalOptions = JournalOptions {
    max_bytes: 1 << 20,
    segment_bytes: 4096,
};

fn record(seq: u64) -> Vec<u8> {
    let mut p = seq.to_le_bytes().to_vec();
    p.resize(8 + (seq as usize * 37) % 300, (seq % 251) as u8);
    p
}

/// The child: appends numbered records, one group at a time, reporting each that returned;
/// a second thread peeks and acknowledges. Exits after a while if nobody kills it.
fn run_child(dir: &Path) {
    let (j, _) = Journal::open_with(dir, OPTIONS).expect("child: open");
    let j = Arc::new(j);
    let replay = Arc::clone(&j);
    std::thread::spawn(move || {
        loop {
            let recs = replay.peek(5, 1 << 20).expect("child: peek");
            match recs.last() {
                Some((pos, p)) => {
                    report(
                        "acking",
                        u64::from_le_bytes(p[..8].try_into().expect("8 bytes")),
                    );
                    replay.ack(*pos).expect("child: ack");
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    });
    let start = Instant::now();
    for seq in 0.. {
        let r = record(seq);
        match j.append(&[&r]) {
            Ok(()) => report("appended", seq),
            Err(JournalError::Full { .. }) => break,
            Err(e) => panic!("child: append: {e}"),
        }
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
}

/// Tells the parent (one whole line at a time).
fn report(what: &str, seq: u64) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{what} {seq}").expect("child: report");
    out.flush().expect("child: flush");
}

/// The last `appended` and `acking` lines a child printed before it died.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    appended: Option<u64>,
    acking: Option<u64>,
}

/// Runs the child on `dir`, kills it after `delay`; returns what it reported.
fn crash_child(dir: &Path, delay: Duration) -> Seen {
    let exe = std::env::current_exe().expect("test binary");
    let module = module_path!();
    let test = format!(
        "{}::kill_at_a_random_moment_loses_no_acknowledged_append",
        module.split_once("::").map_or(module, |(_, rest)| rest)
    );
    let mut child = Command::new(exe)
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let last = Arc::new(Mutex::new(Seen::default()));
    let stdout = child.stdout.take().expect("child stdout");
    let seen = Arc::clone(&last);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut seen = seen.lock().expect("lock");
            if let Some(n) = line.strip_prefix("appended ").and_then(|n| n.parse().ok()) {
                seen.appended = Some(n);
            } else if let Some(n) = line.strip_prefix("acking ").and_then(|n| n.parse().ok()) {
                seen.acking = Some(n);
            }
        }
    });
    std::thread::sleep(delay);
    child.kill().expect("kill child");
    child.wait().expect("reap child");
    reader.join().expect("reader");
    *last.lock().expect("lock")
}

#[test]
fn kill_at_a_random_moment_loses_no_acknowledged_append() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        run_child(Path::new(&dir));
        return;
    }
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    println!("crash test seed {seed}");
    for round in 0..4u64 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let delay = Duration::from_millis(100 + (seed.wrapping_mul(round + 7) >> 7) % 400);
        let seen = crash_child(tmp.path(), delay);
        let (j, report) = Journal::open_with(tmp.path(), OPTIONS).expect("open after crash");
        assert!(report.lost.is_empty(), "seed {seed}: {report:?}");
        let recs = j.peek(usize::MAX, usize::MAX).expect("peek");
        let seqs: Vec<u64> = recs
            .iter()
            .map(|(_, p)| u64::from_le_bytes(p[..8].try_into().expect("8 bytes")))
            .collect();
        for (i, (_, p)) in recs.iter().enumerate() {
            assert_eq!(p, &record(seqs[i]), "seed {seed}: record {i} altered");
        }
        let ctx = format!("seed {seed}, round {round}, {seen:?}, pending {seqs:?}");
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "gap or duplicate: {ctx}"
        );
        // Nothing appended is missing from the end, and nothing is gone from the front that
        // was not being acknowledged.
        let acked_at_most = seen.acking.map_or(0, |n| n + 1);
        match (seqs.first(), seqs.last(), seen.appended) {
            (Some(lo), Some(hi), appended) => {
                assert!(appended.is_none_or(|a| *hi >= a), "lost tail: {ctx}");
                assert!(*lo <= acked_at_most, "lost head: {ctx}");
            }
            (_, _, Some(a)) => assert!(acked_at_most > a, "lost everything: {ctx}"),
            _ => {}
        }
        println!(
            "round {round}: killed after {delay:?}, {seen:?}, {} pending",
            seqs.len()
        );
    }
}
