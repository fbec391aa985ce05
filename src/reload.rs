//! Hot reload: re-read the config file, validate it fully, and swap the new
//! snapshot in atomically. Requests already running keep the snapshot they
//! started with. An invalid file changes nothing (the reasons are logged
//! and returned). The settings bound to things built at startup
//! (`config::startup`: listeners, runtime threads, connection slots, the
//! session store, the login throttle) keep their running values until a
//! restart, and the reload names each one that changed; everything else
//! applies to the next connection or request (a changed `[telemetry]`
//! exporter with the swap: spans already queued go to the old collector).

use std::path::Path;

use crate::config::{self, Config, ConfigError, ConfigErrors};

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
/// restart-only settings kept at their running values, and the report
/// naming each of those that changed in the file.
pub fn prepare(path: &Path, current: &Config) -> Result<(Config, ReloadReport), ReloadError> {
    let mut next = config::load(path).map_err(ReloadError::Invalid)?;
    let refuse = |message: String| {
        ReloadError::Invalid(ConfigErrors {
            origin: path.display().to_string(),
            errors: vec![ConfigError {
                file: None,
                location: None,
                message,
            }],
        })
    };
    // The rest of the file was checked against the store it names (the
    // Django store forbids [[users]], say): with another store running,
    // half of it would not hold. Only a restart switches stores.
    let (running, named) = (current.startup.store.kind(), next.startup.store.kind());
    if running != named {
        return Err(refuse(format!(
            "session.store is \"{named}\" in the file but the running store is \"{running}\": switching stores needs a restart"
        )));
    }
    let report = ReloadReport {
        needs_restart: next.startup.changed_keys(&current.startup),
    };
    // Everything built at startup keeps running as it was built.
    next.startup = current.startup.clone();
    if let Some(why) = next.exposed_example_token() {
        return Err(refuse(why));
    }
    // An upstream reached the same way keeps its client and pooled
    // connections; a changed one gets the client built for it.
    next.upstreams.keep_clients_of(&current.upstreams);
    // The same issuer's keys, fetched the same way, stay cached.
    if let (Some(next), Some(running)) = (&mut next.bearer, &current.bearer) {
        next.keep_keys_of(running);
    }
    if let (Some(next), Some(running)) = (&mut next.oidc, &current.oidc) {
        next.keep_provider_of(running);
    }
    // The same collector, reached the same way: the running exporter and
    // its queue go on. Changed: the new one starts with the swap, and the
    // old one sends what it holds once the old snapshot is gone.
    if let (Some(next), Some(running)) = (&mut next.telemetry, &current.telemetry) {
        if next.exporter.settings() == running.exporter.settings() {
            next.exporter = running.exporter.clone();
        }
    }
    Ok((next, report))
}
