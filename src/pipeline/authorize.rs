//! Stage 6: the route's access level and requirements, checked the way DRF
//! permission classes are. An anonymous request refused for any reason gets
//! "not authenticated" (DRF raises NotAuthenticated when no authenticator
//! succeeded); a known user gets "permission denied".

use http::Method;

use super::trace::{AuthorizeStep, Trace};
use crate::denial::{Cause, Denial, Lack, Rank};
use crate::routes::{Access, Requirements, Route};
use crate::session::state::SessionState;
use crate::session::Session;

/// GET, HEAD, OPTIONS: DRF's SAFE_METHODS for read-only permissions.
pub fn is_read_only(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub fn authorize(
    route: &Route,
    method: &Method,
    session: &SessionState,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let access = route.access;
    let open = match access {
        Access::Anonymous => true,
        Access::AuthenticatedOrReadOnly => is_read_only(method),
        _ => false,
    };
    if open {
        trace.note(|| AuthorizeStep::Open { access });
        return Ok(());
    }
    if access == Access::Deny {
        trace.note(|| AuthorizeStep::RouteDenies);
        return Err(
            Denial::route_denied().because(trace.wants_causes(), || Cause::RouteDenied {
                route: route.name.to_string(),
            }),
        );
    }
    let user = match session {
        SessionState::Authenticated(user, _) => user,
        // Answered by `decide` before permissions; never reached there.
        SessionState::Refused(denial) => return Err(denial.as_ref().clone()),
        SessionState::Anonymous(why) => {
            // DjangoModelPermissionsOrAnonReadOnly lets anonymous users
            // through to the perms map, which has no entry for this method.
            let anon_model =
                access == Access::AuthenticatedOrReadOnly && route.requirements.model.is_some();
            if anon_model && !in_perms_map(method) {
                trace.note(|| AuthorizeStep::ModelUnmapped(method.clone()));
                return Err(Denial::method_not_allowed(method));
            }
            trace.note(|| AuthorizeStep::NoUser { access });
            return Err(Denial::not_authenticated()
                .because(trace.wants_causes(), || Cause::NoSession(*why)));
        }
        SessionState::Unavailable(what) => {
            trace.note(|| AuthorizeStep::UserUnknown);
            return Err(what.denial());
        }
    };
    let rank = match access {
        Access::Staff if !user.staff => Some(Rank::Staff),
        Access::Superuser if !user.superuser => Some(Rank::Superuser),
        _ => None,
    };
    if let Some(rank) = rank {
        return refuse(trace, || Lack::Rank {
            route: route.name.to_string(),
            rank,
            username: user.username.clone(),
        });
    }
    trace.note(|| AuthorizeStep::RankHeld {
        access,
        username: user.username.clone(),
    });
    check_requirements(&route.requirements, method, user, trace)
}

/// DRF's `DjangoModelPermissions.perms_map` has an entry for the method.
fn in_perms_map(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::OPTIONS
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
    )
}

/// `permission_denied` for what the user lacks; `lack` runs only for
/// `explain` and debug hints.
fn refuse(trace: &mut Trace, lack: impl Fn() -> Lack) -> Result<(), Denial> {
    trace.note(|| AuthorizeStep::Lacks(lack()));
    Err(Denial::permission_denied().because(trace.wants_causes(), || Cause::Permission(lack())))
}

