//! State database: a pool over SQLite or PostgreSQL (sqlx `Any`), migrations, and repositories.

mod catalog;
mod coordination;
mod idempotency;
mod uploads;

pub use catalog::{CatalogRows, PartitionRow, TableRow};
pub use coordination::{
    InstanceId, ShopDayLock, DEAD_SESSION_BOUND, KEEPALIVE_COUNT, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, TAKEOVER_GRACE,
};
pub use idempotency::{IdempotencyKeys, KeyRecord};
pub use uploads::{IngestResult, ListFilter, NewUpload, UploadRecord, Uploads};

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::time::Duration;

/// Errors of the state layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached or answered with an error: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file was removed or replaced under the running service: writing on would
    /// land in a file nobody will ever open again, so every request is refused until restart.
    #[error("database file {path} was removed or replaced while the service was running")]
    FileGone {
        /// The file.
        path: String,
    },
    /// A stored value does not parse (a bug or a hand-edited row).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// What did not parse.
        detail: String,
    },
    /// The commit of a shop-day was fenced off: the shop-day's current upload is no longer the
    /// one read under the shop-day lock, so another commit got in (the lock was lost with its
    /// connection mid-commit). Nothing was recorded; the caller decides again under the lock.
    #[error("upload {id} was not committed: another commit of its shop-day got in first")]
    Fenced {
        /// The upload whose commit was refused.
        id: String,
    },
    /// The state machine does not allow the requested change (someone else moved the row).
    #[error("upload {id} is {actual}, cannot become {wanted}")]
    Conflict {
        /// The upload.
        id: String,
        /// Its status now.
        actual: String,
        /// The status asked for.
        wanted: String,
    },
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        crate::metrics::dependencies::DATABASE.error();
        Self::Unavailable(error)
    }
}

/// Result alias of the state layer.
pub type DbResult<T> = Result<T, DbError>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How to connect: timeouts and pool sizes.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// How long a statement waits for a lock (SQLite's busy timeout) or for a pooled connection.
    pub timeout: Duration,
    /// Connections of the main pool.
    pub max_connections: u32,
    /// PostgreSQL: longest a statement may run (`statement_timeout`) before it is cancelled.
    pub statement_timeout: Duration,
    /// PostgreSQL: connections of the pool that holds shop-day locks (one per upload committing).
    pub lock_connections: u32,
    /// PostgreSQL: longest wait for a shop-day lock another replica holds.
    pub lock_wait: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_connections: 16,
            statement_timeout: Duration::from_secs(30),
            lock_connections: 8,
            lock_wait: Duration::from_secs(900),
        }
    }
}

/// The state database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// For SQLite: the file and the identity (device, inode) it had when opened.
    sqlite_file: Option<(std::path::PathBuf, (u64, u64))>,
    /// This process, as the owner of the uploads it handles.
    instance: InstanceId,
    /// PostgreSQL: the locks and liveness that coordinate replicas.
    coordination: Option<std::sync::Arc<coordination::Coordination>>,
    /// The URL connected to (migrations use a connection of their own on PostgreSQL).
    url: String,
}

