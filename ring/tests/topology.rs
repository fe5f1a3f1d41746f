//! Topology documents: the example in `docs/ring.md`, round trips, canonical encoding, and every
//! validation error with the message it prints.

mod naive;

use floe_ring::{DEFAULT_VNODES_PER_WEIGHT, MAX_TOTAL_TOKENS, RingError, Topology};
use naive::node;

const HEAD: &str = "cluster = \"c\"\nversion = 1\nreplication_factor = 2\n";

/// The first ```toml block of docs/ring.md.
fn doc_example() -> &'static str {
    let doc = include_str!("../../docs/ring.md");
    let block = doc
        .split("```toml\n")
        .nth(1)
        .expect("docs/ring.md has a toml block");
    block.split("```").next().unwrap()
}

fn node_toml(id: &str, zone: &str, host: &str) -> String {
    format!(
        "[[nodes]]\nid = \"{id}\"\nzone = \"{zone}\"\nquic_addr = \"{host}:7400\"\nhttp_addr = \"{host}:8080\"\n"
    )
}

/// A document of `HEAD` plus three ordinary nodes plus `extra`.
fn doc(extra: &str) -> String {
    let nodes: String = (1..=3)
        .map(|i| node_toml(&format!("n{i}"), "z", &format!("10.0.0.{i}")))
        .collect();
    format!("{HEAD}{nodes}{extra}")
}

fn err(text: &str) -> String {
    Topology::parse(text).unwrap_err().to_string()
}

#[test]
fn the_documented_example_parses() {
    let t = Topology::parse(doc_example()).unwrap();
    assert_eq!(t.cluster(), "floe-prod");
    assert_eq!(
        (t.version(), t.replication_factor(), t.vnodes_per_weight()),
        (7, 3, 512)
    );
    let ids: Vec<&str> = t.nodes().iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["n1", "n2", "n3", "n4", "n5", "n6"]);
    assert_eq!(t.node("n1").unwrap().weight, 2);
    assert_eq!(
        t.node("n5").unwrap().quic_addr.to_string(),
        "[fd00::3:1]:7400"
    );
    assert_eq!(Topology::parse(&t.to_toml()).unwrap(), t);
}

#[test]
fn defaults_are_filled_and_written_back() {
    let t = Topology::parse(&doc("")).unwrap();
    assert_eq!(t.vnodes_per_weight(), DEFAULT_VNODES_PER_WEIGHT);
    assert!(t.nodes().iter().all(|n| n.weight == 1));
    let written = t.to_toml();
    assert!(written.contains("vnodes_per_weight = 512"), "{written}");
    assert!(written.contains("weight = 1"), "{written}");
}

#[test]
fn canonical_encoding_ignores_layout_comments_defaults_and_order() {
    let plain = Topology::parse(&doc("")).unwrap();
    let reordered = format!(
        "# comment\nreplication_factor = 2\nvnodes_per_weight = 512\ncluster = 'c'\nversion = 0x1\n{}{}{}",
        node_toml("n3", "z", "10.0.0.3"),
        "[[nodes]]\nhttp_addr = \"10.0.0.1:8080\"\nweight = 1\nquic_addr = \"10.0.0.1:7400\"\nzone = \"z\"\nid = \"n1\"\n",
        node_toml("n2", "z", "10.0.0.2"),
    );
    let other = Topology::parse(&reordered).unwrap();
    assert_eq!(other, plain);
    assert_eq!(other.canonical_bytes(), plain.canonical_bytes());
    assert_eq!(other.content_hash(), plain.content_hash());
}

