//! The calls under way: what each is for and its deadline, with the calls
//! that probe or check a member indexed by that member. Removing a member
//! forgets its probes through the index: a peer of a large cloud removes
//! thousands of members in a partition while hundreds of its calls wait
//! for answers, and a scan of every call per removal made that cost grow
//! with their product.

use std::collections::{BTreeMap, BTreeSet};

use super::timers::TimerKey;
use super::Pending;
use crate::id::PeerId;
use crate::io::{CallId, ReplyToken};

/// An outstanding call: what it is for, and its deadline in the timers.
#[derive(Debug)]
pub(super) struct Outstanding {
    pub(super) what: Pending,
    pub(super) deadline: TimerKey,
}

/// The calls under way. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct Calls {
    by_call: BTreeMap<CallId, Outstanding>,
    /// `(member, call)` for every call that probes or checks the member
    /// ([`Pending::probed`]), and for no other.
    probing: BTreeSet<(PeerId, CallId)>,
}

impl Calls {
    pub(super) fn insert(&mut self, call: CallId, outstanding: Outstanding) {
        if let Some(target) = outstanding.what.probed() {
            self.probing.insert((target.clone(), call));
        }
        self.by_call.insert(call, outstanding);
    }

    /// Takes a call out, once it has its result.
    pub(super) fn remove(&mut self, call: CallId) -> Option<Outstanding> {
        let outstanding = self.by_call.remove(&call)?;
        if let Some(target) = outstanding.what.probed() {
            self.probing.remove(&(target.clone(), call));
        }
        Some(outstanding)
    }

    pub(super) fn clear(&mut self) {
        self.by_call.clear();
        self.probing.clear();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_call.len()
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.by_call.is_empty()
    }

    #[cfg(test)]
    pub(super) fn get(&self, call: &CallId) -> Option<&Outstanding> {
        self.by_call.get(call)
    }

    #[cfg(test)]
    pub(super) fn contains_key(&self, call: &CallId) -> bool {
        self.by_call.contains_key(call)
    }

    /// The calls in the order they were made.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (&CallId, &Outstanding)> {
        self.by_call.iter()
    }

    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &Outstanding> {
        self.by_call.values()
    }

    /// Marks every call that probes or checks `id` as
    /// [`Pending::Forgotten`]: the member was removed, and a late result
    /// must not count against a member of that id added again meanwhile.
    pub(super) fn forget_probes_of(&mut self, id: &PeerId) {
        let calls: Vec<CallId> = self
            .probing
            .range((id.clone(), CallId(0))..=(id.clone(), CallId(u64::MAX)))
            .map(|(_, call)| *call)
            .collect();
        for call in calls {
            self.probing.remove(&(id.clone(), call));
            if let Some(outstanding) = self.by_call.get_mut(&call) {
                outstanding.what = Pending::Forgotten;
            }
        }
    }

    /// Voids every direct probe under way: this peer stalled, so their
    /// failures may be its own. Only probing calls are visited.
    pub(super) fn void_probes(&mut self) {
        for (_, call) in &self.probing {
            if let Some(Outstanding {
                what: Pending::Probe { voided, .. },
                ..
            }) = self.by_call.get_mut(call)
            {
                *voided = true;
            }
        }
    }

    /// Takes out the calls that a request waits on (joiners being checked,
    /// probes relayed for others), and returns those requests' tokens.
    pub(super) fn take_waiting(&mut self) -> Vec<ReplyToken> {
        let mut tokens = Vec::new();
        self.by_call
            .retain(|_, outstanding| match outstanding.what {
                Pending::JoinCheck { token, .. } | Pending::Relay { token, .. } => {
                    tokens.push(token);
                    false
                }
                _ => true,
            });
        tokens
    }

    /// Whether the index holds exactly the probing calls (an invariant
    /// the core's fuzzing checks after every step).
    #[cfg(test)]
    pub(super) fn index_is_exact(&self) -> bool {
        let expected: BTreeSet<(PeerId, CallId)> = self
            .by_call
            .iter()
            .filter_map(|(call, o)| o.what.probed().map(|t| (t.clone(), *call)))
            .collect();
        expected == self.probing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::timers::{Timer, Timers};
    use std::time::Instant;

    fn id(s: &str) -> PeerId {
        PeerId::parse(s).unwrap()
    }

    /// The one clock reading of these tests: deadlines only need keys.
    #[allow(clippy::disallowed_methods)]
    fn base() -> Instant {
        Instant::now()
    }

    fn outstanding(timers: &mut Timers, what: Pending) -> Outstanding {
        let deadline = timers.schedule(base(), Timer::ProbeTick);
        Outstanding { what, deadline }
    }

    fn kinds(calls: &Calls) -> Vec<String> {
        calls
            .by_call
            .values()
            .map(|o| match &o.what {
                Pending::Probe { target, voided } => format!("probe {target} {voided}"),
                Pending::IndirectProbe { target, .. } => format!("indirect {target}"),
                Pending::Verify { target, .. } => format!("verify {target}"),
                Pending::Forgotten => "forgotten".to_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn four_calls() -> Calls {
        let mut timers = Timers::default();
        let mut calls = Calls::default();
        let (a, b) = (id("a"), id("b"));
        let whats = [
            Pending::Probe {
                target: a.clone(),
                voided: false,
            },
            Pending::IndirectProbe {
                target: a.clone(),
                helper: b.clone(),
            },
            Pending::Probe {
                target: b.clone(),
                voided: false,
            },
            Pending::Notice,
        ];
        for (n, what) in whats.into_iter().enumerate() {
            calls.insert(CallId(n as u64), outstanding(&mut timers, what));
        }
        calls
    }

    #[test]
    fn removing_a_member_forgets_its_probes_and_no_other_call() {
        let mut calls = four_calls();
        calls.forget_probes_of(&id("a"));
        assert_eq!(
            kinds(&calls),
            ["forgotten", "forgotten", "probe b false", "Notice"]
        );
        assert!(calls.index_is_exact());
        calls.forget_probes_of(&id("c"));
        assert_eq!(calls.len(), 4, "forgetting changes what calls are for only");
    }

    #[test]
    fn the_index_follows_every_insert_and_removal() {
        let mut calls = four_calls();
        assert!(calls.index_is_exact());
        for n in [2, 0, 3, 1] {
            assert!(calls.remove(CallId(n)).is_some());
            assert!(calls.index_is_exact(), "after removing call {n}");
        }
        assert!(calls.remove(CallId(0)).is_none(), "a call has one result");
        assert_eq!(calls.len(), 0);
    }

    #[test]
    fn a_stall_voids_direct_probes_only() {
        let mut calls = four_calls();
        calls.void_probes();
        assert_eq!(
            kinds(&calls),
            ["probe a true", "indirect a", "probe b true", "Notice"]
        );
    }
}
