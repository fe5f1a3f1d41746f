//! `label_replace` and `label_join`, with Prometheus's validation and error messages and
//! Go's `regexp.Expand` template syntax for replacements.

use std::cell::RefCell;

use regex::{Captures, Regex};

use crate::error::QueryError;
use crate::value::Labels;

/// `label_replace(v, dst, replacement, src, regex)` applied to one element's labels.
///
/// `regex` is anchored at both ends. If it does not match the value of `src` (absent labels
/// are `""`), the labels come back unchanged; otherwise `dst` is set to `replacement` with
/// `$1`, `${1}`, `$name`, `${name}` expanded as Go does (`$$` is a literal `$`, unknown or
/// unmatched groups expand to nothing), and an empty result removes `dst`. The metric name
/// is kept. Errors: a regex that does not compile, or an invalid `dst` label name, in that
/// order, with Prometheus's messages.
pub(crate) fn label_replace(
    labels: &Labels,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Labels, QueryError> {
    with_anchored_regex(regex, |re| {
        let re = re.ok_or_else(|| {
            QueryError::Execution(format!(
                "invalid regular expression in label_replace(): {regex}"
            ))
        })?;
        if !is_valid_label_name(dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let src_value = labels.get(src).unwrap_or("");
        let Some(caps) = re.captures(src_value) else {
            return Ok(labels.clone());
        };
        let room = MAX_LABELS_BYTES.saturating_sub(bytes_besides(labels, dst));
        let value =
            go_expand(re, &caps, replacement, room).ok_or_else(|| too_large("label_replace"))?;
        let mut out = labels.clone();
        out.set(dst, &value);
        Ok(out)
    })
}

/// `label_join(v, dst, sep, src...)` applied to one element's labels: `dst` becomes the
/// values of `srcs` (absent ones as `""`) joined by `sep`, or is removed if that is empty.
/// Errors: an invalid source label name (checked first), then an invalid `dst`.
pub(crate) fn label_join(
    labels: &Labels,
    dst: &str,
    sep: &str,
    srcs: &[String],
) -> Result<Labels, QueryError> {
    if let Some(bad) = srcs.iter().find(|s| !is_valid_label_name(s)) {
        return Err(QueryError::Execution(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    if !is_valid_label_name(dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let values: Vec<&str> = srcs.iter().map(|s| labels.get(s).unwrap_or("")).collect();
    let joined = values
        .iter()
        .map(|v| v.len())
        .sum::<usize>()
        .saturating_add(sep.len().saturating_mul(values.len().saturating_sub(1)));
    if bytes_besides(labels, dst).saturating_add(joined) > MAX_LABELS_BYTES {
        return Err(too_large("label_join"));
    }
    let mut out = labels.clone();
    out.set(dst, &values.join(sep));
    Ok(out)
}

/// Most bytes (names and values) the labels of a `label_replace` or `label_join` result may
/// hold: no series Floe stores has more, and the cap keeps a short query from building huge
/// values (`label_join` repeating one source thousands of times with a long separator, or
/// nested calls multiplying it). Prometheus has no such limit.
pub(crate) const MAX_LABELS_BYTES: usize = floe_storage_format::MAX_KEY_LEN;

/// Bytes of `labels` other than the `dst` label, plus the name `dst`.
fn bytes_besides(labels: &Labels, dst: &str) -> usize {
    let others: usize = labels
        .pairs()
        .iter()
        .filter(|(n, _)| n != dst)
        .map(|(n, v)| n.len() + v.len())
        .sum();
    others + dst.len()
}

fn too_large(function: &str) -> QueryError {
    QueryError::Execution(format!(
        "{function}(): the labels of a result would be more than {MAX_LABELS_BYTES} bytes"
    ))
}

/// Prometheus's label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

thread_local! {
    /// The last anchored regex compiled, by source text: the evaluator calls `label_replace`
    /// once per element with the same pattern.
    static LAST_REGEX: RefCell<Option<(String, Option<Regex>)>> = const { RefCell::new(None) };
}

/// Runs `f` with `^(?:pattern)$` compiled, or `None` if it does not compile.
fn with_anchored_regex<T>(pattern: &str, f: impl FnOnce(Option<&Regex>) -> T) -> T {
    LAST_REGEX.with(|cell| {
        let mut cache = cell.borrow_mut();
        let hit = matches!(cache.as_ref(), Some((p, _)) if p == pattern);
        if !hit {
            let compiled = Regex::new(&format!("^(?:{pattern})$")).ok();
            *cache = Some((pattern.to_string(), compiled));
        }
        let re = cache.as_ref().and_then(|(_, re)| re.as_ref());
        f(re)
    })
}

/// Go's `Regexp.Expand` of `template` for one match, or `None` once the result is longer
/// than `max` bytes (each piece appended is at most a label value or the template).
fn go_expand(re: &Regex, caps: &Captures<'_>, template: &str, max: usize) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        if out.len() > max {
            return None;
        }
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((group, after)) = extract_group(rest) else {
            // Not a reference: the `$` stays as text.
            out.push('$');
            continue;
        };
        rest = after;
        if let Some(m) = lookup_group(re, caps, group) {
            out.push_str(m);
        }
    }
    out.push_str(rest);
    (out.len() <= max).then_some(out)
}

/// A group reference in a template: by number or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupRef<'a> {
    /// `$1`, `${1}`.
    Number(usize),
    /// `$name`, `${name}`, and also digit strings Go does not read as numbers (`$01`).
    Name(&'a str),
}

/// Go's `extract`: parses the reference after a `$`, returning it and the text after it.
/// The name is the longest run of letters, digits and `_`, so `$1x` names the group `1x`.
fn extract_group(s: &str) -> Option<(GroupRef<'_>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphabetic() || c.is_numeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let mut rest = &body[len..];
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    Some((parse_group_number(name), rest))
}

/// Go reads a reference as a number only if it is all ASCII digits, has no leading zero
/// and stays below 10^8 while parsing.
fn parse_group_number(name: &str) -> GroupRef<'_> {
    let mut num: usize = 0;
    for b in name.bytes() {
        if !b.is_ascii_digit() || num >= 100_000_000 {
            return GroupRef::Name(name);
        }
        num = num * 10 + usize::from(b - b'0');
    }
    if name.len() > 1 && name.starts_with('0') {
        return GroupRef::Name(name);
    }
    GroupRef::Number(num)
}

/// The text a group reference expands to, if the group exists and took part in the match.
fn lookup_group<'h>(re: &Regex, caps: &Captures<'h>, group: GroupRef<'_>) -> Option<&'h str> {
    match group {
        GroupRef::Number(i) => caps.get(i).map(|m| m.as_str()),
        GroupRef::Name(name) => re
            .capture_names()
            .enumerate()
            .filter(|(_, n)| *n == Some(name))
            .find_map(|(i, _)| caps.get(i))
            .map(|m| m.as_str()),
    }
}
