//! The real `shoplake serve` binary as a child process, for tests that need a real process:
//! signals (SIGTERM, SIGKILL), start-up behaviour and logs.

use crate::helpers::TEST_SECRET;
use shoplake::auth::Keys;
use shoplake::domain::{Role, ShopId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_shoplake");

/// A command with no inherited SHOPLAKE_* variables, run in `dir`.
pub fn shoplake(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// A running `shoplake serve` child; its stderr goes to `log`.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `shoplake serve` in `dir` with `envs` on a free port, appending its stderr to
    /// `dir/server.log`, and waits until it answers `/healthz` (the start-up reconciler has
    /// run by then: it runs before the listener is bound).
    pub async fn start(dir: &Path, envs: &[(&str, &str)]) -> Self {
        Self::start_wrapped(dir, envs, &[BIN]).await
    }

    /// Like [`ServerProcess::start`], run through `program` (e.g. `prlimit --as=3G -- BIN`):
    /// the last element is the binary, the others wrap it.
    pub async fn start_wrapped(dir: &Path, envs: &[(&str, &str)], program: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join("server.log");
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut command = Command::new(program[0]);
        command.args(&program[1..]).current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        command
            .arg("serve")
            .env("SHOPLAKE_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if reqwest::get(format!("{url}/healthz")).await.is_ok() {
                return Self { child, url, log };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("server exited with {status}:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    /// SIGKILL, as a crash or an OOM kill would; waits until the process is gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM (graceful shutdown); waits for the exit and returns everything logged so far.
    pub fn terminate(mut self) -> String {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for ServerProcess {
    /// A test that fails half-way leaves no server behind (a no-op once the child was waited for).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keys signing with [`TEST_SECRET`], for servers started with it.
pub fn test_keys() -> Keys {
    let env = BTreeMap::from([("SHOPLAKE_JWT_SECRET".to_owned(), TEST_SECRET.to_owned())]);
    let settings = shoplake::config::load(None, &env).expect("settings");
    Keys::from_settings(&settings.key_settings()).expect("keys")
}

/// A one-hour token for `role` (and `shop` for role shop), signed with [`TEST_SECRET`].
pub fn test_token(role: Role, shop: Option<&str>) -> String {
    let shop = shop.map(|s| ShopId::parse(s).unwrap());
    test_keys().sign("test", role, shop.as_ref(), 3600).unwrap()
}
