//! The encoded length of a typed message, as [`Delivery::Typed`] counts
//! it: exactly what [`encoded_request_len`] and [`encoded_reply_len`]
//! give, without serialising what every message repeats.
//!
//! At thousands of peers, counting by serialising was a fifth of the
//! simulator's time: every pulled list and join reply holds an entry per
//! member, and each entry's data (a JSON object) went through serde for
//! every copy sent. Here the member entries of a list are counted field
//! by field, and each data value, shared by every record that carries it
//! (see [`Delivery::Typed`]), is serialised once and its length kept by
//! the address of its allocation (the value itself is kept with it, so
//! that the address is never reused for another while it is known).
//! `tests` below hold the counts to the codec's for every kind of message.
//!
//! [`Delivery::Typed`]: crate::Delivery::Typed
//! [`encoded_request_len`]: peercloud_core::wire::encoded_request_len
//! [`encoded_reply_len`]: peercloud_core::wire::encoded_reply_len

use std::collections::BTreeMap;
use std::sync::Arc;

use peercloud_core::wire::{encoded_len as len_of, Envelope, PeerInfo, Update};
use peercloud_core::{Request, Response};
use serde_json::Value;

/// The lengths of the data values met so far, by address.
#[derive(Debug)]
pub(crate) struct ByteCount {
    data: BTreeMap<usize, (Arc<Value>, usize)>,
    /// What a data value is swapped for while the rest of a message is
    /// serialised: `null`, four bytes.
    placeholder: Arc<Value>,
    /// How many lengths were kept after the last sweep of unused ones.
    swept_at: usize,
}

const PLACEHOLDER_LEN: usize = 4;

/// The fewest lengths kept before the first sweep.
const MIN_SWEEP: usize = 1024;

impl Default for ByteCount {
    fn default() -> Self {
        ByteCount {
            data: BTreeMap::new(),
            placeholder: Arc::new(Value::Null),
            swept_at: MIN_SWEEP,
        }
    }
}

impl ByteCount {
    /// The length of [`peercloud_core::wire::encode_request`]'s body.
    pub(crate) fn request(&mut self, request: &mut Request) -> usize {
        match request {
            Request::Joined(info) => self.peer_info(info),
            Request::Status(envelope) | Request::Gossip(envelope) => self.envelope(envelope),
            Request::Probe(probe) => {
                let data = std::mem::replace(&mut probe.target.data, self.placeholder.clone());
                let updates = std::mem::take(&mut probe.envelope.updates);
                let from = self.strip_from(&mut probe.envelope);
                let len = len_of(&*probe) - PLACEHOLDER_LEN + self.data_len(&data);
                probe.target.data = data;
                self.put_back(&mut probe.envelope, len, updates, from)
            }
            Request::Join(_) | Request::Left(_) | Request::Peers(_) => {
                peercloud_core::wire::encoded_request_len(request)
            }
        }
    }

    /// The length of [`peercloud_core::wire::encode_reply`]'s body.
    pub(crate) fn reply(&mut self, response: &mut Response) -> usize {
        match response {
            Response::Join(reply) => {
                let peers = std::mem::take(&mut reply.peers);
                let len = len_of(&*reply) + self.list_len(&peers);
                reply.peers = peers;
                len
            }
            Response::Peers(reply) => {
                let peers = std::mem::take(&mut reply.peers);
                let len = len_of(&*reply) + self.list_len(&peers);
                reply.peers = peers;
                len
            }
            Response::Status(status) => {
                let updates = std::mem::take(&mut status.gossip.updates);
                let from = self.strip_from(&mut status.gossip);
                let len = len_of(&*status);
                self.put_back(&mut status.gossip, len, updates, from)
            }
            Response::Probe(probe) => {
                let updates = std::mem::take(&mut probe.envelope.updates);
                let from = self.strip_from(&mut probe.envelope);
                let len = len_of(&*probe);
                self.put_back(&mut probe.envelope, len, updates, from)
            }
            Response::Gossip(envelope) => self.envelope(envelope),
            Response::Joined(_) | Response::Left(_) => {
                peercloud_core::wire::encoded_reply_len(response)
            }
        }
    }

