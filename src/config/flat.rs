//! Every setting declared once: its name (the TOML key; the variable is `SHOPLAKE_` and the name
//! in capitals), its type (which says how its text is read) and its built-in default. An
//! `Option` setting is unset by default, or its default follows from other settings (README).
//! [`FlatSettings::into_settings`] turns the flat values into [`Settings`], the typed settings the
//! service reads, building the values made of several settings and checking the rules between
//! them.

use serde::Deserialize;
use smart_default::SmartDefault;
use std::path::PathBuf;
use std::time::Duration;

use super::settings::{AthenaConfig, CatalogKind, LogFormat, Settings, StorageUrl};
use super::values::{
    Address, ByteCount, CatalogName, Currency, DatabaseUrl, Date, Fraction, JwtSecret, Millis, PartSize, PathStyle,
    Pem, Positive, QueryEngine, S3Location, Seconds, Whole,
};
use super::ConfigError;

/// The settings as written, one field per setting (the README's configuration table).
#[derive(Debug, Deserialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FlatSettings {
    /// Address of the HTTP API.
    #[default(Address(([127, 0, 0, 1], 8080).into()))]
    listen: Address,
    /// A directory, or `s3://bucket/prefix`.
    #[default(StorageUrl::Local(PathBuf::from("./data")))]
    storage: StorageUrl,
    /// `sqlite://...` or `postgres://...`; default: `shoplake.db` in the storage directory.
    database_url: Option<DatabaseUrl>,
    /// HS256 secret; default: a development secret generated into the data directory.
    jwt_secret: Option<JwtSecret>,
    /// PEM public key (or a path to one) for RS256/ES256 tokens.
    jwt_public_key: Option<Pem>,
    /// PEM private key (or a path) used by `shoplake token` with RS256/ES256.
    jwt_private_key: Option<Pem>,
    /// How long a statement waits for a database lock or connection before 503.
    #[default(Millis(Duration::from_millis(5000)))]
    database_timeout_ms: Millis,
    /// Connections in the database pool (PostgreSQL; SQLite uses at most 8).
    #[default(Positive(16))]
    database_max_connections: Positive<u32>,
    /// PostgreSQL: a statement running longer is cancelled (503).
    #[default(Millis(Duration::from_secs(30)))]
    database_statement_timeout_ms: Millis,
    /// S3 multipart part size, at least 5MiB.
    #[default(PartSize(8 << 20))]
    s3_part_size: PartSize,
    /// S3 path-style addressing: true, false, or auto (on with `AWS_ENDPOINT_URL`).
    s3_force_path_style: PathStyle,
    /// Required `iss` claim, when set.
    jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    jwt_audience: Option<String>,
    /// `embedded` or `glue`.
    #[default(CatalogName::Embedded)]
    catalog: CatalogName,
    /// Glue database (required with `catalog = glue`).
    glue_database: Option<String>,
    /// Glue crawler to start after accepted uploads.
    glue_crawler: Option<String>,
    /// Quiet period batching a burst of uploads into one crawler run.
    #[default(Seconds(Duration::from_secs(60)))]
    glue_crawl_quiet_secs: Seconds,
    /// Larger bodies get 413.
    #[default(ByteCount(268_435_456))]
    max_upload_bytes: ByteCount,
    /// Above it the whole file is rejected.
    #[default(Fraction(0.05))]
    max_rejected_fraction: Fraction,
    /// Currency of rows that leave it empty.
    #[default(Currency("EUR".into()))]
    default_currency: Currency,
    /// A request taking longer is answered 408/503.
    #[default(Seconds(Duration::from_secs(900)))]
    request_timeout_secs: Seconds,
    /// A body that sends nothing for this long is cut off.
    #[default(Seconds(Duration::from_secs(30)))]
    body_idle_timeout_secs: Seconds,
    /// After `body_idle_timeout_secs`, a slower body is cut off (408); 0 turns the check off.
    #[default(Whole(1024))]
    min_body_bytes_per_sec: Whole<u64>,
    /// Uploads processed at once; more wait for a slot. Default: four per core.
    max_concurrent_uploads: Option<Positive<usize>>,
    /// An upload waiting longer for a slot gets 503 + Retry-After.
    #[default(Seconds(Duration::from_secs(10)))]
    upload_queue_timeout_secs: Seconds,
    /// How often uploads left in flight by a failed dependency are finished.
    #[default(Seconds(Duration::from_secs(60)))]
    reconcile_interval_secs: Seconds,
    /// `pretty` or `json`.
    #[default(LogFormat::Pretty)]
    log_format: LogFormat,
    /// Time limit of one SQL query.
    #[default(Seconds(Duration::from_secs(30)))]
    query_timeout_secs: Seconds,
    /// `embedded` (DataFusion in the process) or `athena` (needs `catalog = glue`).
    #[default(QueryEngine::Embedded)]
    query_engine: QueryEngine,
    /// Athena workgroup of the queries (`query_engine = athena`).
    #[default("primary".to_owned())]
    athena_workgroup: String,
    /// `s3://...` for Athena's result files, unless the workgroup sets it.
    athena_output_location: Option<S3Location>,
    /// Rows a query returns at most (more set `truncated`).
    #[default(Positive(10_000))]
    query_max_rows: Positive<usize>,
    /// Memory pool of one SQL query.
    #[default(ByteCount(1 << 30))]
    query_memory_bytes: ByteCount,
    /// TOML table schema used instead of the contract's sales schema.
    schema_file: Option<String>,
    /// Extra chrono format accepted for timestamps, like `%d/%m/%Y %H:%M`.
    timestamp_format: Option<String>,
    /// Columns a file's header may have (422 above it).
    #[default(Positive(crate::ingest::DEFAULT_MAX_COLUMNS))]
    max_columns: Positive<usize>,
    /// Bytes one CSV record may have, quoted line breaks included (422 above it).
    #[default(ByteCount(crate::ingest::DEFAULT_MAX_RECORD_BYTES as u64))]
    max_record_bytes: ByteCount,
    /// Bytes one value may have; a longer value rejects its row.
    #[default(ByteCount(crate::ingest::DEFAULT_MAX_FIELD_BYTES as u64))]
    max_field_bytes: ByteCount,
    /// Bytes a gzip body may inflate to (413 above it).
    #[default(ByteCount(crate::ingest::DEFAULT_MAX_DECOMPRESSED_BYTES))]
    max_decompressed_bytes: ByteCount,
    /// Unknown columns one upload may add to the table (422 above it; 0: none).
    #[default(Whole(32))]
    max_new_columns_per_upload: Whole<usize>,
    /// Columns the table may reach through uploads (422 above it).
    #[default(Positive(512))]
    max_table_columns: Positive<usize>,
    /// Oldest shop-day accepted, YYYY-MM-DD (the latest is tomorrow, UTC).
    #[default(Date(chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date")))]
    earliest_sales_date: Date,
    /// Upload slots one shop may hold at once (its other uploads wait). Default: half the
    /// default upload slots, at least 2.
    max_uploads_per_shop: Option<Positive<usize>>,
    /// A connection that has not sent a complete request head in this time is closed.
    #[default(Seconds(Duration::from_secs(30)))]
    header_read_timeout_secs: Seconds,
    /// Open HTTP connections at most; more wait in the listen backlog.
    #[default(Positive(1000))]
    max_connections: Positive<usize>,
    /// Length of one SQL statement at most (400 above it).
    #[default(ByteCount(64 << 10))]
    query_max_sql_bytes: ByteCount,
    /// Nesting of one SQL statement at most: brackets and chained operators (400 above it).
    #[default(Positive(64))]
    query_max_depth: Positive<usize>,
    /// SQL queries running at once; more wait, then 503. Default: one per core.
    query_max_concurrent: Option<Positive<usize>>,
}

