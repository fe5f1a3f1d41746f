//! Ingest protocols: the decoders of what real senders speak. Each decoder is pure (bytes in,
//! parsed series and samples out, or a typed error that names the line and the problem); the
//! daemon maps their output onto series keys and hands it to the engine.

pub mod graphite;
pub mod line_protocol;
pub mod opentsdb;
pub mod remote_write;
