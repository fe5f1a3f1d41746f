//! The plan as text for an operator, or as one JSON object for scripts.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Planned;
use super::changes::Change;
use super::plan::{BalanceSummary, NodeMove, Plan, TARGET_RATIO};

impl Planned {
    /// The plan as an operator reads it: changes, a table per node, then the totals.
    pub fn to_text(&self) -> String {
        let p = &self.plan;
        let mut out = format!(
            "ring plan for cluster {:?}: version {} -> {}, N = {}, {} vnodes per unit of weight\n",
            p.cluster, p.version_before, p.version_after, p.replication_factor, p.vnodes_per_weight
        );
        for change in &p.changes {
            let _ = writeln!(out, "  {}", describe(change));
        }
        let _ = writeln!(
            out,
            "wrote {} (version {}, content hash {})\n",
            self.out.display(),
            p.version_after,
            p.hash_after
        );
        out.push_str(&node_table(p));
        out.push('\n');
        out.push_str(&totals(p));
        out
    }

    /// The plan as one JSON object (fractions of all copies as numbers in 0..=1).
    pub fn to_json(&self) -> Value {
        let p = &self.plan;
        json!({
            "cluster": p.cluster,
            "replication_factor": p.replication_factor,
            "vnodes_per_weight": p.vnodes_per_weight,
            "version_before": p.version_before,
            "version_after": p.version_after,
            "content_hash_before": p.hash_before.to_string(),
            "content_hash_after": p.hash_after.to_string(),
            "out": self.out.display().to_string(),
            "changes": p.changes.iter().map(change_json).collect::<Vec<_>>(),
            "nodes": p.nodes.iter().map(|n| node_json(p, n)).collect::<Vec<_>>(),
            "changed_ranges": p.changed_ranges,
            "changed_position_fraction": p.changed_fraction,
            "moved_fraction": p.moved_fraction,
            "moved_samples": estimate(p.total_samples(), p.moved_fraction),
            "moved_bytes": estimate(p.total_bytes(), p.moved_fraction),
            "ideal_fraction": p.ideal.fraction,
            "ideal_is_lower_bound": p.ideal.is_lower_bound(),
            "share_increase_fraction": p.ideal.share_increase,
            "weight_only_ideal_fraction": p.ideal.weight_only,
            "forced_fraction": p.ideal.forced,
            "zone_change": p.ideal.zone_change,
            "moved_to_ideal": p.ratio(),
            "needed_fraction": p.ideal.needed,
            "moved_to_needed": p.needed_ratio(),
            "target_ratio": TARGET_RATIO,
            "within_target": p.within_target(),
            "balance_before": balance_json(&p.balance_before),
            "balance_after": balance_json(&p.balance_after),
        })
    }
}

fn describe(change: &Change) -> String {
    match change {
        Change::Add(n) => format!(
            "add {}: zone {}, weight {}, quic {}, http {}",
            n.id, n.zone, n.weight, n.quic_addr, n.http_addr
        ),
        Change::Remove(id) => format!("remove {id}"),
        Change::Reweight { id, weight } => format!("reweight {id} to {weight}"),
        Change::Zone { id, zone } => format!("move {id} to zone {zone}"),
    }
}

/// `a`, `a -> b`, or the one side a joining or leaving node has.
fn before_after<T: PartialEq + ToString>(before: &Option<T>, after: &Option<T>) -> String {
    match (before, after) {
        (Some(b), Some(a)) if b != a => format!("{} -> {}", b.to_string(), a.to_string()),
        (Some(v), _) | (None, Some(v)) => v.to_string(),
        (None, None) => String::new(),
    }
}

fn node_table(p: &Plan) -> String {
    let mut header = vec![
        "node",
        "state",
        "zone",
        "weight",
        "share",
        "new share",
        "ranges+",
        "ranges-",
        "gained",
        "lost",
    ];
    if p.estimates.samples_per_node.is_some() {
        header.extend(["samples+", "samples-"]);
    }
    if p.estimates.bytes_per_node.is_some() {
        header.extend(["bytes+", "bytes-"]);
    }
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for n in &p.nodes {
        let mut row = vec![
            n.id.clone(),
            n.state().to_owned(),
            before_after(&n.zone_before, &n.zone_after),
            before_after(&n.weight_before, &n.weight_after),
            share(n.zone_before.is_some(), n.share_before),
            share(n.zone_after.is_some(), n.share_after),
            n.ranges_gained.to_string(),
            n.ranges_lost.to_string(),
            percent(n.gained),
            percent(n.lost),
        ];
        if let Some(total) = p.total_samples() {
            row.extend([count(total * n.gained), count(total * n.lost)]);
        }
        if let Some(total) = p.total_bytes() {
            row.extend([bytes(total * n.gained), bytes(total * n.lost)]);
        }
        rows.push(row);
    }
    table(&rows, 4)
}

