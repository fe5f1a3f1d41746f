//! The full matrix: each nemesis alone, and the combined one (kill, pause, partition, clock
//! and disk together), for each seed; a summary table and the line `N passed, M failed`.

use std::path::{Path, PathBuf};

use crate::nemesis::Kind;
use crate::run::{self, RunResult, Scenario};

/// Label of the combined scenario.
pub const COMBINED: &str = "combined";

/// The matrix's scenarios for `seeds`, labelled: `kill`, `pause`, …, `combined`.
pub fn scenarios(seeds: &[u64]) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    for &seed in seeds {
        for k in crate::nemesis::ALL {
            out.push((k.name().to_string(), Scenario::new(vec![k], seed)));
        }
        let mut s = Scenario::new(
            vec![
                Kind::Kill,
                Kind::Pause,
                Kind::Partition,
                Kind::Clock,
                Kind::Disk,
            ],
            seed,
        );
        s.name = COMBINED.to_string();
        out.push((COMBINED.to_string(), s));
    }
    out
}

/// The directory of one run under `out`: `<scenario>-seed<N>-<unix seconds>`.
pub fn run_dir(out: &Path, s: &Scenario) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    out.join(format!("{}-seed{}-{now}", s.name, s.seed))
}

/// Prints one line per checker and the run's JSON summary line.
pub fn print_run(r: &RunResult) {
    if let Some(checkers) = r.results["checkers"].as_object() {
        for (name, v) in checkers {
            println!(
                "  {:<13} {:<7} {}",
                name,
                if v["valid"] == true {
                    "valid"
                } else {
                    "INVALID"
                },
                v["counts"]
            );
            for ex in v["examples"].as_array().into_iter().flatten().take(5) {
                println!("      {}", ex.as_str().unwrap_or_default());
            }
        }
    }
    println!("{}", summary_line(r));
}

/// The one-line JSON summary of a run.
pub fn summary_line(r: &RunResult) -> serde_json::Value {
    let c = &r.results["checkers"];
    serde_json::json!({
        "scenario": r.results["scenario"]["name"],
        "seed": r.results["scenario"]["seed"],
        "valid": r.valid,
        "faults": r.results["faults"].as_array().map_or(0, Vec::len),
        "acked_quorum_samples": c["acknowledged"]["counts"]["acked_quorum_samples"],
        "lost_quorum": c["acknowledged"]["counts"]["lost_quorum"],
        "lost_one": c["acknowledged"]["counts"]["lost_one"],
        "reads_ok": c["reads"]["counts"]["reads_ok"],
        "wrong_reads": c["reads"]["counts"]["wrong_reads"],
        "converged_after_s": c["convergence"]["counts"]["converged_after_s"],
        "mirror_identical_after_s": c["mirror"]["counts"]["identical_after_s"],
        "panics": c["logs"]["counts"]["panics"],
        "dir": r.dir.display().to_string(),
    })
}

/// Runs every scenario (a run that cannot be carried out counts as failed), writes
/// `summary.md` and `summary.jsonl` into `out`, prints the table and `N passed, M failed`;
/// exit status 0 when every run passed.
pub fn run_all(scenarios: &[(String, Scenario)], out: &Path) -> anyhow::Result<u8> {
    std::fs::create_dir_all(out)?;
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for (label, s) in scenarios {
        println!("== {label} seed {} ==", s.seed);
        let dir = run_dir(out, s);
        match run::run(s, &dir) {
            Ok(r) => {
                print_run(&r);
                let sum = summary_line(&r);
                if r.valid {
                    passed += 1;
                } else {
                    failed += 1;
                }
                rows.push(format!(
                    "| {label} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    s.seed,
                    if r.valid { "pass" } else { "**FAIL**" },
                    sum["faults"],
                    sum["acked_quorum_samples"],
                    sum["lost_quorum"],
                    sum["wrong_reads"],
                    sum["converged_after_s"],
                    if sum["mirror_identical_after_s"].is_null() {
                        "—".to_string()
                    } else {
                        sum["mirror_identical_after_s"].to_string()
                    },
                ));
                lines.push(sum.to_string());
            }
            Err(e) => {
                failed += 1;
                println!("  error: {e:#}");
                rows.push(format!(
                    "| {label} | {} | **ERROR** | — | — | — | — | — | — |",
                    s.seed
                ));
                lines.push(
                    serde_json::json!({"scenario": label, "seed": s.seed, "valid": false,
                        "error": format!("{e:#}"), "dir": dir.display().to_string()})
                    .to_string(),
                );
            }
        }
    }
    let mut table = String::from(
        "| scenario | seed | result | faults | acked quorum samples | lost | wrong reads | identical after heal (s) | mirror identical after (s) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        table.push_str(r);
        table.push('\n');
    }
    std::fs::write(out.join("summary.md"), &table)?;
    std::fs::write(out.join("summary.jsonl"), lines.join("\n") + "\n")?;
    println!("\n{table}");
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}
