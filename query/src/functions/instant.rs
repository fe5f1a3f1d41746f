//! Instant-vector math kernels (`abs`, `round`, `clamp`, trigonometry, …) with Go's
//! semantics where they differ from Rust's (`math.Max`/`math.Min` propagate NaN, `Log2` and
//! `Log10` are computed from `Log` as Go computes them).

use std::f64::consts::{LOG2_E, LOG10_E, PI};

use super::InstantFn;

/// The math kernel named `name`, if any.
pub(super) fn lookup(name: &str) -> Option<InstantFn> {
    let f: InstantFn = match name {
        "abs" => |v, _| Some(v.abs()),
        "ceil" => |v, _| Some(v.ceil()),
        "floor" => |v, _| Some(v.floor()),
        "exp" => |v, _| Some(v.exp()),
        "sqrt" => |v, _| Some(v.sqrt()),
        "ln" => |v, _| Some(v.ln()),
        "log2" => |v, _| Some(go_log2(v)),
        "log10" => |v, _| Some(go_log10(v)),
        "sgn" => |v, _| Some(sgn(v)),
        "round" => round,
        "clamp" => clamp,
        "clamp_min" => |v, args| Some(go_max(*args.first()?, v)),
        "clamp_max" => |v, args| Some(go_min(*args.first()?, v)),
        "sin" => |v, _| Some(v.sin()),
        "cos" => |v, _| Some(v.cos()),
        "tan" => |v, _| Some(v.tan()),
        "asin" => |v, _| Some(v.asin()),
        "acos" => |v, _| Some(v.acos()),
        "atan" => |v, _| Some(v.atan()),
        "sinh" => |v, _| Some(v.sinh()),
        "cosh" => |v, _| Some(v.cosh()),
        "tanh" => |v, _| Some(v.tanh()),
        "asinh" => |v, _| Some(v.asinh()),
        "acosh" => |v, _| Some(v.acosh()),
        "atanh" => |v, _| Some(v.atanh()),
        "rad" => |v, _| Some(v * PI / 180.0),
        "deg" => |v, _| Some(v * 180.0 / PI),
        _ => return None,
    };
    Some(f)
}

/// `sgn(v)`: −1, 1, or the value itself for zeros and NaN.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// `round(v, to_nearest = 1)`: rounds to a multiple of `to_nearest`, ties upwards.
fn round(v: f64, args: &[f64]) -> Option<f64> {
    let to_nearest = args.first().copied().unwrap_or(1.0);
    // Prometheus multiplies by the inverse; it says this loses less precision.
    let inverse = 1.0 / to_nearest;
    Some((v * inverse + 0.5).floor() / inverse)
}

/// `clamp(v, min, max)`: `None` (no output at all) when `max < min`, as Prometheus.
fn clamp(v: f64, args: &[f64]) -> Option<f64> {
    let (min, max) = (*args.first()?, *args.get(1)?);
    if max < min {
        return None;
    }
    Some(go_max(min, go_min(max, v)))
}

/// Go's `math.Max`: +Inf wins, then NaN wins, +0 beats −0.
pub(super) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

/// Go's `math.Min`: −Inf wins, then NaN wins, −0 beats +0.
pub(super) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

/// Go's `math.Log10`: `Log(x) * (1/Ln10)`, the constant rounded once (it is `LOG10_E`), so
/// e.g. `log10(0.1)` is −0.9999999999999999.
fn go_log10(x: f64) -> f64 {
    x.ln() * LOG10_E
}

/// Go's `math.Log2`: exact for powers of two, else `Log(frac) * (1/Ln2) + exp`.
fn go_log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * LOG2_E + f64::from(exp)
}

/// Go's `math.Frexp`: `x = frac × 2^exp` with `|frac|` in `[0.5, 1)`; zeros, infinities and
/// NaN come back unchanged with exponent 0.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (mut x, mut exp) = (x, 0_i32);
    if x.abs() < f64::MIN_POSITIVE {
        x *= (1_u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    // The biased exponent is 11 bits, so it fits an i32.
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let bits = (bits & !(0x7ff_u64 << 52)) | (1022_u64 << 52);
    (f64::from_bits(bits), exp)
}
