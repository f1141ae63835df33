//! `peercloud peers` and `peercloud status`: ask a running peer over HTTP
//! (`POST /peers`, `POST /status`) and print its answer as a table or JSON.
//! Touches the network, stdout and stderr.

use std::process::ExitCode;
use std::time::Duration;

use peercloud::Address;
use peercloud_core::wire::{PeerInfo, PeersReply, StatusReply};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cli::QueryArgs;

/// How long the asked peer may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening the connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// `peercloud peers HOST:PORT`: the members the peer knows.
pub(crate) async fn peers(args: QueryArgs) -> ExitCode {
    let reply: PeersReply = match ask(&args.address, "/peers").await {
        Ok(reply) => reply,
        Err(e) => return fail(&e),
    };
    if args.json {
        print_json(&reply.peers);
    } else {
        println!(
            "{} is peer {} with data {}, knowing {}:",
            args.address,
            reply.server.id.as_str(),
            reply.server.data,
            match reply.peers.len() {
                1 => "1 other peer".to_owned(),
                n => format!("{n} other peers"),
            }
        );
        print!("{}", peers_table(&reply.peers));
    }
    ExitCode::SUCCESS
}

/// `peercloud status HOST:PORT`: what the peer says of itself.
pub(crate) async fn status(args: QueryArgs) -> ExitCode {
    let reply: StatusReply = match ask(&args.address, "/status").await {
        Ok(reply) => reply,
        Err(e) => return fail(&e),
    };
    if args.json {
        print_json(&reply);
    } else {
        let id = reply.id.as_ref().map_or("(none)", |id| id.as_str());
        println!("id         {id}");
        println!("online     {}", reply.online);
        println!("listening  {}", reply.listening);
        println!("joined     {}", reply.joined);
        if let Some(digest) = &reply.digest {
            // "<members, itself included>-<hash of their ids>"
            println!("digest     {digest}");
        }
    }
    ExitCode::SUCCESS
}

/// `POST`s `{}` to `path` on `address` and decodes the JSON answer; the
/// error is a sentence for the user.
async fn ask<T: DeserializeOwned>(address: &Address, path: &str) -> Result<T, String> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
    let url = format!("http://{address}{path}");
    tracing::debug!(%url, "asking");
    let response = client
        .post(&url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .map_err(|e| unreachable(address, &e))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND && path == "/peers" {
        return Err(format!(
            "{address} has no /peers endpoint (only Rust peers have it; an original node.js peer?)"
        ));
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        return Err(format!(
            "{address} answered {path} with status {status}: {body}"
        ));
    }
    response.json::<T>().await.map_err(|e| {
        format!(
            "{address} sent an invalid {path} answer: {}",
            root_cause(&e)
        )
    })
}

fn unreachable(address: &Address, error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("{address} did not answer within {}s", TIMEOUT.as_secs())
    } else {
        format!("cannot reach {address}: {}", root_cause(error))
    }
}

/// The innermost error of a chain: for a refused connection, "Connection
/// refused (os error 111)" rather than reqwest's "error sending request".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The members as a table with the columns ID, ADDRESS and DATA.
fn peers_table(peers: &[PeerInfo]) -> String {
    let rows: Vec<[String; 3]> = peers
        .iter()
        .map(|p| {
            let address = Address::new(p.ip.clone(), p.port).to_string();
            [p.id.as_str().to_owned(), address, p.data.to_string()]
        })
        .collect();
    let width = |column: usize, title: &str| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (id_width, address_width) = (width(0, "ID"), width(1, "ADDRESS"));
    let mut table = format!("{:id_width$}  {:address_width$}  DATA\n", "ID", "ADDRESS");
    for [id, address, data] in &rows {
        table += &format!("{id:id_width$}  {address:address_width$}  {data}\n");
    }
    table
}

fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_peers_table_lines_up_its_columns() {
        let peers: Vec<PeerInfo> = serde_json::from_value(json!([
            {"id": "a", "ip": "127.0.0.1", "port": 4000, "data": {"n": 1}},
            {"id": "long-id", "ip": "::1", "port": 5, "data": {}}
        ]))
        .expect("peers");
        assert_eq!(
            peers_table(&peers),
            "ID       ADDRESS         DATA\n\
             a        127.0.0.1:4000  {\"n\":1}\n\
             long-id  [::1]:5         {}\n"
        );
    }
}
