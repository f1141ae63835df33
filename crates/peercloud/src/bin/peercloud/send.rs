//! `peercloud send`: one message through a running peer's admin listener
//! (`POST /api/send`), its replies printed as a table or JSON. Touches the
//! network (one plain HTTP request to the address given), stdout and
//! stderr.
//!
//! It speaks to the admin listener, not to the cloud: the peer sends the
//! message as itself, so this command needs no key and no membership.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::cli::SendArgs;

/// How long connecting may take: the listener is normally on this machine.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the whole exchange may take: the peer itself waits at most its
/// message timeout (5 s unless `run --message-timeout-ms` says otherwise)
/// for each reply, and sends to many members at once.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest answer read: the replies of a large cloud.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// `peercloud send ADMIN_ADDR JSON [--to ID] [--json]`.
pub(crate) async fn send(args: SendArgs) -> ExitCode {
    let mut request = json!({ "body": args.body });
    if let Some(to) = &args.to {
        request["to"] = json!(to);
    }
    let (status, answer) = match post(&args.admin.to_string(), &request).await {
        Ok(answer) => answer,
        Err(e) => {
            return fail(&format!(
                "cannot reach the admin listener at {}: {e}",
                args.admin
            ))
        }
    };
    let Ok(answer) = serde_json::from_slice::<Value>(&answer) else {
        return fail(&format!(
            "{} answered {status} with a body that is not JSON (is it an admin listener?)",
            args.admin
        ));
    };
    if status != StatusCode::OK {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        return fail(&format!("{} answered {status}: {error}", args.admin));
    }
    if args.json {
        println!("{answer}");
    } else {
        let empty = Vec::new();
        print!(
            "{}",
            replies_table(answer["replies"].as_array().unwrap_or(&empty))
        );
    }
    ExitCode::SUCCESS
}

/// POSTs `body` as JSON to `/api/send` at `address`: the status and the
/// body of the answer. One request on a connection of its own: a command
/// that sends once needs no pool.
async fn post(address: &str, body: &Value) -> Result<(StatusCode, Bytes), String> {
    let mut request = Request::new(Full::new(Bytes::from(body.to_string())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = hyper::Uri::from_static("/api/send");
    let headers = request.headers_mut();
    let host = HeaderValue::from_str(address).map_err(|e| format!("invalid address: {e}"))?;
    headers.insert(HOST, host);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let exchange = async {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| format!("could not connect within {CONNECT_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| deepest(&e))?;
        // The connection ends with the command: nothing waits for it.
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| deepest(&e))?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?
            .to_bytes();
        Ok((status, bytes))
    };
    tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {ANSWER_TIMEOUT:?}"))?
}

/// The innermost cause of a client error: hyper's outer ones say only
/// "client error (Connect)".
fn deepest(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The replies as a table: ID, PEER (its data) and REPLY (the value, or
/// the error).
fn replies_table(replies: &[Value]) -> String {
    if replies.is_empty() {
        return "no replies: the peer has no member to send to\n".to_owned();
    }
    let rows: Vec<[String; 3]> = replies
        .iter()
        .map(|reply| {
            let answer = match reply.get("error") {
                Some(error) => format!("error: {}", error.as_str().unwrap_or_default()),
                None => reply["value"].to_string(),
            };
            let id = reply["id"].as_str().unwrap_or_default().to_owned();
            [id, reply["peer"].to_string(), answer]
        })
        .collect();
    crate::table::three_columns(["ID", "PEER", "REPLY"], &rows)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replies_table_lines_up_values_and_errors() {
        let replies = [
            json!({"peer": {"n": 1}, "id": "a", "value": {"ok": true}}),
            json!({"peer": {}, "id": "long-id", "error": "timed out"}),
        ];
        assert_eq!(
            replies_table(&replies),
            "ID       PEER     REPLY\n\
             a        {\"n\":1}  {\"ok\":true}\n\
             long-id  {}       error: timed out\n"
        );
    }
}
