//! Settings: built-in defaults, then `shoplake.toml` (or `--config`), then `SHOPLAKE_*` variables.
//!
//! [`load`] is a pure function of the file text and an environment map, so tests never touch the
//! process environment. Every value is parsed into its type here; a bad one names its source.

use secrecy::SecretString;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod raw;

use raw::Source;

/// The configuration keys: TOML name, environment name and what it means (README's table).
pub const KEYS: &[(&str, &str)] = &[
    ("listen", "address of the HTTP API"),
    ("storage", "a directory, or s3://bucket/prefix"),
    ("database_url", "sqlite://... or postgres://..."),
    ("jwt_secret", "HS256 secret"),
    ("jwt_public_key", "PEM public key (or a path to one) for RS256/ES256 tokens"),
    ("jwt_private_key", "PEM private key (or a path) used by `shoplake token` with RS256/ES256"),
    ("database_timeout_ms", "how long a statement waits for a database lock or connection before 503"),
    ("database_max_connections", "connections in the database pool (PostgreSQL; SQLite uses at most 8)"),
    ("database_statement_timeout_ms", "PostgreSQL: a statement running longer is cancelled (503)"),
    ("s3_part_size", "S3 multipart part size, at least 5MiB"),
    ("s3_force_path_style", "S3 path-style addressing: true, false, or auto (on with AWS_ENDPOINT_URL)"),
    ("jwt_issuer", "required `iss` claim, when set"),
    ("jwt_audience", "required `aud` claim, when set"),
    ("catalog", "embedded or glue"),
    ("glue_database", "Glue database (catalog = glue)"),
    ("glue_crawler", "Glue crawler to start after accepted uploads"),
    ("glue_crawl_quiet_secs", "quiet period batching a burst of uploads into one crawler run"),
    ("max_upload_bytes", "larger bodies get 413"),
    ("max_rejected_fraction", "above it the whole file is rejected"),
    ("default_currency", "currency of rows that leave it empty"),
    ("request_timeout_secs", "a request taking longer is answered 408/503"),
    ("body_idle_timeout_secs", "a body that sends nothing for this long is cut off"),
    ("min_body_bytes_per_sec", "after body_idle_timeout_secs, a slower body is cut off (408)"),
    ("max_concurrent_uploads", "uploads processed at once; more wait for a slot"),
    ("upload_queue_timeout_secs", "an upload waiting longer for a slot gets 503 + Retry-After"),
    ("reconcile_interval_secs", "how often uploads left in flight by a failed dependency are finished"),
    ("log_format", "pretty or json"),
    ("query_timeout_secs", "time limit of one SQL query"),
    ("query_engine", "embedded (DataFusion in the process) or athena (needs catalog = glue)"),
    ("athena_workgroup", "Athena workgroup of the queries (query_engine = athena)"),
    ("athena_output_location", "s3://... for Athena's result files, unless the workgroup sets it"),
    ("query_max_rows", "rows a query returns at most (more set truncated)"),
    ("query_memory_bytes", "memory pool of one SQL query"),
    ("schema_file", "TOML table schema used instead of the contract's sales schema"),
    ("timestamp_format", "extra chrono format accepted for timestamps, like %d/%m/%Y %H:%M"),
    ("max_columns", "columns a file's header may have (422 above it)"),
    ("max_record_bytes", "bytes one CSV record may have, quoted line breaks included (422 above it)"),
    ("max_field_bytes", "bytes one value may have; a longer value rejects its row"),
    ("max_decompressed_bytes", "bytes a gzip body may inflate to (413 above it)"),
    ("max_new_columns_per_upload", "unknown columns one upload may add to the table (422 above it)"),
    ("max_table_columns", "columns the table may reach through uploads (422 above it)"),
    ("earliest_sales_date", "oldest shop-day accepted, YYYY-MM-DD (the latest is tomorrow, UTC)"),
    ("max_uploads_per_shop", "upload slots one shop may hold at once (its other uploads wait)"),
    ("header_read_timeout_secs", "a connection that has not sent a complete request head in this time is closed"),
    ("max_connections", "open HTTP connections at most; more wait in the listen backlog"),
    ("query_max_sql_bytes", "length of one SQL statement at most (400 above it)"),
    ("query_max_depth", "nesting of one SQL statement at most: brackets and chained operators (400 above it)"),
    ("query_max_concurrent", "SQL queries running at once; more wait, then 503"),
];

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

