//! The `rust-peer` role: one peercloud peer on 127.0.0.1 (a port the system
//! picks), joining through the seeds of its config and answering every
//! message with `{"status":"received"}`. Driven over JSON lines exactly as
//! `interop/bench-peer.js` drives an original peer.
//!
//! Config (argv, JSON): `{"seeds": ["127.0.0.1:PORT", ...], "watch": bool,
//! "port": PORT, "bind": "IP", "key": "64 hex digits"}`; with `port` it
//! listens there (a peer others were told of before it started) and fails
//! to start if the port is taken; with `bind` it listens on that address
//! instead of 127.0.0.1, and advertises it (a peer in a testbed host
//! listens on the host's `10.77.0.N`); with `key` it is private (every
//! connection TLS 1.3, with peers that hold the same cloud key only).
//! Lines out: `ready {id, port}`; with `watch`, `members {ids, peers}`
//! (`peers`: `[{id, data}]`) after every change of its member list or of a
//! member's data. Commands: `peers`, `unicast {to, inflight, warmup_ms,
//! ms, requests}` (`peer.send` in a closed loop, `requests` in all if
//! given), `broadcast {expect, warmup_ms, ms}`
//! (`cloud.send`, one at a time, each gathering `expect` replies),
//! `set_data {data}` (`cloud.set_data`, answered once the peer took it).
//! When stdin ends it exits at once, without leaving, as a crash.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use peercloud::{Cloud, CloudKey, Event};
use serde_json::{json, Value};

use super::load::{self, closed_loop, Window};
use super::{emit, runtime, serve_commands, unknown, BODY, REPLY};
use crate::Result;

/// Runs the role until stdin ends.
pub(crate) fn main(config: &str) -> Result<()> {
    let config = Config::parse(config)?;
    runtime()?.block_on(run(config))
}

/// What the role's argument says.
#[derive(Debug, PartialEq)]
struct Config {
    seeds: Vec<String>,
    watch: bool,
    /// The port to listen on; a port the system picks if `None`.
    port: Option<u16>,
    bind: IpAddr,
    /// The cloud key of a private peer; open if `None`.
    key: Option<CloudKey>,
}

