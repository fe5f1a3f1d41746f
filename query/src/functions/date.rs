//! Date kernels (`year`, `month`, `day_of_week`, …) over unix seconds, in UTC.
//!
//! Prometheus converts the value with Go's `int64(v)` and reads the calendar fields from
//! Go 1.19's `time` package. Both are reproduced here, including what happens to values that
//! are not times at all: on amd64 `int64(v)` of NaN, ±Inf or anything beyond ±2^63 is
//! `i64::MIN`, and the `time` package's wrapping arithmetic then lands on some date far in
//! the future, which is what Prometheus reports.

use super::InstantFn;

const SECONDS_PER_MINUTE: u64 = 60;
const SECONDS_PER_HOUR: u64 = 60 * SECONDS_PER_MINUTE;
const SECONDS_PER_DAY: u64 = 24 * SECONDS_PER_HOUR;
const SECONDS_PER_WEEK: u64 = 7 * SECONDS_PER_DAY;
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;
/// Go's `absoluteZeroYear`: year 0 of the unsigned "absolute" seconds count.
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
/// Go's `unixToInternal + internalToAbsolute`: unix seconds to absolute seconds.
const UNIX_TO_ABSOLUTE: i64 = 9_223_372_028_715_321_600;
/// Days before the start of each month in a non-leap year (Go's `daysBefore`).
const DAYS_BEFORE: [u64; 13] = [
    0,
    31,
    31 + 28,
    31 + 28 + 31,
    31 + 28 + 31 + 30,
    31 + 28 + 31 + 30 + 31,
    31 + 28 + 31 + 30 + 31 + 30,
    31 + 28 + 31 + 30 + 31 + 30 + 31,
    31 + 28 + 31 + 30 + 31 + 30 + 31 + 31,
    31 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30,
    31 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30 + 31,
    31 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30 + 31 + 30,
    31 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30 + 31 + 30 + 31,
];

/// The date kernel named `name`, if any.
pub(super) fn lookup(name: &str) -> Option<InstantFn> {
    let f: InstantFn = match name {
        "year" => |v, _| Some(date(abs(v)).year as f64),
        "month" => |v, _| Some(f64::from(date(abs(v)).month)),
        "day_of_month" => |v, _| Some(f64::from(date(abs(v)).day)),
        "day_of_year" => |v, _| Some(f64::from(date(abs(v)).yday + 1)),
        "day_of_week" => |v, _| Some(weekday(abs(v)) as f64),
        "hour" => |v, _| Some(((abs(v) % SECONDS_PER_DAY) / SECONDS_PER_HOUR) as f64),
        "minute" => |v, _| Some(((abs(v) % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE) as f64),
        "days_in_month" => |v, _| {
            let d = date(abs(v));
            Some(f64::from(days_in_month(d.year, d.month)))
        },
        _ => return None,
    };
    Some(f)
}

/// Go's `int64(v)` on amd64: truncation, and `i64::MIN` for NaN and out-of-range values.
fn go_f64_to_i64(v: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
        i64::MIN
    } else {
        // In range and truncated toward zero, exactly as the hardware conversion.
        v as i64
    }
}

/// Go's `time.Unix(int64(v), 0).UTC().abs()`: seconds since the absolute epoch, wrapping.
fn abs(v: f64) -> u64 {
    go_f64_to_i64(v).wrapping_add(UNIX_TO_ABSOLUTE) as u64
}

/// Go's `absWeekday`: 0 = Sunday.
fn weekday(abs: u64) -> u64 {
    // The absolute epoch is a Monday.
    let sec = abs.wrapping_add(SECONDS_PER_DAY) % SECONDS_PER_WEEK;
    sec / SECONDS_PER_DAY
}

/// Calendar fields of one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    year: i64,
    /// 1 = January.
    month: u32,
    /// Day of the month, from 1.
    day: u32,
    /// Day of the year, from 0.
    yday: u32,
}

/// Go 1.19's `absDate`: the proleptic Gregorian date of absolute seconds `abs`.
fn date(abs: u64) -> Date {
    let mut d = abs / SECONDS_PER_DAY;

    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;

    // The last 100-year cycle of 400 has one day more; `n >> 2` folds that day back.
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;

    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;

    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;

    // `y` is below 2^64 / (365 × 86400) and `d` below 366, so neither cast loses anything.
    let year = y as i64 + ABSOLUTE_ZERO_YEAR;
    let yday = d as u32;
    let (month, day) = month_and_day(year, yday);
    Date {
        year,
        month,
        day,
        yday,
    }
}

/// Month (1-based) and day of month (1-based) of day `yday` (0-based) of `year`.
fn month_and_day(year: i64, yday: u32) -> (u32, u32) {
    let mut day = u64::from(yday);
    if is_leap(year) {
        if day > 31 + 29 - 1 {
            day -= 1;
        } else if day == 31 + 29 - 1 {
            return (2, 29);
        }
    }
    let mut month = (day / 31) as usize;
    let end = DAYS_BEFORE[month + 1];
    let begin = if day >= end {
        month += 1;
        end
    } else {
        DAYS_BEFORE[month]
    };
    // `month` is at most 11 and `day - begin` below 31.
    (month as u32 + 1, (day - begin) as u32 + 1)
}

/// Gregorian leap year rule (Go's `isLeap`; `%` truncates as Go's does).
fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1-based) of `year`: what Go's `32 - Date(y, m, 32).Day()` computes.
fn days_in_month(year: i64, month: u32) -> u32 {
    if month == 2 && is_leap(year) {
        return 29;
    }
    let m = month.clamp(1, 12) as usize;
    // Month lengths are below 32.
    (DAYS_BEFORE[m] - DAYS_BEFORE[m - 1]) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constant is Go's, re-derived from its definition.
    #[test]
    fn unix_to_absolute_matches_go_definition() {
        let unix_to_internal: i64 = (1969 * 365 + 1969 / 4 - 1969 / 100 + 1969 / 400) * 86_400;
        // absoluteToInternal = (absoluteZeroYear - 1) * 365.2425 * 86400, exactly (the
        // year count is a multiple of 400, so this is a whole number of days).
        let absolute_to_internal: i128 =
            (i128::from(ABSOLUTE_ZERO_YEAR) - 1) * 3_652_425 * 86_400 / 10_000;
        assert_eq!(
            i128::from(UNIX_TO_ABSOLUTE),
            i128::from(unix_to_internal) - absolute_to_internal
        );
    }

    #[test]
    fn unix_epoch_is_thursday_first_of_january_1970() {
        let a = abs(0.0);
        assert_eq!(
            date(a),
            Date {
                year: 1970,
                month: 1,
                day: 1,
                yday: 0
            }
        );
        assert_eq!(weekday(a), 4);
    }

    #[test]
    fn go_conversion_of_non_times() {
        assert_eq!(go_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(go_f64_to_i64(f64::INFINITY), i64::MIN);
        assert_eq!(go_f64_to_i64(-1e300), i64::MIN);
        assert_eq!(go_f64_to_i64(-1.9), -1);
        assert_eq!(go_f64_to_i64(1.9), 1);
    }
}
