//! The shop-day lock is only as good as its database connection. Two replicas in this process
//! (two pipelines, each with its own database coordination, on one bucket and one database):
//! replica A's commit is paused right before it writes the partition file, its lock's
//! connection is killed with `pg_terminate_backend`, replica B commits the same shop-day, then A
//! resumes and writes over B's file. The fence on the commit turns A away and A puts things
//! right: one current upload, the newest, and the lake holds exactly its rows. And the lock and
//! liveness sessions carry the TCP keepalives that end a dead host's sessions.

use crate::helpers::{backend_env, partition_figures, sample_csv, sample_total_cents, Backend, TEST_SECRET};
use async_trait::async_trait;
use shoplake::app::{ingest_options, Backends};
use shoplake::catalog::SALES_TABLE;
use shoplake::db::{ListFilter, UploadRecord, DEAD_SESSION_BOUND, KEEPALIVE_COUNT, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL};
use shoplake::domain::{SalesDate, ShopId, UploadStatus};
use shoplake::metrics::Metrics;
use shoplake::pipeline::{Incoming, Outcome, Pipeline};
use shoplake::storage::{BlobReader, BlobStore, ObjectMeta, PutMode, StorageResult};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::sync::oneshot;

const DATE: &str = "2025-07-30";

/// One put to hold back: the first put whose key starts with `prefix` announces itself on
/// `reached` and waits for `release` before it is sent to storage.
#[derive(Debug)]
struct Pause {
    prefix: String,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A replica's store that can hold back one put (everything else passes through).
#[derive(Debug)]
struct PausingStore {
    inner: Arc<dyn BlobStore>,
    armed: Mutex<Option<Pause>>,
}

impl PausingStore {
    /// Holds back the next put under `prefix`: returns (it has reached storage, let it go).
    fn arm(&self, prefix: String) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached, reached_rx) = oneshot::channel();
        let (release_tx, release) = oneshot::channel();
        *self.armed.lock().unwrap() = Some(Pause { prefix, reached, release });
        (reached_rx, release_tx)
    }

    async fn hold(&self, key: &str) {
        let pause = {
            let mut armed = self.armed.lock().unwrap();
            if armed.as_ref().is_some_and(|p| key.starts_with(&p.prefix)) {
                armed.take()
            } else {
                None
            }
        };
        if let Some(pause) = pause {
            let _ = pause.reached.send(());
            let _ = pause.release.await;
        }
    }
}

#[async_trait]
impl BlobStore for PausingStore {
    async fn put_stream(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        mode: PutMode,
    ) -> StorageResult<u64> {
        self.hold(key).await;
        self.inner.put_stream(key, body, mode).await
    }
    async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StorageResult<ObjectMeta> {
        self.hold(key).await;
        self.inner.put_file(key, path, mode).await
    }
    async fn get(&self, key: &str) -> StorageResult<BlobReader> {
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> StorageResult<bytes::Bytes> {
        self.inner.get_range(key, range).await
    }
    async fn head(&self, key: &str) -> StorageResult<Option<ObjectMeta>> {
        self.inner.head(key).await
    }
    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.inner.delete(key).await
    }
    async fn check(&self) -> StorageResult<()> {
        self.inner.check().await
    }
    async fn remove_incomplete(&self, older_than: Duration) -> StorageResult<usize> {
        self.inner.remove_incomplete(older_than).await
    }
    fn scratch_dir(&self) -> &Path {
        self.inner.scratch_dir()
    }
    fn url_of(&self, prefix: &str) -> String {
        self.inner.url_of(prefix)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// One replica: its own database connections (lock pool, liveness session, instance id) over
/// the shared bucket and database, and a pipeline whose puts the test can hold back.
struct Replica {
    backends: Backends,
    store: Arc<PausingStore>,
    pipeline: Pipeline,
    _temp: tempfile::TempDir,
}

impl Replica {
    async fn start(backend: &Backend) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut env: std::collections::BTreeMap<String, String> = backend_env(backend, temp.path()).into();
        env.insert("SHOPLAKE_JWT_SECRET".into(), TEST_SECRET.into());
        let settings = shoplake::config::load(None, &env).expect("test settings are valid");
        let backends = Backends::open(&settings).await.expect("back ends open");
        let store = Arc::new(PausingStore { inner: backends.store.clone(), armed: Mutex::default() });
        let pipeline = Pipeline::new(
            backends.db.clone(),
            store.clone(),
            backends.catalog.clone(),
            Arc::new(Metrics::default()),
            settings.max_upload_bytes,
            ingest_options(&settings).unwrap(),
        );
        Self { backends, store, pipeline, _temp: temp }
    }

    /// The names of this replica's shop-day lock sessions in `pg_stat_activity`.
    fn lock_sessions(&self) -> String {
        format!("shoplake-lock {}", self.backends.db.instance().as_str())
    }
}

/// Accepts `rows` rows for `shop` on `DATE` through `pipeline`; the upload as created.
async fn upload(pipeline: Pipeline, shop: String, rows: usize) -> UploadRecord {
    let incoming = Incoming {
        shop: ShopId::parse(&shop).unwrap(),
        date: SalesDate::parse(DATE).unwrap(),
        filename: None,
        idempotency_key: None,
    };
    let body = sample_csv(DATE, rows).into_bytes();
    match pipeline.accept(incoming, &mut body.as_slice()).await {
        Ok(Outcome::Created(record)) => record,
        other => panic!("upload of {rows} rows: {other:?}"),
    }
}

/// An admin connection to the test database (superuser: it may end other sessions).
async fn admin() -> sqlx::PgConnection {
    let url = std::env::var("SHOPLAKE_TEST_POSTGRES_URL").expect("SHOPLAKE_TEST_POSTGRES_URL");
    <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.expect("PostgreSQL answers")
}

/// Kills every shop-day lock session of `replica`, after checking one of them holds an advisory
/// lock (the paused commit's shop-day lock).
async fn kill_lock_sessions(replica: &Replica) {
    let mut admin = admin().await;
    let holding: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity s join pg_locks l on l.pid = s.pid \
         where s.application_name = $1 and l.locktype = 'advisory' and l.granted",
    )
    .bind(replica.lock_sessions())
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(holding, 1, "the paused commit holds its shop-day lock on one lock session");
    let killed: Vec<bool> =
        sqlx::query_scalar("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1")
            .bind(replica.lock_sessions())
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert!(killed.contains(&true), "the lock session was ended: {killed:?}");
}

