//! From InfluxDB points to Prometheus-model series: the one place the rule is written.
//!
//! Like VictoriaMetrics with its default flags: each numeric field becomes a series named
//! `<measurement>_<field>`, the tags become labels as sent, and the request's `db` argument
//! becomes a `db` label unless the line has a `db` tag itself. See `docs/protocol-line.md`.

use floe_storage_format::{Sample, SeriesKey};

use super::{Line, LineError};

/// What joins measurement and field key in a metric name (VictoriaMetrics'
/// `-influxMeasurementFieldSeparator` default).
pub const MEASUREMENT_FIELD_SEPARATOR: &str = "_";

/// The label that carries the request's database (`db` in v1, `bucket` in v2), as
/// VictoriaMetrics' `-influxDBLabel` default.
pub const DB_LABEL: &str = "db";

/// The label name that holds the metric name in the Prometheus model; a tag may not use it.
const NAME_LABEL: &str = "__name__";

/// The metric name of field `field` of measurement `measurement`: `measurement_field`, or
/// just `field` when the measurement is empty (the decoder never yields an empty one; the
/// rule is VictoriaMetrics').
pub fn metric_name(measurement: &str, field: &str) -> String {
    if measurement.is_empty() {
        return field.to_owned();
    }
    let mut name =
        String::with_capacity(measurement.len() + MEASUREMENT_FIELD_SEPARATOR.len() + field.len());
    name.push_str(measurement);
    name.push_str(MEASUREMENT_FIELD_SEPARATOR);
    name.push_str(field);
    name
}

/// The series of field `field` of `line`: [`metric_name`], the line's tags as labels, and
/// `db=<db>` when `db` is given, not empty, and the line has no `db` tag of its own.
///
/// Fails (naming the line) on a tag key `__name__`, or when the series breaks a storage
/// limit ([`floe_storage_format::MAX_LABELS`], [`floe_storage_format::MAX_NAME_LEN`],
/// [`floe_storage_format::MAX_KEY_LEN`]).
///
/// This builds owned strings; a caller on a hot path can cache the result by
/// `(line.series, field, db)`, which determine it.
pub fn series_key(line: &Line<'_>, field: &str, db: Option<&str>) -> Result<SeriesKey, LineError> {
    let mut has_db = false;
    for (k, _) in &line.tags {
        if k == NAME_LABEL {
            return Err(LineError::Series {
                line: line.line_no,
                reason: format!("tag key {NAME_LABEL:?} is reserved for the metric name"),
            });
        }
        has_db |= k == DB_LABEL;
    }
    let db = db
        .filter(|d| !d.is_empty() && !has_db)
        .map(|d| (DB_LABEL, d));
    let labels = line
        .tags
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .chain(db);
    let name = metric_name(&line.measurement, field);
    SeriesKey::new(name, labels).map_err(|e| LineError::Series {
        line: line.line_no,
        reason: e.to_string(),
    })
}

/// Appends one `(series, sample)` per numeric field of `line` to `out` (string fields are
/// skipped) and returns how many it appended; on error it appends nothing. The timestamp is the line's, else `now_ms`;
/// the version is 0. Booleans are 1 and 0; integers are converted to the nearest `f64`.
pub fn append_samples(
    line: &Line<'_>,
    db: Option<&str>,
    now_ms: i64,
    out: &mut Vec<(SeriesKey, Sample)>,
) -> Result<usize, LineError> {
    let ts = line.timestamp_ms.unwrap_or(now_ms);
    let before = out.len();
    for (field, value) in &line.fields {
        if let Some(v) = value.as_f64() {
            match series_key(line, field, db) {
                Ok(key) => out.push((key, Sample::new(ts, v, 0))),
                Err(e) => {
                    out.truncate(before);
                    return Err(e);
                }
            }
        }
    }
    Ok(out.len() - before)
}
