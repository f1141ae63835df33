//! The command line, as clap derive definitions: subcommands, flags, their
//! defaults and help texts. Nothing here does any work.
//!
//! This is a contract with users' scripts: subcommands, flags and their
//! meanings are never renamed, only added to.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use peercloud::Address;
use serde_json::Value;

/// Private peer-to-peer clouds over HTTP, compatible with the node.js
/// `peercloud` package.
#[derive(Debug, Parser)]
#[command(name = "peercloud", version, propagate_version = true)]
pub(crate) struct Cli {
    /// More logs on stderr: -v info, -vv debug, -vvv trace (default: warn).
    /// RUST_LOG, when set, overrides this.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// How logs on stderr are written: text, for people, or json, one
    /// object per line (timestamp, level, fields, target), for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub(crate) log_format: LogFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a peer: join the cloud of the first --peer that answers (or start
    /// a new one), print what happens, broadcast each JSON line read on
    /// stdin, and leave the cloud on Ctrl-C or SIGTERM.
    // Boxed: its flags make it far larger than the other commands.
    Run(Box<RunArgs>),
    /// List the members a running peer knows (POST /peers; Rust peers only).
    Peers(QueryArgs),
    /// Show a running peer's status (POST /status).
    Status(QueryArgs),
    /// Print a new random cloud key: one line of 64 hex digits, for a key
    /// file (see `run --key-file`).
    Keygen,
    /// Send a message through a running peer's admin listener (`run
    /// --admin`): to every member, or with --to to one, and print the
    /// replies. Exit 0 when the peer answered, 1 when it could not be
    /// reached or answered an error, 2 on a usage error.
    Send(SendArgs),
}

/// How a peer or a client protects its connections: open by default, or
/// private with a cloud key or with certificates.
#[derive(Debug, Args)]
pub(crate) struct SecurityArgs {
    /// Make the cloud private with the cloud key(s) in this file: one key
    /// per line (as `peercloud keygen` prints), `#` starts a comment; the
    /// first key is the one spoken with, all are accepted. Every connection
    /// is then TLS 1.3, and only holders of a key can talk to this peer.
    /// SIGHUP re-reads the file (key rotation with no restart). The key
    /// itself is never given on the command line.
    #[arg(long, value_name = "PATH", env = "PEERCLOUD_KEY_FILE", conflicts_with_all = ["tls_cert", "tls_key", "tls_ca"])]
    pub(crate) key_file: Option<PathBuf>,

    /// Make the cloud private with certificates: this peer's certificate
    /// chain (PEM). Needs --tls-key and --tls-ca.
    #[arg(long, value_name = "PATH", requires_all = ["tls_key", "tls_ca"])]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PATH", requires_all = ["tls_cert", "tls_ca"])]
    pub(crate) tls_key: Option<PathBuf>,

    /// The CA certificate(s) (PEM) that peers' certificates must chain to.
    #[arg(long, value_name = "PATH", requires_all = ["tls_cert", "tls_key"])]
    pub(crate) tls_ca: Option<PathBuf>,
}

/// `peercloud run`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_RUN_HELP)]
pub(crate) struct RunArgs {
    /// Port to listen on [default: 9338, or a random free port if 9338 is
    /// taken]. 0: any free port, without trying 9338. Any other port must be
    /// free.
    #[arg(long, value_name = "N")]
    pub(crate) port: Option<u16>,

