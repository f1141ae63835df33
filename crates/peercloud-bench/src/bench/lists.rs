//! The member lists of watched peers: started with `watch`, a peer prints a
//! `members` line whenever its list (or a member's data) changes. Every
//! list is kept with the moment its line was read, so a scenario can ask
//! afterwards what each peer listed, with which data, and since when. Reads
//! only the lines of the processes it is given.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tokio::time::{sleep, Instant};

use crate::fleet::Peer;
use crate::procs::{Line, Proc};
use crate::Result;

/// How often the lines are looked at (the times come from the lines).
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// One list a peer printed, and when it was read.
#[derive(Debug, Clone)]
struct Listed {
    at: Instant,
    ids: BTreeSet<String>,
    /// Every entry with its data, in the peer's order (an id the peer
    /// lists twice is here twice).
    entries: Vec<(String, Value)>,
}

/// One peer's member lists, as its `members` lines said.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// Its own id, once known.
    pub(crate) id: Option<String>,
    /// When it said it was ready (if that was watched here).
    pub(crate) ready: Option<Instant>,
    /// Every list it printed, oldest first.
    history: Vec<Listed>,
}

impl View {
    /// The view of a peer whose id is known (it was waited for).
    pub(crate) fn of(id: &str) -> View {
        View {
            id: Some(id.to_owned()),
            ..View::default()
        }
    }

    /// Takes in the lines it printed since the last look.
    pub(crate) fn absorb(&mut self, lines: Vec<Line>) {
        for line in lines {
            match line.event() {
                "ready" => {
                    self.id = line.value["id"].as_str().map(str::to_owned);
                    self.ready = Some(line.at);
                }
                "members" => {
                    let ids = line.value["ids"].as_array().cloned().unwrap_or_default();
                    let ids = ids
                        .iter()
                        .filter_map(|id| id.as_str().map(str::to_owned))
                        .collect();
                    let peers = line.value["peers"].as_array().cloned().unwrap_or_default();
                    let entries = peers
                        .iter()
                        .filter_map(|p| Some((p["id"].as_str()?.to_owned(), p["data"].clone())))
                        .collect();
                    self.history.push(Listed {
                        at: line.at,
                        ids,
                        entries,
                    });
                }
                _ => {}
            }
        }
    }

    /// Its list now (empty before its first `members` line).
    pub(crate) fn members(&self) -> BTreeSet<String> {
        self.history
            .last()
            .map(|l| l.ids.clone())
            .unwrap_or_default()
    }

    /// When its list last changed.
    pub(crate) fn changed(&self) -> Option<Instant> {
        self.history.last().map(|l| l.at)
    }

    /// Whether it lists exactly every other id of `ids`.
    pub(crate) fn complete(&self, ids: &BTreeSet<String>) -> bool {
        let Some(own) = &self.id else { return false };
        let Some(now) = self.history.last() else {
            return false;
        };
        now.ids.len() == ids.len() - 1 && ids.iter().all(|id| id == own || now.ids.contains(id))
    }

    /// Since when it has listed `id` without a break, if it lists it now.
    pub(crate) fn listed_since(&self, id: &str) -> Option<Instant> {
        self.streak(|l| l.ids.contains(id))
    }

    /// Since when it has lacked `id` without a break, if it lacks it now.
    pub(crate) fn lacked_since(&self, id: &str) -> Option<Instant> {
        self.streak(|l| !l.ids.contains(id))
    }

    /// Since when it has listed `id` exactly once, with `data`, without a
    /// break, if it does now.
    pub(crate) fn shows_once_since(&self, id: &str, data: &Value) -> Option<Instant> {
        self.streak(|l| {
            let mut held = l.entries.iter().filter(|(i, _)| i == id);
            matches!((held.next(), held.next()), (Some((_, d)), None) if d == data)
        })
    }

    /// Whether it listed `id` more than once at any moment from `from` on
    /// (the list it held at `from` counts).
    pub(crate) fn doubled_after(&self, id: &str, from: Instant) -> bool {
        self.since(from)
            .iter()
            .any(|l| l.entries.iter().filter(|(i, _)| i == id).count() > 1)
    }

    /// Whether its list lacked `id` at any moment from `from` on (the list
    /// it held at `from` counts).
    pub(crate) fn lacked_after(&self, id: &str, from: Instant) -> bool {
        self.since(from).iter().any(|l| !l.ids.contains(id))
    }

    /// The lists it held from `from` on: the one it held at `from`, and
    /// every later one.
    fn since(&self, from: Instant) -> &[Listed] {
        let held = self.history.iter().rposition(|l| l.at <= from).unwrap_or(0);
        self.history.get(held..).unwrap_or_default()
    }

    /// The start of the run of lists, ending with the last one, of which
    /// every one `holds`.
    fn streak(&self, holds: impl Fn(&Listed) -> bool) -> Option<Instant> {
        let mut since = None;
        for listed in self.history.iter().rev() {
            if !holds(listed) {
                break;
            }
            since = Some(listed.at);
        }
        since
    }
}

/// Watched peers: their processes and what each listed, index by index.
pub(crate) struct Watched {
    /// The processes (killed when dropped).
    pub(crate) procs: Vec<Proc>,
    /// Their lists.
    pub(crate) views: Vec<View>,
}

impl Watched {
    /// Watches peers that were waited for (their ids are known).
    pub(crate) fn new(peers: Vec<Peer>) -> Watched {
        let views = peers.iter().map(|p| View::of(&p.id)).collect();
        let procs = peers.into_iter().map(|p| p.proc).collect();
        Watched { procs, views }
    }

