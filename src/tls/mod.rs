//! TLS loading: the listener's certificate and key (`server`), and the trust
//! for the gateway's own outgoing connections (`client`). rustls with the
//! ring provider everywhere.

pub mod client;
pub mod server;
