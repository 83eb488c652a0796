//! Coordination of replicas through PostgreSQL advisory locks (SQLite needs none: one process
//! owns the file).
//!
//! - **Shop-day lock**: the commit of an upload (read the current upload, write the partition,
//!   record the outcome) holds a transaction-scoped advisory lock on its shop-day, on a
//!   connection of a small pool of its own, so two replicas never commit the same shop-day at
//!   once. The lock goes with the transaction: a crashed replica's lock is gone with its
//!   connection, never left held.
//! - **Liveness**: each instance holds a session-level advisory lock on its own id for as long
//!   as it runs, on one dedicated connection (re-taken if that connection drops). Whether the
//!   owner of an upload in flight is alive is one `pg_try_advisory_lock`: a killed process's
//!   session ends with its TCP connection, so reconcilers take over its uploads at once, while
//!   uploads of live replicas are never touched.

use super::{DbOptions, DbResult};
use crate::domain::{SalesDate, ShopId};
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Row, Transaction};
use std::time::Duration;

/// Lock namespaces (the first key of two-key advisory locks): ASCII `SHOP` and `INST`.
const SHOP_DAY: i32 = 0x5348_4f50;
const INSTANCE: i32 = 0x494e_5354;

/// How often the liveness connection is checked (and re-taken when it dropped).
const LIVENESS_CHECK: Duration = Duration::from_secs(2);

/// The identity of one running process (a `serve` replica or a CLI run): a UUIDv7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId(String);

impl InstanceId {
    /// A fresh identity.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// As stored in `uploads.instance_id`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for InstanceId {
    fn default() -> Self {
        Self::new()
    }
}

/// A held shop-day lock; released when dropped (the transaction rolls back).
#[derive(Debug, Default)]
pub struct ShopDayLock {
    _held: Option<Transaction<'static, Any>>,
}

/// The lock pool and the liveness session of one instance.
#[derive(Debug)]
pub(super) struct Coordination {
    locks: AnyPool,
    session: Session,
    keeper: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The liveness session, shared by the keeper task and `close`.
type Session = std::sync::Arc<tokio::sync::Mutex<Option<AnyConnection>>>;

impl Coordination {
    /// Opens the lock pool and takes this instance's liveness lock before returning.
    pub(super) async fn start(url: &str, options: &DbOptions, instance: &InstanceId) -> DbResult<Self> {
        let lock_wait = options.lock_wait.as_millis();
        let locks = AnyPoolOptions::new()
            .max_connections(options.lock_connections.max(2))
            .acquire_timeout(options.timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // Waiting for a shop-day lock may take as long as another replica's commit.
                    let setup = format!("set statement_timeout = 0; set lock_timeout = {lock_wait};");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(setup)).execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let key = key_of(instance.as_str());
        let session: Session = std::sync::Arc::new(tokio::sync::Mutex::new(Some(hold_liveness(url, key).await?)));
        let keeper = tokio::spawn(keep_alive(url.to_owned(), key, session.clone()));
        Ok(Self { locks, session, keeper: std::sync::Mutex::new(Some(keeper)) })
    }

    pub(super) async fn lock_shop_day(&self, shop: &ShopId, date: &SalesDate) -> DbResult<ShopDayLock> {
        let mut held = self.locks.begin().await?;
        sqlx::query("select count(*) as n from (select pg_advisory_xact_lock($1, $2)) as taken")
            .bind(SHOP_DAY)
            .bind(key_of(&format!("{shop}/{date}")))
            .fetch_one(&mut *held)
            .await?;
        Ok(ShopDayLock { _held: Some(held) })
    }

    pub(super) async fn instance_alive(&self, owner: &str) -> DbResult<bool> {
        let key = key_of(owner);
        let mut conn = self.locks.acquire().await?;
        let free: bool = sqlx::query("select pg_try_advisory_lock($1, $2) as free")
            .bind(INSTANCE)
            .bind(key)
            .fetch_one(&mut *conn)
            .await?
            .try_get("free")?;
        if free {
            // Nobody held it: the owner is gone. Give it back at once.
            sqlx::query("select pg_advisory_unlock($1, $2) as released")
                .bind(INSTANCE)
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
        }
        Ok(!free)
    }

    /// Stops announcing this instance: the liveness lock is released before the connection
    /// closes, so a replica starting right after sees it gone without a race.
    pub(super) async fn close(&self) {
        if let Some(keeper) = self.keeper.lock().unwrap_or_else(|e| e.into_inner()).take() {
            keeper.abort();
        }
        if let Some(mut session) = self.session.lock().await.take() {
            let _ = sqlx::query("select pg_advisory_unlock_all()::text as done").fetch_one(&mut session).await;
            let _ = session.close().await;
        }
        self.locks.close().await;
    }
}

impl Drop for Coordination {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.lock().unwrap_or_else(|e| e.into_inner()).take() {
            keeper.abort();
        }
    }
}

/// A dedicated session holding the instance's liveness lock.
async fn hold_liveness(url: &str, key: i32) -> DbResult<AnyConnection> {
    let mut session = AnyConnection::connect(url).await?;
    sqlx::query("select count(*) as n from (select pg_advisory_lock($1, $2)) as taken")
        .bind(INSTANCE)
        .bind(key)
        .fetch_one(&mut session)
        .await?;
    Ok(session)
}

/// Keeps the liveness session up; when the connection drops (database restart, network), the
/// lock is gone with it and is taken again as soon as the database answers.
async fn keep_alive(url: String, key: i32, session: Session) {
    loop {
        tokio::time::sleep(LIVENESS_CHECK).await;
        let mut held = session.lock().await;
        let Some(connection) = held.as_mut() else {
            return; // closed
        };
        if sqlx::query("select 1").execute(&mut *connection).await.is_ok() {
            continue;
        }
        tracing::warn!("lost the database session that marks this instance alive; reconnecting");
        loop {
            match hold_liveness(&url, key).await {
                Ok(fresh) => {
                    *held = Some(fresh);
                    tracing::info!("instance liveness lock taken again");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not take the instance liveness lock yet");
                    tokio::time::sleep(LIVENESS_CHECK).await;
                }
            }
        }
    }
}

/// A stable 32-bit key for an advisory lock (collisions only serialize more than needed).
fn key_of(text: &str) -> i32 {
    let digest = Sha256::digest(text.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}