/// Columns padded to their widest cell; the first `left` columns left-aligned, others right.
fn table(rows: &[Vec<String>], left: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..columns)
        .map(|c| {
            let cells = rows.iter().filter_map(|r| r.get(c));
            cells.map(|s| s.chars().count()).max().unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c < left {
                    format!("{s:<w$}", w = width[c])
                } else {
                    format!("{s:>w$}", w = width[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn totals(p: &Plan) -> String {
    let mut out = format!(
        "moved:   {} of all copies ({} changed ranges; the owner set changes on {} of the ring)\n",
        percent(p.moved_fraction),
        p.changed_ranges,
        percent(p.changed_fraction)
    );
    let volumes: Vec<String> = [
        p.total_samples()
            .map(|t| count(t * p.moved_fraction) + " samples"),
        p.total_bytes().map(|t| bytes(t * p.moved_fraction)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !volumes.is_empty() {
        let _ = writeln!(
            out,
            "         about {} (data spread evenly over positions)",
            volumes.join(", ")
        );
    }
    out.push_str(&ideal_lines(p));
    out.push_str(&ratio_line(p));
    out.push_str(&balance_line(&p.balance_before, &p.balance_after));
    out
}

fn ideal_lines(p: &Plan) -> String {
    let ideal = &p.ideal;
    let mut out = format!(
        "ideal:   {} (sum of the nodes' increases of fair share)\n",
        percent(ideal.share_increase)
    );
    if (ideal.weight_only - ideal.share_increase).abs() > 5e-5 {
        let _ = writeln!(
            out,
            "         weight shares alone (w / sum of w, without the one-copy-per-node and zone \
             limits) would say {}",
            percent(ideal.weight_only)
        );
    }
    if ideal.forced > 0.0 {
        let _ = writeln!(
            out,
            "         {} must move on the current ring whatever the placement (copies of leaving \
             nodes, and of ranges whose owners break the new zone rule)",
            percent(ideal.forced)
        );
    }
    if ideal.is_lower_bound() {
        let _ = writeln!(
            out,
            "         zone change: the ideal is the larger of the two, {}, a lower bound that is \
             not always attainable",
            percent(ideal.fraction)
        );
    }
    out
}

fn ratio_line(p: &Plan) -> String {
    let verdict = if p.within_target() { "met" } else { "NOT met" };
    let mut out = match p.ratio() {
        Some(ratio) => {
            format!("ratio:   moved / ideal = {ratio:.3} (target <= {TARGET_RATIO}: {verdict})\n")
        }
        None => format!("ratio:   n/a, the ideal is 0 (target: nothing moves: {verdict})\n"),
    };
    if p.ratio().is_some_and(|r| r < 0.95) {
        out.push_str(
            "         below 1: the new ring gives the gaining nodes less than their fair share \
             (see the shares and the balance)\n",
        );
    }
    let _ = write!(
        out,
        "needed:  {} between these two rings (actual share increases, or forced moves)",
        percent(p.ideal.needed)
    );
    match p.needed_ratio() {
        Some(r) => {
            let _ = writeln!(out, "; moved / needed = {r:.3}");
        }
        None => out.push('\n'),
    }
    out
}

fn balance_line(before: &BalanceSummary, after: &BalanceSummary) -> String {
    format!(
        "balance: max/mean replica load {:.3} -> {:.3} (min/mean {:.3} -> {:.3}; primaries max \
         {:.3} -> {:.3}; loads against weight-fair shares)\n",
        before.replica_max_over_mean,
        after.replica_max_over_mean,
        before.replica_min_over_mean,
        after.replica_min_over_mean,
        before.primary_max_over_mean,
        after.primary_max_over_mean,
    )
}

fn change_json(change: &Change) -> Value {
    match change {
        Change::Add(n) => json!({
            "op": "add", "node": n.id, "zone": n.zone, "weight": n.weight,
            "quic_addr": n.quic_addr.to_string(), "http_addr": n.http_addr.to_string(),
        }),
        Change::Remove(id) => json!({ "op": "remove", "node": id }),
        Change::Reweight { id, weight } => {
            json!({ "op": "reweight", "node": id, "weight": weight })
        }
        Change::Zone { id, zone } => json!({ "op": "zone", "node": id, "zone": zone }),
    }
}

/// `total × fraction`, rounded to a whole number of samples or bytes.
fn estimate(total: Option<f64>, fraction: f64) -> Option<u64> {
    total.map(|t| (t * fraction).round() as u64)
}

fn node_json(p: &Plan, n: &NodeMove) -> Value {
    json!({
        "id": n.id,
        "state": n.state(),
        "zone_before": n.zone_before,
        "zone_after": n.zone_after,
        "weight_before": n.weight_before,
        "weight_after": n.weight_after,
        "share_before": n.share_before,
        "share_after": n.share_after,
        "ranges_gained": n.ranges_gained,
        "ranges_lost": n.ranges_lost,
        "gained_fraction": n.gained,
        "lost_fraction": n.lost,
        "samples_gained": estimate(p.total_samples(), n.gained),
        "samples_lost": estimate(p.total_samples(), n.lost),
        "bytes_gained": estimate(p.total_bytes(), n.gained),
        "bytes_lost": estimate(p.total_bytes(), n.lost),
    })
}

fn balance_json(b: &BalanceSummary) -> Value {
    json!({
        "replica_max_over_mean": b.replica_max_over_mean,
        "replica_min_over_mean": b.replica_min_over_mean,
        "primary_max_over_mean": b.primary_max_over_mean,
    })
}

/// A node's share, or `-` when it is not in that topology.
fn share(present: bool, fraction: f64) -> String {
    if present {
        percent(fraction)
    } else {
        "-".to_owned()
    }
}

/// A fraction as a percentage with two decimals.
fn percent(fraction: f64) -> String {
    format!("{:.2} %", fraction * 100.0)
}

/// A count, rounded, with thousands separators.
fn count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() * 4 / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units, three significant figures or so.
fn bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = value.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{v:.0} B"),
        _ => format!("{v:.2} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.4), "999");
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.00 GiB");
        assert_eq!(percent(0.25), "25.00 %");
    }
}
