//! The client's pool of idle keep-alive connections: at most
//! `max_idle` in all, whatever the number of peers (when one more goes idle
//! the least recently used is closed), each closed after `idle_timeout`
//! unused. A connection serves one request at a time, taken out of the pool
//! for it, so a peer never holds more connections than requests in flight
//! plus its idle ones. Only bookkeeping here; `dial.rs` opens connections.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use fnv::FnvHasher;
use hyper::header::HeaderValue;
use peercloud_core::Address;
use tokio::time::Instant;

use super::dial::{DialError, Dialer, Sender};

/// A connection taken out of the pool (or just opened) for one request;
/// give it back with [`Pool::put`] once its answer is read whole.
#[derive(Debug)]
pub(crate) struct Checkout {
    pub(crate) sender: Sender,
    /// The `host` header of its requests, made once per connection.
    pub(crate) host: HeaderValue,
    /// Whether it served a request before: a request it could not take
    /// (closed meanwhile) is worth trying once on a fresh one.
    pub(crate) reused: bool,
    generation: u64,
}

/// The pool. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub(crate) struct Pool {
    dialer: Dialer,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    max_idle: usize,
    idle_timeout: Duration,
    idle: Mutex<Idle>,
}

/// The index of idle connections by address, hashed with FNV: every
/// request looks its address up twice (take, then put); SipHash of a
/// short address alone cost about 250 instructions each time, a whole
/// lookup with FNV (hash, probe and comparison) costs about 140.
/// FNV is not keyed, so addresses could be chosen to collide; the map
/// holds at most about twice `max_idle` addresses (see [`Idle::push`]),
/// which bounds what a collision can cost.
type ByAddress = HashMap<Address, VecDeque<u64>, BuildHasherDefault<FnvHasher>>;

/// The idle connections. `order` holds them by a sequence number given when
/// a connection went idle, in that order, so its first entry is both the
/// least recently used and the first to time out; `by_address` lists each
/// address's numbers in the same order, so the most recent of an address is
/// its last. An address's list may be empty: it is kept, so that the next
/// connection to go idle there (at once, under a steady load) needs no new
/// list.
///
/// `order` is a deque rather than an ordered map: numbers only grow, so a
/// connection going idle is pushed at the back, and one is nearly always
/// taken from the back too (the most recent of its address, and under a
/// steady load the pool holds next to nothing between a put and the next
/// take), where the map's insert and remove cost about 380 instructions a
/// message. One taken from the middle, found by binary search, shifts at
/// most half of the `max_idle` entries.
#[derive(Debug, Default)]
struct Idle {
    order: VecDeque<(u64, Entry)>,
    by_address: ByAddress,
    next: u64,
    /// The keyring generation of the connections held.
    generation: u64,
    /// Whether a task is closing timed-out connections.
    reaping: bool,
}

#[derive(Debug)]
struct Entry {
    address: Address,
    since: Instant,
    sender: Sender,
    host: HeaderValue,
}

impl Pool {
    pub(crate) fn new(dialer: Dialer, max_idle: usize, idle_timeout: Duration) -> Self {
        let generation = dialer.generation();
        let idle = Idle {
            generation,
            ..Idle::default()
        };
        Pool {
            dialer,
            shared: Arc::new(Shared {
                max_idle,
                idle_timeout,
                idle: Mutex::new(idle),
            }),
        }
    }

    /// A connection to `to`: its most recently used idle one that is still
    /// open and ready, else a new one.
    pub(crate) async fn get(&self, to: &Address) -> Result<Checkout, DialError> {
        let generation = self.dialer.generation();
        while let Some((mut sender, host)) = self.take(to, generation) {
            // Ready at once unless the connection is still finishing its
            // last exchange; an error means it closed meanwhile.
            if sender.ready().await.is_ok() {
                return Ok(Checkout {
                    sender,
                    host,
                    reused: true,
                    generation,
                });
            }
        }
        self.fresh(to).await
    }

    /// A new connection to `to`, whatever the pool holds.
    pub(crate) async fn fresh(&self, to: &Address) -> Result<Checkout, DialError> {
        let generation = self.dialer.generation();
        let host = HeaderValue::try_from(to.to_string())
            .map_err(|e| DialError::Unreachable(format!("invalid address {to}: {e}")))?;
        let sender = self.dialer.dial(to).await?;
        Ok(Checkout {
            sender,
            host,
            reused: false,
            generation,
        })
    }

