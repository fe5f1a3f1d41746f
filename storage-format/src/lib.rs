//! `floe-storage-format` defines every byte Floe writes to disk, and the rules that give those
//! bytes their meaning: the sample and its merge rule, the series key and [`SeriesId`], the
//! order-independent [`Digest`], WAL segments and records, column encodings, chunks and block
//! files, [rollups](mod@rollup) (count, sum, min, max, first, last per time bucket) and their
//! blocks, and the [`manifest`] of live blocks. The byte layouts are specified in
//! `docs/storage-format.md`.
//!
//! It is format code: it encodes, decodes and checks. It must never depend on tokio, the
//! network, fsync *policies*, background work or any other Floe crate. Its only I/O is what
//! makes a block file or a manifest safe to publish and read: the temporary-name, fsync,
//! rename, directory-fsync sequence ([`block::sync_dir`]) and the block reader's read-only
//! `memmap2` mapping.
//!
//! Every decoder returns a typed [`FormatError`] on malformed, truncated, oversized or
//! hostile input; none panics and none allocates from a length it has not checked.

pub mod block;
pub mod chunk;
mod codec;
pub mod column;
mod digest;
mod error;
pub mod manifest;
pub mod rollup;
mod sample;
mod series;
pub mod wal;

pub use chunk::Columns;
pub use codec::crc32;
pub use digest::Digest;
pub use error::{FormatError, Result};
pub use manifest::{BlockEntry, BlockKind, Manifest, RepairMark};
pub use rollup::{RollupColumns, RollupRow, merge_rollups, rollup};
pub use sample::{
    STALE_NAN_BITS, Sample, is_normalized, is_stale_marker, is_strictly_increasing, merge,
    merge_sorted_columns, normalize, precedence,
};
pub use series::{MAX_KEY_LEN, MAX_LABELS, MAX_NAME_LEN, SeriesId, SeriesKey};