/// Which of the two racing uploads is older.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// A (whose lock dies) started first: B's upload is the newer one.
    FencedOffIsOlder,
    /// B started first (and waits before archiving until A holds the lock): A's is newer.
    FencedOffIsNewer,
}

/// The race, then checks that the shop-day ends with one current upload, the newer of the two,
/// superseding everything else, and that the partition file and the catalog hold exactly its
/// rows. Returns A's and B's uploads as the pipeline answered them, and the shop-day's uploads
/// as they end.
async fn race_after_a_lost_lock(with_current: bool, order: Order) -> (UploadRecord, UploadRecord, Vec<UploadRecord>) {
    // Arrange: two replicas; a shop of its own (advisory lock keys are per database, and the
    // suite's tests share one); optionally a current upload made by B.
    let backend = Backend::fresh().await;
    let (a, b) = tokio::join!(Replica::start(&backend), Replica::start(&backend));
    let shop = format!("fence-{}", uuid::Uuid::now_v7().simple());
    let processed = format!("processed/shop_id={shop}/date={DATE}/data.parquet");
    let first = if with_current { Some(upload(b.pipeline.clone(), shop.clone(), 7).await) } else { None };
    let (a_rows, b_rows) = (11, 13);

    // Act: A pauses at its partition write, holding the shop-day lock; its lock's connection
    // is killed; B commits the shop-day; then A resumes.
    let b_waiting = (order == Order::FencedOffIsNewer).then(|| {
        let (reached, release) = b.store.arm(format!("raw/shop_id={shop}/"));
        (reached, release, tokio::spawn(upload(b.pipeline.clone(), shop.clone(), b_rows)))
    });
    let b_task = match b_waiting {
        Some((reached, release, task)) => {
            reached.await.expect("B's upload reached its archive");
            Some((release, task))
        }
        None => None,
    };
    let (a_reached, a_release) = a.store.arm(processed.clone());
    let a_task = tokio::spawn(upload(a.pipeline.clone(), shop.clone(), a_rows));
    a_reached.await.unwrap_or_else(|_| panic!("A's commit never reached its partition write"));
    kill_lock_sessions(&a).await;
    let b_upload = match b_task {
        Some((release, task)) => {
            release.send(()).unwrap();
            task.await.unwrap()
        }
        None => upload(b.pipeline.clone(), shop.clone(), b_rows).await,
    };
    assert_eq!(b_upload.status, UploadStatus::Succeeded, "B committed while A's lock was gone: {b_upload:?}");
    a_release.send(()).unwrap();
    let a_upload = a_task.await.unwrap();

    // Assert: one current upload, the newer of A and B; every other one superseded by it.
    let (newer, newer_rows) = if a_upload.id > b_upload.id { (&a_upload, a_rows) } else { (&b_upload, b_rows) };
    assert_eq!(a_upload.id > b_upload.id, order == Order::FencedOffIsNewer, "the race ran in the planned order");
    let filter = ListFilter { date: Some(SalesDate::parse(DATE).unwrap()), limit: 100, ..ListFilter::default() };
    let (uploads, _) = b.backends.db.uploads().list(&ShopId::parse(&shop).unwrap(), &filter).await.unwrap();
    assert_eq!(uploads.len(), 2 + usize::from(with_current), "{uploads:#?}");
    let current: Vec<&UploadRecord> = uploads.iter().filter(|u| u.status == UploadStatus::Succeeded).collect();
    assert_eq!(current.len(), 1, "exactly one current upload: {uploads:#?}");
    assert_eq!(current[0].id, newer.id, "the newest upload wins: {uploads:#?}");
    for other in uploads.iter().filter(|u| u.id != newer.id) {
        assert_eq!(other.status, UploadStatus::Superseded, "{other:?}");
        let by = other.superseded_by.as_deref().unwrap_or_default();
        assert!(by > other.id.to_string().as_str(), "superseded by a later upload: {other:?}");
    }
    if let Some(first) = first {
        assert!(uploads.iter().any(|u| u.id == first.id && u.status == UploadStatus::Superseded));
    }
    // The partition file holds exactly the current upload's rows, and the catalog agrees.
    let mut object = b.backends.store.get(&processed).await.unwrap();
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes).await.unwrap();
    let size = bytes.len() as u64;
    let (rows, cents, _, _) = partition_figures(bytes);
    assert_eq!((rows, cents), (newer_rows, sample_total_cents(newer_rows)), "{processed}");
    let partitions = b.backends.catalog.partitions(SALES_TABLE).await.unwrap();
    let entry = partitions.iter().find(|p| p.shop_id == shop && p.date == DATE).expect("catalog partition");
    assert_eq!((entry.rows, entry.bytes, entry.location.as_str()), (newer_rows as u64, size, processed.as_str()));
    a.backends.db.close().await;
    b.backends.db.close().await;
    (a_upload, b_upload, uploads)
}

