//! Content negotiation for the gateway's own answers, as DRF's
//! `DefaultContentNegotiation.select_renderer` does it for a view with
//! `[JSONRenderer, BrowsableAPIRenderer]` (DRF's default): `?format=json`
//! or `?format=api` first narrows the renderers (any other value is a
//! 404); then the `Accept` entries are grouped by precedence, most
//! specific first (`type/subtype;param`, `type/subtype`, `type/*`, `*/*`),
//! and within a group the renderer order decides, so JSON wins ties. q
//! values are not weighed: DRF ignores them. No match is a 406.
//!
//! DRF negotiates in `APIView.initial`, before authentication and
//! permissions, so its 404 and 406 come before any 403 a view gives
//! (`pipeline::decide` applies them to the gateway's DRF-style denials).

pub mod media_type;

use std::borrow::Cow;

use http::header::{HeaderMap, ACCEPT};

use crate::headers::latin1;
use media_type::MediaType;

/// The renderer DRF picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    /// `JSONRenderer`, `application/json`, format `json`.
    Json,
    /// `BrowsableAPIRenderer`, `text/html`, format `api`: a browser's page.
    Html,
}

impl Renderer {
    /// In DRF's default order.
    const ALL: [Renderer; 2] = [Renderer::Json, Renderer::Html];

    fn media_type(self) -> (&'static str, &'static str) {
        match self {
            Renderer::Json => ("application", "json"),
            Renderer::Html => ("text", "html"),
        }
    }

    fn format(self) -> &'static str {
        match self {
            Renderer::Json => "json",
            Renderer::Html => "api",
        }
    }
}

/// Why no renderer was picked: what DRF answers instead (in JSON, its
/// first renderer, which `finalize_response` falls back to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `?format=` names no renderer: `Http404`, `{"detail":"Not found."}`.
    UnknownFormat,
    /// No renderer matches `Accept`: `NotAcceptable`, 406.
    NotAcceptable,
}

/// `DefaultContentNegotiation.select_renderer` for a request's headers
/// and query string.
pub fn select_renderer(headers: &HeaderMap, query: Option<&str>) -> Result<Renderer, Refusal> {
    let format = query.and_then(format_param).filter(|f| !f.is_empty());
    let offered = |renderer: &Renderer| format.as_ref().is_none_or(|f| renderer.format() == f);
    if !Renderer::ALL.iter().any(offered) {
        return Err(Refusal::UnknownFormat);
    }
    // `META.get("HTTP_ACCEPT", "*/*")`: repeated lines joined with ",",
    // as a WSGI server joins them.
    let mut values = headers.get_all(ACCEPT).iter();
    let accept: Cow<'_, str> = match (values.next(), values.next()) {
        (None, _) => Cow::Borrowed("*/*"),
        (Some(only), None) => latin1(only.as_bytes()),
        (Some(_), Some(_)) => {
            let all: Vec<Cow<'_, str>> = headers
                .get_all(ACCEPT)
                .iter()
                .map(|v| latin1(v.as_bytes()))
                .collect();
            Cow::Owned(all.join(","))
        }
    };
    // Most specific group first; within it, the renderers' order. Entries
    // without parameters are read again for each group rather than kept
    // (no allocation for the usual Accept); with parameters, whose parsing
    // allocates, they are parsed once.
    let entries = || {
        accept
            .split(',')
            .map(|entry| MediaType::parse(media_type::py_strip(entry)))
    };
    let parsed: Option<Vec<MediaType<'_>>> = accept.contains(';').then(|| entries().collect());
    let admitted = |precedence: u8, main: &str, sub: &str| {
        let fits = |m: &MediaType<'_>| m.precedence() == precedence && m.admits(main, sub);
        match &parsed {
            Some(all) => all.iter().any(fits),
            None => entries().any(|m| fits(&m)),
        }
    };
    for precedence in (0..=3).rev() {
        for renderer in Renderer::ALL.iter().filter(|r| offered(r)) {
            let (main, sub) = renderer.media_type();
            if admitted(precedence, main, sub) {
                return Ok(*renderer);
            }
        }
    }
    Err(Refusal::NotAcceptable)
}

/// `request.query_params.get("format")`: the last `format` value of the
/// query string, decoded as Django's `QueryDict` decodes it.
fn format_param(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "format")
        .last()
        .map(|(_, value)| value.into_owned())
}

/// True when DRF would render with the browsable API (a browser's HTML
/// page); JSON otherwise, also when it would refuse (it falls back to JSON).
pub fn prefers_html(headers: &HeaderMap, query: Option<&str>) -> bool {
    select_renderer(headers, query) == Ok(Renderer::Html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn pick(accept: Option<&str>, query: Option<&str>) -> Result<Renderer, Refusal> {
        let mut h = HeaderMap::new();
        if let Some(accept) = accept {
            h.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        select_renderer(&h, query)
    }

    #[test]
    fn browsers_get_html_api_clients_json() {
        use Renderer::*;
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(pick(Some(browser), None), Ok(Html));
        assert_eq!(pick(Some("text/html"), None), Ok(Html));
        assert_eq!(pick(Some("*/*"), None), Ok(Json));
        assert_eq!(pick(None, None), Ok(Json));
        assert_eq!(pick(Some("application/json"), None), Ok(Json));
    }

    #[test]
    fn q_values_are_ignored_and_json_wins_ties() {
        use Renderer::*;
        assert_eq!(
            pick(Some("text/html;q=1, application/json;q=0.1"), None),
            Ok(Json)
        );
        assert_eq!(
            pick(Some("application/json;q=0, text/html"), None),
            Ok(Json)
        );
        // A parameter other than q makes an entry more specific.
        assert_eq!(
            pick(Some("text/html;level=1, application/json"), None),
            Ok(Html)
        );
        assert_eq!(pick(Some("text/*, application/json;q=0.2"), None), Ok(Json));
        assert_eq!(pick(Some("text/*"), None), Ok(Html));
    }

    #[test]
    fn the_format_parameter_narrows_or_is_a_404() {
        use Renderer::*;
        assert_eq!(
            pick(Some("text/html"), Some("format=json")),
            Err(Refusal::NotAcceptable)
        );
        assert_eq!(pick(None, Some("format=api")), Ok(Html));
        assert_eq!(pick(None, Some("a=1&format=api&format=json")), Ok(Json));
        assert_eq!(pick(None, Some("form%61t=ap%69")), Ok(Html));
        assert_eq!(pick(None, Some("format=")), Ok(Json));
        assert_eq!(pick(None, Some("format=xml")), Err(Refusal::UnknownFormat));
        assert_eq!(pick(Some("image/png"), None), Err(Refusal::NotAcceptable));
        assert_eq!(pick(Some(""), None), Err(Refusal::NotAcceptable));
    }
}
