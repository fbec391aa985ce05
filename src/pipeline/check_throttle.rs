//! Stage 6, after the permissions: the route's throttles (DRF's
//! `check_throttles`, which `APIView.initial` runs after authentication
//! and permissions, so a refused request is never counted). A signed-in
//! user is counted by user, anyone else by client address.

use http::HeaderMap;

use super::trace::{Step, ThrottleStep, Trace};
use super::Context;
use crate::denial::{Cause, Denial};
use crate::routes::Route;
use crate::session::state::SessionState;
use crate::throttle::{self, Who};

/// `Err(throttled)` (429, DRF's message and `Retry-After`) when one of
/// `route`'s throttles is used up for this client;
/// `Err(store_unavailable)` when Redis keeps the counts and cannot
/// answer. `explain` counts nothing: it lists the throttles that apply.
pub async fn check(
    context: &Context<'_>,
    headers: &HeaderMap,
    route: &Route,
    session: &SessionState,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let throttles = &route.throttles;
    if throttles.is_empty() {
        return Ok(());
    }
    let who = match session {
        SessionState::Authenticated(user, _) => match &user.user_id {
            Some(id) => Who::UserId(id),
            None => Who::Username(&user.username),
        },
        // A proxy or ingress that names no client: its own address is
        // counted, so those requests share one history rather than none.
        _ => Who::Anonymous(
            super::check_ip::client_address(context, headers)
                .unwrap_or_else(|| context.peer.ip().to_canonical()),
        ),
    };
    let Some(local) = context.throttles.filter(|_| context.live) else {
        trace.note(|| {
            Step::Throttle(ThrottleStep::NotCounted(
                throttles
                    .iter()
                    .map(|t| (t.clone(), t.ident(who).map(|i| i.to_string())))
                    .collect(),
            ))
        });
        return Ok(());
    };
    match throttle::check(throttles, who, context.store, local).await {
        Ok(None) => Ok(()),
        Ok(Some(refused)) => {
            let counted_as = || {
                refused
                    .throttle
                    .ident(who)
                    .map(|ident| ident.to_string())
                    .unwrap_or_default()
            };
            Err(
                Denial::route_throttled(refused.wait).because(trace.wants_causes(), || {
                    Cause::Throttled {
                        kind: refused.throttle.kind.as_str(),
                        rate: refused.throttle.rate.to_string(),
                        counted_as: counted_as(),
                    }
                }),
            )
        }
        Err(error) => {
            tracing::warn!(%error, "throttle: the session store could not count the request");
            Err(Denial::session_store_unavailable())
        }
    }
}
