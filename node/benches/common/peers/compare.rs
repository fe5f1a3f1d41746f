//! Query answers parsed from the Prometheus JSON format and compared with a tolerance.

use std::collections::BTreeMap;

/// A matrix answer: label set (as text, labels sorted) → points (ms, value).
pub type Matrix = BTreeMap<String, Vec<(i64, f64)>>;

/// One system's answer to one query.
#[derive(Debug, Clone)]
pub enum Answer {
    Matrix(Matrix),
    Failed { status: u16, body: String },
}

/// Parses a `query_range` response.
pub fn parse(status: u16, body: &[u8]) -> Answer {
    let failed = || Answer::Failed {
        status,
        body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return failed();
    };
    if status != 200 || v["status"] != "success" {
        return failed();
    }
    let Some(result) = v["data"]["result"].as_array() else {
        return failed();
    };
    let mut m = Matrix::new();
    for s in result {
        let labels: BTreeMap<&str, &str> = s["metric"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        let key = labels_text(&labels);
        let points = s["values"]
            .as_array()
            .map(|vs| vs.iter().filter_map(point).collect())
            .unwrap_or_default();
        m.insert(key, points);
    }
    Answer::Matrix(m)
}

fn labels_text(labels: &BTreeMap<&str, &str>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn point(p: &serde_json::Value) -> Option<(i64, f64)> {
    let t = p.get(0)?.as_f64()?;
    let v = match p.get(1)?.as_str()? {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().ok()?,
    };
    Some(((t * 1000.0).round() as i64, v))
}

/// Values agree when equal, both NaN, or within a relative 1e-9 (the last digits of sums and
/// averages depend on the order of additions).
pub fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Why two answers differ, or `None` when they agree (the same series, timestamps and values,
/// or both refused with the same HTTP status).
pub fn diff(a: &Answer, b: &Answer) -> Option<String> {
    let (a, b) = match (a, b) {
        (Answer::Matrix(a), Answer::Matrix(b)) => (a, b),
        // Both refuse the query the same way: that is agreement too.
        (Answer::Failed { status: sa, .. }, Answer::Failed { status: sb, .. }) if sa == sb => {
            return None;
        }
        (Answer::Failed { status, body }, _) => {
            return Some(format!("A failed ({status}): {body}"));
        }
        (_, Answer::Failed { status, body }) => {
            return Some(format!("B failed ({status}): {body}"));
        }
    };
    if a.keys().ne(b.keys()) {
        let only = |x: &Matrix, y: &Matrix| -> Vec<String> {
            x.keys().filter(|k| !y.contains_key(*k)).cloned().collect()
        };
        let (oa, ob) = (only(a, b), only(b, a));
        let named = |v: &[String], yes: bool| v.iter().all(|k| k.contains("__name__=") == yes);
        // Which side kept `__name__` where the other dropped it, if that is the only difference.
        let keeper = if !oa.is_empty() && named(&oa, false) && named(&ob, true) {
            Some("B")
        } else if !ob.is_empty() && named(&ob, false) && named(&oa, true) {
            Some("A")
        } else {
            None
        };
        let mut why = format!(
            "series differ: {} only in A (e.g. {}), {} only in B (e.g. {})",
            oa.len(),
            oa.first().map_or("-", String::as_str),
            ob.len(),
            ob.first().map_or("-", String::as_str)
        );
        if let Some(keeper) = keeper {
            let other = if keeper == "A" { "B" } else { "A" };
            why.push_str(&format!(
                "; {keeper} keeps __name__ through the _over_time function, {other} drops it: "
            ));
            let (sa, sb) = (strip_name(a), strip_name(b));
            why.push_str(&if sa.len() != a.len() || sb.len() != b.len() {
                format!("several metrics are one series in {other}, one each in {keeper}")
            } else if sa.keys().ne(sb.keys()) {
                "series still differ once __name__ is dropped".to_string()
            } else {
                match diff_points(&sa, &sb) {
                    None => "values agree once __name__ is dropped".to_string(),
                    Some(d) => format!("once __name__ is dropped, {d}"),
                }
            });
        }
        return Some(why);
    }
    diff_points(a, b)
}

/// Differences between points of the same series.
fn diff_points(a: &Matrix, b: &Matrix) -> Option<String> {
    let (mut missing, mut differ, mut total) = (0usize, 0usize, 0usize);
    let mut example = None;
    for (k, pa) in a {
        let Some(pb) = b.get(k) else { continue };
        let mb: BTreeMap<i64, f64> = pb.iter().copied().collect();
        let ma: BTreeMap<i64, f64> = pa.iter().copied().collect();
        total += ma.len().max(mb.len());
        missing += ma.keys().filter(|t| !mb.contains_key(t)).count()
            + mb.keys().filter(|t| !ma.contains_key(t)).count();
        for (t, va) in &ma {
            if let Some(vb) = mb.get(t)
                && !close(*va, *vb)
            {
                differ += 1;
                example.get_or_insert_with(|| format!("{k} at {t} ms: A {va} B {vb}"));
            }
        }
        if missing > 0 && example.is_none() {
            example = Some(format!(
                "{k}: A has {} points ({}..{} ms), B {} ({}..{} ms)",
                ma.len(),
                ma.keys().next().unwrap_or(&0),
                ma.keys().last().unwrap_or(&0),
                mb.len(),
                mb.keys().next().unwrap_or(&0),
                mb.keys().last().unwrap_or(&0)
            ));
        }
    }
    (missing + differ > 0).then(|| {
        format!(
            "{differ} of {total} points differ in value, {missing} present on one side only; e.g. {}",
            example.unwrap_or_default()
        )
    })
}

/// The matrix with `__name__` removed from every label set (later series win on collision).
pub fn strip_name(m: &Matrix) -> Matrix {
    m.iter()
        .map(|(k, v)| {
            let inner = k.trim_start_matches('{').trim_end_matches('}');
            let kept: Vec<&str> = inner
                .split(", ")
                .filter(|l| !l.starts_with("__name__=") && !l.is_empty())
                .collect();
            (format!("{{{}}}", kept.join(", ")), v.clone())
        })
        .collect()
}

/// Points (series × steps) of an answer.
pub fn points(a: &Answer) -> usize {
    match a {
        Answer::Matrix(m) => m.values().map(Vec::len).sum(),
        Answer::Failed { .. } => 0,
    }
}
