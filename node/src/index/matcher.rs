//! Label matchers: `=`, `!=`, `=~`, `!~` with Prometheus semantics.

use std::fmt;

use regex::Regex;

use super::IndexError;

/// The label name that holds the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// How a [`Matcher`] compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the value equals the matcher's value.
    Equal,
    /// `!=`: the value differs from the matcher's value.
    NotEqual,
    /// `=~`: the value matches the fully anchored regex.
    RegexMatch,
    /// `!~`: the value does not match the fully anchored regex.
    RegexNoMatch,
}

impl MatchOp {
    /// The operator as PromQL writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A test on one label of a series: `name op value`.
///
/// A series without the label is tested as if its value were the empty string (labels with an
/// empty value are never stored, so "absent" and "empty" are the same thing). Hence `l=""`
/// selects series without `l`, `l!=""` series with it, and `l=~"a|"` series whose `l` is `a`
/// or absent. Regexes use the `regex` crate's RE2 syntax and are fully anchored; `.` also
/// matches a newline, as in Prometheus 3: the expression `re` is compiled as `^(?s:re)$`.
#[derive(Debug, Clone)]
pub struct Matcher {
    op: MatchOp,
    name: String,
    value: String,
    test: Test,
}

/// The compiled positive test of a regex matcher (for `=`/`!=` it is unused).
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// Plain equality with the matcher's value.
    Literal,
    /// `.*`: every value, including the empty one.
    Any,
    /// `.+`: every non-empty value.
    NonEmpty,
    /// An alternation of plain literals (`a|b|c`): exactly these values.
    Set(Vec<String>),
    /// Anything else.
    Regex(Regex),
}

impl Matcher {
    /// Builds a matcher; a regex that does not compile is an [`IndexError::BadRegex`].
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, IndexError> {
        let (name, value) = (name.into(), value.into());
        let test = match op {
            MatchOp::Equal | MatchOp::NotEqual => Test::Literal,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => compile(op, &name, &value)?,
        };
        Ok(Matcher {
            op,
            name,
            value,
            test,
        })
    }

    /// Shorthand for `Matcher::new(MatchOp::Equal, name, value)`, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            op: MatchOp::Equal,
            name: name.into(),
            value: value.into(),
            test: Test::Literal,
        }
    }

    /// The label name tested (`__name__` for the metric name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher; pass `""` for a series without the label.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::RegexMatch => self.regex_matches(value),
            MatchOp::RegexNoMatch => !self.regex_matches(value),
        }
    }

    fn regex_matches(&self, value: &str) -> bool {
        match &self.test {
            Test::Literal => value == self.value,
            Test::Any => true,
            Test::NonEmpty => !value.is_empty(),
            Test::Set(set) => set.iter().any(|s| s == value),
            Test::Regex(re) => re.is_match(value),
        }
    }

    /// The exact values that satisfy the matcher's positive test, when they are known without
    /// scanning (`=` and literal alternations): lets selection look pairs up directly.
    pub(crate) fn literal_values(&self) -> Option<Vec<&str>> {
        match (&self.test, self.op) {
            (Test::Literal, _) => Some(vec![self.value.as_str()]),
            (Test::Set(set), _) => Some(set.iter().map(String::as_str).collect()),
            _ => None,
        }
    }

    /// For `.*` and `.+`: whether every non-empty value passes the matcher (`Some(true)` for
    /// `=~`, `Some(false)` for `!~`), so selection need not test each value.
    pub(crate) fn uniform_on_non_empty(&self) -> Option<bool> {
        match (&self.test, self.op) {
            (Test::Any | Test::NonEmpty, op) => Some(op == MatchOp::RegexMatch),
            _ => None,
        }
    }

    /// True for `!=` and `!~`: the matcher selects the complement of its positive test.
    pub(crate) fn is_negated(&self) -> bool {
        matches!(self.op, MatchOp::NotEqual | MatchOp::RegexNoMatch)
    }
}

impl fmt::Display for Matcher {
    /// PromQL form: `name=~"value"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

/// Compiles the positive test of a regex matcher, recognising the common shapes that need no
/// regex engine.
fn compile(op: MatchOp, name: &str, re: &str) -> Result<Test, IndexError> {
    match re {
        ".*" => return Ok(Test::Any),
        ".+" => return Ok(Test::NonEmpty),
        _ => {}
    }
    let parts: Vec<&str> = re.split('|').collect();
    if parts.iter().all(|p| regex::escape(p) == *p) {
        let mut set: Vec<String> = parts.into_iter().map(str::to_owned).collect();
        set.sort_unstable();
        set.dedup();
        return Ok(Test::Set(set));
    }
    Regex::new(&format!("^(?s:{re})$"))
        .map(Test::Regex)
        .map_err(|e| IndexError::BadRegex {
            name: name.to_owned(),
            op: op.as_str(),
            regex: re.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "l", v).expect("valid matcher")
    }

    #[test]
    fn regexes_are_fully_anchored() {
        let re = m(MatchOp::RegexMatch, "ab|c.");
        assert!(re.matches("ab") && re.matches("cd"));
        assert!(!re.matches("xab") && !re.matches("abx") && !re.matches("c"));
        assert!(m(MatchOp::RegexMatch, "a.c").matches("a\nc"));
    }

    #[test]
    fn shortcuts_agree_with_the_regex_engine() {
        let values = ["", "a", "b", "ab", "a|b", "\n", ".*", "x y"];
        for re in [".*", ".+", "a|b", "a|", "", "a||b", "x y", r"a\|b"] {
            let fast = m(MatchOp::RegexMatch, re);
            let slow = Regex::new(&format!("^(?s:{re})$")).expect("valid regex");
            for v in values {
                assert_eq!(fast.matches(v), slow.is_match(v), "{re:?} on {v:?}");
                let neg = m(MatchOp::RegexNoMatch, re);
                assert_eq!(neg.matches(v), !slow.is_match(v), "!~{re:?} on {v:?}");
            }
        }
    }

    #[test]
    fn bad_regex_names_the_matcher() {
        let err = Matcher::new(MatchOp::RegexMatch, "job", "a(b").expect_err("unbalanced");
        let text = err.to_string();
        assert!(text.contains("job=~\"a(b\""), "{text}");
        assert!(!err.is_corruption());
    }

    #[test]
    fn equality_operators() {
        assert!(m(MatchOp::Equal, "").matches(""));
        assert!(!m(MatchOp::NotEqual, "").matches(""));
        assert!(m(MatchOp::NotEqual, "x").matches(""));
        assert_eq!(m(MatchOp::NotEqual, "x").to_string(), "l!=\"x\"");
    }
}
