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
}

/// Every override, in the order they are applied.
pub const OVERRIDES: [Override; 4] = [
    Override {
        variable: "PORTCULLIS_LISTEN",
        key: "server.listen",
    },
    Override {
        variable: "PORTCULLIS_ADMIN_LISTEN",
        key: "server.admin_listen",
    },
    Override {
        variable: "PORTCULLIS_UPSTREAM",
        key: "upstream.url",
    },
    Override {
        variable: "PORTCULLIS_ADMIN_TOKEN",
        key: "admin.token",
    },
];

/// The override values in force (by index into `OVERRIDES`).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    values: Vec<(usize, String)>,
}

impl Overrides {
    /// The overrides set (and non-empty) in this process's environment.
    pub fn from_env() -> Overrides {
        Overrides::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Overrides {
        let values = OVERRIDES
            .iter()
            .enumerate()
            .filter_map(|(index, o)| {
                lookup(o.variable)
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
            match OVERRIDES[*index].key {
                "server.listen" => raw.server.listen = spanned,
                "server.admin_listen" => raw.server.admin_listen = spanned,
                "upstream.url" => raw.upstream.url = spanned,
                "admin.token" => {
                    raw.admin.token = Some(spanned);
                    raw.admin.token_env = None;
                }
                _ => {}
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
        .and_then(|index| OVERRIDES.get(index))
        .map(|o| o.variable)
}
