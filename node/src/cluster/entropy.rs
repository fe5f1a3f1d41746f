//! Anti-entropy: replicas compare digests per (token range, time partition), drill down a
//! tree (set of ranges → range → sub-range → series) to the series that differ without
//! sending data, and exchange exactly the samples one side lacks, merged by the merge rule.

pub(crate) mod serve;
