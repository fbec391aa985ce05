//! Hot reload: re-read the config file, validate it fully, and swap the new
//! snapshot in atomically. Requests already running keep the snapshot they
//! started with. An invalid file changes nothing (the reasons are logged
//! and returned). Settings bound to things built at startup — listeners,
//! the session store, the upstream connection pool, the login throttle —
//! keep their running values until a restart, and the reload says so
//! instead of applying half of them.

use std::path::Path;

use crate::config::{self, Config, ConfigErrors};

/// What a successful reload left unapplied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Changed settings that only take effect after a restart.
    pub needs_restart: Vec<&'static str>,
}

/// Why a reload did not happen.
#[derive(Debug)]
pub enum ReloadError {
    /// The gateway was not started from a file (nothing to re-read).
    NoConfigFile,
    /// The file is invalid; the running config keeps serving.
    Invalid(ConfigErrors),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::NoConfigFile => {
                f.write_str("the gateway was not started from a config file")
            }
            ReloadError::Invalid(errors) => write!(f, "{errors}"),
        }
    }
}

/// Loads `path` and compares it with `current`: the new snapshot, with the
/// restart-only settings kept at their running values, and the report.
pub fn prepare(path: &Path, current: &Config) -> Result<(Config, ReloadReport), ReloadError> {
    let mut next = config::load(path).map_err(ReloadError::Invalid)?;
    let mut report = ReloadReport::default();
    if next.server.listen != current.server.listen
        || next.server.admin_listen != current.server.admin_listen
    {
        report
            .needs_restart
            .push("server.listen / server.admin_listen");
        next.server.listen = current.server.listen;
        next.server.admin_listen = current.server.admin_listen;
    }
    if next.server.worker_threads != current.server.worker_threads {
        report.needs_restart.push("server.worker_threads");
        next.server.worker_threads = current.server.worker_threads;
    }
    if next.session.store != current.session.store {
        report.needs_restart.push("session store settings");
        next.session.store = current.session.store.clone();
    }
    // It reads the running store's sessions: it changes with the store.
    if next.csrf.use_sessions != current.csrf.use_sessions {
        report.needs_restart.push("csrf.use_sessions");
        next.csrf.use_sessions = current.csrf.use_sessions;
    }
    if next.upstream.authority != current.upstream.authority
        || next.upstream.scheme != current.upstream.scheme
        || next.upstream.connect_timeout != current.upstream.connect_timeout
    {
        report
            .needs_restart
            .push("upstream.url / upstream.connect_timeout / upstream.ca_file");
        next.upstream.authority = current.upstream.authority.clone();
        next.upstream.scheme = current.upstream.scheme.clone();
        next.upstream.connect_timeout = current.upstream.connect_timeout;
    }
    // The upstream client (and its TLS trust) is built at startup.
    next.upstream.tls = std::sync::Arc::clone(&current.upstream.tls);
    if next.login.max_failures != current.login.max_failures
        || next.login.failure_window != current.login.failure_window
    {
        report
            .needs_restart
            .push("login.max_failures / login.failure_window");
        next.login.max_failures = current.login.max_failures;
        next.login.failure_window = current.login.failure_window;
    }
    Ok((next, report))
}