#[tokio::test]
async fn a_commit_whose_lock_connection_dies_yields_to_the_newer_upload_and_leaves_the_lake_holding_its_rows() {
    let (a, b, _) = race_after_a_lost_lock(true, Order::FencedOffIsOlder).await;
    assert_eq!(a.status, UploadStatus::Superseded, "A is answered as superseded by B: {a:?}");
    assert_eq!(a.superseded_by, Some(b.id.to_string()));
}

#[tokio::test]
async fn a_commit_whose_lock_connection_dies_on_a_shop_day_without_current_upload_never_makes_two_current() {
    let (a, b, _) = race_after_a_lost_lock(false, Order::FencedOffIsOlder).await;
    assert_eq!(a.status, UploadStatus::Superseded, "{a:?}");
    assert_eq!(a.superseded_by, Some(b.id.to_string()));
}

#[tokio::test]
async fn a_newer_upload_whose_lock_connection_dies_while_an_older_one_commits_still_becomes_current() {
    let (a, b, uploads) = race_after_a_lost_lock(true, Order::FencedOffIsNewer).await;
    assert_eq!(a.status, UploadStatus::Succeeded, "A is answered as current: {a:?}");
    let b_now = uploads.iter().find(|u| u.id == b.id).unwrap();
    assert_eq!(b_now.superseded_by, Some(a.id.to_string()), "B, committed first, is superseded by A: {b_now:?}");
}

#[tokio::test]
async fn lock_and_liveness_sessions_carry_tcp_keepalives_that_end_a_dead_hosts_sessions_within_25_seconds() {
    // Arrange: one replica holding a shop-day lock.
    let backend = Backend::fresh().await;
    let replica = Replica::start(&backend).await;
    let db = &replica.backends.db;
    let shop = ShopId::parse(&format!("keepalive-{}", uuid::Uuid::now_v7().simple())).unwrap();
    let mut lock = db.lock_shop_day(&shop, &SalesDate::parse(DATE).unwrap()).await.unwrap();

    // Act: the settings as the server applies them to each session.
    let wanted = [
        ("tcp_keepalives_idle", KEEPALIVE_IDLE.as_secs().to_string()),
        ("tcp_keepalives_interval", KEEPALIVE_INTERVAL.as_secs().to_string()),
        ("tcp_keepalives_count", KEEPALIVE_COUNT.to_string()),
        ("tcp_user_timeout", DEAD_SESSION_BOUND.as_millis().to_string()),
    ];
    let mut on_lock = Vec::new();
    let mut on_liveness = Vec::new();
    for (name, _) in &wanted {
        on_lock.push(lock.session_setting(name).await.unwrap());
        on_liveness.push(db.liveness_session_setting(name).await.unwrap());
    }
    let mut admin = admin().await;
    let tcp_sessions: Vec<String> = sqlx::query_scalar(
        "select application_name from pg_stat_activity where application_name like $1 and client_addr is not null order by 1",
    )
    .bind(format!("shoplake-% {}", db.instance().as_str()))
    .fetch_all(&mut admin)
    .await
    .unwrap();

    // Assert: both kinds of session are TCP sessions with the keepalives set: silence for
    // idle + interval x count ends them (and frees their locks).
    assert_eq!(DEAD_SESSION_BOUND, Duration::from_secs(25));
    let expected: Vec<Option<String>> = wanted.iter().map(|(_, v)| Some(v.clone())).collect();
    assert_eq!(on_lock, expected, "lock session");
    assert_eq!(on_liveness, expected, "liveness session");
    let lock_name = replica.lock_sessions();
    let liveness_name = format!("shoplake-liveness {}", db.instance().as_str());
    assert!(tcp_sessions.contains(&lock_name), "{tcp_sessions:?}");
    assert!(tcp_sessions.contains(&liveness_name), "{tcp_sessions:?}");
    drop(lock);
    db.close().await;
}
