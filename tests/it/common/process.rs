//! A real `portcullis serve` OS process for tests that need the binary
//! (signals, several processes sharing a store); killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct ServeProcess {
    pub child: Child,
    /// `host:port` of the proxy listener, as the process logged it.
    pub proxy: String,
    /// `host:port` of the admin listener.
    pub admin: String,
}

impl ServeProcess {
    /// Starts `portcullis serve --config <config_file>` (listeners on port
    /// 0) and waits, bounded, for its "portcullis listening" line.
    pub fn start(config_file: &Path) -> ServeProcess {
        ServeProcess::spawn(Command::new(env!("CARGO_BIN_EXE_portcullis")), config_file)
    }

    /// `start`, with the open-file limit raised to `limit` (or the hard
    /// limit, if lower) for tests that hold thousands of connections.
    pub fn start_with_open_files(config_file: &Path, limit: u64) -> ServeProcess {
        let mut shell = Command::new("sh");
        shell.args([
            "-c",
            &format!(
                "ulimit -n {limit} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\""
            ),
            env!("CARGO_BIN_EXE_portcullis"),
        ]);
        ServeProcess::spawn(shell, config_file)
    }

    fn spawn(mut command: Command, config_file: &Path) -> ServeProcess {
        let mut child = command
            .args(["serve", "--config"])
            .arg(config_file)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            if err.read_line(&mut line).unwrap_or(0) == 0 || line.contains("portcullis listening") {
                break;
            }
        }
        assert!(line.contains("portcullis listening"), "{line}");
        // Keep draining stderr so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in err.lines() {});
        let field = |name: &str| {
            let start = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
            line[start..].split_whitespace().next().unwrap().to_string()
        };
        ServeProcess {
            proxy: field("proxy"),
            admin: field("admin"),
            child,
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
