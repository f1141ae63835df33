//! JSON bodies written into a buffer each thread reuses, instead of a new
//! buffer for each: the message the client sends and the reply the server
//! answers. Touches only its own thread-local buffers.
//!
//! A body made the usual way costs two allocations (its buffer, then the
//! shared header `Bytes` puts on a buffer not filled to its capacity) and
//! their two frees. Here a body is written into a scratch `Vec` the thread
//! keeps, copied into the thread's arena (one `BytesMut` of a few KiB) and
//! split off it: the body shares the arena, which allocates again only once
//! its room is used up and its earlier bodies are all still held (a unique
//! arena is reclaimed in place). A body that is held long keeps at most one
//! arena of `ARENA` bytes alive.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use serde::Serialize;

/// The room an arena is made with, enough for a few hundred small bodies.
const ARENA: usize = 8 * 1024;

/// The largest buffer a thread keeps: one grown for a larger body is let go
/// with it, so that a single large body does not stay resident.
const KEEP: usize = 64 * 1024;

#[derive(Default)]
struct Buffers {
    /// Where a body is serialised: a `Vec` takes serde_json's many small
    /// writes more cheaply than a `BytesMut`.
    scratch: Vec<u8>,
    arena: BytesMut,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// `value` as JSON. Fails only as `serde_json::to_vec` would (a map with
/// keys that are not strings), never for a `Value` or our wire types.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Bytes> {
    let reused = BUFFERS.try_with(|buffers| {
        // Taken already only if serialising called back into this
        // function: that body gets a buffer of its own.
        buffers
            .try_borrow_mut()
            .ok()
            .map(|mut buffers| buffers.write(value))
    });
    match reused {
        Ok(Some(bytes)) => bytes,
        // During the thread's teardown, or a nested call.
        Ok(None) | Err(_) => serde_json::to_vec(value).map(Bytes::from),
    }
}

impl Buffers {
    fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<Bytes> {
        self.scratch.clear();
        let written = serde_json::to_writer(&mut self.scratch, value);
        if self.scratch.capacity() > KEEP {
            // Moved out whole: a large body is its own buffer, not a copy.
            return written.map(|()| Bytes::from(std::mem::take(&mut self.scratch)));
        }
        written?;
        let len = self.scratch.len();
        if self.arena.capacity() < len {
            self.arena.reserve(len.max(ARENA));
        }
        self.arena.extend_from_slice(&self.scratch);
        let bytes = self.arena.split().freeze();
        if self.arena.capacity() > KEEP {
            self.arena = BytesMut::new();
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_is_the_json_serde_json_writes() {
        let value = json!({"hello": "peer", "n": [1, 2.5, null], "s": "\u{1F600}\"\n"});
        for _ in 0..3 {
            let bytes = json(&value).expect("json");
            assert_eq!(bytes, serde_json::to_vec(&value).expect("json"));
        }
    }

    #[test]
    fn bodies_held_while_the_arena_refills_keep_their_bytes() {
        let bodies: Vec<(Bytes, Vec<u8>)> = (0..2_000)
            .map(|i| {
                let value = json!({ "i": i, "pad": "x".repeat(i % 97) });
                let expected = serde_json::to_vec(&value).expect("json");
                (json(&value).expect("json"), expected)
            })
            .collect();
        for (bytes, expected) in &bodies {
            assert_eq!(bytes, expected);
        }
    }

    #[test]
    fn a_large_body_is_written_whole_and_not_kept() {
        let value = json!({ "pad": "y".repeat(3 * KEEP) });
        let bytes = json(&value).expect("json");
        assert_eq!(bytes, serde_json::to_vec(&value).expect("json"));
        BUFFERS.with(|buffers| {
            let buffers = buffers.borrow();
            assert!(buffers.scratch.capacity() <= KEEP);
            assert!(buffers.arena.capacity() <= KEEP);
        });
        let small = json(&json!({"after": true})).expect("json");
        assert_eq!(small, &br#"{"after":true}"#[..]);
    }
}
