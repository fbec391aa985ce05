//! The request body on its way upstream: streamed as it arrives, except
//! that a stage may first read (peek at) its start, which is then sent ahead
//! of the rest. Nothing is lost or reordered; the rest is never buffered.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

#[derive(Debug)]
pub struct ForwardBody {
    /// Bytes already read from the client, to be sent first.
    prefix: Option<Bytes>,
    /// What the client has not sent yet; `None` once it has all been read.
    rest: Option<Incoming>,
}

impl ForwardBody {
    pub fn new(body: Incoming) -> ForwardBody {
        ForwardBody {
            prefix: None,
            rest: Some(body),
        }
    }

    /// Reads up to about `limit` bytes from the start of the body (whole
    /// frames, so possibly a little more) and keeps them to be forwarded
    /// first. Returns them, and whether they are the whole body. Call once.
    pub async fn peek(&mut self, limit: usize) -> Result<(Bytes, bool), hyper::Error> {
        let Some(rest) = self.rest.as_mut() else {
            return Ok((self.prefix.clone().unwrap_or_default(), true));
        };
        let mut buffer = BytesMut::new();
        let mut complete = false;
        while buffer.len() < limit {
            match rest.frame().await {
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
                .map_err(|_| super::denial::Denial::bad_body())?;
            if !complete || start.len() as u64 > limit {
                return Err(super::denial::Denial::body_too_large());
            }
            Ok(())
        }
    }
}

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            if !prefix.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(prefix))));
            }
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
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
        };
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
    }
}
