//! The benchmarks the orchestrator runs, one file each. Each one starts the
//! processes it needs, measures, records its figures (or why it could not)
//! and drops its processes, which kills them.

pub(crate) mod broadcast;
pub(crate) mod faults;
pub(crate) mod lists;
pub(crate) mod membership;
pub(crate) mod memory;
pub(crate) mod partition;
pub(crate) mod swarm;
pub(crate) mod unicast;
pub(crate) mod update;
