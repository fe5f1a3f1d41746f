//! Numbers, booleans and timestamps of line protocol, parsed without allocating.
//!
//! Grammar (InfluxData's `line-protocol.ebnf`):
//!
//! ```text
//! intfield   = [ "-" ] digits "i"          uintfield = digits "u"
//! floatfield = [ "-" ] ( digits [ "." [ digits ] ] [ exp ] | "." digits [ exp ] )
//! exp        = ( "e" | "E" ) [ "+" | "-" ] digits
//! timestamp  = [ "-" ] digits
//! ```

use super::error::{Problem, quoted};
use super::{FieldValue, Precision};

/// Why an integer did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntError {
    Invalid,
    Overflow,
}

/// Exact powers of ten as `f64` (10^22 is the largest exactly representable).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A non-string field value: two words, so that it comes back in registers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    Boolean(bool),
}

impl From<Num> for FieldValue<'_> {
    #[inline(always)]
    fn from(n: Num) -> Self {
        match n {
            Num::Float(v) => FieldValue::Float(v),
            Num::Integer(v) => FieldValue::Integer(v),
            Num::Unsigned(v) => FieldValue::Unsigned(v),
            Num::Boolean(v) => FieldValue::Boolean(v),
        }
    }
}

/// Parses a non-string field value token (everything up to `,`, space or end of line).
/// The first byte is a digit, `-`, `.`, `t`, `T`, `f` or `F`, or anything else (an error).
///
/// The two commonest shapes are parsed inline: integers of up to 18 digits (which cannot
/// overflow) and plain decimals `[-]digits[.digits]` short enough for the exact fast path
/// of [`float`]. Everything else goes through [`field_value_slow`].
#[inline(always)]
pub(super) fn field_value(tok: &[u8]) -> Result<Num, Box<Problem>> {
    let (last, rest) = match tok.split_last() {
        Some((&b'i', rest)) => (b'i', rest),
        _ => (0, tok),
    };
    let (neg, digits) = match rest.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, rest),
    };
    if last == b'i' {
        if !digits.is_empty() && digits.len() <= 18 {
            let mut v: i64 = 0;
            let mut ok = true;
            for &c in digits {
                let d = c.wrapping_sub(b'0');
                ok &= d <= 9;
                // Cannot overflow when every byte is a digit; garbage is discarded below.
                v = v.wrapping_mul(10).wrapping_add(i64::from(d));
            }
            if ok {
                return Ok(Num::Integer(if neg { -v } else { v }));
            }
        }
    } else if !digits.is_empty() && digits.len() <= 16 {
        // At most 16 digits: the mantissa stays below 2^53 and the scale within 10^16.
        let mut m: u64 = 0;
        let mut scale: Option<usize> = None;
        let mut n_digits = 0;
        let mut ok = true;
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            if d <= 9 {
                m = m * 10 + u64::from(d);
                n_digits += 1;
                scale = scale.map(|s| s + 1);
            } else if c == b'.' && scale.is_none() {
                scale = Some(0);
            } else {
                ok = false;
                break;
            }
        }
        if ok && n_digits > 0 {
            let v = m as f64 / POW10[scale.unwrap_or(0)];
            return Ok(Num::Float(if neg { -v } else { v }));
        }
    }
    field_value_slow(tok)
}

#[inline(never)]
fn field_value_slow(tok: &[u8]) -> Result<Num, Box<Problem>> {
    field_value_inner(tok).map_err(Box::new)
}

#[inline(always)]
fn field_value_inner(tok: &[u8]) -> Result<Num, Problem> {
    match tok.first() {
        Some(b'0'..=b'9' | b'-' | b'.') => number(tok),
        Some(b't' | b'T' | b'f' | b'F') => boolean(tok),
        _ if is_non_finite(tok) => Err(Problem::NonFiniteNumber { value: quoted(tok) }),
        _ => Err(Problem::InvalidFieldValue { value: quoted(tok) }),
    }
}