#[test]
fn every_field_changes_the_content_hash() {
    let base = Topology::parse(&doc("")).unwrap();
    let variants = [
        doc("").replace("cluster = \"c\"", "cluster = \"d\""),
        doc("").replace("version = 1", "version = 2"),
        doc("").replace("replication_factor = 2", "replication_factor = 3"),
        doc("").replace(
            "replication_factor = 2\n",
            "replication_factor = 2\nvnodes_per_weight = 511\n",
        ),
        doc("").replacen("zone = \"z\"", "zone = \"y\"", 1),
        doc("").replacen("zone = \"z\"", "zone = \"z\"\nweight = 2", 1),
        doc("").replacen("10.0.0.1:7400", "10.0.0.1:7401", 1),
        doc("").replacen("10.0.0.1:8080", "10.0.0.9:8080", 1),
        doc("").replacen("id = \"n1\"", "id = \"n0\"", 1),
    ];
    for v in variants {
        let t = Topology::parse(&v).unwrap();
        assert_ne!(t.content_hash(), base.content_hash(), "{v}");
    }
}

#[test]
fn node_errors_name_the_node() {
    let cases = [
        (
            doc(&node_toml("n2", "z", "10.0.0.9")),
            "duplicate node id \"n2\"",
        ),
        (
            doc(&format!("{}weight = 0\n", node_toml("n4", "z", "10.0.0.4"))),
            "node \"n4\": weight must be > 0",
        ),
        (
            doc(&node_toml("", "z", "10.0.0.4")),
            "node #4: id \"\" is invalid: must not be empty",
        ),
        (
            doc(&node_toml("n 4", "z", "10.0.0.4")),
            "node #4: id \"n 4\" is invalid: must not contain whitespace or control characters",
        ),
        (
            doc(&node_toml(&"x".repeat(256), "z", "10.0.0.4")),
            &format!(
                "node #4: id \"{}\" is invalid: must be at most 255 bytes",
                "x".repeat(256)
            ),
        ),
        (
            doc(&node_toml("n4", "", "10.0.0.4")),
            "node \"n4\": zone \"\" is invalid: must not be empty",
        ),
        (
            doc(&node_toml("n4", "z", "10.0.0.1")),
            "node \"n4\": quic_addr 10.0.0.1:7400 is already used as quic_addr of node \"n1\"",
        ),
        (
            doc(
                "[[nodes]]\nid = \"n4\"\nzone = \"z\"\nquic_addr = \"10.0.0.4:1\"\nhttp_addr = \"10.0.0.4:1\"\n",
            ),
            "node \"n4\": http_addr 10.0.0.4:1 is already used as quic_addr of node \"n4\"",
        ),
        (
            doc(
                "[[nodes]]\nid = \"n4\"\nzone = \"z\"\nquic_addr = \"10.0.0.4\"\nhttp_addr = \"10.0.0.4:1\"\n",
            ),
            "node \"n4\": quic_addr \"10.0.0.4\" is invalid: invalid socket address syntax",
        ),
        (
            doc(&node_toml("n4", "z", "0.0.0.0")),
            "node \"n4\": quic_addr \"0.0.0.0:7400\" is invalid: an unspecified IP (0.0.0.0 or ::) cannot be dialled",
        ),
        (
            doc(
                "[[nodes]]\nid = \"n4\"\nzone = \"z\"\nquic_addr = \"10.0.0.4:7400\"\nhttp_addr = \"10.0.0.4:0\"\n",
            ),
            "node \"n4\": http_addr \"10.0.0.4:0\" is invalid: port 0 cannot be dialled",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(err(&text), expected, "{text}");
    }
}

#[test]
fn document_errors_say_what_is_wrong() {
    let one = node_toml("n1", "z", "10.0.0.1");
    let cases = [
        (
            doc("").replace("replication_factor = 2", "replication_factor = 4"),
            "replication factor 4 exceeds node count 3".to_owned(),
        ),
        (
            doc("").replace("replication_factor = 2", "replication_factor = 0"),
            "replication factor must be > 0".to_owned(),
        ),
        (
            doc("").replace("replication_factor = 2", "replication_factor = 9"),
            "replication factor 9 exceeds the maximum 8".to_owned(),
        ),
        (
            doc("").replace("cluster = \"c\"", "cluster = \"\""),
            "cluster name \"\" is invalid: must not be empty".to_owned(),
        ),
        (
            format!("{HEAD}vnodes_per_weight = 0\n{one}"),
            "vnodes_per_weight must be > 0".to_owned(),
        ),
        (
            format!("{HEAD}nodes = []\n"),
            "topology has no nodes".to_owned(),
        ),
        (
            format!("{HEAD}{one}weight = 4294967295\n")
                .replace("replication_factor = 2", "replication_factor = 1"),
            format!(
                "topology needs 2199023255040 tokens (sum of weight × vnodes_per_weight), more than the maximum {MAX_TOTAL_TOKENS}; the heaviest node is \"n1\" with weight 4294967295"
            ),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(err(&text), expected, "{text}");
    }
}

#[test]
fn toml_errors_carry_a_location() {
    let cases = [
        (
            format!("{HEAD}replicas = 3\n"),
            "topology TOML, line 4, column 1: unknown field `replicas`",
        ),
        (
            doc("colour = \"red\"\n"),
            "topology TOML, line 19, column 1: unknown field `colour`",
        ),
        (
            doc("weight = -1\n"),
            "topology TOML, line 19, column 10: invalid value: integer `-1`, expected u32",
        ),
        (
            doc("weight = 1.5\n"),
            "topology TOML, line 19, column 10: invalid type: floating point `1.5`",
        ),
        (
            doc("[[nodes]\n"),
            "topology TOML, line 19, column 9: unclosed array table",
        ),
        (
            "version = 1\n".to_owned(),
            "topology TOML, line 1, column 1: missing field `cluster`",
        ),
        (
            format!("{HEAD}[[nodes]]\nid = \"é\"\nzone = \"z\"\n"),
            "topology TOML, line 4, column 1: missing field `quic_addr`",
        ),
    ];
    for (text, expected) in cases {
        let got = err(&text);
        assert!(
            got.starts_with(expected),
            "{text}\ngot: {got}\nwanted: {expected}…"
        );
        assert!(matches!(
            Topology::parse(&text),
            Err(RingError::Toml { .. })
        ));
    }
}

#[test]
fn hostile_sizes_are_refused_before_any_allocation() {
    let nodes = vec![node("n1", "z", u32::MAX, 1), node("n2", "z", u32::MAX, 2)];
    let e = Topology::new("c", 1, 1, u32::MAX, nodes).unwrap_err();
    // The sum saturates instead of overflowing.
    assert!(
        matches!(
            e,
            RingError::TooManyTokens {
                total: u64::MAX,
                ..
            }
        ),
        "{e}"
    );
    let e = Topology::new("c", u64::MAX, 1, 1, vec![node("n1", "z", 1, 1)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("version {} exceeds the maximum {}", u64::MAX, i64::MAX)
    );
    let fits = Topology::new("c", 1, 1, 1 << 11, vec![node("n1", "z", 1 << 11, 1)]);
    assert!(fits.is_ok(), "exactly MAX_TOTAL_TOKENS is accepted");
}

#[test]
fn unusual_names_round_trip() {
    let nodes = vec![
        node("quote\"back\\slash", "zone'1", 1, 1),
        node("zürich-7", "東京", 2, 2),
        node("#not-a-comment", "[z]", 1, 3),
    ];
    let t = Topology::new("c=1", 9, 2, 8, nodes).unwrap();
    let text = t.to_toml();
    assert_eq!(Topology::parse(&text).unwrap(), t, "{text}");
    let v6 = "[fe80::1%3]:7400";
    let scoped = doc("").replacen("10.0.0.1:7400", v6, 1);
    let t = Topology::parse(&scoped).unwrap();
    assert_eq!(t.node("n1").unwrap().quic_addr.to_string(), v6);
    assert_eq!(Topology::parse(&t.to_toml()).unwrap(), t);
}
