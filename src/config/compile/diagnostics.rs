//! `[diagnostics]`: what a denial tells the client about why.

use super::defaults;
use super::problems::Problems;
use crate::config::raw::RawDiagnostics;
use crate::config::snapshot::Diagnostics;

pub(super) fn diagnostics(problems: &mut Problems, raw: &RawDiagnostics) -> Diagnostics {
    let expose_reason = match raw
        .expose_reason
        .as_ref()
        .map_or((defaults::EXPOSE_REASON, 0..0), |e| {
            (e.get_ref().as_str(), e.span())
        }) {
        ("header", _) => true,
        ("off", _) => false,
        (other, span) => {
            problems.at(
                span,
                format!("diagnostics.expose_reason {other:?}: expected \"header\" or \"off\""),
            );
            true
        }
    };
    Diagnostics {
        expose_reason,
        debug: raw.debug.unwrap_or(defaults::DEBUG),
        self_explain: raw.self_explain.unwrap_or(defaults::SELF_EXPLAIN),
    }
}