/// The cores this process may use (2 when unknown).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Four uploads per core: small files keep every core busy, large ones stay within memory.
fn default_concurrent_uploads() -> usize {
    4 * cores()
}

impl FlatSettings {
    /// The typed settings: defaults that follow from other settings filled in, the values made
    /// of several settings built, and the rules between settings checked.
    pub(super) fn into_settings(self) -> Result<Settings, ConfigError> {
        let database_url = match (self.database_url, &self.storage) {
            (Some(url), _) => url.0,
            // The database follows a local storage directory unless set explicitly.
            (None, StorageUrl::Local(dir)) => format!("sqlite://{}", dir.join("shoplake.db").display()),
            (None, StorageUrl::S3 { .. }) => {
                return Err(ConfigError(
                    "SHOPLAKE_DATABASE_URL must be set when storage is S3 (replicas share one database)".into(),
                ))
            }
        };
        let catalog = match self.catalog {
            CatalogName::Embedded => CatalogKind::Embedded,
            CatalogName::Glue => CatalogKind::Glue {
                database: self
                    .glue_database
                    .ok_or_else(|| ConfigError("catalog = glue needs SHOPLAKE_GLUE_DATABASE".into()))?,
                crawler: self.glue_crawler,
            },
        };
        let athena = match self.query_engine {
            QueryEngine::Embedded => None,
            QueryEngine::Athena if !matches!(catalog, CatalogKind::Glue { .. }) => {
                return Err(ConfigError(
                    "SHOPLAKE_QUERY_ENGINE=athena needs SHOPLAKE_CATALOG=glue (Athena reads the Glue database)".into(),
                ))
            }
            QueryEngine::Athena => Some(AthenaConfig {
                workgroup: self.athena_workgroup,
                output_location: self.athena_output_location.map(|location| location.0),
            }),
        };
        if matches!(self.storage, StorageUrl::S3 { .. }) && self.jwt_secret.is_none() && self.jwt_public_key.is_none() {
            return Err(ConfigError(
                "with S3 storage set SHOPLAKE_JWT_SECRET or SHOPLAKE_JWT_PUBLIC_KEY (a development secret is only generated for a local directory)".into(),
            ));
        }
        let non_empty = |text: Option<String>| text.filter(|s| !s.is_empty());
        Ok(Settings {
            listen: self.listen.0,
            storage: self.storage,
            database_url,
            jwt_secret: self.jwt_secret.map(|secret| secret.0),
            jwt_public_key: self.jwt_public_key.map(|pem| pem.0),
            jwt_private_key: self.jwt_private_key.map(|pem| pem.0.into()),
            jwt_issuer: non_empty(self.jwt_issuer),
            jwt_audience: non_empty(self.jwt_audience),
            catalog,
            database_timeout: self.database_timeout_ms.0,
            database_max_connections: self.database_max_connections.0,
            database_statement_timeout: self.database_statement_timeout_ms.0,
            s3_part_size: self.s3_part_size.0,
            s3_force_path_style: self.s3_force_path_style.0,
            glue_crawl_quiet: self.glue_crawl_quiet_secs.0,
            max_upload_bytes: self.max_upload_bytes.0,
            max_rejected_fraction: self.max_rejected_fraction.0,
            default_currency: self.default_currency.0,
            request_timeout: self.request_timeout_secs.0,
            body_idle_timeout: self.body_idle_timeout_secs.0,
            min_body_bytes_per_sec: self.min_body_bytes_per_sec.0,
            max_concurrent_uploads: self.max_concurrent_uploads.map_or_else(default_concurrent_uploads, |n| n.0),
            upload_queue_timeout: self.upload_queue_timeout_secs.0,
            reconcile_interval: self.reconcile_interval_secs.0,
            log_format: self.log_format,
            athena,
            query_timeout: self.query_timeout_secs.0,
            query_max_rows: self.query_max_rows.0,
            query_memory_bytes: self.query_memory_bytes.0,
            schema_file: self.schema_file.map(|path| PathBuf::from(path.trim())),
            timestamp_format: non_empty(self.timestamp_format),
            max_columns: self.max_columns.0,
            max_record_bytes: self.max_record_bytes.0 as usize,
            max_field_bytes: self.max_field_bytes.0 as usize,
            max_decompressed_bytes: self.max_decompressed_bytes.0,
            max_new_columns_per_upload: self.max_new_columns_per_upload.0,
            max_table_columns: self.max_table_columns.0,
            earliest_sales_date: self.earliest_sales_date.0,
            max_uploads_per_shop: self
                .max_uploads_per_shop
                .map_or_else(|| (default_concurrent_uploads() / 2).max(2), |n| n.0),
            header_read_timeout: self.header_read_timeout_secs.0,
            max_connections: self.max_connections.0,
            query_max_sql_bytes: self.query_max_sql_bytes.0 as usize,
            query_max_depth: self.query_max_depth.0,
            query_max_concurrent: self.query_max_concurrent.map_or_else(cores, |n| n.0),
        })
    }
}
