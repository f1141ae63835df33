//! `Host` and `Bridge`: where a host of a testbed is (its namespace, its
//! address, its bridge), and commands that run inside its namespace.
//! Starts nothing itself: it only builds `Command`s.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::Command;

/// One of the two bridges of the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bridge {
    /// `br0`.
    Zero,
    /// `br1`.
    One,
}

/// Five hosts, three on `br0` (h1 to h3) and two on `br1` (h4, h5): the
/// layout of the fault tests and of the bench's partition figures, so that
/// cutting the bridge link splits them 3 | 2.
pub const THREE_TWO: [(&str, Bridge); 5] = [
    ("h1", Bridge::Zero),
    ("h2", Bridge::Zero),
    ("h3", Bridge::Zero),
    ("h4", Bridge::One),
    ("h5", Bridge::One),
];

impl Bridge {
    /// Both, `br0` first.
    pub const BOTH: [Bridge; 2] = [Bridge::Zero, Bridge::One];

    /// Its interface name in the switch namespace: `br0` or `br1`.
    pub fn name(self) -> &'static str {
        match self {
            Bridge::Zero => "br0",
            Bridge::One => "br1",
        }
    }
}

/// A host: a network namespace with `lo` and one `eth0`, whose address is
/// `10.77.0.N/24` and whose other end is a port of one bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub(crate) name: String,
    pub(crate) ns: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) bridge: Bridge,
    /// Its veth's end in the switch namespace (`p1`, `p2`, ...).
    pub(crate) port: String,
}

impl Host {
    /// Its short name, as given in the layout (`h1`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its namespace's name (`pc<pid>-<n>-h1`), as `ip netns` knows it.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// Its address, `10.77.0.N`: bind a server here (or to every
    /// interface) and tell the others this address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The bridge its link is a port of.
    pub fn bridge(&self) -> Bridge {
        self.bridge
    }

    /// A command that runs `program` inside this host's namespace, through
    /// `ip netns exec`, which execs it: the child's pid is the program's,
    /// so signals sent to the child reach the program. Add its arguments,
    /// stdio, directory and environment as for any `Command`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns])
            .arg(program.as_ref());
        command
    }

    /// The same command as `command` (program, arguments, working
    /// directory, and the variables it sets or removes), run inside this
    /// host's namespace as [`command`](Self::command) runs one. Its stdio
    /// settings and an `env_clear` are not carried over: set them on the
    /// result.
    pub fn enter(&self, command: &Command) -> Command {
        let mut inside = self.command(command.get_program());
        inside.args(command.get_args());
        if let Some(dir) = command.get_current_dir() {
            inside.current_dir(dir);
        }
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => inside.env(key, value),
                None => inside.env_remove(key),
            };
        }
        inside
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::Path;

    use super::*;

    fn h1() -> Host {
        Host {
            name: "h1".to_owned(),
            ns: "pc7-0-h1".to_owned(),
            ip: Ipv4Addr::new(10, 77, 0, 1),
            bridge: Bridge::Zero,
            port: "p1".to_owned(),
        }
    }

    fn args(command: &Command) -> Vec<OsString> {
        command.get_args().map(OsStr::to_owned).collect()
    }

    #[test]
    fn a_command_in_a_host_is_ip_netns_exec_of_the_program_in_its_namespace() {
        let mut command = h1().command("node");
        command.arg("interop/bench-peer.js");
        assert_eq!(command.get_program(), "ip");
        assert_eq!(
            args(&command),
            ["netns", "exec", "pc7-0-h1", "node", "interop/bench-peer.js"]
        );
    }

    #[test]
    fn entering_a_host_keeps_the_arguments_directory_and_environment() {
        let mut outside = Command::new("/bin/peercloud");
        outside
            .args(["run", "--json"])
            .current_dir("/work")
            .env("RUST_LOG", "debug")
            .env_remove("HOME");
        let inside = h1().enter(&outside);
        assert_eq!(inside.get_program(), "ip");
        assert_eq!(
            args(&inside),
            [
                "netns",
                "exec",
                "pc7-0-h1",
                "/bin/peercloud",
                "run",
                "--json"
            ]
        );
        assert_eq!(inside.get_current_dir(), Some(Path::new("/work")));
        let envs: Vec<_> = inside.get_envs().collect();
        assert!(envs.contains(&(OsStr::new("RUST_LOG"), Some(OsStr::new("debug")))));
        assert!(envs.contains(&(OsStr::new("HOME"), None)));
    }

    #[test]
    fn the_bridges_are_br0_and_br1() {
        assert_eq!(Bridge::BOTH.map(Bridge::name), ["br0", "br1"]);
    }
}
