//! The HTTP edges: the server that answers other peers, and the client that
//! calls them. Both only translate between HTTP and typed values.

mod api_error;
pub(crate) mod client;
mod extract;
mod server;
#[cfg(test)]
mod tests;

pub(crate) use server::{router, AppState};

/// The `error` of the answer to a message whose handler failed.
pub(crate) const HANDLER_FAILED: &str = "handler failed";
