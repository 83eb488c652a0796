//! `QueryEngine`: runs one read-only SQL statement over Hive-partitioned Parquet tables.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::TableParquetOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::{
    CacheManager, CacheManagerConfig, FileMetadataCache, FileStatisticsCache,
};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use futures_util::StreamExt;

use super::cancel::{stop_on_cancel, Cancel};
use super::catalog_listing::CatalogListing;
use super::error::QueryError;
use super::functions::bound_scalar_functions;
use super::guard::parse_read_only_apart;
use super::limits::SqlLimits;
use super::output::{columns_of, QueryOutput};
use super::recorder::{RecordingTable, ScannedFiles};
use super::snapshot::{PinnedRemoteStore, SnapshotStore};
use super::stats::{scan_figures, QueryStats};

/// One table to expose to SQL: Parquet files under `root` in Hive partition directories.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// SQL name, e.g. `sales_processed`.
    pub name: String,
    /// Table location URL ending in `/`, e.g. `file:///abs/data/processed/` or `s3://b/p/processed/`.
    pub root: String,
    /// Columns stored in the files (no partition columns); files lacking one read it as NULL.
    pub file_schema: SchemaRef,
    /// Partition columns in directory order, e.g. `["shop_id", "date"]`; typed Utf8.
    pub partition_columns: Vec<String>,
    /// Every file of the table as the catalog records it, when it can: the query is planned
    /// from these instead of listing storage. `None`: storage is listed.
    pub files: Option<Arc<Vec<CatalogFile>>>,
}

/// A partition file as the catalog records it: enough to plan a query without listing storage.
#[derive(Debug, Clone)]
pub struct CatalogFile {
    /// Path below the table's root, e.g. `shop_id=001/date=2025-07-30/data.parquet`.
    pub relative_path: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's name for this version of the file (see `storage::ObjectMeta::version`).
    pub version: String,
    /// When the catalog recorded it (changes with every replacement).
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// Per-query limits.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Wall time for planning plus execution.
    pub timeout: Duration,
    /// Rows returned at most; more rows set `truncated`.
    pub max_rows: usize,
    /// Size of the query's memory pool (hash tables, sorts); spilling to disk is off.
    pub memory_bytes: usize,
    /// Length and nesting of the statement.
    pub sql: SqlLimits,
    /// Queries running at once (each on the engine's own threads); more wait, then `Busy`.
    pub max_concurrent: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_rows: 10_000,
            memory_bytes: 1 << 30,
            sql: SqlLimits::default(),
            max_concurrent: 2,
        }
    }
}

/// How long a query waits for a free slot before `Busy`.
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Stack of the query threads: planning and optimizing recurse over the (depth-checked) tree.
const QUERY_STACK_BYTES: usize = 64 << 20;

/// Runs of one query when partitions keep being replaced under it (see `snapshot`); between
/// runs it waits a little longer each time (with jitter, so readers do not retry in step).
const MAX_ATTEMPTS: u32 = 6;
/// Runs planned from the catalog's record of the files; later runs list storage, so a catalog
/// entry left behind its file (a crash between the two, until the reconciler finishes the
/// upload) never keeps a query from answering.
const CATALOG_ATTEMPTS: u32 = 2;
const RETRY_BACKOFF: Duration = Duration::from_millis(20);

/// The embedded SQL engine. Cheap to share (`Arc`) and safe to call concurrently; every query
/// gets a fresh DataFusion session, so it lists the tables anew and sees new partitions at once.
/// Parquet footers and file statistics are cached across queries, keyed by path and checked
/// against size and modification time, so a replaced file is never read through a stale footer.
///
/// Queries run on the engine's own threads (a runtime apart from the one serving HTTP), at
/// most `max_concurrent` at once: a CPU-bound query slows other queries, never `/healthz` or
/// uploads. At the time limit the answer is sent and the query's task is cancelled; it stops
/// at its next batch boundary (planning, bounded by the statement limits, runs to its end).
pub struct QueryEngine {
    core: Arc<Core>,
    runtime: Option<tokio::runtime::Runtime>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Running queries are cancelled; never wait for them (nor block an async caller).
            runtime.shutdown_background();
        }
    }
}

/// Stops a spawned query when the request that waits for it goes away (answered at the time
/// limit, or the client left): its streams end at their next batch, its task is aborted.
struct StopOnDrop(tokio::task::AbortHandle, Cancel);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.1.cancel();
        self.0.abort();
    }
}

/// What a query needs, shared with the task that runs it.
struct Core {
    limits: QueryLimits,
    remote_store: Option<(url::Url, Arc<dyn object_store::ObjectStore>)>,
    metadata_cache: Arc<FileMetadataCache>,
    statistics_cache: Option<Arc<FileStatisticsCache>>,
    target_partitions: usize,
}