    /// A peer to join through, HOST:PORT (IPv6 in brackets: [::1]:9338).
    /// Repeat for several; they are tried in random order, and if none
    /// answers this peer starts a new cloud.
    #[arg(
        long = "peer",
        value_name = "HOST:PORT",
        value_parser = parse_address,
        default_value = "127.0.0.1:9338"
    )]
    pub(crate) peers: Vec<Address>,

    /// This peer's data, a JSON value every other peer sees.
    #[arg(long, value_name = "JSON", value_parser = parse_json, default_value = "{}")]
    pub(crate) data: Value,

    /// Address to listen on [default: all interfaces, IPv4 and IPv6]. A
    /// specific address is also the one advertised to the cloud.
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<IpAddr>,

    /// The address other peers should use to reach this one (behind NAT, or
    /// with several interfaces) [default: the --bind address, else the one
    /// the joined peer sees].
    #[arg(long, value_name = "IP", value_parser = parse_host)]
    pub(crate) advertise: Option<String>,

    /// The reply to every message received, a JSON value.
    #[arg(
        long,
        value_name = "JSON",
        value_parser = parse_json,
        default_value = r#"{"status":"received"}"#
    )]
    pub(crate) reply: Value,

    /// Answer each message by running this command (through `sh -c`): the
    /// body as JSON on its stdin, the sender in PEERCLOUD_FROM_ID,
    /// PEERCLOUD_FROM_DATA (JSON) and PEERCLOUD_FROM_ADDRESS (ip:port), this
    /// peer's id in PEERCLOUD_SELF_ID. Its stdout, one JSON value, is the
    /// reply; a non-zero exit, output that is not JSON or a timeout answers
    /// the sender an error. Cannot be given with --reply.
    #[arg(long, value_name = "CMD", conflicts_with = "reply")]
    pub(crate) exec: Option<String>,

    /// How long one --exec run may take, in milliseconds, before its
    /// process group is killed and the sender is answered an error; keep it
    /// below the senders' message timeout (5000 by default).
    #[arg(
        long,
        visible_alias = "exec-timeout",
        value_name = "MS",
        default_value_t = 4000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) exec_timeout_ms: u64,

    /// The most --exec runs at once; further messages wait for a free
    /// slot.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) exec_concurrency: u32,

    /// Run this command (through `sh -c`) for each membership event: the
    /// start (joined, alone), peer_joined, peer_suspected, peer_alive,
    /// peer_updated, peer_left. Its stdin is the event's --json line; its
    /// environment has PEERCLOUD_EVENT (the event's name), PEERCLOUD_SELF_ID
    /// and, for an event about a peer, PEERCLOUD_PEER_ID,
    /// PEERCLOUD_PEER_ADDRESS (ip:port) and PEERCLOUD_PEER_DATA (JSON).
    /// Events run one at a time, in order; a failed run is logged.
    #[arg(long, value_name = "CMD")]
    pub(crate) on_event: Option<String>,

    /// How long one --on-event run may take, in milliseconds, before its
    /// process group is killed (and the next event runs).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) on_event_timeout_ms: u64,

    /// Print one JSON object per line on stdout, each with an "event" field,
    /// instead of lines for humans.
    #[arg(long)]
    pub(crate) json: bool,

    /// The timing of the membership: lan (probe every half second, suspect for
    /// 4 to 20 s) or wan (every 2 s, suspect for 12 to 60 s; for slow or
    /// lossy links).
    #[arg(long, value_enum, default_value_t = Preset::Lan)]
    pub(crate) preset: Preset,

    /// A directory where this peer remembers its members (made if need
    /// be); after a restart it rejoins through them when no --peer
    /// answers.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<std::path::PathBuf>,

    /// How often one member is probed with /status, in milliseconds
    /// [default: 500 with --preset lan, 2000 with wan].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) probe_interval_ms: Option<u64>,

    /// How long a message waits for its reply, in milliseconds
    /// [default: 5000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) message_timeout_ms: Option<u64>,

    /// The most members this peer keeps; a joiner past it is refused (503).
    /// Give every peer of a cloud the same, above the cloud's size
    /// [default: 1024].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_members: Option<u64>,

    /// The most /join requests taken from one address (an IPv4 address or
    /// an IPv6 /64) in a minute; more are refused (429) [default: 60].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_joins_per_ip_per_minute: Option<u32>,

    /// The most connections open to this peer at once [default: 1024].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_connections: Option<u64>,

    /// The most connections open to this peer at once from one address (an
    /// IPv4 address or an IPv6 /64); raise it for many peers on one host or
    /// behind one NAT [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_connections_per_ip: Option<u64>,

    /// The most idle keep-alive connections this peer keeps open to other
    /// members, all together; past it, the least recently used is closed.
    /// 0: a new connection for every request [default: 16].
    #[arg(long, value_name = "N")]
    pub(crate) max_idle_connections: Option<u64>,

    /// Serve the admin API and the live web console on this address,
    /// IP:PORT (port 0: any free port), such as 127.0.0.1:9339 [default:
    /// off]. Off unless asked for, since it has no authentication: whoever
    /// reaches it reads the cloud and sends messages as this peer. Keep it
    /// on loopback; any other address is taken, with a warning.
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) admin: Option<SocketAddr>,

    #[command(flatten)]
    pub(crate) security: SecurityArgs,
}

/// The forms of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One line per record, for people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The membership presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Preset {
    /// Peers on one network.
    Lan,
    /// Peers across slower or lossier links.
    Wan,
}

/// `peercloud peers` and `peercloud status`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The peer to ask, HOST:PORT (IPv6 in brackets: [::1]:9338).
    #[arg(value_name = "HOST:PORT", value_parser = parse_address)]
    pub(crate) address: Address,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) security: SecurityArgs,
}

/// `peercloud send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The admin listener of the peer to send through, HOST:PORT (as
    /// given to its `run --admin`).
    #[arg(value_name = "ADMIN_ADDR", value_parser = parse_address)]
    pub(crate) admin: Address,

    /// The message, a JSON value.
    #[arg(value_name = "JSON", value_parser = parse_json)]
    pub(crate) body: Value,

    /// The id of the one member to send it to [default: every member].
    #[arg(long, value_name = "ID")]
    pub(crate) to: Option<String>,

    /// Print the answer as JSON, `{"replies": [...]}`, instead of lines.
    #[arg(long)]
    pub(crate) json: bool,
}

