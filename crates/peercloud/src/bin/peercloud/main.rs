//! The `peercloud` command: parses the arguments, sets up logging on
//! stderr, and hands over to the subcommand.

mod admin;
mod cli;
mod hooks;
mod metrics;
mod output;
mod query;
mod run;
mod security;
mod send;
mod table;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(*args).await,
            Command::Peers(args) => query::peers(args).await,
            Command::Status(args) => query::status(args).await,
            Command::Keygen => security::keygen(),
            Command::Send(args) => send::send(args).await,
        }
    });
    // Stdin is read on a blocking thread that cannot be interrupted; waiting
    // for it would hang the exit until the next line or the end of stdin.
    runtime.shutdown_background();
    code
}

/// Logs go to stderr, never stdout (which belongs to the output). `RUST_LOG`
/// overrides `-v`.
fn init_tracing(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,peercloud=info,peercloud_core=info",
        2 => "info,peercloud=debug,peercloud_core=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // Flattened: a record's fields sit beside `level` and `target`, as
        // log collectors expect.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}