/// Four uploads per core: small files keep every core busy, large ones stay within memory.
fn default_concurrent_uploads() -> usize {
    4 * std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            storage: StorageUrl::Local(PathBuf::from("./data")),
            database_url: "sqlite://./data/shoplake.db".into(),
            jwt_secret: None,
            jwt_public_key: None,
            jwt_private_key: None,
            jwt_issuer: None,
            jwt_audience: None,
            catalog: CatalogKind::Embedded,
            database_timeout: Duration::from_millis(5000),
            database_max_connections: 16,
            database_statement_timeout: Duration::from_secs(30),
            s3_part_size: 8 << 20,
            s3_force_path_style: None,
            glue_crawl_quiet: Duration::from_secs(60),
            athena: None,
            max_upload_bytes: 268_435_456,
            max_rejected_fraction: 0.05,
            default_currency: "EUR".into(),
            request_timeout: Duration::from_secs(900),
            body_idle_timeout: Duration::from_secs(30),
            min_body_bytes_per_sec: 1024,
            max_concurrent_uploads: default_concurrent_uploads(),
            upload_queue_timeout: Duration::from_secs(10),
            reconcile_interval: Duration::from_secs(60),
            log_format: LogFormat::Pretty,
            query_timeout: Duration::from_secs(30),
            query_max_rows: 10_000,
            query_memory_bytes: 1 << 30,
            schema_file: None,
            timestamp_format: None,
            max_columns: crate::ingest::DEFAULT_MAX_COLUMNS,
            max_record_bytes: crate::ingest::DEFAULT_MAX_RECORD_BYTES,
            max_field_bytes: crate::ingest::DEFAULT_MAX_FIELD_BYTES,
            max_decompressed_bytes: crate::ingest::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_new_columns_per_upload: 32,
            max_table_columns: 512,
            earliest_sales_date: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date"),
            max_uploads_per_shop: (default_concurrent_uploads() / 2).max(2),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1000,
            query_max_sql_bytes: 64 << 10,
            query_max_depth: 64,
            query_max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
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
}

