//! Application wiring: opens the backends named by the settings, binds the listener
//! (`build` binds, `port` reports), and runs until a shutdown signal.

use crate::auth::Keys;
use crate::catalog::glue_crawler::CrawlScheduler;
use crate::catalog::{Catalog, EmbeddedCatalog, GlueCatalog, SALES_TABLE};
use crate::config::{CatalogKind, Settings, StorageUrl};
use crate::db::Db;
use crate::db::DbOptions;
use crate::http::AppState;
use crate::ingest::{normalize_name, IngestOptions, TableSchema};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::query::athena::{AthenaEngine, AthenaSettings};
use crate::query::{lake_object_store, EmbeddedSql, QueryEngine, QueryLimits, SqlEngine};
use crate::storage::{BlobStore, LocalFs, S3Connection, S3Options, S3Store};
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Backends opened from the settings, shared by `serve` and the CLI commands.
pub struct Backends {
    /// State database (migrated).
    pub db: Db,
    /// Blob storage.
    pub store: Arc<dyn BlobStore>,
    /// Tables and partitions (the sales table exists).
    pub catalog: Arc<dyn Catalog>,
    /// How the blob store reaches its bucket, when it is on S3 (the query engine reads it too).
    pub s3: Option<S3Connection>,
}

impl Backends {
    /// Opens storage and the database and applies migrations.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let mut s3_connection = None;
        let store: Arc<dyn BlobStore> = match &settings.storage {
            StorageUrl::Local(dir) => {
                let local = LocalFs::open(dir)
                    .await
                    .with_context(|| format!("Failed to open storage directory {}", dir.display()))?;
                // One process per directory: every temporary file is a leftover.
                let removed = local.remove_incomplete(Duration::ZERO).await?;
                if removed > 0 {
                    tracing::info!(removed, "removed temporary files left by an earlier run");
                }
                Arc::new(local)
            }
            StorageUrl::S3 { bucket, prefix } => {
                let options = S3Options {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    part_size: settings.s3_part_size,
                    force_path_style: settings.s3_force_path_style,
                };
                let s3 = S3Store::connect(&options).await.context("Failed to set up the S3 client")?;
                s3.check().await.with_context(|| {
                    format!(
                        "Cannot use the bucket {} (does it exist, and may these credentials write to it?)",
                        s3.describe()
                    )
                })?;
                // Other replicas may be mid-upload: only what no request can still be writing.
                let removed = s3.remove_incomplete(settings.request_timeout).await?;
                if removed > 0 {
                    tracing::info!(removed, "aborted multipart uploads left open by an earlier run");
                }
                s3_connection = Some(s3.connection().clone());
                Arc::new(s3)
            }
        };
        let db = Db::connect(&settings.database_url, &db_options(settings))
            .await
            .context("Failed to connect to the database")?;
        db.migrate().await.context("Failed to apply database migrations")?;
        let catalog: Arc<dyn Catalog> = match &settings.catalog {
            CatalogKind::Embedded => Arc::new(EmbeddedCatalog::new(db.clone())),
            CatalogKind::Glue { database, .. } => Arc::new(GlueCatalog::connect(database).await),
        };
        catalog
            .ensure_table(SALES_TABLE, &store.url_of(crate::storage::layout::PROCESSED_PREFIX))
            .await
            .context("Failed to create the sales table in the catalog")?;
        Ok(Self { db, store, catalog, s3: s3_connection })
    }
}

impl Backends {
    /// The upload pipeline over these backends, with the configured table schema and limits.
    pub fn pipeline(&self, settings: &Settings, metrics: Arc<Metrics>) -> anyhow::Result<Pipeline> {
        Ok(Pipeline::new(
            self.db.clone(),
            self.store.clone(),
            self.catalog.clone(),
            metrics,
            settings.max_upload_bytes,
            ingest_options(settings)?,
        )
        .with_schema_limits(crate::pipeline::SchemaLimits {
            max_new_columns: settings.max_new_columns_per_upload,
            max_table_columns: settings.max_table_columns,
        }))
    }
}

