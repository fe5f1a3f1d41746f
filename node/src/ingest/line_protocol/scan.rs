//! The point scanner: one pass over the body, byte classes from a table, tokens borrowed
//! from the body unless they hold escapes.

use std::borrow::Cow;

use super::error::{Problem, quoted};
use super::number;
use super::{FieldValue, Line, LineLimits, Precision};

// Byte classes.
pub(super) const COMMA: u8 = 1;
pub(super) const SPACE: u8 = 2;
pub(super) const EQUALS: u8 = 4;
pub(super) const BACKSLASH: u8 = 8;
pub(super) const CONTROL: u8 = 16;

pub(super) static CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b',' => COMMA,
            b' ' => SPACE,
            b'=' => EQUALS,
            b'\\' => BACKSLASH,
            0..=0x1f | 0x7f => CONTROL,
            _ => 0,
        };
        i += 1;
    }
    t
}

/// Where a measurement ends, and what a backslash escapes in it.
const MEASUREMENT_STOP: u8 = COMMA | SPACE | CONTROL;
const MEASUREMENT_ESCAPES: u8 = COMMA | SPACE;
/// Where tag keys, tag values and field keys end, and what a backslash escapes in them.
const KEY_STOP: u8 = COMMA | SPACE | EQUALS | CONTROL;
const KEY_ESCAPES: u8 = COMMA | SPACE | EQUALS;
/// Where an unquoted field value or a timestamp ends.
const VALUE_STOP: u8 = COMMA | SPACE | CONTROL;

/// A problem and the byte offset (in the body) where it was found.
#[derive(Debug)]
pub(super) struct Fail {
    pub(super) at: usize,
    /// Boxed, so that results on the hot path stay two words wide.
    pub(super) problem: Box<Problem>,
}

impl Fail {
    #[cold]
    #[inline(never)]
    fn new(at: usize, problem: Problem) -> Fail {
        Fail {
            at,
            problem: Box::new(problem),
        }
    }
}

#[cold]
#[inline(never)]
fn fail<T>(at: usize, problem: Problem) -> Result<T, Fail> {
    Err(Fail::new(at, problem))
}

