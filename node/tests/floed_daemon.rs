//! `floed` as a process: start, health, clean shutdown, and the errors a user meets first.

mod support;

use std::process::Command;

use support::floed::{Floed, request};

#[test]
fn starts_reports_health_and_metrics_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let floed = Floed::start(&dir.path().join("data"), &[]);
    assert_eq!(request(floed.http, "GET", "/healthz", &[], b"").status, 200);
    assert_eq!(request(floed.http, "GET", "/ready", &[], b"").status, 200);
    let ping = request(floed.http, "GET", "/ping", &[], b"");
    assert_eq!(ping.status, 204);
    assert!(ping.header("x-influxdb-version").is_some());
    let metrics = request(floed.http, "GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text()
            .contains("# TYPE floe_engine_samples_appended_total counter"),
        "{}",
        metrics.text()
    );
    let log = floed.stop(&[]);
    assert!(log.contains("engine flushed and closed"), "{log}");
}

fn floed_exit(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_floed"))
        .args(args)
        .output()
        .expect("run floed");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_configuration_is_a_clear_error_and_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("floed.toml");
    std::fs::write(&cfg, "data_dri = \"x\"\n").expect("write config");
    let (code, err) = floed_exit(&["--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("data_dri"), "{err}");
    let (code, err) = floed_exit(&[
        "--fsync",
        "sometimes",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fsync"), "{err}");
    let (code, err) = floed_exit(&["--config", "/nonexistent/floed.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("read configuration file"), "{err}");
}

#[test]
fn a_port_in_use_and_an_unusable_data_dir_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let data = dir.path().join("data");
    let (code, err) = floed_exit(&[
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--http-listen",
        &addr,
        "--graphite-listen",
        "",
        "--opentsdb-listen",
        "",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot listen") && err.contains(&addr),
        "{err}"
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let (code, err) = floed_exit(&[
        "--data-dir",
        file.to_str().expect("utf-8"),
        "--http-listen",
        "127.0.0.1:0",
        "--graphite-listen",
        "",
        "--opentsdb-listen",
        "",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("data directory"), "{err}");
}

#[test]
fn a_second_floed_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let first = Floed::start(&data, &[]);
    let (code, err) = floed_exit(&[
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--http-listen",
        "127.0.0.1:0",
        "--graphite-listen",
        "",
        "--opentsdb-listen",
        "",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use"), "{err}");
    first.stop(&[]);
}
