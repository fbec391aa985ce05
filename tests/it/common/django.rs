//! A real Django project (tests/django_project, copied into a temporary
//! directory) on SQLite or on a real PostgreSQL started for the test: its
//! `fixture` management command makes users and sessions through Django's
//! own APIs, and `serve` runs it as an HTTP upstream. Everything stops and
//! is removed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::python::python;

/// Where the project's data lives.
pub enum Database {
    Sqlite,
    Postgres(Postgres),
}

pub struct DjangoProject {
    pub dir: tempfile::TempDir,
    pub database: Database,
    pub secret_key: String,
    pub fallbacks: Vec<String>,
    pub csrf_use_sessions: bool,
    /// `AUTH_USER_MODEL = "shop.Account"` (UUID keys) instead of auth.User.
    pub account_model: bool,
    /// More settings by environment (`PJ_AUTH`, `PJ_JWT_AUDIENCE`: see
    /// settings.py), for `serve` and `manage`.
    pub env: Vec<(String, String)>,
}

impl DjangoProject {
    /// Copies the project, then `makemigrations` and `migrate`.
    pub fn new(database: Database, secret_key: &str, csrf_use_sessions: bool) -> DjangoProject {
        DjangoProject::build(database, secret_key, csrf_use_sessions, false)
    }

    /// The project with the custom `shop.Account` user model (UUID keys).
    pub fn with_account_model(database: Database, secret_key: &str) -> DjangoProject {
        DjangoProject::build(database, secret_key, false, true)
    }

    fn build(
        database: Database,
        secret_key: &str,
        csrf_use_sessions: bool,
        account_model: bool,
    ) -> DjangoProject {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django_project"),
            dir.path(),
        );
        let project = DjangoProject {
            dir,
            database,
            secret_key: secret_key.to_string(),
            fallbacks: Vec::new(),
            csrf_use_sessions,
            account_model,
            env: Vec::new(),
        };
        project.manage(&["makemigrations", "shop", "-v0"]);
        project.manage(&["migrate", "-v0"]);
        project
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("db.sqlite3")
    }

    /// `[django] database` for the gateway.
    pub fn database_url(&self) -> String {
        match &self.database {
            Database::Sqlite => format!("sqlite://{}", self.sqlite_path().display()),
            Database::Postgres(pg) => {
                format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port)
            }
        }
    }

    fn command(&self, script: &str) -> Command {
        let mut command = Command::new(python());
        command
            .arg(self.dir.path().join(script))
            .current_dir(self.dir.path())
            .env("PJ_SECRET_KEY", &self.secret_key)
            .env("PJ_SECRET_KEY_FALLBACKS", self.fallbacks.join(","))
            .env(
                "PJ_USER_MODEL",
                if self.account_model {
                    "account"
                } else {
                    "user"
                },
            )
            .env(
                "PJ_CSRF_USE_SESSIONS",
                if self.csrf_use_sessions { "1" } else { "0" },
            )
            .env(
                "PJ_DATABASE",
                match &self.database {
                    Database::Sqlite => format!("sqlite:{}", self.sqlite_path().display()),
                    Database::Postgres(pg) => {
                        format!("postgres:127.0.0.1:{}:postgres:postgres", pg.port)
                    }
                },
            );
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// `manage.py <args>`; panics with Django's output when it fails.
    pub fn manage(&self, args: &[&str]) -> String {
        let output = self.command("manage.py").args(args).output().unwrap();
        assert!(
            output.status.success(),
            "manage.py {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `manage.py fixture <args>`: its JSON answer.
    pub fn fixture(&self, args: &[&str]) -> Value {
        let mut all = vec!["fixture"];
        all.extend_from_slice(args);
        let out = self.manage(&all);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// The same project with another `SECRET_KEY` (the fixture commands
    /// then sign with it).
    pub fn with_secret_key(&mut self, key: &str, fallbacks: &[&str]) {
        self.secret_key = key.to_string();
        self.fallbacks = fallbacks.iter().map(|f| f.to_string()).collect();
    }

    /// Runs the site on a free loopback port until dropped.
    pub fn serve(&self) -> DjangoServer {
        let mut child = self
            .command("serve.py")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("serve.py printed {line:?}"));
        DjangoServer { child, port }
    }
}

pub struct DjangoServer {
    child: Child,
    pub port: u16,
}

impl DjangoServer {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for DjangoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == "__pycache__" || entry.file_name() == "migrations" {
                continue;
            }
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A PostgreSQL server from Debian's packages, in its own temporary data
/// directory on a free loopback port, trusting local connections. As
/// root it runs as the `postgres` user (PostgreSQL refuses root).
pub struct Postgres {
    pub port: u16,
    data: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    /// `-c` settings beyond the defaults (TLS).
    options: String,
    _dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(false)
    }

    /// A server that takes TCP connections only over TLS (`hostssl` in
    /// pg_hba.conf), with a certificate for `localhost` from a test CA;
    /// returns it and the CA's PEM file.
    pub fn start_tls() -> (Postgres, PathBuf) {
        let pg = Postgres::start_with(true);
        let ca = pg._dir.path().join("ca.pem");
        (pg, ca)
    }

    fn start_with(tls: bool) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect(
                "PostgreSQL is not installed: scripts/test installs Debian's postgresql package",
            )
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("no /usr/lib/postgresql/*/bin/initdb");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let mut pg = Postgres {
            port: 0,
            data,
            bin,
            as_postgres,
            options: String::new(),
            _dir: dir,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        if tls {
            let (_, cert, key) = super::tls::tls_files(pg._dir.path());
            std::fs::write(
                pg.data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            if pg.as_postgres {
                let status = Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(pg._dir.path())
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            pg.options = format!(" -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}");
        }
        // A free port: bound and released just before the server takes it.
        pg.port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        pg.restart();
        pg
    }

    /// `postgres://` through the server's unix socket instead of TCP.
    pub fn socket_url(&self) -> String {
        format!(
            "postgres://postgres@/postgres?host={}&port={}",
            self._dir.path().display(),
            self.port
        )
    }

    /// Starts the server (again, after `stop`) on the same port and data.
    pub fn restart(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{}",
            self.port,
            self._dir.path().display(),
            self.options
        );
        let log = self._dir.path().join("log").display().to_string();
        let data = self.data.display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-w", "-t", "60", "-l", &log, "start",
            ],
        );
    }

    /// `program` from PostgreSQL's bin directory, as the `postgres` user
    /// when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops the server at once (the data directory is thrown away).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Already stopped (`stop`) is fine: nothing to assert here.
        let data = self.data.display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