/// Scans an escaped token from `i` to the first unescaped byte of a class in `stop`.
/// Returns the end and whether the token holds escape sequences to remove.
///
/// A backslash escapes the next byte when that byte is in `escapes` or is a backslash;
/// otherwise it is an ordinary character (InfluxDB's rule: `\\` is one backslash, `\x` is
/// two characters).
#[inline(always)]
fn scan_token(b: &[u8], mut i: usize, stop: u8, escapes: u8) -> (usize, bool) {
    let mut escaped = false;
    loop {
        i = next_special(b, i, stop | BACKSLASH);
        match b.get(i) {
            Some(b'\\') => match b.get(i + 1) {
                Some(&n) if n == b'\\' || CLASS[n as usize] & escapes != 0 => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            },
            _ => return (i, escaped),
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` equal to `c`. Bits above the lowest set one may be
/// false positives (borrows), the lowest one is exact.
#[inline(always)]
fn eq_bytes(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The first offset from `i` whose byte has a class in `classes` (which always includes
/// `CONTROL`), or the end of `b`. Eight bytes at a time while eight remain.
#[inline(always)]
pub(super) fn next_special(b: &[u8], mut i: usize, classes: u8) -> usize {
    while let Some(chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*chunk);
        // Control characters: bytes below 0x20 (exact in the lowest bit, as above), and DEL.
        let mut m = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        m |= eq_bytes(w, 0x7f);
        if classes & COMMA != 0 {
            m |= eq_bytes(w, b',');
        }
        if classes & SPACE != 0 {
            m |= eq_bytes(w, b' ');
        }
        if classes & EQUALS != 0 {
            m |= eq_bytes(w, b'=');
        }
        if classes & BACKSLASH != 0 {
            m |= eq_bytes(w, b'\\');
        }
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if CLASS[c as usize] & classes != 0 {
            break;
        }
        i += 1;
    }
    i
}

/// The first offset from `i` holding `"`, `\\` or a newline, or the end of `b`.
#[inline(always)]
pub(super) fn next_in_string(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*chunk);
        let m = eq_bytes(w, b'"') | eq_bytes(w, b'\\') | eq_bytes(w, b'\n');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b
        .get(i)
        .is_some_and(|&c| !matches!(c, b'"' | b'\\' | b'\n'))
    {
        i += 1;
    }
    i
}

/// `raw` without its escape sequences (see [`scan_token`]).
fn unescape(raw: &[u8], escapes: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        if c == b'\\'
            && let Some(&n) = raw.get(i + 1)
            && (n == b'\\' || CLASS[n as usize] & escapes != 0)
        {
            out.push(n);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// True at the end of a line: end of input, `\n`, or `\r` before `\n` or the end of input.
#[inline(always)]
pub(super) fn at_eol(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        None | Some(b'\n') => true,
        Some(b'\r') => matches!(b.get(i + 1), None | Some(b'\n')),
        Some(_) => false,
    }
}

/// The scanner over one request body.
pub(super) struct Scanner<'a, 's> {
    /// The body.
    pub(super) body: &'a [u8],
    /// The longest valid UTF-8 prefix of the body: tokens inside it become `&str` for free.
    pub(super) text: &'a str,
    pub(super) limits: &'s LineLimits,
    pub(super) precision: Precision,
    /// Reusable buffers for duplicate detection.
    pub(super) scratch: &'s mut Scratch,
    /// String fields in the current line (after [`Self::dedup_fields`]).
    pub(super) strings: usize,
}

/// Buffers kept across lines and requests (plain numbers: no borrow of any body).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// [`key_hash`]es of the current line's tag keys and field keys, in order.
    tag_hashes: Vec<u64>,
    field_hashes: Vec<u64>,
    /// A tag-hash and a field-hash sequence already seen to be pairwise distinct. A line whose
    /// sequence equals one of them has no duplicate keys, which spares the pairwise check on
    /// the common stream of lines shaped alike.
    distinct_tag_hashes: Vec<u64>,
    distinct_field_hashes: Vec<u64>,
    /// A permutation for sorting long key lists.
    order: Vec<u32>,
}

impl<'a> Scanner<'a, '_> {
    /// `body[a..e]` as `&str` when it needs no unescaping and lies in the validated prefix.
    #[inline(always)]
    fn fast_text(&self, a: usize, e: usize, escaped: bool) -> Option<&'a str> {
        if escaped { None } else { self.text.get(a..e) }
    }

    /// `body[a..e]` as text, unescaped when `escaped`.
    #[inline(always)]
    fn text(&self, a: usize, e: usize, escaped: bool, escapes: u8) -> Result<Cow<'a, str>, Fail> {
        if !escaped && let Some(s) = self.text.get(a..e) {
            return Ok(Cow::Borrowed(s));
        }
        self.text_slow(a, e, escaped, escapes)
    }

    /// [`Self::text`] for tokens with escapes or outside the validated prefix.
    #[inline(never)]
    fn text_slow(
        &self,
        a: usize,
        e: usize,
        escaped: bool,
        escapes: u8,
    ) -> Result<Cow<'a, str>, Fail> {
        let s = self.str_at(a, e)?; // validate the raw bytes first, so errors point into the body
        if !escaped {
            return Ok(Cow::Borrowed(s));
        }
        String::from_utf8(unescape(s.as_bytes(), escapes))
            .map(Cow::Owned)
            .map_err(|_| Fail::new(a, Problem::InvalidUtf8))
    }

    /// `body[a..e]` as `&str`: a slice of the validated prefix, or checked on its own.
    #[inline(always)]
    fn str_at(&self, a: usize, e: usize) -> Result<&'a str, Fail> {
        if let Some(s) = self.text.get(a..e) {
            return Ok(s);
        }
        let raw = self.body.get(a..e).unwrap_or_default();
        std::str::from_utf8(raw)
            .map_err(|err| Fail::new(a + err.valid_up_to(), Problem::InvalidUtf8))
    }

    /// What ended a key or value at `i` when it is not the expected delimiter: a control
    /// character is reported as such, anything else as `otherwise`.
    fn stray(&self, i: usize, otherwise: Problem) -> Fail {
        match self.body.get(i) {
            Some(&c) if CLASS[c as usize] & CONTROL != 0 && !at_eol(self.body, i) => {
                Fail::new(i, Problem::ControlCharacter { byte: c })
            }
            _ => Fail::new(i, otherwise),
        }
    }

    /// Parses the point starting at `start` (not blank, not a comment) into `line`.
    /// Returns the offset of its end of line (the `\n`, the `\r` of `\r\n`, or the body's end)
    /// and the number of newlines inside string values.
    pub(super) fn point(
        &mut self,
        start: usize,
        line: &mut Line<'a>,
    ) -> Result<(usize, usize), Fail> {
        let b = self.body;
        self.scratch.tag_hashes.clear();
        self.scratch.field_hashes.clear();
        self.strings = 0;
        // Measurement.
        let (m_end, m_esc) = scan_token(b, start, MEASUREMENT_STOP, MEASUREMENT_ESCAPES);
        if m_end == start {
            return Err(self.stray(start, Problem::MissingMeasurement));
        }
        line.measurement = self.text(start, m_end, m_esc, MEASUREMENT_ESCAPES)?;
        let mut i = m_end;
        if b.get(i) == Some(&b',') {
            i = self.tags(i + 1, line)?;
        }
        if b.get(i) != Some(&b' ') {
            return Err(self.stray(i, Problem::MissingFields));
        }
        line.series = b.get(start..i).unwrap_or_default();
        if i - start > self.limits.max_key_bytes {
            return fail(
                start,
                Problem::KeyTooLong {
                    len: i - start,
                    max: self.limits.max_key_bytes,
                },
            );
        }
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if at_eol(b, i) {
            return fail(i, Problem::MissingFields);
        }
        let (i, newlines) = self.fields(i, line)?;
        let end = self.timestamp(i, line)?;
        Ok((end, newlines))
    }

    /// Parses `key=value[,key=value...]` from `i` (just after the comma following the
    /// measurement); returns the offset of the space that ends the tag set.
    fn tags(&mut self, mut i: usize, line: &mut Line<'a>) -> Result<usize, Fail> {
        let b = self.body;
        loop {
            let (k_end, k_esc) = scan_token(b, i, KEY_STOP, KEY_ESCAPES);
            if k_end == i {
                return Err(self.stray(i, Problem::MissingTagKey));
            }
            if b.get(k_end) != Some(&b'=') {
                return Err(self.stray(k_end, Problem::MissingTagValue));
            }
            let v_start = k_end + 1;
            let (v_end, v_esc) = scan_token(b, v_start, KEY_STOP, KEY_ESCAPES);
            if v_end == v_start {
                let problem = if b.get(v_start) == Some(&b'=') {
                    Problem::InvalidTagFormat
                } else {
                    Problem::MissingTagValue
                };
                return Err(self.stray(v_start, problem));
            }
            if line.tags.len() == self.limits.max_tags {
                return fail(
                    i,
                    Problem::TooManyTags {
                        max: self.limits.max_tags,
                    },
                );
            }
            // Pushing from registers on the common path (no escapes) keeps the compiler from
            // copying the pair through the stack, which stalls store forwarding.
            match (
                self.fast_text(i, k_end, k_esc),
                self.fast_text(v_start, v_end, v_esc),
            ) {
                (Some(k), Some(v)) => {
                    push_with(&mut line.tags, || (Cow::Borrowed(k), Cow::Borrowed(v)));
                    self.scratch.tag_hashes.push(hash_at(b, i, k_end));
                }
                _ => {
                    let key = self.text(i, k_end, k_esc, KEY_ESCAPES)?;
                    let value = self.text(v_start, v_end, v_esc, KEY_ESCAPES)?;
                    self.scratch.tag_hashes.push(key_hash(key.as_bytes()));
                    line.tags.push((key, value));
                }
            }
            match b.get(v_end) {
                Some(b',') => i = v_end + 1,
                Some(b' ') => {
                    self.check_duplicate_tags(line, v_end)?;
                    return Ok(v_end);
                }
                Some(b'=') => return fail(v_end, Problem::InvalidTagFormat),
                _ => return Err(self.stray(v_end, Problem::MissingFields)),
            }
        }
    }

    /// Parses the field set from `i`; returns the offset after it (a space or the end of
    /// line) and the newlines seen inside string values.
    fn fields(&mut self, mut i: usize, line: &mut Line<'a>) -> Result<(usize, usize), Fail> {
        let b = self.body;
        let mut newlines = 0;
        loop {
            let (k_end, k_esc) = scan_token(b, i, KEY_STOP, KEY_ESCAPES);
            if k_end == i {
                return Err(self.stray(i, Problem::MissingFieldKey));
            }
            if b.get(k_end) != Some(&b'=') {
                return Err(self.stray(k_end, Problem::InvalidFieldFormat));
            }
            if line.fields.len() == self.limits.max_fields {
                return fail(
                    i,
                    Problem::TooManyFields {
                        max: self.limits.max_fields,
                    },
                );
            }
            let v_start = k_end + 1;
            let v_end = match b.get(v_start) {
                Some(b'"') => {
                    let key = self.text(i, k_end, k_esc, KEY_ESCAPES)?;
                    let (value, end, nl) = self.string(v_start)?;
                    newlines += nl;
                    self.strings += 1;
                    self.scratch.field_hashes.push(key_hash(key.as_bytes()));
                    line.fields.push((key, value));
                    end
                }
                Some(&c) if CLASS[c as usize] & VALUE_STOP == 0 => {
                    let e = next_special(b, v_start + 1, VALUE_STOP);
                    let tok = b.get(v_start..e).unwrap_or_default();
                    let num = number::field_value(tok).map_err(|problem| Fail {
                        at: v_start,
                        problem,
                    })?;
                    match self.fast_text(i, k_end, k_esc) {
                        Some(k) => {
                            push_with(&mut line.fields, || (Cow::Borrowed(k), num.into()));
                            self.scratch.field_hashes.push(hash_at(b, i, k_end));
                        }
                        None => {
                            let key = self.text(i, k_end, k_esc, KEY_ESCAPES)?;
                            self.scratch.field_hashes.push(key_hash(key.as_bytes()));
                            line.fields.push((key, num.into()));
                        }
                    }
                    e
                }
                _ => return Err(self.stray(v_start, Problem::MissingFieldValue)),
            };
            // After a number or boolean only a control character can be here; after a
            // string, anything.
            match b.get(v_end) {
                Some(b',') => i = v_end + 1,
                Some(b' ') => return Ok((v_end, newlines)),
                _ if at_eol(b, v_end) => return Ok((v_end, newlines)),
                _ => return Err(self.stray(v_end, Problem::UnexpectedAfterString)),
            }
        }
    }

    /// A double-quoted string value starting at the quote `q`: returns the value, the offset
    /// after the closing quote and the newlines inside.
    fn string(&self, q: usize) -> Result<(FieldValue<'a>, usize, usize), Fail> {
        let b = self.body;
        let mut i = q + 1;
        let mut escaped = false;
        let mut newlines = 0;
        loop {
            i = next_in_string(b, i);
            match b.get(i) {
                None => return fail(q, Problem::UnbalancedQuotes),
                Some(b'"') => break,
                Some(b'\\') if matches!(b.get(i + 1), Some(b'"' | b'\\')) => {
                    escaped = true;
                    i += 2;
                }
                Some(b'\n') => {
                    newlines += 1;
                    i += 1;
                }
                Some(_) => i += 1,
            }
        }
        let value = if escaped {
            self.str_at(q + 1, i)?;
            let raw = b.get(q + 1..i).unwrap_or_default();
            let mut out = Vec::with_capacity(raw.len());
            let mut j = 0;
            while let Some(&c) = raw.get(j) {
                if c == b'\\'
                    && let Some(&n @ (b'"' | b'\\')) = raw.get(j + 1)
                {
                    out.push(n);
                    j += 2;
                } else {
                    out.push(c);
                    j += 1;
                }
            }
            Cow::Owned(String::from_utf8(out).map_err(|_| Fail::new(q + 1, Problem::InvalidUtf8))?)
        } else {
            Cow::Borrowed(self.str_at(q + 1, i)?)
        };
        Ok((FieldValue::String(value), i + 1, newlines))
    }

    /// The optional timestamp from `i` (a space after the field set, or its end of line);
    /// returns the offset of the end of line.
    fn timestamp(&self, mut i: usize, line: &mut Line<'a>) -> Result<usize, Fail> {
        let b = self.body;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        line.timestamp_ms = None;
        if at_eol(b, i) {
            return Ok(i);
        }
        let start = i;
        i = next_special(b, i, SPACE | CONTROL);
        let tok = b.get(start..i).unwrap_or_default();
        let ts = number::timestamp_ms(tok, self.precision)
            .map_err(|problem| Fail { at: start, problem })?;
        line.timestamp_ms = Some(ts);
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if at_eol(b, i) {
            Ok(i)
        } else {
            Err(self.stray(i, Problem::TrailingText))
        }
    }

    /// Fails on a tag key given twice (InfluxDB: "duplicate tags"), pointing at the second
    /// occurrence when it was not unescaped, else at the end of the tag set.
    fn check_duplicate_tags(&mut self, line: &Line<'a>, tags_end: usize) -> Result<(), Fail> {
        let sc = &mut *self.scratch;
        if sc.tag_hashes.len() < 2 || sc.tag_hashes == sc.distinct_tag_hashes {
            return Ok(());
        }
        let tags = &line.tags;
        let mut dup = None;
        let distinct = find_duplicates(
            |i| tags[i].0.as_bytes(),
            &sc.tag_hashes,
            &mut sc.order,
            |_, later| {
                dup.get_or_insert(later);
            },
        );
        if distinct {
            sc.distinct_tag_hashes.clone_from(&sc.tag_hashes);
        }
        let Some(i) = dup else { return Ok(()) };
        let key = &tags[i].0;
        let at = match key {
            Cow::Borrowed(s) => self.offset_of(s).unwrap_or(tags_end),
            Cow::Owned(_) => tags_end,
        };
        fail(
            at,
            Problem::DuplicateTag {
                key: quoted(key.as_bytes()),
            },
        )
    }

    /// Where `s`, a slice of the body, starts in it.
    fn offset_of(&self, s: &str) -> Option<usize> {
        let off = (s.as_ptr() as usize).checked_sub(self.body.as_ptr() as usize)?;
        (off <= self.body.len()).then_some(off)
    }

    /// Keeps only the last of fields with the same key (InfluxDB: the later value wins).
    #[inline(always)]
    pub(super) fn dedup_fields(&mut self, line: &mut Line<'a>) {
        let sc = &*self.scratch;
        if sc.field_hashes.len() > 1 && sc.field_hashes != sc.distinct_field_hashes {
            self.dedup_fields_slow(line);
        }
    }

    fn dedup_fields_slow(&mut self, line: &mut Line<'a>) {
        let sc = &mut *self.scratch;
        let fields = &line.fields;
        let mut dropped: Option<Vec<bool>> = None;
        let distinct = find_duplicates(
            |i| fields[i].0.as_bytes(),
            &sc.field_hashes,
            &mut sc.order,
            |earlier, _| {
                dropped.get_or_insert_with(|| vec![false; fields.len()])[earlier] = true;
            },
        );
        if distinct {
            sc.distinct_field_hashes.clone_from(&sc.field_hashes);
        }
        if let Some(dropped) = dropped {
            let mut k = 0;
            line.fields.retain(|_| {
                let keep = !dropped[k];
                k += 1;
                keep
            });
            self.strings = line
                .fields
                .iter()
                .filter(|(_, v)| matches!(v, FieldValue::String(_)))
                .count();
        }
    }
}