/// A configuration value that cannot be used; the message names the key, its source and the fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Builds the settings from the config file's text (if any) and the environment (`SHOPLAKE_*`).
pub fn load(file_text: Option<&str>, env: &BTreeMap<String, String>) -> Result<Settings, ConfigError> {
    let raw = raw::collect(file_text, env)?;
    let get = |key: &'static str| raw.get(key).map(|(value, source)| Value { key, value, source });

    let mut settings = Settings::default();
    if let Some(v) = get("listen") {
        settings.listen = v.parse_with("an address like 127.0.0.1:8080", |s| s.parse().ok())?;
    }
    if let Some(v) = get("storage") {
        settings.storage = v.parse_with("a directory or s3://bucket/prefix", parse_storage)?;
    }
    settings.database_url = match get("database_url") {
        Some(v) => v.parse_with("sqlite://PATH or postgres://...", |s| {
            (s.starts_with("sqlite:") || s.starts_with("postgres://") || s.starts_with("postgresql://"))
                .then(|| s.to_owned())
        })?,
        // The database follows a local storage directory unless set explicitly.
        None => match &settings.storage {
            StorageUrl::Local(dir) => format!("sqlite://{}", dir.join("shoplake.db").display()),
            StorageUrl::S3 { .. } => {
                return Err(ConfigError(
                    "SHOPLAKE_DATABASE_URL must be set when storage is S3 (replicas share one database)".into(),
                ))
            }
        },
    };
    settings.jwt_secret = get("jwt_secret")
        .map(|v| v.parse_with("a secret of at least 32 bytes", |s| (s.len() >= 32).then(|| s.to_owned())))
        .transpose()?
        .map(SecretString::from);
    settings.jwt_public_key = get("jwt_public_key").map(|v| v.read_pem()).transpose()?;
    settings.jwt_private_key = get("jwt_private_key").map(|v| v.read_pem()).transpose()?.map(SecretString::from);
    settings.jwt_issuer = get("jwt_issuer").map(|v| v.value.clone()).filter(|s| !s.is_empty());
    settings.jwt_audience = get("jwt_audience").map(|v| v.value.clone()).filter(|s| !s.is_empty());
    if let Some(v) = get("catalog") {
        settings.catalog = match v.value.as_str() {
            "embedded" => CatalogKind::Embedded,
            "glue" => CatalogKind::Glue {
                database: get("glue_database")
                    .map(|d| d.value.clone())
                    .ok_or_else(|| ConfigError("catalog = glue needs SHOPLAKE_GLUE_DATABASE".into()))?,
                crawler: get("glue_crawler").map(|c| c.value.clone()),
            },
            _ => return Err(v.invalid("embedded or glue")),
        };
    }
    if let Some(v) = get("max_upload_bytes") {
        settings.max_upload_bytes = v.parse_with("a byte count like 268435456 or 256MiB", parse_byte_size)?;
    }
    if let Some(v) = get("max_rejected_fraction") {
        settings.max_rejected_fraction = v.parse_with("a fraction between 0 and 1, like 0.05", |s| {
            s.parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f))
        })?;
    }
    if let Some(v) = get("default_currency") {
        settings.default_currency = v.parse_with("a three-letter ISO 4217 code like EUR", |s| {
            (s.len() == 3 && s.chars().all(|c| c.is_ascii_alphabetic())).then(|| s.to_ascii_uppercase())
        })?;
    }
    if let Some(v) = get("request_timeout_secs") {
        settings.request_timeout = v.parse_with("a whole number of seconds > 0", parse_seconds)?;
    }
    if let Some(v) = get("body_idle_timeout_secs") {
        settings.body_idle_timeout = v.parse_with("a whole number of seconds > 0", parse_seconds)?;
    }
    if let Some(v) = get("database_timeout_ms") {
        settings.database_timeout = v.parse_with("a whole number of milliseconds > 0", |s| {
            s.parse::<u64>().ok().filter(|n| *n > 0).map(Duration::from_millis)
        })?;
    }
    if let Some(v) = get("database_max_connections") {
        settings.database_max_connections =
            v.parse_with("a whole number of connections > 0", |s| s.parse::<u32>().ok().filter(|n| *n > 0))?;
    }
    if let Some(v) = get("database_statement_timeout_ms") {
        settings.database_statement_timeout = v.parse_with("a whole number of milliseconds > 0", |s| {
            s.parse::<u64>().ok().filter(|n| *n > 0).map(Duration::from_millis)
        })?;
    }
    if let Some(v) = get("s3_part_size") {
        settings.s3_part_size = v.parse_with("a byte size of at least 5MiB, like 8MiB", |s| {
            parse_byte_size(s).filter(|n| *n >= crate::storage::MIN_PART_SIZE && *n <= 5 << 30)
        })?;
    }
    if let Some(v) = get("s3_force_path_style") {
        settings.s3_force_path_style = v.parse_with("true, false or auto", |s| match s {
            "true" => Some(Some(true)),
            "false" => Some(Some(false)),
            "auto" => Some(None),
            _ => None,
        })?;
    }
    if let Some(v) = get("glue_crawl_quiet_secs") {
        settings.glue_crawl_quiet = v.parse_with("a whole number of seconds > 0", parse_seconds)?;
    }
    if let Some(v) = get("min_body_bytes_per_sec") {
        settings.min_body_bytes_per_sec =
            v.parse_with("a whole number of bytes per second (0 turns the check off)", |s| s.parse::<u64>().ok())?;
    }
    if let Some(v) = get("max_concurrent_uploads") {
        settings.max_concurrent_uploads =
            v.parse_with("a whole number > 0", |s| s.parse::<usize>().ok().filter(|n| *n > 0))?;
    }
    if let Some(v) = get("upload_queue_timeout_secs") {
        settings.upload_queue_timeout = v.parse_with("a whole number of seconds > 0", parse_seconds)?;
    }
    if let Some(v) = get("reconcile_interval_secs") {
        settings.reconcile_interval = v.parse_with("a whole number of seconds > 0", parse_seconds)?;
    }
    if let Some(v) = get("log_format") {
        settings.log_format = match v.value.as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            _ => return Err(v.invalid("pretty or json")),
        };
    }
    if let Some(v) = get("query_engine") {
        settings.athena = match v.value.as_str() {
            "embedded" => None,
            "athena" => {
                if !matches!(settings.catalog, CatalogKind::Glue { .. }) {
                    return Err(ConfigError(
                        "SHOPLAKE_QUERY_ENGINE=athena needs SHOPLAKE_CATALOG=glue (Athena reads the Glue database)"
                            .into(),
                    ));
                }
                Some(AthenaConfig {
                    workgroup: get("athena_workgroup").map_or_else(|| "primary".to_owned(), |w| w.value.clone()),
                    output_location: get("athena_output_location")
                        .map(|o| {
                            o.parse_with("an s3://bucket/prefix/ URL", |s| s.starts_with("s3://").then(|| s.to_owned()))
                        })
                        .transpose()?,
                })
            }
            _ => return Err(v.invalid("embedded or athena")),
        };
    }
    if let Some(v) = get("query_timeout_secs") {
        settings.query_timeout = v.parse_with("a whole number of seconds > 0", parse_seconds)?;
    }
    if let Some(v) = get("query_max_rows") {
        settings.query_max_rows = v.parse_with("a row count > 0", |s| s.parse::<usize>().ok().filter(|n| *n > 0))?;
    }
    if let Some(v) = get("query_memory_bytes") {
        settings.query_memory_bytes = v.parse_with("a byte count like 1GiB", parse_byte_size)?;
    }
    let count = |s: &str| s.parse::<usize>().ok().filter(|n| *n > 0);
    let bytes = |s: &str| parse_byte_size(s).filter(|n| *n > 0);
    if let Some(v) = get("max_columns") {
        settings.max_columns = v.parse_with("a whole number > 0", count)?;
    }
    if let Some(v) = get("max_record_bytes") {
        settings.max_record_bytes = v.parse_with("a byte size like 1MiB", |s| bytes(s).map(|n| n as usize))?;
    }
    if let Some(v) = get("max_field_bytes") {
        settings.max_field_bytes = v.parse_with("a byte size like 64KiB", |s| bytes(s).map(|n| n as usize))?;
    }
    if let Some(v) = get("max_decompressed_bytes") {
        settings.max_decompressed_bytes = v.parse_with("a byte size like 4GiB", bytes)?;
    }
    if let Some(v) = get("max_new_columns_per_upload") {
        settings.max_new_columns_per_upload =
            v.parse_with("a whole number (0: no new columns)", |s| s.parse::<usize>().ok())?;
    }
    if let Some(v) = get("max_table_columns") {
        settings.max_table_columns = v.parse_with("a whole number > 0", count)?;
    }
    if let Some(v) = get("earliest_sales_date") {
        settings.earliest_sales_date =
            v.parse_with("a date YYYY-MM-DD", |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())?;
    }
    if let Some(v) = get("max_uploads_per_shop") {
        settings.max_uploads_per_shop = v.parse_with("a whole number > 0", count)?;
    }
    if let Some(v) = get("header_read_timeout_secs") {
        settings.header_read_timeout = v.parse_with("a whole number of seconds > 0", parse_seconds)?;
    }
    if let Some(v) = get("max_connections") {
        settings.max_connections = v.parse_with("a whole number > 0", count)?;
    }
    if let Some(v) = get("query_max_sql_bytes") {
        settings.query_max_sql_bytes = v.parse_with("a byte size like 64KiB", |s| bytes(s).map(|n| n as usize))?;
    }
    if let Some(v) = get("query_max_depth") {
        settings.query_max_depth = v.parse_with("a whole number > 0", count)?;
    }
    if let Some(v) = get("query_max_concurrent") {
        settings.query_max_concurrent = v.parse_with("a whole number > 0", count)?;
    }
    settings.schema_file = get("schema_file").map(|v| PathBuf::from(v.value.trim()));
    settings.timestamp_format = get("timestamp_format").map(|v| v.value.clone()).filter(|s| !s.is_empty());
    if matches!(settings.storage, StorageUrl::S3 { .. })
        && settings.jwt_secret.is_none()
        && settings.jwt_public_key.is_none()
    {
        return Err(ConfigError(
            "with S3 storage set SHOPLAKE_JWT_SECRET or SHOPLAKE_JWT_PUBLIC_KEY (a development secret is only generated for a local directory)".into(),
        ));
    }
    Ok(settings)
}

