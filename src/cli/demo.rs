//! `portcullis demo`: the gateway on the shipped config in front of a
//! built-in echo upstream, with two users who can sign in, two ready-made
//! sessions, browser redirects to the login page, and curl commands to try.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portcullis::auth::password::hash_password;
use portcullis::auth::users::{User, UserTable};
use portcullis::config::Config;
use portcullis::echo::EchoUpstream;
use portcullis::Gateway;

/// The demo users' passwords, printed for people to try. Demo only.
const ALICE_PASSWORD: &str = "alice-password";
const ROOT_PASSWORD: &str = "root-password";

/// alice (a reader who may change life) and root (staff, superuser).
fn demo_users() -> [User; 2] {
    let user = |username: &str, password: &str, staff: bool| User {
        username: username.into(),
        password_hash: hash_password(password),
        groups: if staff {
            vec![]
        } else {
            vec!["readers".into()]
        },
        permissions: if staff {
            vec![]
        } else {
            vec!["lifeapp.change_life".into()]
        },
        staff,
        superuser: staff,
        active: true,
    };
    [
        user("alice", ALICE_PASSWORD, false),
        user("root", ROOT_PASSWORD, true),
    ]
}

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let echo = EchoUpstream::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the demo echo upstream")?;
    config
        .upstreams
        .default_mut()
        .context("the demo config has no [upstream]")?
        .authority = echo.addr.to_string().parse().context("echo address")?;
    let [alice, root] = demo_users();
    if config.users.is_empty() {
        config.users = UserTable::new(vec![alice.clone(), root.clone()]);
    }
    config.login.redirect_browsers = true;
    let listeners = crate::bind(&config).await?;
    let proxy = listeners.proxy.local_addr()?;
    let admin = listeners.admin.local_addr()?;
    let gateway = Arc::new(Gateway::new(config));
    let ttl = Duration::from_secs(8 * 3600);
    // Ready-made sessions for the same two users.
    let (alice, _) = gateway.store().create(alice.session(), ttl).await?;
    let (root, _) = gateway.store().create(root.session(), ttl).await?;
    // Handlers before the banner, as in `serve`.
    let signals = crate::Signals::register();
    println!(
        "portcullis demo\n\
         \x20 gateway   http://{proxy}\n\
         \x20 admin API http://{admin}\n\
         \x20 upstream  http://{echo} (built-in echo server: answers with what it received)\n\
         \n\
         Demo sessions: alice (authenticated, not staff) and root (staff, superuser).\n\
         Try:\n\
         \x20 curl -i http://{proxy}/public/hello\n\
         \x20     -> 200, forwarded: the route is anonymous\n\
         \x20 curl -i http://{proxy}/life/1/\n\
         \x20     -> 403 {{\"detail\":\"Authentication credentials were not provided.\"}}\n\
         \x20 curl -i -b sessionid={alice} http://{proxy}/life/1/\n\
         \x20     -> 200, the echo shows x-remote-user: alice\n\
         \x20 curl -i -X PUT -b sessionid={alice} -d '{{\"answer\":24}}' http://{proxy}/life/1/\n\
         \x20     -> 403 {{\"detail\":\"CSRF Failed: CSRF cookie not set.\"}} (see docs/csrf.md)\n\
         \x20 curl -i -b sessionid={alice} http://{proxy}/admin/\n\
         \x20     -> 403 {{\"detail\":\"You do not have permission to perform this action.\"}}\n\
         \x20 curl -i -b sessionid={root} http://{proxy}/admin/\n\
         \x20     -> 200, forwarded\n\
         \x20 curl -i -X POST -H 'Authorization: Bearer change-me' -d '{{\"username\":\"bob\"}}' http://{admin}/sessions\n\
         \x20     -> 201 with a new session id\n\
         \n\
         Sign in as alice (password {ALICE_PASSWORD}) or root (password {ROOT_PASSWORD}):\n\
         \x20 in a browser: open http://{proxy}/life/1/ and you are sent to the login page\n\
         \x20 with curl and a cookie jar:\n\
         \x20   curl -s -c jar -b jar http://{proxy}/_portcullis/csrf\n\
         \x20   curl -s -c jar -b jar -H \"X-CSRFToken: $(awk '$6==\"csrftoken\"{{print $7}}' jar)\" \\\n\
         \x20        -H 'Content-Type: application/json' -d '{{\"username\":\"alice\",\"password\":\"{ALICE_PASSWORD}\"}}' \\\n\
         \x20        http://{proxy}/_portcullis/login\n\
         \x20   curl -s -b jar http://{proxy}/life/1/\n\
         Stop with Ctrl-C.",
        alice = alice.as_str(),
        root = root.as_str(),
        echo = echo.addr,
    );
    crate::run_until_signal(listeners, gateway, signals).await
}
