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
//! - **Dead hosts**: a killed process's sessions end at once (its TCP connections close), but a
//!   host that crashes or drops off the network sends nothing. Both kinds of session therefore
//!   ask the server for TCP keepalives, so the server ends them, and frees their locks, within
//!   [`DEAD_SESSION_BOUND`] of the host's last packet (instead of the OS default of 2 h 11 min).
//! - **Fence**: a lock is only as good as its connection; if that connection dies mid-commit,
//!   another replica may take the lock while this one is still writing. The commit's final
//!   transaction is therefore fenced by compare-and-set on the shop-day's current upload (see
//!   `Uploads::commit_succeeded`), and the pipeline repairs what a fenced-off commit wrote.

use super::{DbOptions, DbResult};
use crate::domain::{SalesDate, ShopId};
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Transaction};
use std::time::Duration;

/// How often the liveness connection is checked (and re-taken when it dropped).
const LIVENESS_CHECK: Duration = Duration::from_secs(2);
/// Longest wait for one liveness check or reconnection (a half-open connection never answers).
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(5);

/// Server-side TCP keepalives of the lock and liveness sessions: first probe after this much
/// silence from the client...
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
/// ...then one probe every this long...
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// ...and the session ends after this many unanswered probes.
pub const KEEPALIVE_COUNT: u32 = 3;

/// The longest a crashed (or cut off) host's lock and liveness sessions outlive it on the server:
/// idle + interval x count = 25 s of silence. Data the server is sending to a dead host is bounded
/// by the same figure (`tcp_user_timeout`, PostgreSQL 12+ on Linux).
pub const DEAD_SESSION_BOUND: Duration =
    Duration::from_secs(KEEPALIVE_IDLE.as_secs() + KEEPALIVE_INTERVAL.as_secs() * KEEPALIVE_COUNT as u64);

/// How long an instance may look gone while it is in fact alive: its liveness session dropped
/// and the keeper has not taken the lock again yet (one check plus one reconnection). A
/// reconciler takes over a gone instance's upload only once the upload has not changed for
/// this long.
pub const TAKEOVER_GRACE: Duration = Duration::from_secs(10);

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
    held: Option<Transaction<'static, Any>>,
}

