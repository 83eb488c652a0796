//! `SnapshotStore`: one query's read-only view of the local lake, pinned file by file.
//!
//! An upload replaces `data.parquet` by renaming a new file over it while queries run. The
//! engine lists a file (taking its size), then reads its footer and pages in several range
//! reads; a plain local store opens the path anew for each, so a replacement in between would
//! mix two files (or read a footer at the old size from the new file). This store opens each
//! file once per query, at its first read, and serves every later read from that handle. If the
//! opened file is not the one listed (another size or modification time: it was replaced in
//! between), the read fails with [`REPLACED_DURING_QUERY`] and the engine runs the query again
//! on a fresh listing. So a query sees each partition whole, old or new, never both; and only
//! files actually read are opened (listing costs nothing extra).

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use std::collections::HashMap;
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::{Arc, Mutex};

/// A file opened once for the whole query, with what its handle says about it.
#[derive(Debug)]
struct Pinned {
    file: std::fs::File,
    meta: ObjectMeta,
}

/// Read-only local store that pins each file it lists or reads; create one per query.
#[derive(Debug, Default)]
pub struct SnapshotStore {
    inner: Arc<Pins>,
}

#[derive(Debug, Default)]
struct Pins {
    local: LocalFileSystem,
    /// What the listing said about each file (size, modification time).
    listed: Mutex<HashMap<Path, ObjectMeta>>,
    pinned: Mutex<HashMap<Path, Arc<Pinned>>>,
}

impl std::fmt::Display for SnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotStore({})", self.inner.local)
    }
}

const STORE: &str = "SnapshotStore";

/// In the message of a read that found another file than the one listed; the engine retries.
pub const REPLACED_DURING_QUERY: &str = "was replaced after this query listed it";

fn generic(error: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic { store: STORE, source: Box::new(error) }
}

fn read_only() -> object_store::Error {
    object_store::Error::NotSupported { source: "the query engine's view of the lake is read-only".into() }
}

impl Pins {
    /// The pinned handle of `location`, opening it on first use (blocking: call off the runtime).
    fn open(&self, location: &Path) -> Result<Arc<Pinned>> {
        if let Some(pinned) = self.pinned.lock().unwrap_or_else(|e| e.into_inner()).get(location) {
            return Ok(Arc::clone(pinned));
        }
        let path = self.local.path_to_filesystem(location)?;
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                object_store::Error::NotFound { path: path.display().to_string(), source: Box::new(e) }
            }
            _ => generic(e),
        })?;
        let metadata = file.metadata().map_err(generic)?;
        let modified: chrono::DateTime<chrono::Utc> = metadata.modified().map_err(generic)?.into();
        let listed = self.listed.lock().unwrap_or_else(|e| e.into_inner()).get(location).cloned();
        let meta = match listed {
            Some(listed) if listed.size != metadata.len() || listed.last_modified != modified => {
                return Err(object_store::Error::Precondition {
                    path: location.to_string(),
                    source: format!("{location} {REPLACED_DURING_QUERY}").into(),
                });
            }
            Some(listed) => listed,
            None => ObjectMeta {
                location: location.clone(),
                last_modified: modified,
                size: metadata.len(),
                // Unique per file version: a replacement is a new inode.
                e_tag: Some(format!("{:x}-{:x}-{:x}", metadata.ino(), metadata.mtime_nsec(), metadata.len())),
                version: None,
            },
        };
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        // Another task of the same query may have pinned it meanwhile: the first one wins.
        Ok(Arc::clone(pinned.entry(location.clone()).or_insert_with(|| Arc::new(Pinned { file, meta }))))
    }

    /// Remembers what the listing said, so the first read can check it opened that file.
    fn record_listed(&self, metas: &[ObjectMeta]) {
        let mut listed = self.listed.lock().unwrap_or_else(|e| e.into_inner());
        for meta in metas {
            listed.insert(meta.location.clone(), meta.clone());
        }
    }
}

