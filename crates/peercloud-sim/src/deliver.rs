//! How the simulated network carries a message: lost, or delivered after
//! a latency; cut by a partition or a broken link; refused where nothing
//! listens or the process crashed; held while the target is stalled; and
//! every request and reply through the wire codec, as on the wire (or,
//! for large runs, handed over typed: see [`Delivery`]).

use std::net::{IpAddr, Ipv4Addr};

use peercloud_core::wire::{decode_reply, decode_request, encode_reply, encode_request, ErrorBody};
use peercloud_core::{
    Address, CallError, CallId, CallResult, Origin, PeerId, Refusal, ReplyToken, Request, Response,
};
use rand::Rng;

use crate::cpu::Work;
use crate::node::{Caller, Handling, Health, Message, Waiting};
use crate::protocol::Protocol;
use crate::sim::{Happening, Sim};

/// How requests and replies reach their peer.
///
/// Either way the network counts the bytes of the encoded body, and a
/// seed replays the same run; the membership outcome is the same too
/// (`tests/delivery.rs`), as long as what the cores send reads back as
/// sent, which the wire fuzz tests check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Delivery {
    /// Encoded and decoded again, as on the wire: every peer reads its
    /// own copy of every record, and every run exercises the codec.
    #[default]
    Wire,
    /// Handed over as the typed message, its length counted as it would
    /// be written: the records' ids, hosts and data are then shared by
    /// every peer that holds them, as the core's records are shared
    /// within a peer. At thousands of peers, every peer holding its own
    /// copy of every list is what runs the simulator out of memory.
    Typed,
}

impl<P: Protocol> Sim<P> {
    /// Chooses how requests and replies travel from now on
    /// ([`Delivery::Wire`] unless told).
    pub fn set_delivery(&mut self, delivery: Delivery) {
        self.delivery = delivery;
    }

    /// Puts a message on the network: lost, or delivered after a latency.
    pub(crate) fn send(&mut self, message: Message) {
        if self.net.loss > 0.0 && self.rng.random::<f64>() < self.net.loss {
            self.stats.lost += 1;
            return;
        }
        let latency = self.net.latency.sample(&mut self.rng);
        let at = self.now + latency;
        self.schedule(at, Happening::Deliver(Box::new(message)));
    }

    fn is_cut(&self, a: usize, b: usize) -> bool {
        self.sides[a] != self.sides[b] || self.cut.contains(&(a.min(b), a.max(b)))
    }

    pub(crate) fn deliver(&mut self, message: Message) {
        match message {
            Message::Request {
                from,
                caller,
                sender,
                to,
                request,
            } => {
                let Some(target) = index_of(&to, self.nodes.len()) else {
                    return self.refuse(from, caller);
                };
                if self.is_cut(from, target) {
                    return; // lost: the caller's deadline ends the call
                }
                let listening = self.nodes[target].started;
                match self.nodes[target].health {
                    Health::Crashed => self.refuse(from, caller),
                    _ if !listening => self.refuse(from, caller),
                    Health::Stalled => self.nodes[target].held.push(Message::Request {
                        from,
                        caller,
                        sender,
                        to,
                        request,
                    }),
                    Health::Up => self.serve(from, caller, sender, target, request),
                }
            }
            Message::Result {
                to,
                caller,
                result,
                bytes,
            } => {
                if let Some((_, result)) = self.take_result(to, caller, result, bytes) {
                    self.read(bytes, Handling::Result { to, caller, result });
                }
            }
        }
    }

    /// A result for peer `to`'s call, if the process that made it runs
    /// now: one stalled holds it until it resumes, and one gone (or a
    /// request a test injected, which nobody waits for) drops it.
    fn take_result(
        &mut self,
        to: usize,
        caller: Caller,
        result: CallResult,
        bytes: usize,
    ) -> Option<(CallId, CallResult)> {
        let node = &mut self.nodes[to];
        let call = caller.call.filter(|_| caller.process == node.process)?;
        match node.health {
            Health::Up => Some((call, result)),
            Health::Stalled => {
                let held = Message::Result {
                    to,
                    caller,
                    result,
                    bytes,
                };
                node.held.push(held);
                None
            }
            Health::Crashed => None,
        }
    }

    /// Hands a message that arrived to its peer's core once the shared
    /// processors have read it, or at once when there are none.
    fn read(&mut self, bytes: usize, handling: Handling) {
        match self.done_at(Work::Message { bytes }) {
            Some(at) => self.schedule(at, Happening::Read(Box::new(handling))),
            None => self.handle(handling),
        }
    }

    /// A message read: its peer's core takes it, if the process it came
    /// for still runs. One stalled meanwhile holds it until it resumes
    /// (and reads it again then).
    pub(crate) fn handle(&mut self, handling: Handling) {
        match handling {
            Handling::Request {
                from,
                caller,
                sender,
                target,
                process,
                request,
                path,
            } => {
                let node = &mut self.nodes[target];
                if node.process != process {
                    return; // gone with the process that read it
                }
                match node.health {
                    Health::Crashed => {}
                    Health::Stalled => node.held.push(Message::Request {
                        from,
                        caller,
                        sender,
                        to: node.address.clone(),
                        request,
                    }),
                    Health::Up => {
                        let token = ReplyToken(self.next_token);
                        self.next_token += 1;
                        self.nodes[target]
                            .waiting
                            .insert(token, Waiting { from, caller, path });
                        let origin = Origin {
                            sender: Some(sender),
                            remote: ip_of(&self.nodes[from].address),
                        };
                        let now = self.instant();
                        self.nodes[target]
                            .core
                            .handle_request(now, token, origin, request);
                        self.collect(target);
                    }
                }
            }
            Handling::Result { to, caller, result } => {
                if let Some((call, result)) = self.take_result(to, caller, result, 0) {
                    let now = self.instant();
                    self.nodes[to].core.handle_response(now, call, result);
                    self.collect(to);
                }
            }
        }
    }

