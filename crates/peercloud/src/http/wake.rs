//! A wake-up of their own for the futures a connection's task watches
//! beside hyper's connection (its deadlines, the server's stop, a revoked
//! key). The task wakes at every read and write of the connection; with
//! this, it looks at the others only when one of them woke it, instead of
//! polling them all each time. Touches nothing but its own flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The watched futures' waker: it notes that one of them woke, then wakes
/// the task.
#[derive(Debug)]
pub(crate) struct OwnWake {
    flag: Arc<Flag>,
    waker: Waker,
}

#[derive(Debug)]
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl OwnWake {
    /// Starts woken, so that the first look polls (and registers) them all.
    pub(crate) fn new() -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        OwnWake { flag, waker }
    }

    /// Notes the task to wake (`cx`'s), then, if one of the watched futures
    /// woke since the last call, the context to poll them with (all of
    /// them: which one woke is not kept).
    pub(crate) fn woken(&self, cx: &Context<'_>) -> Option<Context<'_>> {
        // Registered before the flag is read: a wake-up between the two
        // wakes the task once more, and is never lost.
        self.flag.task.register(cx.waker());
        self.flag
            .woken
            .swap(false, Ordering::AcqRel)
            .then(|| Context::from_waker(&self.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::future::{poll_fn, Future};
    use std::task::Poll;

    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn the_watched_futures_are_polled_only_once_they_woke() {
        let notify = Notify::new();
        let wake = OwnWake::new();
        let mut notified = std::pin::pin!(notify.notified());
        let (mut looks, mut task_polls) = (0, 0);
        poll_fn(|cx| {
            task_polls += 1;
            assert!(task_polls <= 3, "woken without a look");
            let answer = match wake.woken(cx) {
                Some(mut own) => {
                    looks += 1;
                    notified.as_mut().poll(&mut own)
                }
                None => Poll::Pending,
            };
            if answer.is_pending() && task_polls == 1 {
                // Woken by something else (the connection): no look.
                cx.waker().wake_by_ref();
            } else if answer.is_pending() {
                notify.notify_one();
            }
            answer
        })
        .await;
        assert_eq!(
            (looks, task_polls),
            (2, 3),
            "the first poll, then the notification"
        );
    }
}
