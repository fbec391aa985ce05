//! Refreshing the claims of a session made at the OpenID provider, once
//! they are due (`Session::refresh_due`): the session's refresh token
//! spent at the token endpoint (OIDC Core 12), the new ID token verified
//! like the sign-in's but for the same `sub` (12.2), the allow-lists
//! checked again, and the session replaced in place under the same id. A
//! refresh the provider refuses (`invalid_grant`: the user was disabled or
//! signed out there, the grant revoked) ends the session.
//!
//! One refresh per session at a time: providers rotate refresh tokens, so
//! a second refresh with the token the first one spent is refused, and
//! would end a session that is fine. In this process, requests for one
//! session wait for the one refreshing it (`InFlight`); across replicas,
//! the store's claim (`Store::claim_refresh`) lets one replica refresh and
//! the others wait for the record it writes. The refresh runs as a task of
//! its own, so a client that goes away mid-refresh cannot lose the token
//! the provider has just rotated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::token_endpoint::{self, GrantError};
use super::Oidc;
use crate::credentials::bearer::{BearerError, IdTokenFrom};
use crate::session::{NewSession, ProviderTokens, Session, SessionId, SessionStore, Store};

/// How a refresh ended.
#[derive(Debug)]
pub enum Refreshed {
    /// The claims are fresh: refreshed now, or by another request meanwhile.
    Fresh(Arc<Session>),
    /// The provider no longer vouches for the user, so the session was
    /// ended (or it had ended meanwhile); why, for the log and `explain`.
    Ended(String),
    /// The provider or the store could not answer; nothing changed, and
    /// the next request tries again. Why, for the log and `explain`.
    Unavailable(String),
}

/// How often a replica waiting for another's refresh looks at the store.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The refreshes in progress in this process: one gate per session, held
/// while it is refreshed. Only sessions due a refresh ever touch it.
#[derive(Default)]
pub(super) struct InFlight {
    gates: Mutex<HashMap<SessionId, Weak<tokio::sync::Mutex<()>>>>,
}

impl InFlight {
    fn gate(&self, id: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means a panic elsewhere while it was held;
        // its contents (weak gates) are still sound.
        let mut gates = self
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(gate) = gates.get(id).and_then(Weak::upgrade) {
            return gate;
        }
        // Gates nobody holds any more go, so the map stays as small as
        // the refreshes in progress.
        gates.retain(|_, gate| gate.strong_count() > 0);
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        gates.insert(*id, Arc::downgrade(&gate));
        gate
    }
}

/// Why a refresh gave no claims.
enum Failure {
    /// The provider refused, or its answer did not verify: end the session.
    Refused(String),
    /// Try again later.
    Unavailable(String),
}

impl Oidc {
    /// Refreshes the claims of session `id` (found due a refresh).
    pub async fn refresh_session(&self, store: &Store, id: &SessionId) -> Refreshed {
        let gate = self.inner.refreshing.gate(id);
        let hold = self.refresh_hold();
        let Ok(_turn) = tokio::time::timeout(hold, gate.lock()).await else {
            return Refreshed::Unavailable(
                "another request's refresh of this session took too long".into(),
            );
        };
        // The request before us in this process may have refreshed it.
        match store.get_uncached(id).await {
            Ok(Some(current)) if !current.refresh_due(SystemTime::now()) => {
                return Refreshed::Fresh(current)
            }
            Ok(Some(_)) => {}
            Ok(None) => return Refreshed::Ended("the session ended meanwhile".into()),
            Err(error) => return Refreshed::Unavailable(error.to_string()),
        }
        let (oidc, store_owned, id_owned) = (self.clone(), store.clone(), *id);
        let refresh =
            tokio::spawn(async move { oidc.refresh_claimed(&store_owned, &id_owned).await });
        match refresh.await {
            Ok(refreshed) => refreshed,
            Err(error) => Refreshed::Unavailable(format!("the refresh task failed: {error}")),
        }
    }

    /// The longest one refresh may take: discovery, a key fetch and the
    /// token request, each bounded by `oidc.timeout`, and the store's
    /// writes.
    fn refresh_hold(&self) -> Duration {
        self.inner.settings.timeout * 3 + Duration::from_secs(2)
    }

    /// Takes the store's claim on `id` and refreshes it, or waits for the
    /// replica that holds the claim.
    async fn refresh_claimed(&self, store: &Store, id: &SessionId) -> Refreshed {
        let hold = self.refresh_hold();
        let claim = match store.claim_refresh(id, hold).await {
            Ok(Some(claim)) => claim,
            Ok(None) => return wait_for_other_replica(store, id, hold).await,
            Err(error) => return Refreshed::Unavailable(error.to_string()),
        };
        // Read under the claim: another replica may have refreshed it
        // between our lookup and our claim.
        let outcome = match store.get_uncached(id).await {
            Ok(Some(current)) if !current.refresh_due(SystemTime::now()) => {
                Refreshed::Fresh(current)
            }
            Ok(Some(current)) => match self.refreshed_claims(&current).await {
                Ok(session) => match store.replace(id, session).await {
                    Ok(Some(session)) => Refreshed::Fresh(session),
                    Ok(None) => Refreshed::Ended("the session ended meanwhile".into()),
                    Err(error) => Refreshed::Unavailable(error.to_string()),
                },
                Err(Failure::Refused(why)) => match store.remove(id).await {
                    Ok(_) => Refreshed::Ended(why),
                    // Not ended in the store: the next request refreshes
                    // again, and is refused again.
                    Err(error) => {
                        Refreshed::Unavailable(format!("{why}; ending the session failed: {error}"))
                    }
                },
                Err(Failure::Unavailable(why)) => Refreshed::Unavailable(why),
            },
            Ok(None) => Refreshed::Ended("the session ended meanwhile".into()),
            Err(error) => Refreshed::Unavailable(error.to_string()),
        };
        store.release_refresh(claim).await;
        outcome
    }

