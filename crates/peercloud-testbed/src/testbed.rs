//! `Testbed`: builds the switch and the hosts of a plan with `ip`, puts
//! faults on their links and takes them off, and on drop kills what still
//! runs in its namespaces and deletes them. Touches only the namespaces it
//! created and the processes inside them.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::ip::ip;
use crate::plan::{plan, unique_prefix, PREFIX_LEN};
use crate::{Bridge, Error, Host};

/// The two ends of the link between the bridges, in the switch namespace:
/// `l0` is a port of `br0`, `l1` of `br1`.
const BRIDGE_LINK: [&str; 2] = ["l0", "l1"];

/// A switch namespace with the bridges `br0` and `br1` joined by one veth
/// pair, and host namespaces on them; see the [crate] docs.
///
/// Several testbeds may live at once (their names differ); their hosts
/// then have the same addresses, in different namespaces, and never reach
/// each other. Dropping it SIGKILLs what still runs in its namespaces and
/// deletes them, also while a panic unwinds.
#[derive(Debug)]
pub struct Testbed {
    switch: String,
    hosts: Vec<Host>,
    /// Every namespace created so far, deleted on drop.
    created: Vec<String>,
}

impl Testbed {
    /// Builds the switch and one host per `(name, bridge)` of `layout`, in
    /// order, with the addresses 10.77.0.1, 10.77.0.2, ... On an error it
    /// deletes again whatever it had created. Needs root: see
    /// [`unavailable`](crate::unavailable).
    pub fn new(layout: &[(&str, Bridge)]) -> Result<Testbed, Error> {
        let plan = plan(&unique_prefix(), layout)?;
        let mut bed = Testbed {
            switch: plan.switch,
            hosts: Vec::with_capacity(plan.hosts.len()),
            created: Vec::new(),
        };
        // On an error `bed` drops here, and its drop deletes what exists.
        bed.build_switch()?;
        for host in plan.hosts {
            bed.add_host(host)?;
        }
        Ok(bed)
    }

    fn build_switch(&mut self) -> Result<(), Error> {
        let sw = self.switch.clone();
        self.add_namespace(&sw)?;
        for bridge in Bridge::BOTH {
            ip(&["-n", &sw, "link", "add", bridge.name(), "type", "bridge"])?;
            ip(&["-n", &sw, "link", "set", bridge.name(), "up"])?;
        }
        let [l0, l1] = BRIDGE_LINK;
        ip(&[
            "-n", &sw, "link", "add", l0, "type", "veth", "peer", "name", l1,
        ])?;
        ip(&["-n", &sw, "link", "set", l0, "master", Bridge::Zero.name()])?;
        ip(&["-n", &sw, "link", "set", l1, "master", Bridge::One.name()])?;
        self.restore_bridge_link()
    }

    fn add_host(&mut self, host: Host) -> Result<(), Error> {
        self.add_namespace(&host.ns)?;
        let sw = self.switch.as_str();
        let port = host.port.as_str();
        ip(&[
            "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
            &host.ns,
        ])?;
        ip(&["-n", sw, "link", "set", port, "master", host.bridge.name()])?;
        ip(&["-n", sw, "link", "set", port, "up"])?;
        let address = format!("{}/{PREFIX_LEN}", host.ip);
        ip(&["-n", &host.ns, "addr", "add", &address, "dev", "eth0"])?;
        ip(&["-n", &host.ns, "link", "set", "eth0", "up"])?;
        self.hosts.push(host);
        Ok(())
    }

    /// Adds a namespace with `lo` up, and remembers it for the drop.
    fn add_namespace(&mut self, ns: &str) -> Result<(), Error> {
        ip(&["netns", "add", ns])?;
        self.created.push(ns.to_owned());
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// The hosts, in the layout's order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host with this short name, if there is one.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The hosts on one bridge, in the layout's order.
    pub fn hosts_on(&self, bridge: Bridge) -> impl Iterator<Item = &Host> + '_ {
        self.hosts.iter().filter(move |h| h.bridge == bridge)
    }

    /// Cuts the link between the bridges: `br0`'s hosts and `br1`'s no
    /// longer reach each other (packets vanish; nothing is refused).
    pub fn cut_bridge_link(&self) -> Result<(), Error> {
        self.set_bridge_link("down")
    }

    /// Brings the link between the bridges back (it is up once built).
    pub fn restore_bridge_link(&self) -> Result<(), Error> {
        self.set_bridge_link("up")
    }

    fn set_bridge_link(&self, state: &str) -> Result<(), Error> {
        for end in BRIDGE_LINK {
            ip(&["-n", &self.switch, "link", "set", end, state])?;
        }
        Ok(())
    }

    /// Makes `a` and `b` unreachable to each other only (an `unreachable`
    /// route to the other's /32 in each); every other path stays up.
    pub fn break_pair(&self, a: &Host, b: &Host) -> Result<(), Error> {
        Self::pair_routes("add", a, b)
    }

    /// Undoes [`break_pair`](Self::break_pair).
    pub fn repair_pair(&self, a: &Host, b: &Host) -> Result<(), Error> {
        Self::pair_routes("del", a, b)
    }

    fn pair_routes(action: &str, a: &Host, b: &Host) -> Result<(), Error> {
        for (from, to) in [(a, b), (b, a)] {
            let target = format!("{}/32", to.ip);
            ip(&["-n", &from.ns, "route", action, "unreachable", &target])?;
        }
        Ok(())
    }

    /// Takes the host's own link down: it goes silent, and what is sent to
    /// it is lost, not refused.
    pub fn isolate(&self, host: &Host) -> Result<(), Error> {
        ip(&["-n", &host.ns, "link", "set", "eth0", "down"]).map(drop)
    }

    /// Brings the host's own link back up (its subnet route returns).
    pub fn reconnect(&self, host: &Host) -> Result<(), Error> {
        ip(&["-n", &host.ns, "link", "set", "eth0", "up"]).map(drop)
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            kill_what_runs_in(ns);
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("testbed cleanup: {e}");
            }
        }
    }
}

/// SIGKILLs, by pid, the processes still in one of our namespaces (their
/// owners normally got them first).
fn kill_what_runs_in(ns: &str) {
    let pids = match ip(&["netns", "pids", ns]) {
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