impl QueryEngine {
    /// `object_store`: an extra store for the table roots' scheme and authority (e.g.
    /// `s3://bucket`); `None` when the tables are local (`file://` is always available).
    pub fn new(limits: QueryLimits, object_store: Option<(url::Url, Arc<dyn object_store::ObjectStore>)>) -> Self {
        let caches =
            CacheManager::try_new(&CacheManagerConfig::default()).expect("default cache configuration is valid");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name("shoplake-query")
            .thread_stack_size(QUERY_STACK_BYTES)
            .enable_all()
            .build()
            .expect("the query threads can be started");
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent.max(1)));
        let core = Core {
            limits,
            remote_store: object_store,
            metadata_cache: caches.get_file_metadata_cache(),
            statistics_cache: caches.get_file_statistic_cache(),
            target_partitions: cores,
        };
        Self { core: Arc::new(core), runtime: Some(runtime), slots }
    }

    /// The limits every query runs under.
    pub fn limits(&self) -> &QueryLimits {
        &self.core.limits
    }

    /// Queries holding a slot now (running, or still planning past their time limit).
    pub fn queries_running(&self) -> usize {
        self.core.limits.max_concurrent.max(1) - self.slots.available_permits()
    }

    /// Runs one read-only statement over `tables`, within the engine's limits, on the engine's
    /// own threads.
    pub async fn execute(&self, sql: &str, tables: &[TableSource]) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let limits = &self.core.limits;
        // Refused before taking a slot: text and tree limits, read-only (on a big-stack thread).
        let statement = parse_read_only_apart(sql, &limits.sql).await?;
        let permit = match tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(QueryError::Busy(format!(
                    "all {} query slots stayed busy for {} s; retry in a moment",
                    limits.max_concurrent,
                    QUEUE_WAIT.as_secs()
                )))
            }
        };
        let (core, tables) = (Arc::clone(&self.core), tables.to_vec());
        let cancel = Cancel::default();
        let cancel_query = cancel.clone();
        let runtime = self.runtime.as_ref().expect("present until dropped");
        // The slot is held until the task itself ends, so a query still planning past its time
        // limit keeps counting against the concurrency bound.
        let task = runtime.spawn(async move {
            let result = core.execute(statement, &tables, started, &cancel_query).await;
            drop(permit);
            result
        });
        let _stop = StopOnDrop(task.abort_handle(), cancel);
        let limit = limits.timeout;
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), task).await {
            Ok(Ok(result)) => result,
            Ok(Err(stopped)) if stopped.is_panic() => {
                Err(QueryError::Internal("the query stopped unexpectedly (a bug in the engine)".into()))
            }
            Ok(Err(_)) | Err(_) => Err(QueryError::Timeout { limit }),
        }
    }
}

