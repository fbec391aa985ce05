//! What only a restart applies: the settings bound to something built once
//! when the gateway starts — the listeners, the Tokio runtime, the accept
//! loop's connection slots, the session store, the login throttle. They
//! live apart from the rest of the snapshot so that a reload keeps them
//! whole (`Config::startup` is carried over) and names every one that
//! changed in the file (`changed_keys`), and so that whatever is built at
//! startup is built from here. Everything else in the snapshot applies to
//! the next connection or request after a reload.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::session::django::settings::DjangoConfig;
use crate::session::redis::RedisConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// `server.listen`: the proxy listener.
    pub listen: SocketAddr,
    /// `server.admin_listen`: the admin API's listener.
    pub admin_listen: SocketAddr,
    /// `decision.listen`: the decision endpoint's listener, with `[decision]`.
    pub decision_listen: Option<SocketAddr>,
    /// `server.worker_threads`: the runtime's threads; `None` is one per CPU.
    pub worker_threads: Option<usize>,
    /// `server.max_connections`: the accept loop's connection slots.
    pub max_connections: usize,
    /// `session.store` with its Redis settings, or `[django]`.
    pub store: StoreKind,
    /// `csrf.use_sessions`: reads the CSRF secret from the running store's
    /// sessions, so it changes with the store.
    pub csrf_use_sessions: bool,
    /// `login.max_failures` and `login.failure_window`: the throttle's quota.
    pub login_throttle: ThrottleSettings,
}

/// `[login] max_failures` per `failure_window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub max_failures: NonZeroU32,
    pub failure_window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis(RedisConfig),
    Django(DjangoConfig),
}

impl Startup {
    /// The keys set differently here than in `running`, named as the file
    /// names them (`server.listen`, `session.redis_url`, `django.database`).
    pub fn changed_keys(&self, running: &Startup) -> Vec<&'static str> {
        // Taken apart without `..`: a field added to `Startup` does not
        // compile until it is compared here.
        let Startup {
            listen,
            admin_listen,
            decision_listen,
            worker_threads,
            max_connections,
            store,
            csrf_use_sessions,
            login_throttle:
                ThrottleSettings {
                    max_failures,
                    failure_window,
                },
        } = self;
        let mut changed = Vec::new();
        let mut compare = |key, differs| {
            if differs {
                changed.push(key);
            }
        };
        compare("server.listen", *listen != running.listen);
        compare("server.admin_listen", *admin_listen != running.admin_listen);
        compare(
            "decision.listen",
            *decision_listen != running.decision_listen,
        );
        compare(
            "server.worker_threads",
            *worker_threads != running.worker_threads,
        );
        compare(
            "server.max_connections",
            *max_connections != running.max_connections,
        );
        compare(
            "csrf.use_sessions",
            *csrf_use_sessions != running.csrf_use_sessions,
        );
        compare(
            "login.max_failures",
            *max_failures != running.login_throttle.max_failures,
        );
        compare(
            "login.failure_window",
            *failure_window != running.login_throttle.failure_window,
        );
        changed.extend(store.changed_keys(&running.store));
        changed
    }
}

impl StoreKind {
    /// The store's name as `session.store` writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Redis(_) => "redis",
            StoreKind::Django(_) => "django",
        }
    }

    fn changed_keys(&self, running: &StoreKind) -> Vec<&'static str> {
        match (self, running) {
            (StoreKind::Memory, StoreKind::Memory) => Vec::new(),
            (StoreKind::Redis(next), StoreKind::Redis(running)) => {
                next.settings.changed_keys(&running.settings)
            }
            (StoreKind::Django(next), StoreKind::Django(running)) => {
                next.settings.changed_keys(&running.settings)
            }
            _ => vec!["session.store"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup() -> Startup {
        Startup {
            listen: "127.0.0.1:8000".parse().unwrap(),
            admin_listen: "127.0.0.1:9000".parse().unwrap(),
            decision_listen: None,
            worker_threads: None,
            max_connections: 10,
            store: StoreKind::Memory,
            csrf_use_sessions: false,
            login_throttle: ThrottleSettings {
                max_failures: NonZeroU32::new(5).unwrap(),
                failure_window: Duration::from_secs(300),
            },
        }
    }

    #[test]
    fn every_field_is_named_when_it_changes() {
        type Change = fn(&mut Startup);
        let cases: [(Change, &str); 9] = [
            (|s| s.listen.set_port(1), "server.listen"),
            (
                |s| s.decision_listen = Some("127.0.0.1:1".parse().unwrap()),
                "decision.listen",
            ),
            (|s| s.admin_listen.set_port(1), "server.admin_listen"),
            (|s| s.worker_threads = Some(2), "server.worker_threads"),
            (|s| s.max_connections = 11, "server.max_connections"),
            (|s| s.csrf_use_sessions = true, "csrf.use_sessions"),
            (
                |s| s.login_throttle.max_failures = NonZeroU32::MIN,
                "login.max_failures",
            ),
            (
                |s| s.login_throttle.failure_window = Duration::from_secs(1),
                "login.failure_window",
            ),
            (
                |s| {
                    let config = crate::config::parse(
                        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[upstream]\nurl = \"http://127.0.0.1:1\"\n[admin]\ntoken = \"t\"\n[session]\nstore = \"redis\"\n",
                        "t",
                    )
                    .unwrap();
                    s.store = config.startup.store.clone();
                },
                "session.store",
            ),
        ];
        for (change, key) in cases {
            let mut next = startup();
            change(&mut next);
            assert_eq!(next.changed_keys(&startup()), [key]);
        }
        assert!(startup().changed_keys(&startup()).is_empty());
    }
}