impl Config {
    /// Reads the JSON config; every field may be missing, none may be
    /// malformed.
    fn parse(text: &str) -> Result<Config> {
        let config: Value = serde_json::from_str(text).map_err(|e| format!("bad config: {e}"))?;
        let seeds: Vec<String> = config["seeds"]
            .as_array()
            .map(|seeds| {
                seeds
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let watch = config["watch"].as_bool().unwrap_or(false);
        let port = match &config["port"] {
            Value::Null => None,
            port => Some(
                port.as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("bad config: port {port}"))?,
            ),
        };
        let bind = match &config["bind"] {
            Value::Null => IpAddr::V4(Ipv4Addr::LOCALHOST),
            bind => bind
                .as_str()
                .and_then(|b| b.parse().ok())
                .ok_or_else(|| format!("bad config: bind {bind}"))?,
        };
        let key = match &config["key"] {
            Value::Null => None,
            // The error says what is wrong with the key, never the key.
            key => Some(
                key.as_str()
                    .ok_or("bad config: key is not a string")?
                    .parse::<CloudKey>()
                    .map_err(|e| format!("bad config: {e}"))?,
            ),
        };
        Ok(Config {
            seeds,
            watch,
            port,
            bind,
            key,
        })
    }
}

async fn run(config: Config) -> Result<()> {
    let reply: Value = serde_json::from_slice(REPLY)?;
    let builder = match config.port {
        Some(port) => Cloud::builder().port(port),
        None => Cloud::builder().random_port(),
    };
    let builder = match config.key {
        Some(key) => builder.key(key),
        None => builder,
    };
    let cloud = builder
        .bind(config.bind)
        .seeds(config.seeds)
        .on_message(move |_, _| {
            let reply = reply.clone();
            async move { Ok(reply) }
        })
        .start()
        .await?;
    let cloud = Arc::new(cloud);
    emit(&json!({"event": "ready", "id": cloud.id(), "port": cloud.port()}));
    if config.watch {
        tokio::spawn(watch_members(cloud.clone()));
    }
    serve_commands(|command| answer(cloud.clone(), command)).await;
    // Stdin ended: the orchestrator is gone. Leave nothing behind, and tell
    // nobody, as a crash would.
    std::process::exit(0)
}

/// Prints the member list at the start and after every change.
async fn watch_members(cloud: Arc<Cloud>) {
    let mut events = cloud.events();
    print_members(&cloud);
    while let Some(event) = events.recv().await {
        match event {
            Event::PeerJoined(_)
            | Event::PeerLeft { .. }
            | Event::PeerUpdated(_)
            | Event::Lagged { .. } => print_members(&cloud),
            _ => {}
        }
    }
}

fn print_members(cloud: &Cloud) {
    let peers: Vec<Value> = cloud
        .peers()
        .iter()
        .map(|p| json!({"id": p.id(), "data": p.data()}))
        .collect();
    emit(&json!({"event": "members", "ids": ids(cloud), "peers": peers}));
}

fn ids(cloud: &Cloud) -> Vec<String> {
    cloud.peers().iter().map(|p| p.id().to_owned()).collect()
}

async fn answer(cloud: Arc<Cloud>, command: Value) -> Value {
    match command["cmd"].as_str() {
        Some("peers") => json!({"event": "peers", "id": cloud.id(), "ids": ids(&cloud)}),
        Some("unicast") => unicast(&cloud, &command).await,
        Some("broadcast") => broadcast(cloud, &command).await,
        Some("set_data") => match cloud.set_data(command["data"].clone()).await {
            Ok(()) => json!({"event": "set_data"}),
            Err(e) => json!({"event": "set_data", "error": e.to_string()}),
        },
        _ => unknown(&command),
    }
}

/// `peer.send` to one member, `inflight` at a time.
async fn unicast(cloud: &Cloud, command: &Value) -> Value {
    let to = command["to"].as_str().unwrap_or_default();
    let Some(peer) = cloud.peer(to) else {
        return json!({"event": "unicast", "error": format!("unknown peer {to:?}")});
    };
    let Ok(body) = serde_json::from_slice::<Value>(BODY) else {
        return json!({"event": "unicast", "error": "bad body"});
    };
    let window = Window::from_command(command);
    closed_loop("unicast", load::inflight(command), window, move || {
        let peer = peer.clone();
        let body = body.clone();
        async move { peer.send(body).await.is_ok() }
    })
    .await
}

/// `cloud.send` to every member, one broadcast at a time; a broadcast
/// counts as failed unless `expect` members all replied.
async fn broadcast(cloud: Arc<Cloud>, command: &Value) -> Value {
    let expect = command["expect"].as_u64().unwrap_or(0) as usize;
    let Ok(body) = serde_json::from_slice::<Value>(BODY) else {
        return json!({"event": "broadcast", "error": "bad body"});
    };
    let window = Window::from_command(command);
    closed_loop("broadcast", 1, window, move || {
        let cloud = cloud.clone();
        let body = body.clone();
        async move {
            let replies = cloud.send(body).await;
            replies.all_ok() && replies.len() == expect
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_config_is_an_open_peer_alone_on_loopback() {
        let config = Config::parse("{}").expect("a config");
        assert_eq!(
            config,
            Config {
                seeds: vec![],
                watch: false,
                port: None,
                bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
                key: None,
            }
        );
    }

    #[test]
    fn a_key_makes_the_peer_private_with_that_key() {
        let key = CloudKey::generate();
        let text = json!({"seeds": ["127.0.0.1:9"], "watch": true, "key": key.to_hex()});
        let config = Config::parse(&text.to_string()).expect("a config");
        assert_eq!(config.key, Some(key));
        assert_eq!(config.seeds, ["127.0.0.1:9"]);
        assert!(config.watch);
    }

    #[test]
    fn a_malformed_key_is_refused_without_being_repeated() {
        let short = "00ff".repeat(15);
        for key in [json!(short), json!(42)] {
            let text = json!({ "key": key }).to_string();
            let error = Config::parse(&text).expect_err("refused").to_string();
            assert!(error.starts_with("bad config"), "{error}");
            assert!(!error.contains(&short), "{error}");
        }
    }

    #[test]
    fn a_bad_port_or_address_is_refused() {
        for text in [
            r#"{"port": 0}"#,
            r#"{"port": 70000}"#,
            r#"{"bind": "nowhere"}"#,
        ] {
            assert!(Config::parse(text).is_err(), "{text}");
        }
        let config = Config::parse(r#"{"port": 9338, "bind": "10.77.0.2"}"#).expect("a config");
        assert_eq!(config.port, Some(9338));
        assert_eq!(
            config.bind,
            "10.77.0.2".parse::<IpAddr>().expect("an address")
        );
    }
}