impl Core {
    async fn execute(
        &self,
        statement: DfStatement,
        tables: &[TableSource],
        started: Instant,
        cancel: &Cancel,
    ) -> Result<QueryOutput, QueryError> {
        // A partition replaced between listing and reading: run again on a fresh listing. (The
        // time limit is the caller's: it cancels this task.)
        for attempt in 1..=MAX_ATTEMPTS {
            let from_catalog = attempt <= CATALOG_ATTEMPTS;
            match self.run(statement.clone(), tables, started, cancel, from_catalog).await {
                Err(QueryError::LakeChanged { .. }) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, "a partition was replaced during the query: running it again");
                    let jitter = rand::random_range(0..=RETRY_BACKOFF.as_millis() as u64);
                    tokio::time::sleep(RETRY_BACKOFF * attempt + Duration::from_millis(jitter)).await;
                }
                Err(QueryError::LakeChanged { .. }) => return Err(QueryError::LakeChanged { attempts: attempt }),
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn run(
        &self,
        statement: DfStatement,
        tables: &[TableSource],
        started: Instant,
        cancel: &Cancel,
        from_catalog: bool,
    ) -> Result<QueryOutput, QueryError> {
        let df_err = |e: DataFusionError| QueryError::from_datafusion(e, self.limits.memory_bytes);
        let mut listing = CatalogListing::default();
        if from_catalog {
            for table in tables {
                if let Some(files) = &table.files {
                    let url = ListingTableUrl::parse(table_root(table)).map_err(df_err)?;
                    listing.add_table(url.prefix(), files);
                }
            }
        }
        let every_table_from_catalog = from_catalog && tables.iter().all(|t| t.files.is_some());
        let share_caches = self.remote_store.is_none() || every_table_from_catalog;
        let ctx = self.session(Arc::new(listing), share_caches).map_err(df_err)?;
        let files = ScannedFiles::default();
        for table in tables {
            let listing = self.listing_table(&ctx, table, share_caches).map_err(df_err)?;
            let provider = Arc::new(RecordingTable::new(listing, Arc::clone(&files)));
            ctx.register_table(table.name.as_str(), provider).map_err(df_err)?;
        }
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(df_err)?;
        // Second line of defence behind the parser check: no DDL, DML or session statements.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| QueryError::NotReadOnly(e.message().into_owned()))?;
        let physical = state.create_physical_plan(&plan).await.map_err(df_err)?;
        let physical = stop_on_cancel(physical, cancel).map_err(df_err)?;
        let schema = physical.schema();

        let mut stream = execute_stream(Arc::clone(&physical), ctx.task_ctx()).map_err(df_err)?;
        let (batches, truncated) = take_rows(&mut stream, self.limits.max_rows).await.map_err(df_err)?;
        drop(stream);

        let rows_returned = batches.iter().map(|b| b.num_rows() as u64).sum();
        let files = files.lock().unwrap_or_else(|e| e.into_inner());
        let scan = scan_figures(&files, &physical);
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        Ok(QueryOutput {
            columns: columns_of(&schema),
            batches,
            schema,
            truncated,
            stats: QueryStats {
                elapsed_ms: (elapsed * 1000.0).round() / 1000.0,
                partitions_scanned: scan.partitions,
                files_scanned: scan.files,
                bytes_scanned: scan.bytes,
                rows_returned,
            },
        })
    }

    /// A fresh session: own memory pool, no spilling, no URL tables, files listed from
    /// `listing` where it has them. Local tables share the footer caches across queries; remote
    /// ones only when every table is planned from the catalog (S3's modification times have
    /// one-second resolution, so a same-size replacement within a second would pass the caches'
    /// size-and-time check; the times the catalog listing gives are unique per record).
    fn session(&self, listing: Arc<CatalogListing>, share_caches: bool) -> Result<SessionContext, DataFusionError> {
        let caches = if !share_caches {
            CacheManagerConfig::default()
        } else {
            CacheManagerConfig::default()
                .with_file_metadata_cache(Some(Arc::clone(&self.metadata_cache)))
                .with_file_statistics_cache(self.statistics_cache.clone())
        }
        .with_list_files_cache(None)
        .with_list_files_cache_limit(0);
        // Each query reads through its own pinned snapshot (see `snapshot`).
        let registry = Arc::new(DefaultObjectStoreRegistry::new());
        let local = url::Url::parse("file://").expect("a valid URL");
        registry.register_store(&local, Arc::new(SnapshotStore::new(Arc::clone(&listing))));
        if let Some((url, store)) = &self.remote_store {
            registry.register_store(url, Arc::new(PinnedRemoteStore::new(Arc::clone(store), listing)));
        }
        let registry: Arc<dyn ObjectStoreRegistry> = registry;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.limits.memory_bytes, 1.0)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .with_object_store_registry(registry)
            .with_cache_manager(caches)
            .build_arc()?;
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(self.target_partitions)
            .with_collect_statistics(true);
        let options = config.options_mut();
        options.sql_parser.collect_spans = true;
        options.execution.parquet.pruning = true;
        options.execution.parquet.enable_page_index = true;
        let mut state =
            SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
        bound_scalar_functions(&mut state)?;
        Ok(SessionContext::new_with_state(state))
    }

    /// The table as DataFusion lists and reads it; `share_caches`: its file statistics are
    /// kept across queries (see `session`).
    fn listing_table(
        &self,
        ctx: &SessionContext,
        table: &TableSource,
        share_caches: bool,
    ) -> Result<Arc<ListingTable>, DataFusionError> {
        let url = ListingTableUrl::parse(table_root(table))?;
        let parquet: TableParquetOptions = ctx.state().table_options().parquet.clone();
        let format = ParquetFormat::default().with_options(parquet);
        let partition_columns = table.partition_columns.iter().map(|c| (c.clone(), DataType::Utf8)).collect();
        let options = ListingOptions::new(Arc::new(format))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partition_columns);
        let config =
            ListingTableConfig::new(url).with_listing_options(options).with_schema(Arc::clone(&table.file_schema));
        let shared = if share_caches { self.statistics_cache.clone() } else { None };
        let listing = ListingTable::try_new(config)?.with_cache(shared);
        Ok(Arc::new(listing))
    }
}

/// The table's root URL, ending in `/`.
fn table_root(table: &TableSource) -> String {
    if table.root.ends_with('/') {
        table.root.clone()
    } else {
        format!("{}/", table.root)
    }
}

/// Pulls batches until `max_rows` rows are held; `true` when at least one more row existed.
async fn take_rows(
    stream: &mut datafusion::physical_plan::SendableRecordBatchStream,
    max_rows: usize,
) -> Result<(Vec<RecordBatch>, bool), DataFusionError> {
    let mut batches = Vec::new();
    let mut rows = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let n = batch.num_rows();
        if rows + n > max_rows {
            let keep = max_rows - rows;
            if keep > 0 {
                batches.push(batch.slice(0, keep));
            }
            return Ok((batches, true));
        }
        rows += n;
        if n > 0 {
            batches.push(batch);
        }
    }
    Ok((batches, false))
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
