//! `GET /api/events`: the cloud's events as server-sent events, one per
//! event, named and shaped as `run --json` prints them (the SSE `data` is
//! the very line), with a keep-alive comment when nothing happens. A
//! client too slow to keep up gets a `lagged {missed}` event and the
//! stream goes on; it ends after `closed`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use peercloud::Event;

use super::AdminState;
use crate::output::Line;

/// How often a comment goes out when no event does: proxies and browsers
/// drop connections that stay silent for long.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

pub(crate) async fn stream(
    State(state): State<AdminState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = state
        .cloud
        .events()
        .filter_map(|event| std::future::ready(sse_of(&event).map(Ok)));
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

/// The SSE event for a cloud event, if it is one that is streamed.
fn sse_of(event: &Event) -> Option<SseEvent> {
    let line = Line::of_streamed(event)?;
    Some(
        SseEvent::default()
            .event(line.name())
            .data(line.json_text()),
    )
}
