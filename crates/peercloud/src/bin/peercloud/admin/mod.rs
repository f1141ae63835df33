//! The admin listener of `peercloud run --admin`: a small HTTP server,
//! apart from the peer protocol's port, for people and scripts on this
//! machine. It serves the members (`GET /api/members`), the events as
//! server-sent events (`GET /api/events`), sending messages (`POST
//! /api/send`), the metrics for Prometheus (`GET /metrics`) and a live web
//! console (`GET /`). Touches the network
//! through its listener and the cloud.

mod api;
mod console;
mod error;
mod events;
mod host;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use peercloud::Cloud;
use tokio::net::TcpListener;

/// What every admin request shares: the running peer, and whether the
/// `Host` of requests is checked.
#[derive(Clone)]
pub(crate) struct AdminState {
    cloud: Arc<Cloud>,
    /// Answer only requests for `localhost` or an IP address: set for a
    /// loopback listener (see `host.rs`).
    local_hosts_only: bool,
}

impl AdminState {
    /// The state of a loopback listener.
    pub(crate) fn new(cloud: Arc<Cloud>) -> Self {
        AdminState {
            cloud,
            local_hosts_only: true,
        }
    }

    /// The state of a listener on `addr`: one that is not on loopback is
    /// reached by whatever names the network gives it.
    pub(crate) fn listening_on(cloud: Arc<Cloud>, addr: SocketAddr) -> Self {
        AdminState {
            local_hosts_only: addr.ip().is_loopback(),
            ..AdminState::new(cloud)
        }
    }
}

/// Every admin route. New routes (such as `/metrics`) are added here.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(console::page))
        .route("/api/members", get(api::members))
        .route("/api/send", post(api::send))
        .route("/api/events", get(events::stream))
        .route("/metrics", get(metrics))
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), host::check))
        .with_state(state)
}

/// `GET /metrics`: the peer's metrics, for Prometheus.
async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let text = crate::metrics::encode(&state.cloud);
    ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
}

/// Binds the admin address. Done before the peer starts, so that a taken
/// address stops `run` before it joins a cloud.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    if !addr.ip().is_loopback() {
        // As the open-cloud warning of the library: this is a choice to
        // make knowingly.
        tracing::warn!(
            "the admin listener is on {addr}, not loopback: anyone who reaches it can read \
             the cloud and send messages into it as this peer (it has no authentication)"
        );
    }
    Ok(listener)
}

/// Serves the admin routes on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, state: AdminState) {
    if let Err(e) = axum::serve(listener, router(state)).await {
        tracing::warn!("the admin listener stopped: {e}");
    }
}
