//! The HTTP edges: the server that answers other peers (its own accept
//! loop, the limits on connections, the routes), and the client that calls
//! them. Both only translate between HTTP and typed values.

mod api_error;
mod app;
mod body_buffer;
pub(crate) mod client;
pub(crate) mod connection;
mod dial;
mod extract;
mod gate;
mod idle;
mod message;
mod pool;
#[cfg(test)]
mod pool_tests;
mod serve;
mod server;
#[cfg(test)]
mod tests;
mod wake;

pub(crate) use app::App;
pub(crate) use connection::Plain;
pub(crate) use serve::serve;
pub(crate) use server::AppState;

/// The `error` of the answer to a message whose handler failed.
pub(crate) const HANDLER_FAILED: &str = "handler failed";
