//! Anti-entropy between peercloud peers, an extension of the protocol that
//! original peers never see: every `/status` answer carries a digest of the
//! member list the peer knows (itself included). A probe that comes back
//! with a digest other than this peer's own asks that member for its list
//! (`/peers`), and the members on it that this peer does not know are
//! added, in one call however many they are. The request says which
//! records this peer holds (a hash each, see `wire::PeersRequest`), so
//! that the answer lists only the others.
//!
//! A member's list is taken as its gossip is: the member heard of each
//! entry from the peer that checked it. Lists only grow this way, so joins
//! whose news was lost (or raced each other through different members) end
//! up in every list, and a member dropped by mistake comes back, while a
//! member declared failed here is not brought back by a list (only by its
//! own refutation, through the reconnects). An entry that turns out dead is
//! found by the probes like any member. Original peers send no digest, so
//! they are never asked for a list they cannot give.

use std::time::Instant;

use super::members::id_hash;
use super::table::{Candidate, Entry, Kind};
use super::{Membership, Pending};
use crate::id::PeerId;
use crate::io::{CallResult, Request, Response};
use crate::member::Member;
use crate::wire::{record_hash, Held, PeersRequest};

/// The most `/status` checks of listed members under way at once; members
/// left over are found by a later sync.
pub(super) const MAX_SYNC_CHECKS: usize = 16;

/// How many probe answers in a row must find the list unchanged before a
/// differing digest pulls: while news still arrives (a burst of joins), a
/// pull would only race it. Unless the answer counts more members than
/// this peer knows: that member holds some this peer lacks, which the
/// burst may never bring (gossip leaves a few peers unreached), and on a
/// busy machine, where a peer probes only every few seconds, the wait
/// for quiet or overdue held the last lists open for seconds more (1,000
/// simulated peers on two modelled cores: whole after 8.4 s instead of
/// 9.6 s, at three seeds). It is still one pull at a time, after a probe
/// answer: a member that claims to know more than it does costs a pull
/// per probe of it, no more.
const QUIET_ANSWERS: u32 = 1;

/// How many probe answers at most between pulls while digests differ,
/// however busy the list: a cloud that never rests still converges, and
/// after a burst of joins at thousands of members the last gaps close in
/// about a second (a pull is one call, however long the list).
///
/// Both are counted in answers rather than timed: probes come one
/// interval apart give or take their jitter and the network's, and a wait
/// of "one interval" read off the clock was missed by a fraction of a
/// millisecond half the time, which left the last gaps after a burst of
/// joins open for an interval more each (a second at 3,000 peers).
pub(super) const MAX_WAIT_ANSWERS: u32 = 2;

/// How many members a digest counts, its peer included (see
/// [`Membership::digest`]).
fn count_of(digest: &str) -> Option<usize> {
    digest.split_once('-')?.0.parse().ok()
}

/// The state of the pulls.
#[derive(Debug, Default)]
pub(super) struct Syncer {
    /// Whether a `/peers` call is under way (one at a time).
    pulling: bool,
    /// The `/status` checks of candidates under way.
    checking: usize,
    /// The list's version at the last probe answer, and how many answers
    /// in a row found it so.
    seen: Option<(u64, u32)>,
    /// Probe answers since the last pull began (`None`: no pull yet).
    since_pull: Option<u32>,
}

impl Membership {
    /// The digest of the member list this peer knows, itself included:
    /// the count and an order-free hash of the ids (FNV-1a of each id,
    /// combined with xor), so that two peers with the same list agree.
    pub fn digest(&self) -> String {
        let hash = id_hash(&self.me.id) ^ self.members.ids_hash();
        format!("{}-{hash:016x}", self.members.len() + 1)
    }

    /// After a successful probe of `target`: pulls its list if it differs
    /// and this peer's own list has been quiet for a while.
    pub(super) fn compare_digest(&mut self, now: Instant, target: &PeerId, digest: Option<&str>) {
        let unchanged = match self.syncer.seen {
            Some((version, answers)) if version == self.version => answers + 1,
            _ => 0,
        };
        self.syncer.seen = Some((self.version, unchanged));
        if let Some(answers) = self.syncer.since_pull.as_mut() {
            *answers = answers.saturating_add(1);
        }
        let Some(theirs) = digest else {
            return;
        };
        if theirs == self.digest() {
            let limit = self.retransmit_limit();
            self.gossip.known_by_one_more(limit);
            return;
        }
        if self.syncer.pulling {
            return;
        }
        let quiet = unchanged >= QUIET_ANSWERS;
        let overdue = self
            .syncer
            .since_pull
            .is_none_or(|answers| answers >= MAX_WAIT_ANSWERS);
        let knows_more = count_of(theirs).is_some_and(|count| count > self.members.len() + 1);
        if !quiet && !overdue && !knows_more {
            return;
        }
        let Some(entry) = self.members.get(target) else {
            return;
        };
        self.syncer.since_pull = Some(0);
        let to = entry.member.address();
        self.syncer.pulling = true;
        let timeout = self.config.call_timeout;
        let request = PeersRequest {
            have: Some(self.held()),
        };
        self.call(now, to, Request::Peers(request), timeout, Pending::Sync);
    }

    /// The hashes of the records this peer holds, its own included, as a
    /// pull names them.
    fn held(&self) -> Held {
        let own = record_hash(&self.me.id, self.incarnation);
        let members = self.members.values().map(Entry::record_hash);
        Held::new(std::iter::once(own).chain(members))
    }

