//! The changes a plan makes, from command-line flags, and the new topology they give.
//!
//! An added node is a group of flags: `--add ID --quic ADDR --http ADDR --zone Z [--weight W]`;
//! `--quic`, `--http`, `--weight` and a `--zone` without `=` belong to the closest `--add`
//! before them. `--zone ID=Z` (with `=`) moves an existing node to another zone, so a new
//! node's zone cannot contain `=`, and neither can a node id given as `--zone ID=Z` or
//! `--reweight ID=W` (edit the TOML by hand for those).

use std::collections::HashMap;
use std::net::SocketAddr;

use floe_ring::{Node, RingError, Topology};

use super::PlanError;

/// A change flag of `floectl ring plan`, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `--add ID`: starts a new node.
    Add,
    /// `--quic ADDR` of the last `--add`.
    Quic,
    /// `--http ADDR` of the last `--add`.
    Http,
    /// `--zone Z` of the last `--add`, or `--zone ID=Z` for an existing node.
    Zone,
    /// `--weight W` of the last `--add`.
    Weight,
    /// `--remove ID`.
    Remove,
    /// `--reweight ID=W`.
    Reweight,
}

impl Flag {
    /// The flag as typed.
    pub fn name(self) -> &'static str {
        match self {
            Self::Add => "--add",
            Self::Quic => "--quic",
            Self::Http => "--http",
            Self::Zone => "--zone",
            Self::Weight => "--weight",
            Self::Remove => "--remove",
            Self::Reweight => "--reweight",
        }
    }
}

/// One change to the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A node joins.
    Add(Node),
    /// The node with this id leaves.
    Remove(String),
    /// A node's weight changes.
    Reweight {
        /// The node.
        id: String,
        /// Its new weight.
        weight: u32,
    },
    /// A node moves to another zone.
    Zone {
        /// The node.
        id: String,
        /// Its new zone.
        zone: String,
    },
}

impl Change {
    /// The node the change concerns.
    pub fn node_id(&self) -> &str {
        match self {
            Self::Add(node) => &node.id,
            Self::Remove(id) | Self::Reweight { id, .. } | Self::Zone { id, .. } => id,
        }
    }

    /// The flag that makes this change.
    pub fn flag(&self) -> &'static str {
        match self {
            Self::Add(_) => "--add",
            Self::Remove(_) => "--remove",
            Self::Reweight { .. } => "--reweight",
            Self::Zone { .. } => "--zone",
        }
    }
}

/// A `--add` group being read.
#[derive(Debug)]
struct PendingAdd {
    id: String,
    quic: Option<SocketAddr>,
    http: Option<SocketAddr>,
    zone: Option<String>,
    weight: Option<u32>,
}

impl PendingAdd {
    fn finish(self) -> Result<Change, PlanError> {
        let missing = |what: &str| PlanError::BadValue {
            flag: "--add",
            value: self.id.clone(),
            reason: format!("missing {what} (a new node needs --quic, --http and --zone)"),
        };
        let quic_addr = self.quic.ok_or_else(|| missing("--quic ADDR"))?;
        let http_addr = self.http.ok_or_else(|| missing("--http ADDR"))?;
        let zone = self.zone.clone().ok_or_else(|| missing("--zone Z"))?;
        Ok(Change::Add(Node {
            id: self.id,
            quic_addr,
            http_addr,
            zone,
            weight: self.weight.unwrap_or(1),
        }))
    }

    /// Sets one field of the group; a field given twice is an error.
    fn set(&mut self, flag: Flag, value: &str) -> Result<(), PlanError> {
        let twice = match flag {
            Flag::Quic => self
                .quic
                .replace(addr(&self.id, "quic_addr", value)?)
                .is_some(),
            Flag::Http => self
                .http
                .replace(addr(&self.id, "http_addr", value)?)
                .is_some(),
            Flag::Zone => self.zone.replace(value.to_owned()).is_some(),
            Flag::Weight => self.weight.replace(weight(flag, value)?).is_some(),
            Flag::Add | Flag::Remove | Flag::Reweight => unreachable!("not a field of --add"),
        };
        if twice {
            return Err(PlanError::BadValue {
                flag: "--add",
                value: self.id.clone(),
                reason: format!("{} given twice for this node", flag.name()),
            });
        }
        Ok(())
    }
}

