//! Selection by label matchers, and the `labels` / `label values` queries.
//!
//! Each matcher on label `l` is reduced to a set of `l`'s pairs and a direction:
//!
//! - **include**: the series carrying one of the pairs (when a series *without* `l` fails
//!   the matcher, it selects exactly the series whose value passes);
//! - **exclude**: every series except those carrying one of the pairs (when a series without
//!   `l` passes, the matcher rejects exactly the series whose value fails).
//!
//! Selection starts from the cheapest include step (fewest postings), or, when every matcher
//! accepts the empty value, from the complement of the costliest exclude step. Each further
//! step either merges postings or, when the candidates are few, checks each candidate's own
//! pairs, whichever touches fewer numbers.

use std::borrow::Cow;

use super::matcher::Matcher;
use super::postings::{complement, intersect, subtract, union};
use super::{LabelIndex, SeriesRef};

/// One matcher reduced to postings; see the module documentation.
#[derive(Debug)]
struct Step<'a> {
    include: bool,
    name: u32,
    /// Ascending pair numbers, all of label `name`.
    pairs: Cow<'a, [u32]>,
    /// Total length of the pairs' postings.
    cost: usize,
}

/// Removes and returns the step to start from: the cheapest include step, or with none, the
/// costliest exclude step (its complement is the smallest start).
fn take_seed<'a>(steps: &mut Vec<Step<'a>>) -> Option<Step<'a>> {
    let rank = |s: &Step<'_>| match s.include {
        true => (false, s.cost),
        false => (true, usize::MAX - s.cost),
    };
    let (best, _) = steps.iter().enumerate().min_by_key(|(_, s)| rank(s))?;
    Some(steps.swap_remove(best))
}

/// What one matcher contributes.
enum Reduced<'a> {
    /// It accepts every series: drop it.
    All,
    /// It accepts no series: the selection is empty.
    Nothing,
    Step(Step<'a>),
}