impl Db {
    /// Connects to `sqlite://...` (created if missing, WAL) or `postgres://...`. On PostgreSQL it
    /// also opens the lock pool and announces this instance as alive (see `coordination`).
    #[tracing::instrument(name = "db.connect", skip_all)]
    pub async fn connect(url: &str, options: &DbOptions) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let url = prepare_url(url);
        let is_sqlite = url.starts_with("sqlite:");
        let timeout = options.timeout;
        let statement_timeout = options.statement_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { options.max_connections.min(8) } else { options.max_connections })
            .acquire_timeout(timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    let setup = if is_sqlite {
                        format!(
                            "pragma journal_mode = wal; pragma synchronous = normal; pragma busy_timeout = {};",
                            timeout.as_millis()
                        )
                    } else {
                        format!(
                            "set statement_timeout = {statement_timeout}; set lock_timeout = {};",
                            timeout.as_millis()
                        )
                    };
                    sqlx::raw_sql(sqlx::AssertSqlSafe(setup)).execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let sqlite_file = sqlite_path(&url).and_then(|path| Some((path.clone(), file_identity(&path)?)));
        let instance = InstanceId::new();
        let coordination = if is_sqlite {
            None
        } else {
            Some(std::sync::Arc::new(coordination::Coordination::start(&url, options, &instance).await?))
        };
        Ok(Self { pool, sqlite_file, instance, coordination, url })
    }

    /// Fails when the SQLite file was removed or replaced since it was opened (a cheap stat);
    /// always fine for PostgreSQL.
    pub fn check_file(&self) -> DbResult<()> {
        match &self.sqlite_file {
            Some((path, identity)) if file_identity(path).as_ref() != Some(identity) => {
                Err(DbError::FileGone { path: path.display().to_string() })
            }
            _ => Ok(()),
        }
    }

    /// Applies pending migrations.
    #[tracing::instrument(name = "db.migrate", skip_all)]
    pub async fn migrate(&self) -> DbResult<()> {
        if self.coordination.is_none() {
            MIGRATOR.run(&self.pool).await?;
            return Ok(());
        }
        // PostgreSQL: without the pool's statement and lock timeouts, so a replica starting
        // while another migrates (sqlx serializes them with a lock) waits instead of failing.
        let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url).await?;
        let migrated = MIGRATOR.run(&mut connection).await;
        let _ = sqlx::Connection::close(connection).await;
        migrated?;
        Ok(())
    }

    /// Whether this database coordinates several instances (PostgreSQL) or belongs to one
    /// process (SQLite).
    pub fn is_shared(&self) -> bool {
        self.coordination.is_some()
    }

    /// Proves the database answers now (and, for SQLite, is still the file it opened).
    pub async fn ping(&self) -> DbResult<()> {
        self.check_file()?;
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The uploads repository.
    pub fn uploads(&self) -> Uploads<'_> {
        Uploads::new(&self.pool, &self.instance)
    }

    /// This process's identity as the owner of uploads in flight.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// Whether the instance that owns an upload in flight still runs: always for this process;
    /// on PostgreSQL, while that instance's session holds its liveness lock (a killed process
    /// loses it at once); on SQLite unknown (`None`: no sessions to ask).
    pub async fn instance_alive(&self, owner: &str) -> DbResult<Option<bool>> {
        if owner == self.instance.as_str() {
            return Ok(Some(true));
        }
        match &self.coordination {
            None => Ok(None),
            Some(coordination) => coordination.instance_alive(owner).await.map(Some),
        }
    }

    /// Serializes the commit of one shop-day across replicas (PostgreSQL: a transaction-scoped
    /// advisory lock, released when the guard drops; SQLite: nothing to do beyond the process's
    /// own lock, as one process owns the file).
    pub async fn lock_shop_day(
        &self,
        shop: &crate::domain::ShopId,
        date: &crate::domain::SalesDate,
    ) -> DbResult<ShopDayLock> {
        match &self.coordination {
            None => Ok(ShopDayLock::default()),
            Some(coordination) => coordination.lock_shop_day(shop, date).await,
        }
    }

    /// A setting of the session holding this instance's liveness lock, as the server applies it
    /// (`pg_settings`, base unit); `None` on SQLite or while that session is being re-taken.
    /// For diagnostics (e.g. that `tcp_keepalives_idle` is in force).
    pub async fn liveness_session_setting(&self, name: &str) -> DbResult<Option<String>> {
        match &self.coordination {
            None => Ok(None),
            Some(coordination) => coordination.liveness_setting(name).await,
        }
    }

    /// The embedded catalog's rows.
    pub fn catalog_rows(&self) -> CatalogRows<'_> {
        CatalogRows::new(&self.pool)
    }

    /// The idempotency-key repository.
    pub fn idempotency_keys(&self) -> IdempotencyKeys<'_> {
        IdempotencyKeys::new(&self.pool)
    }

    /// Closes the pools (graceful shutdown).
    pub async fn close(&self) {
        if let Some(coordination) = &self.coordination {
            coordination.close().await;
        }
        self.pool.close().await;
    }
}

/// The file of a `sqlite:` URL (not for in-memory databases).
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// (device, inode) of a file, None when it does not exist.
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// For SQLite: create the file and its directory when missing.
fn prepare_url(url: &str) -> String {
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return url.to_owned();
    };
    let path = rest.split('?').next().unwrap_or(rest);
    if let Some(parent) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if rest.contains("mode=") {
        url.to_owned()
    } else if rest.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
