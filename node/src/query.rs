//! PromQL over the local engine: the [`floe_query::Storage`] adapter the evaluator reads
//! through, the conversion of label matchers, and the parsing of `match[]` selectors.
//!
//! The adapter enforces the query's series and sample limits and its deadline while it reads
//! (so a query that selects too much stops before it has loaded it all) and remembers why it
//! stopped; [`EngineStorage::finish`] then answers with that reason whatever the evaluator
//! made of the storage error it was given.
//!
//! Query texts are checked by [`floe_query::parse`] itself (length, operator count, nesting
//! depth), which the evaluator calls; see `floe_query::MAX_QUERY_DEPTH`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use floe_query::{
    LabelMatcher, Labels, MatchOp as QueryOp, QueryError, QueryOptions, RollupSeries, Series,
    Storage, StorageError, is_stale_marker,
};
use floe_storage_format::SeriesKey;
use promql_parser::parser::Expr;

use crate::engine::Engine;
use crate::index::{METRIC_NAME_LABEL, MatchOp, Matcher};

/// Reads series for one query evaluation (or one remote read request) from the engine.
#[derive(Debug)]
pub struct EngineStorage {
    engine: Arc<Engine>,
    max_series: usize,
    max_samples: usize,
    deadline: Instant,
    timeout_ms: u64,
    state: Mutex<ReadState>,
}

/// What the reads so far touched, and why reading stopped, if it did.
#[derive(Debug, Default)]
struct ReadState {
    series: usize,
    samples: usize,
    stop: Option<Stop>,
}

/// Why the adapter refused to read on.
#[derive(Debug, Clone)]
enum Stop {
    Limit {
        limit: &'static str,
        max: usize,
        detail: String,
    },
    Timeout,
    BadData(String),
    Unavailable(String),
}

impl EngineStorage {
    /// An adapter with `opts`' series and sample limits and a deadline `opts.timeout` from now.
    pub fn new(engine: Arc<Engine>, opts: &QueryOptions) -> Self {
        Self {
            engine,
            max_series: opts.max_series,
            max_samples: opts.max_samples,
            deadline: Instant::now() + opts.timeout,
            timeout_ms: u64::try_from(opts.timeout.as_millis()).unwrap_or(u64::MAX),
            state: Mutex::new(ReadState::default()),
        }
    }

    /// Series and samples read so far.
    pub fn touched(&self) -> (usize, usize) {
        let s = self.lock();
        (s.series, s.samples)
    }

    /// `res`, unless reading stopped at a limit, the deadline or a bad matcher: then that.
    pub fn finish<T>(&self, res: Result<T, QueryError>) -> Result<T, QueryError> {
        match self.stopped() {
            None => res,
            Some(e) => Err(e),
        }
    }

    /// Why reading stopped, if it did.
    pub fn stopped(&self) -> Option<QueryError> {
        let stop = self.lock().stop.clone();
        stop.map(|stop| match stop {
            Stop::Limit { limit, max, detail } => QueryError::Limit { limit, max, detail },
            Stop::Timeout => QueryError::Timeout {
                after_ms: self.timeout_ms,
            },
            Stop::BadData(m) => QueryError::BadData(m),
            Stop::Unavailable(m) => QueryError::Unavailable(m),
        })
    }