fn check_requirements(
    req: &Requirements,
    method: &Method,
    user: &Session,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let username = || user.username.clone();
    if !req.all_permissions.iter().all(|p| user.has_permission(p)) {
        return refuse(trace, || Lack::Permissions {
            username: username(),
            missing: req
                .all_permissions
                .iter()
                .filter(|p| !user.has_permission(p))
                .map(|p| p.to_string())
                .collect(),
        });
    }
    if !(req.any_permissions.is_empty()
        || req.any_permissions.iter().any(|p| user.has_permission(p)))
    {
        return refuse(trace, || Lack::AnyPermission {
            username: username(),
            wanted: req.any_permissions.iter().map(|p| p.to_string()).collect(),
        });
    }
    if !(req.any_groups.is_empty()
        || user.superuser
        || req.any_groups.iter().any(|g| user.in_group(g)))
    {
        return refuse(trace, || Lack::AnyGroup {
            username: username(),
            groups: req.any_groups.iter().map(|g| g.to_string()).collect(),
        });
    }
    if !req.is_empty() {
        trace.note(|| AuthorizeStep::RequirementsHold);
    }
    if let Some(model) = &req.model {
        // DRF's DjangoModelPermissions.perms_map.
        let needed = match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => None,
            Method::POST => Some(&model.add),
            Method::PUT | Method::PATCH => Some(&model.change),
            Method::DELETE => Some(&model.delete),
            _ => {
                trace.note(|| AuthorizeStep::ModelUnmapped(method.clone()));
                return Err(Denial::method_not_allowed(method));
            }
        };
        match needed {
            Some(permission) if !user.has_permission(permission) => {
                return refuse(trace, || Lack::ModelPermission {
                    username: username(),
                    permission: permission.to_string(),
                });
            }
            Some(permission) => trace.note(|| AuthorizeStep::ModelHeld {
                method: method.clone(),
                permission: permission.to_string(),
            }),
            None => trace.note(|| AuthorizeStep::ModelNotNeeded(method.clone())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denial::Reason;
    use crate::routes::{Mode, ModelPermissions, Pattern};
    use crate::session::state::{AuthClass, Unavailable};
    use crate::session::NewSession;
    use std::sync::Arc;
    use std::time::SystemTime;

    fn route(access: Access, requirements: Requirements) -> Route {
        Route {
            name: "r".into(),
            pattern: Pattern::parse("/**").unwrap(),
            methods: None,
            access,
            requirements,
            csrf_exempt: false,
            max_body: None,
            mode: Mode::Enforce,
            authentication: None,
            ip_rules: crate::routes::ip_rules::IpRules::default(),
            throttles: Box::default(),
            host: None,
            upstream: None,
        }
    }

    fn user(f: impl FnOnce(&mut NewSession)) -> SessionState {
        let mut new = NewSession {
            username: "alice".into(),
            ..NewSession::default()
        };
        f(&mut new);
        let now = SystemTime::now();
        SessionState::Authenticated(Arc::new(Session::new(new, now, now)), AuthClass::Session)
    }

    fn reason(r: Result<(), Denial>) -> Option<Reason> {
        r.err().map(|d| d.reason)
    }

    #[test]
    fn access_levels() {
        let anon = SessionState::Anonymous(crate::session::state::NoSession::NoCookie);
        let plain = user(|_| {});
        let staff = user(|u| u.staff = true);
        let root = user(|u| u.superuser = true);
        let get = &Method::GET;
        let put = &Method::PUT;
        let none = Requirements::default;
        assert_eq!(
            reason(authorize(
                &route(Access::Anonymous, none()),
                put,
                &anon,
                &mut Trace::off()
            )),
            None
        );
        assert_eq!(
            reason(authorize(
                &route(Access::Deny, none()),
                get,
                &root,
                &mut Trace::off()
            )),
            Some(Reason::RouteDenied)
        );
        let auth = route(Access::Authenticated, none());
        assert_eq!(
            reason(authorize(&auth, get, &anon, &mut Trace::off())),
            Some(Reason::NotAuthenticated)
        );
        assert_eq!(
            reason(authorize(&auth, get, &plain, &mut Trace::off())),
            None
        );
        let ro = route(Access::AuthenticatedOrReadOnly, none());
        assert_eq!(
            reason(authorize(&ro, &Method::HEAD, &anon, &mut Trace::off())),
            None
        );
        assert_eq!(
            reason(authorize(&ro, put, &anon, &mut Trace::off())),
            Some(Reason::NotAuthenticated)
        );
        let st = route(Access::Staff, none());
        assert_eq!(
            reason(authorize(&st, get, &anon, &mut Trace::off())),
            Some(Reason::NotAuthenticated)
        );
        assert_eq!(
            reason(authorize(&st, get, &plain, &mut Trace::off())),
            Some(Reason::PermissionDenied)
        );
        assert_eq!(reason(authorize(&st, get, &staff, &mut Trace::off())), None);
        let su = route(Access::Superuser, none());
        assert_eq!(
            reason(authorize(&su, get, &staff, &mut Trace::off())),
            Some(Reason::PermissionDenied)
        );
        assert_eq!(reason(authorize(&su, get, &root, &mut Trace::off())), None);
        assert_eq!(
            reason(authorize(
                &auth,
                get,
                &SessionState::Unavailable(Unavailable::Store),
                &mut Trace::off()
            )),
            Some(Reason::SessionStoreUnavailable)
        );
        assert_eq!(
            reason(authorize(
                &auth,
                get,
                &SessionState::Unavailable(Unavailable::IdentityProvider),
                &mut Trace::off()
            )),
            Some(Reason::OidcUnavailable)
        );
        assert_eq!(
            reason(authorize(
                &route(Access::Anonymous, none()),
                get,
                &SessionState::Unavailable(Unavailable::Store),
                &mut Trace::off()
            )),
            None
        );
    }

    #[test]
    fn model_permissions_per_method() {
        let model = || Requirements {
            model: Some(ModelPermissions {
                add: "lifeapp.add_life".into(),
                change: "lifeapp.change_life".into(),
                delete: "lifeapp.delete_life".into(),
            }),
            ..Requirements::default()
        };
        let r = route(Access::Authenticated, model());
        let changer = user(|u| u.permissions = vec!["lifeapp.change_life".into()]);
        assert_eq!(
            reason(authorize(&r, &Method::GET, &changer, &mut Trace::off())),
            None
        );
        assert_eq!(
            reason(authorize(&r, &Method::PUT, &changer, &mut Trace::off())),
            None
        );
        assert_eq!(
            reason(authorize(&r, &Method::PATCH, &changer, &mut Trace::off())),
            None
        );
        assert_eq!(
            reason(authorize(&r, &Method::POST, &changer, &mut Trace::off())),
            Some(Reason::PermissionDenied)
        );
        assert_eq!(
            reason(authorize(&r, &Method::DELETE, &changer, &mut Trace::off())),
            Some(Reason::PermissionDenied)
        );
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(
            reason(authorize(&r, &purge, &changer, &mut Trace::off())),
            Some(Reason::MethodNotAllowed)
        );
        // DjangoModelPermissionsOrAnonReadOnly: an anonymous request reaches
        // the perms map too (DjangoModelPermissions alone stops it first).
        let anon = SessionState::Anonymous(crate::session::state::NoSession::NoCookie);
        let or_anon = route(Access::AuthenticatedOrReadOnly, model());
        for (method, expected) in [
            (&purge, Some(Reason::MethodNotAllowed)),
            (&Method::TRACE, Some(Reason::MethodNotAllowed)),
            (&Method::POST, Some(Reason::NotAuthenticated)),
            (&Method::GET, None),
        ] {
            assert_eq!(
                reason(authorize(&or_anon, method, &anon, &mut Trace::off())),
                expected,
                "{method}"
            );
        }
        assert_eq!(
            reason(authorize(&r, &purge, &anon, &mut Trace::off())),
            Some(Reason::NotAuthenticated)
        );
        let root = user(|u| u.superuser = true);
        assert_eq!(
            reason(authorize(&r, &Method::DELETE, &root, &mut Trace::off())),
            None
        );
    }

    #[test]
    fn groups_and_permission_sets() {
        let r = route(
            Access::Authenticated,
            Requirements {
                all_permissions: vec!["a.x".into(), "a.y".into()],
                any_permissions: vec!["b.p".into(), "b.q".into()],
                any_groups: vec!["ops".into(), "dev".into()],
                model: None,
            },
        );
        let ok = user(|u| {
            u.permissions = vec!["a.x".into(), "a.y".into(), "b.q".into()];
            u.groups = vec!["dev".into()];
        });
        assert_eq!(
            reason(authorize(&r, &Method::GET, &ok, &mut Trace::off())),
            None
        );
        let missing_all = user(|u| {
            u.permissions = vec!["a.x".into(), "b.q".into()];
            u.groups = vec!["dev".into()];
        });
        assert_eq!(
            reason(authorize(&r, &Method::GET, &missing_all, &mut Trace::off())),
            Some(Reason::PermissionDenied)
        );
        let missing_group =
            user(|u| u.permissions = vec!["a.x".into(), "a.y".into(), "b.p".into()]);
        assert_eq!(
            reason(authorize(
                &r,
                &Method::GET,
                &missing_group,
                &mut Trace::off()
            )),
            Some(Reason::PermissionDenied)
        );
        let root = user(|u| u.superuser = true);
        assert_eq!(
            reason(authorize(&r, &Method::GET, &root, &mut Trace::off())),
            None
        );
    }
}