const AFTER_RUN_HELP: &str = "\
Stdin: each line holding a JSON value is broadcast to every peer, and the
replies are printed. A line that starts with ':' is a command:
  :data JSON   give this peer new data; every peer sees it within seconds
A line that is neither is reported and skipped; at the end of stdin the peer
keeps running.

With --json, stdout has one object per line, with \"event\" one of:
  started      {id, port}
  joined       {via, peers}             (via: the --peer that let it in; peers: others known)
  alone        {}                       (no --peer answered: a new cloud)
  peer_joined  {peer: {id, ip, port, data}}
  peer_suspected {peer}                 (it answered no probe; it may still refute)
  peer_alive   {peer}                   (a suspected peer answered: alive)
  peer_updated {peer}                   (a peer's data changed)
  peer_left    {id, reason: \"left\"|\"failed\", cause?, detected_by?}
                                        (cause: \"refused\"|\"silent\"|\"replaced\"|\"reported\")
  seed_failed  {seed, error, unauthorized}
                                        (while starting, a --peer did not trust this
                                         peer: a wrong key, or one private, one open)
  keys_loaded  {keys, speaking}         (SIGHUP re-read --key-file; speaking: the first
                                         key's fingerprint)
  data_set     {data}                   (this peer's new data, after :data)
  message      {from, from_id, body}    (from: the sender's data)
  replies      {replies: [{peer, id, value} | {peer, id, error}]}
  error        {error}                  (a stdin line that is not JSON, a key file
                                         that could not be re-read)
  lagged       {missed}                 (events were lost: output too slow)
  closed       {}                       (left the cloud; the process exits 0)
  admin_listening {addr}                (--admin: the admin API and console listen
                                         at http://ADDR/)

With --admin ADDR, the admin listener serves (see the README):
  GET  /              the live web console
  GET  /api/members   this peer and its members: state, last contact
  GET  /api/events    the events above as server-sent events (and
                      message_sent {to, to_id, body, value|error})
  POST /api/send      {\"body\": JSON, \"to\"?: ID}: the replies, as `replies`
`peercloud send ADMIN_ADDR JSON [--to ID]` sends through it.

--exec CMD runs CMD (sh -c) for each message: the body as JSON on stdin;
PEERCLOUD_FROM_ID, PEERCLOUD_FROM_DATA (JSON), PEERCLOUD_FROM_ADDRESS
(ip:port) and PEERCLOUD_SELF_ID in the environment; its stdout, one JSON
value, is the reply. A non-zero exit, output that is not JSON (or none), or
a run past --exec-timeout-ms (its process group is killed) answers the
sender 500 {\"error\": \"handler failed\", \"message\": why}.

--on-event CMD runs CMD for each of these events, one at a time, in order,
with the event's --json line on stdin: joined, alone, peer_joined,
peer_suspected, peer_alive, peer_updated, peer_left. Environment:
PEERCLOUD_EVENT (the name), PEERCLOUD_SELF_ID, and for peer_* events
PEERCLOUD_PEER_ID, PEERCLOUD_PEER_ADDRESS (ip:port), PEERCLOUD_PEER_DATA.
Failed runs and events dropped past a queue of 1024 are logged.

Exit codes: 0 after leaving on SIGINT/SIGTERM, 1 on a runtime error (such as
a taken --port), 2 on a usage error (such as invalid JSON in --data).";

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

fn parse_host(text: &str) -> Result<String, String> {
    peercloud_core::Host::parse(text)
        .map(|_| text.to_owned())
        .map_err(|_| "expected an IP address or a host name".to_owned())
}

fn parse_address(text: &str) -> Result<Address, String> {
    text.parse::<Address>()
        .map_err(|_| "expected HOST:PORT, such as 127.0.0.1:9338 or [::1]:9338".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn run_args(args: &[&str]) -> RunArgs {
        let line = ["peercloud", "run"].iter().chain(args);
        match Cli::try_parse_from(line).expect("valid arguments").command {
            Command::Run(args) => *args,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn exec_timeout_is_also_spelled_without_ms_and_the_defaults_hold() {
        let defaults = run_args(&["--exec", "cat"]);
        assert_eq!(
            (defaults.exec_timeout_ms, defaults.exec_concurrency),
            (4000, 8)
        );
        assert_eq!(defaults.on_event_timeout_ms, 30_000);
        let short = run_args(&["--exec", "cat", "--exec-timeout", "250"]);
        assert_eq!(short.exec_timeout_ms, 250);
    }

    #[test]
    fn log_format_is_global_and_text_by_default() {
        let cli = Cli::try_parse_from(["peercloud", "status", "127.0.0.1:1"]).expect("valid");
        assert_eq!(cli.log_format, LogFormat::Text);
        let cli = Cli::try_parse_from(["peercloud", "run", "--log-format", "json"]).expect("valid");
        assert_eq!(cli.log_format, LogFormat::Json);
    }
}
