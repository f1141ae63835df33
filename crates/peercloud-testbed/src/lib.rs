//! Hosts in Linux network namespaces on two bridges, and the faults a test
//! or a benchmark can put on their links, for peercloud's fault tests and
//! benchmarks. Touches only the namespaces it creates (named after this
//! process's id) and the processes inside them; nothing is added to the
//! namespace the caller runs in. Not published.
//!
//! Layout: one "switch" namespace holds the bridges `br0` and `br1`, joined
//! by one veth pair (`l0`–`l1`, the link between the bridges). Each host
//! namespace has `lo` and one `eth0`, a veth whose other end is a port of
//! one bridge, with the address `10.77.0.N/24`: all hosts share one
//! subnet, so cutting the link between the bridges splits them in two.
//!
//! Faults: [`Testbed::cut_bridge_link`] (a partition between the bridges),
//! [`Testbed::break_pair`] (two hosts cannot reach each other, everything
//! else can), [`Testbed::isolate`] (a host goes silent), each with its
//! undo. Any program runs inside a host with [`Host::command`] (or an
//! already built `Command` with [`Host::enter`]); it should listen on
//! [`Host::ip`] (or on every interface) and reach the others at theirs.
//!
//! Everything is built with the `ip` command (iproute2), each call checked,
//! and needs root: [`unavailable`] says why it cannot run here, and
//! [`skip_reason`] is the same for tests, which fail instead of skipping
//! where [`REQUIRE_VAR`] is set. Dropping a [`Testbed`] kills what still
//! runs in its namespaces and deletes them, also while a panic unwinds.
//!
//! ```no_run
//! use peercloud_testbed::{Bridge, Testbed};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! if let Some(why) = peercloud_testbed::unavailable() {
//!     println!("no namespaces here: {why}");
//!     return Ok(());
//! }
//! let bed = Testbed::new(&[("h1", Bridge::Zero), ("h2", Bridge::One)])?;
//! let (h1, h2) = (&bed.hosts()[0], &bed.hosts()[1]);
//! let mut server = h1
//!     .command("peercloud")
//!     .args(["run", "--bind", &h1.ip().to_string()])
//!     .spawn()?;
//! bed.cut_bridge_link()?; // h1 and h2 no longer reach each other
//! let status = h2
//!     .command("peercloud")
//!     .args(["status", "10.77.0.1:9338"])
//!     .status()?;
//! assert!(!status.success());
//! bed.restore_bridge_link()?;
//! server.kill()?;
//! server.wait()?;
//! # Ok(())
//! # }
//! ```

mod availability;
mod error;
mod host;
mod ip;
mod plan;
mod testbed;

pub use availability::{skip_reason, unavailable, REQUIRE_VAR};
pub use error::Error;
pub use host::{Bridge, Host, THREE_TWO};
pub use plan::{host_address, MAX_HOSTS, MAX_NAME_LEN, PREFIX_LEN, SUBNET};
pub use testbed::Testbed;
