//! WebSockets through the gateway: an authorised upgrade is forwarded and
//! spliced to a real WebSocket echo upstream; the decision (route, session,
//! Origin) is made before the upgrade, so refused upgrades never reach it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket server that echoes every message; counts the handshakes it
/// accepted.
async fn echo_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_close() || socket.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

const ROUTES: &str = "[[routes]]\npath = \"/ws/**\"\naccess = \"authenticated\"\n";

/// Opens a WebSocket to the gateway with these extra headers.
async fn open(
    h: &Harness,
    headers: &[(&'static str, String)],
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{}/ws/echo", h.proxy)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let tcp = TcpStream::connect(h.proxy).await.unwrap();
    tokio_tungstenite::client_async(request, tcp)
        .await
        .map(|(socket, _)| socket)
}

/// Signs alice in and opens a same-origin WebSocket as her (allowed).
async fn open_as_alice(h: &Harness) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let id = h.session(r#"{"username":"alice"}"#).await;
    let origin = format!("http://{}", h.proxy);
    open(
        h,
        &[("cookie", format!("sessionid={id}")), ("origin", origin)],
    )
    .await
    .expect("upgrade")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorised_upgrade_is_spliced_to_the_upstream() {
    let (upstream, accepted) = echo_server().await;
    let h = Harness::with_config(|_| config(&format!("http://{upstream}"), ROUTES)).await;
    let mut socket = open_as_alice(&h).await;
    for text in ["hello", "through the gateway", "three"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = socket.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap(), text);
    }
    socket
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap().into_data().as_ref(),
        &[0u8, 1, 2, 255]
    );
    socket.close(None).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_never_reach_the_upstream() {
    let (upstream, accepted) = echo_server().await;
    let h = Harness::with_config(|_| config(&format!("http://{upstream}"), ROUTES)).await;
    // No session: the route needs one.
    let error = open(&h, &[]).await.expect_err("refused");
    assert!(error.to_string().contains("403"), "{error}");
    // A session, but a cross-site Origin (cross-site WebSocket hijacking).
    let id = h.session(r#"{"username":"alice"}"#).await;
    let error = open(
        &h,
        &[
            ("cookie", format!("sessionid={id}")),
            ("origin", "https://evil.example".into()),
        ],
    )
    .await
    .expect_err("refused");
    assert!(error.to_string().contains("403"), "{error}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the upstream never saw a handshake"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_open_websockets() {
    let (upstream, _) = echo_server().await;
    let mut h = Harness::with_config(|_| config(&format!("http://{upstream}"), ROUTES)).await;
    let mut socket = open_as_alice(&h).await;
    socket.send(Message::text("before")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap().into_text().unwrap(),
        "before"
    );

    let drained = h.begin_shutdown();
    // New connections are refused (bounded wait for the listener to close)...
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(h.proxy).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(refused, "still accepting");
    // ...while the open WebSocket keeps working, and holds the shutdown.
    socket.send(Message::text("during")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap().into_text().unwrap(),
        "during"
    );
    assert!(
        !drained.is_finished(),
        "shutdown did not wait for the WebSocket"
    );
    socket.close(None).await.unwrap();
    // Read the close reply until the stream ends, then hang up our side too.
    while let Some(Ok(_)) = socket.next().await {}
    drop(socket);
    tokio::time::timeout(std::time::Duration::from_secs(10), drained)
        .await
        .expect("shutdown never finished")
        .unwrap();
}

#[tokio::test]
async fn an_idle_websocket_is_closed_after_the_idle_timeout() {
    let (upstream, _) = echo_server().await;
    let mut h = Harness::with_config(|_| {
        config(&format!("http://{upstream}"), ROUTES).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\nheader_read_timeout = \"60s\"\nidle_timeout = \"300ms\"",
        )
    })
    .await;
    let mut socket = open_as_alice(&h).await;
    // Traffic keeps it open past the idle timeout...
    for round in 0..4 {
        let text = format!("m{round}");
        socket.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(
            socket.next().await.unwrap().unwrap().into_text().unwrap(),
            text
        );
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    // ...silence closes it (well before the header timeout could).
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the idle WebSocket was never closed");
    let drained = h.begin_shutdown();
    tokio::time::timeout(std::time::Duration::from_secs(10), drained)
        .await
        .expect("shutdown waited for a closed WebSocket")
        .unwrap();
}
