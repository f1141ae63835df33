//! `Testbed`: hosts in Linux network namespaces on two bridges, and the
//! faults a test can put on their links. Touches only the namespaces it
//! creates (named after this process's id) and the processes inside them.
//!
//! Layout: one "switch" namespace holds the bridges `br0` and `br1`, joined
//! by one veth pair (`l0`–`l1`, the inter-bridge link). Each host namespace
//! has `lo` and one `eth0`, a veth whose other end is a port of one bridge,
//! with the address `10.77.0.N/24`: all hosts share one subnet, so cutting
//! the inter-bridge link splits them in two. Nothing is added to the
//! namespace the tests run in.
//!
//! Everything is built with the `ip` command, each call checked. Testbeds
//! are serialized (one at a time in a test binary), so that the timing of
//! one scenario is not skewed by another's five peers; names are unique
//! anyway. Drop kills what still runs in the namespaces and deletes them,
//! also when the test panicked.

#![allow(dead_code)] // each test file uses a different part of it

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// One testbed at a time in this test binary.
static SERIAL: Mutex<()> = Mutex::new(());

/// Numbers the testbeds (and the probe) of this process, for unique names.
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Why the tests that need namespaces cannot run here, if they cannot: not
/// root, no `ip`, or `ip netns add` refused (checked once, by creating and
/// deleting a probe namespace).
///
/// Where `PEERCLOUD_REQUIRE_NETNS` is set (CI sets it), a test that would
/// skip fails instead, so that a CI run can never pass without them.
pub(crate) fn skip_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    let reason = REASON.get_or_init(probe_namespaces).clone();
    if let Some(reason) = &reason {
        assert!(
            std::env::var_os("PEERCLOUD_REQUIRE_NETNS").is_none(),
            "PEERCLOUD_REQUIRE_NETNS is set, but network namespaces are unavailable: {reason}"
        );
    }
    reason
}

fn probe_namespaces() -> Option<String> {
    // The owner of /proc/self is this process's effective user.
    match std::fs::metadata("/proc/self") {
        Ok(meta) if meta.uid() == 0 => {}
        Ok(_) => return Some("not root".to_owned()),
        Err(e) => return Some(format!("cannot read /proc/self: {e}")),
    }
    let probe = format!("{}-probe", unique_prefix());
    if let Err(e) = try_ip(&["netns", "add", &probe]) {
        return Some(format!("`ip netns add` does not work: {e}"));
    }
    try_ip(&["netns", "del", &probe])
        .err()
        .map(|e| format!("`ip netns del` does not work: {e}"))
}

/// `pc<pid>-<n>`: this process's id and a counter.
fn unique_prefix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("pc{}-{n}", std::process::id())
}

/// One bridge of the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bridge {
    /// `br0`.
    Zero,
    /// `br1`.
    One,
}

impl Bridge {
    fn name(self) -> &'static str {
        match self {
            Bridge::Zero => "br0",
            Bridge::One => "br1",
        }
    }
}

/// A host: a namespace with one address on one bridge.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Its short name in the test (`h1`).
    pub(crate) name: String,
    /// Its namespace's name (`pc<pid>-<n>-h1`).
    pub(crate) ns: String,
    /// Its address, `10.77.0.N`.
    pub(crate) ip: Ipv4Addr,
    /// The bridge its veth is a port of.
    pub(crate) bridge: Bridge,
    /// Its veth's end in the switch namespace (`p1`, `p2`, ...).
    port: String,
}

/// The switch, its bridges and the hosts; see the module docs.
pub(crate) struct Testbed {
    prefix: String,
    switch: String,
    hosts: Vec<Host>,
    /// Every namespace created so far, deleted on drop.
    created: Vec<String>,
    /// Held until the namespaces are gone (fields drop after `drop`).
    _serial: MutexGuard<'static, ()>,
}

impl Testbed {
    /// Builds the switch and one host per `(name, bridge)`, in order, with
    /// addresses 10.77.0.1, 10.77.0.2, ... Waits for any other testbed of
    /// this binary to be dropped first. Panics (after cleaning up) if a
    /// command fails; call `skip_reason` first.
    pub(crate) fn new(layout: &[(&str, Bridge)]) -> Testbed {
        assert!(layout.len() < 250, "one /24 holds the hosts");
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let prefix = unique_prefix();
        let mut bed = Testbed {
            switch: format!("{prefix}-sw"),
            prefix,
            hosts: Vec::new(),
            created: Vec::new(),
            _serial: serial,
        };
        bed.build_switch();
        for (i, (name, bridge)) in layout.iter().enumerate() {
            let n = u8::try_from(i + 1).expect("fewer than 250 hosts");
            bed.add_host(name, *bridge, n);
        }
        bed
    }

