//! The Python the tests run (with the packages in tests/requirements.txt),
//! from the virtualenv `scripts/test` creates.

use std::path::PathBuf;

/// The virtualenv's interpreter; a missing one fails the test with the
/// command that makes it.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("PORTCULLIS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/portcullis/venv")
        });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test creates it (python3 -m venv {} && {}/bin/pip install -r tests/requirements.txt)",
        python.display(),
        venv.display(),
        venv.display()
    );
    python
}

/// Runs `command`, which must succeed and print JSON; that JSON.
pub fn json_output(command: &mut std::process::Command) -> serde_json::Value {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
