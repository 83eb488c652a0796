//! `spawn_app()`: the real application on 127.0.0.1:0 with a temp data directory and SQLite
//! file, plus a client with one method per endpoint.

use reqwest::{Response, StatusCode};
use shoplake::app::Application;
use shoplake::auth::Keys;
use shoplake::config::{self, Settings};
use shoplake::domain::{Role, ShopId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// HS256 secret of the test apps.
pub const TEST_SECRET: &str = "test-secret-0123456789abcdef-0123456789";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        shoplake::telemetry::init(shoplake::config::LogFormat::Pretty, "debug,sqlx=warn");
    }
});

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub keys: Keys,
    pub data_dir: PathBuf,
    extra: Vec<(String, String)>,
    _temp: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts an app with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts an app; `extra` are `SHOPLAKE_*` variables layered over the test defaults.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    LazyLock::force(&TRACING);
    let temp = tempfile::tempdir().expect("temp dir");
    start_in(temp, extra).await
}

/// Starts an app whose data directory and database live in `temp`.
async fn start_in(temp: tempfile::TempDir, extra: &[(&str, &str)]) -> TestApp {
    let data_dir = temp.path().join("data");
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("SHOPLAKE_LISTEN".into(), "127.0.0.1:0".into());
    env.insert("SHOPLAKE_STORAGE".into(), data_dir.display().to_string());
    env.insert("SHOPLAKE_DATABASE_URL".into(), format!("sqlite://{}", temp.path().join("state.db").display()));
    env.insert("SHOPLAKE_JWT_SECRET".into(), TEST_SECRET.into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = config::load(None, &env).expect("test settings are valid");
    let keys = Keys::from_settings(&settings).expect("keys");
    let app = Application::build(settings.clone()).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        settings,
        keys,
        data_dir,
        extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        _temp: temp,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// A token for `role` (and `shop` for role shop).
    pub fn token(&self, role: Role, shop: Option<&str>) -> String {
        let shop = shop.map(|s| ShopId::parse(s).unwrap());
        self.keys.sign("test", role, shop.as_ref(), 3600).unwrap()
    }

    pub fn shop_token(&self, shop: &str) -> String {
        self.token(Role::Shop, Some(shop))
    }

    pub fn admin_token(&self) -> String {
        self.token(Role::Admin, None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `POST /v1/shops/{shop}/uploads?date=` with a raw `text/csv` body.
    pub async fn upload_csv(&self, token: &str, shop: &str, date: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url(&format!("/v1/shops/{shop}/uploads?date={date}")))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// The same as a multipart form with a `date` part and a `file` part.
    pub async fn upload_multipart(
        &self,
        token: &str,
        shop: &str,
        date: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Response {
        let form = reqwest::multipart::Form::new().text("date", date.to_owned()).part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()).mime_str("text/csv").unwrap(),
        );
        self.client
            .post(self.url(&format!("/v1/shops/{shop}/uploads")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_upload(&self, token: &str, id: &str) -> Response {
        self.client.get(self.url(&format!("/v1/uploads/{id}"))).bearer_auth(token).send().await.unwrap()
    }

    pub async fn list_uploads(&self, token: &str, shop: &str, query: &str) -> Response {
        self.client.get(self.url(&format!("/v1/shops/{shop}/uploads{query}"))).bearer_auth(token).send().await.unwrap()
    }

    /// All files under the data directory (relative paths, sorted), excluding the state files.
    pub fn files(&self) -> Vec<String> {
        files_in(&self.data_dir)
    }

    /// Files left in the storage's temporary directory.
    pub fn temp_files(&self) -> Vec<String> {
        self.files().into_iter().filter(|f| f.starts_with(".tmp/")).collect()
    }

    /// Stops the server and starts a new one on the same data directory and database (as after
    /// a crash or a deploy); returns it.
    pub async fn restart(self) -> TestApp {
        self.restart_with(&[]).await
    }

    /// Like [`TestApp::restart`], with more `SHOPLAKE_*` variables for the new process.
    pub async fn restart_with(mut self, more: &[(&str, &str)]) -> TestApp {
        self.stop_server().await;
        let temp = std::mem::replace(&mut self._temp, tempfile::tempdir().unwrap());
        let mut extra = self.extra.clone();
        extra.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        start_in(temp, &extra).await
    }

    /// A connection to the app's SQLite state database, for checks and sabotage.
    pub async fn database(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&self.settings.database_url).await.unwrap()
    }

    /// Stops the server gracefully and waits for it.
    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }
}

/// Every file under `dir` (relative paths, sorted); empty when `dir` does not exist.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, found);
        } else {
            found.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

/// Asserts the status and that the body is problem+json with the RFC 9457 members; returns it.
pub async fn assert_problem(response: Response, status: StatusCode) -> serde_json::Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: serde_json::Value = response.json().await.expect("problem is JSON");
    assert_eq!(body["status"], status.as_u16());
    for member in ["type", "title", "detail", "instance"] {
        assert!(body[member].is_string(), "problem lacks '{member}': {body}");
    }
    body
}

/// A small valid sales file.
pub fn sample_csv(date: &str, rows: usize) -> String {
    let mut text =
        String::from("transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method\n");
    for i in 0..rows {
        text.push_str(&format!(
            "T-{i:05},{date}T10:{:02}:00,SKU{:05},Olive oil,{},{}.49,EUR,card\n",
            i % 60,
            i % 500,
            1 + i % 5,
            1 + i % 40
        ));
    }
    text
}

/// Exact SUM(price * quantity) of `sample_csv(_, rows)` in cents, computed from the generator's
/// rule (price `1 + i % 40` + .49, quantity `1 + i % 5`), not from shoplake.
pub fn sample_total_cents(rows: usize) -> i128 {
    (0..rows).map(|i| ((1 + i % 40) as i128 * 100 + 49) * (1 + i % 5) as i128).sum()
}

/// The same total as a scale-4 decimal string, as engines print `decimal(_,4)` sums.
pub fn sample_total(rows: usize) -> String {
    let cents = sample_total_cents(rows);
    format!("{}.{:02}00", cents / 100, cents % 100)
}