    /// An envelope on its own: `{"from":…,"updates":[…]}`, either field
    /// left out when empty.
    fn envelope(&mut self, envelope: &mut Envelope) -> usize {
        let updates = std::mem::take(&mut envelope.updates);
        let from = self.strip_from(envelope);
        let len = len_of(&*envelope);
        self.put_back(envelope, len, updates, from)
    }

    /// Takes the sender's data out of `envelope` (a placeholder stands in).
    fn strip_from(&mut self, envelope: &mut Envelope) -> Option<Arc<Value>> {
        let from = envelope.from.as_mut()?;
        let data = from.data.as_mut()?;
        Some(std::mem::replace(data, self.placeholder.clone()))
    }

    /// `len` counted with `envelope` stripped (no updates, the sender's
    /// data a placeholder): the length with them, and them put back.
    fn put_back(
        &mut self,
        envelope: &mut Envelope,
        mut len: usize,
        updates: Vec<Update>,
        from: Option<Arc<Value>>,
    ) -> usize {
        if let Some(data) = from {
            len = len - PLACEHOLDER_LEN + self.data_len(&data);
            if let Some(sender) = envelope.from.as_mut() {
                sender.data = Some(data);
            }
        }
        if !updates.is_empty() {
            // `"updates":[…]`, with a comma before it if anything else is
            // in the object (an object is never empty of everything else:
            // a bare envelope's `{}` is the one case without one).
            let alone = len == 2;
            len += r#""updates":"#.len() + 2 + (updates.len() - 1) + usize::from(!alone);
            len += updates.iter().map(|u| self.update(u)).sum::<usize>();
            envelope.updates = updates;
        }
        len
    }

    /// One update, field by field:
    /// `{"kind":…,"id":…,"incarnation":…[,"ip":…][,"port":…][,"data":…][,"by":…][,"cause":…]}`.
    fn update(&mut self, update: &Update) -> usize {
        let mut len = r#"{"kind":,"id":,"incarnation":}"#.len()
            + len_of(&update.kind)
            + str_len(update.id.as_str())
            + digits(update.incarnation);
        if let Some(ip) = &update.ip {
            len += r#","ip":"#.len() + str_len(ip.as_str());
        }
        if let Some(port) = update.port {
            len += r#","port":"#.len() + digits(u64::from(port));
        }
        if let Some(data) = &update.data {
            len += r#","data":"#.len() + self.data_len(data);
        }
        if let Some(by) = &update.by {
            len += r#","by":"#.len() + str_len(by.as_str());
        }
        if let Some(cause) = &update.cause {
            len += r#","cause":"#.len() + len_of(cause);
        }
        len
    }

    /// A list of member entries, `[…]`.
    fn list_len(&mut self, peers: &[PeerInfo]) -> usize {
        // `len_of` of the message counted the empty list's `[]`.
        let commas = peers.len().saturating_sub(1);
        commas + peers.iter().map(|p| self.peer_info(p)).sum::<usize>()
    }

    /// One member entry, field by field:
    /// `{"id":…,"ip":…,"port":…,"data":…[,"incarnation":…]}`.
    fn peer_info(&mut self, info: &PeerInfo) -> usize {
        let mut len = r#"{"id":,"ip":,"port":,"data":}"#.len()
            + str_len(info.id.as_str())
            + str_len(info.ip.as_str())
            + digits(u64::from(info.port))
            + self.data_len(&info.data);
        if let Some(incarnation) = info.incarnation {
            len += r#","incarnation":"#.len() + digits(incarnation);
        }
        len
    }

    fn data_len(&mut self, data: &Arc<Value>) -> usize {
        let key = Arc::as_ptr(data) as usize;
        if let Some((_, len)) = self.data.get(&key) {
            return *len;
        }
        let len = len_of(&**data);
        // Only a value held elsewhere too (by a member record) is met
        // again; one made for a single message (a peer's own record in
        // its gossip is made anew for each) is not kept, or the lengths
        // would pile up by millions.
        if Arc::strong_count(data) > 1 {
            if self.data.len() >= self.swept_at * 2 {
                // Values that only this count still holds are gone from
                // every record: forget them, so that what is kept stays
                // within twice what is in use.
                self.data
                    .retain(|_, (value, _)| Arc::strong_count(value) > 1);
                self.swept_at = self.data.len().max(MIN_SWEEP);
            }
            self.data.insert(key, (data.clone(), len));
        }
        len
    }
}

