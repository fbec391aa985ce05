//! Configuration: the TOML file (`raw`), its validation (`compile`, with
//! every default in `defaults`), and the snapshot it becomes (`snapshot`'s
//! `Config`, whose restart-only part is `startup`). Every problem in a file
//! is reported at once, each with its line and column.

mod compile;
pub mod environment;
pub mod raw;
pub mod snapshot;
pub mod startup;

use std::fmt;
use std::path::Path;

pub use compile::defaults;
pub use snapshot::Config;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in, when it is not the main config file
    /// (a `users_file`).
    pub file: Option<String>,
    /// 1-based line and column, when the problem has a place in the file.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub origin: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", error.placed(&self.origin, ""))?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// `file:line:column: <label>message`, the file defaulting to `origin`.
    pub fn placed(&self, origin: &str, label: &str) -> String {
        let file = self.file.as_deref().unwrap_or(origin);
        match self.location {
            Some((line, column)) => format!("{file}:{line}:{column}: {label}{}", self.message),
            None => format!("{file}: {label}{}", self.message),
        }
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads and compiles a config file, with the environment's overrides
/// (`environment::OVERRIDES`) applied.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let origin = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        origin: origin.clone(),
        errors: vec![ConfigError {
            file: None,
            location: None,
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let overrides = environment::Overrides::from_env();
    compile::compile(&source, base, &overrides).map_err(|errors| ConfigErrors { origin, errors })
}

/// Compiles config text; `origin` names it in error messages. A relative
/// `users_file` is read from the current directory. No `PORTCULLIS_*`
/// override is applied (tests and the built-in `demo` config get exactly
/// the text; `admin.token_env` still names a variable to read).
pub fn parse(source: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let no_overrides = environment::Overrides::default();
    compile::compile(source, Path::new("."), &no_overrides).map_err(|errors| ConfigErrors {
        origin: origin.to_string(),
        errors,
    })
}
