//! Stage 5: the route's access level and requirements, checked the way DRF
//! permission classes are. An anonymous request refused for any reason gets
//! "not authenticated" (DRF raises NotAuthenticated when no authenticator
//! succeeded); a known user gets "permission denied".

use http::Method;

use super::denial::Denial;
use super::session::SessionState;
use crate::routes::{Access, Requirements, Route};
use crate::session::Session;

/// GET, HEAD, OPTIONS: DRF's SAFE_METHODS for read-only permissions.
pub fn is_read_only(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub fn authorize(route: &Route, method: &Method, session: &SessionState) -> Result<(), Denial> {
    match route.access {
        Access::Anonymous => return Ok(()),
        Access::Deny => return Err(Denial::route_denied()),
        Access::AuthenticatedOrReadOnly if is_read_only(method) => return Ok(()),
        Access::Authenticated
        | Access::AuthenticatedOrReadOnly
        | Access::Staff
        | Access::Superuser => {}
    }
    let user = match session {
        SessionState::Authenticated(user) => user,
        SessionState::Anonymous => return Err(Denial::not_authenticated()),
        SessionState::StoreUnavailable => return Err(Denial::session_store_unavailable()),
    };
    let level_ok = match route.access {
        Access::Staff => user.staff,
        Access::Superuser => user.superuser,
        _ => true,
    };
    if !level_ok {
        return Err(Denial::permission_denied());
    }
    check_requirements(&route.requirements, method, user)
}

fn check_requirements(req: &Requirements, method: &Method, user: &Session) -> Result<(), Denial> {
    let all = req.all_permissions.iter().all(|p| user.has_permission(p));
    let any = req.any_permissions.is_empty()
        || req.any_permissions.iter().any(|p| user.has_permission(p));
    let group = req.any_groups.is_empty()
        || user.superuser
        || req.any_groups.iter().any(|g| user.in_group(g));
    if !(all && any && group) {
        return Err(Denial::permission_denied());
    }
    if let Some(model) = &req.model {
        // DRF's DjangoModelPermissions.perms_map.
        let needed = match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => None,
            Method::POST => Some(&model.add),
            Method::PUT | Method::PATCH => Some(&model.change),
            Method::DELETE => Some(&model.delete),
            _ => return Err(Denial::method_not_allowed(method)),
        };
        if needed.is_some_and(|p| !user.has_permission(p)) {
            return Err(Denial::permission_denied());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::denial::Reason;
    use crate::routes::{ModelPermissions, Pattern};
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
        }
    }

    fn user(f: impl FnOnce(&mut NewSession)) -> SessionState {
        let mut new = NewSession {
            username: "alice".into(),
            ..NewSession::default()
        };
        f(&mut new);
        let now = SystemTime::now();
        SessionState::Authenticated(Arc::new(Session::new(new, now, now)))
    }

    fn reason(r: Result<(), Denial>) -> Option<Reason> {
        r.err().map(|d| d.reason)
    }

    #[test]
    fn access_levels() {
        let anon = SessionState::Anonymous;
        let plain = user(|_| {});
        let staff = user(|u| u.staff = true);
        let root = user(|u| u.superuser = true);
        let get = &Method::GET;
        let put = &Method::PUT;
        let none = Requirements::default;
        assert_eq!(
            reason(authorize(&route(Access::Anonymous, none()), put, &anon)),
            None
        );
        assert_eq!(
            reason(authorize(&route(Access::Deny, none()), get, &root)),
            Some(Reason::RouteDenied)
        );
        let auth = route(Access::Authenticated, none());
        assert_eq!(
            reason(authorize(&auth, get, &anon)),
            Some(Reason::NotAuthenticated)
        );
        assert_eq!(reason(authorize(&auth, get, &plain)), None);
        let ro = route(Access::AuthenticatedOrReadOnly, none());
        assert_eq!(reason(authorize(&ro, &Method::HEAD, &anon)), None);
        assert_eq!(
            reason(authorize(&ro, put, &anon)),
            Some(Reason::NotAuthenticated)
        );
        let st = route(Access::Staff, none());
        assert_eq!(
            reason(authorize(&st, get, &anon)),
            Some(Reason::NotAuthenticated)
        );
        assert_eq!(
            reason(authorize(&st, get, &plain)),
            Some(Reason::PermissionDenied)
        );
        assert_eq!(reason(authorize(&st, get, &staff)), None);
        let su = route(Access::Superuser, none());
        assert_eq!(
            reason(authorize(&su, get, &staff)),
            Some(Reason::PermissionDenied)
        );
        assert_eq!(reason(authorize(&su, get, &root)), None);
        assert_eq!(
            reason(authorize(&auth, get, &SessionState::StoreUnavailable)),
            Some(Reason::SessionStoreUnavailable)
        );
        assert_eq!(
            reason(authorize(
                &route(Access::Anonymous, none()),
                get,
                &SessionState::StoreUnavailable
            )),
            None
        );
    }

    #[test]
    fn model_permissions_per_method() {
        let r = route(
            Access::Authenticated,
            Requirements {
                model: Some(ModelPermissions {
                    add: "lifeapp.add_life".into(),
                    change: "lifeapp.change_life".into(),
                    delete: "lifeapp.delete_life".into(),
                }),
                ..Requirements::default()
            },
        );
        let changer = user(|u| u.permissions = vec!["lifeapp.change_life".into()]);
        assert_eq!(reason(authorize(&r, &Method::GET, &changer)), None);
        assert_eq!(reason(authorize(&r, &Method::PUT, &changer)), None);
        assert_eq!(reason(authorize(&r, &Method::PATCH, &changer)), None);
        assert_eq!(
            reason(authorize(&r, &Method::POST, &changer)),
            Some(Reason::PermissionDenied)
        );
        assert_eq!(
            reason(authorize(&r, &Method::DELETE, &changer)),
            Some(Reason::PermissionDenied)
        );
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(
            reason(authorize(&r, &purge, &changer)),
            Some(Reason::MethodNotAllowed)
        );
        let root = user(|u| u.superuser = true);
        assert_eq!(reason(authorize(&r, &Method::DELETE, &root)), None);
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
        assert_eq!(reason(authorize(&r, &Method::GET, &ok)), None);
        let missing_all = user(|u| {
            u.permissions = vec!["a.x".into(), "b.q".into()];
            u.groups = vec!["dev".into()];
        });
        assert_eq!(
            reason(authorize(&r, &Method::GET, &missing_all)),
            Some(Reason::PermissionDenied)
        );
        let missing_group =
            user(|u| u.permissions = vec!["a.x".into(), "a.y".into(), "b.p".into()]);
        assert_eq!(
            reason(authorize(&r, &Method::GET, &missing_group)),
            Some(Reason::PermissionDenied)
        );
        let root = user(|u| u.superuser = true);
        assert_eq!(reason(authorize(&r, &Method::GET, &root)), None);
    }
}
