//! The harness of the fuzz tests: one core driven through a case's steps
//! as a driver drives it (every request and reply through the codec, as
//! over HTTP), with the bookkeeping the checks need: the calls asked for
//! and not answered, the requests not replied to, the members as an
//! application following the events sees them, what was last published.
//! After each step it drains every output and checks the outputs here and
//! the state in `checks.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::checks;
use super::inputs::{home, peer, Opening, Outcome, Step, ME};
use super::outputs::Published;
use super::replies::index_of_place;
use crate::error::CallError;
use crate::id::PeerId;
use crate::io::{Action, CallId, Event, Origin, ReplyToken, Request, Response};
use crate::member::{Address, Host, Member};
use crate::membership::health::MAX_SCORE;
use crate::membership::{Identity, MemberState, Membership};
use crate::wire::{decode_request, encode_request, JoinReply, PeerInfo, ServerInfo, STATUS_JOINED};

type Checked = Result<(), String>;

/// The most outputs one step may give: the world has a handful of peers
/// and an input at most a few dozen updates, so a step that asks for more
/// has lost its bounds.
const MAX_OUTPUTS_PER_STEP: usize = 512;

/// The most wake-ups of the end of a case (each one runs at least one
/// timer, and the end lasts the longest call timeout).
const MAX_FINAL_WAKES: usize = 10_000;

/// A call the core asked for.
#[derive(Debug, Clone)]
pub(super) struct Made {
    pub(super) to: Address,
    pub(super) path: &'static str,
    /// When the core gives up on it.
    pub(super) deadline: Instant,
}

/// What one step put out.
struct Output {
    actions: Vec<Action>,
    events: Vec<Event>,
}

pub(super) struct Run {
    pub(super) core: Membership,
    pub(super) now: Instant,
    /// Calls asked for and not answered by the harness (the core may have
    /// given up on some).
    pub(super) calls: BTreeMap<CallId, Made>,
    pub(super) last_call: Option<CallId>,
    /// Requests handed in and not replied to, with their paths.
    pub(super) waiting: BTreeMap<ReplyToken, &'static str>,
    pub(super) next_token: u64,
    /// The members as an application following the events sees them.
    pub(super) view: BTreeMap<PeerId, (Value, MemberState)>,
    pub(super) started: bool,
    /// Whether `leave` was called, and whether `Closed` came.
    pub(super) left: bool,
    pub(super) closed: bool,
    /// Whether the goodbyes of a leave may be asked for (during the leave).
    pub(super) leaving_now: bool,
    pub(super) published: (u64, Published),
    /// This peer's incarnation and its members' as last seen: none goes
    /// down.
    pub(super) incarnation: u64,
    pub(super) incarnations: BTreeMap<PeerId, u64>,
    /// The longest any call may wait (timeouts stretch with bad health).
    pub(super) max_timeout: Duration,
}

impl Run {
    /// A core started as `opening` says, its outputs checked.
    pub(super) fn start(opening: &Opening, t0: Instant) -> Result<Self, String> {
        let me = Identity {
            id: PeerId::parse(ME).expect("a valid id"),
            port: 9338,
            advertise: opening
                .advertise
                .then(|| Host::parse("10.0.0.100").expect("a valid host")),
            data: serde_json::json!({ "name": ME }),
        };
        let core = Membership::new(me, opening.config.clone(), opening.rng_seed);
        let c = &opening.config;
        let stretched = c.probe_timeout * 2 * (1 + MAX_SCORE);
        let max_timeout = [
            c.call_timeout,
            c.check_timeout,
            c.join_timeout,
            c.leave_timeout,
        ]
        .into_iter()
        .fold(stretched, Duration::max);
        let mut run = Run {
            published: (core.version(), Published::of(&core)),
            core,
            now: t0,
            calls: BTreeMap::new(),
            last_call: None,
            waiting: BTreeMap::new(),
            next_token: 0,
            view: BTreeMap::new(),
            started: false,
            left: false,
            closed: false,
            leaving_now: false,
            incarnation: 0,
            incarnations: BTreeMap::new(),
            max_timeout,
        };
        let seeds = opening.seeds.iter().map(|k| home(*k)).collect();
        run.core.start(t0, seeds);
        run.settle(false)?;
        if let Some((members, rust)) = &opening.joined {
            run.join_cloud(members, *rust)?;
        }
        Ok(run)
    }

