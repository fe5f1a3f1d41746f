//! A property test of the journal against a naive model: a `VecDeque` of payloads. Random
//! appends, peeks, acknowledgements (of any position a peek returned, stale ones included),
//! and reopens (drop and open again) must leave the journal holding exactly the model.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    /// Append a group with these payload sizes.
    Append(Vec<usize>),
    /// Peek with these limits.
    Peek { records: usize, bytes: usize },
    /// Acknowledge the position of this record (modulo the count) of the last peek.
    Ack(usize),
    /// Drop the journal and open it again.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(1usize..200, 1..4).prop_map(Op::Append),
        3 => (1usize..6, 0usize..600).prop_map(|(records, bytes)| Op::Peek { records, bytes }),
        3 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::Reopen),
    ]
}

/// The model and what the test remembers of the last peek.
#[derive(Debug, Default)]
struct Model {
    /// Payloads pending, oldest first.
    pending: VecDeque<Vec<u8>>,
    /// Positions the last peek returned.
    peeked: Vec<Position>,
    /// How many of them are acknowledged.
    acked_of_peek: usize,
    /// Payloads made so far (each payload is distinct).
    made: u32,
}

impl Model {
    fn payload(&mut self, len: usize) -> Vec<u8> {
        self.made += 1;
        let mut p = self.made.to_le_bytes().to_vec();
        p.resize(len.max(4), (self.made % 251) as u8);
        p
    }

    fn pending_bytes(&self) -> u64 {
        self.pending.iter().map(|p| 8 + p.len() as u64).sum()
    }
}

const OPTIONS: JournalOptions = JournalOptions {
    max_bytes: 2000,
    segment_bytes: 300,
};

fn step(
    slot: &mut Option<Journal>,
    dir: &Path,
    m: &mut Model,
    op: Op,
) -> Result<(), TestCaseError> {
    let j = slot
        .as_ref()
        .ok_or_else(|| TestCaseError::fail("no journal"))?;
    match op {
        Op::Append(sizes) => {
            let group: Vec<Vec<u8>> = sizes.iter().map(|&n| m.payload(n)).collect();
            let refs: Vec<&[u8]> = group.iter().map(Vec::as_slice).collect();
            let adding: u64 = group.iter().map(|p| 8 + p.len() as u64).sum();
            match j.append(&refs) {
                Ok(()) => m.pending.extend(group),
                Err(JournalError::Full { pending, .. }) => {
                    prop_assert_eq!(pending, m.pending_bytes());
                    prop_assert!(pending + adding > OPTIONS.max_bytes);
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        Op::Peek { records, bytes } => {
            let got = j
                .peek(records, bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(got.len() <= records);
            prop_assert_eq!(got.is_empty(), m.pending.is_empty());
            for (i, (_, p)) in got.iter().enumerate() {
                prop_assert_eq!(p, &m.pending[i]);
            }
            m.peeked = got.iter().map(|(pos, _)| *pos).collect();
            m.acked_of_peek = 0;
        }
        Op::Ack(k) if !m.peeked.is_empty() => {
            let i = k % m.peeked.len();
            j.ack(m.peeked[i])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            if i + 1 > m.acked_of_peek {
                m.pending.drain(..i + 1 - m.acked_of_peek);
                m.acked_of_peek = i + 1;
            }
        }
        Op::Ack(_) => {}
        Op::Reopen => {
            drop(slot.take());
            let (again, report) =
                Journal::open_with(dir, OPTIONS).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(report.torn_tail, None);
            prop_assert!(report.lost.is_empty());
            prop_assert_eq!(report.records, m.pending.len() as u64);
            *slot = Some(again);
        }
    }
    let j = slot
        .as_ref()
        .ok_or_else(|| TestCaseError::fail("no journal"))?;
    prop_assert_eq!(j.pending_records(), m.pending.len() as u64);
    prop_assert_eq!(j.pending_bytes(), m.pending_bytes());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn journal_matches_a_queue_model(ops in prop::collection::vec(op(), 1..80)) {
        let tmp = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (j, _) = Journal::open_with(tmp.path(), OPTIONS)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut slot = Some(j);
        let mut model = Model::default();
        for op in ops {
            step(&mut slot, tmp.path(), &mut model, op)?;
        }
        // Everything left is replayed, in order, after a last reopen.
        drop(slot);
        let (j, _) = Journal::open_with(tmp.path(), OPTIONS)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let all = j.peek(usize::MAX, usize::MAX).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Vec<Vec<u8>> = all.into_iter().map(|(_, p)| p).collect();
        prop_assert_eq!(got, Vec::from(model.pending));
    }
}
