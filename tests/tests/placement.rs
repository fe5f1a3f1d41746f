//! Generated series placed on a ring: the identity of `floe-storage-format` feeding the
//! placement of `floe-ring`, end to end.

use std::collections::{BTreeMap, BTreeSet};

use floe_datagen::{Config, Generator, METRIC_NAMES};
use floe_ring::{Ring, Topology};
use floe_storage_format::SeriesKey;

const TOPOLOGY: &str = r#"
cluster = "placement-test"
version = 1
replication_factor = 3

[[nodes]]
id = "a1"
zone = "a"
quic_addr = "127.0.0.1:7401"
http_addr = "127.0.0.1:8401"

[[nodes]]
id = "a2"
zone = "a"
quic_addr = "127.0.0.1:7402"
http_addr = "127.0.0.1:8402"

[[nodes]]
id = "b1"
zone = "b"
quic_addr = "127.0.0.1:7403"
http_addr = "127.0.0.1:8403"

[[nodes]]
id = "b2"
zone = "b"
quic_addr = "127.0.0.1:7404"
http_addr = "127.0.0.1:8404"

[[nodes]]
id = "c1"
zone = "c"
quic_addr = "127.0.0.1:7405"
http_addr = "127.0.0.1:8405"

[[nodes]]
id = "c2"
zone = "c"
quic_addr = "127.0.0.1:7406"
http_addr = "127.0.0.1:8406"
"#;

fn keys(hosts: u32) -> Vec<SeriesKey> {
    let generator = Generator::new(Config {
        hosts,
        points: 1,
        ..Config::default()
    })
    .expect("config");
    (0..hosts)
        .flat_map(|h| {
            let tags = generator.host_tags(h);
            METRIC_NAMES
                .iter()
                .map(move |name| {
                    SeriesKey::new(*name, tags.iter().map(|(k, v)| (*k, v.as_str()))).expect("key")
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn generated_series_spread_over_zones_and_nodes() {
    let ring = Ring::new(&Topology::parse(TOPOLOGY).expect("topology"));
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    let keys = keys(500);
    for key in &keys {
        let owners: Vec<&str> = ring
            .owners(key.id().ring_position())
            .iter()
            .map(|&i| ring.node_id(i))
            .collect();
        let zones: BTreeSet<char> = owners
            .iter()
            .map(|id| id.chars().next().expect("id"))
            .collect();
        assert_eq!(
            zones.len(),
            3,
            "{key} placed on {owners:?}: one copy per zone expected"
        );
        for id in owners {
            *per_node.entry(id).or_default() += 1;
        }
    }
    let mean = (keys.len() * 3) as f64 / 6.0;
    let max = *per_node.values().max().expect("nodes") as f64;
    assert!(max / mean < 1.15, "per-node series {per_node:?}");
}

#[test]
fn placement_of_a_known_series_is_pinned() {
    // SeriesId (storage-format) → ring position → owners (ring). If this changes, every
    // stored series moves: never update it without a migration.
    let ring = Ring::new(&Topology::parse(TOPOLOGY).expect("topology"));
    let key = SeriesKey::new("cpu_usage_user", [("hostname", "host_0")]).expect("key");
    assert_eq!(key.id().ring_position(), 0x98ae_018b_703e_465d);
    let owners: Vec<&str> = ring
        .owners(key.id().ring_position())
        .iter()
        .map(|&i| ring.node_id(i))
        .collect();
    assert_eq!(owners, PINNED_OWNERS);
}
/// Also computed by an independent Python implementation of docs/ring.md (xxhash package).
const PINNED_OWNERS: [&str; 3] = ["a2", "c2", "b1"];
