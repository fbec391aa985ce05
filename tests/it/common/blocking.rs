//! Plain blocking HTTP/1.1 over a socket, for tests that drive a real
//! `portcullis` process from an ordinary thread.

use std::io::{Read, Write};
use std::time::Duration;

/// Sends `request` (which should say `Connection: close`) and returns the
/// whole answer as text; bounded by a 10 s read timeout.
pub fn exchange(addr: &str, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The status code and the body of an answer from `exchange`.
pub fn status_and_body(answer: &str) -> (u16, &str) {
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body)
}
