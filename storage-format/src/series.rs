//! Series keys and [`SeriesId`]: the identity of a series, everywhere in Floe.
//!
//! A series is a metric name plus a label set (the Prometheus model). Its **canonical key** is
//! the byte string `varint(len(name)) name` followed, for each label sorted by label name, by
//! `varint(len(label)) label varint(len(value)) value`. Length prefixes make it unambiguous
//! whatever bytes names and values contain. Labels with an empty value are dropped (Prometheus
//! treats them as absent), so `{a=""}` and `{}` are the same series.
//!
//! `SeriesId` is the 128-bit XXH3 (seed 0) of the canonical key; its upper 64 bits are the
//! series' position on the ring.

use std::fmt;

use xxhash_rust::xxh3::xxh3_128;

use crate::codec::{Reader, put_varint};
use crate::error::{FormatError, Result};

/// Longest metric name, label name or label value accepted, in bytes.
pub const MAX_NAME_LEN: usize = 4096;
/// Most labels on one series (besides the metric name).
pub const MAX_LABELS: usize = 128;
/// Longest canonical key, in bytes.
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// The 128-bit identity of a series: XXH3-128 of its canonical key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SeriesId(pub u128);

impl SeriesId {
    /// The series' position on the ring: the upper 64 bits.
    pub fn ring_position(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// Little-endian bytes, as stored in every format.
    pub fn to_le_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }
}

impl fmt::Debug for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeriesId({:032x})", self.0)
    }
}

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A validated series: metric name and labels sorted by name, without empty values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    name: String,
    labels: Vec<(String, String)>,
}

impl SeriesKey {
    /// Builds a key from a metric name and labels in any order.
    ///
    /// Fails on an empty metric or label name, a duplicated label name, or sizes beyond
    /// [`MAX_NAME_LEN`], [`MAX_LABELS`] and [`MAX_KEY_LEN`].
    pub fn new<N, L, V>(name: N, labels: impl IntoIterator<Item = (L, V)>) -> Result<Self>
    where
        N: Into<String>,
        L: Into<String>,
        V: Into<String>,
    {
        let name = name.into();
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .map(|(l, v)| (l.into(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        labels.sort_unstable();
        let key = SeriesKey { name, labels };
        key.validate()?;
        Ok(key)
    }

    fn validate(&self) -> Result<()> {
        let bad = |reason: String| FormatError::BadInput {
            what: "series key",
            reason,
        };
        if self.name.is_empty() {
            return Err(bad("empty metric name".into()));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(bad(format!(
                "{} labels, at most {MAX_LABELS}",
                self.labels.len()
            )));
        }
        let too_long = |s: &str| s.len() > MAX_NAME_LEN;
        if too_long(&self.name) {
            return Err(bad(format!("metric name longer than {MAX_NAME_LEN} bytes")));
        }
        for (i, (l, v)) in self.labels.iter().enumerate() {
            if l.is_empty() {
                return Err(bad("empty label name".into()));
            }
            if too_long(l) || too_long(v) {
                return Err(bad(format!(
                    "label {l:.64}: longer than {MAX_NAME_LEN} bytes"
                )));
            }
            if i > 0 && self.labels[i - 1].0 == *l {
                return Err(bad(format!("duplicate label name {l:?}")));
            }
        }
        if self.encoded_len() > MAX_KEY_LEN {
            return Err(bad(format!(
                "canonical key longer than {MAX_KEY_LEN} bytes"
            )));
        }
        Ok(())
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, sorted by name, none with an empty value.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(l, _)| l.as_str().cmp(name))
            .ok()
            .map(|i| self.labels[i].1.as_str())
    }

    fn encoded_len(&self) -> usize {
        let s = |x: &str| x.len() + 3;
        s(&self.name) + self.labels.iter().map(|(l, v)| s(l) + s(v)).sum::<usize>()
    }

    /// Appends the canonical key bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let put = |out: &mut Vec<u8>, s: &str| {
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        };
        put(out, &self.name);
        for (l, v) in &self.labels {
            put(out, l);
            put(out, v);
        }
    }

    /// The canonical key bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// The series' identity.
    pub fn id(&self) -> SeriesId {
        SeriesId(xxh3_128(&self.canonical_bytes()))
    }

