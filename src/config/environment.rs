//! Settings the environment overrides, for containers and orchestrators
//! (`PORTCULLIS_UPSTREAM=http://127.0.0.1:8000`): applied to the file's raw
//! settings before validation, so an override is checked exactly like the
//! key it replaces, and a problem with it names the variable.

use std::ops::Range;

use toml::Spanned;

use super::raw::RawConfig;

/// An environment variable and the setting it replaces.
pub struct Override {
    pub variable: &'static str,
    pub key: &'static str,
    set: fn(&mut RawConfig, Spanned<String>),
}

/// Every override, in the order they are applied.
pub const OVERRIDES: [Override; 4] = [
    Override {
        variable: "PORTCULLIS_LISTEN",
        key: "server.listen",
        set: |raw, value| raw.server.listen = value,
    },
    Override {
        variable: "PORTCULLIS_ADMIN_LISTEN",
        key: "server.admin_listen",
        set: |raw, value| raw.server.admin_listen = value,
    },
    Override {
        variable: "PORTCULLIS_UPSTREAM",
        key: "upstream.url",
        // Sets `[upstream]`'s URL, making the section when the file has
        // only `[[upstreams]]`.
        set: |raw, value| match &mut raw.upstream {
            Some(upstream) => upstream.url = value,
            None => {
                raw.upstream = Some(crate::config::raw::RawUpstream {
                    name: None,
                    url: value,
                    connect_timeout: None,
                    timeout: None,
                    ca_file: None,
                })
            }
        },
    },
    Override {
        variable: "PORTCULLIS_ADMIN_TOKEN",
        key: "admin.token",
        set: |raw, value| {
            raw.admin.token = Some(value);
            raw.admin.token_env = None;
        },
    },
];

/// OpenTelemetry's standard variables: each fills in a `[telemetry]` key
/// the file leaves unset (the file wins), and only when the file has a
/// `[telemetry]` section (a variable set for every container of a pod
/// does not turn tracing on by itself).
pub const FALLBACKS: [Override; 2] = [
    Override {
        variable: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        key: "telemetry.otlp_endpoint",
        set: |raw, value| {
            if let Some(telemetry) = &mut raw.telemetry {
                let telemetry = telemetry.get_mut();
                telemetry.otlp_endpoint.get_or_insert(value);
            }
        },
    },
    Override {
        variable: "OTEL_SERVICE_NAME",
        key: "telemetry.service_name",
        set: |raw, value| {
            if let Some(telemetry) = &mut raw.telemetry {
                let telemetry = telemetry.get_mut();
                telemetry.service_name.get_or_insert(value);
            }
        },
    },
];

/// `OVERRIDES`, then `FALLBACKS`: an index into this is an override's.
fn every() -> impl Iterator<Item = &'static Override> {
    OVERRIDES.iter().chain(FALLBACKS.iter())
}

/// The override values in force (by index into `every()`).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    values: Vec<(usize, String)>,
}

impl Overrides {
    /// The overrides set (and non-empty) in this process's environment.
    pub fn from_env() -> Overrides {
        let values = every()
            .enumerate()
            .filter_map(|(index, o)| {
                std::env::var(o.variable)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (index, v))
            })
            .collect();
        Overrides { values }
    }

    /// Replaces the overridden settings in `raw`. Each value gets a span
    /// just past the end of the file (`source_len`), by which
    /// `variable_at` finds the variable again for error messages.
    pub fn apply(&self, raw: &mut RawConfig, source_len: usize) {
        for (index, value) in &self.values {
            let spanned = Spanned::new(span_of(*index, source_len), value.clone());
            if let Some(variable) = every().nth(*index) {
                (variable.set)(raw, spanned);
            }
        }
    }
}

fn span_of(index: usize, source_len: usize) -> Range<usize> {
    let at = source_len + 1 + index;
    at..at
}

/// The variable behind an override's span, for a problem found in it.
pub fn variable_at(offset: usize, source_len: usize) -> Option<&'static str> {
    offset
        .checked_sub(source_len + 1)
        .and_then(|index| every().nth(index))
        .map(|o| o.variable)
}
