//! Content negotiation for the gateway's own answers: HTML for clients that
//! prefer `text/html` over JSON (browsers), DRF's JSON otherwise.

use http::header::{HeaderMap, ACCEPT};

/// True when the Accept header ranks `text/html` above `application/json`.
/// Each is ranked by the most specific media range matching it (exact, then
/// `type/*`, then `*/*`), as RFC 9110 says; a tie goes to JSON.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    quality(accept, "text", "html") > quality(accept, "application", "json")
}

fn quality(accept: &str, kind: &str, subtype: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim();
        let Some((k, s)) = media.split_once('/') else {
            continue;
        };
        let specificity = match (k.trim(), s.trim()) {
            (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype) => 3,
            (k, "*") if k.eq_ignore_ascii_case(kind) => 2,
            ("*", "*") => 1,
            _ => continue,
        };
        let q = params
            .filter_map(|p| p.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn prefers(accept: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        prefers_html(&h)
    }

    #[test]
    fn browsers_get_html_api_clients_json() {
        assert!(prefers(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(prefers("text/html"));
        assert!(!prefers("*/*"));
        assert!(!prefers("application/json"));
        assert!(!prefers("application/json, text/html;q=0.5"));
        assert!(!prefers("text/html;q=0.5, application/json"));
        assert!(prefers("text/*, application/json;q=0.2"));
        assert!(!prefers_html(&HeaderMap::new()));
    }
}
