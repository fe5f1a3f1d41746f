//! `floe-storage-format` defines every byte Floe writes to disk, and the rules that give those
//! bytes their meaning: the sample and its merge rule, the series key and [`SeriesId`], the
//! order-independent digest, WAL segments and records, column encodings and block files.
//!
//! It is pure format code: it encodes, decodes and checks. It knows nothing of tokio, the
//! network, fsync policies or background work, and depends on no other Floe crate. The one
//! exception to "no I/O" is the block writer's temporary-name, fsync, rename sequence and the
//! block reader's `memmap2` mapping, which are part of what makes the format safe to read.
//!
//! Every decoder returns a typed [`FormatError`] on malformed, truncated, oversized or
//! hostile input; none panics and none allocates from a length it has not checked.

mod sample;

pub use sample::{Sample, is_normalized, merge, merge_sorted_columns, normalize, precedence};
