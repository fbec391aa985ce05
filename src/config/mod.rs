//! Configuration: the TOML file (`raw`), its validation into the runtime
//! snapshot (`compile`), and the snapshot types (`runtime`). Every problem in
//! a file is reported at once, each with its line and column.

mod compile;
pub mod raw;
pub mod runtime;

use std::fmt;
use std::path::Path;

pub use runtime::Runtime;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
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
            match error.location {
                Some((line, column)) => {
                    write!(f, "{}:{line}:{column}: {}", self.origin, error.message)?
                }
                None => write!(f, "{}: {}", self.origin, error.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads and compiles a config file.
pub fn load(path: &Path) -> Result<Runtime, ConfigErrors> {
    let origin = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        origin: origin.clone(),
        errors: vec![ConfigError {
            location: None,
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    parse(&source, &origin)
}

/// Compiles config text; `origin` names it in error messages.
pub fn parse(source: &str, origin: &str) -> Result<Runtime, ConfigErrors> {
    compile::compile(source).map_err(|errors| ConfigErrors {
        origin: origin.to_string(),
        errors,
    })
}
