//! Shared helpers of the integration tests.

#![allow(dead_code)]

pub(crate) mod floed;
pub(crate) mod line_protocol;
pub(crate) mod prometheus;
