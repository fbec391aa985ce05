//! Problems found while compiling a config file: errors (the file is
//! refused) and warnings (`check` prints them, `serve` logs them), each
//! placed at its line and column, or at the environment variable that set
//! the value.

use std::ops::Range;

use crate::config::ConfigError;

/// Problems found so far, placed in `source` (the main config, or with
/// `file` set, a users file).
pub(super) struct Problems<'s> {
    pub(super) source: &'s str,
    pub(super) file: Option<String>,
    pub(super) errors: Vec<ConfigError>,
    /// Suspicious but loadable: `check` prints them, `serve` logs them.
    pub(super) warnings: Vec<ConfigError>,
}
impl Problems<'_> {
    pub(super) fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        if let Some(variable) =
            crate::config::environment::variable_at(span.start, self.source.len())
        {
            // An environment override: name the variable, not a line.
            self.errors.push(ConfigError {
                file: self.file.clone(),
                location: None,
                message: format!("{variable} (environment): {}", message.into()),
            });
            return;
        }
        let location = Some(line_column(self.source, span.start));
        self.errors.push(ConfigError {
            file: self.file.clone(),
            location,
            message: message.into(),
        });
    }

    pub(super) fn warn(&mut self, span: Range<usize>, message: impl Into<String>) {
        let location = Some(line_column(self.source, span.start));
        self.warnings.push(ConfigError {
            file: self.file.clone(),
            location,
            message: message.into(),
        });
    }

    pub(super) fn anywhere(&mut self, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            location: None,
            message: message.into(),
        });
    }
}

pub(super) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let s = "a\nbc\nd";
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 3), (2, 2));
        assert_eq!(line_column(s, 5), (3, 1));
    }
}
