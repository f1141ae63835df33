//! peercloud-sim: the real membership core of peercloud (`peercloud-core`,
//! unchanged) for many peers in one process, on a virtual clock, over a
//! simulated network with latency, loss, partitions, single broken links,
//! crashes, restarts and stalled peers.
//!
//! A run is deterministic: every random choice (latencies, losses, the
//! cores' own rngs) comes from one seed, so a failing run replays exactly
//! from the seed it prints. Every request and reply goes through the wire
//! codec, as on the wire; a lost call is ended by its caller's own deadline,
//! as in a real peer.
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
//! ```

mod net;
mod node;
mod sim;

pub use net::{Latency, NetConfig};
pub use sim::{PeerIndex, Sim, Stats};