/// Database timeouts and pool sizes from the settings.
pub fn db_options(settings: &Settings) -> DbOptions {
    DbOptions {
        timeout: settings.database_timeout,
        max_connections: settings.database_max_connections,
        statement_timeout: settings.database_statement_timeout,
        // One per upload committing, plus the reconciler.
        lock_connections: settings.max_concurrent_uploads as u32 + 2,
        lock_wait: settings.request_timeout,
    }
}

/// Ingest options from the settings (schema file, currency, reject fraction, timestamp format).
pub fn ingest_options(settings: &Settings) -> anyhow::Result<IngestOptions> {
    let schema = match &settings.schema_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("Failed to read schema file {}", path.display()))?;
            TableSchema::from_toml(&text).with_context(|| format!("Invalid schema file {}", path.display()))?
        }
        None => TableSchema::sales_default(),
    };
    let reserved: Vec<String> = crate::catalog::PARTITION_KEYS.iter().map(|k| k.to_string()).collect();
    // The partition keys live in the path: a schema column (or alias) named like one would
    // put a second, contradicting copy in every file.
    for column in &schema.columns {
        for name in std::iter::once(&column.name).chain(&column.aliases) {
            if let Some(key) = reserved.iter().find(|k| normalize_name(k) == normalize_name(name)) {
                anyhow::bail!(
                    "the table schema names `{name}` (column `{}`), which is the partition key `{key}`: partition keys come from the upload's path, remove it",
                    column.name
                );
            }
        }
    }
    Ok(IngestOptions {
        schema,
        default_currency: settings.default_currency.clone(),
        max_rejected_fraction: settings.max_rejected_fraction,
        timestamp_format: settings.timestamp_format.clone(),
        max_columns: settings.max_columns,
        max_record_bytes: settings.max_record_bytes,
        max_field_bytes: settings.max_field_bytes,
        max_decompressed_bytes: settings.max_decompressed_bytes,
        reserved_columns: reserved,
        ..IngestOptions::default()
    })
}

/// The limits of one query, from the settings (both engines).
fn query_limits(settings: &Settings) -> QueryLimits {
    QueryLimits {
        timeout: settings.query_timeout,
        max_rows: settings.query_max_rows,
        memory_bytes: settings.query_memory_bytes as usize,
        sql: crate::query::SqlLimits { max_bytes: settings.query_max_sql_bytes, max_depth: settings.query_max_depth },
        max_concurrent: settings.query_max_concurrent,
    }
}

