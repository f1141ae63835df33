//! The application's message handler, stored as a boxed async function.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::error::HandlerError;
use crate::peer::Peer;

/// A stored message handler.
pub(crate) type Handler =
    Arc<dyn Fn(Peer, Value) -> BoxFuture<'static, Result<Value, HandlerError>> + Send + Sync>;

/// Boxes an async function of the sender and the body.
pub(crate) fn boxed<F, Fut>(handler: F) -> Handler
where
    F: Fn(Peer, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
{
    Arc::new(move |from, body| Box::pin(handler(from, body)))
}

/// Without a handler, every message is answered with `{}`, as the original does.
pub(crate) fn empty_reply() -> Handler {
    boxed(|_, _| async { Ok(Value::Object(Default::default())) })
}
