//! The binary's own commands, beside `main.rs`: `demo`, `explain`
//! (asking a running gateway), `healthcheck`'s HTTP call, and the heap trim
//! `serve` runs after a flood of connections.

pub mod demo;
pub mod explain;
pub mod healthcheck;
pub mod heap_trim;
