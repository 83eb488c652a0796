//! `spawn_app()`: the real application on 127.0.0.1:0, plus a client with one method per
//! endpoint and a view of its storage and database.
//!
//! The suite runs on both back ends, chosen by `SHOPLAKE_TEST_BACKEND` (`scripts/test.sh` runs
//! it once per back end):
//! - `local` (default): a temp data directory and SQLite file;
//! - `s3`: a fresh bucket on the S3 server at `AWS_ENDPOINT_URL` (moto, started by the script)
//!   and a fresh schema in the PostgreSQL database `SHOPLAKE_TEST_POSTGRES_URL`.
//!
//! Tests look at storage through the same `BlobStore` trait the service uses (`files`,
//! `read_object`, ...), so one test body holds for both.

use arrow::array::{Array, Decimal128Array, Int64Array, RecordBatchReader};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use reqwest::{Response, StatusCode};
use shoplake::app::Application;
use shoplake::auth::Keys;
use shoplake::config::{self, Settings};
use shoplake::domain::{Role, ShopId};
use shoplake::storage::{BlobStore, LocalFs, PutMode, S3Options, S3Store, StorageError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// HS256 secret of the test apps.
pub const TEST_SECRET: &str = "test-secret-0123456789abcdef-0123456789";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        shoplake::telemetry::init(shoplake::config::LogFormat::Pretty, "debug,sqlx=warn");
    }
});

/// Where a test app keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A directory and a SQLite file inside the test's temp directory.
    Local,
    /// A bucket of its own (key prefix `lake`) and a PostgreSQL schema of its own.
    S3 {
        /// The test's bucket.
        bucket: String,
        /// PostgreSQL URL whose `search_path` is the test's schema.
        database_url: String,
    },
}

/// The back end this run of the suite tests.
pub fn s3_backend() -> bool {
    std::env::var("SHOPLAKE_TEST_BACKEND").is_ok_and(|b| b == "s3")
}

impl Backend {
    /// A fresh back end of the kind this run tests.
    pub async fn fresh() -> Self {
        if !s3_backend() {
            return Backend::Local;
        }
        let name = uuid::Uuid::now_v7().simple().to_string();
        let bucket = format!("t-{name}");
        let s3 = s3_store(&bucket).await;
        s3.client().create_bucket().bucket(&bucket).send().await.expect("the test S3 server creates a bucket");
        let base = std::env::var("SHOPLAKE_TEST_POSTGRES_URL")
            .expect("SHOPLAKE_TEST_POSTGRES_URL (set by scripts/test.sh for the s3 back end)");
        let schema = format!("t_{name}");
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await.expect("PostgreSQL answers");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create schema {schema}"))).execute(&mut admin).await.unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        Backend::S3 { bucket, database_url: format!("{base}{separator}options=-c%20search_path%3D{schema}") }
    }
}

/// The test's own client of a bucket (key prefix `lake`, as the apps use).
pub async fn s3_store(bucket: &str) -> S3Store {
    let options =
        S3Options { bucket: bucket.to_owned(), prefix: "lake".into(), part_size: 8 << 20, force_path_style: None };
    S3Store::connect(&options).await.expect("S3 client")
}

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub keys: Keys,
    /// The local data directory (back end `Local`; unused on S3).
    pub data_dir: PathBuf,
    /// Where the app keeps its data.
    pub backend: Backend,
    /// The test's view of the app's storage.
    pub store: Arc<dyn BlobStore>,
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
    start_in(temp, Backend::fresh().await, extra).await
}

/// The `SHOPLAKE_STORAGE` and `SHOPLAKE_DATABASE_URL` of an app on `backend` in `temp`.
pub fn backend_env(backend: &Backend, temp: &Path) -> [(String, String); 2] {
    let (storage, database) = match backend {
        Backend::Local => {
            (temp.join("data").display().to_string(), format!("sqlite://{}", temp.join("state.db").display()))
        }
        Backend::S3 { bucket, database_url } => (format!("s3://{bucket}/lake"), database_url.clone()),
    };
    [("SHOPLAKE_STORAGE".into(), storage), ("SHOPLAKE_DATABASE_URL".into(), database)]
}

/// The environment of a `shoplake serve` process on `backend` (see `server_process`): storage,
/// database, the test secret, and the S3 server's `AWS_*` variables.
pub fn server_env(backend: &Backend, dir: &std::path::Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = backend_env(backend, dir).into_iter().collect();
    env.push(("SHOPLAKE_JWT_SECRET".into(), TEST_SECRET.into()));
    env.push(("SHOPLAKE_LOG".into(), "warn".into()));
    for name in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        if let Ok(value) = std::env::var(name) {
            env.push((name.into(), value));
        }
    }
    env
}

