//! `floe-jepsen`: runs fault-injection scenarios against real `floed` processes.
//!
//! ```text
//! floe-jepsen run --nemesis kill,partition --seed 7 [--nodes 3] [--time-limit 60]
//! floe-jepsen smoke                      # kill + partition, 3 nodes, 30 s (CI)
//! floe-jepsen matrix --seeds 1,2,3       # every nemesis and a combined one, per seed
//! ```
//!
//! Each run writes `history.jsonl`, `results.json`, `timeline.png` and the node logs into its
//! own directory (default under `target/jepsen/`), prints one line per checker and, last, a
//! JSON summary. Exit status: 0 valid, 1 a checker failed, 2 the run could not be carried out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use floe_jepsen::nemesis::{self, Kind};
use floe_jepsen::run::{self, Scenario};
use floe_jepsen::{matrix, net};

#[derive(Parser, Debug)]
#[command(name = "floe-jepsen", about = "Floe's fault-injection suite", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Run in the current network namespace instead of a new one (no partition nemesis).
    #[arg(long, global = true)]
    no_netns: bool,
    /// Directory for the runs' reports (default: target/jepsen in the workspace).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
struct Shape {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Replication factor.
    #[arg(long, default_value_t = 3)]
    replication: u32,
    /// Seconds of workload under faults.
    #[arg(long, default_value_t = 60.0)]
    time_limit: f64,
}

/// One scenario's faults: which nemeses, which seed, what cluster.
#[derive(clap::Args, Debug, Clone)]
struct Plan {
    /// Nemeses to combine, comma-separated: kill, pause, partition, clock, disk, rebalance,
    /// mirror (empty: none).
    #[arg(long, default_value = "kill,partition")]
    nemesis: String,
    /// Seed of the fault schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    shape: Shape,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One scenario.
    Run(Plan),
    /// The CI smoke scenario: kill + partition on 3 nodes for 30 s.
    Smoke {
        /// Seed of the fault schedule.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// The full matrix: each nemesis alone and all but rebalance and mirror combined, for
    /// each seed; prints `N passed, M failed`.
    Matrix {
        /// Seeds, comma-separated.
        #[arg(long, default_value = "1,2,3")]
        seeds: String,
        /// Only these scenarios (names as printed, e.g. `kill,combined`).
        #[arg(long)]
        only: Option<String>,
        #[command(flatten)]
        shape: Shape,
    },
    /// Prints the fault schedule a seed gives, without running anything.
    Schedule(Plan),
}

fn kinds(list: &str) -> anyhow::Result<Vec<Kind>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Kind::parse)
        .collect()
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("floe-jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<u8> {
    let cli = Cli::parse();
    if let Command::Schedule(Plan {
        nemesis,
        seed,
        shape,
    }) = &cli.command
    {
        for line in run::describe(&nemesis::schedule(
            &kinds(nemesis)?,
            *seed,
            shape.nodes,
            shape.time_limit,
        )) {
            println!("{line}");
        }
        return Ok(0);
    }
    if !cli.no_netns && !net::in_private_netns() {
        anyhow::ensure!(
            net::is_root(),
            "floe-jepsen runs each scenario in a network namespace of its own, which needs \
             root; run as root or pass --no-netns (then without the partition nemesis)"
        );
        anyhow::ensure!(
            net::can_unshare(),
            "`unshare --net true` failed: this machine does not let the run make a network \
             namespace (an unprivileged container?); pass --no-netns to run without the \
             partition nemesis"
        );
        // Build or find floed here: the namespace has no network for cargo.
        let floed = floe_tests::floed_bin()?;
        let code = net::reexec_in_private_netns(&[(
            floe_tests::FLOED_BIN_ENV,
            floed.to_string_lossy().into_owned(),
        )])?;
        return Ok(u8::try_from(code).unwrap_or(2));
    }
    if net::in_private_netns() {
        net::loopback_up()?;
    }
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| floe_tests::workspace_root().join("target").join("jepsen"));
    match cli.command {
        Command::Run(Plan {
            nemesis,
            seed,
            shape,
        }) => {
            let mut s = Scenario::new(kinds(&nemesis)?, seed);
            apply(&mut s, &shape);
            one(&s, &out, cli.no_netns)
        }
        Command::Smoke { seed } => {
            let mut s = Scenario::new(vec![Kind::Kill, Kind::Partition], seed);
            s.time_limit_s = 30.0;
            one(&s, &out, cli.no_netns)
        }
        Command::Matrix { seeds, only, shape } => {
            let seeds: Vec<u64> = seeds
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .context("--seeds: comma-separated integers")
                })
                .collect::<anyhow::Result<_>>()?;
            let mut scenarios = matrix::scenarios(&seeds);
            if let Some(only) = only {
                let names: Vec<&str> = only.split(',').map(str::trim).collect();
                scenarios.retain(|(label, _)| names.contains(&label.as_str()));
            }
            for (_, s) in &mut scenarios {
                apply(s, &shape);
            }
            matrix::run_all(&scenarios, &out)
        }
        Command::Schedule(_) => Ok(0),
    }
}

fn apply(s: &mut Scenario, shape: &Shape) {
    s.nodes = shape.nodes;
    s.replication = shape.replication;
    s.time_limit_s = shape.time_limit;
}

fn one(s: &Scenario, out: &Path, no_netns: bool) -> anyhow::Result<u8> {
    anyhow::ensure!(
        !(no_netns && s.kinds.contains(&Kind::Partition)),
        "the partition nemesis needs the run's own network namespace (drop --no-netns)"
    );
    let r = run::run(s, &matrix::run_dir(out, s))?;
    matrix::print_run(&r);
    Ok(if r.valid { 0 } else { 1 })
}
