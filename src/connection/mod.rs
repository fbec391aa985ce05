//! The client connection a request came on, as the handler sees it, and
//! the upgraded (WebSocket) connections that outlive their request.

pub mod upgrades;

use std::net::SocketAddr;

/// What the handler knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub peer: SocketAddr,
    /// TLS was terminated here (the request is HTTPS).
    pub tls: bool,
}