#[inline(always)]
fn number(tok: &[u8]) -> Result<Num, Problem> {
    match tok.split_last() {
        Some((b'i', digits)) => match signed(digits) {
            Ok(v) => Ok(Num::Integer(v)),
            Err(IntError::Overflow) => Err(Problem::IntegerOutOfRange {
                value: quoted(digits),
            }),
            Err(IntError::Invalid) => Err(Problem::InvalidNumber { value: quoted(tok) }),
        },
        Some((b'u', digits)) => match unsigned(digits) {
            Ok(v) => Ok(Num::Unsigned(v)),
            Err(IntError::Overflow) => Err(Problem::UnsignedOutOfRange {
                value: quoted(digits),
            }),
            Err(IntError::Invalid) => Err(Problem::InvalidNumber { value: quoted(tok) }),
        },
        _ => float(tok).map(Num::Float),
    }
}

fn boolean(tok: &[u8]) -> Result<Num, Problem> {
    match tok {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => Ok(Num::Boolean(true)),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => Ok(Num::Boolean(false)),
        _ => Err(Problem::InvalidBoolean { value: quoted(tok) }),
    }
}

/// `nan`, `inf` or `infinity` in any case, with an optional sign.
fn is_non_finite(tok: &[u8]) -> bool {
    let t = match tok.first() {
        Some(b'-' | b'+') => &tok[1..],
        _ => tok,
    };
    t.eq_ignore_ascii_case(b"nan")
        || t.eq_ignore_ascii_case(b"inf")
        || t.eq_ignore_ascii_case(b"infinity")
}

/// Decimal digits (at least one) as a `u64`.
#[inline(always)]
fn unsigned(digits: &[u8]) -> Result<u64, IntError> {
    if digits.is_empty() {
        return Err(IntError::Invalid);
    }
    let mut v: u64 = 0;
    if digits.len() <= 19 {
        // Nineteen digits always fit 64 bits: no overflow checks.
        let mut ok = true;
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            ok &= d <= 9;
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        }
        return if ok { Ok(v) } else { Err(IntError::Invalid) };
    }
    let mut overflow = false;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(IntError::Invalid);
        }
        match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d))) {
            Some(n) => v = n,
            None => overflow = true,
        }
    }
    if overflow {
        Err(IntError::Overflow)
    } else {
        Ok(v)
    }
}

/// An optionally negative decimal integer as an `i64`.
#[inline]
pub(super) fn signed_checked(tok: &[u8]) -> Result<i64, bool> {
    signed(tok).map_err(|e| e == IntError::Overflow)
}

#[inline]
fn signed(tok: &[u8]) -> Result<i64, IntError> {
    let (neg, digits) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    let v = unsigned(digits)?;
    if neg {
        if v <= 1u64 << 63 {
            Ok((v as i64).wrapping_neg())
        } else {
            Err(IntError::Overflow)
        }
    } else {
        i64::try_from(v).map_err(|_| IntError::Overflow)
    }
}