/// A JSON string's length: quotes, and escapes where serde_json writes
/// them (control characters, `"` and `\`; everything else as it is).
fn str_len(s: &str) -> usize {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        s.len() + 2
    } else {
        len_of(s)
    }
}

fn digits(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use peercloud_core::wire::{
        encoded_reply_len, encoded_request_len, Ack, Held, JoinReply, JoinRequest, LeftRequest,
        PeersReply, PeersRequest, ProbeOutcome, ProbeReply, ProbeRequest, ServerInfo, StatusReply,
        UpdateKind, WireCause,
    };
    use peercloud_core::{Host, PeerId};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;

    use super::*;

    /// Ids and hosts with and without characters that JSON escapes.
    fn id(rng: &mut ChaCha8Rng) -> PeerId {
        let ids = [
            "0b5bd3c5-9e1d-4c26-9f5c",
            "a\"b",
            "back\\slash",
            "é-ü-名",
            "x",
        ];
        let n = rng.random_range(0..1000);
        PeerId::parse(&format!("{}{n}", ids[rng.random_range(0..ids.len())])).unwrap()
    }

    fn host(rng: &mut ChaCha8Rng) -> Host {
        let hosts = ["127.0.0.1", "::1", "peer-3.example", "10.1.2.3"];
        Host::parse(hosts[rng.random_range(0..hosts.len())]).unwrap()
    }

    /// Data of every shape, shared between messages as typed delivery
    /// shares it: drawn from a few values made once.
    fn data(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> Arc<Value> {
        pool[rng.random_range(0..pool.len())].clone()
    }

    fn data_pool() -> Vec<Arc<Value>> {
        [
            json!({}),
            json!(null),
            json!({ "peer": 17 }),
            json!({ "name": "q\"uote\\d\n", "tags": [1, 2.5, -3, true, null], "o": { "k": "名" } }),
            json!("a string"),
            json!(12345678901234u64),
        ]
        .into_iter()
        .map(Arc::new)
        .collect()
    }

    fn held(rng: &mut ChaCha8Rng) -> Option<Held> {
        let len = rng.random_range(0..20);
        rng.random_bool(0.5)
            .then(|| Held::new((0..len).map(|_| rng.random::<u64>())))
    }

    fn incarnation(rng: &mut ChaCha8Rng) -> Option<u64> {
        rng.random_bool(0.5)
            .then(|| [0, 9, 10, 99_999, u64::MAX][rng.random_range(0..5)])
    }

    fn peer_info(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> PeerInfo {
        PeerInfo {
            id: id(rng),
            ip: host(rng),
            port: [0, 9, 10, 9338, u16::MAX][rng.random_range(0..5)],
            data: data(rng, pool),
            incarnation: incarnation(rng),
        }
    }

    fn update(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> Update {
        let kinds = [
            UpdateKind::Alive,
            UpdateKind::Suspect,
            UpdateKind::Failed,
            UpdateKind::Left,
        ];
        let mut update = Update::about(
            kinds[rng.random_range(0..4)],
            id(rng),
            rng.random_range(0..100),
        );
        if rng.random_bool(0.5) {
            update.ip = Some(host(rng));
            update.port = Some(rng.random());
            update.data = Some(data(rng, pool));
        }
        if rng.random_bool(0.3) {
            update.by = Some(id(rng));
            update.cause = Some(WireCause::Silent);
        }
        update
    }

    fn envelope(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> Envelope {
        Envelope {
            from: rng.random_bool(0.5).then(|| update(rng, pool)),
            updates: (0..rng.random_range(0..4))
                .map(|_| update(rng, pool))
                .collect(),
        }
    }

    fn list(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> Vec<PeerInfo> {
        (0..rng.random_range(0..5))
            .map(|_| peer_info(rng, pool))
            .collect()
    }

    fn server(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> ServerInfo {
        ServerInfo {
            id: id(rng),
            data: (*data(rng, pool)).clone(),
            incarnation: incarnation(rng),
        }
    }

    fn request(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> Request {
        match rng.random_range(0..7) {
            0 => Request::Join(JoinRequest {
                id: Some(id(rng)),
                data: Some((*data(rng, pool)).clone()),
                ..JoinRequest::default()
            }),
            1 => Request::Joined(peer_info(rng, pool)),
            2 => Request::Left(LeftRequest::new(id(rng))),
            3 => Request::Status(envelope(rng, pool)),
            4 => Request::Peers(PeersRequest { have: held(rng) }),
            5 => Request::Probe(ProbeRequest {
                target: peer_info(rng, pool),
                envelope: envelope(rng, pool),
            }),
            _ => Request::Gossip(envelope(rng, pool)),
        }
    }

    fn reply(rng: &mut ChaCha8Rng, pool: &[Arc<Value>]) -> Response {
        match rng.random_range(0..6) {
            0 => Response::Join(JoinReply {
                status: "joined".into(),
                id: Some(id(rng)),
                ip: Some(host(rng)),
                port: Some(rng.random()),
                server: server(rng, pool),
                peers: list(rng, pool),
            }),
            1 => Response::Joined(Ack {
                status: "added".into(),
            }),
            2 => Response::Status(StatusReply {
                id: Some(id(rng)),
                online: rng.random(),
                listening: true,
                joined: rng.random(),
                digest: rng.random_bool(0.5).then(|| "3-00ff".to_owned()),
                incarnation: incarnation(rng),
                gossip: envelope(rng, pool),
            }),
            3 => Response::Peers(PeersReply {
                server: server(rng, pool),
                peers: list(rng, pool),
                lacking: held(rng),
            }),
            4 => Response::Probe(ProbeReply {
                outcome: ProbeOutcome::Alive,
                envelope: envelope(rng, pool),
            }),
            _ => Response::Gossip(envelope(rng, pool)),
        }
    }

    #[test]
    fn every_message_counts_as_long_as_the_codec_writes_it_and_is_left_as_it_was() {
        let pool = data_pool();
        let mut count = ByteCount::default();
        for seed in 0..400 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut sent = request(&mut rng, &pool);
            let before = sent.clone();
            let counted = count.request(&mut sent);
            assert_eq!(
                counted,
                encoded_request_len(&before),
                "seed {seed}: {before:?}"
            );
            assert_eq!(sent, before, "seed {seed}: the request changed");

            let mut answer = reply(&mut rng, &pool);
            let before = answer.clone();
            let counted = count.reply(&mut answer);
            assert_eq!(
                counted,
                encoded_reply_len(&before),
                "seed {seed}: {before:?}"
            );
            assert_eq!(answer, before, "seed {seed}: the reply changed");
        }
    }

    #[test]
    fn a_shared_data_value_is_measured_once_and_forgotten_once_unused() {
        let mut count = ByteCount::default();
        let shared = Arc::new(json!({ "peer": 1 }));
        let record = shared.clone();
        assert_eq!(count.data_len(&shared), 10);
        assert_eq!(count.data_len(&record), 10);
        assert_eq!(count.data.len(), 1);
        // A value made for one message only is measured, not kept.
        assert_eq!(count.data_len(&Arc::new(json!({ "peer": 100 }))), 12);
        assert_eq!(count.data.len(), 1);
        // Values no record holds any more are swept as more come.
        drop((shared, record));
        let held: Vec<Arc<Value>> = (0..3 * MIN_SWEEP)
            .map(|n| Arc::new(json!({ "peer": n })))
            .collect();
        for value in &held {
            let _also_in_a_record = value.clone();
            count.data_len(value);
        }
        assert!(count.data.len() <= 2 * held.len(), "{}", count.data.len());
        let mut count = ByteCount::default();
        for n in 0..3 * MIN_SWEEP {
            let value = Arc::new(json!({ "peer": n }));
            let record = value.clone();
            count.data_len(&value);
            drop((value, record));
        }
        assert!(count.data.len() <= 2 * MIN_SWEEP, "{}", count.data.len());
    }
}
