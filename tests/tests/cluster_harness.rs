//! The harness itself, on one single-node floed (no cluster needed): the binary is found or
//! built, a process starts from a config file and reports its addresses, the HTTP helpers
//! write line protocol, query it back and read `/metrics`, and pause, resume and stop act on
//! the process by PID.

use std::time::Duration;

use floe_tests::http;
use floe_tests::process::{FloedProcess, ProcessFiles};
use floe_tests::{floed_bin, wait_until};

#[test]
fn a_single_floed_is_driven_by_the_harness() -> anyhow::Result<()> {
    println!("checks: floed starts from a config file, serves writes and queries, pauses, stops");
    let tmp = tempfile::tempdir()?;
    let config = tmp.path().join("floed.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nhttp_listen = \"127.0.0.1:0\"\ngraphite_listen = \"\"\n\
             opentsdb_listen = \"\"\nfsync = \"always\"\n",
            tmp.path().join("data")
        ),
    )?;
    let files = ProcessFiles {
        bin: floed_bin()?,
        config,
        log: tmp.path().join("floed.log"),
        stdout: tmp.path().join("stdout.log"),
        env: Vec::new(),
    };
    let mut p = FloedProcess::spawn(&files, "single", Duration::from_secs(60))?;
    let addr = p.listening().expect("listening").http;
    wait_until("/ready", Duration::from_secs(30), || {
        Ok(http::get(addr, "/ready")?.status == 200)
    })?;

    let t = 1_700_000_000_000i64;
    http::write_lines_ok(addr, "h", &format!("cpu,host=a usage=42.5 {t}\n"), None)?;
    let v = http::query_vector(addr, "cpu_usage", t, None)?;
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].value, 42.5);
    assert_eq!(v[0].label("host"), Some("a"));
    assert_eq!(v[0].label("db"), Some("h"));
    let ingested = http::metric(
        addr,
        "floe_ingested_samples_total",
        &[("protocol", "influx")],
    )?;
    assert_eq!(ingested, Some(1.0));

    p.pause()?;
    let paused = std::net::TcpStream::connect(addr).and_then(|mut s| {
        use std::io::{Read, Write};
        s.set_read_timeout(Some(Duration::from_millis(300)))?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut buf = [0u8; 16];
        s.read(&mut buf)
    });
    assert!(
        paused.is_err(),
        "a paused floed must not answer: {paused:?}"
    );
    p.resume()?;
    assert_eq!(http::get(addr, "/healthz")?.status, 200);

    let status = p.stop(Duration::from_secs(20))?;
    assert!(status.success(), "floed exited with {status}");
    let log = std::fs::read_to_string(&files.log)?;
    let bad = floe_tests::cluster::unexpected_lines(&log, &[]);
    assert!(bad.is_empty(), "unexpected log lines: {bad:?}");
    Ok(())
}
