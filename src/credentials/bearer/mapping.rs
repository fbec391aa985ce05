//! Who a verified token says the user is, as the `NewSession` the rest of
//! the gateway knows: the username claim, `sub` as the user id, groups and
//! permissions from their claims (a JSON array of strings, or one string of
//! space-separated names as OAuth's `scope`), and staff and superuser from
//! a boolean claim or membership of named groups. Every value must be one
//! an identity header can carry (`unsafe_identity_value`), or the token is
//! refused: a name is never altered to fit.

use serde_json::Value;

use super::claims::{claim, Claims};
use super::problem::BearerProblem;
use super::BearerSettings;
use crate::session::record::{unsafe_identity_value, unsafe_value_reason};
use crate::session::NewSession;

/// The user a token's claims describe.
pub(super) fn user(
    claims: &Claims,
    settings: &BearerSettings,
) -> Result<NewSession, BearerProblem> {
    let name = settings.username_claim.as_str();
    let username = match claim(claims, name) {
        None => return Err(BearerProblem::MissingClaim(name.into())),
        Some(Value::String(username)) => username.clone(),
        Some(_) => return Err(BearerProblem::BadClaim(name.into())),
    };
    if unsafe_value_reason(&username, false).is_some() {
        return Err(BearerProblem::BadClaim(name.into()));
    }
    let user_id = match claims.get("sub") {
        None => None,
        Some(Value::String(sub)) if unsafe_value_reason(sub, false).is_none() => Some(sub.clone()),
        Some(_) => return Err(BearerProblem::BadClaim("sub".into())),
    };
    let groups = names(claims, settings.groups_claim.as_deref())?;
    let permissions = names(claims, settings.permissions_claim.as_deref())?;
    // Every value was checked above; this is the one rule every session
    // obeys, kept as the last word.
    if unsafe_identity_value(&username, user_id.as_deref(), &groups, &permissions).is_some() {
        return Err(BearerProblem::BadClaim(name.into()));
    }
    let in_any = |named: &[String]| named.iter().any(|g| groups.contains(g));
    let staff = flag(claims, settings.staff_claim.as_deref())? || in_any(&settings.staff_groups);
    let superuser =
        flag(claims, settings.superuser_claim.as_deref())? || in_any(&settings.superuser_groups);
    Ok(NewSession {
        username,
        user_id,
        groups,
        permissions,
        staff,
        superuser,
        csrf_secret: None,
        oidc: None,
    })
}

/// A list of names: an array of strings, or a space-separated string.
/// No claim configured, or the token without it: none.
fn names(claims: &Claims, name: Option<&str>) -> Result<Vec<String>, BearerProblem> {
    let Some(name) = name else {
        return Ok(Vec::new());
    };
    let bad = || BearerProblem::BadClaim(name.into());
    let list: Vec<String> = match claim(claims, name) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => text.split_ascii_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    if list
        .iter()
        .any(|item| unsafe_value_reason(item, true).is_some())
    {
        return Err(bad());
    }
    Ok(list)
}

/// A boolean claim; absent is false, anything but a JSON boolean refused.
fn flag(claims: &Claims, name: Option<&str>) -> Result<bool, BearerProblem> {
    let Some(name) = name else {
        return Ok(false);
    };
    match claim(claims, name) {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(BearerProblem::BadClaim(name.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;
    use super::*;
    use serde_json::json;

    fn map(
        claims: Value,
        adjust: impl FnOnce(&mut BearerSettings),
    ) -> Result<NewSession, BearerProblem> {
        let mut settings = settings();
        adjust(&mut settings);
        user(claims.as_object().unwrap(), &settings)
    }

    #[test]
    fn username_groups_and_permissions_are_mapped() {
        let user = map(
            json!({
                "sub": "248289761001",
                "preferred_username": "alice",
                "groups": ["staff", "ops"],
                "scope": "shop.view_order shop.change_order",
                "is_staff": true
            }),
            |s| {
                s.username_claim = "preferred_username".into();
                s.groups_claim = Some("groups".into());
                s.permissions_claim = Some("scope".into());
                s.staff_claim = Some("is_staff".into());
                s.superuser_groups = vec!["root".into()];
            },
        )
        .unwrap();
        assert_eq!(
            user,
            NewSession {
                username: "alice".into(),
                user_id: Some("248289761001".into()),
                groups: vec!["staff".into(), "ops".into()],
                permissions: vec!["shop.view_order".into(), "shop.change_order".into()],
                staff: true,
                superuser: false,
                csrf_secret: None,
                oidc: None,
            }
        );
    }

    #[test]
    fn defaults_take_sub_and_nothing_else() {
        let user = map(
            json!({"sub": "u1", "groups": ["x"], "is_staff": true}),
            |_| {},
        )
        .unwrap();
        assert_eq!(user.username, "u1");
        assert!(user.groups.is_empty() && user.permissions.is_empty());
        assert!(!user.staff && !user.superuser);
    }

    #[test]
    fn nested_claims_and_group_based_flags() {
        let user = map(
            json!({"sub": "u1", "realm_access": {"roles": ["admin", "dev"]}}),
            |s| {
                s.groups_claim = Some("realm_access.roles".into());
                s.staff_groups = vec!["dev".into()];
                s.superuser_groups = vec!["admin".into()];
            },
        )
        .unwrap();
        assert_eq!(user.groups, ["admin", "dev"]);
        assert!(user.staff && user.superuser);
        // An absent list claim is an empty list; an absent flag is false.
        let user = map(json!({"sub": "u1"}), |s| {
            s.groups_claim = Some("groups".into());
            s.superuser_claim = Some("root".into());
        })
        .unwrap();
        assert!(user.groups.is_empty() && !user.superuser);
    }

    #[test]
    fn values_that_cannot_be_headers_are_refused() {
        let groups = |s: &mut BearerSettings| s.groups_claim = Some("groups".into());
        let bad = |name: &str| Err(BearerProblem::BadClaim(name.into()));
        let cases = [
            (json!({"sub": "bob\r\nX-Admin: 1"}), bad("sub")),
            (json!({"sub": "zoë"}), bad("sub")),
            (json!({"sub": " bob"}), bad("sub")),
            (json!({"sub": ""}), bad("sub")),
            (json!({"sub": 42}), bad("sub")),
            (json!({}), Err(BearerProblem::MissingClaim("sub".into()))),
            (json!({"sub": "u", "groups": ["a,b"]}), bad("groups")),
            (json!({"sub": "u", "groups": ["ok", 3]}), bad("groups")),
            (json!({"sub": "u", "groups": "a\u{200b}"}), bad("groups")),
            (json!({"sub": "u", "groups": {"a": 1}}), bad("groups")),
        ];
        for (claims, expected) in cases {
            assert_eq!(map(claims.clone(), groups), expected, "{claims}");
        }
        let staff = map(json!({"sub": "u", "is_staff": "true"}), |s| {
            s.staff_claim = Some("is_staff".into())
        });
        assert_eq!(staff, bad("is_staff"));
        let name = map(json!({"sub": "u", "email": ["a@b"]}), |s| {
            s.username_claim = "email".into()
        });
        assert_eq!(name, bad("email"));
    }
}