    /// Answers the start's `/join` with a cloud of `p{k}` for `members`.
    fn join_cloud(&mut self, members: &[usize], rust: bool) -> Checked {
        let Some((&call, made)) = self.calls.iter().next() else {
            return Err("a start with seeds asked for no /join".into());
        };
        let seed = index_of_place(&made.to).unwrap_or(0);
        let incarnation = rust.then_some(0);
        let info = |k: usize| PeerInfo {
            incarnation,
            ..PeerInfo::from(&Member {
                id: peer(k),
                host: home(k).host,
                port: 9338,
                data: serde_json::json!({ "name": k }).into(),
            })
        };
        let reply = JoinReply {
            status: STATUS_JOINED.into(),
            id: Some(self.core.id().clone()),
            ip: None,
            port: None,
            server: ServerInfo {
                id: peer(seed),
                data: serde_json::json!({ "name": seed }),
                incarnation,
            },
            peers: members
                .iter()
                .filter(|k| **k != seed)
                .map(|k| info(*k))
                .collect(),
        };
        self.calls.remove(&call);
        self.core
            .handle_response(self.now, call, Ok(Response::Join(reply)));
        self.settle(false)?;
        Ok(())
    }

    /// Feeds one step to the core and checks what it did.
    pub(super) fn step(&mut self, step: &Step) -> Checked {
        match step {
            Step::Request {
                from,
                remote,
                request,
            } => self.request(from.clone(), *remote, (**request).clone()),
            Step::Answer { pick, outcome } => {
                let Some(call) = self
                    .calls
                    .keys()
                    .nth(pick.index(self.calls.len().max(1)))
                    .copied()
                else {
                    return Ok(());
                };
                self.answer(call, outcome)
            }
            Step::Stray { call, outcome } => self.answer(CallId(*call), outcome),
            Step::Wait { by, wake } => {
                self.now += *by;
                match wake {
                    true => self.wake(),
                    false => Ok(()),
                }
            }
            Step::NextDeadline => match self.core.poll_timeout() {
                Some(due) => {
                    self.now = self.now.max(due);
                    self.wake()
                }
                None => Ok(()),
            },
            Step::SetData(data) => {
                self.core.set_data(self.now, data.clone());
                self.settle(false).map(drop)
            }
            Step::Leave => self.leave(),
        }
    }

    /// The end of a case: nothing more comes in and nothing is answered,
    /// so every call runs out and every request still waiting on one is
    /// replied to; then the peer leaves, and the leave ends.
    pub(super) fn finish(&mut self) -> Checked {
        let quiet_until = self.now + self.max_timeout;
        self.wake_until(|run| run.now >= quiet_until)?;
        if !self.waiting.is_empty() {
            return Err(format!(
                "requests never replied to, with every call run out: {:?}",
                self.waiting
            ));
        }
        if !self.left {
            self.leave()?;
        }
        self.wake_until(|run| run.core.poll_timeout().is_none())?;
        if !self.closed || !self.core.is_closed() {
            return Err("the leave never ended".into());
        }
        Ok(())
    }

    /// Wakes the core at each deadline until `done`, or no deadline is left.
    fn wake_until(&mut self, done: impl Fn(&Run) -> bool) -> Checked {
        for _ in 0..MAX_FINAL_WAKES {
            if done(self) {
                return Ok(());
            }
            let Some(due) = self.core.poll_timeout() else {
                return Ok(());
            };
            self.now = self.now.max(due);
            self.wake()?;
        }
        Err(format!("still busy after {MAX_FINAL_WAKES} wake-ups"))
    }

    fn wake(&mut self) -> Checked {
        self.core.handle_timeout(self.now);
        self.settle(true).map(drop)
    }

