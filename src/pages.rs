//! The HTML the gateway serves to browsers: the login page and error
//! pages. Self-contained (inline CSS, no scripts, no external assets), every
//! echoed value escaped, and locked down with a strict Content-Security-Policy.

use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

/// HTML-escapes text for element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d1f23}\
main{max-width:24rem;margin:10vh auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:1rem 0 .3rem;font-weight:600}\
input{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #8a8f98;border-radius:4px}\
button{margin-top:1.4rem;width:100%;padding:.65rem;font-size:1rem;border:0;border-radius:4px;background:#1f5fbf;color:#fff;cursor:pointer}\
button:focus,input:focus{outline:3px solid #f2b705;outline-offset:1px}\
.error{background:#fdecea;color:#8a1c12;padding:.7rem;border-radius:4px}code{font-size:.9em}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .4rem;border-top:1px solid #e3e5e8}th{white-space:nowrap}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// What the login page shows.
pub struct LoginPage<'a> {
    /// `server.internal_prefix`, for the form's action.
    pub prefix: &'a str,
    /// A masked CSRF token for the hidden `csrfmiddlewaretoken` field.
    pub csrf_token: &'a str,
    /// Where to go after signing in (already checked to be a local path).
    pub next: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// `[oidc] name`, when people may also sign in with the provider.
    pub provider: Option<&'a str>,
}

pub fn login_page(login: &LoginPage<'_>) -> String {
    let error = login
        .error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"error\">{}</p>\n",
                escape(e)
            )
        })
        .unwrap_or_default();
    let autofocus_user = if login.username.is_empty() {
        " autofocus"
    } else {
        ""
    };
    let autofocus_password = if login.username.is_empty() {
        ""
    } else {
        " autofocus"
    };
    page(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>\n{error}<form method=\"post\" action=\"{prefix}/login\">\n\
             <input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{token}\">\n\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
             <label for=\"username\">Username</label>\n\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{username}\"{autofocus_user}>\n\
             <label for=\"password\">Password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{autofocus_password}>\n\
             <button type=\"submit\">Sign in</button>\n</form>{provider}",
            provider = provider_link(login),
            prefix = escape(login.prefix),
            token = escape(login.csrf_token),
            next = escape(login.next),
            username = escape(login.username),
        ),
    )
}

/// The provider's sign-in, offered below the form when `[oidc]` is set.
fn provider_link(login: &LoginPage<'_>) -> String {
    let Some(name) = login.provider else {
        return String::new();
    };
    let next: String = form_urlencoded::byte_serialize(login.next.as_bytes()).collect();
    format!(
        "\n<p><a id=\"oidc\" href=\"{prefix}/oidc/login?next={next}\">Sign in with {name}</a></p>",
        prefix = escape(login.prefix),
        next = escape(&next),
        name = escape(name),
    )
}

/// What the whoami page shows (`<prefix>/whoami` for a browser).
pub struct WhoAmIPage<'a> {
    pub prefix: &'a str,
    /// `None`: the request is anonymous.
    pub username: Option<&'a str>,
    pub groups: &'a [String],
    pub permissions: &'a [String],
    pub staff: bool,
    pub superuser: bool,
    pub authenticated_by: Option<&'a str>,
    pub signed_in_with: Option<&'a str>,
    pub session_expires_at: Option<&'a str>,
    /// Why there is no user (or why the credential was refused).
    pub why_not: Option<&'a str>,
    /// The authentication classes tried.
    pub classes: &'a [&'a str],
    /// The csrftoken cookie: `missing`, `malformed` or `valid`.
    pub csrf_cookie: &'a str,
    /// What an unsafe request from this page needs.
    pub csrf_need: &'a str,
}

