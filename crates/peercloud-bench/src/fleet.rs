//! The processes the benchmarks start: original peers (`node
//! interop/bench-peer.js`, the npm package `peercloud@0.1.3` installed at
//! the repo root by `npm ci`, as for the interop tests), peercloud peers
//! (this binary's `rust-peer` role), open or private, and the ceiling pair.
//! Peers of every kind speak the same JSON lines, so every benchmark drives
//! them alike. A peer runs on 127.0.0.1, or in a host of a network-namespace
//! testbed on the host's address.

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

use peercloud::CloudKey;
use peercloud_testbed::Host;
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::time::{sleep, Instant};

use crate::procs::Proc;
use crate::Result;

/// How long a child may take to say it is ready (20 node.js processes
/// starting at once on two cores take a few seconds).
pub(crate) const READY_WITHIN: Duration = Duration::from_secs(30);

/// How long a command that is not a measurement may take.
pub(crate) const COMMAND_WITHIN: Duration = Duration::from_secs(10);

/// Which implementation a peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The original node.js package.
    Original,
    /// This repository's peercloud, open (plain HTTP, as the original).
    Peercloud,
    /// This repository's peercloud, private: started with the run's cloud
    /// key, so every connection is TLS 1.3 between peers that hold it.
    Private,
}

impl Kind {
    /// The original and open peercloud, the original first: the kinds of
    /// the `all` and `faults` tables.
    pub(crate) const BOTH: [Kind; 2] = [Kind::Original, Kind::Peercloud];

    /// Open and private peercloud, open first: the kinds of the `private`
    /// table.
    pub(crate) const OPEN_AND_PRIVATE: [Kind; 2] = [Kind::Peercloud, Kind::Private];

    /// Its name in the reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Original => "original",
            Kind::Peercloud => "peercloud",
            Kind::Private => "private",
        }
    }
}

/// A started peer: its process, id and port.
pub(crate) struct Peer {
    /// The child process (killed when dropped).
    pub(crate) proc: Proc,
    /// Its id in the cloud.
    pub(crate) id: String,
    /// The port it listens on, on 127.0.0.1 (or on its testbed host's
    /// address).
    pub(crate) port: u16,
}

/// Where the programs are, and the run's cloud key.
pub(crate) struct Env {
    exe: PathBuf,
    root: PathBuf,
    /// Why original peers cannot run here, if they cannot.
    original_missing: Option<String>,
    /// The key every private peer of this run holds, so that they all
    /// belong to one private cloud.
    key: CloudKey,
}

