//! TSBS devops queries written in PromQL the way TSBS's VictoriaMetrics query generator writes
//! them (`cmd/tsbs_generate_queries/databases/victoriametrics/devops.go`): the same selectors,
//! aggregations, windows and steps, random hosts and random time windows.

use floe_datagen::FIELDS;

/// One TSBS query type.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// TSBS's name, e.g. `single-groupby-1-1-1`.
    pub name: &'static str,
    /// How many cpu metrics (the first `metrics` of TSBS's list).
    pub metrics: usize,
    /// How many random hosts; `None` = all hosts.
    pub hosts: Option<usize>,
    /// Width of the random time window, hours.
    pub window_hours: i64,
    /// The PromQL around the selector: `{}` is replaced by the selector.
    pub template: &'static str,
    /// `step` of the range query, seconds.
    pub step_s: i64,
}

const GROUP_BY_TIME: &str = "max(max_over_time({}[1m])) by (__name__)";
const MAX_ALL: &str = "max(max_over_time({}[1h])) by (__name__)";
const DOUBLE_GROUP_BY: &str = "avg(avg_over_time({}[1h])) by (__name__, hostname)";

const fn kind(
    name: &'static str,
    metrics: usize,
    hosts: Option<usize>,
    window_hours: i64,
    template: &'static str,
    step_s: i64,
) -> Kind {
    Kind {
        name,
        metrics,
        hosts,
        window_hours,
        template,
        step_s,
    }
}

/// The query types of the benchmark, in the order they are reported.
pub const KINDS: [Kind; 10] = [
    kind("single-groupby-1-1-1", 1, Some(1), 1, GROUP_BY_TIME, 60),
    kind("single-groupby-1-1-12", 1, Some(1), 12, GROUP_BY_TIME, 60),
    kind("single-groupby-1-8-1", 1, Some(8), 1, GROUP_BY_TIME, 60),
    kind("single-groupby-5-1-1", 5, Some(1), 1, GROUP_BY_TIME, 60),
    kind("single-groupby-5-1-12", 5, Some(1), 12, GROUP_BY_TIME, 60),
    kind("single-groupby-5-8-1", 5, Some(8), 1, GROUP_BY_TIME, 60),
    kind("cpu-max-all-1", 10, Some(1), 8, MAX_ALL, 3600),
    kind("cpu-max-all-8", 10, Some(8), 8, MAX_ALL, 3600),
    kind("double-groupby-1", 1, None, 12, DOUBLE_GROUP_BY, 3600),
    kind("double-groupby-5", 5, None, 12, DOUBLE_GROUP_BY, 3600),
];

/// One generated query: a `query_range` request.
#[derive(Debug, Clone)]
pub struct Query {
    pub kind: &'static str,
    pub promql: String,
    pub start_s: i64,
    pub end_s: i64,
    pub step_s: i64,
}

impl Query {
    /// The request path and query string of `/api/v1/query_range`.
    pub fn path(&self) -> String {
        format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={}",
            super::http::encode(&self.promql),
            self.start_s,
            self.end_s,
            self.step_s
        )
    }
}

/// A small seeded generator (SplitMix64), so every system gets the same queries.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// TSBS's selector: `{__name__=~'cpu_(a|b)', hostname=~'(host_1|host_2)'}`.
pub fn selector(metrics: usize, hosts: &[u32]) -> String {
    let names: Vec<&str> = FIELDS[..metrics].to_vec();
    let mut m = names.join("|");
    if names.len() > 1 {
        m = format!("({m})");
    }
    if hosts.is_empty() {
        return format!("{{__name__=~'cpu_{m}'}}");
    }
    let hs: Vec<String> = hosts.iter().map(|h| format!("host_{h}")).collect();
    let mut h = hs.join("|");
    if hs.len() > 1 {
        h = format!("({h})");
    }
    format!("{{__name__=~'cpu_{m}', hostname=~'{h}'}}")
}

/// Generates one query of `kind` over data covering `[data_start_s, data_end_s)` from
/// `total_hosts` hosts. A window wider than the data is shrunk to the data (smoke runs).
pub fn generate(
    kind: &Kind,
    data_start_s: i64,
    data_end_s: i64,
    total_hosts: u32,
    rng: &mut Rng,
) -> Query {
    let mut hosts = Vec::new();
    if let Some(n) = kind.hosts {
        let n = n.min(total_hosts as usize);
        while hosts.len() < n {
            let h = rng.below(u64::from(total_hosts)) as u32;
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    let window = (kind.window_hours * 3600).min(data_end_s - data_start_s);
    let slack = (data_end_s - data_start_s - window).max(0);
    let start_s = data_start_s + rng.below(slack as u64 + 1) as i64;
    Query {
        kind: kind.name,
        promql: kind.template.replace("{}", &selector(kind.metrics, &hosts)),
        start_s,
        end_s: start_s + window,
        step_s: kind.step_s,
    }
}
