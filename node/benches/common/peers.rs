//! The peer benchmark's machinery (`benches/peers.rs`): the peers as child processes
//! (VictoriaMetrics, Prometheus, InfluxDB 1.x, and `floed`), how each is made to persist and
//! compact what it holds, its on-disk size, remote-write bodies in time order, the comparison
//! of query answers, and the report (Markdown section, JSON and a PNG chart).

pub mod bodies;
pub mod chart;
pub mod compare;
pub mod font;
pub mod persist;
pub mod queries;
pub mod report;
pub mod systems;

/// The systems compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum System {
    Floe,
    VictoriaMetrics,
    Prometheus,
    InfluxDb,
}

impl System {
    /// Short key used in JSON keys and tables.
    pub fn key(self) -> &'static str {
        match self {
            System::Floe => "floe",
            System::VictoriaMetrics => "vm",
            System::Prometheus => "prometheus",
            System::InfluxDb => "influxdb",
        }
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            System::Floe => "Floe",
            System::VictoriaMetrics => "VictoriaMetrics",
            System::Prometheus => "Prometheus",
            System::InfluxDb => "InfluxDB",
        }
    }
}

/// The ingest protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// InfluxDB line protocol over HTTP.
    Line,
    /// Prometheus remote write 1.0.
    RemoteWrite,
}

impl Protocol {
    pub fn key(self) -> &'static str {
        match self {
            Protocol::Line => "line",
            Protocol::RemoteWrite => "rw",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Line => "line protocol",
            Protocol::RemoteWrite => "remote write",
        }
    }

    /// The systems that take this protocol, in the order they are run.
    pub fn systems(self) -> &'static [System] {
        match self {
            Protocol::Line => &[System::Floe, System::VictoriaMetrics, System::InfluxDb],
            Protocol::RemoteWrite => &[System::Floe, System::VictoriaMetrics, System::Prometheus],
        }
    }
}

/// The systems that answer PromQL, in the order they are queried (Prometheus is the reference).
pub const PROMQL_SYSTEMS: [System; 3] = [System::Prometheus, System::Floe, System::VictoriaMetrics];
