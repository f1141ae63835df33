//! Private clouds seen from outside: real `peercloud run --json` processes
//! on 127.0.0.1 with a cloud key (`--key-file`) or certificates (`--tls-*`),
//! and strangers that try to get in: a plain HTTP client, a peer with no
//! key, a peer with a wrong key, a recording replayed. Touches only the
//! processes it starts (by their pid), files in its own temporary
//! directories, and ports on 127.0.0.1.
//!
//! Every wait is on a condition with a deadline; the only fixed periods
//! are the ones a test watches for something that must not happen.

#![allow(clippy::unwrap_used)]

#[path = "support/process.rs"]
mod process;
#[path = "support/process_wait.rs"]
mod process_wait;
#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/wait.rs"]
mod wait;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use peercloud::CloudKey;
use serde_json::Value;
use tempfile::TempDir;

use process::{
    as_strs, cloud_of, parse_all, run_command_to_end, run_to_end, RunningPeer, DEADLINE,
};
use process_wait::{drain_all, hold_all, wait_all};
use proxy::Proxy;

/// How long members are watched for a change that must not happen.
const WATCH: Duration = Duration::from_secs(3);

/// Writes `keys` (first spoken) to a key file in `dir`, named `name`.
fn key_file(dir: &Path, name: &str, keys: &[&CloudKey]) -> PathBuf {
    let path = dir.join(name);
    let text: String = keys.iter().map(|k| format!("{}\n", k.to_hex())).collect();
    std::fs::write(&path, format!("# keys of {name}\n{text}")).unwrap();
    path
}

fn key_args(path: &Path) -> Vec<String> {
    vec!["--key-file".to_owned(), path.display().to_string()]
}

/// A private cloud of `n` peers, each with a key file of its own holding
/// `key`; returns the peers and their key files.
fn private_cloud(dir: &Path, n: usize, key: &CloudKey) -> (Vec<RunningPeer>, Vec<PathBuf>) {
    let files: Vec<PathBuf> = (0..n)
        .map(|i| key_file(dir, &format!("peer{i}.keys"), &[key]))
        .collect();
    let peers = cloud_of(n, |i| key_args(&files[i]));
    (peers, files)
}

/// Broadcasts `body` from `peer` and waits for its replies line; returns
/// how many replies were values (not errors).
fn broadcast(peer: &mut RunningPeer, body: &str) -> usize {
    let from = peer.pipes.seen.len();
    peer.write_line(body);
    peer.pipes.wait_until("the replies line", |seen| {
        parse_all(&seen[from.min(seen.len())..])
            .iter()
            .any(|e| e["event"] == "replies")
    });
    let replies = peer
        .events_since(from)
        .into_iter()
        .find(|e| e["event"] == "replies")
        .unwrap();
    let list = replies["replies"].as_array().unwrap();
    list.iter().filter(|r| r.get("value").is_some()).count()
}

/// Whether no member printed a membership change or a message since its
/// mark.
fn untouched(peers: &[RunningPeer], marks: &[usize]) -> bool {
    peers.iter().zip(marks).all(|(peer, &mark)| {
        peer.events_since(mark).iter().all(|e| {
            !matches!(
                e["event"].as_str(),
                Some("peer_joined" | "peer_left" | "peer_suspected" | "message")
            )
        })
    })
}

fn marks(peers: &[RunningPeer]) -> Vec<usize> {
    peers.iter().map(|p| p.pipes.seen.len()).collect()
}

/// Sends one plain HTTP request and returns the whole answer as text.
fn plain_request(port: u16, path: &str, sender: &str, body: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-peercloud-id: {sender}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    answer
}

