//! The label index of one node: the registry of its series and the postings that select them.
//!
//! Every series a node has seen gets a dense [`SeriesRef`] (0, 1, 2, … in order of first
//! sight), by which the engine's head and the query path address it. The index maps a
//! [`SeriesId`] to its ref in O(1) ([`LabelIndex::lookup`], the write path's hot call), gives
//! back the id, key and labels of a ref, and answers Prometheus label matchers
//! ([`LabelIndex::select`]) and the `labels` / `label values` queries.
//!
//! Memory is the design's first constraint (the engine budgets about 1 KiB per active series,
//! samples included). Strings are interned once: each distinct label name and each distinct
//! `(name, value)` pair gets a dense number. A series holds its 16-byte id and its pair numbers
//! in one shared arena; each pair holds its postings, the ascending refs of the series that
//! carry it. `docs/label-index.md` gives the layout, the matcher semantics, the checkpoint
//! format and measured figures.
//!
//! The index is not synchronised (the engine wraps it in a lock) and does no I/O except
//! [`LabelIndex::checkpoint`] and [`LabelIndex::load`], whose file is a WAL segment of series
//! records as specified by `floe-storage-format`. Series are never removed.

use floe_storage_format::{SeriesId, SeriesKey};

mod arena;
mod checkpoint;
mod error;
mod matcher;
mod postings;
mod select;
mod strings;
mod table;

pub use error::IndexError;
pub use matcher::{METRIC_NAME_LABEL, MatchOp, Matcher};

use arena::{PairArena, Pairs};
use strings::{StrArena, push_slow_growth};
use table::{HandleTable, HashKeys};

/// Dense per-node series number, assigned in increasing order as series are first seen; never
/// reused within a process lifetime.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SeriesRef(pub u32);

/// Estimated allocator overhead per heap block (glibc: an 8-byte header, 16-byte rounding).
const ALLOC_OVERHEAD: usize = 16;

/// The series registry and postings of one node; see the module documentation.
#[derive(Debug)]
pub struct LabelIndex {
    /// Hash keys of the three tables.
    keys: HashKeys,
    /// Series id of each ref.
    ids: Vec<SeriesId>,
    /// Pair numbers of every series: the metric-name pair, then the label pairs in the key's
    /// (label-name) order.
    series_pairs: PairArena,
    /// Number of pair numbers in `series_pairs`.
    series_pair_count: usize,
    /// Refs by series id.
    by_id: HandleTable,
    /// Label names by number.
    names: StrArena,
    /// Name numbers by name.
    name_table: HandleTable,
    /// The pairs of each name, ascending.
    name_pairs: Vec<Vec<u32>>,
    /// Name of each pair.
    pair_name: Vec<u32>,
    /// Value of each pair.
    pair_values: StrArena,
    /// Pair numbers by (name number, value).
    pair_table: HandleTable,
    /// The refs carrying each pair, ascending.
    postings: Vec<Vec<u32>>,
    /// Sum of the capacities of the `postings` lists, in elements.
    postings_capacity: usize,
}