    /// A member's list: members this peer does not know are added, newer
    /// records of members it knows are taken. A member failed here at the
    /// same incarnation is left to the reconnects, which tell it so it can
    /// refute.
    pub(super) fn on_sync_reply(&mut self, now: Instant, result: CallResult) {
        self.syncer.pulling = false;
        if !self.is_running() {
            return;
        }
        // On failure, the next probe that sees a different digest asks again.
        let Ok(Response::Peers(reply)) = result else {
            return;
        };
        let server = reply.server.id;
        let mut peers = reply.peers;
        // An answer that names what it lacks lists only what this peer
        // lacks: that a member is not listed tells nothing then. A peer
        // that does not know the extension lists every member it holds.
        let partial = reply.lacking.is_some();
        // Peercloud peers list their members ordered by id, as this peer
        // holds its own: one walk through both lists tells what each
        // lacks, with no set of the thousands of ids to build. A list
        // that is not so ordered (no peer of ours sends one) is sorted.
        if !peers.is_sorted_by(|a, b| a.id < b.id) {
            peers.sort_by(|a, b| a.id.cmp(&b.id));
        }
        // The ids a short answer lists (a few, at most those this peer
        // lacks and those it holds at another incarnation).
        let listed: Vec<PeerId> = if partial {
            peers.iter().map(|info| info.id.clone()).collect()
        } else {
            Vec::new()
        };
        // Members listed here and not there are news that has not reached
        // that member yet, or members gone whose failure this peer missed
        // (gossip may miss one peer in a large cloud, and a pull only
        // adds): probing them next tells which, rather than in a round of
        // N probes.
        let mut missing_there = Vec::new();
        let mut news = Vec::new();
        let mut ours = self.members.values().peekable();
        for info in peers {
            while let Some(entry) = ours.next_if(|e| e.member.id < info.id) {
                if !partial && missing_there.len() < MAX_SYNC_CHECKS && entry.member.id != server {
                    missing_there.push(entry.member.id.clone());
                }
            }
            let known = ours.next_if(|e| e.member.id == info.id);
            let candidate = Candidate {
                kind: Kind::of(info.incarnation),
                incarnation: info.incarnation.unwrap_or(0),
                member: Member::from(info),
            };
            match known {
                Some(entry) => {
                    if candidate.kind == Kind::Rust && candidate.incarnation > entry.incarnation {
                        news.push(candidate);
                    }
                }
                None => news.push(candidate),
            }
        }
        if let Some(lacking) = &reply.lacking {
            drop(ours);
            // The records whose hashes that member did not find, read off
            // this peer's own as it sent them; those it listed it holds
            // at another incarnation, and are not missing there (after a
            // storm of refutations, most of the hashes it lacks are such,
            // and probing them next would only probe again the members
            // that had just refuted).
            for entry in self.members.values() {
                if missing_there.len() >= MAX_SYNC_CHECKS {
                    break;
                }
                let id = &entry.member.id;
                let lacked = lacking.contains(entry.record_hash());
                if lacked && *id != server && listed.binary_search(id).is_err() {
                    missing_there.push(id.clone());
                }
            }
        } else {
            for entry in ours {
                if missing_there.len() >= MAX_SYNC_CHECKS {
                    break;
                }
                if entry.member.id != server {
                    missing_there.push(entry.member.id.clone());
                }
            }
        }
        for id in missing_there {
            self.prober.probe_next(id);
        }
        for candidate in news {
            // Known already: a newer record of it, or an id listed twice.
            if let Some(entry) = self.members.get(&candidate.member.id) {
                if candidate.kind == Kind::Rust && candidate.incarnation > entry.incarnation {
                    self.refresh_member(candidate);
                }
                continue;
            }
            let failed_here = self
                .tombstones
                .get(&candidate.member.id)
                .is_some_and(|t| candidate.incarnation <= t.incarnation);
            if !failed_here {
                self.insert_listed(now, candidate, false);
            }
        }
    }

    /// Checks a member learned of second hand with `/status` before it is
    /// added; at most [`MAX_SYNC_CHECKS`] at once, one per id.
    pub(super) fn check_candidate(&mut self, now: Instant, candidate: Candidate) {
        let id = candidate.member.id.clone();
        if self.syncer.checking >= MAX_SYNC_CHECKS || self.id_in_use(&id) {
            return;
        }
        self.syncer.checking += 1;
        self.checking.insert(id.clone());
        let to = candidate.member.address();
        let envelope = self.envelope_for(&id, true);
        let timeout = self.config.check_timeout;
        let pending = Pending::SyncCheck { candidate };
        self.call(now, to, Request::Status(envelope), timeout, pending);
    }

    pub(super) fn on_sync_check(
        &mut self,
        now: Instant,
        mut candidate: Candidate,
        result: CallResult,
    ) {
        self.syncer.checking = self.syncer.checking.saturating_sub(1);
        self.checking.remove(&candidate.member.id);
        if !self.is_running() || self.id_in_use(&candidate.member.id) {
            return;
        }
        if let Ok(Response::Status(status)) = result {
            if status.id.as_ref() == Some(&candidate.member.id) {
                if let Some(incarnation) = status.incarnation {
                    candidate.kind = Kind::Rust;
                    candidate.incarnation = candidate.incarnation.max(incarnation);
                } else {
                    candidate.kind = Kind::Original;
                }
                let id = candidate.member.id.clone();
                self.insert_member(now, candidate, true);
                let source = super::gossip::Source::Reply { replier: &id };
                self.merge_envelope(now, status.gossip, source, None);
            }
        }
    }
}
