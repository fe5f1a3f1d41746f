//! The query set of the peer benchmark: the 10 TSBS types of `tsbs` as TSBS's VictoriaMetrics
//! generator writes them, and, for the 6 types that select several metrics, the same question
//! in a form PromQL accepts.
//!
//! In PromQL (Prometheus 2.42, and Floe by default) `max_over_time` and `avg_over_time` drop
//! the metric name, so `max(max_over_time({__name__=~'cpu_(a|b)', …}[1m])) by (__name__)`
//! fails with "vector cannot contain metrics with the same labelset" once two metrics of one
//! host meet; VictoriaMetrics 1.79 keeps the name and answers per metric, and so does Floe
//! with `--query-delayed-name-removal` (Prometheus 3's semantics), which the benchmark uses.
//! The `/per-metric` form asks per metric and labels each answer instead:
//! `label_replace(max(max_over_time(cpu_a{…}[1m])), "metric", "cpu_a", "", "") or …` — the
//! same samples read, the same aggregation, valid in all three systems.

use super::super::tsbs::{KINDS, Kind, Query, Rng, generate};
use floe_datagen::METRIC_NAMES;

/// One query type: its name and its queries (the first is the untimed warm-up).
#[derive(Debug, Clone)]
pub struct QueryType {
    pub name: String,
    pub queries: Vec<Query>,
}

/// Every type, with `reps + 1` queries each, over data covering `[start_s, end_s)`.
pub fn query_set(reps: usize, start_s: i64, end_s: i64, hosts: u32) -> Vec<QueryType> {
    let mut rng = Rng::new(0x5eed_7585);
    let tsbs: Vec<QueryType> = KINDS
        .iter()
        .map(|k| QueryType {
            name: k.name.to_string(),
            queries: (0..=reps)
                .map(|_| generate(k, start_s, end_s, hosts, &mut rng))
                .collect(),
        })
        .collect();
    let per_metric: Vec<QueryType> = KINDS
        .iter()
        .zip(&tsbs)
        .filter(|(k, _)| k.metrics > 1)
        .map(|(k, t)| QueryType {
            name: format!("{}/per-metric", k.name),
            queries: t.queries.iter().map(|q| per_metric_form(k, q)).collect(),
        })
        .collect();
    tsbs.into_iter().chain(per_metric).collect()
}

/// `q` asked once per metric, each answer labelled `metric="<name>"`, joined with `or`.
fn per_metric_form(kind: &Kind, q: &Query) -> Query {
    let hosts = q
        .promql
        .split_once("hostname=~'")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(h, _)| format!("hostname=~'{h}'"));
    let template = kind
        .template
        .replace(" by (__name__)", "")
        .replace("by (__name__, hostname)", "by (hostname)");
    let parts: Vec<String> = METRIC_NAMES[..kind.metrics]
        .iter()
        .map(|m| {
            let selector = match &hosts {
                Some(h) => format!("{m}{{{h}}}"),
                None => m.to_string(),
            };
            format!(
                "label_replace({}, \"metric\", \"{m}\", \"\", \"\")",
                template.replace("{}", &selector)
            )
        })
        .collect();
    Query {
        promql: parts.join(" or "),
        ..q.clone()
    }
}