impl Env {
    /// Finds this binary, the repo root, checks the original package, and
    /// makes the run's cloud key.
    pub(crate) fn discover() -> Result<Env> {
        // `PEERCLOUD_BENCH_EXE`: the roles of another build, for A/B runs
        // against the same orchestrator.
        let exe = match std::env::var_os("PEERCLOUD_BENCH_EXE") {
            Some(exe) => PathBuf::from(exe),
            None => std::env::current_exe()?,
        };
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let root = root.canonicalize().unwrap_or(root);
        let manifest = root.join("node_modules/peercloud/package.json");
        let version = std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|package| package["version"].as_str().map(str::to_owned));
        let original_missing = match version.as_deref() {
            Some("0.1.3") => None,
            Some(other) => Some(format!(
                "node_modules has peercloud@{other}, not 0.1.3: run `npm ci`"
            )),
            None => Some(format!(
                "{} is missing: run `npm ci` at the repo root",
                manifest.display()
            )),
        };
        Ok(Env {
            exe,
            root,
            original_missing,
            key: CloudKey::try_generate()?,
        })
    }

    /// Starts a peer without waiting for it: it joins through the peer on
    /// `seed` (if any); with `watch` it prints its member list on changes.
    pub(crate) fn spawn_peer(
        &self,
        kind: Kind,
        name: &str,
        seed: Option<u16>,
        watch: bool,
    ) -> Result<Proc> {
        let seeds: Vec<String> = seed.map(|p| format!("127.0.0.1:{p}")).into_iter().collect();
        self.spawn_configured(kind, name, json!({"seeds": seeds, "watch": watch}), None)
    }

    /// Starts a peer inside a testbed host, listening on the host's address
    /// (on a port the system picks), without waiting for it: it joins
    /// through `seed` (if any); with `watch` it prints its member list on
    /// changes. Its name in the reports is the host's.
    pub(crate) fn spawn_peer_in(
        &self,
        kind: Kind,
        host: &Host,
        seed: Option<SocketAddrV4>,
        watch: bool,
    ) -> Result<Proc> {
        let seeds: Vec<String> = seed.iter().map(ToString::to_string).collect();
        let bind = host.ip().to_string();
        let config = json!({"seeds": seeds, "watch": watch, "bind": bind});
        self.spawn_configured(kind, host.name(), config, Some(host))
    }

    /// Starts a peer that listens on `port` (see [`free_port`]) and joins
    /// nobody, without waiting for it: a seed others were told of before
    /// it started. It fails to start if the port was taken meanwhile.
    pub(crate) fn spawn_peer_on(
        &self,
        kind: Kind,
        name: &str,
        port: u16,
        watch: bool,
    ) -> Result<Proc> {
        self.spawn_configured(kind, name, json!({"port": port, "watch": watch}), None)
    }

    /// Starts a peer with the config both `interop/bench-peer.js` and the
    /// `rust-peer` role read, here or inside `host`; a private peer's has
    /// the run's key too.
    fn spawn_configured(
        &self,
        kind: Kind,
        name: &str,
        mut config: Value,
        host: Option<&Host>,
    ) -> Result<Proc> {
        if kind == Kind::Private {
            // On the command line, other users of the machine can read it
            // in /proc: acceptable for a key made for this run alone, which
            // guards nothing but its own peers on loopback.
            config["key"] = json!(self.key.to_hex());
        }
        let config = config.to_string();
        let command = match kind {
            Kind::Original => {
                if let Some(why) = &self.original_missing {
                    return Err(why.clone().into());
                }
                let mut command = std::process::Command::new("node");
                command
                    .arg("interop/bench-peer.js")
                    .arg(config)
                    .current_dir(&self.root);
                command
            }
            Kind::Peercloud | Kind::Private => {
                let mut command = std::process::Command::new(&self.exe);
                command.arg("rust-peer").arg(config);
                command
            }
        };
        let command = match host {
            Some(host) => host.enter(&command),
            None => command,
        };
        Proc::spawn(format!("{} {name}", kind.name()), Command::from(command))
    }

    /// Starts a peer and waits until it is ready (it has joined, or started
    /// alone).
    pub(crate) async fn start_peer(
        &self,
        kind: Kind,
        name: &str,
        seed: Option<u16>,
        watch: bool,
    ) -> Result<Peer> {
        ready(self.spawn_peer(kind, name, seed, watch)?).await
    }

    /// Starts a cloud of `n` peers: a seed, then the others one after the
    /// other, each joining through the seed once the previous one is ready
    /// (the original loses joins that happen at the same moment).
    pub(crate) async fn cloud(&self, kind: Kind, n: usize, watch: bool) -> Result<Vec<Peer>> {
        let seed = self.start_peer(kind, "seed", None, watch).await?;
        let seed_port = seed.port;
        let mut peers = vec![seed];
        for i in 1..n {
            peers.push(
                self.start_peer(kind, &format!("peer {i}"), Some(seed_port), watch)
                    .await?,
            );
        }
        Ok(peers)
    }

    /// Starts one of this binary's roles (`ceiling-server`, ...) without
    /// waiting for it.
    pub(crate) fn spawn_role(&self, args: &[&str]) -> Result<Proc> {
        let mut command = Command::new(&self.exe);
        command.args(args);
        Proc::spawn(args.join(" "), command)
    }

    /// Starts one of this binary's roles and waits until it is ready; gives
    /// its `ready` line too.
    pub(crate) async fn start_role(&self, args: &[&str]) -> Result<(Proc, Value)> {
        let mut proc = self.spawn_role(args)?;
        let ready = proc.expect("ready", READY_WITHIN).await?;
        Ok((proc, ready.value))
    }
}

/// A port on 127.0.0.1 that was free a moment ago: bound, then released,
/// so that peers can be told of a seed before it starts. Another process
/// may take it meanwhile; the seed then fails to start, and says so.
pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Waits until a started peer is ready.
pub(crate) async fn ready(mut proc: Proc) -> Result<Peer> {
    let line = proc.expect("ready", READY_WITHIN).await?;
    let id = line.value["id"].as_str().unwrap_or_default().to_owned();
    let port = line.value["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok());
    match port {
        Some(port) if !id.is_empty() => Ok(Peer { proc, id, port }),
        _ => Err(proc.failure(&format!(
            "said it was ready without an id and a port: {}",
            line.value
        ))),
    }
}

/// Asks every peer for its member list until each lists all the others, up
/// to `within`; says how many did not.
pub(crate) async fn wait_mesh(peers: &mut [Peer], within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    let ids: Vec<String> = peers.iter().map(|p| p.id.clone()).collect();
    loop {
        let mut incomplete = 0;
        for peer in peers.iter_mut() {
            let answer = peer
                .proc
                .command(&json!({"cmd": "peers"}), "peers", COMMAND_WITHIN)
                .await?;
            let known = answer["ids"].as_array().cloned().unwrap_or_default();
            let complete = ids
                .iter()
                .filter(|id| **id != peer.id)
                .all(|id| known.iter().any(|k| k.as_str() == Some(id)));
            if !complete {
                incomplete += 1;
            }
        }
        if incomplete == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{incomplete} of {} peers still lacked members after {within:?}",
                peers.len()
            )
            .into());
        }
        sleep(Duration::from_millis(100)).await;
    }
}
