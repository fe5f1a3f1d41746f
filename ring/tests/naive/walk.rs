//! The naive reference of the owner rule, written from the rule's definition in `docs/ring.md`
//! and shared by the crate's unit tests and its integration tests.
//!
//! It walks the full sorted token list from scratch for every query, once per level: level `k`
//! picks, clockwise from the first token at or after the position, every node not yet chosen
//! whose zone holds fewer than `k` owners, until `n` owners are chosen.

/// Owners of `position` (node numbers) for `tokens` sorted by `(value, node id)`.
pub(crate) fn naive_owners(
    tokens: &[(u64, u32)],
    node_zone: &[u32],
    n: usize,
    position: u64,
) -> Vec<u32> {
    let start = tokens.iter().position(|t| t.0 >= position).unwrap_or(0);
    let zone_count = node_zone.iter().map(|&z| z as usize + 1).max().unwrap_or(0);
    let mut per_zone = vec![0usize; zone_count];
    let mut chosen: Vec<u32> = Vec::new();
    let mut level = 1;
    while chosen.len() < n {
        for step in 0..tokens.len() {
            if chosen.len() == n {
                break;
            }
            let node = tokens[(start + step) % tokens.len()].1;
            let zone = node_zone[node as usize] as usize;
            if !chosen.contains(&node) && per_zone[zone] < level {
                chosen.push(node);
                per_zone[zone] += 1;
            }
        }
        level += 1;
        assert!(
            level <= tokens.len() + 2,
            "naive walk cannot find {n} distinct nodes"
        );
    }
    chosen
}