pub fn whoami_page(who: &WhoAmIPage<'_>) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items
                .iter()
                .map(|item| format!("<code>{}</code>", escape(item)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let row = |id: &str, name: &str, value: &str| {
        format!("<tr><th scope=\"row\">{name}</th><td id=\"{id}\">{value}</td></tr>\n")
    };
    let mut rows = String::new();
    let headline = match who.username {
        Some(username) => {
            let mut roles = Vec::new();
            if who.staff {
                roles.push("staff");
            }
            if who.superuser {
                roles.push("superuser");
            }
            rows.push_str(&row("groups", "Groups", &list(who.groups)));
            rows.push_str(&row("permissions", "Permissions", &list(who.permissions)));
            if !roles.is_empty() {
                rows.push_str(&row("roles", "Roles", &roles.join(", ")));
            }
            let how = match (who.authenticated_by, who.signed_in_with) {
                (Some(class), Some(login)) => format!("{class} (signed in with {login})"),
                (Some(class), None) => class.to_string(),
                _ => String::new(),
            };
            rows.push_str(&row("authenticated-by", "Authenticated by", &escape(&how)));
            if let Some(expiry) = who.session_expires_at {
                rows.push_str(&row("expires", "Session expires", &escape(expiry)));
            }
            format!("Signed in as <strong>{}</strong>", escape(username))
        }
        None => {
            rows.push_str(&row(
                "why-not",
                "Why",
                &escape(
                    who.why_not
                        .unwrap_or("no credential authenticated the request"),
                ),
            ));
            "Not signed in".to_string()
        }
    };
    rows.push_str(&row(
        "classes",
        "Classes tried",
        &escape(&who.classes.join(", ")),
    ));
    rows.push_str(&row("csrf-cookie", "CSRF cookie", &escape(who.csrf_cookie)));
    rows.push_str(&row(
        "csrf-need",
        "An unsafe request needs",
        &escape(who.csrf_need),
    ));
    let sign_in = if who.username.is_none() {
        format!(
            "\n<p><a href=\"{}/login\">Sign in</a></p>",
            escape(who.prefix)
        )
    } else {
        String::new()
    };
    page(
        "Who am I",
        &format!(
            "<h1>Who am I to the gateway</h1>\n<p id=\"user\">{headline}</p>\n<table>\n{rows}</table>{sign_in}"
        ),
    )
}

/// An error page for a synthetic answer.
/// `reason` is shown unless `[diagnostics] expose_reason = "off"`, `hint`
/// only with `[diagnostics] debug = true`.
pub fn error_page(
    status: StatusCode,
    detail: &str,
    reason: Option<&str>,
    hint: Option<&str>,
) -> String {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let mut body = format!(
        "<h1>{}</h1>\n<p id=\"detail\">{}</p>",
        escape(&title),
        escape(detail)
    );
    if let Some(reason) = reason {
        body.push_str(&format!(
            "\n<p>Reason code: <code>{}</code></p>",
            escape(reason)
        ));
    }
    if let Some(hint) = hint {
        body.push_str(&format!("\n<p id=\"hint\">{}</p>", escape(hint)));
    }
    page(&title, &body)
}

/// Headers every gateway HTML page carries: no framing (clickjacking on
/// the login form), no scripts or outside resources, forms only to us.
pub fn add_html_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_echoed_is_escaped() {
        let html = login_page(&LoginPage {
            prefix: "/_portcullis",
            csrf_token: "tok",
            next: "/x\"><script>alert(1)</script>",
            username: "<b>'bob'</b>",
            error: Some("<img src=x onerror=alert(1)>"),
            provider: Some("<Corp> SSO"),
        });
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("&#x27;bob&#x27;"));
        assert!(html.contains("Sign in with &lt;Corp&gt; SSO"));
        // `next` is URL-encoded into the provider link, then escaped.
        assert!(
            html.contains("/p/oidc/login?next=%2Fx%22%3E%3Cscript")
                || html.contains("/_portcullis/oidc/login?next=%2Fx%22%3E%3Cscript")
        );
        let error = error_page(StatusCode::FORBIDDEN, "<i>x</i>", Some("r"), None);
        assert!(error.contains("403 Forbidden") && error.contains("&lt;i&gt;x&lt;/i&gt;"));
    }

    #[test]
    fn no_external_assets() {
        let html = login_page(&LoginPage {
            prefix: "/p",
            csrf_token: "t",
            next: "/",
            username: "",
            error: None,
            provider: Some("Corp"),
        });
        for forbidden in ["http://", "https://", "<script", "<link", "src="] {
            assert!(!html.contains(forbidden), "{forbidden}");
        }
    }
}
