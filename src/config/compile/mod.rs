//! Validation: turns the raw TOML structs into the config snapshot,
//! collecting every problem (with its place in the file) instead of
//! stopping at the first. One file per section; `defaults` names every
//! default once; this file only puts the sections together.

mod admin;
mod bearer;
mod cors;
mod credentials;
mod csrf;
mod decision;
pub mod defaults;
mod diagnostics;
mod django;
mod identity;
mod oidc;
mod problems;
mod routes;
mod server;
mod session;
mod telemetry;
mod throttle;
mod upstream;
mod users;
mod values;

use std::path::Path;

use problems::{line_column, Problems};

use super::raw::RawConfig;
use super::snapshot::{AdminSettings, Config};
use super::startup::{Startup, StoreKind};
use super::ConfigError;
use crate::routes::{Access, Mode, RouteTable};

/// Compiles config text; `base` is the directory relative paths in it
/// (`users_file`, TLS and key files) are read from.
pub fn compile(
    source: &str,
    base: &Path,
    overrides: &super::environment::Overrides,
) -> Result<Config, Vec<ConfigError>> {
    let mut problems = Problems {
        source,
        file: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut raw: RawConfig = toml::from_str(source).map_err(|e| vec![syntax_error(source, &e)])?;
    overrides.apply(&mut raw, source.len());
    let problems = &mut problems;

    let listeners = server::listeners(problems, &raw.server);
    let server = server::server(problems, &raw.server, base);
    let upstreams = upstream::upstreams(problems, &raw, base);
    let store = session::store_kind(problems, &raw, base);
    let session = session::session(problems, &raw.session);
    let users = users::users(problems, &raw.users, raw.session.users_file.as_ref(), base);
    let (login, login_throttle) = users::login(problems, &raw.login);
    let admin = AdminSettings {
        token: admin::admin_token(problems, &raw),
    };
    let identity = identity::identity(problems, &raw.identity, base);
    let csrf = csrf::csrf(problems, &raw.csrf);
    let csrf_use_sessions = raw
        .csrf
        .use_sessions
        .as_ref()
        .map_or(defaults::CSRF_USE_SESSIONS, |flag| *flag.get_ref());
    if let (Some(flag), false) = (
        raw.csrf.use_sessions.as_ref().filter(|u| *u.get_ref()),
        matches!(store, StoreKind::Django(_)),
    ) {
        problems.at(
            flag.span(),
            "csrf.use_sessions reads the secret from Django's session: it needs session.store = \"django\"",
        );
    }
    let cors = cors::cors(problems, &raw.cors);
    if csrf.cookie_name == session.cookie_name {
        problems.anywhere("csrf.cookie_name and session.cookie_name must differ");
    }
    let default_access = match &raw.default_access {
        None => Access::Deny,
        Some(value) => routes::access(problems, value),
    };
    let mode = match &raw.mode {
        None => defaults::MODE.parse().unwrap_or(Mode::Enforce),
        Some(value) => routes::mode(problems, value),
    };
    let throttles = throttle::defaults(problems, &raw.throttle);
    let route_context = routes::RouteContext {
        global_mode: mode,
        internal_prefix: &server.internal_prefix,
        trusted_proxies: &server.trusted_proxies,
        upstreams: routes::UpstreamNames {
            names: upstream::names(&raw),
            has_default: raw.upstream.is_some(),
        },
        throttles: &throttles,
    };
    let routes = routes::routes(problems, &raw.routes, &route_context);
    // A request no route matches is forwarded under default_access, or
    // as would_deny under a top-level mode = "report": to [upstream].
    let unmatched_forwarded = default_access != Access::Deny || mode == Mode::Report;
    if unmatched_forwarded && raw.upstream.is_none() && !raw.upstreams.is_empty() {
        let message = "requests no route matches are forwarded (default_access, or mode = \"report\"), but there is no [upstream] for them: add [upstream], or leave default_access and the top-level mode unset";
        let span = match (&raw.default_access, &raw.mode) {
            (Some(access), _) if default_access != Access::Deny => Some(access.span()),
            (_, Some(mode)) => Some(mode.span()),
            _ => None,
        };
        match span {
            Some(span) => problems.at(span, message),
            None => problems.anywhere(message),
        }
    }
    let authentication = credentials::authentication(problems, &raw, &store, base);
    credentials::check_used(
        problems,
        &raw,
        &authentication,
        routes.iter().filter_map(|route| route.authentication),
    );
    if let (Some(value), Mode::Report) = (&raw.mode, mode) {
        problems.warn(
            value.span(),
            "mode = \"report\": nothing is enforced; requests that would be denied are forwarded (and counted as would_deny)",
        );
    }
    let diagnostics = diagnostics::diagnostics(problems, &raw.diagnostics);
    let decision = decision::decision(problems, &raw);
    if let (Some((_, settings)), Some(section)) = (&decision, &raw.decision) {
        let with_rules = raw
            .routes
            .iter()
            .find(|route| route.allow_ips.is_some() || !route.deny_ips.is_empty());
        if let (false, Some(route)) = (settings.client_from_forwarded_for, with_rules) {
            problems.warn(
                section.span(),
                format!(
                    "routes with allow_ips or deny_ips (the first: {:?}) refuse every subrequest on the decision listener: it knows no client address until decision.client_address = \"x-forwarded-for\" (set it once the ingress appends or sets X-Forwarded-For)",
                    route.path.get_ref()
                ),
            );
        }
    }
    if let (Some((_, settings)), Some(section)) = (&decision, &raw.decision) {
        let counted = !throttles.for_every_route().is_empty()
            || routes.iter().any(|route| !route.throttles.is_empty());
        if counted && !settings.client_from_forwarded_for {
            problems.warn(
                section.span(),
                "throttles count anonymous requests by client address, and an HTTP subrequest names none until decision.client_address = \"x-forwarded-for\": until then every anonymous request an nginx, Traefik or Caddy subrequest asks about is counted as the ingress's own, all in one history (Envoy's gRPC Check names the client itself)",
            );
        }
    }
    if let Some((listen, _)) = &decision {
        if listen.port() != 0 && (*listen == listeners.listen || *listen == listeners.admin_listen)
        {
            problems
                .anywhere("decision.listen must differ from server.listen and server.admin_listen");
        }
    }
    let bearer = bearer::bearer(problems, raw.bearer.as_ref(), base);
    let oidc = oidc::oidc(problems, raw.oidc.as_ref(), base, &server);
    let telemetry = telemetry::telemetry(problems, raw.telemetry.as_ref(), base);
    if let (Some(section), true) = (&raw.oidc, matches!(store, StoreKind::Django(_))) {
        problems.at(
            section.span(),
            "[oidc] makes the gateway's own sessions: it needs session.store = \"memory\" or \"redis\" (with Django's sessions, sign people in through Django, e.g. mozilla-django-oidc)",
        );
    }

    let (errors, warnings) = (
        std::mem::take(&mut problems.errors),
        std::mem::take(&mut problems.warnings),
    );
    let Some(upstreams) = upstreams.filter(|_| errors.is_empty()) else {
        return Err(with_warnings(errors, warnings));
    };
    Ok(Config {
        startup: Startup {
            listen: listeners.listen,
            admin_listen: listeners.admin_listen,
            decision_listen: decision.as_ref().map(|(listen, _)| *listen),
            worker_threads: listeners.worker_threads,
            max_connections: listeners.max_connections,
            store,
            csrf_use_sessions,
            login_throttle,
        },
        server,
        upstreams,
        session,
        admin,
        identity,
        csrf,
        cors,
        routes: RouteTable::new(routes, default_access, mode, throttles.for_every_route()),
        authentication,
        decision: decision.map(|(_, settings)| settings),
        users,
        login,
        diagnostics,
        bearer,
        oidc,
        telemetry,
        warnings,
    })
}

/// A file that is not TOML (or does not fit the schema): one error, placed.
fn syntax_error(source: &str, error: &toml::de::Error) -> ConfigError {
    let location = error.span().map(|s| line_column(source, s.start));
    let mut message = error.message().trim_end().to_string();
    for key in ["default_access", "mode"] {
        if message.contains(&format!("unknown field `{key}`")) {
            // A classic TOML trap: a top-level key written below a
            // [table] header belongs to that table.
            message.push_str(&format!(
                "; {key} is a top-level key: put it above the first [table]"
            ));
        }
    }
    ConfigError {
        file: None,
        location,
        message,
    }
}

/// The errors in file order (those without a place first), followed by the
/// warnings, which are worth seeing while fixing the errors too.
fn with_warnings(mut errors: Vec<ConfigError>, warnings: Vec<ConfigError>) -> Vec<ConfigError> {
    errors.extend(warnings.into_iter().map(|mut warning| {
        warning.message.insert_str(0, "warning: ");
        warning
    }));
    errors.sort_by_key(|e| e.location);
    errors
}
