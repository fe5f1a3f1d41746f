//! Purge: physically removing the series a node no longer owns (rebalance cleanup).
//!
//! [`Engine::purge`] flushes the heads, then rewrites every live block (raw and rollup) that
//! holds a series the caller no longer keeps: the replacement has the same kind, partition and
//! level and only the kept series (a block left with nothing is just removed). Blocks without
//! a dropped series are not touched. All replacements are committed by one atomic manifest
//! replacement — the mechanics of compaction: fresh file ids, `MANIFEST` written atomically,
//! the new set published to readers, the old files deleted only after — so a kill at any
//! moment leaves either the old blocks or the new ones live, never both, never neither.
//!
//! [`Engine::series_in`] lists the indexed series a predicate keeps, in ring order, for the
//! caller to page through a token range.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use floe_storage_format::block::{BlockReader, BlockWriter};
use floe_storage_format::manifest::{BlockEntry, Manifest};
use floe_storage_format::rollup::RollupColumns;
use floe_storage_format::{Columns, FormatError, SeriesId, SeriesKey};

use super::blocks::{LiveBlock, block_path, salvage};
use super::compact::{delete_files, publish};
use super::digests::Stale;
use super::error::EngineError;
use super::{Engine, Inner, Maintenance, lock, read_lock};
use crate::index::SeriesRef;

/// What one [`Engine::purge`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// Blocks replaced by a copy holding only the kept series.
    pub blocks_rewritten: usize,
    /// Blocks deleted because they held only dropped series.
    pub blocks_removed: usize,
    /// Distinct series removed from at least one block.
    pub series_dropped: usize,
    /// Raw samples removed, as stored in the blocks (a sample held by two blocks not yet
    /// merged counts twice). Rollup rows are not counted.
    pub samples_dropped: u64,
}

impl Engine {
    /// Every series in the label index whose id `keep` accepts, with its key, sorted by
    /// [`SeriesId::ring_position`] and then by id, so a caller can page through a token range.
    /// Reads the index only (no samples): a series listed may have no samples left (after a
    /// purge or retention), since the index never forgets a series.
    pub fn series_in(&self, keep: &dyn Fn(SeriesId) -> bool) -> Vec<(SeriesRef, SeriesKey)> {
        let all: Vec<(SeriesRef, SeriesId)> = {
            let index = read_lock(&self.inner.index);
            (0..index.len() as u32)
                .map(SeriesRef)
                .filter_map(|r| index.try_id(r).map(|id| (r, id)))
                .collect()
        };
        // The predicate runs without the index lock; refs are never removed, so they stay valid.
        let mut kept: Vec<(SeriesRef, SeriesId)> =
            all.into_iter().filter(|&(_, id)| keep(id)).collect();
        kept.sort_unstable_by_key(|&(_, id)| (id.ring_position(), id));
        let index = read_lock(&self.inner.index);
        kept.into_iter().map(|(r, _)| (r, index.key(r))).collect()
    }

    /// Physically removes every sample of the series `keep` rejects: flushes the heads, then
    /// rewrites each live block (raw or rollup) that holds such a series without it, and
    /// commits all rewrites with one atomic manifest replacement. Blocks holding no rejected
    /// series keep their files. Samples appended for a rejected series after the flush started
    /// are not removed: the caller stops routing writes for them first.
    ///
    /// Label index entries of removed series stay (the index never removes a series): such a
    /// series is still listed by [`Engine::select`] and [`Engine::series_in`], but reads
    /// return nothing and range queries, which select series by their samples in range, skip it.
    ///
    /// A block whose bytes fail their checks while being rewritten is salvaged as a read would
    /// do it (its readable series kept in a new block, the original quarantined, the unreadable
    /// series marked for repair), and the purge is retried on the salvaged block; the purge
    /// returns an error only for I/O failures. A damaged chunk of a *rejected* series is never
    /// read, so it is simply removed.
    pub fn purge(&self, keep: &dyn Fn(SeriesId) -> bool) -> Result<PurgeReport, EngineError> {
        self.inner.check_open()?;
        self.flush()?;
        purge(&self.inner, keep)
    }
}

