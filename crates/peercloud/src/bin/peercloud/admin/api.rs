//! The admin API's JSON routes: the members, and sending messages. Every
//! answer is JSON, errors included; a bad request changes nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use peercloud::{Cloud, Peer};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, JsonBody};
use super::AdminState;
use crate::output::{peer_json, reply_json, Line};

/// `GET /api/members`: this peer (`"self": true`) and then every member
/// by id, each with its state and, where known, how many milliseconds ago
/// it last answered.
pub(crate) async fn members(State(state): State<AdminState>) -> Json<Vec<Value>> {
    let cloud = &state.cloud;
    let mut members = vec![self_json(cloud)];
    members.extend(cloud.peers().iter().map(member_json));
    Json(members)
}

fn self_json(cloud: &Cloud) -> Value {
    let addr = cloud.local_addr();
    json!({
        "id": cloud.id(),
        "ip": addr.ip().to_string(),
        "port": addr.port(),
        "data": cloud.data(),
        "state": "alive",
        "last_contact_ago_ms": null,
        "self": true,
    })
}

fn member_json(peer: &Peer) -> Value {
    let mut fields = peer_json(peer);
    fields["state"] = json!(peer.state().as_str());
    fields["last_contact_ago_ms"] = json!(peer
        .last_contact()
        .map(|at| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)));
    fields["self"] = json!(false);
    fields
}

/// The body of `POST /api/send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendRequest {
    /// The message, any JSON value.
    body: Value,
    /// The id of the one member to send it to; every member without it.
    #[serde(default)]
    to: Option<String>,
}

/// `POST /api/send`: broadcasts `body`, or sends it to the member `to`,
/// and answers the replies as `run --json`'s `replies` event holds them:
/// `{"replies": [{peer, id, value} | {peer, id, error}]}`. An unknown
/// `to` is 404; a member that does not answer is 502.
pub(crate) async fn send(
    State(state): State<AdminState>,
    JsonBody(request): JsonBody<SendRequest>,
) -> Result<Json<Value>, ApiError> {
    let cloud = &state.cloud;
    let Some(to) = request.to else {
        let replies = cloud.send(request.body).await;
        return Ok(Json(Line::Replies(&replies).json_fields()));
    };
    let peer = cloud.peer(&to).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no member has the id {to:?}"),
        )
        .with("id", json!(to))
    })?;
    match peer.send(request.body).await {
        Ok(value) => Ok(Json(json!({"replies": [reply_json(&peer, &Ok(value))]}))),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("member {} did not reply: {e}", peer.id()),
        )
        .with("id", json!(peer.id()))),
    }
}

/// Any other path: a JSON 404 that lists the routes.
pub(crate) async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route (there are GET /, GET /api/members, GET /api/events, POST /api/send)",
    )
    .into_response()
}
