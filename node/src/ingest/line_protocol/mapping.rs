//! From InfluxDB points to Prometheus-model series: the one place the rule is written.
//!
//! Like VictoriaMetrics with its default flags: each numeric field becomes a series named
//! `<measurement>_<field>`, the tags become labels as sent, and the request's `db` argument
//! becomes a `db` label unless the line has a `db` tag itself. See `docs/protocol-line.md`.

use std::collections::HashMap;

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

/// Maps the points of one request onto series, building each distinct series once.
///
/// [`append_samples`] builds a [`SeriesKey`] (a string per label) for every sample; on
/// TSBS-like lines that costs far more than parsing. This mapper remembers, per measurement
/// and tag set as sent ([`Line::series`]) and field key, the index of the series it built, so
/// a request of many points of few series builds each key once. It applies exactly the rules
/// of [`series_key`]; its output is the distinct series and the samples that point into them.
#[derive(Debug, Default)]
pub struct SeriesMapper {
    db: Option<String>,
    now_ms: i64,
    /// Tag sets as sent → their entry in `sets`.
    by_series: HashMap<Box<[u8]>, usize>,
    /// Per tag set, the field keys seen with the index of their series in `keys`, in the
    /// order first seen (lines of one tag set usually list their fields in the same order).
    sets: Vec<Vec<(Box<str>, u32)>>,
    keys: Vec<SeriesKey>,
    samples: Vec<(u32, Sample)>,
}

impl SeriesMapper {
    /// A mapper for one request: its database argument (v1 `db`, v2 `bucket`) and the time to
    /// give points without a timestamp.
    pub fn new(db: Option<&str>, now_ms: i64) -> Self {
        Self {
            db: db.filter(|d| !d.is_empty()).map(str::to_owned),
            now_ms,
            ..Self::default()
        }
    }

    /// Adds one sample per numeric field of `line` (string fields are skipped) and returns
    /// how many it added; on error it adds nothing.
    pub fn add(&mut self, line: &Line<'_>) -> Result<usize, LineError> {
        let ts = line.timestamp_ms.unwrap_or(self.now_ms);
        let set = match self.by_series.get(line.series) {
            Some(&set) => set,
            None => {
                self.sets.push(Vec::new());
                self.by_series
                    .insert(line.series.into(), self.sets.len() - 1);
                self.sets.len() - 1
            }
        };
        let before = self.samples.len();
        for (j, (field, value)) in line.fields.iter().enumerate() {
            let Some(v) = value.as_f64() else { continue };
            let known = &self.sets[set];
            let found = match known.get(j) {
                Some((k, index)) if **k == **field => Some(*index),
                _ => known
                    .iter()
                    .find(|(k, _)| **k == **field)
                    .map(|&(_, index)| index),
            };
            let index = match found {
                Some(index) => index,
                None => match self.new_series(line, field) {
                    Ok(index) => {
                        self.sets[set].push((field.as_ref().into(), index));
                        index
                    }
                    Err(e) => {
                        self.samples.truncate(before);
                        return Err(e);
                    }
                },
            };
            self.samples.push((index, Sample::new(ts, v, 0)));
        }
        Ok(self.samples.len() - before)
    }

    fn new_series(&mut self, line: &Line<'_>, field: &str) -> Result<u32, LineError> {
        let index = u32::try_from(self.keys.len()).map_err(|_| LineError::Series {
            line: line.line_no,
            reason: "more than 2^32 series in one request".into(),
        })?;
        self.keys.push(series_key(line, field, self.db.as_deref())?);
        Ok(index)
    }

    /// The distinct series so far.
    pub fn keys(&self) -> &[SeriesKey] {
        &self.keys
    }

    /// The samples so far, each with the index of its series in [`Self::keys`].
    pub fn samples(&self) -> &[(u32, Sample)] {
        &self.samples
    }

    /// The distinct series and the samples that index into them.
    pub fn into_parts(self) -> (Vec<SeriesKey>, Vec<(u32, Sample)>) {
        (self.keys, self.samples)
    }

    /// One `(series, sample)` row per sample, as [`append_samples`] gives (each key cloned).
    pub fn into_rows(self) -> Vec<(SeriesKey, Sample)> {
        let keys = self.keys;
        self.samples
            .into_iter()
            .filter_map(|(i, s)| Some((keys.get(i as usize)?.clone(), s)))
            .collect()
    }
}