    /// The session with refreshed claims and tokens.
    async fn refreshed_claims(&self, session: &Session) -> Result<Session, Failure> {
        let settings = &self.inner.settings;
        let Some(tokens) = session.oidc.as_ref() else {
            return Err(Failure::Refused(
                "the session was not made at the provider".into(),
            ));
        };
        let Some(refresh_token) = tokens.refresh_token.as_deref() else {
            return Err(Failure::Refused("the session has no refresh token".into()));
        };
        let provider = self
            .provider()
            .await
            .map_err(|error| Failure::Unavailable(format!("{error:?}")))?;
        let answer = token_endpoint::refresh(
            &self.inner.client,
            &provider.metadata.token_endpoint,
            &self.client_credentials(),
            refresh_token,
        )
        .await
        .map_err(|error| match error {
            GrantError::Refused { error } => {
                Failure::Refused(format!("the provider refused the refresh: {error}"))
            }
            GrantError::Unavailable(why) => Failure::Unavailable(why),
        })?;
        let now = SystemTime::now();
        // No new ID token (the provider may leave it out): the provider has
        // still vouched for the grant, and the claims stay as they were.
        let (user, id_token_expiry) = match &answer.id_token {
            Some(id_token) => {
                let subject = subject_of(&tokens.id_token).ok_or_else(|| {
                    Failure::Refused("the session's ID token names no subject".into())
                })?;
                let verified = provider
                    .verifier
                    .verify_id_token(
                        id_token,
                        IdTokenFrom::Refresh { subject: &subject },
                        &settings.client_id,
                    )
                    .await
                    .map_err(|error| match error {
                        BearerError::IssuerUnavailable(why) => Failure::Unavailable(why),
                        BearerError::Invalid(problem) => Failure::Refused(format!(
                            "the refreshed ID token: {problem} ({})",
                            problem.as_str()
                        )),
                    })?;
                if verified.user.username != session.username {
                    return Err(Failure::Refused(
                        "the refreshed ID token names another user".into(),
                    ));
                }
                if !self.allowed(&verified.user, verified.email.as_deref()) {
                    return Err(Failure::Refused(
                        "the user is no longer allowed here (allowed_groups / allowed_email_domains)".into(),
                    ));
                }
                (
                    NewSession {
                        csrf_secret: session.csrf_secret.clone(),
                        ..verified.user
                    },
                    Some(verified.expires_at),
                )
            }
            None => (session.to_new(), None),
        };
        let refresh_at = self.refresh_at(now, id_token_expiry, answer.expires_in);
        let user = NewSession {
            oidc: Some(ProviderTokens {
                id_token: answer.id_token.unwrap_or_else(|| tokens.id_token.clone()),
                // Not rotated: the one spent stays good.
                refresh_token: answer
                    .refresh_token
                    .or_else(|| tokens.refresh_token.clone()),
                refresh_at: Some(refresh_at),
            }),
            ..user
        };
        Ok(Session::new(user, session.created_at, session.expires_at))
    }
}

/// Another replica holds the claim: its record, once written, or its
/// failure, once it lets go.
async fn wait_for_other_replica(store: &Store, id: &SessionId, hold: Duration) -> Refreshed {
    let deadline = Instant::now() + hold;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        match store.get_uncached(id).await {
            Ok(Some(current)) if !current.refresh_due(SystemTime::now()) => {
                return Refreshed::Fresh(current)
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Refreshed::Ended("another replica's refresh ended the session".into())
            }
            Err(error) => return Refreshed::Unavailable(error.to_string()),
        }
        match store.refresh_claimed(id).await {
            Ok(true) if Instant::now() < deadline => continue,
            Ok(true) => {
                return Refreshed::Unavailable("another replica's refresh took too long".into())
            }
            Ok(false) => {
                return Refreshed::Unavailable("another replica's refresh did not succeed".into())
            }
            Err(error) => return Refreshed::Unavailable(error.to_string()),
        }
    }
}

/// The `sub` of an ID token the gateway verified at sign-in (read from the
/// session, never from a client).
fn subject_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_ins_subject_is_read_from_its_id_token() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"42","iss":"x"}"#);
        assert_eq!(subject_of(&format!("h.{payload}.s")).as_deref(), Some("42"));
        let numeric = URL_SAFE_NO_PAD.encode(br#"{"sub":42}"#);
        assert_eq!(subject_of(&format!("h.{numeric}.s")), None);
        assert_eq!(subject_of("not a token"), None);
    }

    #[tokio::test]
    async fn one_gate_per_session_while_held() {
        let in_flight = InFlight::default();
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let gate = in_flight.gate(&a);
        assert!(Arc::ptr_eq(&gate, &in_flight.gate(&a)));
        assert!(!Arc::ptr_eq(&gate, &in_flight.gate(&b)));
        let held = gate.lock().await;
        assert!(
            in_flight.gate(&a).try_lock().is_err(),
            "the same gate, held"
        );
        drop(held);
        drop(gate);
        let _fresh = in_flight.gate(&b);
        assert_eq!(in_flight.gates.lock().unwrap().len(), 1, "unheld gates go");
    }
}
