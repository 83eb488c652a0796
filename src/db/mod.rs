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
}

impl Db {
    /// Connects to `sqlite://...` (created if missing, WAL) or `postgres://...`.
    #[tracing::instrument(name = "db.connect", skip_all)]
    pub async fn connect(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let url = prepare_url(url);
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        sqlx::raw_sql(
                            "pragma journal_mode = wal; pragma synchronous = normal; pragma busy_timeout = 5000;",
                        )
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Self { pool })
    }

    /// Applies pending migrations.
    #[tracing::instrument(name = "db.migrate", skip_all)]
    pub async fn migrate(&self) -> DbResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Proves the database answers now.
    pub async fn ping(&self) -> DbResult<()> {
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