#[async_trait]
impl ObjectStore for SnapshotStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(read_only())
    }

    async fn put_multipart_opts(&self, _: &Path, _: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        Err(read_only())
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        // One blocking call per read, as the plain local store makes: pin (open on first use)
        // and read the range through the pinned handle.
        let (pins, location) = (Arc::clone(&self.inner), location.clone());
        let (meta, range, bytes) = tokio::task::spawn_blocking(move || -> Result<(ObjectMeta, Range<u64>, Bytes)> {
            let pinned = pins.open(&location)?;
            let size = pinned.meta.size;
            let range = match &options.range {
                Some(range) => range.as_range(size).map_err(generic)?,
                None => 0..size,
            };
            if options.head || range.is_empty() {
                return Ok((pinned.meta.clone(), range, Bytes::new()));
            }
            let mut buffer = vec![0u8; (range.end - range.start) as usize];
            pinned.file.read_exact_at(&mut buffer, range.start).map_err(generic)?;
            Ok((pinned.meta.clone(), range, Bytes::from(buffer)))
        })
        .await
        .map_err(generic)??;
        let payload =
            if bytes.is_empty() { stream::empty().boxed() } else { stream::once(async { Ok(bytes) }).boxed() };
        Ok(GetResult { payload: GetResultPayload::Stream(payload), meta, range, attributes: Default::default() })
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let pins = Arc::clone(&self.inner);
        self.inner
            .local
            .list(prefix)
            .inspect(move |item| {
                if let Ok(meta) = item {
                    pins.record_listed(std::slice::from_ref(meta));
                }
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listed = self.inner.local.list_with_delimiter(prefix).await?;
        self.inner.record_listed(&listed.objects);
        Ok(listed)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only())
    }
}

/// Objects up to this size are fetched whole when listed, in one GET.
const WHOLE_OBJECT_MAX_BYTES: u64 = 8 << 20;
/// Bytes of whole objects one query may hold; past it, reads are ranged GETs.
const WHOLE_OBJECTS_BUDGET_BYTES: u64 = 128 << 20;
/// Whole-object GETs in flight while a listing is being taken.
const FETCHES_IN_FLIGHT: usize = 16;

/// One query's view of a remote lake (S3). A partition object is replaced by a PUT while
/// queries run, and S3 (without versioning) keeps no old version to read, so:
/// - a small object (our partitions: kilobytes to a few MB) is fetched whole as it is listed,
///   in one GET, and the engine is told the size of what was fetched; every read (footer,
///   pages) is then served from those bytes. The query sees each object as it was when listed,
///   however often it is replaced afterwards, and never needs to run again.
/// - a larger object, or one past the query's budget for whole objects, is read in ranged GETs
///   pinned with `If-Match: <etag the listing saw>`; if it was replaced meanwhile the read
///   fails with [`REPLACED_DURING_QUERY`] and the engine runs the query again.
///
/// Read-only, like [`SnapshotStore`]; create one per query.
#[derive(Debug)]
pub struct PinnedRemoteStore {
    state: Arc<Remote>,
}

#[derive(Debug)]
struct Remote {
    inner: Arc<dyn ObjectStore>,
    listed: Mutex<HashMap<Path, ObjectMeta>>,
    fetched: Mutex<HashMap<Path, (ObjectMeta, Bytes)>>,
    budget_left: std::sync::atomic::AtomicU64,
}

impl PinnedRemoteStore {
    /// Wraps the shared remote store for one query.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            state: Arc::new(Remote {
                inner,
                listed: Mutex::default(),
                fetched: Mutex::default(),
                budget_left: std::sync::atomic::AtomicU64::new(WHOLE_OBJECTS_BUDGET_BYTES),
            }),
        }
    }
}