impl Default for LabelIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl LabelIndex {
    /// An empty index.
    pub fn new() -> Self {
        LabelIndex {
            keys: HashKeys::random(),
            ids: Vec::new(),
            series_pairs: PairArena::default(),
            series_pair_count: 0,
            by_id: HandleTable::default(),
            names: StrArena::default(),
            name_table: HandleTable::default(),
            name_pairs: Vec::new(),
            pair_name: Vec::new(),
            pair_values: StrArena::default(),
            pair_table: HandleTable::default(),
            postings: Vec::new(),
            postings_capacity: 0,
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the index holds no series.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ref of the series with id `id`, if known: one hash probe, no allocation.
    #[inline]
    pub fn lookup(&self, id: SeriesId) -> Option<SeriesRef> {
        let ids = &self.ids;
        self.by_id
            .find(self.keys.id(id.0), |r| ids[r as usize] == id)
            .map(SeriesRef)
    }

    /// The ref of `key`'s series, registering it first if it is new; the flag is true when it
    /// was new.
    pub fn insert(&mut self, key: &SeriesKey) -> (SeriesRef, bool) {
        self.insert_with_id(key, key.id())
    }

    /// As [`LabelIndex::insert`], for a caller that already computed `id = key.id()` (the
    /// write path hashes each key once). `id` must be `key.id()`: this is checked in debug
    /// builds only.
    ///
    /// # Panics
    ///
    /// When the index already holds `u32::MAX − 1` series.
    pub fn insert_with_id(&mut self, key: &SeriesKey, id: SeriesId) -> (SeriesRef, bool) {
        debug_assert_eq!(key.id(), id, "insert_with_id: id does not match {key}");
        if let Some(r) = self.lookup(id) {
            return (r, false);
        }
        let r = u32::try_from(self.ids.len())
            .ok()
            .filter(|&r| r < u32::MAX - 1)
            .expect("label index holds fewer than 2^32 - 1 series");
        self.add_pair(r, METRIC_NAME_LABEL, key.name());
        for (name, value) in key.labels() {
            self.add_pair(r, name, value);
        }
        self.series_pairs.finish_series();
        push_slow_growth(&mut self.ids, id);
        let (keys, ids) = (self.keys, &self.ids);
        self.by_id
            .insert(keys.id(id.0), r, |x| keys.id(ids[x as usize].0));
        (SeriesRef(r), true)
    }

    /// Records that series `r` (the newest) carries `name = value`.
    fn add_pair(&mut self, r: u32, name: &str, value: &str) {
        let pair = self.intern_pair(name, value);
        self.series_pairs.push_pair(pair);
        self.series_pair_count += 1;
        let list = &mut self.postings[pair as usize];
        // A key whose labels repeat its metric name as `__name__` names the same pair twice.
        if list.last() != Some(&r) {
            self.postings_capacity += push_slow_growth(list, r);
        }
    }

    /// The number of label name `name`, if any series carries it.
    fn name_id(&self, name: &str) -> Option<u32> {
        let names = &self.names;
        self.name_table
            .find(self.keys.str(name), |n| names.get(n) == name)
    }

    fn intern_name(&mut self, name: &str) -> u32 {
        if let Some(n) = self.name_id(name) {
            return n;
        }
        let n = self.names.push(name);
        self.name_pairs.push(Vec::new());
        let (keys, names) = (self.keys, &self.names);
        self.name_table
            .insert(keys.str(name), n, |x| keys.str(names.get(x)));
        n
    }

    /// The number of pair `(name, value)`, if any series carries it.
    fn pair_id(&self, name: &str, value: &str) -> Option<u32> {
        self.find_pair(self.keys.pair(name, value), name, value)
    }

    #[inline]
    fn find_pair(&self, hash: u64, name: &str, value: &str) -> Option<u32> {
        self.pair_table.find(hash, |p| {
            self.pair_values.get(p) == value && self.names.get(self.pair_name[p as usize]) == name
        })
    }

    /// The number of pair `(name, value)`, created if new: one hash probe when it exists.
    fn intern_pair(&mut self, name: &str, value: &str) -> u32 {
        let hash = self.keys.pair(name, value);
        if let Some(p) = self.find_pair(hash, name, value) {
            return p;
        }
        let n = self.intern_name(name);
        let p = self.pair_values.push(value);
        push_slow_growth(&mut self.pair_name, n);
        push_slow_growth(&mut self.postings, Vec::new());
        self.name_pairs[n as usize].push(p);
        let (keys, names, pair_name, values) =
            (self.keys, &self.names, &self.pair_name, &self.pair_values);
        self.pair_table.insert(hash, p, |x| {
            keys.pair(names.get(pair_name[x as usize]), values.get(x))
        });
        p
    }

    /// The pair numbers of series `r`.
    #[inline]
    fn pairs_of(&self, r: u32) -> Pairs<'_> {
        self.series_pairs.get(r)
    }

    /// The id of series `r`.
    ///
    /// # Panics
    ///
    /// If `r` was not returned by this index.
    pub fn id(&self, r: SeriesRef) -> SeriesId {
        self.ids[r.0 as usize]
    }

    /// The id of series `r`, or `None` if this index never returned `r` (for references that
    /// come from outside the engine).
    pub fn try_id(&self, r: SeriesRef) -> Option<SeriesId> {
        self.ids.get(r.0 as usize).copied()
    }

    /// The key of series `r`, rebuilt from the interned strings.
    ///
    /// # Panics
    ///
    /// If `r` was not returned by this index.
    pub fn key(&self, r: SeriesRef) -> SeriesKey {
        let mut labels = self.labels(r);
        let (_, name) = labels
            .next()
            .expect("every series has its metric-name pair");
        SeriesKey::new(name, labels).expect("the index holds only keys that were valid")
    }

    /// The labels of series `r`: first `("__name__", metric name)`, then the key's labels in
    /// ascending label-name order (so `__name__` is first even where a label such as `A`
    /// would sort before it).
    ///
    /// # Panics
    ///
    /// If `r` was not returned by this index.
    pub fn labels(&self, r: SeriesRef) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.pairs_of(r.0).map(|p| {
            let name = self.names.get(self.pair_name[p as usize]);
            (name, self.pair_values.get(p))
        })
    }

    /// An estimate of the heap bytes the index holds: vector and table capacities, plus 16
    /// bytes of allocator overhead per heap block. O(number of label names).
    pub fn memory_bytes(&self) -> usize {
        let vec_bytes = |cap: usize, elem: usize| {
            if cap == 0 {
                0
            } else {
                cap * elem + ALLOC_OVERHEAD
            }
        };
        let name_pairs: usize = self
            .name_pairs
            .iter()
            .map(|v| vec_bytes(v.capacity(), 4))
            .sum();
        let postings_blocks = self.postings.iter().len() * ALLOC_OVERHEAD;
        let (arena_bytes, arena_blocks) = self.series_pairs.memory();
        vec_bytes(self.ids.capacity(), size_of::<SeriesId>())
            + arena_bytes
            + arena_blocks * ALLOC_OVERHEAD
            + self.by_id.memory_bytes()
            + self.names.memory_bytes()
            + self.name_table.memory_bytes()
            + vec_bytes(self.name_pairs.capacity(), size_of::<Vec<u32>>())
            + name_pairs
            + vec_bytes(self.pair_name.capacity(), 4)
            + self.pair_values.memory_bytes()
            + self.pair_table.memory_bytes()
            + vec_bytes(self.postings.capacity(), size_of::<Vec<u32>>())
            + self.postings_capacity * 4
            + postings_blocks
            + 6 * ALLOC_OVERHEAD
    }

    /// Releases the spare capacity of the index's vectors (the hash tables keep their
    /// power-of-two sizes). [`LabelIndex::load`] calls it; the engine may call it after
    /// replaying its WAL. O(number of pairs).
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.series_pairs.shrink_to_fit();
        self.pair_name.shrink_to_fit();
        self.pair_values.shrink_to_fit();
        self.names.shrink_to_fit();
        self.name_pairs.iter_mut().for_each(Vec::shrink_to_fit);
        self.postings.shrink_to_fit();
        self.postings.iter_mut().for_each(Vec::shrink_to_fit);
        self.postings_capacity = self.postings.iter().map(Vec::capacity).sum();
    }
}
