//! The effective, typed settings the rest of the service reads, and the value types of their
//! fields (where blobs live, which catalog, which query engine, the log format).

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::KeySettings;

/// Where blobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A local directory (the embedded default).
    Local(PathBuf),
    /// An S3 bucket and key prefix (no leading or trailing slash).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, possibly empty.
        prefix: String,
    },
}

/// Which catalog records tables and partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogKind {
    /// Tables and partitions in our own database.
    Embedded,
    /// AWS Glue Data Catalog.
    Glue {
        /// Glue database name.
        database: String,
        /// Crawler to start after accepted uploads, if any.
        crawler: Option<String>,
    },
}

/// Where Athena queries run (`SHOPLAKE_QUERY_ENGINE=athena`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaConfig {
    /// Workgroup.
    pub workgroup: String,
    /// Result location, unless the workgroup enforces its own.
    pub output_location: Option<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for terminals.
    Pretty,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// The effective, typed configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `SHOPLAKE_LISTEN`: address of the HTTP API.
    pub listen: SocketAddr,
    /// `SHOPLAKE_STORAGE`: where raw, processed and rejected files go.
    pub storage: StorageUrl,
    /// `SHOPLAKE_DATABASE_URL`: state database.
    pub database_url: String,
    /// `SHOPLAKE_JWT_SECRET`: HS256 secret; generated into the data directory when absent.
    pub jwt_secret: Option<SecretString>,
    /// `SHOPLAKE_JWT_PUBLIC_KEY`: PEM text, for RS256/ES256 verification.
    pub jwt_public_key: Option<String>,
    /// `SHOPLAKE_JWT_PRIVATE_KEY`: PEM text, for `shoplake token` with RS256/ES256.
    pub jwt_private_key: Option<SecretString>,
    /// `SHOPLAKE_JWT_ISSUER`: required `iss` when set.
    pub jwt_issuer: Option<String>,
    /// `SHOPLAKE_JWT_AUDIENCE`: required `aud` when set.
    pub jwt_audience: Option<String>,
    /// `SHOPLAKE_CATALOG` (+ `SHOPLAKE_GLUE_DATABASE`, `SHOPLAKE_GLUE_CRAWLER`).
    pub catalog: CatalogKind,
    /// `SHOPLAKE_DATABASE_TIMEOUT_MS`: how long a statement waits for a lock (SQLite busy
    /// timeout) or a pooled connection before the request gets 503.
    pub database_timeout: Duration,
    /// `SHOPLAKE_DATABASE_MAX_CONNECTIONS`: size of the database pool.
    pub database_max_connections: u32,
    /// `SHOPLAKE_DATABASE_STATEMENT_TIMEOUT_MS`: PostgreSQL `statement_timeout`.
    pub database_statement_timeout: Duration,
    /// `SHOPLAKE_S3_PART_SIZE`: multipart part size for S3 puts (memory per upload is two parts).
    pub s3_part_size: u64,
    /// `SHOPLAKE_S3_FORCE_PATH_STYLE`: `None` is auto (path style when an endpoint URL is set).
    pub s3_force_path_style: Option<bool>,
    /// `SHOPLAKE_GLUE_CRAWL_QUIET_SECS`: the crawler starts this long after the first upload of
    /// a burst (one run for the burst).
    pub glue_crawl_quiet: Duration,
    /// `SHOPLAKE_MAX_UPLOAD_BYTES`: larger bodies get 413.
    pub max_upload_bytes: u64,
    /// `SHOPLAKE_MAX_REJECTED_FRACTION`: above it the whole file is rejected.
    pub max_rejected_fraction: f64,
    /// `SHOPLAKE_DEFAULT_CURRENCY`: ISO 4217 code for rows that leave it empty.
    pub default_currency: String,
    /// `SHOPLAKE_REQUEST_TIMEOUT_SECS`: whole-request time limit.
    pub request_timeout: Duration,
    /// `SHOPLAKE_BODY_IDLE_TIMEOUT_SECS`: longest pause between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// `SHOPLAKE_MIN_BODY_BYTES_PER_SEC`: once a body has been arriving for `body_idle_timeout`,
    /// it must average at least this rate or it is cut off (slow-client protection).
    pub min_body_bytes_per_sec: u64,
    /// `SHOPLAKE_MAX_CONCURRENT_UPLOADS`: uploads read and processed at once (each may hold
    /// ~170 MB at its peak on a large file); more wait for a slot, their bodies not yet read.
    pub max_concurrent_uploads: usize,
    /// `SHOPLAKE_UPLOAD_QUEUE_TIMEOUT_SECS`: how long an upload waits for a slot before 503.
    pub upload_queue_timeout: Duration,
    /// `SHOPLAKE_RECONCILE_INTERVAL_SECS`: how often the running service finishes uploads left
    /// in flight (older than the request timeout) by a dependency that failed mid-way.
    pub reconcile_interval: Duration,
    /// `SHOPLAKE_LOG_FORMAT`: pretty or json.
    pub log_format: LogFormat,
    /// `SHOPLAKE_QUERY_ENGINE`=athena (+ `SHOPLAKE_ATHENA_WORKGROUP`,
    /// `SHOPLAKE_ATHENA_OUTPUT_LOCATION`): queries run on Athena over the Glue database;
    /// `None` for the embedded engine.
    pub athena: Option<AthenaConfig>,
    /// `SHOPLAKE_QUERY_TIMEOUT_SECS`: time limit of one SQL query.
    pub query_timeout: Duration,
    /// `SHOPLAKE_QUERY_MAX_ROWS`: rows a query returns at most.
    pub query_max_rows: usize,
    /// `SHOPLAKE_QUERY_MEMORY_BYTES`: memory pool of one SQL query.
    pub query_memory_bytes: u64,
    /// `SHOPLAKE_SCHEMA_FILE`: a TOML table schema replacing the contract's sales schema.
    pub schema_file: Option<PathBuf>,
    /// `SHOPLAKE_TIMESTAMP_FORMAT`: a chrono format accepted for timestamps besides ISO 8601.
    pub timestamp_format: Option<String>,
    /// `SHOPLAKE_MAX_COLUMNS`: fields a header line may have.
    pub max_columns: usize,
    /// `SHOPLAKE_MAX_RECORD_BYTES`: bytes of one CSV record.
    pub max_record_bytes: usize,
    /// `SHOPLAKE_MAX_FIELD_BYTES`: bytes of one value.
    pub max_field_bytes: usize,
    /// `SHOPLAKE_MAX_DECOMPRESSED_BYTES`: bytes a body may inflate to.
    pub max_decompressed_bytes: u64,
    /// `SHOPLAKE_MAX_NEW_COLUMNS_PER_UPLOAD`: unknown columns one upload may add to the table.
    pub max_new_columns_per_upload: usize,
    /// `SHOPLAKE_MAX_TABLE_COLUMNS`: columns the table may reach through uploads.
    pub max_table_columns: usize,
    /// `SHOPLAKE_EARLIEST_SALES_DATE`: the oldest shop-day accepted (the latest is tomorrow).
    pub earliest_sales_date: chrono::NaiveDate,
    /// `SHOPLAKE_MAX_UPLOADS_PER_SHOP`: upload slots one shop may hold at once.
    pub max_uploads_per_shop: usize,
    /// `SHOPLAKE_HEADER_READ_TIMEOUT_SECS`: time to send a complete request head (also the
    /// idle time allowed between requests on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// `SHOPLAKE_MAX_CONNECTIONS`: open HTTP connections at most.
    pub max_connections: usize,
    /// `SHOPLAKE_QUERY_MAX_SQL_BYTES`: length of one SQL statement.
    pub query_max_sql_bytes: usize,
    /// `SHOPLAKE_QUERY_MAX_DEPTH`: nesting of one SQL statement.
    pub query_max_depth: usize,
    /// `SHOPLAKE_QUERY_MAX_CONCURRENT`: queries running at once.
    pub query_max_concurrent: usize,
}

impl Default for Settings {
    /// The built-in defaults: those declared on each setting in `flat.rs`.
    fn default() -> Self {
        super::flat::FlatSettings::default().into_settings().expect("the built-in defaults are valid")
    }
}

impl Settings {
    /// The local data directory, when storage is a directory.
    pub fn local_data_dir(&self) -> Option<&PathBuf> {
        match &self.storage {
            StorageUrl::Local(dir) => Some(dir),
            StorageUrl::S3 { .. } => None,
        }
    }

    /// What the JWT keys are built from (see [`crate::auth::Keys::from_settings`]).
    pub fn key_settings(&self) -> KeySettings {
        KeySettings {
            secret: self.jwt_secret.clone(),
            public_key: self.jwt_public_key.clone(),
            private_key: self.jwt_private_key.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            dev_secret_dir: self.local_data_dir().cloned(),
        }
    }
}
