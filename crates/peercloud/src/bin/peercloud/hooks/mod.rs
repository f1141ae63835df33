//! `peercloud run`'s hooks: commands run for each message received
//! (`--exec`) and for each membership event (`--on-event`).

pub(crate) mod exec;
pub(crate) mod on_event;
pub(crate) mod script;
