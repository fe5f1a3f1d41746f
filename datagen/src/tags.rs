//! Host tags, chosen like TSBS's devops use case chooses them.

use crate::rng::{STREAM_TAGS, Xoshiro256};

/// The tag keys of every host, in TSBS order.
pub const TAG_KEYS: [&str; 10] = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
];

/// TSBS's regions, each with its datacenters.
const REGIONS: [(&str, &[&str]); 9] = [
    (
        "us-east-1",
        &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    ),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const TEAMS: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "test"];
const RACKS: u64 = 100;
const SERVICES: u64 = 20;
const SERVICE_VERSIONS: u64 = 2;

/// The 10 tags of `host` under `seed`, keys in [`TAG_KEYS`] order.
///
/// Draws from the host's tag stream, in TSBS's order: region, datacenter (of that region),
/// rack (0..100), arch, os, service (0..20), service_version (0..2), service_environment, team.
pub(crate) fn host_tags(seed: u64, host: u32) -> Vec<(&'static str, String)> {
    let mut rng = Xoshiro256::for_stream(seed, host, STREAM_TAGS);
    let mut pick = |n: usize| rng.below(n as u64) as usize;
    let (region, datacenters) = REGIONS[pick(REGIONS.len())];
    let datacenter = datacenters[pick(datacenters.len())];
    let rack = pick(RACKS as usize);
    let arch = ARCHES[pick(ARCHES.len())];
    let os = OSES[pick(OSES.len())];
    let service = pick(SERVICES as usize);
    let service_version = pick(SERVICE_VERSIONS as usize);
    let environment = ENVIRONMENTS[pick(ENVIRONMENTS.len())];
    let team = TEAMS[pick(TEAMS.len())];
    let values = [
        format!("host_{host}"),
        region.to_owned(),
        datacenter.to_owned(),
        rack.to_string(),
        os.to_owned(),
        arch.to_owned(),
        team.to_owned(),
        service.to_string(),
        service_version.to_string(),
        environment.to_owned(),
    ];
    TAG_KEYS.into_iter().zip(values).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_tsbs_shaped() {
        for host in 0..200 {
            let tags = host_tags(1, host);
            let keys: Vec<_> = tags.iter().map(|(k, _)| *k).collect();
            assert_eq!(keys, TAG_KEYS);
            assert_eq!(tags[0].1, format!("host_{host}"));
            let (_, dcs) = REGIONS
                .iter()
                .find(|(r, _)| *r == tags[1].1)
                .expect("region from the table");
            assert!(dcs.contains(&tags[2].1.as_str()));
            assert!(tags[3].1.parse::<u64>().expect("rack number") < RACKS);
            assert!(OSES.contains(&tags[4].1.as_str()));
            assert!(ARCHES.contains(&tags[5].1.as_str()));
            assert!(TEAMS.contains(&tags[6].1.as_str()));
            assert!(tags[7].1.parse::<u64>().expect("service number") < SERVICES);
            assert!(tags[8].1.parse::<u64>().expect("version") < SERVICE_VERSIONS);
            assert!(ENVIRONMENTS.contains(&tags[9].1.as_str()));
        }
    }

    #[test]
    fn tags_depend_on_the_seed() {
        let differ = (0..50).any(|h| host_tags(1, h) != host_tags(2, h));
        assert!(differ);
    }
}
