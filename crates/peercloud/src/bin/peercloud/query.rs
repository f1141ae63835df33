//! `peercloud peers` and `peercloud status`: ask a running peer through
//! the library's client (`POST /peers`, `POST /status`) and print its
//! answer as a table or JSON. Touches the network, stdout and stderr.

use std::process::ExitCode;

use peercloud::wire::PeerInfo;
use peercloud::{Address, Remote};
use serde::Serialize;

use crate::cli::QueryArgs;
use crate::security;

/// The client for `args`: open, or private with their key or certificates.
fn remote(args: &QueryArgs) -> Result<Remote, String> {
    let security = security::of(&args.security)?;
    Remote::new(args.address.clone())
        .security(&security)
        .map_err(|e| e.to_string())
}

/// `peercloud peers HOST:PORT`: the members the peer knows.
pub(crate) async fn peers(args: QueryArgs) -> ExitCode {
    let remote = match remote(&args) {
        Ok(remote) => remote,
        Err(e) => return fail(&e),
    };
    let reply = match remote.peers().await {
        Ok(reply) => reply,
        Err(e) => return fail(&e.to_string()),
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
    let remote = match remote(&args) {
        Ok(remote) => remote,
        Err(e) => return fail(&e),
    };
    let reply = match remote.status().await {
        Ok(reply) => reply,
        Err(e) => return fail(&e.to_string()),
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
        if let Some(incarnation) = reply.incarnation {
            println!("incarnation {incarnation}");
        }
    }
    ExitCode::SUCCESS
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
    crate::table::three_columns(["ID", "ADDRESS", "DATA"], &rows)
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