/// Turns the change flags, in command-line order, into changes (in the same order).
///
/// Only the order of the `--add` groups' flags matters; `--remove` and `--reweight` may come
/// anywhere.
pub fn changes_from_flags(flags: &[(Flag, String)]) -> Result<Vec<Change>, PlanError> {
    let mut changes = Vec::new();
    let mut pending: Option<PendingAdd> = None;
    for (flag, value) in flags {
        match flag {
            Flag::Add => {
                if let Some(add) = pending.take() {
                    changes.push(add.finish()?);
                }
                pending = Some(PendingAdd {
                    id: value.clone(),
                    quic: None,
                    http: None,
                    zone: None,
                    weight: None,
                });
            }
            Flag::Remove => changes.push(Change::Remove(value.clone())),
            Flag::Reweight => {
                let (id, w) = id_value(*flag, value)?;
                let weight = weight(*flag, w)?;
                changes.push(Change::Reweight { id, weight });
            }
            Flag::Zone if value.contains('=') => {
                let (id, zone) = id_value(*flag, value)?;
                changes.push(Change::Zone {
                    id,
                    zone: zone.to_owned(),
                });
            }
            Flag::Quic | Flag::Http | Flag::Zone | Flag::Weight => match pending.as_mut() {
                Some(add) => add.set(*flag, value)?,
                None => return Err(orphan(*flag, value)),
            },
        }
    }
    if let Some(add) = pending {
        changes.push(add.finish()?);
    }
    Ok(changes)
}

