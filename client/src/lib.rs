//! `floe-client` is Floe's Rust client library (QUIC with mutual TLS, token-aware batching,
//! retries, queries); the admin CLI `floectl` lives in `floe-ctl`.
//!
//! It depends on [`floe_ring`] (to send each batch straight to its owners) and on the shared
//! wire types, and must never depend on `floe-node`: a client that pulls in server internals
//! drags the storage engine into every application that only wants to write a sample.
//!
//! This crate is filled by the cluster issue; today it only pins the dependency direction.
