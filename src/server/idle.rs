//! Read deadlines for a client connection: the first byte must arrive
//! within the header timeout, and once requests have been served, a
//! connection with no request in flight and no bytes moving for the idle
//! timeout is closed.
//!
//! hyper-util's auto builder first waits, untimed, for the bytes that tell
//! HTTP/1 from HTTP/2, and hyper's HTTP/2 server never closes a connection
//! that has no streams: without this, a client that connects and says
//! nothing, or an idle HTTP/2 client, would hold its connection (and a
//! `max_connections` slot) forever. (For HTTP/1, hyper also times the wait
//! for the next request head with `header_read_timeout`.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Requests of one connection whose response has not finished yet.
#[derive(Debug, Default)]
pub struct InFlight(AtomicUsize);

impl InFlight {
    /// Counts one request until the returned guard (kept in its response
    /// body) is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(Arc::clone(self))
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

pub struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in flight until the
/// body is finished or dropped (a slow streamed response is not "idle").
pub struct TrackedBody<B> {
    body: B,
    _in_flight: InFlightGuard,
}

impl<B> TrackedBody<B> {
    pub fn new(body: B, in_flight: InFlightGuard) -> TrackedBody<B> {
        TrackedBody {
            body,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for TrackedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

pub struct ReadDeadline<S> {
    inner: S,
    /// Wakes the reader when the current limit may have passed; re-armed
    /// lazily (on expiry) rather than on every byte.
    timer: Pin<Box<Sleep>>,
    last_activity: Instant,
    /// `header_read_timeout` until the first byte, then `idle_timeout`.
    limit: Duration,
    idle_timeout: Duration,
    in_flight: Arc<InFlight>,
}

impl<S> ReadDeadline<S> {
    pub fn new(
        inner: S,
        header_read_timeout: Duration,
        idle_timeout: Duration,
        in_flight: Arc<InFlight>,
    ) -> ReadDeadline<S> {
        let now = Instant::now();
        ReadDeadline {
            inner,
            timer: Box::pin(tokio::time::sleep_until(now + header_read_timeout)),
            last_activity: now,
            limit: header_read_timeout,
            idle_timeout,
            in_flight,
        }
    }

    fn moved_bytes(&mut self) {
        self.last_activity = Instant::now();
        if self.limit != self.idle_timeout {
            // First byte: from now on the idle timeout applies; the timer
            // may still be set for the (longer) header timeout.
            self.limit = self.idle_timeout;
            self.timer.as_mut().reset(self.last_activity + self.limit);
        }
    }

    /// `true` once the connection has been idle past its limit; otherwise
    /// the timer is armed to wake this reader when it might be.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let due = self.last_activity + self.limit;
            if self.in_flight.any() {
                // A request is being answered: not idle, look again later.
                self.timer.as_mut().reset(now + self.limit);
            } else if due > now {
                self.timer.as_mut().reset(due);
            } else {
                return true;
            }
        }
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.moved_bytes();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if self.expired(cx) {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle past its timeout",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.moved_bytes();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.moved_bytes();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
