//! Test vectors that pin the hash functions, the canonical encoding and the placement rule.
//!
//! Placement must never change silently: if one of these fails, data would move or a cluster
//! would split. The token and content-hash values were cross-checked with Python's `xxhash`
//! package (`xxh3_64_intdigest`, `xxh3_128_hexdigest`, seed 0) over the bytes of docs/ring.md.

mod naive;

use floe_ring::{Ring, Topology, token_hash};
use naive::node;

#[test]
fn token_hash_vectors() {
    assert_eq!(token_hash("n1", 0), 0xdd7e_8c83_2f41_faf7);
    assert_eq!(token_hash("n1", 1), 0xd45f_5117_d959_4e73);
    assert_eq!(token_hash("node-042", 511), 0xf2fc_3d1e_69c4_24a7);
    assert_eq!(token_hash("zürich-7", 3), 0xa336_ce52_88c1_f70c);
}

/// Nodes `a` (zone z1, weight 2), `b` (z2), `c` (z1); N = 2, 4 vnodes per weight.
fn small() -> Topology {
    let nodes = vec![
        node("b", "z2", 1, 2),
        node("a", "z1", 2, 1),
        node("c", "z1", 1, 3),
    ];
    Topology::new("vec", 3, 2, 4, nodes).unwrap()
}

const SMALL_CANONICAL: &str = concat!(
    "464c4f45544f504f",                                           // "FLOETOPO"
    "01000000",                                                   // encoding version 1
    "03000000766563",                                             // cluster "vec"
    "0300000000000000",                                           // version 3
    "02000000",                                                   // replication factor 2
    "04000000",                                                   // vnodes per weight 4
    "03000000",                                                   // 3 nodes, sorted by id:
    "0100000061020000007a3102000000040a000001e81c040a000001901f", // a, z1, 2, 10.0.0.1:7400, :8080
    "0100000062020000007a3201000000040a000002e81c040a000002901f", // b, z2, 1, 10.0.0.2
    "0100000063020000007a3101000000040a000003e81c040a000003901f", // c, z1, 1, 10.0.0.3
);

#[test]
fn canonical_encoding_and_content_hash_vectors() {
    let t = small();
    let hex: String = t
        .canonical_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, SMALL_CANONICAL);
    assert_eq!(
        t.content_hash().0,
        0xd07e_405e_6c25_124d_74f0_9948_419d_6c52
    );
    assert_eq!(
        t.content_hash().to_string(),
        "d07e405e6c25124d74f09948419d6c52"
    );
}

#[test]
fn placement_vector() {
    let ring = Ring::new(&small());
    let expected: [(u64, [&str; 2]); 16] = [
        (0x2f65_6063_52d3_0c5b, ["a", "b"]),
        (0x332d_8fde_1248_25df, ["a", "b"]),
        (0x35d0_5ca8_503c_5d20, ["c", "b"]),
        (0x525a_59ee_ce60_e112, ["b", "a"]),
        (0x5f71_5e5a_94d2_b000, ["a", "b"]),
        (0x710b_fb58_24e7_e469, ["c", "b"]),
        (0x74ba_415c_79cb_a71b, ["b", "a"]),
        (0x83d4_f4f3_049f_9337, ["a", "b"]),
        (0x9812_3f6c_ec13_a4c3, ["a", "b"]),
        (0xa6ba_b556_3d54_9a44, ["a", "b"]),
        (0xc325_9df6_9d64_fb9d, ["a", "b"]),
        (0xca03_b52e_f339_b2b6, ["b", "c"]),
        (0xdfac_5130_6747_8924, ["b", "c"]),
        (0xeea5_7a95_b364_a585, ["c", "b"]),
        (0xefc2_4b36_7bdf_15ad, ["c", "b"]),
        (0xfdd1_e911_2dca_61a0, ["a", "b"]),
    ];
    assert_eq!(ring.segment_count(), expected.len());
    for ((range, owners), (end, ids)) in ring.ranges().zip(expected) {
        assert_eq!(range.end, end);
        let got: Vec<&str> = owners.iter().map(|&i| ring.node_id(i)).collect();
        assert_eq!(got, ids, "segment ending at {end:#x}");
    }
    // Positions past the last token wrap to the first segment; a token belongs to its own.
    assert_eq!(ring.segment_of(u64::MAX), 0);
    assert_eq!(ring.segment_of(0), 0);
    assert_eq!(ring.segment_of(0x2f65_6063_52d3_0c5b), 0);
    assert_eq!(ring.segment_of(0x2f65_6063_52d3_0c5c), 1);
}