/// One raw value with its key and source.
struct Value<'a> {
    key: &'a str,
    value: &'a String,
    source: &'a Source,
}

impl Value<'_> {
    fn origin(&self) -> String {
        self.source.origin(self.key)
    }

    fn invalid(&self, expected: &str) -> ConfigError {
        let shown = if self.key.contains("secret") || self.key.contains("private") {
            "<redacted>".to_owned()
        } else {
            self.value.clone()
        };
        ConfigError(format!("{} = '{shown}': expected {expected}", self.origin()))
    }

    fn parse_with<T>(&self, expected: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, ConfigError> {
        parse(self.value.trim()).ok_or_else(|| self.invalid(expected))
    }

    /// PEM text, or a path to a file holding it.
    fn read_pem(&self) -> Result<String, ConfigError> {
        if self.value.contains("-----BEGIN") {
            return Ok(self.value.clone());
        }
        std::fs::read_to_string(self.value.trim())
            .ok()
            .filter(|text| text.contains("-----BEGIN"))
            .ok_or_else(|| self.invalid("PEM text or the path of a readable PEM file"))
    }
}

fn parse_storage(raw: &str) -> Option<StorageUrl> {
    if let Some(rest) = raw.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        return bucket_ok
            .then(|| StorageUrl::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() });
    }
    if raw.is_empty() || raw.contains("://") {
        return None;
    }
    Some(StorageUrl::Local(PathBuf::from(raw.strip_prefix("file://").unwrap_or(raw))))
}

