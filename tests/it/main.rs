//! Every integration test, in one test binary so the crate is linked once
//! (each `tests/<name>.rs` used to be its own binary). A suite is a module:
//! its tests are `<module>::<test>`, so `cargo test --test it -- csrf::`
//! runs one (a substring filter, which `security_csrf::` matches too).
//! All of them share one process and run on parallel threads: a test sets
//! no process-wide state (environment variables, working directory).

mod common;

mod admin;
mod api_clients;
mod assertion;
mod bearer;
mod browser;
mod cli;
mod container;
mod cors;
mod csrf;
mod csrf_tokens;
mod decision;
mod django;
mod drf_parity;
mod explain;
mod ext_authz_grpc;
mod faults;
mod hosts;
mod identity;
mod ip_rules;
mod limits;
mod login;
mod metrics;
mod oidc;
mod oidc_provider;
mod properties;
mod proxy;
mod redis;
mod reload;
mod reload_keys;
mod report_mode;
mod routes;
mod security_csrf;
mod security_framing;
mod security_headers;
mod security_http2;
mod security_paths;
mod telemetry;
mod throttle;
mod tls;
mod upstream_pool;
mod upstream_tls;
mod websocket;
mod whoami;
