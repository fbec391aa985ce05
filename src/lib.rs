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

pub mod admin;
pub mod auth;
pub mod client;
pub mod config;
pub mod cors;
pub mod csrf;
pub mod echo;
pub mod endpoints;
pub mod explain;
pub mod gateway;
pub mod metrics;
pub mod negotiate;
pub mod pages;
pub mod pipeline;
pub mod reload;
pub mod response;
pub mod routes;
pub mod server;
pub mod session;

pub use gateway::Gateway;
pub use server::{serve, serve_admin};