    /// Watches one more peer that was waited for.
    pub(crate) fn push(&mut self, peer: Peer) {
        self.views.push(View::of(&peer.id));
        self.procs.push(peer.proc);
    }

    /// Takes in every line printed since the last look. Never waits.
    pub(crate) fn look(&mut self) {
        for (proc, view) in self.procs.iter_mut().zip(self.views.iter_mut()) {
            view.absorb(proc.drain());
        }
    }

    /// The ids of every peer watched.
    pub(crate) fn ids(&self) -> BTreeSet<String> {
        self.views.iter().filter_map(|v| v.id.clone()).collect()
    }

    /// Looks every [`POLL`] until `done` gives an answer, up to `deadline`;
    /// `None` if it never did.
    pub(crate) async fn until<T>(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&[View]) -> Option<T>,
    ) -> Option<T> {
        loop {
            self.look();
            if let Some(answer) = done(&self.views) {
                return Some(answer);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(POLL).await;
        }
    }

    /// Waits until every list is full, up to `within`.
    pub(crate) async fn wait_mesh(&mut self, within: Duration) -> Result<()> {
        let ids = self.ids();
        let all = self.views.len();
        let full = |views: &[View]| views.iter().all(|v| v.complete(&ids)).then_some(());
        if self.until(Instant::now() + within, full).await.is_some() {
            return Ok(());
        }
        let complete = self.views.iter().filter(|v| v.complete(&ids)).count();
        Err(format!("only {complete} of {all} peers listed everyone within {within:?}").into())
    }
}

/// Each peer's list by name, `names` being the peers' names index by index
/// (an id of none of them is `?`): `a [b c], b [a c], ...`.
pub(crate) fn by_name(views: &[View], names: &[&str]) -> String {
    let name = |id: &String| {
        views
            .iter()
            .position(|v| v.id.as_ref() == Some(id))
            .and_then(|i| names.get(i))
            .copied()
            .unwrap_or("?")
    };
    views
        .iter()
        .zip(names)
        .map(|(view, own)| {
            let members: BTreeSet<&str> = view.members().iter().map(name).collect();
            let members: Vec<&str> = members.into_iter().collect();
            format!("{own} [{}]", members.join(" "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn members(at: Instant, ids: &[&str]) -> Line {
        Line {
            at,
            value: json!({"event": "members", "ids": ids}),
        }
    }

    #[test]
    fn a_peer_lacks_a_member_since_its_last_list_that_held_it() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut view = View::of("a");
        view.absorb(vec![
            members(t(0), &["b", "c"]),
            members(t(1), &["b"]),
            members(t(2), &["b", "c"]),
            members(t(3), &["b"]),
            members(t(4), &[]),
        ]);
        assert_eq!(view.lacked_since("c"), Some(t(3)));
        assert_eq!(view.lacked_since("b"), Some(t(4)));
        view.absorb(vec![members(t(5), &["b", "c"])]);
        assert_eq!(view.lacked_since("c"), None);
        assert!(view.complete(&["a", "b", "c"].map(str::to_owned).into()));
    }

    fn entries(at: Instant, entries: &[(&str, Value)]) -> Line {
        let ids: Vec<&str> = entries.iter().map(|(id, _)| *id).collect();
        let peers: Vec<Value> = entries
            .iter()
            .map(|(id, data)| json!({"id": id, "data": data}))
            .collect();
        Line {
            at,
            value: json!({"event": "members", "ids": ids, "peers": peers}),
        }
    }

    #[test]
    fn a_peer_shows_new_data_once_since_its_first_list_with_one_entry_holding_it() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let (old, new) = (json!({}), json!({"v": 1}));
        let mut view = View::of("a");
        view.absorb(vec![
            entries(t(0), &[("b", old.clone()), ("c", old.clone())]),
            entries(t(1), &[("c", old.clone())]),
            entries(t(2), &[("c", old.clone()), ("b", new.clone())]),
        ]);
        assert_eq!(view.shows_once_since("b", &new), Some(t(2)));
        assert_eq!(view.shows_once_since("b", &old), None);
        assert!(!view.doubled_after("b", t(0)));
        view.absorb(vec![
            entries(
                t(3),
                &[("c", old.clone()), ("b", new.clone()), ("b", new.clone())],
            ),
            entries(t(4), &[("c", old.clone()), ("b", new.clone())]),
        ]);
        assert_eq!(view.shows_once_since("b", &new), Some(t(4)));
        assert!(view.doubled_after("b", t(0)));
        assert!(!view.doubled_after("b", t(4)));
    }

    #[test]
    fn lists_by_name_show_known_peers_by_their_names_and_others_as_a_question_mark() {
        let t0 = Instant::now();
        let mut a = View::of("ida");
        a.absorb(vec![members(t0, &["idb", "idz"])]);
        let b = View::of("idb");
        assert_eq!(by_name(&[a, b], &["a", "b"]), "a [? b], b []");
    }

    #[test]
    fn a_member_dropped_and_listed_again_was_lacked_and_is_listed_since_its_return() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut view = View::of("a");
        view.absorb(vec![
            members(t(0), &["b", "c"]),
            members(t(2), &["b"]),
            members(t(4), &["b", "c"]),
        ]);
        assert!(view.lacked_after("c", t(1)));
        assert!(view.lacked_after("c", t(3)));
        assert!(!view.lacked_after("c", t(5)));
        assert!(!view.lacked_after("b", t(0)));
        assert_eq!(view.listed_since("c"), Some(t(4)));
        assert_eq!(view.listed_since("b"), Some(t(0)));
        assert_eq!(view.members().len(), 2);
    }
}