/// `268435456`, `256MiB`, `1GiB`, `10MB`, `512KiB`.
pub fn parse_byte_size(raw: &str) -> Option<u64> {
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let number: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor).filter(|bytes| *bytes > 0)
}

fn parse_seconds(raw: &str) -> Option<Duration> {
    raw.parse::<u64>().ok().filter(|s| *s > 0).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nothing_set_gives_the_contract_defaults() {
        let settings = load(None, &env(&[])).unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.storage, StorageUrl::Local("./data".into()));
        assert_eq!(settings.database_url, "sqlite://./data/shoplake.db");
        assert_eq!(settings.max_upload_bytes, 268_435_456);
        assert_eq!(settings.max_rejected_fraction, 0.05);
        assert_eq!(settings.default_currency, "EUR");
        assert_eq!(settings.catalog, CatalogKind::Embedded);
        assert!(settings.jwt_secret.is_none());
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "listen = \"127.0.0.1:9000\"\nmax_upload_bytes = 1024\ndefault_currency = \"usd\"\n";
        let settings = load(Some(file), &env(&[("SHOPLAKE_LISTEN", "127.0.0.1:9001")])).unwrap();
        assert_eq!(settings.listen.port(), 9001);
        assert_eq!(settings.max_upload_bytes, 1024);
        assert_eq!(settings.default_currency, "USD");
    }

    #[test]
    fn bad_values_name_their_variable_and_hide_secrets() {
        let err = load(None, &env(&[("SHOPLAKE_MAX_UPLOAD_BYTES", "lots")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_MAX_UPLOAD_BYTES") && err.contains("lots"), "{err}");
        let err = load(None, &env(&[("SHOPLAKE_JWT_SECRET", "short-secret")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_JWT_SECRET") && !err.contains("short-secret"), "{err}");
        let err = load(None, &env(&[("SHOPLAKE_LISTN", "x")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_LISTN"), "{err}");
        let err = load(Some("colour = 1"), &env(&[])).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn storage_urls_are_typed() {
        let s = load(
            None,
            &env(&[
                ("SHOPLAKE_STORAGE", "s3://lake-bucket/a/b/"),
                ("SHOPLAKE_DATABASE_URL", "postgres://x/y"),
                ("SHOPLAKE_JWT_SECRET", &"k".repeat(32)),
            ]),
        )
        .unwrap();
        assert_eq!(s.storage, StorageUrl::S3 { bucket: "lake-bucket".into(), prefix: "a/b".into() });
        assert_eq!(s.jwt_secret.unwrap().expose_secret().len(), 32);
        let local = load(None, &env(&[("SHOPLAKE_STORAGE", "/srv/lake")])).unwrap();
        assert_eq!(local.database_url, "sqlite:///srv/lake/shoplake.db");
    }

    #[test]
    fn database_pool_and_s3_settings_parse_and_refuse_bad_values() {
        let s = load(
            None,
            &env(&[
                ("SHOPLAKE_DATABASE_MAX_CONNECTIONS", "32"),
                ("SHOPLAKE_DATABASE_STATEMENT_TIMEOUT_MS", "1500"),
                ("SHOPLAKE_S3_PART_SIZE", "16MiB"),
                ("SHOPLAKE_S3_FORCE_PATH_STYLE", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database_max_connections, 32);
        assert_eq!(s.database_statement_timeout, Duration::from_millis(1500));
        assert_eq!(s.s3_part_size, 16 << 20);
        assert_eq!(s.s3_force_path_style, Some(false));
        assert_eq!(load(None, &env(&[])).unwrap().s3_force_path_style, None, "auto by default");
        let err = load(None, &env(&[("SHOPLAKE_S3_PART_SIZE", "1MiB")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_S3_PART_SIZE") && err.contains("5MiB"), "{err}");
        let err = load(None, &env(&[("SHOPLAKE_DATABASE_MAX_CONNECTIONS", "0")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_DATABASE_MAX_CONNECTIONS"), "{err}");
    }

    #[test]
    fn athena_needs_the_glue_catalog_and_an_s3_output_location() {
        let err = load(None, &env(&[("SHOPLAKE_QUERY_ENGINE", "athena")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_CATALOG=glue"), "{err}");
        let glue =
            [("SHOPLAKE_CATALOG", "glue"), ("SHOPLAKE_GLUE_DATABASE", "lake"), ("SHOPLAKE_QUERY_ENGINE", "athena")];
        let s = load(None, &env(&glue)).unwrap();
        assert_eq!(s.athena, Some(AthenaConfig { workgroup: "primary".into(), output_location: None }));
        let mut bad = glue.to_vec();
        bad.push(("SHOPLAKE_ATHENA_OUTPUT_LOCATION", "/tmp/results"));
        let err = load(None, &env(&bad)).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_ATHENA_OUTPUT_LOCATION"), "{err}");
    }

    #[test]
    fn byte_sizes_accept_units() {
        assert_eq!(parse_byte_size("256MiB"), Some(268_435_456));
        assert_eq!(parse_byte_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_byte_size("10"), Some(10));
        assert_eq!(parse_byte_size("0"), None);
        assert_eq!(parse_byte_size("ten"), None);
    }
}
