//! peercloud-sim: the real membership core of peercloud (`peercloud-core`,
//! unchanged) for many peers in one process, on a virtual clock, over a
//! simulated network with latency, loss, partitions, single broken links,
//! crashes, restarts and stalled peers. A model of the original's rules
//! ([`Original`]) runs on the same network, so that every figure can be
//! measured for both.
//!
//! A run is deterministic: every random choice (latencies, losses, the
//! cores' own rngs) comes from one seed, so a failing run replays exactly
//! from the seed it prints. Every request and reply goes through the wire
//! codec, as on the wire; a lost call is ended by its caller's own deadline,
//! as in a real peer. What the harness keeps of its own is bounded: events
//! are counted and only the last few kept ([`Sim::keep_events`]), and what
//! happens next waits in one heap ordered by virtual time.
//!
//! ```
//! use std::time::Duration;
//! use peercloud_sim::{NetConfig, Sim};
//!
//! let mut sim = Sim::new(7, NetConfig::lan());
//! let seed = sim.add_peer();
//! sim.start(seed, &[]);
//! let peers: Vec<_> = (0..20).map(|_| sim.add_peer()).collect();
//! for &p in &peers {
//!     sim.start(p, &[seed]);
//! }
//! sim.run_for(Duration::from_secs(10));
//! assert!(sim.converged().is_ok(), "{}", sim.converged().unwrap_err());
//!
//! // The same cloud under the original's rules: joined one at a time, it
//! // converges too (concurrent joins are where it falls short).
//! let mut original = Sim::original(7, NetConfig::lan());
//! let seed = original.add_peer();
//! original.start(seed, &[]);
//! for _ in 0..20 {
//!     let p = original.add_peer();
//!     original.start(p, &[seed]);
//!     original.run_for(Duration::from_millis(100));
//! }
//! assert!(original.converged().is_ok());
//! ```

mod bytes;
mod cpu;
mod deliver;
mod log;
mod net;
mod node;
mod original;
mod protocol;
mod sim;
mod view;

pub use cpu::Processors;
pub use deliver::Delivery;
pub use log::{EventCounts, EventLog, DEFAULT_KEEP};
pub use net::{Latency, NetConfig};
pub use original::{Original, OriginalConfig};
pub use protocol::Protocol;
pub use sim::{PeerIndex, Sim, Stats};
pub use view::ListGaps;