#[test]
fn a_private_cloud_forms_messages_flow_and_operators_need_the_key() {
    let dir = TempDir::new().unwrap();
    let key = CloudKey::generate();
    let (mut peers, files) = private_cloud(dir.path(), 3, &key);
    assert_eq!(broadcast(&mut peers[0], r#"{"hello":"private"}"#), 2);
    for peer in &mut peers[1..] {
        peer.wait_for("message", |e| e["body"]["hello"] == "private");
    }
    // `peers` with the key lists the members; without, one clear error.
    let address = peers[0].address();
    let keyed = run_to_end(&[
        "peers",
        &address,
        "--json",
        "--key-file",
        files[1].to_str().unwrap(),
    ]);
    assert!(keyed.status.success(), "{}", keyed.stderr);
    let listed: Vec<Value> = serde_json::from_str(&keyed.stdout).unwrap();
    assert_eq!(listed.len(), 2, "{}", keyed.stdout);
    // The key file can come from the environment too.
    let from_env = run_command_to_end(
        std::process::Command::new(process::BIN)
            .args(["peers", &address, "--json"])
            .env("PEERCLOUD_KEY_FILE", &files[2]),
    );
    assert!(from_env.status.success(), "{}", from_env.stderr);
    assert_eq!(from_env.stdout, keyed.stdout);
    let open = run_to_end(&["peers", &address]);
    assert!(!open.status.success());
    assert!(open.stderr.contains("private cloud"), "{}", open.stderr);
    assert!(!open.stderr.contains(&peers[1].id), "{}", open.stderr);
    let other = key_file(dir.path(), "other.keys", &[&CloudKey::generate()]);
    let wrong = run_to_end(&["status", &address, "--key-file", other.to_str().unwrap()]);
    assert!(!wrong.status.success());
    assert!(
        wrong.stderr.contains("do not trust each other"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn keygen_prints_one_new_key_that_a_key_file_takes() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (run_to_end(&["keygen"]), run_to_end(&["keygen"]));
    for made in [&a, &b] {
        assert!(made.status.success(), "{}", made.stderr);
        assert_eq!(made.stdout.len(), 64, "{:?}", made.stdout);
        assert!(made.stdout.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(a.stdout, b.stdout);
    let path = dir.path().join("cloud.keys");
    std::fs::write(&path, format!("{}\n", a.stdout)).unwrap();
    let ring = peercloud::Keyring::read(&path).unwrap();
    assert_eq!(ring.primary().to_hex(), a.stdout);
    // A key file others can read is warned of; one only its owner can
    // read is not.
    {
        use std::os::unix::fs::PermissionsExt;
        let nobody = format!("127.0.0.1:{}", process::unused_port());
        for (mode, warned) in [(0o644, true), (0o600, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let asked = run_to_end(&["status", &nobody, "--key-file", path.to_str().unwrap()]);
            assert_eq!(
                asked.stderr.contains("chmod 600"),
                warned,
                "{mode:o}: {}",
                asked.stderr
            );
        }
    }
    // A key file that is not one stops `run` with a usage error naming the
    // line, and the key itself is never echoed.
    std::fs::write(&path, format!("{}x\n", &a.stdout[..63])).unwrap();
    let bad = run_to_end(&["run", "--port", "0", "--key-file", path.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("line 1"), "{}", bad.stderr);
    assert!(!bad.stderr.contains(&a.stdout[..63]), "{}", bad.stderr);
}

#[test]
fn strangers_fail_cleanly_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let key = CloudKey::generate();
    let (mut peers, _files) = private_cloud(dir.path(), 3, &key);
    drain_all(&mut peers);
    let before = marks(&peers);
    let member = peers[1].id.clone();
    let seed = peers[0].port;

    // A plain HTTP stranger who knows a member's id: every endpoint
    // answers 426 and names no one.
    for (path, body) in [
        ("/peers", "{}"),
        ("/status", "{}"),
        ("/left", &format!(r#"{{"id":"{member}"}}"#)),
        ("/message", r#"{"forged":true}"#),
        ("/join", r#"{"port":1}"#),
    ] {
        let answer = plain_request(seed, path, &member, body);
        assert!(answer.starts_with("HTTP/1.1 426 "), "{path}: {answer}");
        assert!(
            answer.contains(r#""error":"private cloud""#),
            "{path}: {answer}"
        );
        for peer in &peers {
            assert!(
                !answer.contains(&peer.id),
                "{path} named a member: {answer}"
            );
        }
    }

    // A peer with no key, and a peer with a wrong key: each says why in
    // one line and starts a cloud of its own.
    let wrong = key_file(dir.path(), "wrong.keys", &[&CloudKey::generate()]);
    for (who, extra) in [("no key", vec![]), ("a wrong key", key_args(&wrong))] {
        let mut stranger = RunningPeer::start(seed, &as_strs(&extra));
        let failed = stranger.expect_event(1, "seed_failed");
        assert_eq!(failed["unauthorized"], true, "{who}: {failed}");
        stranger.expect_event(2, "alone");
    }

    // A private peer refuses to join an open cloud.
    let open = RunningPeer::start_alone(&[]);
    let key_path = key_file(dir.path(), "joiner.keys", &[&key]);
    let mut joiner = RunningPeer::start(open.port, &as_strs(&key_args(&key_path)));
    let failed = joiner.expect_event(1, "seed_failed");
    assert_eq!(failed["unauthorized"], true, "{failed}");

    hold_all(&mut peers, WATCH, "no member saw a stranger", |peers| {
        untouched(peers, &before)
    });
    // And the members still talk.
    assert_eq!(broadcast(&mut peers[2], r#"{"still":"here"}"#), 2);
}

#[test]
fn a_recorded_request_shows_nothing_and_replayed_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let key = CloudKey::generate();
    let (mut peers, _files) = private_cloud(dir.path(), 2, &key);
    let seed = peers[0].port;
    let proxy = Proxy::start(format!("127.0.0.1:{seed}").parse().unwrap());

    // A peer joins through the proxy, with data that must not be seen on
    // the wire, then leaves.
    let marker = "a-secret-only-members-may-read";
    let data = format!(r#"{{"marker":"{marker}"}}"#);
    let key_path = key_file(dir.path(), "joiner.keys", &[&key]);
    let mut args = key_args(&key_path);
    args.extend(["--data".to_owned(), data]);
    let mut joiner = RunningPeer::start(proxy.port, &as_strs(&args));
    joiner.expect_event(1, "joined");
    let joiner_id = joiner.id.clone();
    peers[0].wait_for_peers(&[&joiner_id]);
    joiner.guard.signal(Signal::SIGTERM);
    assert!(joiner.guard.wait(Instant::now() + DEADLINE).is_some());
    for peer in &mut peers {
        peer.wait_for("peer_left", |e| e["id"] == joiner_id.as_str());
    }

    let capture = proxy.capture();
    let wire = capture.all_bytes();
    assert!(
        wire.len() > 500,
        "the join crossed the proxy: {} bytes",
        wire.len()
    );
    let text = String::from_utf8_lossy(&wire);
    for secret in [
        marker,
        "x-peercloud-id",
        "POST",
        "/join",
        &joiner_id,
        &peers[0].id,
        &peers[1].id,
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} crossed the wire in clear text"
        );
    }

    // Replayed verbatim on new connections, the recording gets nowhere.
    drain_all(&mut peers);
    let before = marks(&peers);
    for recorded in &capture.to_server {
        let mut tcp = TcpStream::connect(("127.0.0.1", seed)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let _ = tcp.write_all(recorded);
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"));
    }
    hold_all(&mut peers, WATCH, "the replay changed nothing", |peers| {
        untouched(peers, &before)
    });
}

#[test]
fn a_key_rotates_in_three_sighup_steps_with_no_eviction() {
    let dir = TempDir::new().unwrap();
    let (old, new) = (CloudKey::generate(), CloudKey::generate());
    let (mut peers, files) = private_cloud(dir.path(), 3, &old);
    drain_all(&mut peers);
    let before = marks(&peers);
    let steps: [&[&CloudKey]; 3] = [&[&old, &new], &[&new, &old], &[&new]];
    for (step, keys) in steps.iter().enumerate() {
        for (i, peer) in peers.iter_mut().enumerate() {
            let from = peer.pipes.seen.len();
            key_file(dir.path(), &format!("peer{i}.keys"), keys);
            peer.guard.signal(Signal::SIGHUP);
            let speaking = keys[0].fingerprint();
            peer.pipes.wait_until("keys_loaded", |seen| {
                parse_all(&seen[from.min(seen.len())..])
                    .iter()
                    .any(|e| e["event"] == "keys_loaded" && e["speaking"] == speaking.as_str())
            });
        }
        let body = format!(r#"{{"step":{step}}}"#);
        assert_eq!(broadcast(&mut peers[step], &body), 2, "step {step}");
    }
    wait_all(
        &mut peers,
        Instant::now() + DEADLINE,
        "every message arrived",
        |peers| {
            peers.iter().all(|p| {
                parse_all(&p.pipes.seen)
                    .iter()
                    .filter(|e| e["event"] == "message")
                    .count()
                    == 2
            })
        },
    );
    assert!(
        peers.iter().zip(&before).all(|(peer, &mark)| peer
            .events_since(mark)
            .iter()
            .all(|e| e["event"] != "peer_left" && e["event"] != "peer_suspected")),
        "a member was suspected or evicted during the rotation"
    );
    // A peer that holds only the old key is now a stranger.
    let stale = key_file(dir.path(), "stale.keys", &[&old]);
    let mut late = RunningPeer::start(peers[0].port, &as_strs(&key_args(&stale)));
    let failed = late.expect_event(1, "seed_failed");
    assert_eq!(failed["unauthorized"], true, "{failed}");
    drop(files);
}

/// PEM files of a CA and of peers it signs.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(dir: &Path, name: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca = params.self_signed(&ca_key).unwrap();
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    /// The `--tls-*` flags of a peer named `name`, signed by this CA and
    /// trusting `trusted`'s.
    fn peer_args(&self, name: &str, trusted: &Pki) -> Vec<String> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![format!("{name}.test")]).unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (cert_path, key_path) = (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        vec![
            "--tls-cert".to_owned(),
            cert_path.display().to_string(),
            "--tls-key".to_owned(),
            key_path.display().to_string(),
            "--tls-ca".to_owned(),
            trusted.dir.join("ca.pem").display().to_string(),
        ]
    }
}

#[test]
fn mutual_tls_admits_the_cas_peers_only() {
    let dir = TempDir::new().unwrap();
    let (pki, other) = (
        Pki::new(dir.path(), "cloud-ca"),
        Pki::new(dir.path(), "other-ca"),
    );
    let names = ["a", "b", "c"];
    let mut peers = cloud_of(3, |i| pki.peer_args(names[i], &pki));
    assert_eq!(broadcast(&mut peers[0], r#"{"over":"mtls"}"#), 2);
    for peer in &mut peers[1..] {
        peer.wait_for("message", |e| e["body"]["over"] == "mtls");
    }
    drain_all(&mut peers);
    let before = marks(&peers);
    // Signed by another CA (even trusting the cloud's): refused.
    let mut stranger = RunningPeer::start(peers[0].port, &as_strs(&other.peer_args("x", &pki)));
    let failed = stranger.expect_event(1, "seed_failed");
    assert_eq!(failed["unauthorized"], true, "{failed}");
    hold_all(&mut peers, WATCH, "no member saw the stranger", |peers| {
        untouched(peers, &before)
    });
    // The operator's query takes the same flags.
    let args = pki.peer_args("operator", &pki);
    let mut query = vec!["status".to_owned(), peers[1].address(), "--json".to_owned()];
    query.extend(args);
    let status = run_to_end(&as_strs(&query));
    assert!(status.status.success(), "{}", status.stderr);
    assert!(status.stdout.contains(&peers[1].id), "{}", status.stdout);
}
