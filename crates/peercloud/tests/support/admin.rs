//! Peers with an admin listener: `peercloud run --admin 127.0.0.1:0`, and
//! where that listener is, read from its `admin_listening` line. Needs
//! the `process` support module beside it (as `mod process`). Touches
//! only the processes it starts and loopback.

#![allow(dead_code)] // each test file uses a different part of it

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::process::{RunningPeer, DEADLINE};

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

/// `GET path` on the admin listener at `addr`: the status code and the
/// body as JSON. One plain HTTP/1.1 request on a connection of its own.
pub(crate) fn get_json(addr: &str, path: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("the admin listener accepts");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is written");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("the answer is read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}
