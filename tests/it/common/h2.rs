//! HTTP/2 for the hostile-request suites: a hyper client (`Harness::send_h2`)
//! for requests a client library can express, and raw frames with
//! hand-built HPACK for the ones it cannot (a `:path` `http::Uri` refuses,
//! fields HTTP/2 forbids).

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Harness, Reply};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut out = vec![
        (length >> 16) as u8,
        (length >> 8) as u8,
        length as u8,
        kind,
        flags,
    ];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK "literal header field without indexing, new name", no Huffman.
pub fn field(name: &[u8], value: &[u8]) -> Vec<u8> {
    assert!(name.len() < 127 && value.len() < 127);
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name);
    out.push(value.len() as u8);
    out.extend_from_slice(value);
    out
}

/// A request's header block: the four pseudo-headers, then `extra`.
pub fn request_block(method: &[u8], path: &[u8], extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (&b":method"[..], method),
        (b":scheme", b"http"),
        (b":path", path),
        (b":authority", b"gateway.test"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        block.extend(field(name, value));
    }
    block
}

/// One frame as read off the wire.
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// Reads the next frame; `None` once the connection is closed (or broken).
pub async fn read_frame(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Frame> {
    let mut head = [0u8; 9];
    reader.read_exact(&mut head).await.ok()?;
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload).await.ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// Sends the preface, an empty SETTINGS and `frames`; reads frames back
/// (bounded) until stream 1 is reset, the connection goes away (or
/// closes), or stream 1 gets a response. Returns that frame's type.
pub async fn exchange(h: &Harness, frames: &[Vec<u8>]) -> u8 {
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    for f in frames {
        stream.write_all(f).await.unwrap();
    }
    let read = async {
        loop {
            // Closed: as final as GOAWAY.
            let Some(received) = read_frame(&mut stream).await else {
                return GOAWAY;
            };
            match received.kind {
                RST_STREAM if received.stream == 1 => return RST_STREAM,
                GOAWAY => return GOAWAY,
                HEADERS if received.stream == 1 => return HEADERS,
                SETTINGS if received.flags & 0x1 == 0 => {
                    // Acknowledge the server's settings.
                    let _ = stream.write_all(&frame(SETTINGS, 0x1, 0, &[])).await;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no answer to an HTTP/2 request")
}

/// Sends one bodiless request as raw frames and asserts HTTP/2 itself
/// refused it (stream reset or connection ended) with nothing forwarded.
pub async fn assert_refused_by_framing(
    h: &Harness,
    method: &[u8],
    path: &[u8],
    extra: &[(&[u8], &[u8])],
) {
    let before = h.seen().len();
    let headers = frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &request_block(method, path, extra),
    );
    let ended = exchange(h, &[headers]).await;
    let shown = format!("{} {extra:?}", String::from_utf8_lossy(path));
    assert!(
        ended == RST_STREAM || ended == GOAWAY,
        "{shown}: answered instead of refused (frame type {ended})"
    );
    assert_eq!(h.seen().len(), before, "{shown} reached the upstream");
}

impl Harness {
    /// Sends a request to the proxy over HTTP/2 (prior knowledge), header
    /// fields exactly as given (several with one name stay several fields).
    pub async fn send_h2(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let authority = self.proxy.to_string();
        self.send_h2_as(&authority, method, path, headers, body)
            .await
    }

    /// `send_h2` with `:authority` set to `authority` (HTTP/2's Host).
    pub async fn send_h2_as(
        &self,
        authority: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let url = format!("http://{authority}{path}");
        let request = super::build_request(method, &url, headers, body);
        let exchange = async {
            let stream = TcpStream::connect(self.proxy).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .expect("HTTP/2 handshake");
            tokio::spawn(connection);
            sender.send_request(request).await
        };
        let response = tokio::time::timeout(super::EXCHANGE_LIMIT, exchange)
            .await
            .expect("exchange timed out")
            .expect("HTTP/2 request failed");
        super::read_reply(response).await
    }
}