/// The SQL engine the settings name, with the configured limits: Athena over the Glue
/// database (`query_engine = athena`), else the embedded engine over the catalog's tables,
/// reading the lake where the backends store it.
pub async fn sql_engine(settings: &Settings, backends: &Backends) -> anyhow::Result<Arc<dyn SqlEngine>> {
    let limits = query_limits(settings);
    if let (Some(athena), CatalogKind::Glue { database, .. }) = (&settings.athena, &settings.catalog) {
        let athena_settings = AthenaSettings {
            workgroup: athena.workgroup.clone(),
            database: database.clone(),
            output_location: athena.output_location.clone(),
        };
        return Ok(Arc::new(AthenaEngine::connect(athena_settings, limits).await));
    }
    let remote = backends
        .s3
        .as_ref()
        .map(lake_object_store)
        .transpose()
        .context("Failed to set up the query engine's storage client")?;
    Ok(Arc::new(EmbeddedSql::new(QueryEngine::new(limits, remote), backends.catalog.clone())))
}

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens the backends, resolves keys and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let keys = Keys::from_settings(&settings.key_settings()).context("Failed to set up JWT keys")?;
        if let Some(path) = &keys.generated_secret_at {
            tracing::warn!(path = %path.display(), "generated a development JWT secret; set SHOPLAKE_JWT_SECRET or SHOPLAKE_JWT_PUBLIC_KEY in production");
        }
        let backends = Backends::open(&settings).await?;
        let metrics = Arc::new(Metrics::new(settings.request_timeout));
        let crawls = match &settings.catalog {
            CatalogKind::Glue { database, crawler: Some(crawler) } => {
                let glue = GlueCatalog::connect(database).await;
                Some(CrawlScheduler::start(glue.client().clone(), crawler, settings.glue_crawl_quiet))
            }
            _ => None,
        };
        let mut pipeline = backends.pipeline(&settings, metrics.clone())?;
        if let Some(crawls) = &crawls {
            pipeline = pipeline.with_crawl_scheduler(crawls.clone());
        }
        pipeline.reconcile().await.context("Failed to finish uploads left in flight")?;
        let listener =
            TcpListener::bind(settings.listen).await.with_context(|| format!("Failed to bind {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            listen = %listener.local_addr()?,
            storage = %backends.store.describe(),
            database = %redact_url(&settings.database_url),
            max_upload_bytes = settings.max_upload_bytes,
            "shoplake ready"
        );
        let sql = sql_engine(&settings, &backends).await?;
        let upload_slots = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_uploads));
        let shop_slots = Arc::new(crate::http::admission::ShopSlots::new(settings.max_uploads_per_shop));
        let state = AppState {
            shop_slots,
            sql,
            crawls,
            upload_slots,
            settings: Arc::new(settings),
            keys: Arc::new(keys),
            db: backends.db,
            store: backends.store,
            catalog: backends.catalog,
            pipeline,
            metrics,
            answers: Arc::default(),
        };
        Ok(Self { port, listener, state })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and closes the pool.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let db = self.state.db.clone();
        let sweeper = tokio::spawn(sweep_abandoned_uploads(
            self.state.pipeline.clone(),
            self.state.db.clone(),
            self.state.settings.clone(),
        ));
        let limits = crate::http::serve::ConnectionLimits {
            header_read_timeout: self.state.settings.header_read_timeout,
            max_connections: self.state.settings.max_connections,
            // Queries stop at their own limit; uploads past this are finished by the reconciler.
            drain_timeout: self.state.settings.query_timeout + Duration::from_secs(5),
        };
        let router = crate::http::router(self.state);
        crate::http::serve::serve(self.listener, router, limits, shutdown).await;
        sweeper.abort();
        // The sweeper is gone before this instance stops announcing itself alive.
        let _ = sweeper.await;
        db.close().await;
        tracing::info!("shoplake stopped");
        Ok(())
    }
}

/// Every `reconcile_interval`, finishes uploads left in flight by a dependency that failed at the
/// step that would have recorded their end, or by a request cut off by the request timeout (no
/// restart needed). Only uploads not handled by this process and older than any request can
/// live: the request timeout plus a margin of one interval, at most a minute. Also forgets the
/// `Idempotency-Key`s past their 7 days.
async fn sweep_abandoned_uploads(pipeline: Pipeline, db: Db, settings: Arc<Settings>) {
    let margin = settings.reconcile_interval.min(Duration::from_secs(60));
    let min_age = settings.request_timeout + margin;
    let mut ticks = tokio::time::interval(settings.reconcile_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; start-up has just reconciled
    loop {
        ticks.tick().await;
        if let Err(error) = pipeline.reconcile_abandoned(min_age).await {
            tracing::warn!(%error, "the periodic reconciler could not run; it retries at the next interval");
        }
        match db.idempotency_keys().purge_expired(crate::db::now_ms()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "forgot Idempotency-Keys older than 7 days"),
            Err(error) => {
                tracing::warn!(%error, "expired Idempotency-Keys could not be purged; retried at the next interval")
            }
        }
    }
}

/// Resolves on SIGINT (ctrl-c) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}

/// Hides a password in a database URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}
