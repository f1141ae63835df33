//! `GET /`: the live web console, one self-contained page built into the
//! binary. It needs nothing from the network: its style, script and
//! drawing are inline, and it reads only this listener's API.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The page (see `console.html`).
const PAGE: &str = include_str!("console.html");

/// Inline script and style only, data only from this origin, and no
/// framing by other pages.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
                      style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, POLICY),
            (CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}
