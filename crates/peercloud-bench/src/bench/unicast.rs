//! Unicast: `peer.send` round trips between two peer processes, 1 and 64 in
//! flight, for the original and peercloud (`all`) or for open and private
//! peercloud (`private`), and the same POST between the bare hyper pair.
//! The pairs stay up for the whole benchmark and are measured in turn, in a
//! rotating order, so noise hits them alike.

use std::time::Duration;

use serde_json::{json, Value};

use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{Env, Peer, COMMAND_WITHIN};
use crate::procs::Proc;
use crate::table::Figures;
use crate::Result;

/// The loads measured: requests in flight.
const INFLIGHT: [u64; 2] = [1, 64];

/// A client process and whom it sends to.
struct Pair {
    client: Proc,
    /// The server's id, for peers.
    to: Option<String>,
    /// Kept alive while the pair is measured.
    _server: Proc,
}

/// Runs the unicast benchmark for `systems` and records their figures.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures, systems: &[Sys]) {
    let mut pairs: Vec<(Sys, Option<Pair>)> = Vec::new();
    for &sys in systems {
        match start_pair(env, sys).await {
            Ok(pair) => pairs.push((sys, Some(pair))),
            Err(e) => {
                for figure in [
                    Figure::Unicast1,
                    Figure::Unicast64,
                    Figure::UnicastP50,
                    Figure::UnicastP99,
                ] {
                    figures.fail(figure, sys, &e);
                }
                pairs.push((sys, None));
            }
        }
    }
    for run in 0..budget.runs {
        pairs.rotate_left(usize::from(run > 0));
        for (sys, pair) in pairs.iter_mut() {
            let Some(pair) = pair else { continue };
            for inflight in INFLIGHT {
                match measure(pair, inflight, budget).await {
                    Ok(answer) => record(figures, *sys, inflight, &answer),
                    Err(e) => figures.fail(figure_of(inflight), *sys, e),
                }
            }
        }
    }
}

async fn start_pair(env: &Env, sys: Sys) -> Result<Pair> {
    match sys.kind() {
        Some(kind) => {
            let server = env.start_peer(kind, "server", None, false).await?;
            let Peer { proc: client, .. } = env
                .start_peer(kind, "client", Some(server.port), false)
                .await?;
            Ok(Pair {
                client,
                to: Some(server.id),
                _server: server.proc,
            })
        }
        None => {
            let (server, ready) = env.start_role(&["ceiling-server"]).await?;
            let port = ready["port"]
                .as_u64()
                .ok_or("the ceiling server gave no port")?;
            let (client, _) = env
                .start_role(&["ceiling-client", &port.to_string()])
                .await?;
            Ok(Pair {
                client,
                to: None,
                _server: server,
            })
        }
    }
}

async fn measure(pair: &mut Pair, inflight: u64, budget: &Budget) -> Result<Value> {
    let mut command = budget.unicast.to_json();
    command["cmd"] = json!("unicast");
    command["inflight"] = json!(inflight);
    if let Some(to) = &pair.to {
        command["to"] = json!(to);
    }
    let within = budget.unicast.total() + COMMAND_WITHIN + Duration::from_secs(5);
    let answer = pair.client.command(&command, "unicast", within).await?;
    if answer["count"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("no round trip completed: {answer}").into());
    }
    Ok(answer)
}

fn record(figures: &mut Figures, sys: Sys, inflight: u64, answer: &Value) {
    let errors = answer["errors"].as_u64().unwrap_or(0);
    if errors > 0 {
        figures.fail(
            figure_of(inflight),
            sys,
            format!("{errors} requests failed at {inflight} in flight"),
        );
    }
    figures.record(
        figure_of(inflight),
        sys,
        answer["per_sec"].as_f64().unwrap_or(0.0),
    );
    if inflight == 64 {
        let ms = |field: &str| answer[field].as_f64().unwrap_or(f64::NAN) / 1_000.0;
        figures.record(Figure::UnicastP50, sys, ms("p50_us"));
        figures.record(Figure::UnicastP99, sys, ms("p99_us"));
    }
}

fn figure_of(inflight: u64) -> Figure {
    if inflight == 1 {
        Figure::Unicast1
    } else {
        Figure::Unicast64
    }
}
