//! `floe-tests` holds Floe's cross-crate integration tests (under `tests/`) and the golden files
//! of every on-disk and wire format version (under `data/`). It has no library code of its own
//! and nothing depends on it.