    /// Decodes canonical key bytes, checking that they are canonical (sorted, no duplicates,
    /// no empty values, valid UTF-8, within limits).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_KEY_LEN {
            return Err(FormatError::TooLarge {
                what: "series key length",
                len: bytes.len() as u64,
                max: MAX_KEY_LEN as u64,
            });
        }
        let mut r = Reader::new("series key", bytes);
        let name = read_str(&mut r)?;
        let mut labels = Vec::new();
        while !r.is_empty() {
            let at = r.pos();
            let l = read_str(&mut r)?;
            let v = read_str(&mut r)?;
            if v.is_empty() {
                return Err(FormatError::invalid("series key", at, "empty label value"));
            }
            if labels
                .last()
                .is_some_and(|(p, _): &(String, String)| *p >= l)
            {
                return Err(FormatError::invalid("series key", at, "labels not sorted"));
            }
            labels.push((l, v));
        }
        let key = SeriesKey { name, labels };
        key.validate()
            .map_err(|e| FormatError::invalid("series key", 0, e.to_string()))?;
        Ok(key)
    }
}

fn read_str(r: &mut Reader<'_>) -> Result<String> {
    let at = r.pos();
    let len = r.varint_max("series key string length", MAX_NAME_LEN as u64)? as usize;
    let b = r.bytes(len)?;
    String::from_utf8(b.to_vec()).map_err(|_| FormatError::invalid("series key", at, "not UTF-8"))
}

impl fmt::Display for SeriesKey {
    /// Prometheus text form: `name{a="x",b="y"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (l, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{l}={v:?}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_order_and_empty_values_do_not_change_identity() {
        let a = SeriesKey::new("cpu", [("b", "2"), ("a", "1")]).expect("valid");
        let b = SeriesKey::new("cpu", [("a", "1"), ("z", ""), ("b", "2")]).expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        assert_eq!(a.to_string(), r#"cpu{a="1",b="2"}"#);
        assert_eq!(a.label("b"), Some("2"));
    }

    #[test]
    fn separators_are_unambiguous() {
        let a = SeriesKey::new("m", [("a", "b,c=d")]).expect("valid");
        let b = SeriesKey::new("m", [("a", "b"), ("c", "d")]).expect("valid");
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn pinned_series_id_vector() {
        // Changing this breaks the placement of every stored series: never update it.
        let k = SeriesKey::new("cpu_usage_user", [("hostname", "host_0")]).expect("valid");
        assert_eq!(
            k.canonical_bytes(),
            b"\x0ecpu_usage_user\x08hostname\x06host_0".to_vec()
        );
        assert_eq!(
            k.id(),
            SeriesId(xxh3_128(b"\x0ecpu_usage_user\x08hostname\x06host_0"))
        );
        assert_eq!(format!("{}", k.id()), PINNED_ID);
    }
    const PINNED_ID: &str = "98ae018b703e465dd41b85cb6d097a4f";

    #[test]
    fn rejects_bad_keys() {
        assert!(SeriesKey::new("", [("a", "1")]).is_err());
        assert!(SeriesKey::new("m", [("", "1")]).is_err());
        assert!(SeriesKey::new("m", [("a", "1"), ("a", "2")]).is_err());
        assert!(SeriesKey::new("m".repeat(MAX_NAME_LEN + 1), Vec::<(&str, &str)>::new()).is_err());
    }

    #[test]
    fn decode_round_trips_and_rejects_non_canonical() {
        let k = SeriesKey::new("m", [("b", "2"), ("a", "1")]).expect("valid");
        assert_eq!(
            SeriesKey::decode(&k.canonical_bytes()).expect("canonical"),
            k
        );
        let unsorted = b"\x01m\x01b\x012\x01a\x011";
        assert!(SeriesKey::decode(unsorted).is_err());
        // A cut at a label boundary is a valid shorter key (the container carries the
        // length); any other cut is an error. Never the original key.
        for cut in 0..k.canonical_bytes().len() {
            let bytes = &k.canonical_bytes()[..cut];
            assert!(SeriesKey::decode(bytes).map_or(true, |d| d != k));
        }
    }
}