fn orphan(flag: Flag, value: &str) -> PlanError {
    let reason = match flag {
        Flag::Zone => "must follow --add ID (to move an existing node, write --zone ID=Z)",
        _ => "must follow --add ID",
    };
    PlanError::BadValue {
        flag: flag.name(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Splits `ID=VALUE` at the first `=`.
fn id_value(flag: Flag, value: &str) -> Result<(String, &str), PlanError> {
    match value.split_once('=') {
        Some((id, v)) if !id.is_empty() => Ok((id.to_owned(), v)),
        _ => Err(PlanError::BadValue {
            flag: flag.name(),
            value: value.to_owned(),
            reason: "expected ID=VALUE".to_owned(),
        }),
    }
}

fn weight(flag: Flag, value: &str) -> Result<u32, PlanError> {
    value
        .parse()
        .map_err(|e: std::num::ParseIntError| PlanError::BadValue {
            flag: flag.name(),
            value: value.to_owned(),
            reason: format!("weight must be an integer from 1 to {}: {e}", u32::MAX),
        })
}

/// Parses an address the way `floe-ring` parses a document's, with its error.
fn addr(node: &str, field: &'static str, value: &str) -> Result<SocketAddr, PlanError> {
    value.parse().map_err(|e: std::net::AddrParseError| {
        PlanError::from(RingError::InvalidAddress {
            node: node.to_owned(),
            field,
            value: value.to_owned(),
            reason: e.to_string(),
        })
    })
}

/// Applies the changes to `current`: the new topology has version `current + 1` and is
/// validated by `floe-ring` ([`Topology::new`]).
///
/// Removing, reweighting or rezoning a node the current topology lacks (including one this
/// plan adds) is an error, as are two changes of one kind to one node and removing a node that
/// another change touches. An added node that already exists is reported by `floe-ring`
/// (`duplicate node id`).
pub fn apply(current: &Topology, changes: &[Change]) -> Result<Topology, PlanError> {
    if changes.is_empty() {
        return Err(PlanError::NoChange);
    }
    check_conflicts(changes)?;
    let mut nodes = current.nodes().to_vec();
    for change in changes {
        if let Change::Add(node) = change {
            nodes.push(node.clone());
            continue;
        }
        // Only nodes of the current topology can be removed, reweighted or rezoned (a new
        // node gets its weight and zone from its --add group).
        let position = nodes.iter().position(|n| n.id == change.node_id());
        let Some(existing) = position.filter(|_| current.node(change.node_id()).is_some()) else {
            return Err(PlanError::UnknownNode {
                flag: change.flag(),
                id: change.node_id().to_owned(),
                version: current.version(),
            });
        };
        match change {
            Change::Remove(_) => {
                nodes.remove(existing);
            }
            Change::Reweight { weight, .. } => nodes[existing].weight = *weight,
            Change::Zone { zone, .. } => nodes[existing].zone.clone_from(zone),
            Change::Add(_) => unreachable!("handled above"),
        }
    }
    let version = current.version().saturating_add(1);
    Ok(Topology::new(
        current.cluster(),
        version,
        current.replication_factor(),
        current.vnodes_per_weight(),
        nodes,
    )?)
}

/// One change per kind per node, and a removed node has no other change.
fn check_conflicts(changes: &[Change]) -> Result<(), PlanError> {
    let mut seen: HashMap<&str, Vec<&'static str>> = HashMap::new();
    for change in changes {
        let flags = seen.entry(change.node_id()).or_default();
        let flag = change.flag();
        let clash = flags
            .iter()
            .find(|&&f| f == flag || f == "--remove" || flag == "--remove");
        if let Some(&first) = clash {
            // Two `--add` of one id are left to floe-ring's `duplicate node id`.
            if !(first == "--add" && flag == "--add") {
                return Err(PlanError::Conflict {
                    id: change.node_id().to_owned(),
                    first,
                    second: flag,
                });
            }
        }
        flags.push(flag);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(list: &[(Flag, &str)]) -> Vec<(Flag, String)> {
        list.iter().map(|(f, v)| (*f, (*v).to_owned())).collect()
    }

    #[test]
    fn add_groups_take_the_flags_that_follow_them() {
        let got = changes_from_flags(&flags(&[
            (Flag::Remove, "n2"),
            (Flag::Add, "n4"),
            (Flag::Zone, "c"),
            (Flag::Quic, "10.0.0.4:7400"),
            (Flag::Zone, "n1=b"),
            (Flag::Http, "10.0.0.4:8080"),
            (Flag::Add, "n5"),
            (Flag::Http, "10.0.0.5:8080"),
            (Flag::Quic, "10.0.0.5:7400"),
            (Flag::Weight, "3"),
            (Flag::Zone, "d"),
            (Flag::Reweight, "n3=2"),
        ]))
        .expect("valid flags");
        let ids: Vec<(&str, &str)> = got.iter().map(|c| (c.flag(), c.node_id())).collect();
        assert_eq!(
            ids,
            [
                ("--remove", "n2"),
                ("--zone", "n1"),
                ("--add", "n4"),
                ("--reweight", "n3"),
                ("--add", "n5"),
            ]
        );
        let Change::Add(n5) = &got[4] else {
            panic!("n5 is an add")
        };
        assert_eq!((n5.weight, n5.zone.as_str()), (3, "d"));
        let Change::Add(n4) = &got[2] else {
            panic!("n4 is an add")
        };
        assert_eq!((n4.weight, n4.zone.as_str()), (1, "c"));
    }

    #[test]
    fn incomplete_or_misplaced_add_flags_are_refused() {
        let cases: &[(&[(Flag, &str)], &str)] = &[
            (
                &[(Flag::Quic, "10.0.0.4:7400")],
                "--quic \"10.0.0.4:7400\": must follow --add",
            ),
            (&[(Flag::Zone, "c")], "write --zone ID=Z"),
            (
                &[(Flag::Add, "n4"), (Flag::Zone, "c")],
                "missing --quic ADDR",
            ),
            (
                &[(Flag::Add, "n4"), (Flag::Zone, "c"), (Flag::Zone, "d")],
                "--zone given twice",
            ),
            (
                &[(Flag::Add, "n4"), (Flag::Quic, "10.0.0.4")],
                "quic_addr \"10.0.0.4\"",
            ),
            (&[(Flag::Reweight, "n1")], "expected ID=VALUE"),
            (&[(Flag::Reweight, "n1=x")], "weight must be an integer"),
        ];
        for (list, needle) in cases {
            let err = changes_from_flags(&flags(list)).expect_err("refused");
            assert!(err.to_string().contains(needle), "{list:?}: {err}");
        }
    }

    #[test]
    fn conflicting_changes_to_one_node_are_refused() {
        let remove = Change::Remove("n1".into());
        let reweight = Change::Reweight {
            id: "n1".into(),
            weight: 2,
        };
        let zone = Change::Zone {
            id: "n1".into(),
            zone: "b".into(),
        };
        assert!(check_conflicts(&[reweight.clone(), zone.clone()]).is_ok());
        for pair in [
            [remove.clone(), reweight.clone()],
            [zone.clone(), remove.clone()],
            [reweight.clone(), reweight.clone()],
            [remove.clone(), remove.clone()],
        ] {
            assert!(
                matches!(check_conflicts(&pair), Err(PlanError::Conflict { .. })),
                "{pair:?}"
            );
        }
    }
}
