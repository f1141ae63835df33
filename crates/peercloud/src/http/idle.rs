//! Watching one connection for silence: its I/O, wrapped, notes when a
//! byte last went either way, and the service notes the requests under
//! way, so that the connection's task can close it once it has been silent
//! for the idle timeout with nothing to answer. Touches only the stream it
//! wraps.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, sleep_until, Instant};

/// When a connection was last active, and how many requests it has under
/// way. Shared by the connection's I/O, its service and its task.
#[derive(Debug)]
pub(crate) struct Activity {
    /// The connection's start; `last` counts from it.
    base: Instant,
    /// Nanoseconds from `base` to the last byte read or written.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

/// A request under way; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            base: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let since = Instant::now().saturating_duration_since(self.base);
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }

    /// Notes a request under way until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Resolves once no byte has gone either way for `idle` and no request
    /// is under way. A request slower than `idle` (a message handler that
    /// thinks long) keeps its connection open.
    pub(crate) async fn silent_for(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            if Instant::now() < deadline {
                sleep_until(deadline).await;
            } else if self.in_flight.load(Ordering::Relaxed) > 0 {
                // The end of the request counts as activity: look again
                // one idle period after it, at the latest.
                sleep(idle).await;
            } else {
                return;
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's I/O that notes its activity.
#[derive(Debug)]
pub(crate) struct Watched<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I> Watched<I> {
    pub(crate) fn new(io: I, activity: Arc<Activity>) -> Self {
        Watched { io, activity }
    }

    pub(crate) fn into_inner(self) -> I {
        self.io
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.touch();
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write(cx, buf))?;
        if written > 0 {
            self.activity.touch();
        }
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, bufs))?;
        if written > 0 {
            self.activity.touch();
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_counted_from_the_last_byte_either_way() {
        let (near, mut far) = tokio::io::duplex(64);
        let activity = Activity::new();
        let mut io = Watched::new(near, activity.clone());
        let start = Instant::now();
        tokio::time::advance(secs(6)).await;
        far.write_all(b"x").await.expect("write");
        io.read_exact(&mut [0]).await.expect("read");
        tokio::time::advance(secs(3)).await;
        io.write_all(b"y").await.expect("write");
        activity.silent_for(secs(10)).await;
        assert_eq!(start.elapsed(), secs(19), "ten seconds after the write");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_under_way_is_never_silence() {
        let activity = Activity::new();
        let start = Instant::now();
        let busy = activity.begin();
        let watcher = tokio::spawn({
            let activity = activity.clone();
            async move {
                activity.silent_for(secs(10)).await;
                Instant::now()
            }
        });
        // Paused time: this only moves the clock past several idle periods.
        tokio::time::sleep(secs(35)).await;
        assert!(!watcher.is_finished());
        drop(busy);
        let woke = watcher.await.expect("the watcher ends");
        assert_eq!(woke - start, secs(45), "ten seconds after the answer");
    }
}
