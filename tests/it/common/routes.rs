//! `[[routes]]` tables that several suites use, each written once. Each is
//! a macro that expands to a string literal, so a suite joins the ones it
//! needs into its own `const` with `concat!` (in order: the first route
//! that matches a request wins):
//!
//! ```ignore
//! use crate::common::routes::{life, public};
//! const ROUTES: &str = concat!(public!(), life!());
//! ```

/// `/public/**`, open to anyone.
macro_rules! public {
    () => {
        r#"
[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"
"#
    };
}

/// `/life/**`, for any signed-in user.
macro_rules! life {
    () => {
        r#"
[[routes]]
name = "life"
path = "/life/**"
access = "authenticated"
"#
    };
}

/// `/admin/**`, for staff.
macro_rules! admin {
    () => {
        r#"
[[routes]]
name = "admin"
path = "/admin/**"
access = "staff"
"#
    };
}

/// `/hooks/**`, open to anyone and exempt from CSRF (webhooks).
macro_rules! hooks {
    () => {
        r#"
[[routes]]
name = "hooks"
path = "/hooks/**"
access = "anonymous"
csrf = false
"#
    };
}

pub(crate) use {admin, hooks, life, public};
