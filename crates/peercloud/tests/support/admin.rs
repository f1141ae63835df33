//! Peers with an admin listener: `peercloud run --admin 127.0.0.1:0`, and
//! where that listener is, read from its `admin_listening` line. Needs
//! the `process` support module beside it (as `mod process`). Touches
//! only the processes it starts and loopback.

#![allow(dead_code)] // each test file uses a different part of it

use crate::process::RunningPeer;

/// A peer joining through 127.0.0.1:`seed` whose admin listener is on a
/// free loopback port; with it, the listener's address (`127.0.0.1:N`).
pub(crate) fn start_with_admin(seed: u16, extra: &[&str]) -> (RunningPeer, String) {
    let mut args = vec!["--admin", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut peer = RunningPeer::start(seed, &args);
    // Printed right after `started`, before how the start ended.
    let listening = peer.expect_event(1, "admin_listening");
    let addr = listening["addr"].as_str().expect("an address").to_owned();
    (peer, addr)
}
