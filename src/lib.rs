//! portcullis: an access gateway. A reverse proxy that canonicalises the
//! path, picks the first matching route, looks the session cookie up, checks
//! the route's rules, and forwards with trusted identity headers, or answers
//! 403 itself with the body Django REST Framework would give.
//!
//! The request pipeline (`pipeline`) is the map of the system; the rest
//! feeds it (`config`, `session`, `routes`) or watches it (`admin`).

// No unsafe code: the gateway parses hostile input all day.
#![forbid(unsafe_code)]
// No `unwrap` outside tests: network and config input gets an answer, not a
// panic. (`expect` stays for invariants, each with its reason.)
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

// The modules by layer, bottom up (ARCHITECTURE.md; `scripts/layers`
// fails on a module that uses one above its own layer).

// base: no portcullis module below them.
pub mod body;
pub mod canonical;
pub mod connection;
pub mod cookies;
pub mod denial;
pub mod echo;
pub mod headers;
pub mod keepalive;
pub mod metrics;
pub mod negotiate;
pub mod pages;
pub mod parsers;
pub mod reply;
pub mod tls;

// domain: what an access decision is made of.
pub mod auth;
pub mod client;
pub mod cors;
pub mod credentials;
pub mod csrf;
pub mod identity;
pub mod ingress;
pub mod oidc;
pub mod routes;
pub mod session;
pub mod telemetry;
pub mod throttle;
pub mod upstream;

// config: the file, its validation, the snapshot.
pub mod config;

// state: what every request shares.
pub mod gateway;
pub mod reload;
pub mod response;

// handling: one request.
pub mod explain;
pub mod pipeline;

// outer: listeners and the admin API.
pub mod admin;
pub mod server;

pub use gateway::Gateway;
pub use server::{serve, serve_admin, serve_decision};
