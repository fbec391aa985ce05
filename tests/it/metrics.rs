//! `/metrics` on the admin listener: Prometheus text whose counters move
//! with the requests a test makes.

use crate::common::routes::{life, public};
use crate::common::*;

const ROUTES: &str = concat!(public!(), life!());

/// The value of the sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

async fn metrics(h: &Harness) -> String {
    let reply = h.admin("GET", "/metrics", None, "").await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    reply.text()
}

#[tokio::test]
async fn requests_latency_lookups_connections_and_reloads_are_counted() {
    let h = Harness::start(ROUTES).await;
    for _ in 0..3 {
        assert_eq!(h.get("/public/x", &[]).await.status, 200);
    }
    h.get("/life/1/", &[])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    let id = h.session(r#"{"username":"alice"}"#).await;
    assert_eq!(
        h.get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
            .await
            .status,
        200
    );
    h.get("/nowhere", &[])
        .await
        .assert_denied(403, "no_route", PERMISSION_DENIED);

    let text = metrics(&h).await;
    let requests = "portcullis_requests_total";
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"{requests}{{route="public",decision="forward",reason="-",status_class="2xx"}}"#
            )
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"{requests}{{route="life",decision="deny",reason="not_authenticated",status_class="4xx"}}"#
            )
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"{requests}{{route="life",decision="forward",reason="-",status_class="2xx"}}"#
            )
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"{requests}{{route="-",decision="deny",reason="no_route",status_class="4xx"}}"#
            )
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "portcullis_upstream_latency_seconds_count"),
        4.0
    );
    assert_eq!(
        sample(&text, "portcullis_session_lookup_seconds_count"),
        1.0
    );
    assert!(
        sample(&text, "portcullis_open_connections") >= 1.0,
        "the client's pooled connection is open"
    );
    assert!(
        sample(
            &text,
            "portcullis_config_last_reload_success_timestamp_seconds"
        ) > 1.7e9
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn reloads_are_counted_by_result() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let h = Harness::with_config(|upstream| {
        let text = config(upstream, ROUTES);
        std::fs::write(file.path(), &text).unwrap();
        text
    })
    .await;
    h.gateway.set_config_file(file.path().to_path_buf());
    assert_eq!(
        h.admin("POST", "/reload", Some(ADMIN_TOKEN), "")
            .await
            .status,
        200
    );
    std::fs::write(file.path(), "broken = [").unwrap();
    assert_eq!(
        h.admin("POST", "/reload", Some(ADMIN_TOKEN), "")
            .await
            .status,
        400
    );
    let text = metrics(&h).await;
    assert_eq!(
        sample(
            &text,
            r#"portcullis_config_reloads_total{result="success"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"portcullis_config_reloads_total{result="failure"}"#
        ),
        1.0
    );
}
