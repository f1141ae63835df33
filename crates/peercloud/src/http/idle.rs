//! Watching one connection for silence and for a head that does not
//! arrive: its I/O, wrapped, notes when a byte was last read and last
//! written, and the service notes the requests under way, so that the
//! connection's task can close it once it has been silent for the idle
//! timeout with nothing to answer, or once a request's head has taken
//! longer than the header timeout. One timer per connection, reset only
//! when it fires: no timer is armed or dropped per request. Touches only
//! the stream it wraps.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep_until, Instant, Sleep};

/// When a connection last read and last wrote, and how many requests it
/// has under way. Shared by the connection's I/O, its service and its
/// task.
#[derive(Debug)]
pub(crate) struct Activity {
    /// The connection's start; the times below count from it.
    base: Instant,
    /// Nanoseconds from `base` to the last byte read.
    read: AtomicU64,
    /// Nanoseconds from `base` to the last byte written or the end of the
    /// last answer, whichever is later: the next request's head is
    /// awaited from then (and from `base` for the first).
    written: AtomicU64,
    in_flight: AtomicUsize,
}

/// A request under way; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

/// Why a connection must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No byte either way for the idle timeout, and nothing under way.
    Silent,
    /// A request's head did not arrive whole within the header timeout
    /// (the wait for its first byte included), though bytes may have: a
    /// client trickling a head to hold the connection.
    HeadTooSlow,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            base: Instant::now(),
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn touch(&self, at: &AtomicU64) {
        let since = Instant::now().saturating_duration_since(self.base);
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        at.store(nanos, Ordering::Relaxed);
    }

    fn at(&self, at: &AtomicU64) -> Instant {
        self.base + Duration::from_nanos(at.load(Ordering::Relaxed))
    }

    /// Notes a request under way until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// When to look again, or why the connection must close, at `now`. A
    /// request slower than the idle timeout (a message handler that thinks
    /// long) keeps its connection open, and its head has arrived.
    fn check(&self, now: Instant, idle: Duration, header: Duration) -> Result<Instant, Expired> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            // The end of the request counts as activity: look again one
            // idle period after it, at the latest.
            return Ok(now + idle);
        }
        let written = self.at(&self.written);
        let silent_from = written.max(self.at(&self.read));
        let (silent_at, head_late_at) = (silent_from + idle, written + header);
        if now >= silent_at {
            Err(Expired::Silent)
        } else if now >= head_late_at {
            Err(Expired::HeadTooSlow)
        } else {
            Ok(silent_at.min(head_late_at))
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch(&self.0.written);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's idle and header timeouts over its [`Activity`], on one
/// timer that is set to the earlier of the two deadlines and, when it
/// fires, set again to the deadlines of the activity since.
#[derive(Debug)]
pub(crate) struct Deadlines {
    activity: Arc<Activity>,
    idle: Duration,
    header: Duration,
    /// Boxed so that the connection's task need not be pinned to hold it;
    /// made once per connection.
    timer: Pin<Box<Sleep>>,
}

impl Deadlines {
    pub(crate) fn new(activity: Arc<Activity>, idle: Duration, header: Duration) -> Self {
        let first = activity.base + idle.min(header);
        Deadlines {
            activity,
            idle,
            header,
            timer: Box::pin(sleep_until(first)),
        }
    }

    /// Ready once the connection must close; the clock is read only when
    /// the timer fires.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Expired> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let now = Instant::now();
            match self.activity.check(now, self.idle, self.header) {
                Ok(next) => self.timer.as_mut().reset(next),
                Err(expired) => return Poll::Ready(expired),
            }
        }
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
            self.activity.touch(&self.activity.read);
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
            self.activity.touch(&self.activity.written);
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
            self.activity.touch(&self.activity.written);
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
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    async fn expired(deadlines: &mut Deadlines) -> Expired {
        poll_fn(|cx| deadlines.poll_expired(cx)).await
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_counted_from_the_last_byte_either_way() {
        let (near, mut far) = tokio::io::duplex(64);
        let activity = Activity::new();
        let mut deadlines = Deadlines::new(activity.clone(), secs(10), secs(600));
        let mut io = Watched::new(near, activity.clone());
        let start = Instant::now();
        tokio::time::advance(secs(6)).await;
        far.write_all(b"x").await.expect("write");
        io.read_exact(&mut [0]).await.expect("read");
        tokio::time::advance(secs(3)).await;
        io.write_all(b"y").await.expect("write");
        assert_eq!(expired(&mut deadlines).await, Expired::Silent);
        assert_eq!(start.elapsed(), secs(19), "ten seconds after the write");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_under_way_is_never_silence() {
        let activity = Activity::new();
        let start = Instant::now();
        let busy = activity.begin();
        let watcher = tokio::spawn({
            let mut deadlines = Deadlines::new(activity.clone(), secs(10), secs(20));
            async move {
                let why = expired(&mut deadlines).await;
                (why, Instant::now())
            }
        });
        // Paused time: this only moves the clock past several idle periods
        // (and the header timeout: the head has arrived).
        tokio::time::sleep(secs(35)).await;
        assert!(!watcher.is_finished());
        drop(busy);
        let (why, woke) = watcher.await.expect("the watcher ends");
        assert_eq!(why, Expired::Silent);
        assert_eq!(woke - start, secs(45), "ten seconds after the answer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickled_in_is_cut_off_at_the_header_timeout_from_the_last_answer() {
        let (near, mut far) = tokio::io::duplex(64);
        let activity = Activity::new();
        let mut deadlines = Deadlines::new(activity.clone(), secs(10), secs(20));
        let mut io = Watched::new(near, activity.clone());
        // A first request, answered at 5 s: the next head is awaited from then.
        tokio::time::advance(secs(2)).await;
        let busy = activity.begin();
        tokio::time::advance(secs(3)).await;
        drop(busy);
        io.write_all(b"answer").await.expect("write");
        let answered = Instant::now();
        let reader = tokio::spawn(async move {
            let mut byte = [0];
            while io.read_exact(&mut byte).await.is_ok() {}
        });
        // A byte every second keeps it from being silent, never from
        // being late.
        let trickle = tokio::spawn(async move {
            loop {
                tokio::time::sleep(secs(1)).await;
                if far.write_all(b"x").await.is_err() {
                    return;
                }
            }
        });
        assert_eq!(expired(&mut deadlines).await, Expired::HeadTooSlow);
        assert_eq!(answered.elapsed(), secs(20));
        trickle.abort();
        reader.abort();
    }
}
