//! State database: a pool over SQLite or PostgreSQL (sqlx `Any`), migrations, and repositories.

mod catalog;
mod idempotency;
mod uploads;

pub use catalog::{CatalogRows, PartitionRow, TableRow};
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
    Unavailable(#[from] sqlx::Error),
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

/// Result alias of the state layer.
pub type DbResult<T> = Result<T, DbError>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The state database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// For SQLite: the file and the identity (device, inode) it had when opened.
    sqlite_file: Option<(std::path::PathBuf, (u64, u64))>,
}

impl Db {
    /// Connects to `sqlite://...` (created if missing, WAL) or `postgres://...`; `timeout` is
    /// how long a statement waits for a lock (SQLite's busy timeout) or for a pooled connection.
    #[tracing::instrument(name = "db.connect", skip_all)]
    pub async fn connect(url: &str, timeout: Duration) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let url = prepare_url(url);
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 8 } else { 16 })
            .acquire_timeout(timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        let pragmas = format!(
                            "pragma journal_mode = wal; pragma synchronous = normal; pragma busy_timeout = {};",
                            timeout.as_millis()
                        );
                        sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas)).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let sqlite_file = sqlite_path(&url).and_then(|path| Some((path.clone(), file_identity(&path)?)));
        Ok(Self { pool, sqlite_file })
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
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Proves the database answers now (and, for SQLite, is still the file it opened).
    pub async fn ping(&self) -> DbResult<()> {
        self.check_file()?;
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The uploads repository.
    pub fn uploads(&self) -> Uploads<'_> {
        Uploads::new(&self.pool)
    }

    /// The embedded catalog's rows.
    pub fn catalog_rows(&self) -> CatalogRows<'_> {
        CatalogRows::new(&self.pool)
    }

    /// The idempotency-key repository.
    pub fn idempotency_keys(&self) -> IdempotencyKeys<'_> {
        IdempotencyKeys::new(&self.pool)
    }

    /// Closes the pool (graceful shutdown).
    pub async fn close(&self) {
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
