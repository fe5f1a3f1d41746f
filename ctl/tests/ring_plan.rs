//! `floectl ring plan` end to end: the real binary reads a topology, writes the next one and
//! prints what moves. Placement is a pure function of the topology, so every figure here is
//! deterministic; the tests print them (`--nocapture`) and check the properties `floe-ring`
//! promises (only a joining node gains, only a leaving node loses, moved ≤ 1.1 × ideal).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use floe_ring::Topology;
use serde_json::Value;

const ENV: &[&str] = &[
    "FLOE_RING_TOPOLOGY",
    "FLOE_RING_REMOVE",
    "FLOE_RING_REWEIGHT",
    "FLOE_RING_OUT",
    "FLOE_RING_FORCE",
    "FLOE_RING_JSON",
    "FLOE_RING_SAMPLES_PER_NODE",
    "FLOE_RING_BYTES_PER_NODE",
];

fn floectl_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_floectl"));
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd.args(args).envs(env.iter().copied());
    cmd.output().expect("run floectl")
}

fn floectl(args: &[&str]) -> Output {
    floectl_env(args, &[])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a plan with `--json` that must succeed and returns the JSON object.
fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["ring", "plan", "--json"];
    all.extend_from_slice(args);
    let out = floectl(&all);
    assert!(
        out.status.success(),
        "floectl {all:?} failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// Writes a topology of nodes `(id, zone, weight)`, node i at 10.0.0.i.
fn write_topology(dir: &Path, name: &str, n: u32, nodes: &[(&str, &str, u32)]) -> PathBuf {
    let mut text = format!("cluster = \"test\"\nversion = 5\nreplication_factor = {n}\n");
    for (i, (id, zone, weight)) in nodes.iter().enumerate() {
        let ip = format!("10.0.0.{}", i + 1);
        text.push_str(&format!(
            "\n[[nodes]]\nid = \"{id}\"\nzone = \"{zone}\"\nweight = {weight}\n\
             quic_addr = \"{ip}:7400\"\nhttp_addr = \"{ip}:8080\"\n"
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write topology");
    path
}

fn read_topology(path: &Path) -> Topology {
    Topology::parse(&std::fs::read_to_string(path).expect("read new topology"))
        .expect("new topology parses")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number in {v}"))
}

/// `(id, gained_fraction, lost_fraction)` of every node.
fn moves(plan: &Value) -> Vec<(String, f64, f64)> {
    let nodes = plan["nodes"].as_array().expect("nodes is an array");
    nodes
        .iter()
        .map(|n| {
            let id = n["id"].as_str().expect("id").to_owned();
            (id, f(n, "gained_fraction"), f(n, "lost_fraction"))
        })
        .collect()
}

fn print_figures(what: &str, plan: &Value) {
    println!(
        "{what}: moved {:.4}, ideal {:.4}, moved/ideal {}, needed {:.4}, balance {:.3} -> {:.3}",
        f(plan, "moved_fraction"),
        f(plan, "ideal_fraction"),
        plan["moved_to_ideal"],
        f(plan, "needed_fraction"),
        f(&plan["balance_before"], "replica_max_over_mean"),
        f(&plan["balance_after"], "replica_max_over_mean"),
    );
}

const ONE_ZONE: &[(&str, &str, u32)] = &[("n1", "a", 1), ("n2", "a", 1), ("n3", "a", 1)];
const THREE_ZONES: &[(&str, &str, u32)] = &[("n1", "a", 1), ("n2", "b", 1), ("n3", "c", 1)];
const ADD_N4: &[&str] = &[
    "--add",
    "n4",
    "--quic",
    "10.0.0.4:7400",
    "--http",
    "10.0.0.4:8080",
];

#[test]
fn adding_a_node_moves_data_only_to_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (n, nodes, zone) in [
        (3, THREE_ZONES, "d"),
        (3, ONE_ZONE, "a"),
        (2, ONE_ZONE, "a"),
    ] {
        let current = write_topology(tmp.path(), &format!("add-{n}-{zone}.toml"), n, nodes);
        let mut args = vec!["--topology", current.to_str().expect("utf-8 path")];
        args.extend_from_slice(ADD_N4);
        args.extend(["--zone", zone]);
        let plan = plan_json(&args);
        print_figures(&format!("add n4 to 3 nodes, N = {n}, zone {zone}"), &plan);

        let out = PathBuf::from(plan["out"].as_str().expect("out"));
        assert_eq!(out, tmp.path().join(format!("add-{n}-{zone}.v6.toml")));
        let new = read_topology(&out);
        assert_eq!(new.version(), 6);
        assert_eq!(plan["version_after"], 6);
        assert_eq!(new.node("n4").map(|n| n.zone.as_str()), Some(zone));
        assert_eq!(plan["content_hash_after"], new.content_hash().to_string());

        for (id, gained, lost) in moves(&plan) {
            if id == "n4" {
                assert!(
                    gained > 0.0 && lost == 0.0,
                    "n4 gains only: {gained} {lost}"
                );
                assert!((gained - f(&plan, "moved_fraction")).abs() < 1e-12);
            } else {
                assert_eq!(gained, 0.0, "{id} gains nothing");
            }
        }
        let ratio = f(&plan, "moved_to_ideal");
        assert!(ratio <= 1.1, "moved / ideal = {ratio}");
        assert_eq!(plan["within_target"], true);
        assert!((f(&plan, "moved_to_needed") - 1.0).abs() < 1e-9);
        assert_eq!(plan["ideal_is_lower_bound"], false);
    }
}

#[test]
fn the_ideal_for_a_join_follows_the_zones() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let current = write_topology(tmp.path(), "t.toml", 3, THREE_ZONES);
    let mut args = vec!["--topology", current.to_str().expect("utf-8 path")];
    args.extend_from_slice(ADD_N4);
    // A fourth zone: n4 takes a fair quarter of all copies.
    let mut own_zone = args.clone();
    own_zone.extend(["--zone", "d", "--out"]);
    let out_d = tmp.path().join("d.toml");
    own_zone.push(out_d.to_str().expect("utf-8 path"));
    let plan = plan_json(&own_zone);
    assert!((f(&plan, "ideal_fraction") - 0.25).abs() < 1e-9);
    // Zone a: one copy per zone, so n4 shares a's third with n1.
    args.extend(["--zone", "a"]);
    let plan = plan_json(&args);
    print_figures("add n4 to zone a of 3 zones, N = 3", &plan);
    assert!((f(&plan, "ideal_fraction") - 1.0 / 6.0).abs() < 1e-9);
    assert!((f(&plan, "weight_only_ideal_fraction") - 0.25).abs() < 1e-9);
    assert!(f(&plan, "moved_to_ideal") <= 1.1);
}

#[test]
fn removing_a_node_moves_only_its_data() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let four = &[
        ("n1", "a", 1),
        ("n2", "a", 1),
        ("n3", "b", 1),
        ("n4", "b", 1),
    ];
    let current = write_topology(tmp.path(), "four.toml", 2, four);
    let plan = plan_json(&[
        "--topology",
        current.to_str().expect("utf-8 path"),
        "--remove",
        "n2",
    ]);
    print_figures("remove n2 of 4 nodes in 2 zones, N = 2", &plan);
    let new = read_topology(&tmp.path().join("four.v6.toml"));
    assert!(new.node("n2").is_none());
    assert_eq!(new.nodes().len(), 3);
    for (id, gained, lost) in moves(&plan) {
        if id == "n2" {
            assert!(lost > 0.0 && gained == 0.0);
            assert!((lost - f(&plan, "moved_fraction")).abs() < 1e-12);
        } else {
            assert_eq!(lost, 0.0, "{id} loses nothing");
        }
    }
    // The forced bound is exactly the leaving node's copies, and that is what moves.
    assert!((f(&plan, "forced_fraction") - f(&plan, "moved_fraction")).abs() < 1e-12);
    assert!(f(&plan, "moved_to_ideal") <= 1.1);
}

#[test]
fn reweighting_moves_data_to_the_heavier_node_only() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let current = write_topology(tmp.path(), "t.toml", 2, ONE_ZONE);
    let path = current.to_str().expect("utf-8 path");
    let plan = plan_json(&["--topology", path, "--reweight", "n1=2"]);
    print_figures("reweight n1 1 -> 2 of 3 nodes, N = 2", &plan);
    for (id, gained, lost) in moves(&plan) {
        match id.as_str() {
            "n1" => assert!(gained > 0.0 && lost == 0.0),
            _ => assert_eq!(gained, 0.0, "{id} gains nothing"),
        }
    }
    // Fair shares 1/3 -> 1/2 (the one-copy cap at N = 2): the ideal is 1/6.
    assert!((f(&plan, "ideal_fraction") - 1.0 / 6.0).abs() < 1e-9);
    assert!((f(&plan, "moved_to_needed") - 1.0).abs() < 1e-9);
    let new = read_topology(&tmp.path().join("t.v6.toml"));
    assert_eq!(new.node("n1").map(|n| n.weight), Some(2));
    // Back down: data moves away from n1 only.
    let out = tmp.path().join("down.toml");
    let plan = plan_json(&[
        "--topology",
        tmp.path().join("t.v6.toml").to_str().expect("utf-8 path"),
        "--reweight",
        "n1=1",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    print_figures("reweight n1 2 -> 1", &plan);
    assert_eq!(read_topology(&out).version(), 7);
    for (id, _, lost) in moves(&plan) {
        if id != "n1" {
            assert_eq!(lost, 0.0, "{id} loses nothing");
        }
    }
}

#[test]
fn a_zone_change_is_planned_against_a_lower_bound() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let four = &[
        ("n1", "a", 1),
        ("n2", "a", 1),
        ("n3", "b", 1),
        ("n4", "b", 1),
    ];
    let current = write_topology(tmp.path(), "z.toml", 2, four);
    let path = current.to_str().expect("utf-8 path");
    let plan = plan_json(&["--topology", path, "--zone", "n4=a"]);
    print_figures("move n4 from zone b to a, 4 nodes, N = 2", &plan);
    assert_eq!(plan["zone_change"], true);
    assert_eq!(plan["ideal_is_lower_bound"], true);
    // n3 is alone in zone b and must hold a copy of everything: half of all copies.
    let n3 = &plan["nodes"][2];
    assert_eq!(n3["id"], "n3");
    assert!((f(n3, "share_after") - 0.5).abs() < 1e-12);
    assert!((f(&plan, "share_increase_fraction") - 0.25).abs() < 1e-9);
    assert!(f(&plan, "moved_fraction") >= f(&plan, "needed_fraction") - 1e-12);
    assert!(f(&plan, "needed_fraction") >= f(&plan, "forced_fraction") - 1e-12);
    let new = read_topology(&tmp.path().join("z.v6.toml"));
    assert_eq!(new.node("n4").map(|n| n.zone.as_str()), Some("a"));
}

#[test]
fn text_output_reports_nodes_totals_and_estimates() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let current = write_topology(tmp.path(), "t.toml", 3, THREE_ZONES);
    let mut args = vec![
        "ring",
        "plan",
        "--topology",
        current.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(ADD_N4);
    args.extend([
        "--zone",
        "d",
        "--samples-per-node",
        "3000000",
        "--bytes-per-node",
        "1000000000",
    ]);
    let out = floectl(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    println!("{text}");
    for needle in [
        "version 5 -> 6, N = 3",
        "add n4: zone d, weight 1",
        "wrote ",
        "samples+",
        "bytes+",
        "moved:",
        "ideal:   25.00 %",
        "ratio:   moved / ideal = ",
        "(target <= 1.1: met)",
        "balance: max/mean replica load 1.000 -> ",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let n4 = text
        .lines()
        .find(|l| l.starts_with("n4 "))
        .expect("a row for n4");
    assert!(n4.contains("added"), "{n4}");
}

#[test]
fn estimates_scale_the_fractions() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let current = write_topology(tmp.path(), "t.toml", 2, ONE_ZONE);
    let path = current.to_str().expect("utf-8 path");
    let mut args = vec!["--topology", path, "--samples-per-node", "1000000"];
    args.extend(["--bytes-per-node", "2000000"]);
    args.extend_from_slice(ADD_N4);
    args.extend(["--zone", "a"]);
    let plan = plan_json(&args);
    // 3 nodes × 1,000,000 samples: n4 gains its fraction of 3,000,000.
    let n4 = &plan["nodes"][3];
    let expected = (3_000_000.0 * f(n4, "gained_fraction")).round();
    assert_eq!(f(n4, "samples_gained"), expected);
    assert_eq!(
        f(n4, "bytes_gained"),
        (6_000_000.0 * f(n4, "gained_fraction")).round()
    );
    assert_eq!(f(&plan, "moved_samples"), expected);
}

#[test]
fn invalid_changes_exit_2_naming_the_problem() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let current = write_topology(tmp.path(), "t.toml", 2, ONE_ZONE);
    let path = current.to_str().expect("utf-8 path");
    let base = ["ring", "plan", "--topology", path];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--remove", "n9"],
            "--remove n9: no node \"n9\" in the current topology",
        ),
        (&["--reweight", "n9=2"], "--reweight n9: no node \"n9\""),
        (&["--zone", "n9=b"], "--zone n9: no node \"n9\""),
        (
            &[
                "--add",
                "n2",
                "--quic",
                "10.0.0.9:7400",
                "--http",
                "10.0.0.9:8080",
                "--zone",
                "a",
            ],
            "duplicate node id \"n2\"",
        ),
        (
            &[
                "--add",
                "n4",
                "--quic",
                "10.0.0.4",
                "--http",
                "10.0.0.4:8080",
                "--zone",
                "a",
            ],
            "node \"n4\": quic_addr \"10.0.0.4\" is invalid",
        ),
        (
            &[
                "--add",
                "n4",
                "--quic",
                "10.0.0.1:7400",
                "--http",
                "10.0.0.4:8080",
                "--zone",
                "a",
            ],
            "quic_addr 10.0.0.1:7400 is already used as quic_addr of node \"n1\"",
        ),
        (
            &["--add", "n4", "--quic", "10.0.0.4:7400", "--zone", "a"],
            "missing --http ADDR",
        ),
        (&["--quic", "10.0.0.4:7400"], "must follow --add ID"),
        (&["--reweight", "n1=0"], "node \"n1\": weight must be > 0"),
        (
            &["--remove", "n1", "--reweight", "n1=2"],
            "cannot both apply",
        ),
        (
            &["--remove", "n1", "--remove", "n2"],
            "replication factor 2 exceeds node count 1",
        ),
        (&[], "nothing to plan"),
    ];
    for (extra, needle) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = floectl(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{extra:?}: {}", stderr(&out));
    }
    // Nothing was written by any of them.
    let files = std::fs::read_dir(tmp.path()).expect("list").count();
    assert_eq!(files, 1, "only the current topology");

    // A broken current topology: floe-ring's message, with the file's path.
    let broken = tmp.path().join("broken.toml");
    std::fs::write(&broken, "cluster = \"x\"\nversion = 1\nreplicas = 2\n").expect("write");
    let out = floectl(&[
        "ring",
        "plan",
        "--topology",
        broken.to_str().expect("utf-8"),
        "--remove",
        "n1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("broken.toml: topology TOML, line 3"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_existing_output_is_kept_without_force() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let current = write_topology(tmp.path(), "t.toml", 2, ONE_ZONE);
    let path = current.to_str().expect("utf-8 path");
    let out = tmp.path().join("t.v6.toml");
    std::fs::write(&out, "keep me").expect("write");
    let run = floectl(&["ring", "plan", "--topology", path, "--remove", "n3"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("refusing to overwrite"),
        "{}",
        stderr(&run)
    );
    assert!(stderr(&run).contains("t.v6.toml"), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "keep me");

    let run = floectl(&[
        "ring",
        "plan",
        "--topology",
        path,
        "--remove",
        "n3",
        "--force",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(read_topology(&out).nodes().len(), 2);
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn flags_can_come_from_the_environment() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let current = write_topology(tmp.path(), "t.toml", 1, ONE_ZONE);
    let out = tmp.path().join("env.toml");
    let env = [
        ("FLOE_RING_TOPOLOGY", current.to_str().expect("utf-8 path")),
        ("FLOE_RING_REMOVE", "n2,n3"),
        ("FLOE_RING_OUT", out.to_str().expect("utf-8 path")),
        ("FLOE_RING_JSON", "true"),
        ("FLOE_RING_SAMPLES_PER_NODE", "100"),
    ];
    let run = floectl_env(&["ring", "plan"], &env);
    assert!(run.status.success(), "{}", stderr(&run));
    let plan: Value = serde_json::from_slice(&run.stdout).expect("JSON");
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(2));
    assert!(plan["moved_samples"].is_number());
    let new = read_topology(&out);
    assert_eq!(new.nodes().len(), 1);
    // Flags win over the environment.
    let run = floectl_env(&["ring", "plan", "--remove", "n3"], &env[..2]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        read_topology(&tmp.path().join("t.v6.toml")).nodes().len(),
        2
    );
}