/// Why one attempt stopped.
enum PurgeError {
    /// Block `file_id` is damaged: salvage it and try again.
    Corrupt {
        file_id: u64,
        error: EngineError,
    },
    Engine(EngineError),
}

impl<E: Into<EngineError>> From<E> for PurgeError {
    fn from(e: E) -> Self {
        PurgeError::Engine(e.into())
    }
}

/// Maps a block read error: damaged bytes call for a salvage, anything else is returned.
fn read_failed(block: &LiveBlock, series: Option<SeriesId>, e: FormatError) -> PurgeError {
    if !e.is_corruption() {
        return PurgeError::Engine(e.into());
    }
    tracing::error!(block = %block.reader.path().display(), error = %e, "corrupt block met by purge");
    let error = match series {
        Some(series) => EngineError::Corrupt {
            series,
            block: block.reader.path().to_path_buf(),
            reason: e.to_string(),
        },
        None => EngineError::Format(e),
    };
    PurgeError::Corrupt {
        file_id: block.entry.file_id,
        error,
    }
}

fn purge(inner: &Inner, keep: &dyn Fn(SeriesId) -> bool) -> Result<PurgeReport, EngineError> {
    let started = Instant::now();
    // A salvaged block is a checked copy, so each block needs at most one salvage.
    let mut salvages_left = read_lock(&inner.state).blocks.len();
    loop {
        let mut m = lock(&inner.maintenance);
        match purge_blocks(inner, &mut m, keep) {
            Ok(report) => {
                drop(m);
                super::recover::blocks_gauges(inner);
                tracing::info!(
                    ?report,
                    ms = started.elapsed().as_millis() as u64,
                    "purge done"
                );
                return Ok(report);
            }
            Err(PurgeError::Corrupt { file_id, error }) => {
                drop(m);
                if salvages_left == 0 {
                    return Err(error);
                }
                salvages_left -= 1;
                salvage(inner, file_id)?;
            }
            Err(PurgeError::Engine(e)) => return Err(e),
        }
    }
}

/// The series of one block, split by the predicate.
#[derive(Debug, Default)]
struct Scan {
    /// Index position and id of each kept series.
    kept: Vec<(usize, SeriesId)>,
    /// Id and stored sample (or rollup row) count of each dropped series.
    dropped: Vec<(SeriesId, u32)>,
}

fn scan(block: &LiveBlock, keep: &dyn Fn(SeriesId) -> bool) -> Result<Scan, PurgeError> {
    let mut out = Scan::default();
    for i in 0..block.reader.series_count() {
        let e = block
            .reader
            .entry(i)
            .map_err(|e| read_failed(block, None, e))?;
        if keep(e.id) {
            out.kept.push((i, e.id));
        } else {
            out.dropped.push((e.id, e.count));
        }
    }
    Ok(out)
}

/// One attempt: rewrites the blocks holding dropped series and commits the result.
fn purge_blocks(
    inner: &Inner,
    m: &mut Maintenance,
    keep: &dyn Fn(SeriesId) -> bool,
) -> Result<PurgeReport, PurgeError> {
    let blocks = read_lock(&inner.state).blocks.clone();
    let dir = &inner.config.dir;
    let mut next = m.manifest.clone();
    let mut report = PurgeReport::default();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let built = rewrite_all(
        dir,
        &mut next,
        &blocks,
        keep,
        (&mut report, &mut added, &mut removed),
    );
    // Ids handed out stay used, whatever happens next (file ids are never reused).
    m.manifest.next_file_id = next.next_file_id;
    let dropped = match built {
        Ok(dropped) => dropped,
        Err(e) => {
            discard(dir, &added);
            return Err(e);
        }
    };
    if removed.is_empty() {
        return Ok(report);
    }
    let removed_ids: BTreeSet<u64> = removed.iter().map(|b| b.entry.file_id).collect();
    next.blocks.retain(|b| !removed_ids.contains(&b.file_id));
    next.blocks.extend(added.iter().map(|b| b.entry.clone()));
    next.generation += 1;
    // On failure the outputs stay: the rename may have taken effect. The next start removes
    // whichever files the manifest on disk does not name.
    next.write_atomic(dir)?;
    m.manifest = next;
    publish(inner, &removed_ids, added);
    // The dropped series' digest cells no longer match what is stored.
    inner.digests.invalidate(Stale::Series(&dropped));
    delete_files(inner, &removed)?;
    Ok(report)
}