impl Remote {
    /// Takes `size` bytes of the whole-object budget, if that many are left.
    fn take_budget(&self, size: u64) -> bool {
        use std::sync::atomic::Ordering;
        self.budget_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(size)).is_ok()
    }

    /// Pins one listed object: fetched whole when small (the returned meta is the fetched
    /// object's), else remembered for `If-Match`. `None`: it was deleted since it was listed.
    async fn pin(self: Arc<Self>, meta: ObjectMeta) -> Result<Option<ObjectMeta>> {
        if meta.size <= WHOLE_OBJECT_MAX_BYTES && self.take_budget(meta.size) {
            let result = match counted(self.inner.get_opts(&meta.location, GetOptions::default()).await) {
                Ok(result) => result,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(other) => return Err(other),
            };
            let fetched = result.meta.clone();
            let bytes = result.bytes().await?;
            self.fetched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(meta.location.clone(), (fetched.clone(), bytes));
            return Ok(Some(fetched));
        }
        self.listed.lock().unwrap_or_else(|e| e.into_inner()).insert(meta.location.clone(), meta.clone());
        Ok(Some(meta))
    }
}

/// Counts one read of the query engine in the S3 figures of `/metrics` (its client retries on
/// its own; a 404 or 412 is an answer, not a failure).
fn counted<T>(result: Result<T>) -> Result<T> {
    use crate::metrics::dependencies::S3;
    S3.attempt();
    let failed = matches!(
        &result,
        Err(error) if !matches!(error, object_store::Error::NotFound { .. } | object_store::Error::Precondition { .. })
    );
    S3.finished(failed);
    result
}

/// A failed `If-Match` is a replacement the engine answers by running the query again.
fn replaced(error: object_store::Error) -> object_store::Error {
    match error {
        object_store::Error::Precondition { path, .. } => {
            object_store::Error::Precondition { source: format!("{path} {REPLACED_DURING_QUERY}").into(), path }
        }
        other => other,
    }
}

impl std::fmt::Display for PinnedRemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinnedRemoteStore({})", self.state.inner)
    }
}

#[async_trait]
impl ObjectStore for PinnedRemoteStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(read_only())
    }

    async fn put_multipart_opts(&self, _: &Path, _: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        Err(read_only())
    }

    async fn get_opts(&self, location: &Path, mut options: GetOptions) -> Result<GetResult> {
        let fetched = self.state.fetched.lock().unwrap_or_else(|e| e.into_inner()).get(location).cloned();
        if let Some((meta, bytes)) = fetched {
            let size = bytes.len() as u64;
            let range = match &options.range {
                Some(range) => range.as_range(size).map_err(generic)?,
                None => 0..size,
            };
            let slice = if options.head { Bytes::new() } else { bytes.slice(range.start as usize..range.end as usize) };
            let payload =
                if slice.is_empty() { stream::empty().boxed() } else { stream::once(async { Ok(slice) }).boxed() };
            return Ok(GetResult {
                payload: GetResultPayload::Stream(payload),
                meta,
                range,
                attributes: Default::default(),
            });
        }
        let listed = self.state.listed.lock().unwrap_or_else(|e| e.into_inner()).get(location).cloned();
        if let Some(listed) = listed {
            if options.if_match.is_none() {
                options.if_match = listed.e_tag;
            }
        }
        counted(self.state.inner.get_opts(location, options).await).map_err(replaced)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let state = Arc::clone(&self.state);
        self.state
            .inner
            .list(prefix)
            .map(move |item| {
                let state = Arc::clone(&state);
                async move {
                    match item {
                        Ok(meta) => state.pin(meta).await,
                        Err(error) => Err(error),
                    }
                }
            })
            .buffered(FETCHES_IN_FLIGHT)
            .filter_map(|pinned| async move { pinned.transpose() })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut listed = self.state.inner.list_with_delimiter(prefix).await?;
        let pins = listed.objects.drain(..).map(|meta| Arc::clone(&self.state).pin(meta));
        let pinned: Vec<Option<ObjectMeta>> = stream::iter(pins)
            .buffered(FETCHES_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
        listed.objects = pinned.into_iter().flatten().collect();
        Ok(listed)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only())
    }
}