/// A float by the grammar above. Short inputs take an exact fast path (mantissa below 2^53,
/// power of ten up to 22: one correctly rounded operation); the rest go to the standard
/// library's parser, which accepts every string this grammar accepts.
fn float(tok: &[u8]) -> Result<f64, Problem> {
    let invalid = || {
        if is_non_finite(tok) {
            Problem::NonFiniteNumber { value: quoted(tok) }
        } else {
            Problem::InvalidNumber { value: quoted(tok) }
        }
    };
    let n = tok.len();
    let mut i = 0;
    let neg = tok.first() == Some(&b'-');
    if neg {
        i = 1;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0usize; // significant digits folded into `mantissa`
    let mut exp10: i64 = 0;
    let mut exact = true;
    let mut any_digit = false;
    while i < n && tok[i].is_ascii_digit() {
        fold_digit(
            &mut mantissa,
            &mut digits,
            &mut exp10,
            &mut exact,
            tok[i],
            false,
        );
        any_digit = true;
        i += 1;
    }
    if i < n && tok[i] == b'.' {
        i += 1;
        while i < n && tok[i].is_ascii_digit() {
            fold_digit(
                &mut mantissa,
                &mut digits,
                &mut exp10,
                &mut exact,
                tok[i],
                true,
            );
            any_digit = true;
            i += 1;
        }
    }
    if !any_digit {
        return Err(invalid());
    }
    if i < n && (tok[i] == b'e' || tok[i] == b'E') {
        i += 1;
        let eneg = match tok.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i64 = 0;
        while i < n && tok[i].is_ascii_digit() {
            e = (e * 10 + i64::from(tok[i] - b'0')).min(1_000_000);
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        exp10 += if eneg { -e } else { e };
    }
    if i != n {
        return Err(invalid());
    }
    let v = if exact && mantissa < (1u64 << 53) && (-22..=22).contains(&exp10) {
        let m = mantissa as f64;
        let v = if exp10 >= 0 {
            m * POW10[exp10 as usize]
        } else {
            m / POW10[(-exp10) as usize]
        };
        if neg { -v } else { v }
    } else {
        // The grammar above is a subset of what `f64::from_str` accepts, and the token is
        // ASCII by now.
        std::str::from_utf8(tok)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(invalid)?
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Problem::FloatOutOfRange { value: quoted(tok) })
    }
}

/// Folds one digit into the fast-path mantissa; past 19 significant digits the fast path is
/// abandoned (the slow path re-reads the token).
#[inline(always)]
fn fold_digit(
    mantissa: &mut u64,
    digits: &mut usize,
    exp10: &mut i64,
    exact: &mut bool,
    c: u8,
    fraction: bool,
) {
    let d = u64::from(c - b'0');
    if *digits == 0 && d == 0 {
        // Leading zeros are not significant.
        if fraction {
            *exp10 -= 1;
        }
        return;
    }
    if *digits < 19 {
        *mantissa = *mantissa * 10 + d;
        *digits += 1;
        if fraction {
            *exp10 -= 1;
        }
    } else {
        *exact = false;
    }
}

/// Parses a timestamp token and converts it to milliseconds.
#[inline(always)]
pub(super) fn timestamp_ms(tok: &[u8], precision: Precision) -> Result<i64, Box<Problem>> {
    // Up to 19 digits fit a `u64` unchecked; one sign check then makes it an `i64`.
    let (neg, digits) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    if !digits.is_empty() && digits.len() <= 19 {
        let mut v: u64 = 0;
        let mut ok = true;
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            ok &= d <= 9;
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        }
        if ok && v <= i64::MAX as u64 {
            let raw = if neg { -(v as i64) } else { v as i64 };
            if let Some(ms) = precision.to_millis(raw) {
                return Ok(ms);
            }
        }
    }
    timestamp_ms_slow(tok, precision)
}

