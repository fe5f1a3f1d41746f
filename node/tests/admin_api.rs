//! The administrative endpoints against a real `floed`: `POST /api/v1/admin/flush` writes the
//! head into blocks and `POST /api/v1/admin/compact` compacts, and queries answer exactly the
//! same before and after each.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use floe_node::ingest::remote_write::{DecodedSeries, encode_write_request};
use support::floed::{Floed, request};

const MINUTE: i64 = 60_000;

/// One sample a minute for five hours, ending ten minutes ago: data in three or more 2-hour
/// partitions, the older ones past the late-data grace, so compaction has work.
fn samples() -> Vec<(i64, f64)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let end = (now / MINUTE - 10) * MINUTE;
    (0..300)
        .map(|i| (end - (299 - i) * MINUTE, (i * i % 97) as f64 + 0.25))
        .collect()
}

fn query(f: &Floed, end_ms: i64) -> String {
    let path = format!(
        "/api/v1/query?query=count_over_time(load%5B6h%5D)%20%2B%20sum_over_time(load%5B6h%5D)&time={}",
        end_ms / 1000
    );
    let r = request(f.http, "GET", &path, &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

fn post(f: &Floed, path: &str) -> serde_json::Value {
    let r = request(f.http, "POST", path, &[], b"");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON answer");
    assert_eq!(v["status"], "success", "{v}");
    v["data"].clone()
}

#[test]
fn flush_and_compact_on_demand_keep_every_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let floed = Floed::start(&dir.path().join("data"), &[]);
    let data = samples();
    let end = data.last().expect("samples").0;
    let body = encode_write_request(&[DecodedSeries {
        labels: vec![
            ("__name__".into(), "load".into()),
            ("host".into(), "a".into()),
        ],
        samples: data.clone(),
    }]);
    let r = request(floed.http, "POST", "/api/v1/write", &[], &body);
    assert_eq!(r.status, 204, "{}", r.text());

    let before = query(&floed, end);
    let expected_sum: f64 = data.iter().map(|s| s.1).sum::<f64>() + data.len() as f64;
    assert!(
        before.contains(&format!("\"{expected_sum}\"")),
        "count + sum = {expected_sum} expected in {before}"
    );

    let flushed = post(&floed, "/api/v1/admin/flush");
    assert_eq!(flushed["samples"], 300, "{flushed}");
    assert!(
        flushed["blocks"].as_u64().expect("blocks") >= 3,
        "{flushed}"
    );
    assert_eq!(query(&floed, end), before, "answer changed by the flush");

    // Nothing left in the head: a second flush writes nothing.
    let again = post(&floed, "/api/v1/admin/flush");
    assert_eq!(again["samples"], 0, "{again}");

    let compacted = post(&floed, "/api/v1/admin/compact");
    for field in [
        "spansMerged",
        "blocksMerged",
        "rollupBlocks",
        "expired",
        "failedSpans",
    ] {
        assert!(compacted[field].is_u64(), "{field} missing in {compacted}");
    }
    assert_eq!(compacted["failedSpans"], 0, "{compacted}");
    assert_eq!(
        query(&floed, end),
        before,
        "answer changed by the compaction"
    );

    let r = request(floed.http, "GET", "/api/v1/admin/flush", &[], b"");
    assert_eq!(r.status, 405, "only POST flushes: {}", r.text());
    floed.stop(&[]);
}