/// Where [`rewrite_all`] puts its results: the report, the new blocks, the blocks replaced.
type Outputs<'a> = (
    &'a mut PurgeReport,
    &'a mut Vec<LiveBlock>,
    &'a mut Vec<Arc<LiveBlock>>,
);

/// Rewrites the blocks holding a series `keep` rejects; returns the series removed from some
/// block.
fn rewrite_all(
    dir: &Path,
    next: &mut Manifest,
    blocks: &[Arc<LiveBlock>],
    keep: &dyn Fn(SeriesId) -> bool,
    (report, added, removed): Outputs<'_>,
) -> Result<BTreeSet<SeriesId>, PurgeError> {
    let mut dropped_ids = BTreeSet::new();
    for block in blocks {
        let scan = scan(block, keep)?;
        if scan.dropped.is_empty() {
            continue;
        }
        if block.is_raw() {
            report.samples_dropped += scan.dropped.iter().map(|&(_, n)| u64::from(n)).sum::<u64>();
        }
        dropped_ids.extend(scan.dropped.iter().map(|&(id, _)| id));
        if scan.kept.is_empty() {
            report.blocks_removed += 1;
        } else {
            added.push(rewrite(dir, next, block, &scan.kept)?);
            report.blocks_rewritten += 1;
        }
        removed.push(block.clone());
    }
    report.series_dropped = dropped_ids.len();
    Ok(dropped_ids)
}

/// Writes the `kept` series of `block` into a new block with a fresh file id.
fn rewrite(
    dir: &Path,
    next: &mut Manifest,
    block: &LiveBlock,
    kept: &[(usize, SeriesId)],
) -> Result<LiveBlock, PurgeError> {
    let r = &block.reader;
    let keys = if r.header().has_keys {
        Some(r.series_keys().map_err(|e| read_failed(block, None, e))?)
    } else {
        None
    };
    let mut entry = BlockEntry {
        file_id: next.next_file_id,
        series: 0,
        samples: 0,
        bytes: 0,
        ..block.entry.clone()
    };
    next.next_file_id += 1;
    let path = block_path(dir, &entry);
    // Dropped before `finish` (an error below), the writer removes its temporary file.
    let mut w = BlockWriter::create(&path, *r.header())?;
    let mut cols = Columns::default();
    let mut roll = RollupColumns::new(r.rollup_resolution().unwrap_or(1));
    for &(i, id) in kept {
        let key = keys.as_ref().map(|k| &k[i]);
        let n = if block.is_raw() {
            r.read_entry(i, &mut cols)
                .map_err(|e| read_failed(block, Some(id), e))?;
            w.add_series(id, key, &cols.ts, &cols.values, &cols.versions)?;
            cols.len()
        } else {
            r.read_rollup_entry(i, &mut roll)
                .map_err(|e| read_failed(block, Some(id), e))?;
            w.add_rollup_series(id, key, &roll)?;
            roll.len()
        };
        entry.series += 1;
        entry.samples += n as u64;
    }
    entry.bytes = w.finish()?.bytes;
    let reader = BlockReader::open(&path)?;
    Ok(LiveBlock { entry, reader })
}