impl LabelIndex {
    /// The series accepted by every matcher, ascending; all series for an empty list.
    ///
    /// A series without a matcher's label is tested as if its value were `""` (see
    /// [`Matcher`]).
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut steps = Vec::with_capacity(matchers.len());
        for m in matchers {
            match self.reduce(m) {
                Reduced::All => {}
                Reduced::Nothing => return Vec::new(),
                Reduced::Step(step) => steps.push(step),
            }
        }
        let refs = self.run(steps);
        refs.into_iter().map(SeriesRef).collect()
    }

    fn run(&self, mut steps: Vec<Step<'_>>) -> Vec<u32> {
        let n = self.ids.len() as u32;
        let Some(first) = take_seed(&mut steps) else {
            return (0..n).collect();
        };
        let first_union = self.union_of(&first);
        let mut candidates = if first.include {
            first_union.into_owned()
        } else {
            complement(n, &first_union)
        };
        steps.sort_by_key(|s| s.cost);
        let pairs_per_series = self.series_pair_count / self.ids.len().max(1) + 1;
        for step in steps {
            if candidates.is_empty() {
                break;
            }
            if candidates.len().saturating_mul(pairs_per_series) < step.cost {
                candidates.retain(|&r| self.series_has_any(r, &step) == step.include);
            } else {
                let u = self.union_of(&step);
                candidates = if step.include {
                    intersect(&candidates, &u)
                } else {
                    subtract(&candidates, &u)
                };
            }
        }
        candidates
    }

    /// The union of a step's postings, borrowed when it is one list.
    fn union_of<'a>(&'a self, step: &Step<'_>) -> Cow<'a, [u32]> {
        match *step.pairs {
            [one] => Cow::Borrowed(&self.postings[one as usize]),
            ref pairs => {
                let lists = pairs.iter().map(|&p| self.postings[p as usize].as_slice());
                Cow::Owned(union(lists, step.cost, self.ids.len() as u32))
            }
        }
    }

    /// Whether series `r` carries one of the step's pairs.
    fn series_has_any(&self, r: u32, step: &Step<'_>) -> bool {
        self.pairs_of(r).any(|p| {
            self.pair_name[p as usize] == step.name && step.pairs.binary_search(&p).is_ok()
        })
    }

    /// Reduces one matcher to a step (see the module documentation).
    fn reduce<'a>(&'a self, m: &Matcher) -> Reduced<'a> {
        let absent_passes = m.matches("");
        let Some(name) = self.name_id(m.name()) else {
            return if absent_passes {
                Reduced::All
            } else {
                Reduced::Nothing
            };
        };
        // An include step lists the pairs whose value passes, an exclude step those that fail.
        let include = !absent_passes;
        let pairs = self.pairs_where(name, m, include);
        if pairs.is_empty() {
            return if include {
                Reduced::Nothing
            } else {
                Reduced::All
            };
        }
        let cost = pairs.iter().map(|&p| self.postings[p as usize].len()).sum();
        Reduced::Step(Step {
            include,
            name,
            pairs,
            cost,
        })
    }

    /// The pairs of label `name` whose value passes `m` (`passing`) or fails it, ascending.
    fn pairs_where<'a>(&'a self, name: u32, m: &Matcher, passing: bool) -> Cow<'a, [u32]> {
        let all = &self.name_pairs[name as usize];
        if let Some(pass) = m.uniform_on_non_empty() {
            return Cow::Borrowed(if pass == passing { all } else { &[] });
        }
        let Some(literals) = m.literal_values() else {
            let kept = all.iter().copied();
            return Cow::Owned(
                kept.filter(|&p| m.matches(self.pair_values.get(p)) == passing)
                    .collect(),
            );
        };
        // The pairs whose value is one of the literals: those pass unless `m` is negated.
        let mut listed: Vec<u32> = literals
            .into_iter()
            .filter_map(|v| self.pair_id(m.name(), v))
            .collect();
        listed.sort_unstable();
        if m.is_negated() != passing {
            return Cow::Owned(listed);
        }
        if listed.is_empty() {
            return Cow::Borrowed(all);
        }
        Cow::Owned(subtract(all, &listed))
    }

    /// The label names carried by any series (`within: None`) or by the given series, sorted;
    /// `__name__` included.
    ///
    /// # Panics
    ///
    /// If `within` holds a ref not returned by this index.
    pub fn label_names(&self, within: Option<&[SeriesRef]>) -> Vec<String> {
        let name_count = self.name_pairs.len();
        let mut seen = vec![within.is_none(); name_count];
        for &r in within.unwrap_or_default() {
            for p in self.pairs_of(r.0) {
                seen[self.pair_name[p as usize] as usize] = true;
            }
        }
        let mut out: Vec<String> = (0..name_count as u32)
            .filter(|&n| seen[n as usize])
            .map(|n| self.names.get(n).to_owned())
            .collect();
        out.sort_unstable();
        out
    }

    /// The values of label `name` (`__name__` for metric names) carried by any series
    /// (`within: None`) or by the given series, sorted and distinct.
    ///
    /// # Panics
    ///
    /// If `within` holds a ref not returned by this index.
    pub fn label_values(&self, name: &str, within: Option<&[SeriesRef]>) -> Vec<String> {
        let Some(n) = self.name_id(name) else {
            return Vec::new();
        };
        let mut pairs: Vec<u32> = match within {
            None => self.name_pairs[n as usize].clone(),
            Some(refs) => refs
                .iter()
                .flat_map(|r| self.pairs_of(r.0))
                .filter(|&p| self.pair_name[p as usize] == n)
                .collect(),
        };
        pairs.sort_unstable();
        pairs.dedup();
        let mut out: Vec<String> = pairs
            .into_iter()
            .map(|p| self.pair_values.get(p).to_owned())
            .collect();
        out.sort_unstable();
        out
    }
}
