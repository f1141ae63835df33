//! `peercloud-bench`: benchmarks of peercloud against the original node.js
//! peers (npm `peercloud@0.1.3`) and against a bare hyper pair, the ceiling
//! of the transport, all measured side by side in one run.
//!
//! `peercloud-bench all [--quick] [--runs N]` is the orchestrator: it starts
//! every process it needs (as children of itself, or `node` for the
//! original), measures, and prints one table. `faults` takes the same
//! arguments and runs only the membership-under-faults scenarios and the
//! data updates. `private` takes them too, and measures open and private
//! peercloud side by side (unicast, broadcast, memory in a cloud of 20,
//! joins) in a table of its own. `scale` takes them too, and `--peers N`
//! (which `all` takes as well), and runs only the swarm: N peers (1,000
//! unless told) in one process. `unicast` measures only peercloud's
//! unicast against the ceiling; with `PEERCLOUD_BENCH_EXE=PATH` every
//! role is started from another build, for A/B runs. The other subcommands are the roles those
//! children play; they speak JSON lines on stdin/stdout and exit when stdin
//! closes. This file only parses the arguments.

mod all;
mod bench;
mod budget;
mod figure;
mod fleet;
mod machine;
mod procfs;
mod procs;
mod roles;
mod stats;
mod table;

use std::process::ExitCode;

use all::Suite;

/// Every error here is reported, never matched on.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
/// The result of everything that can fail.
pub(crate) type Result<T> = std::result::Result<T, Error>;

const USAGE: &str = "\
usage: peercloud-bench all [--quick] [--runs N]
       peercloud-bench faults [--quick] [--runs N]   (only the membership-under-faults and data-update figures)
       peercloud-bench private [--quick] [--runs N]  (open against private peercloud: unicast, broadcast, joins)
       peercloud-bench scale [--quick] [--runs N] [--peers N]  (only the swarm: N peers in one process, 1,000 unless told)
       peercloud-bench unicast [--quick] [--runs N]  (only unicast: peercloud against the ceiling)
       (all also takes --peers N, the swarm's size; PEERCLOUD_BENCH_EXE=PATH runs the roles of another build)
       (roles started by those: rust-peer CONFIG | ceiling-server | ceiling-client PORT | swarm N)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("all") => all_args(&args[1..]).and_then(|a| all::main(Suite::All, a)),
        Some("faults") => all_args(&args[1..]).and_then(|a| all::main(Suite::Faults, a)),
        Some("private") => all_args(&args[1..]).and_then(|a| all::main(Suite::Private, a)),
        Some("scale") => all_args(&args[1..]).and_then(|a| all::main(Suite::Scale, a)),
        Some("unicast") => all_args(&args[1..]).and_then(|a| all::main(Suite::Unicast, a)),
        Some("rust-peer") => roles::peer::main(args.get(1).map_or("{}", String::as_str)),
        Some("ceiling-server") => roles::ceiling::server_main(),
        Some("ceiling-client") => port_arg(args.get(1)).and_then(roles::ceiling::client_main),
        Some("swarm") => count_arg(args.get(1)).and_then(roles::swarm::main),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peercloud-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `[--quick] [--runs N] [--peers N]`.
fn all_args(args: &[String]) -> Result<all::Args> {
    let mut parsed = all::Args::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => parsed.quick = true,
            "--runs" => parsed.runs = Some(count_arg(args.next())?),
            "--peers" => parsed.peers = Some(count_arg(args.next())?),
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}").into()),
        }
    }
    Ok(parsed)
}

fn count_arg(arg: Option<&String>) -> Result<usize> {
    match arg.and_then(|a| a.parse::<usize>().ok()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive number\n{USAGE}").into()),
    }
}

fn port_arg(arg: Option<&String>) -> Result<u16> {
    arg.and_then(|a| a.parse::<u16>().ok())
        .ok_or_else(|| format!("expected a port\n{USAGE}").into())
}