    fn leave(&mut self) -> Checked {
        let was_leaving = self.left;
        self.left = true;
        self.leaving_now = !was_leaving;
        self.core.leave(self.now);
        let settled = self.settle(false);
        self.leaving_now = false;
        settled.map(drop)
    }

    /// A request as the HTTP edge hands it over: one the codec cannot read
    /// back is refused there and never reaches the core.
    fn request(&mut self, sender: Option<PeerId>, remote: IpAddr, request: Request) -> Checked {
        let path = request.path();
        let Ok(request) = decode_request(path, &encode_request(&request)) else {
            return Ok(());
        };
        let token = ReplyToken(self.next_token);
        self.next_token += 1;
        self.waiting.insert(token, path);
        let version = self.core.version();
        let origin = Origin { sender, remote };
        self.core.handle_request(self.now, token, origin, request);
        let out = self.settle(false)?;
        let reply = out.actions.iter().find_map(|action| match action {
            Action::Reply { token: t, reply } if *t == token => Some(reply),
            _ => None,
        });
        match reply {
            Some(Err(refusal)) => {
                let calls = out.actions.len() - 1;
                if calls > 0 || !out.events.is_empty() || self.core.version() != version {
                    return Err(format!(
                        "a refused request ({refusal}) changed something: \
                         {calls} calls, events {:?}",
                        out.events
                    ));
                }
            }
            Some(Ok(Response::Join(join))) => self.joiner_is_a_member(join)?,
            Some(Ok(_)) => {}
            None if matches!(path, "/join" | "/probe") => {}
            None => return Err(format!("no reply at once to {path}")),
        }
        Ok(())
    }

    /// `admit`: a joiner hears "joined" only once it is a member, with the
    /// list of the others.
    fn joiner_is_a_member(&self, join: &JoinReply) -> Checked {
        let Some(id) = join.id.as_ref() else {
            return Err("a join accepted without an id".into());
        };
        if self.core.member(id).is_none() {
            return Err(format!("{id} heard it joined, and is not a member"));
        }
        if let Some(p) = join
            .peers
            .iter()
            .find(|p| p.id == *id || p.id == *self.core.id())
        {
            return Err(format!("the join reply to {id} lists {}", p.id));
        }
        Ok(())
    }

    /// Hands back a result for `call`, made or not; a result the core does
    /// not wait for (never made, answered, run out, forgotten) changes
    /// nothing.
    fn answer(&mut self, call: CallId, outcome: &Outcome) -> Checked {
        let made = self.calls.remove(&call);
        let expected = self.core.pending.contains_key(&call);
        let result = match &made {
            Some(made) => self.result(call, made, outcome),
            None => Err(CallError::Timeout),
        };
        let version = self.core.version();
        self.core.handle_response(self.now, call, result);
        let out = self.settle(false)?;
        let changed = !out.actions.is_empty() || !out.events.is_empty();
        if !expected && (changed || self.core.version() != version) {
            return Err(format!(
                "a result for {call:?}, which the core no longer waits for, changed something: \
                 {} actions, events {:?}",
                out.actions.len(),
                out.events
            ));
        }
        Ok(())
    }

    /// Drains every output of a step and checks it, then the state.
    fn settle(&mut self, woken: bool) -> Result<Output, String> {
        let actions: Vec<Action> = std::iter::from_fn(|| self.core.poll_action())
            .take(MAX_OUTPUTS_PER_STEP + 1)
            .collect();
        let events: Vec<Event> = std::iter::from_fn(|| self.core.poll_event())
            .take(MAX_OUTPUTS_PER_STEP + 1)
            .collect();
        if actions.len() > MAX_OUTPUTS_PER_STEP || events.len() > MAX_OUTPUTS_PER_STEP {
            return Err(format!(
                "one step put out {} actions and {} events",
                actions.len(),
                events.len()
            ));
        }
        for action in &actions {
            self.take_action(action)?;
        }
        for event in &events {
            self.take_event(event)?;
        }
        checks::state(self, woken)?;
        self.the_view_matches_the_members()?;
        self.published_changes_bump_the_version()?;
        self.incarnations_never_go_down()?;
        Ok(Output { actions, events })
    }
}
