//! `peercloud run`: starts a peer as the original's example does, prints
//! what happens, broadcasts each JSON line of stdin, and leaves the cloud on
//! SIGINT or SIGTERM. Touches the network (through the library), stdin,
//! stdout and stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use peercloud::{Cloud, CloudBuilder, Config, Event, Events, Keyring, Limits, StartError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminState};
use crate::cli::{Preset, RunArgs};
use crate::hooks::exec::Exec;
use crate::hooks::on_event::{self, EventHook};
use crate::hooks::script::Script;
use crate::output::{Line, Output};
use crate::security;

/// How long, after leaving, the events still in the stream may take to be
/// printed before `closed` is.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Runs a peer until SIGINT or SIGTERM; the exit code says how it ended.
pub(crate) async fn run(args: RunArgs) -> ExitCode {
    // Installed before the peer starts, so that a signal arriving as soon as
    // `started` is printed still leaves the cloud cleanly.
    let mut shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => return fail(&format!("cannot install signal handlers: {e}")),
    };
    let output = Output::new(args.json);
    let security = match security::of(&args.security) {
        Ok(security) => security,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Bound before the peer starts: a taken admin address stops it before
    // it joins a cloud.
    let admin_listener = match args.admin {
        Some(addr) => match admin::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => return fail(&format!("cannot listen on --admin {addr}: {e}")),
        },
        None => None,
    };
    // `--exec` runs wait for the id: it is only final once started.
    let (self_id_tx, self_id_rx) = watch::channel(String::new());
    let cloud = match builder(&args, self_id_rx).security(security).start().await {
        Ok(cloud) => Arc::new(cloud),
        Err(e) => return start_failed(&e),
    };
    self_id_tx.send_replace(cloud.id());
    // The first call sees every event since the start.
    let events = cloud.events();
    output.print(&Line::Started {
        id: &cloud.id(),
        port: cloud.port(),
    });
    let admin_server = admin_listener.and_then(|listener| {
        let addr = listener.local_addr().ok()?;
        output.print(&Line::AdminListening { addr });
        let state = AdminState::listening_on(cloud.clone(), addr);
        Some(tokio::spawn(admin::serve(listener, state)))
    });

    let (hook, hook_runner) = event_hook(&args, &cloud).unzip();
    let mut printer = tokio::spawn(print_events(events, output, hook));
    let reader = tokio::spawn(broadcast_stdin(cloud.clone(), output));
    let reloader = args
        .security
        .key_file
        .clone()
        .map(|path| tokio::spawn(reload_keys_on_hangup(cloud.clone(), path, output)));
    let signalled = tokio::select! {
        signal = shutdown.recv() => Some(signal),
        _ = &mut printer => None,
    };
    reader.abort();
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    match signalled {
        Some(signal) => tracing::info!(signal, "leaving the cloud"),
        None => tracing::warn!("the peer stopped on its own"),
    }
    tokio::select! {
        () = cloud.close() => {}
        signal = shutdown.recv() => {
            return fail(&format!("{signal} again: stopped before finishing leaving the cloud"));
        }
    }
    if tokio::time::timeout(DRAIN_GRACE, &mut printer)
        .await
        .is_err()
    {
        printer.abort();
    }
    // The printer held the hook's queue: what is queued runs, for a while.
    if let Some(mut runner) = hook_runner {
        if tokio::time::timeout(DRAIN_GRACE, &mut runner)
            .await
            .is_err()
        {
            runner.abort();
        }
    }
    if let Some(admin_server) = admin_server {
        admin_server.abort();
    }
    output.print(&Line::Closed);
    if signalled.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--on-event`'s queue and the task that runs it, if asked for.
fn event_hook(args: &RunArgs, cloud: &Cloud) -> Option<(EventHook, JoinHandle<()>)> {
    let command = args.on_event.as_deref()?;
    let timeout = Duration::from_millis(args.on_event_timeout_ms);
    let script = Script::new(command, timeout, "on-event");
    Some(EventHook::start(script, cloud.id(), on_event::QUEUE))
}

/// The builder for the arguments; every message is answered by `--exec`,
/// else with `--reply`.
fn builder(args: &RunArgs, self_id: watch::Receiver<String>) -> CloudBuilder {
    let mut builder = Cloud::builder()
        .seeds(args.peers.iter().map(ToString::to_string))
        .data(args.data.clone());
    builder = match &args.exec {
        Some(command) => {
            let timeout = Duration::from_millis(args.exec_timeout_ms);
            let concurrency = usize::try_from(args.exec_concurrency).unwrap_or(usize::MAX);
            let exec = Exec::new(command, timeout, concurrency, self_id);
            builder.on_message(move |from, body| exec.clone().reply(from, body))
        }
        None => {
            let reply = args.reply.clone();
            builder.on_message(move |_, _| {
                let reply = reply.clone();
                async move { Ok(reply) }
            })
        }
    };
    builder = match args.port {
        Some(0) => builder.random_port(),
        Some(port) => builder.port(port),
        None => builder,
    };
    if let Some(ip) = args.bind {
        builder = builder.bind(ip);
    }
    if let Some(dir) = &args.state_dir {
        builder = builder.state_dir(dir.clone());
    }
    if let Some(host) = &args.advertise {
        builder = builder.advertise(host.clone());
    }
    let mut config = match args.preset {
        Preset::Lan => Config::new_lan(),
        Preset::Wan => Config::new_wan(),
    };
    if let Some(ms) = args.probe_interval_ms {
        config.probe_interval = Duration::from_millis(ms);
    }
    builder = builder.membership(config);
    if let Some(ms) = args.message_timeout_ms {
        builder = builder.message_timeout(Duration::from_millis(ms));
    }
    builder.limits(limits(args))
}

/// The defaults, with what the flags change. A count past what this
/// machine can address is as good as no limit.
fn limits(args: &RunArgs) -> Limits {
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let mut limits = Limits::default();
    if let Some(n) = args.max_members {
        limits.max_members = count(n);
    }
    if let Some(n) = args.max_joins_per_ip_per_minute {
        limits.max_joins_per_ip_per_minute = n;
    }
    if let Some(n) = args.max_connections {
        limits.max_connections = count(n);
    }
    if let Some(n) = args.max_connections_per_ip {
        limits.max_connections_per_ip = count(n);
    }
    if let Some(n) = args.max_idle_connections {
        limits.max_idle_connections = count(n);
    }
    limits
}

/// Prints the events of the stream until the cloud has closed, and hands
/// each to `--on-event`'s queue.
async fn print_events(mut events: Events, output: Output, mut hook: Option<EventHook>) {
    while let Some(event) = events.recv().await {
        if matches!(event, Event::Closed) {
            return;
        }
        // The stream holds the start too, after the seeds that failed, so
        // `joined` or `alone` comes after the `seed_failed` lines.
        let line = match &event {
            Event::Started(start) => Some(Line::of_start(start)),
            event => Line::of_event(event),
        };
        if let Some(line) = line {
            output.print(&line);
            if let Some(hook) = &mut hook {
                hook.offer(&line);
            }
        }
    }
}

/// Broadcasts each JSON line of stdin and prints the replies, one line at a
/// time so that replies come out in the order of the lines. Blank lines are
/// skipped; at the end of stdin it stops reading and the peer goes on.
async fn broadcast_stdin(cloud: Arc<Cloud>, output: Output) {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Ok(_) if line.trim_ascii_start().starts_with(b":") => {
                run_command(&cloud, &line, output).await
            }
            Ok(_) => match serde_json::from_slice(&line) {
                Ok(body) => output.print(&Line::Replies(&cloud.send(body).await)),
                Err(e) => output.print(&Line::Error(&format!("stdin line is not JSON: {e}"))),
            },
            Err(e) => {
                output.print(&Line::Error(&format!("cannot read stdin: {e}")));
                break;
            }
        }
    }
    tracing::debug!("end of stdin: no more broadcasts, the peer goes on");
}

/// A stdin line that starts with `:` is a command: `:data JSON` gives this
/// peer new data. Anything else is reported and skipped.
async fn run_command(cloud: &Cloud, line: &[u8], output: Output) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    match name {
        ":data" => match serde_json::from_str::<serde_json::Value>(rest.trim()) {
            Ok(data) => match cloud.set_data(data.clone()).await {
                Ok(()) => output.print(&Line::DataSet(&data)),
                Err(e) => output.print(&Line::Error(&format!(":data refused: {e}"))),
            },
            Err(e) => output.print(&Line::Error(&format!(":data needs JSON: {e}"))),
        },
        _ => output.print(&Line::Error(&format!(
            "unknown command {name} (commands: :data JSON)"
        ))),
    }
}

/// Re-reads the key file on each SIGHUP and gives the peer its keys: a
/// key is rotated without a restart. A file that cannot be read (or holds
/// no key) is reported, and the keys in use stay.
async fn reload_keys_on_hangup(cloud: Arc<Cloud>, path: PathBuf, output: Output) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(e) => {
                output.print(&Line::Error(&format!("cannot listen for SIGHUP: {e}")));
                return;
            }
        };
        while hangup.recv().await.is_some() {
            let loaded = Keyring::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|ring| {
                    cloud.set_keyring(ring.clone()).map_err(|e| e.to_string())?;
                    Ok(ring)
                });
            match loaded {
                Ok(ring) => output.print(&Line::KeysLoaded {
                    keys: ring.keys().len(),
                    speaking: ring.primary().fingerprint(),
                }),
                Err(e) => output.print(&Line::Error(&format!("SIGHUP: the keys in use stay: {e}"))),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (cloud, path, output);
    }
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Shutdown {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    #[cfg(unix)]
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Shutdown {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> std::io::Result<Self> {
        Ok(Shutdown {})
    }

    /// Waits for the next signal and names it.
    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
        }
    }
}

/// Reports a start that failed: bad arguments are usage errors (2), the
/// rest (such as a taken port) runtime errors (1).
fn start_failed(error: &StartError) -> ExitCode {
    eprintln!("error: {error}");
    match error {
        StartError::InvalidSeed { .. } | StartError::InvalidAdvertise(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
