//! Operations on postings: ascending lists of series numbers without duplicates.

/// Lists longer than this many times the other side are searched by galloping rather than
/// merged.
const GALLOP_RATIO: usize = 16;

/// `a ∩ b`, ascending.
pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len().saturating_mul(GALLOP_RATIO) < large.len() {
        let mut rest = large;
        for &x in small {
            let (found, skip) = gallop(rest, x);
            if found {
                out.push(x);
            }
            rest = &rest[skip..];
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(small[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// `a \ b`, ascending.
pub(crate) fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    if a.len().saturating_mul(GALLOP_RATIO) < b.len() {
        let mut rest = b;
        for &x in a {
            let (found, skip) = gallop(rest, x);
            if !found {
                out.push(x);
            }
            rest = &rest[skip..];
        }
        return out;
    }
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j == b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// `{0, …, n−1} \ b`, ascending.
pub(crate) fn complement(n: u32, b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity((n as usize).saturating_sub(b.len()));
    let mut j = 0;
    for x in 0..n {
        if j < b.len() && b[j] == x {
            j += 1;
        } else {
            out.push(x);
        }
    }
    out
}

/// The union of several lists over series numbers below `n`, ascending.
pub(crate) fn union<'a>(lists: impl Iterator<Item = &'a [u32]>, total: usize, n: u32) -> Vec<u32> {
    if total.saturating_mul(16) >= n as usize {
        return union_dense(lists, total, n);
    }
    let mut out = Vec::with_capacity(total);
    for l in lists {
        out.extend_from_slice(l);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Union through a bitmap of `n` bits: linear in `n / 64` plus the input, no sort.
fn union_dense<'a>(lists: impl Iterator<Item = &'a [u32]>, total: usize, n: u32) -> Vec<u32> {
    let mut bits = vec![0u64; (n as usize).div_ceil(64)];
    for &x in lists.flatten() {
        bits[x as usize / 64] |= 1 << (x % 64);
    }
    let mut out = Vec::with_capacity(total);
    for (w, &word) in bits.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            out.push((w * 64) as u32 + word.trailing_zeros());
            word &= word - 1;
        }
    }
    out
}

/// Searches ascending `list` for `x` by doubling steps then binary search. Returns whether
/// `x` is present and how many leading elements are `< x` (the caller may skip them, plus
/// the match).
fn gallop(list: &[u32], x: u32) -> (bool, usize) {
    let mut hi = 1;
    while hi < list.len() && list[hi - 1] < x {
        hi *= 2;
    }
    let lo = hi / 2;
    let hi = hi.min(list.len());
    match list[lo..hi].binary_search(&x) {
        Ok(i) => (true, lo + i + 1),
        Err(i) => (false, lo + i),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn set(v: &[u32]) -> BTreeSet<u32> {
        v.iter().copied().collect()
    }

    fn sorted() -> impl Strategy<Value = Vec<u32>> {
        prop_oneof![
            proptest::collection::btree_set(0u32..300, 0..40),
            proptest::collection::btree_set(0u32..300, 0..300),
        ]
        .prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn set_operations_agree_with_btreeset(a in sorted(), b in sorted(), c in sorted()) {
            let expect: Vec<u32> = set(&a).intersection(&set(&b)).copied().collect();
            prop_assert_eq!(intersect(&a, &b), expect);
            let expect: Vec<u32> = set(&a).difference(&set(&b)).copied().collect();
            prop_assert_eq!(subtract(&a, &b), expect);
            let expect: Vec<u32> = (0..300).filter(|x| !b.contains(x)).collect();
            prop_assert_eq!(complement(300, &b), expect);
            let all: BTreeSet<u32> = set(&a).union(&set(&b)).chain(&c).copied().collect();
            let expect: Vec<u32> = all.into_iter().collect();
            let total = a.len() + b.len() + c.len();
            let lists = || [a.as_slice(), b.as_slice(), c.as_slice()].into_iter();
            prop_assert_eq!(union(lists(), total, 300), expect.clone());
            prop_assert_eq!(union_dense(lists(), total, 300), expect);
        }
    }
}
