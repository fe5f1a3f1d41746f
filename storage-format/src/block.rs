//! Block files: the immutable, compressed home of one time partition's samples.
//!
//! ```text
//! header  (32 bytes)  magic "FLOEBLK\0" | version u16 | sample type u8 | flags u8
//!                     | partition start i64 | partition end i64 | crc32 of the 28 bytes before
//! chunks              one chunk per series, in series-id order: a `chunk` of samples in a
//!                     block of sample type 0, a `rollup` chunk in a block of sample type 1
//! index   (48 × n)    per series: id u128 | chunk offset u64 | chunk length u32 | count u32
//!                     | min ts i64 | max ts i64   — sorted by id, strictly increasing
//! keys    (optional)  zstd frame of varint(len) canonical series key, per series in index order
//! footer  (76 bytes)  index offset u64 | series count u64 | keys offset u64 | keys length u64
//!                     | sample count u64 | index crc32 | keys crc32 | min ts i64 | max ts i64
//!                     | crc32 of the 64 bytes before | magic "FLOEBEND"
//! ```
//!
//! All integers little-endian. The reader maps the file, checks header, footer and index
//! (crc, bounds, order) once at open, and then reads any one series by binary search in the
//! mapped index without touching other chunks; each chunk's crc is checked when it is read.
//!
//! In a rollup block (sample type 1) every chunk has the same resolution, each index entry
//! counts rows and spans the first to the last bucket start, and every bucket lies whole inside
//! the partition.

mod layout;
mod reader;
mod writer;

pub use layout::{
    BLOCK_MAGIC, BLOCK_VERSION, BlockHeader, FLAG_KEYS, FOOTER_LEN, FOOTER_MAGIC, HEADER_LEN,
    INDEX_ENTRY_LEN, IndexEntry,
};
pub use reader::BlockReader;
pub use writer::{BlockSummary, BlockWriter, sync_dir};