    /// Gives back a connection whose answer was read whole: it goes idle,
    /// closing the least recently used idle one if the pool is full. A
    /// closed one, or one from before a keyring replacement, is dropped.
    pub(crate) fn put(&self, to: &Address, checkout: Checkout) {
        if checkout.sender.is_closed() || self.shared.max_idle == 0 {
            return;
        }
        let generation = self.dialer.generation();
        let (evicted, start_reaper) = {
            let mut idle = self.shared.lock();
            idle.renew(generation);
            if checkout.generation != generation {
                return;
            }
            let evicted = idle.push(to, checkout.sender, checkout.host, self.shared.max_idle);
            let start_reaper = !idle.reaping;
            idle.reaping = true;
            (evicted, start_reaper)
        };
        // Dropping a sender closes its connection; done outside the lock.
        drop(evicted);
        if start_reaper {
            tokio::spawn(reap(Arc::downgrade(&self.shared)));
        }
    }

    /// How many idle connections the pool holds.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        self.shared.lock().order.len()
    }

    fn take(&self, to: &Address, generation: u64) -> Option<(Sender, HeaderValue)> {
        let timeout = self.shared.idle_timeout;
        let mut idle = self.shared.lock();
        idle.renew(generation);
        loop {
            let entry = idle.pop_newest(to)?;
            if !entry.sender.is_closed() && entry.since.elapsed() < timeout {
                return Some((entry.sender, entry.host));
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Idle> {
        // The map stays consistent at every await-free step, so a panic
        // elsewhere while it was held leaves nothing half done.
        match self.idle.lock() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Idle {
    /// Drops every connection if the keyring was replaced since they were
    /// made: they were authenticated with the keys of their day.
    fn renew(&mut self, generation: u64) {
        if self.generation != generation {
            self.order.clear();
            self.by_address.clear();
            self.generation = generation;
        }
    }

    /// Adds an idle connection; returns the ones evicted to stay within
    /// `max_idle`, least recently used first.
    fn push(
        &mut self,
        address: &Address,
        sender: Sender,
        host: HeaderValue,
        max_idle: usize,
    ) -> Vec<Sender> {
        let mut evicted = Vec::new();
        while self.order.len() >= max_idle {
            match self.pop_oldest() {
                Some(entry) => evicted.push(entry.sender),
                None => break,
            }
        }
        let seq = self.next;
        self.next += 1;
        match self.by_address.get_mut(address) {
            Some(seqs) => seqs.push_back(seq),
            None => {
                // Empty lists are kept for reuse, but not without end: at
                // most `max_idle` of them beside the ones in use.
                if self.by_address.len() >= 2 * max_idle {
                    self.by_address.retain(|_, seqs| !seqs.is_empty());
                }
                self.by_address
                    .insert(address.clone(), VecDeque::from([seq]));
            }
        }
        let since = Instant::now();
        let address = address.clone();
        self.order.push_back((
            seq,
            Entry {
                address,
                since,
                sender,
                host,
            },
        ));
        evicted
    }

    fn pop_newest(&mut self, to: &Address) -> Option<Entry> {
        let seq = self.by_address.get_mut(to)?.pop_back()?;
        let at = self
            .order
            .binary_search_by_key(&seq, |(seq, _)| *seq)
            .ok()?;
        self.order.remove(at).map(|(_, entry)| entry)
    }

    fn pop_oldest(&mut self) -> Option<Entry> {
        let (_, entry) = self.order.pop_front()?;
        if let Some(seqs) = self.by_address.get_mut(&entry.address) {
            seqs.pop_front();
            if seqs.is_empty() {
                self.by_address.remove(&entry.address);
            }
        }
        Some(entry)
    }

    /// When the least recently used connection times out, if there is one.
    fn next_deadline(&self, timeout: Duration) -> Option<Instant> {
        self.order.front().map(|(_, entry)| entry.since + timeout)
    }
}

/// Closes idle connections as they time out, sleeping until the next one
/// does; ends when the pool is empty (the next `put` starts another) or
/// dropped.
async fn reap(shared: Weak<Shared>) {
    loop {
        let deadline = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let mut idle = shared.lock();
            match idle.next_deadline(shared.idle_timeout) {
                Some(deadline) => deadline,
                None => {
                    idle.reaping = false;
                    return;
                }
            }
        };
        tokio::time::sleep_until(deadline).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut expired = Vec::new();
        {
            let mut idle = shared.lock();
            let now = Instant::now();
            while idle
                .next_deadline(shared.idle_timeout)
                .is_some_and(|deadline| deadline <= now)
            {
                expired.extend(idle.pop_oldest().map(|entry| entry.sender));
            }
        }
        drop(expired);
    }
}