impl ShopDayLock {
    /// A setting of the session holding this lock, as the server applies it (`pg_settings`, base
    /// unit: e.g. `tcp_keepalives_idle` in seconds); `None` without one (SQLite). For diagnostics.
    pub async fn session_setting(&mut self, name: &str) -> DbResult<Option<String>> {
        match self.held.as_mut() {
            None => Ok(None),
            Some(held) => setting(held, name).await.map(Some),
        }
    }
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
        let lock_session = session_setup(&format!("shoplake-lock {}", instance.as_str()));
        let locks = AnyPoolOptions::new()
            .max_connections(options.lock_connections.max(2))
            .acquire_timeout(options.timeout)
            .after_connect(move |conn, _meta| {
                let lock_session = lock_session.clone();
                Box::pin(async move {
                    // Waiting for a shop-day lock may take as long as another replica's commit,
                    // and the lock's transaction stays idle while the partition is written: a
                    // server-side idle timeout would end it and free the lock mid-commit.
                    let setup = format!(
                        "set statement_timeout = 0; set lock_timeout = {lock_wait}; set idle_in_transaction_session_timeout = 0; {lock_session}"
                    );
                    sqlx::raw_sql(sqlx::AssertSqlSafe(setup)).execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let key = key_of("instance", instance.as_str());
        let setup = session_setup(&format!("shoplake-liveness {}", instance.as_str()));
        let liveness = hold_liveness(url, key, &setup).await?;
        let session: Session = std::sync::Arc::new(tokio::sync::Mutex::new(Some(liveness)));
        let keeper = tokio::spawn(keep_alive(url.to_owned(), key, setup, session.clone()));
        Ok(Self { locks, session, keeper: std::sync::Mutex::new(Some(keeper)) })
    }

    pub(super) async fn lock_shop_day(&self, shop: &ShopId, date: &SalesDate) -> DbResult<ShopDayLock> {
        let mut held = self.locks.begin().await?;
        sqlx::query("select count(*) as n from (select pg_advisory_xact_lock($1)) as taken")
            .bind(key_of("shop-day", &format!("{shop}/{date}")))
            .fetch_one(&mut *held)
            .await?;
        Ok(ShopDayLock { held: Some(held) })
    }

    /// A setting of the liveness session (see [`ShopDayLock::session_setting`]); `None` while
    /// that session is being re-taken.
    pub(super) async fn liveness_setting(&self, name: &str) -> DbResult<Option<String>> {
        match self.session.lock().await.as_mut() {
            None => Ok(None),
            Some(session) => setting(session, name).await.map(Some),
        }
    }

    /// Reads `pg_locks` (takes nothing, so nothing can be left held): a one-key advisory lock
    /// shows as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
    pub(super) async fn instance_alive(&self, owner: &str) -> DbResult<bool> {
        let key = key_of("instance", owner) as u64;
        let held: i64 = sqlx::query_scalar(
            "select count(*) as n from pg_locks where locktype = 'advisory' and granted and objsubid = 1 \
             and database = (select oid from pg_database where datname = current_database()) \
             and classid::text::bigint = $1 and objid::text::bigint = $2",
        )
        .bind((key >> 32) as i64)
        .bind((key & 0xffff_ffff) as i64)
        .fetch_one(&self.locks)
        .await?;
        Ok(held > 0)
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

/// SQL that names a lock or liveness session (`application_name`, so operators and tests find
/// it in `pg_stat_activity`) and sets its server-side TCP keepalives (see [`DEAD_SESSION_BOUND`];
/// all user-settable). Sessions over a Unix socket ignore the keepalive settings.
fn session_setup(name: &str) -> String {
    format!(
        "set application_name = '{name}'; set tcp_keepalives_idle = {}; set tcp_keepalives_interval = {}; set tcp_keepalives_count = {KEEPALIVE_COUNT}; \
         select set_config('tcp_user_timeout', '{}', false) from pg_settings where name = 'tcp_user_timeout';",
        KEEPALIVE_IDLE.as_secs(),
        KEEPALIVE_INTERVAL.as_secs(),
        DEAD_SESSION_BOUND.as_millis(),
    )
}

/// One setting of the session `connection` is, from `pg_settings`.
async fn setting(connection: &mut AnyConnection, name: &str) -> DbResult<String> {
    let value = sqlx::query_scalar("select setting from pg_settings where name = $1")
        .bind(name.to_owned())
        .fetch_one(connection)
        .await?;
    Ok(value)
}

/// A dedicated session holding the instance's liveness lock.
async fn hold_liveness(url: &str, key: i64, setup: &str) -> DbResult<AnyConnection> {
    let taking = async {
        let mut session = AnyConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(setup.to_owned())).execute(&mut session).await?;
        // A lock still held by this instance's previous session (not yet noticed as dropped by
        // the server) makes this wait until the server ends that session.
        sqlx::query("select count(*) as n from (select pg_advisory_lock($1)) as taken")
            .bind(key)
            .fetch_one(&mut session)
            .await?;
        Ok::<_, sqlx::Error>(session)
    };
    match tokio::time::timeout(LIVENESS_TIMEOUT * 6, taking).await {
        Ok(taken) => Ok(taken?),
        Err(_) => Err(sqlx::Error::PoolTimedOut.into()),
    }
}

/// Keeps the liveness session up; when the connection drops (database restart, network), the
/// lock is gone with it and is taken again as soon as the database answers.
async fn keep_alive(url: String, key: i64, setup: String, session: Session) {
    loop {
        tokio::time::sleep(LIVENESS_CHECK).await;
        let mut held = session.lock().await;
        let Some(connection) = held.as_mut() else {
            return; // closed
        };
        let ping = tokio::time::timeout(LIVENESS_TIMEOUT, sqlx::query("select 1").execute(&mut *connection)).await;
        if matches!(ping, Ok(Ok(_))) {
            continue;
        }
        tracing::warn!("lost the database session that marks this instance alive; reconnecting");
        loop {
            match hold_liveness(&url, key, &setup).await {
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

/// A stable 64-bit advisory-lock key for `text` in `namespace`.
fn key_of(namespace: &str, text: &str) -> i64 {
    let digest = Sha256::digest(format!("shoplake/{namespace}/{text}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("a sha256 digest has 8 bytes"))
}