/// A cheap hash of a key: its length and its first and last eight bytes. Equal keys hash
/// equal; unequal keys are compared byte by byte only when their hashes collide.
#[inline(always)]
pub(super) fn key_hash(k: &[u8]) -> u64 {
    let (a, z) = match (k.first_chunk::<8>(), k.last_chunk::<8>()) {
        (Some(a), Some(z)) => (u64::from_le_bytes(*a), u64::from_le_bytes(*z)),
        _ => {
            let mut w = [0u8; 8];
            w[..k.len()].copy_from_slice(k);
            (u64::from_le_bytes(w), 0)
        }
    };
    mix(a, z, k.len())
}

/// [`key_hash`] of `b[a..e]` (not empty), reading whole words from the body where it can.
#[inline(always)]
pub(super) fn hash_at(b: &[u8], a: usize, e: usize) -> u64 {
    let len = e - a;
    match b.get(a..).and_then(|rest| rest.first_chunk::<8>()) {
        Some(w) if len < 8 => mix(u64::from_le_bytes(*w) & ((1u64 << (8 * len)) - 1), 0, len),
        Some(w) => {
            let z = b
                .get(..e)
                .and_then(|head| head.last_chunk::<8>())
                .map_or(0, |z| u64::from_le_bytes(*z));
            mix(u64::from_le_bytes(*w), z, len)
        }
        None => key_hash(b.get(a..e).unwrap_or_default()),
    }
}