    fn build_switch(&mut self) {
        let sw = self.switch.clone();
        self.add_namespace(&sw);
        for bridge in [Bridge::Zero, Bridge::One] {
            ip(&["-n", &sw, "link", "add", bridge.name(), "type", "bridge"]);
            ip(&["-n", &sw, "link", "set", bridge.name(), "up"]);
        }
        ip(&[
            "-n", &sw, "link", "add", "l0", "type", "veth", "peer", "name", "l1",
        ]);
        ip(&["-n", &sw, "link", "set", "l0", "master", "br0"]);
        ip(&["-n", &sw, "link", "set", "l1", "master", "br1"]);
        self.restore_bridge_link();
    }

    fn add_host(&mut self, name: &str, bridge: Bridge, n: u8) {
        let host = Host {
            name: name.to_owned(),
            ns: format!("{}-{name}", self.prefix),
            ip: Ipv4Addr::new(10, 77, 0, n),
            bridge,
            port: format!("p{n}"),
        };
        self.add_namespace(&host.ns);
        let sw = self.switch.clone();
        ip(&[
            "-n", &sw, "link", "add", &host.port, "type", "veth", "peer", "name", "eth0", "netns",
            &host.ns,
        ]);
        ip(&[
            "-n",
            &sw,
            "link",
            "set",
            &host.port,
            "master",
            bridge.name(),
        ]);
        ip(&["-n", &sw, "link", "set", &host.port, "up"]);
        let address = format!("{}/24", host.ip);
        ip(&["-n", &host.ns, "addr", "add", &address, "dev", "eth0"]);
        ip(&["-n", &host.ns, "link", "set", "eth0", "up"]);
        self.hosts.push(host);
    }

    /// Adds a namespace with `lo` up, and remembers it for the drop.
    fn add_namespace(&mut self, ns: &str) {
        ip(&["netns", "add", ns]);
        self.created.push(ns.to_owned());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    /// The hosts, in the order they were given.
    pub(crate) fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host with this short name.
    pub(crate) fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host named {name}"))
    }

    /// A command that runs `program` inside the host's namespace (through
    /// `ip netns exec`, which execs it: the child's pid is the program's).
    pub(crate) fn command(&self, host: &Host, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &host.ns, program]);
        command
    }

    /// Cuts the link between the bridges: br0's hosts and br1's hosts no
    /// longer reach each other (packets vanish; nothing is refused).
    pub(crate) fn cut_bridge_link(&self) {
        for end in ["l0", "l1"] {
            ip(&["-n", &self.switch, "link", "set", end, "down"]);
        }
    }

    /// Brings the link between the bridges back.
    pub(crate) fn restore_bridge_link(&self) {
        for end in ["l0", "l1"] {
            ip(&["-n", &self.switch, "link", "set", end, "up"]);
        }
    }

    /// Makes `a` and `b` unreachable to each other only (an `unreachable`
    /// route to the other's /32 in each); every other path stays up.
    pub(crate) fn break_pair(&self, a: &Host, b: &Host) {
        for (from, to) in [(a, b), (b, a)] {
            let target = format!("{}/32", to.ip);
            ip(&["-n", &from.ns, "route", "add", "unreachable", &target]);
        }
    }

    /// Undoes `break_pair`.
    pub(crate) fn repair_pair(&self, a: &Host, b: &Host) {
        for (from, to) in [(a, b), (b, a)] {
            let target = format!("{}/32", to.ip);
            ip(&["-n", &from.ns, "route", "del", "unreachable", &target]);
        }
    }

    /// Takes the host's own link down: it goes silent, and what is sent to
    /// it is lost, not refused.
    pub(crate) fn isolate(&self, host: &Host) {
        ip(&["-n", &host.ns, "link", "set", "eth0", "down"]);
    }

    /// Brings the host's own link back up (its subnet route returns).
    pub(crate) fn reconnect(&self, host: &Host) {
        ip(&["-n", &host.ns, "link", "set", "eth0", "up"]);
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            kill_what_runs_in(ns);
            if let Err(e) = try_ip(&["netns", "del", ns]) {
                eprintln!("testbed cleanup: {e}");
            }
        }
    }
}

/// SIGKILLs, by pid, the processes still in one of our namespaces (the
/// tests' own guards normally got them first).
fn kill_what_runs_in(ns: &str) {
    let pids = match try_ip(&["netns", "pids", ns]) {
        Ok(pids) => pids,
        Err(e) => return eprintln!("testbed cleanup: {e}"),
    };
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        eprintln!("testbed cleanup: killing pid {pid}, still running in {ns}");
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Runs `ip` with these arguments; panics saying which command failed and
/// what it printed on stderr.
fn ip(args: &[&str]) -> String {
    try_ip(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `ip` with these arguments: its stdout, or a sentence naming the
/// command and its stderr.
fn try_ip(args: &[&str]) -> Result<String, String> {
    let shown = format!("`ip {}`", args.join(" "));
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("{shown} did not start: {e}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut message = format!("{shown} failed ({})", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        let _ = write!(message, ": {}", stderr.trim());
    }
    Err(message)
}
