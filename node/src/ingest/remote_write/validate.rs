//! The label rules of one series: limits, names, order, duplicates, the metric name.

use super::error::{RemoteWriteError, describe, quote};
use super::{Limits, METRIC_NAME_LABEL};

/// One series' labels after checking: sorted by name, unique, none with an empty value,
/// `__name__` among them.
pub(super) struct CheckedLabels {
    pub(super) labels: Vec<(String, String)>,
    /// The sender did not sort the labels; they were sorted here.
    pub(super) resorted: bool,
}

/// Checks the labels of series number `series` as sent (any order, possibly with empty
/// values) and returns them in canonical form, or the first rule they break.
pub(super) fn check_labels(
    series: usize,
    mut labels: Vec<(String, String)>,
    limits: &Limits,
) -> Result<CheckedLabels, RemoteWriteError> {
    check_sizes(series, &labels, limits)?;
    let resorted = !labels.is_sorted_by(|a, b| a.0 <= b.0);
    if resorted {
        labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    check_names(series, &labels, limits)?;
    labels.retain(|(_, v)| !v.is_empty());
    check_metric_name(series, &labels, limits)?;
    check_key_len(series, &labels, limits)?;
    Ok(CheckedLabels { labels, resorted })
}

fn text(labels: &[(String, String)]) -> String {
    describe(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

fn check_sizes(
    series: usize,
    labels: &[(String, String)],
    limits: &Limits,
) -> Result<(), RemoteWriteError> {
    if labels.len() > limits.max_labels_per_series {
        return Err(RemoteWriteError::TooManyLabels {
            series,
            labels: text(labels),
            count: labels.len(),
            max: limits.max_labels_per_series,
        });
    }
    for (name, value) in labels {
        if name.len() > limits.max_label_name_len {
            return Err(RemoteWriteError::LabelNameTooLong {
                series,
                labels: text(labels),
                label: quote(name),
                len: name.len(),
                max: limits.max_label_name_len,
            });
        }
        if value.len() > limits.max_label_value_len {
            return Err(RemoteWriteError::LabelValueTooLong {
                series,
                labels: text(labels),
                label: quote(name),
                len: value.len(),
                max: limits.max_label_value_len,
            });
        }
    }
    Ok(())
}

/// Names valid and unique; `labels` sorted by name.
fn check_names(
    series: usize,
    labels: &[(String, String)],
    limits: &Limits,
) -> Result<(), RemoteWriteError> {
    for (i, (name, _)) in labels.iter().enumerate() {
        let valid = if limits.allow_utf8_names {
            !name.is_empty()
        } else {
            is_label_name(name)
        };
        if !valid {
            return Err(RemoteWriteError::InvalidLabelName {
                series,
                labels: text(labels),
                label: quote(name),
            });
        }
        if i > 0 && labels[i - 1].0 == *name {
            return Err(RemoteWriteError::DuplicateLabel {
                series,
                labels: text(labels),
                label: quote(name),
            });
        }
    }
    Ok(())
}

fn check_metric_name(
    series: usize,
    labels: &[(String, String)],
    limits: &Limits,
) -> Result<(), RemoteWriteError> {
    let Ok(at) = labels.binary_search_by(|(n, _)| n.as_str().cmp(METRIC_NAME_LABEL)) else {
        return Err(RemoteWriteError::MissingMetricName {
            series,
            labels: text(labels),
        });
    };
    let name = &labels[at].1;
    if !limits.allow_utf8_names && !is_metric_name(name) {
        return Err(RemoteWriteError::InvalidMetricName {
            series,
            labels: text(labels),
            name: quote(name),
        });
    }
    Ok(())
}

/// The storage format's estimate of the canonical key length (`len + 3` per string: the
/// string and a varint length prefix of up to 3 bytes), so that a series this decoder accepts
/// is one [`floe_storage_format::SeriesKey::new`] accepts.
pub(super) fn series_key_len(labels: &[(String, String)]) -> usize {
    let s = |x: &str| x.len() + 3;
    labels
        .iter()
        .map(|(n, v)| {
            if n == METRIC_NAME_LABEL {
                s(v)
            } else {
                s(n) + s(v)
            }
        })
        .sum()
}

fn check_key_len(
    series: usize,
    labels: &[(String, String)],
    limits: &Limits,
) -> Result<(), RemoteWriteError> {
    let len = series_key_len(labels);
    if len > limits.max_series_key_bytes {
        return Err(RemoteWriteError::SeriesKeyTooLong {
            series,
            labels: text(labels),
            len,
            max: limits.max_series_key_bytes,
        });
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a Prometheus label name.
pub fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: a Prometheus metric name.
pub fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_grammars() {
        for ok in ["a", "_", "__name__", "A_1", "z9"] {
            assert!(is_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "a:b", "é", " a"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        for ok in ["a", ":", "job:rate5m", "_x:y_1", "http_requests_total"] {
            assert!(is_metric_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "a b", "ü"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
    }
}
