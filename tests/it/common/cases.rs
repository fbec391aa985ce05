//! For tables of single-request cases (`csrf`, `security_csrf`): the
//! gateways a table's rows are sent to, each started the first time a row
//! needs it and with alice signed in on it, and `SESSION` in a row's header
//! values, which stands for her session id there.

use std::future::Future;

use super::Harness;

/// Stands for alice's session id in a case's header values.
pub const SESSION: &str = "{session}";

/// The gateways of one table, by key (which configuration), in the order
/// they were first needed; each stops when the table is done.
pub struct Gateways<K> {
    started: Vec<(K, Harness, String)>,
}

impl<K> Default for Gateways<K> {
    fn default() -> Gateways<K> {
        Gateways {
            started: Vec::new(),
        }
    }
}

impl<K: PartialEq> Gateways<K> {
    /// The gateway for `key`, started with `start` (and alice signed in on
    /// it) the first time, and her session id on it.
    pub async fn get<F>(&mut self, key: K, start: impl FnOnce() -> F) -> (&Harness, &str)
    where
        F: Future<Output = Harness>,
    {
        let at = match self.started.iter().position(|(k, _, _)| *k == key) {
            Some(at) => at,
            None => {
                let h = start().await;
                let id = h.session(r#"{"username":"alice"}"#).await;
                self.started.push((key, h, id));
                self.started.len() - 1
            }
        };
        let (_, h, id) = &self.started[at];
        (h, id)
    }
}

/// `headers` with `SESSION` in their values replaced by `id`.
pub fn with_session(headers: &[(&'static str, String)], id: &str) -> Vec<(&'static str, String)> {
    headers
        .iter()
        .map(|(name, value)| (*name, value.replace(SESSION, id)))
        .collect()
}
