//! The request body on its way upstream: streamed as it arrives, except
//! that a stage may first read (peek at) its start, which is then sent ahead
//! of the rest. Nothing is lost or reordered; the rest is never buffered.
//! A client that stops sending its body for `server.body_read_timeout` is
//! cut off (the request fails with 408).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Sleep;

/// Errors of a forwarded body: the client's connection, or `BodyStalled`.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The client sent no body data for `body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no body data for {0:?}")]
pub struct BodyStalled(pub Duration);

/// True when `error` is a stalled client rather than a broken connection.
pub fn is_stall(error: &(dyn std::error::Error + 'static)) -> bool {
    error.is::<BodyStalled>()
}

#[derive(Debug)]
pub struct ForwardBody {
    /// Bytes already read from the client, to be sent first.
    prefix: Option<Bytes>,
    /// What the client has not sent yet; `None` once it has all been read.
    rest: Option<Incoming>,
    /// Longest wait for the next piece of the body.
    idle_limit: Duration,
    /// Running while a read waits for the client; reset by every frame.
    idle: Option<Pin<Box<Sleep>>>,
    /// Set when the client stalled, for whoever reports the failure.
    stalled: Arc<AtomicBool>,
}

impl ForwardBody {
    pub fn new(body: Incoming, idle_limit: Duration) -> ForwardBody {
        ForwardBody {
            prefix: None,
            rest: Some(body),
            idle_limit,
            idle: None,
            stalled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A body that is all here already (what `explain` is given).
    pub fn from_bytes(bytes: Bytes) -> ForwardBody {
        ForwardBody {
            prefix: Some(bytes),
            rest: None,
            idle_limit: Duration::ZERO,
            idle: None,
            stalled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Shared with the request's owner: true once the client has stalled.
    pub fn stalled_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stalled)
    }

    /// Reads up to about `limit` bytes from the start of the body (whole
    /// frames, so possibly a little more) and keeps them to be forwarded
    /// first. Returns them, and whether they are the whole body. Call once.
    pub async fn peek(&mut self, limit: usize) -> Result<(Bytes, bool), BodyError> {
        let Some(rest) = self.rest.as_mut() else {
            return Ok((self.prefix.clone().unwrap_or_default(), true));
        };
        let mut buffer = BytesMut::new();
        let mut complete = false;
        while buffer.len() < limit {
            let next = match tokio::time::timeout(self.idle_limit, rest.frame()).await {
                Ok(next) => next,
                Err(_) => {
                    self.stalled.store(true, Ordering::Release);
                    return Err(Box::new(BodyStalled(self.idle_limit)));
                }
            };
            match next {
                None => {
                    complete = true;
                    break;
                }
                Some(frame) => {
                    // Request trailers are not forwarded (hop-by-hop TE).
                    if let Ok(data) = frame?.into_data() {
                        buffer.extend_from_slice(&data);
                    }
                }
            }
        }
        if complete || rest.is_end_stream() {
            complete = true;
            self.rest = None;
        }
        let bytes = buffer.freeze();
        self.prefix = Some(bytes.clone());
        Ok((bytes, complete))
    }
}

/// A route's `max_body`: a declared length over the limit is refused at
/// once; a body without one is read up to the limit before anything is
/// forwarded, so a too-large body is refused, never half-forwarded.
pub async fn enforce_limit(
    headers: &http::HeaderMap,
    body: &mut ForwardBody,
    limit: u64,
) -> Result<(), super::denial::Denial> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit => Err(super::denial::Denial::body_too_large()),
        Some(_) => Ok(()),
        None if body.is_end_stream() => Ok(()),
        None => {
            let wanted = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
            let (start, complete) = body
                .peek(wanted)
                .await
                .map_err(|e| super::denial::Denial::unreadable_body(&*e))?;
            if !complete || start.len() as u64 > limit {
                return Err(super::denial::Denial::body_too_large());
            }
            Ok(())
        }
    }
}

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if let Some(prefix) = self.prefix.take() {
            if !prefix.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(prefix))));
            }
        }
        let this = &mut *self;
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(rest).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.idle = None;
                Poll::Ready(frame.map(|f| f.map_err(BodyError::from)))
            }
            Poll::Pending => {
                // Only time spent waiting for the client counts: when the
                // upstream is slow to read, nobody polls us.
                let limit = this.idle_limit;
                let idle = this
                    .idle
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if idle.as_mut().poll(cx).is_ready() {
                    this.stalled.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(Box::new(BodyStalled(limit)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.as_ref().is_none_or(Bytes::is_empty)
            && self.rest.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = match &self.rest {
            Some(rest) => rest.size_hint(),
            None => SizeHint::with_exact(0),
        };
        // Upper first: `set_lower` asserts lower <= upper.
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + prefix);
        }
        hint.set_lower(rest.lower() + prefix);
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_hint_of_a_replayed_prefix_alone() {
        let body = ForwardBody {
            prefix: Some(Bytes::from_static(b"hello")),
            rest: None,
            idle_limit: Duration::from_secs(1),
            idle: None,
            stalled: Arc::new(AtomicBool::new(false)),
        };
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
    }
}