    /// Time left before the deadline, or the timeout error (recorded) if none is.
    pub(crate) fn remaining(&self) -> Result<std::time::Duration, StorageError> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(self.stop(Stop::Timeout));
        }
        Ok(self.deadline - now)
    }

    /// Series and samples the query may still read.
    pub(crate) fn headroom(&self) -> (usize, usize) {
        let s = self.lock();
        (
            self.max_series.saturating_sub(s.series),
            self.max_samples.saturating_sub(s.samples),
        )
    }

    /// Records a bad matcher (`bad_data`) and returns the storage error for the evaluator.
    pub(crate) fn refuse_bad_data(&self, message: String) -> StorageError {
        self.stop(Stop::BadData(message))
    }

    /// Records that too few replicas answered (`unavailable`, retryable).
    pub(crate) fn refuse_unavailable(&self, message: String) -> StorageError {
        self.stop(Stop::Unavailable(message))
    }

    /// Records that a limit stopped reading on another node.
    pub(crate) fn refuse_limit(&self, series: bool, detail: String) -> StorageError {
        let (limit, max) = if series {
            ("max_series", self.max_series)
        } else {
            ("max_samples", self.max_samples)
        };
        self.stop(Stop::Limit { limit, max, detail })
    }

    /// The series matching every matcher that have samples in `[start, end]`, with those
    /// samples (staleness markers included), within the limits and the deadline.
    pub fn read(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let selected = self.engine.select_in_range(matchers, start, end);
        self.count(selected.len(), 0)?;
        let threads = read_threads(selected.len());
        if threads <= 1 {
            return self.read_some(&selected, start, end);
        }
        // Decoding dominates wide reads: split the series over the cores, keeping their order.
        let per = selected.len().div_ceil(threads);
        let parts: Vec<Result<Vec<Series>, StorageError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = selected
                .chunks(per)
                .map(|part| scope.spawn(move || self.read_some(part, start, end)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(StorageError {
                            message: "a series reader thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(selected.len());
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }

    /// Reads `selected` in order on this thread.
    fn read_some(
        &self,
        selected: &[(crate::index::SeriesRef, SeriesKey)],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let mut out = Vec::with_capacity(selected.len());
        for (r, key) in selected {
            if Instant::now() > self.deadline {
                return Err(self.stop(Stop::Timeout));
            }
            let mut samples = Vec::new();
            self.engine
                .read_points(*r, start, end, &mut samples)
                .map_err(|e| StorageError {
                    message: format!("read series {key}: {e}"),
                })?;
            if samples.is_empty() {
                continue;
            }
            self.count(0, samples.len())?;
            // While the samples are still in cache: most series never hold a marker.
            let stale_markers = samples.iter().any(|s| is_stale_marker(s.1));
            out.push(Series {
                labels: labels_of(key),
                samples,
                stale_markers,
            });
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records why reading stopped and returns the storage error that tells the evaluator.
    fn stop(&self, why: Stop) -> StorageError {
        let message = match &why {
            Stop::Limit { limit, max, detail } => format!("limit {limit} = {max}: {detail}"),
            Stop::Timeout => format!("query timed out after {} ms", self.timeout_ms),
            Stop::BadData(m) | Stop::Unavailable(m) => m.clone(),
        };
        self.lock().stop.get_or_insert(why);
        StorageError { message }
    }

    /// Counts what was read against the limits; past one, records it and refuses.
    pub(crate) fn count(&self, series: usize, samples: usize) -> Result<(), StorageError> {
        let (s, n) = {
            let mut st = self.lock();
            st.series += series;
            st.samples += samples;
            (st.series, st.samples)
        };
        if s > self.max_series {
            return Err(self.stop(Stop::Limit {
                limit: "max_series",
                max: self.max_series,
                detail: format!("the query selected {s} series"),
            }));
        }
        if n > self.max_samples {
            return Err(self.stop(Stop::Limit {
                limit: "max_samples",
                max: self.max_samples,
                detail: format!("the query loaded more than {} samples", self.max_samples),
            }));
        }
        Ok(())
    }
}

/// Series one reader thread takes at least: below this, starting a thread costs more than
/// it saves.
const SERIES_PER_READ_THREAD: usize = 32;

/// How many threads read `series` series: one per core, at most one per
/// [`SERIES_PER_READ_THREAD`] series.
fn read_threads(series: usize) -> usize {
    let cores = floe_query::cores();
    cores.min(series / SERIES_PER_READ_THREAD).max(1)
}

impl EngineStorage {
    /// [`Storage::select_rollup`]: rollups only where the range reaches below the raw blocks
    /// and rollups of `resolution_ms` are kept there; every indexed series is asked (a series
    /// whose raw samples expired is in no raw block), those without rows are left out.
    fn rollups(
        &self,
        matchers: &[Matcher],
        resolution_ms: i64,
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<RollupSeries>>, StorageError> {
        match self.engine.rollup_floor(resolution_ms) {
            Some(floor) if start < floor => {}
            _ => return Ok(None),
        }
        let selected = self.engine.select(matchers);
        self.count(selected.len(), 0)?;
        let mut out = Vec::new();
        for (r, key) in selected {
            if Instant::now() > self.deadline {
                return Err(self.stop(Stop::Timeout));
            }
            let rollup = self
                .engine
                .read_rollup(r, resolution_ms, start, end)
                .map_err(|e| StorageError {
                    message: format!("read the rollup of series {key}: {e}"),
                })?;
            if rollup.ts.is_empty() {
                continue;
            }
            self.count(0, rollup.ts.len())?;
            out.push(RollupSeries {
                labels: labels_of(&key),
                rollup,
            });
        }
        Ok(Some(out))
    }
}

impl Storage for EngineStorage {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let converted = self.convert(matchers)?;
        self.read(&converted, start_ms, end_ms)
    }

    fn select_rollup(
        &self,
        matchers: &[LabelMatcher],
        resolution_ms: i64,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Option<Vec<RollupSeries>>, StorageError> {
        let converted = self.convert(matchers)?;
        self.rollups(&converted, resolution_ms, start_ms, end_ms)
    }
}

impl EngineStorage {
    /// The index's matchers for the query's (a bad regex stops the query as `bad_data`).
    fn convert(&self, matchers: &[LabelMatcher]) -> Result<Vec<Matcher>, StorageError> {
        matchers
            .iter()
            .map(|m| Matcher::new(index_op(m.op), m.name.clone(), m.value.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.stop(Stop::BadData(e.to_string())))
    }
}

fn index_op(op: QueryOp) -> MatchOp {
    match op {
        QueryOp::Equal => MatchOp::Equal,
        QueryOp::NotEqual => MatchOp::NotEqual,
        QueryOp::Re => MatchOp::RegexMatch,
        QueryOp::NotRe => MatchOp::RegexNoMatch,
    }
}

/// A source of series for one query evaluation, with the accounting the query API reports.
pub trait QueryStorage: Storage + Send + Sync + 'static {
    /// Series and samples read so far.
    fn touched(&self) -> (usize, usize);
    /// Why reading stopped (a limit, the deadline, a bad matcher), if it did.
    fn stopped(&self) -> Option<QueryError>;
    /// `res`, unless reading stopped: then why.
    fn finish_with(
        &self,
        res: Result<(floe_query::QueryValue, floe_query::QueryStats), QueryError>,
    ) -> Result<(floe_query::QueryValue, floe_query::QueryStats), QueryError> {
        match self.stopped() {
            None => res,
            Some(e) => Err(e),
        }
    }
}

impl QueryStorage for EngineStorage {
    fn touched(&self) -> (usize, usize) {
        EngineStorage::touched(self)
    }

    fn stopped(&self) -> Option<QueryError> {
        EngineStorage::stopped(self)
    }
}

/// The labels of a stored series, its metric name as `__name__`.
pub fn labels_of(key: &SeriesKey) -> Labels {
    let mut pairs = Vec::with_capacity(key.labels().len() + 1);
    pairs.push((METRIC_NAME_LABEL.to_string(), key.name().to_string()));
    pairs.extend(key.labels().iter().cloned());
    Labels::new(pairs)
}

/// Parses the `match[]` arguments of the series and label endpoints: each a series selector
/// such as `up{job="api"}` (an `or` inside braces gives one matcher set per alternative).
/// Like Prometheus, every set must hold a matcher that the empty value fails, so no argument
/// selects every series. Errors are the message of a `bad_data` answer.
pub fn parse_match_params(args: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::new();
    for text in args {
        for set in parse_selector(text)? {
            if set.iter().all(|m| m.matches("")) {
                return Err(
                    "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"
                        .into(),
                );
            }
            sets.push(set);
        }
    }
    Ok(sets)
}

fn parse_selector(text: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let bad = |m: String| format!("invalid parameter \"match[]\": {m}");
    if text.len() > floe_query::MAX_QUERY_BYTES {
        return Err(bad(format!(
            "selector is {} bytes, more than the limit of {}",
            text.len(),
            floe_query::MAX_QUERY_BYTES
        )));
    }
    if !selector_chars_only(text) {
        return Err(bad(format!(
            "{} is not a series selector such as up{{job=\"api\"}}",
            short(text)
        )));
    }
    let expr = promql_parser::parser::parse(text).map_err(bad)?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(bad(format!(
            "{} is not a series selector such as up{{job=\"api\"}}",
            short(text)
        )));
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(bad(format!(
            "{}: a series selector takes no offset or @ modifier",
            short(text)
        )));
    }
    let groups = if vs.matchers.or_matchers.is_empty() {
        vec![vs.matchers.matchers]
    } else {
        vs.matchers.or_matchers
    };
    groups
        .into_iter()
        .map(|group| {
            let mut set: Vec<Matcher> = Vec::with_capacity(group.len() + 1);
            if let Some(name) = &vs.name {
                set.push(Matcher::equal(METRIC_NAME_LABEL, name.clone()));
            }
            for m in group {
                set.push(convert(m).map_err(bad)?);
            }
            Ok(set)
        })
        .collect()
}

/// `text` quoted, cut to 100 characters for an error message.
fn short(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

/// Whether `text` has, outside its string literals, only what a series selector can hold:
/// names, braces, matcher operators, commas and blanks. Anything else (parentheses,
/// arithmetic) cannot make a selector, and refusing it before parsing keeps hostile nesting
/// away from the parser.
fn selector_chars_only(text: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                c if c.is_ascii_alphanumeric() || c.is_whitespace() => {}
                '_' | ':' | '{' | '}' | '=' | '!' | '~' | ',' => {}
                _ => return false,
            },
        }
    }
    true
}

fn convert(m: promql_parser::label::Matcher) -> Result<Matcher, String> {
    use promql_parser::label::MatchOp as P;
    let op = match m.op {
        P::Equal => MatchOp::Equal,
        P::NotEqual => MatchOp::NotEqual,
        P::Re(_) => MatchOp::RegexMatch,
        P::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name, m.value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_matcher_sets() {
        let sets = parse_match_params(&["up{job=\"a\"}", "{x=\"1\" or y=~'2|3'}"])
            .expect("valid selectors");
        let shown: Vec<Vec<String>> = sets
            .iter()
            .map(|s| s.iter().map(ToString::to_string).collect())
            .collect();
        assert_eq!(
            shown,
            vec![
                vec!["__name__=\"up\"".to_string(), "job=\"a\"".to_string()],
                vec!["x=\"1\"".to_string()],
                vec!["y=~\"2|3\"".to_string()],
            ]
        );
    }

    #[test]
    fn selectors_that_match_everything_or_are_not_selectors_are_refused() {
        for (text, wanted) in [
            ("{a=\"\"}", "non-empty matcher"),
            ("{a=~\".*\"}", "non-empty matcher"),
            ("{a=\"\" or b=\"1\"}", "non-empty matcher"),
            ("rate(up[5m])", "not a series selector"),
            ("-up", "not a series selector"),
            ("up{a=\"(\"} + 1", "not a series selector"),
            ("up offset 5m", "offset"),
            ("up{", "invalid parameter \"match[]\""),
        ] {
            let e = parse_match_params(&[text]).expect_err(text);
            assert!(e.contains(wanted), "{text}: {e}");
        }
    }
}