/// Starts an app on `backend` (whose local files live in `temp`).
async fn start_in(temp: tempfile::TempDir, backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let data_dir = temp.path().join("data");
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("SHOPLAKE_LISTEN".into(), "127.0.0.1:0".into());
    env.extend(backend_env(&backend, temp.path()));
    env.insert("SHOPLAKE_JWT_SECRET".into(), TEST_SECRET.into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = config::load(None, &env).expect("test settings are valid");
    let keys = Keys::from_settings(&settings.key_settings()).expect("keys");
    let app = Application::build(settings.clone()).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let store: Arc<dyn BlobStore> = match &backend {
        Backend::Local => Arc::new(LocalFs::open(&data_dir).await.unwrap()),
        Backend::S3 { bucket, .. } => Arc::new(s3_store(bucket).await),
    };
    TestApp {
        backend,
        store,
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

    /// Every stored object's key (sorted): `raw/...`, `processed/...`, `rejected/...`.
    pub async fn files(&self) -> Vec<String> {
        let listed = self.store.list("").await.expect("storage lists");
        listed.into_iter().map(|o| o.key).filter(|k| !k.starts_with(".shoplake/")).collect()
    }

    /// What interrupted puts left: files in the local store's temporary directory, or open
    /// multipart uploads in the bucket.
    pub async fn temp_files(&self) -> Vec<String> {
        match &self.backend {
            Backend::Local => files_in(&self.data_dir.join(".tmp")),
            Backend::S3 { bucket, .. } => {
                let s3 = s3_store(bucket).await;
                let open = s3.client().list_multipart_uploads().bucket(bucket).send().await.unwrap();
                open.uploads().iter().filter_map(|u| u.key().map(str::to_owned)).collect()
            }
        }
    }

    /// Leaves what a put cut off by a crash leaves: a temporary file, or an open multipart
    /// upload (with one part) in the bucket.
    pub async fn leave_incomplete_put(&self) {
        match &self.backend {
            Backend::Local => std::fs::write(self.data_dir.join(".tmp/0000.parquet.part"), "junk").unwrap(),
            Backend::S3 { bucket, .. } => {
                let s3 = s3_store(bucket).await;
                let key = "lake/processed/shop_id=009/date=2025-07-30/data.parquet";
                let open = s3.client().create_multipart_upload().bucket(bucket).key(key).send().await.unwrap();
                s3.client()
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(open.upload_id().unwrap())
                    .part_number(1)
                    .body(b"junk".to_vec().into())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Makes storage refuse every write: the local scratch directory becomes a file (root
    /// ignores permissions), or the bucket is deleted.
    pub async fn break_storage(&self) {
        match &self.backend {
            Backend::Local => {
                let scratch = self.data_dir.join(".tmp");
                std::fs::remove_dir_all(&scratch).unwrap();
                std::fs::write(&scratch, b"not a directory").unwrap();
            }
            Backend::S3 { bucket, .. } => {
                let s3 = s3_store(bucket).await;
                for object in s3.list("").await.unwrap() {
                    s3.delete(&object.key).await.unwrap();
                }
                s3.client().delete_bucket().bucket(bucket).send().await.expect("bucket deleted");
            }
        }
    }

    /// An object's bytes, `None` when there is none at `key`.
    pub async fn read_object(&self, key: &str) -> Option<Vec<u8>> {
        let mut reader = match self.store.get(key).await {
            Ok(reader) => reader,
            Err(StorageError::NotFound(_)) => return None,
            Err(other) => panic!("reading {key}: {other}"),
        };
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut bytes).await.expect("object reads");
        Some(bytes)
    }

    /// Deletes an object behind the service's back (sabotage).
    pub async fn delete_object(&self, key: &str) {
        self.store.delete(key).await.expect("object deleted");
    }

    /// Deletes every object under a prefix behind the service's back.
    pub async fn delete_objects_under(&self, prefix: &str) {
        for object in self.store.list(prefix).await.unwrap() {
            self.delete_object(&object.key).await;
        }
    }

    /// Writes an object behind the service's back.
    pub async fn write_object(&self, key: &str, bytes: &[u8]) {
        self.store.put_stream(key, &mut &bytes[..], PutMode::Replace).await.expect("object written");
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
        start_in(temp, self.backend.clone(), &extra).await
    }

    /// A connection pool to the app's state database (SQLite or PostgreSQL), for checks and
    /// sabotage; write portable SQL with `$1` placeholders.
    pub async fn database(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.settings.database_url).await.unwrap()
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

/// `GET url` with a bearer token, the answer as JSON (any status).
pub async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// `POST {base}/v1/query` with `sql`, the answer as JSON (any status).
pub async fn query_json(client: &reqwest::Client, base: &str, token: &str, sql: &str) -> serde_json::Value {
    let request = client.post(format!("{base}/v1/query")).bearer_auth(token).json(&serde_json::json!({ "sql": sql }));
    request.send().await.unwrap().json().await.unwrap()
}

/// A request body fed chunk by chunk through the returned sender (dropping it ends the body;
/// sending an error breaks it), for bodies that arrive slowly or stop half-way.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>, reqwest::Body) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let chunks = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    (sender, reqwest::Body::wrap_stream(chunks))
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

/// Reads a partition file: (row count, SUM(price * quantity) in cents, price and sold_at types).
pub async fn read_partition(app: &TestApp, key: &str) -> (usize, i128, DataType, DataType) {
    partition_figures(app.read_object(key).await.expect("partition file exists"))
}

/// (row count, SUM(price * quantity) in cents, price and sold_at types) of a Parquet file's bytes.
pub fn partition_figures(parquet: Vec<u8>) -> (usize, i128, DataType, DataType) {
    let file = bytes::Bytes::from(parquet);
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let schema = reader.schema();
    let price_type = schema.field_with_name("price").unwrap().data_type().clone();
    let sold_at_type = schema.field_with_name("sold_at").unwrap().data_type().clone();
    assert!(
        schema.field_with_name("shop_id").is_err() && schema.field_with_name("date").is_err(),
        "partition columns live in the path only"
    );
    let (mut rows, mut total) = (0usize, 0i128);
    for batch in reader {
        let batch = batch.unwrap();
        let price = batch.column_by_name("price").unwrap().as_any().downcast_ref::<Decimal128Array>().unwrap().clone();
        let quantity = batch.column_by_name("quantity").unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
        for row in 0..batch.num_rows() {
            total += price.value(row) * quantity.value(row) as i128;
        }
        rows += batch.num_rows();
    }
    (rows, total / 100, price_type, sold_at_type) // scale 4 -> cents
}
