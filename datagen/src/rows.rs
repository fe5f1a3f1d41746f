//! [`Rows`]: the dataset in time order, streamed with memory proportional to the hosts.

use std::iter::FusedIterator;

use crate::entropy::EntropyCounter;
use crate::generator::Generator;
use crate::walk::{FieldWalk, JitterStream};

/// One host at one point: the shape of one InfluxDB line (`cpu,<tags> <10 fields> <ts>`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Host index (look its tags up with [`Generator::host_tags`]).
    pub host: u32,
    /// Point index `i`, from 0 to `points − 1`.
    pub step: u32,
    /// Timestamp in Unix milliseconds: `start + i × interval`, plus the host's jitter in
    /// [`crate::ValueMode::Jitter`].
    pub ts: i64,
    /// The values of the fields of [`crate::FIELDS`], in that order.
    pub values: [f64; 10],
}

/// The state of one host between two of its rows.
#[derive(Debug, Clone)]
struct HostCursor {
    fields: [FieldWalk; 10],
    jitter: Option<JitterStream>,
}

/// Iterator over every [`Row`] of a run: step 0 of hosts `0..hosts`, then step 1, and so on.
///
/// Rows come in order of step; within a step, in order of host. Steps never overlap in time
/// (jitter is less than half an interval), but with jitter the rows *within* a step are not
/// sorted by timestamp. Yields exactly the values of [`Generator::host_series`].
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    generator: &'a Generator,
    cursors: Vec<HostCursor>,
    step: u32,
    host: u32,
    entropy: EntropyCounter,
}

impl<'a> Rows<'a> {
    pub(crate) fn new(generator: &'a Generator) -> Self {
        let spec = generator.spec();
        let seed = generator.config().seed;
        let cursors = (0..generator.config().hosts)
            .map(|host| HostCursor {
                fields: std::array::from_fn(|f| FieldWalk::start(spec, seed, host, f)),
                jitter: JitterStream::start(spec, seed, host),
            })
            .collect();
        Self {
            generator,
            cursors,
            step: 0,
            host: 0,
            entropy: spec.entropy_counter(),
        }
    }

    /// The entropy counter of the rows yielded so far (the whole run's once exhausted).
    pub fn entropy(&self) -> &EntropyCounter {
        &self.entropy
    }

    /// Rows not yet yielded.
    pub fn remaining(&self) -> u64 {
        let c = self.generator.config();
        u64::from(c.points - self.step) * u64::from(c.hosts) - u64::from(self.host)
    }
}

impl Iterator for Rows<'_> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let config = self.generator.config();
        if self.step >= config.points {
            return None;
        }
        let spec = self.generator.spec();
        let cursor = &mut self.cursors[self.host as usize];
        let mut values = [0.0; 10];
        for (walk, value) in cursor.fields.iter_mut().zip(&mut values) {
            if self.step == 0 {
                self.entropy.record_start(spec.start_range());
            } else {
                walk.advance(spec, &mut self.entropy);
            }
            *value = spec.value(walk.quanta());
        }
        let jitter = cursor.jitter.as_mut().map_or(0, |s| {
            let j = s.next_ms();
            self.entropy.record_jitter(j, values.len() as u64);
            j
        });
        let row = Row {
            host: self.host,
            step: self.step,
            ts: config.nominal_ts(self.step) + jitter,
            values,
        };
        self.host += 1;
        if self.host == config.hosts {
            self.host = 0;
            self.step += 1;
        }
        Some(row)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match usize::try_from(self.remaining()) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

impl FusedIterator for Rows<'_> {}
