//! `explain` for people: the stages as aligned lines, then the decision,
//! the response or the forwarded head, and the fix.

use std::fmt::Write;

use super::Explanation;

pub fn text(explanation: &Explanation) -> String {
    let mut out = String::new();
    let host = explanation.host.as_deref().unwrap_or("-");
    let _ = writeln!(
        out,
        "{} {}  (Host: {host})\n",
        explanation.method, explanation.url
    );
    for step in &explanation.steps {
        let _ = writeln!(
            out,
            "  {:<10} {:<5} {}: {}",
            step.stage,
            step.outcome.as_str(),
            step.check,
            step.detail
        );
    }
    out.push('\n');
    match &explanation.reason {
        Some(reason) => {
            let _ = writeln!(out, "decision: {} ({reason})", explanation.decision);
        }
        None => {
            let _ = writeln!(out, "decision: {}", explanation.decision);
        }
    }
    if let Some(detail) = &explanation.detail {
        let _ = writeln!(out, "detail:   {detail}");
    }
    if let Some(response) = &explanation.response {
        let _ = writeln!(out, "\nthe client gets:\n  HTTP {}", response.status);
        for (name, value) in &response.headers {
            let _ = writeln!(out, "  {name}: {value}");
        }
        if !response.body.is_empty() {
            let _ = writeln!(
                out,
                "\n  {}",
                response.body.trim_end().replace('\n', "\n  ")
            );
        }
    }
    if let Some(upstream) = &explanation.upstream {
        let _ = writeln!(out, "upstream: {} ({})", upstream.name, upstream.url);
    }
    if let Some(upstream) = &explanation.upstream_request {
        let _ = writeln!(
            out,
            "\nforwarded upstream as:\n  {} {}",
            upstream.method, upstream.uri
        );
        for (name, value) in &upstream.headers {
            let _ = writeln!(out, "  {name}: {value}");
        }
    }
    if let Some(hint) = &explanation.hint {
        let _ = writeln!(out, "\nfix: {hint}");
    }
    out
}