#[inline(never)]
fn timestamp_ms_slow(tok: &[u8], precision: Precision) -> Result<i64, Box<Problem>> {
    let raw = signed_checked(tok).map_err(|overflow| {
        Box::new(if overflow {
            Problem::TimestampOutOfRange {
                value: quoted(tok),
                precision: precision.as_str(),
            }
        } else {
            Problem::BadTimestamp { value: quoted(tok) }
        })
    })?;
    precision
        .to_millis(raw)
        .ok_or_else(|| Problem::TimestampOutOfRange {
            value: quoted(tok),
            precision: precision.as_str(),
        })
        .map_err(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Result<f64, Problem> {
        float(s.as_bytes())
    }

    #[test]
    fn fast_path_agrees_with_std() {
        for s in [
            "0",
            "1",
            "-1",
            "1.5",
            "-0.0",
            "0.1",
            "3.14159",
            "1e5",
            "1E-5",
            "1.e3",
            ".5",
            "-.5e+2",
            "123456789012345678",
            "1234567890123456789012",
            "0.000000000000000000000000001",
            "9007199254740993",
            "1e22",
            "1e23",
            "4.9e-324",
            "1.7976931348623157e308",
            "00012.5000",
            "2.2250738585072014e-308",
        ] {
            let std: f64 = s.parse().unwrap();
            assert_eq!(f(s).unwrap().to_bits(), std.to_bits(), "{s}");
        }
    }

    #[test]
    fn rejects_what_the_grammar_rejects() {
        for s in [
            "", "-", ".", "-.", "1.2.3", "1e", "1e+", "e5", "1x", "+1", "1_000", "0x10", "1..2",
            "--1",
        ] {
            assert!(f(s).is_err(), "{s:?}");
        }
        assert!(matches!(f("1e400"), Err(Problem::FloatOutOfRange { .. })));
        assert_eq!(f("1e-400").unwrap(), 0.0);
        assert!(matches!(f("-inf"), Err(Problem::NonFiniteNumber { .. })));
        assert!(matches!(
            field_value_inner(b"NaN"),
            Err(Problem::NonFiniteNumber { .. })
        ));
        assert!(matches!(
            field_value_inner(b"+Inf"),
            Err(Problem::NonFiniteNumber { .. })
        ));
        assert!(matches!(
            field_value_inner(b"Infinity"),
            Err(Problem::NonFiniteNumber { .. })
        ));
    }

    #[test]
    fn inline_paths_agree_with_the_general_parser() {
        let mut x: u64 = 0x243f_6a88_85a3_08d3;
        let alphabet = b"0123456789.-i";
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 20) as usize;
            let tok: Vec<u8> = (0..len)
                .map(|k| alphabet[((x >> (3 * k % 60)) % 13) as usize])
                .collect();
            let fast = field_value(&tok);
            let slow = field_value_inner(&tok).map_err(Box::new);
            match (&fast, &slow) {
                (Ok(Num::Float(a)), Ok(Num::Float(b))) => {
                    assert_eq!(a.to_bits(), b.to_bits(), "{tok:?}")
                }
                _ => assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(&tok)),
            }
        }
    }

    #[test]
    fn inline_timestamps_agree_with_the_checked_parser() {
        let mut x: u64 = 0x1319_8a2e_0370_7344;
        let alphabet = b"0123456789-9";
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 21) as usize;
            let tok: Vec<u8> = (0..len)
                .map(|k| alphabet[((x >> (3 * k % 60)) % 12) as usize])
                .collect();
            for p in [Precision::Nanoseconds, Precision::Seconds, Precision::Hours] {
                assert_eq!(
                    timestamp_ms(&tok, p),
                    timestamp_ms_slow(&tok, p),
                    "{:?}",
                    String::from_utf8_lossy(&tok)
                );
            }
        }
        for t in [
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "-0",
        ] {
            for p in [
                Precision::Nanoseconds,
                Precision::Milliseconds,
                Precision::Seconds,
            ] {
                assert_eq!(
                    timestamp_ms(t.as_bytes(), p),
                    timestamp_ms_slow(t.as_bytes(), p),
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn integer_bounds() {
        assert_eq!(signed(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(signed(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(signed(b"9223372036854775808"), Err(IntError::Overflow));
        assert_eq!(signed(b"-9223372036854775809"), Err(IntError::Overflow));
        assert_eq!(unsigned(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(unsigned(b"18446744073709551616"), Err(IntError::Overflow));
        assert_eq!(signed(b"-"), Err(IntError::Invalid));
        assert_eq!(signed(b""), Err(IntError::Invalid));
        assert_eq!(signed(b"1-"), Err(IntError::Invalid));
        assert_eq!(signed(b"-0"), Ok(0));
    }
}