#[inline(always)]
fn mix(a: u64, z: u64, len: usize) -> u64 {
    (a ^ z.rotate_left(23) ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// Calls `dup(earlier, later)` for pairs of equal keys (every earlier occurrence of a key is
/// reported at least once), given their [`key_hash`]es, and returns whether the hashes are
/// pairwise distinct. Pairwise on hashes for short lists, by sorting for long ones, so a
/// hostile line cannot make it quadratic.
fn find_duplicates<'k>(
    key: impl Fn(usize) -> &'k [u8],
    hashes: &[u64],
    order: &mut Vec<u32>,
    mut dup: impl FnMut(usize, usize),
) -> bool {
    let n = hashes.len();
    let mut distinct = true;
    if n < 2 {
        return distinct;
    }
    if n <= 16 {
        for (i, &h) in hashes.iter().enumerate().skip(1) {
            for (j, &earlier) in hashes[..i].iter().enumerate() {
                if earlier == h {
                    distinct = false;
                    if key(j) == key(i) {
                        dup(j, i);
                    }
                }
            }
        }
        return distinct;
    }
    order.clear();
    order.extend(0..n as u32);
    order.sort_unstable_by(|&x, &y| {
        let (x, y) = (x as usize, y as usize);
        hashes[x]
            .cmp(&hashes[y])
            .then_with(|| key(x).cmp(key(y)))
            .then(x.cmp(&y))
    });
    for w in order.windows(2) {
        let (x, y) = (w[0] as usize, w[1] as usize);
        if hashes[x] == hashes[y] {
            distinct = false;
            if key(x) == key(y) {
                dup(x, y);
            }
        }
    }
    distinct
}

/// `v.push(make())`, with the element built after the vector has room, straight into its
/// slot. (A plain `push` of a pair of `Cow`s builds it on the stack first and copies it with
/// wide loads that miss store forwarding: a fifth of the parse time on TSBS lines.)
#[inline(always)]
fn push_with<T>(v: &mut Vec<T>, make: impl FnOnce() -> T) {
    v.reserve(1);
    if let Some(slot) = v.spare_capacity_mut().first_mut() {
        slot.write(make());
        let len = v.len() + 1;
        // SAFETY: the element at the old length was just initialised, and `reserve(1)` made
        // the capacity at least the new length.
        unsafe { v.set_len(len) };
    }
}
