//! A TCP proxy on 127.0.0.1 that forwards connections to one address and
//! keeps every byte it carried, each way: what an eavesdropper on the wire
//! would record. Touches only its own sockets; its threads end when their
//! connections close, and it accepts a bounded number of connections.

#![allow(dead_code)] // each test file uses a different part of it

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// The most connections one proxy accepts.
const MAX_CONNECTIONS: usize = 64;

/// What crossed the proxy, per connection, in order of acceptance.
#[derive(Debug, Default, Clone)]
pub(crate) struct Capture {
    /// Bytes from the client to the server, one entry per connection.
    pub(crate) to_server: Vec<Vec<u8>>,
    /// Bytes from the server to the client, one entry per connection.
    pub(crate) to_client: Vec<Vec<u8>>,
}

impl Capture {
    /// Every byte carried, both ways, in one buffer.
    pub(crate) fn all_bytes(&self) -> Vec<u8> {
        self.to_server
            .iter()
            .chain(&self.to_client)
            .flatten()
            .copied()
            .collect()
    }
}

pub(crate) struct Proxy {
    pub(crate) port: u16,
    capture: Arc<Mutex<Capture>>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`.
    pub(crate) fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the proxy binds");
        let port = listener.local_addr().expect("an address").port();
        let capture = Arc::new(Mutex::new(Capture::default()));
        let shared = capture.clone();
        thread::spawn(move || {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((client, _)) = listener.accept() else {
                    return;
                };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let index = {
                    let mut capture = shared.lock().expect("the capture");
                    capture.to_server.push(Vec::new());
                    capture.to_client.push(Vec::new());
                    capture.to_server.len() - 1
                };
                let (client2, server2) = (
                    client.try_clone().expect("a clone"),
                    server.try_clone().expect("a clone"),
                );
                let up = shared.clone();
                thread::spawn(move || pump(client, server, &up, index, true));
                let down = shared.clone();
                thread::spawn(move || pump(server2, client2, &down, index, false));
            }
        });
        Proxy { port, capture }
    }

    /// What it carried so far.
    pub(crate) fn capture(&self) -> Capture {
        self.capture.lock().expect("the capture").clone()
    }
}

/// Copies `from` to `to` until `from` ends, recording every byte.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    capture: &Mutex<Capture>,
    index: usize,
    to_server: bool,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                {
                    let mut capture = capture.lock().expect("the capture");
                    let side = if to_server {
                        &mut capture.to_server
                    } else {
                        &mut capture.to_client
                    };
                    side[index].extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