    /// A connection to an address where nothing listens: refused.
    fn refuse(&mut self, from: usize, caller: Caller) {
        self.answer(from, caller, Err(CallError::NoListener), 0);
    }

    /// Sends a call's result (with a body of `bytes`) back to peer
    /// `from`, unless nobody waits for it.
    pub(crate) fn answer(&mut self, from: usize, caller: Caller, result: CallResult, bytes: usize) {
        if caller.call.is_some() {
            self.send(Message::Result {
                to: from,
                caller,
                result,
                bytes,
            });
        }
    }

    /// Hands a request to its target's core, through the wire codec.
    fn serve(
        &mut self,
        from: usize,
        caller: Caller,
        sender: PeerId,
        target: usize,
        request: Request,
    ) {
        let path = request.path();
        let (request, bytes) = match self.delivery {
            Delivery::Wire => {
                let body = encode_request(&request);
                self.stats.bytes += body.len() as u64;
                let Ok(request) = decode_request(path, &body) else {
                    return self.refuse(from, caller);
                };
                (request, body.len())
            }
            Delivery::Typed => {
                let mut request = request;
                let bytes = self.byte_count.request(&mut request);
                self.stats.bytes += bytes as u64;
                (request, bytes)
            }
        };
        let process = self.nodes[target].process;
        let handling = Handling::Request {
            from,
            caller,
            sender,
            target,
            process,
            request,
            path,
        };
        self.read(bytes, handling);
    }

    /// A reply as its caller reads it, and the length of its body: a
    /// refusal becomes the status and JSON body the HTTP edge answers with.
    pub(crate) fn reply_over_the_wire(
        &mut self,
        path: &str,
        reply: Result<Response, Refusal>,
    ) -> (CallResult, usize) {
        let (result, bytes) = match reply {
            Ok(mut response) if self.delivery == Delivery::Typed => {
                let bytes = self.byte_count.reply(&mut response);
                (Ok(response), bytes)
            }
            Ok(response) => {
                let body = encode_reply(&response);
                let result =
                    decode_reply(path, &body).map_err(|e| CallError::InvalidReply(e.to_string()));
                (result, body.len())
            }
            Err(refusal) => {
                let body = ErrorBody {
                    error: refusal.to_string(),
                };
                let body = serde_json::to_string(&body).unwrap_or_default();
                let status = refusal.http_status();
                (
                    Err(CallError::Refused {
                        status,
                        body: body.clone(),
                    }),
                    body.len(),
                )
            }
        };
        self.stats.bytes += bytes as u64;
        (result, bytes)
    }
}

/// The port every simulated peer listens on.
const PORT: u16 = 9338;

/// Where peer `n` listens: `10.a.b.c:9338`, unique for 16 million peers.
pub(crate) fn address_of(n: usize) -> Address {
    let [_, a, b, c] = (n as u32).to_be_bytes();
    let ip = IpAddr::V4(Ipv4Addr::new(10, a, b, c));
    Address::new(peercloud_core::Host::from_ip(ip), PORT)
}

/// The peer listening at `address` among `len` peers, if any: the
/// inverse of [`address_of`], without a table to look it up in.
fn index_of(address: &Address, len: usize) -> Option<usize> {
    let Some(IpAddr::V4(ip)) = address.host.ip() else {
        return None;
    };
    let [ten, a, b, c] = ip.octets();
    let n = u32::from_be_bytes([0, a, b, c]) as usize;
    (ten == 10 && address.port == PORT && n < len).then_some(n)
}

fn ip_of(address: &Address) -> IpAddr {
    address
        .host
        .ip()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use crate::NetConfig;

    use super::*;

    #[test]
    fn addresses_are_unique_past_255_peers_and_lead_back_to_their_peer() {
        let addresses: BTreeSet<Address> = (0..70_000).map(address_of).collect();
        assert_eq!(addresses.len(), 70_000);
        for n in [0, 255, 256, 65_535, 65_536, 69_999] {
            assert_eq!(index_of(&address_of(n), 70_000), Some(n));
        }
        assert_eq!(index_of(&address_of(70_000), 70_000), None, "nobody there");
        assert_eq!(index_of(&"10.0.0.1:9339".parse().unwrap(), 70_000), None);
        assert_eq!(index_of(&"11.0.0.1:9338".parse().unwrap(), 70_000), None);
    }

    #[test]
    fn what_a_crashed_peer_was_answering_is_forgotten() {
        let net = NetConfig {
            latency: crate::Latency::Fixed(Duration::from_millis(1)),
            loss: 0.0,
        };
        let mut sim = Sim::new(2, net);
        let (a, b) = (sim.add_peer(), sim.add_peer());
        sim.start(a, &[]);
        sim.run_for(Duration::from_millis(10));
        // b's join reaches a at 11 ms; a checks b, whose answer is back at
        // 13 ms: at 12.5 ms a is still answering the join.
        sim.start(b, &[a]);
        sim.run_for(Duration::from_micros(2500));
        assert_eq!(sim.nodes[a].waiting.len(), 1);
        sim.crash(a);
        assert!(sim.nodes[a].waiting.is_empty());
        sim.run_for(Duration::from_secs(10));
        assert!(!sim.lists(b, a), "b never joined");
    }
}
