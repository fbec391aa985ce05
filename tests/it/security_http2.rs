//! SECURITY_CASES C19 over raw HTTP/2 frames (no client library would send
//! them): a request an HTTP/1 upstream could read differently from the
//! gateway — `transfer-encoding` in HTTP/2, CR/LF or upper case in a field,
//! a `content-length` the DATA frames disagree with — is a stream error,
//! and the upstream (which records everything it gets) never receives it
//! whole.

use std::time::Duration;

use crate::common::h2::*;
use crate::common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const OPEN: &str = "[[routes]]\npath = \"/**\"\naccess = \"anonymous\"\n";

async fn refused(extra: &[(&[u8], &[u8])]) {
    let h = Harness::start(OPEN).await;
    assert_refused_by_framing(&h, b"POST", b"/upload", extra).await;
}

fn request_head(extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    request_block(b"POST", b"/upload", extra)
}

#[tokio::test]
async fn c19_connection_specific_fields_are_a_stream_error() {
    refused(&[(b"transfer-encoding", b"chunked")]).await;
    refused(&[(b"connection", b"keep-alive")]).await;
}

#[tokio::test]
async fn c19_cr_lf_or_upper_case_in_a_field_is_a_stream_error() {
    refused(&[(b"x-note", b"a\r\nX-Remote-User: admin")]).await;
    refused(&[(b"X-Remote-User", b"admin")]).await;
}

#[tokio::test]
async fn c19_content_length_disagreeing_with_data_is_never_forwarded_whole() {
    let h = Harness::start(OPEN).await;
    let headers = frame(
        HEADERS,
        END_HEADERS,
        1,
        &request_head(&[(b"content-length", b"10")]),
    );
    let data = frame(DATA, END_STREAM, 1, b"abc");
    let ended = exchange(&h, &[headers, data]).await;
    // A stream error, or an answer for a request the upstream saw cut short.
    assert!(matches!(ended, RST_STREAM | GOAWAY | HEADERS), "{ended}");
    assert!(
        h.seen().iter().all(|s| s.body_len != 10 && s.body_len != 3),
        "a short body reached the upstream as if whole: {:?}",
        h.seen()
    );
}

#[tokio::test]
async fn the_same_frames_well_formed_are_answered_and_forwarded() {
    // The control: without the fault, these frames are a good request, so
    // the refusals above are about the fault and not the framing.
    let h = Harness::start(OPEN).await;
    let headers = frame(
        HEADERS,
        END_HEADERS,
        1,
        &request_head(&[(b"content-length", b"3")]),
    );
    let data = frame(DATA, END_STREAM, 1, b"abc");
    assert_eq!(exchange(&h, &[headers, data]).await, HEADERS);
    let seen = h.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/upload");
    assert_eq!(seen[0].body_len, 3);
}

/// Writes `frames` while reading: true when the server ended the
/// connection (GOAWAY or close) within the bound.
async fn flood_ends_the_connection(h: &Harness, frames: Vec<Vec<u8>>) -> bool {
    let stream = TcpStream::connect(h.proxy).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(PREFACE).await;
        let _ = writer.write_all(&frame(SETTINGS, 0, 0, &[])).await;
        for f in frames {
            // The server may close mid-flood: stop writing then.
            if writer.write_all(&f).await.is_err() {
                return;
            }
        }
    });
    let read = async {
        // Ended: closed, or told to go away.
        loop {
            match read_frame(&mut reader).await {
                None => return true,
                Some(received) if received.kind == GOAWAY => return true,
                Some(_) => {}
            }
        }
    };
    let ended = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or(false);
    writing.abort();
    ended
}

async fn still_healthy(h: &Harness) {
    assert_eq!(h.admin("GET", "/healthz", None, "").await.status, 200);
    assert_eq!(h.get("/after", &[]).await.status, 200);
}

#[tokio::test]
async fn c20_a_continuation_flood_is_cut_off() {
    let h = Harness::start(OPEN).await;
    let mut frames = vec![frame(HEADERS, 0, 1, &request_head(&[]))];
    let filler = field(b"x-filler", &[b'a'; 100]);
    let block: Vec<u8> = filler
        .iter()
        .copied()
        .cycle()
        .take(filler.len() * 10)
        .collect();
    // About 11 MB of header block, far past any header limit.
    frames.extend((0..10_000).map(|_| frame(CONTINUATION, 0, 1, &block)));
    assert!(
        flood_ends_the_connection(&h, frames).await,
        "the gateway kept reading an endless header block"
    );
    assert!(h.seen().iter().all(|s| s.target != "/upload"));
    still_healthy(&h).await;
}

#[tokio::test]
async fn c20_rapid_reset_streams_leave_the_gateway_healthy() {
    let h = Harness::start(OPEN).await;
    let mut frames = Vec::new();
    // 5,000 streams opened and cancelled at once (CVE-2023-44487's shape).
    for i in 0..5_000u32 {
        let id = 2 * i + 1;
        frames.push(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            id,
            &request_head(&[]),
        ));
        frames.push(frame(RST_STREAM, 0, id, &0x8u32.to_be_bytes()));
    }
    // Either it sends GOAWAY (h2's reset-flood guard) or it keeps up; in
    // both cases it must stay bounded and healthy.
    let _ = flood_ends_the_connection(&h, frames).await;
    still_healthy(&h).await;
}

#[tokio::test]
async fn c20_an_empty_data_flood_is_cut_off() {
    let h = Harness::start(OPEN).await;
    // One open upload, then 200,000 empty DATA frames (1.8 MB of frame
    // headers carrying no body).
    let mut frames = vec![frame(HEADERS, END_HEADERS, 1, &request_head(&[]))];
    frames.extend((0..200_000).map(|_| frame(DATA, 0, 1, &[])));
    frames.push(frame(DATA, END_STREAM, 1, b""));
    // h2 answers GOAWAY ENHANCE_YOUR_CALM ("too_many_data_frames"); the
    // gateway stays healthy and nothing of the upload is forwarded whole.
    assert!(
        flood_ends_the_connection(&h, frames).await,
        "the gateway kept reading empty DATA frames"
    );
    still_healthy(&h).await;
    assert!(
        h.seen()
            .iter()
            .all(|s| s.target != "/upload" || s.body_len == 0),
        "{:?}",
        h.seen()
    );
}