/// Removes the finished outputs of an attempt that will not be committed (best effort: the
/// next start removes any file the manifest does not name).
fn discard(dir: &Path, added: &[LiveBlock]) {
    for b in added {
        let path = block_path(dir, &b.entry);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(block = %path.display(), error = %e, "cannot remove an uncommitted purge output");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};
    use std::path::Path;
    use std::sync::Arc;

    use floe_storage_format::{Digest, Sample, SeriesId, SeriesKey, normalize};

    use super::PurgeReport;
    use crate::engine::{
        Engine, EngineConfig, FsyncPolicy, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, ManualClock,
        read_lock,
    };

    const H: i64 = 3_600_000;
    const MIN: i64 = 60_000;
    const T0: i64 = 1_767_225_600_000; // a day boundary

    type Rows = Vec<(SeriesKey, Sample)>;

    fn open(dir: &Path, clock: &Arc<ManualClock>) -> Engine {
        let mut c = EngineConfig::new(dir);
        c.background = false;
        c.fsync = FsyncPolicy::Never;
        Engine::open(c, clock.clone()).expect("open engine").0
    }

    fn key(host: usize) -> SeriesKey {
        SeriesKey::new("cpu", [("host", format!("h{host}"))]).expect("valid key")
    }

    /// Writes one sample per host at `from + offset + k·step` for every such time below `to`.
    fn load(engine: &Engine, hosts: &[usize], (from, to, step): (i64, i64, i64), rows: &mut Rows) {
        let mut t = from;
        while t < to {
            let batch: Rows = hosts
                .iter()
                .map(|&h| (key(h), Sample::new(t, (t / MIN % 97) as f64 + h as f64, 0)))
                .collect();
            engine.write(&batch).expect("write");
            rows.extend(batch);
            t += step;
        }
    }

    fn expected(rows: &Rows) -> BTreeMap<SeriesId, Vec<Sample>> {
        let mut by: BTreeMap<SeriesId, Vec<Sample>> = BTreeMap::new();
        for (k, s) in rows {
            by.entry(k.id()).or_default().push(*s);
        }
        by.values_mut().for_each(normalize);
        by
    }

    /// Dropped series read back empty, kept ones as written, the digest is that of the kept
    /// samples, no block holds a dropped series, and every block file is a live one.
    fn check(engine: &Engine, rows: &Rows, dropped: &HashSet<SeriesId>) {
        let mut digest = Digest::EMPTY;
        for (id, samples) in expected(rows) {
            let r = engine.lookup(id).expect("series stays indexed");
            let got = engine
                .read(r, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS)
                .expect("read");
            if dropped.contains(&id) {
                assert!(got.is_empty(), "dropped series {id:?} still has samples");
            } else {
                assert_eq!(got, samples, "kept series {id:?}");
                samples.iter().for_each(|s| digest.add_sample(id, s));
            }
        }
        let all = engine.digest(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
        assert_eq!(all.expect("digest"), digest);
        let blocks = read_lock(&engine.inner.state).blocks.clone();
        for b in blocks.iter() {
            for id in dropped {
                assert!(b.reader.find(*id).is_none(), "{:?} holds {id:?}", b.entry);
            }
        }
        let files = std::fs::read_dir(engine.dir().join("blocks"))
            .expect("list blocks")
            .count();
        assert_eq!(files, blocks.len(), "block files that are not live");
    }

    #[test]
    fn purge_removes_dropped_series_from_blocks_heads_and_rollups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        let (all, even, odd): (Vec<usize>, Vec<usize>, Vec<usize>) =
            ((0..6).collect(), vec![0, 2, 4], vec![1, 3, 5]);
        let mut rows = Rows::new();
        // Partitions 0 and 1, every series; then closed, so compaction builds their rollups.
        load(&engine, &all, (T0, T0 + 4 * H, MIN), &mut rows);
        engine.flush().expect("flush");
        clock.set(T0 + 6 * H);
        let rollups = engine.compact().expect("compact").rollup_blocks;
        assert_eq!(rollups, 2 * engine.config().rollups.len());
        // Partition 2, kept series only: its block must not be rewritten.
        load(&engine, &even, (T0 + 4 * H, T0 + 5 * H, MIN), &mut rows);
        engine.flush().expect("flush");
        let untouched = {
            let blocks = read_lock(&engine.inner.state).blocks.clone();
            let b = blocks
                .iter()
                .find(|b| b.entry.partition_start == T0 + 4 * H);
            b.expect("partition 2 block").entry.file_id
        };
        // Head only: late samples of dropped series (their flush makes a block of dropped
        // series only) and new samples of kept ones.
        load(&engine, &odd, (T0 + MIN / 2, T0 + 10 * MIN, MIN), &mut rows);
        load(
            &engine,
            &even,
            (T0 + 5 * H, T0 + 5 * H + 10 * MIN, MIN),
            &mut rows,
        );

        let dropped: HashSet<SeriesId> = odd.iter().map(|&h| key(h).id()).collect();
        let keep = |id: SeriesId| !dropped.contains(&id);
        let report = engine.purge(&keep).expect("purge");
        assert_eq!(
            report,
            PurgeReport {
                blocks_rewritten: 2 + rollups,
                blocks_removed: 1,
                series_dropped: 3,
                samples_dropped: 3 * (4 * 60 + 10),
            }
        );
        check(&engine, &rows, &dropped);
        let live = |e: &Engine| {
            let blocks = read_lock(&e.inner.state).blocks.clone();
            blocks.iter().any(|b| b.entry.file_id == untouched)
        };
        assert!(
            live(&engine),
            "a block without dropped series was rewritten"
        );
        assert_eq!(
            engine.purge(&keep).expect("purge again"),
            PurgeReport::default()
        );

        engine.close().expect("close");
        drop(engine);
        let engine = open(dir.path(), &clock);
        check(&engine, &rows, &dropped);
        assert!(live(&engine));
    }

    #[test]
    fn purge_salvages_a_corrupt_block_and_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        let mut rows = Rows::new();
        load(&engine, &[0, 1, 2, 3], (T0, T0 + H, MIN), &mut rows);
        engine.flush().expect("flush");
        // Damage the chunk of kept series h0.
        crate::engine::blocks::damage_chunk(&engine, key(0).id());

        let dropped: HashSet<SeriesId> = [key(1).id()].into();
        let report = engine
            .purge(&|id| !dropped.contains(&id))
            .expect("purge survives a corrupt block");
        assert_eq!(report.series_dropped, 1);
        assert_eq!(report.blocks_rewritten, 1);
        assert_eq!(report.samples_dropped, 60);
        let quarantined = std::fs::read_dir(dir.path().join("quarantine"))
            .expect("list quarantine")
            .count();
        assert_eq!(quarantined, 1);
        // h0 lost its unreadable chunk (marked for repair); the other kept series are intact.
        let h0 = engine.lookup(key(0).id()).expect("h0");
        let got = engine.read(h0, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
        assert!(got.expect("read h0").is_empty());
        let rest: Rows = rows
            .into_iter()
            .filter(|(k, _)| k.id() != key(0).id())
            .collect();
        check(&engine, &rest, &dropped);
    }

    #[test]
    fn series_in_filters_and_orders_by_ring_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        let mut rows = Rows::new();
        load(
            &engine,
            &(0..40).collect::<Vec<_>>(),
            (T0, T0 + 1, MIN),
            &mut rows,
        );
        let half = u64::MAX / 2;
        let keep = |id: SeriesId| id.ring_position() < half;
        let got = engine.series_in(&keep);
        let mut want: Vec<SeriesKey> = rows
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| keep(k.id()))
            .collect();
        want.sort_by_key(|k| (k.id().ring_position(), k.id()));
        assert!(
            !want.is_empty() && want.len() < rows.len(),
            "both halves hold series"
        );
        let keys: Vec<SeriesKey> = got.iter().map(|(_, k)| k.clone()).collect();
        assert_eq!(keys, want);
        for (r, k) in &got {
            assert_eq!(engine.lookup(k.id()), Some(*r));
        }
        assert!(engine.series_in(&|_| false).is_empty());
        assert_eq!(engine.series_in(&|_| true).len(), rows.len());
    }
}
