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
//!
//! A table the catalog can describe file by file is not listed at all: its files are those of
//! the [`CatalogListing`], each with the version the store named when it was written, and a
//! file opened as another version (replaced after the catalog was read) is reported the same
//! way. The times the listing gives are unique per catalog record, so the footer and
//! statistics caches kept across queries (which check size and time) never serve a former
//! version's footer for a replacement.

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
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use super::catalog_listing::CatalogListing;
use crate::storage::local_file_version;

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

impl SnapshotStore {
    /// A store answering listings within the tables of `catalog` from it.
    pub fn new(catalog: Arc<CatalogListing>) -> Self {
        Self { inner: Arc::new(Pins { catalog, ..Pins::default() }) }
    }
}

#[derive(Debug, Default)]
struct Pins {
    local: LocalFileSystem,
    /// Files of the tables the catalog describes (listed from it, not from the filesystem).
    catalog: Arc<CatalogListing>,
    /// What the listing said about each file (size, modification time).
    listed: Mutex<HashMap<Path, ObjectMeta>>,
    /// The catalog's version of each file listed from it.
    catalog_versions: Mutex<HashMap<Path, String>>,
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
            // Listed, then removed before this read: the lake changed under the query.
            std::io::ErrorKind::NotFound
                if self.listed.lock().unwrap_or_else(|e| e.into_inner()).contains_key(location) =>
            {
                object_store::Error::Precondition {
                    path: location.to_string(),
                    source: format!("{location} {REPLACED_DURING_QUERY}").into(),
                }
            }
            std::io::ErrorKind::NotFound => {
                object_store::Error::NotFound { path: path.display().to_string(), source: Box::new(e) }
            }
            _ => generic(e),
        })?;
        let metadata = file.metadata().map_err(generic)?;
        let modified: chrono::DateTime<chrono::Utc> = metadata.modified().map_err(generic)?.into();
        let listed = self.listed.lock().unwrap_or_else(|e| e.into_inner()).get(location).cloned();
        let catalog_version = self.catalog_versions.lock().unwrap_or_else(|e| e.into_inner()).get(location).cloned();
        let replaced = match (&listed, catalog_version) {
            (_, Some(version)) => version != local_file_version(&metadata),
            (Some(listed), None) => listed.size != metadata.len() || listed.last_modified != modified,
            (None, None) => false,
        };
        let meta = match listed {
            Some(_) if replaced => {
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
                e_tag: Some(local_file_version(&metadata)),
                version: None,
            },
        };
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        // Another task of the same query may have pinned it meanwhile: the first one wins.
        Ok(Arc::clone(pinned.entry(location.clone()).or_insert_with(|| Arc::new(Pinned { file, meta }))))
    }

    /// The catalog's files, each checked against the file as it is now with one `stat` (no
    /// directory is read): a file at the catalog's version is listed as the catalog records it
    /// (and its first read checks that version); a file replaced since the catalog was read (its
    /// entry is being written, or was left behind by a crash) is listed as it is now, like a
    /// directory listing would; a file gone is left out. Blocking: call off the runtime.
    fn confirm_catalog_files(&self, files: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
        let mut confirmed = Vec::with_capacity(files.len());
        let mut versions = HashMap::new();
        for meta in files {
            let Ok(path) = self.local.path_to_filesystem(&meta.location) else { continue };
            match std::fs::metadata(&path) {
                Ok(now) if meta.e_tag.as_deref() == Some(local_file_version(&now).as_str()) => {
                    versions.insert(meta.location.clone(), local_file_version(&now));
                    confirmed.push(meta);
                }
                Ok(now) => match now.modified() {
                    Ok(modified) => confirmed.push(ObjectMeta {
                        location: meta.location,
                        last_modified: modified.into(),
                        size: now.len(),
                        e_tag: Some(local_file_version(&now)),
                        version: None,
                    }),
                    Err(_) => confirmed.push(meta),
                },
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => confirmed.push(meta),
            }
        }
        self.record_listed(&confirmed);
        self.catalog_versions.lock().unwrap_or_else(|e| e.into_inner()).extend(versions);
        confirmed
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
        Ok(in_memory_result(meta, range, bytes))
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if let Some(files) = self.inner.catalog.list(prefix) {
            let pins = Arc::clone(&self.inner);
            let confirmed = async move {
                tokio::task::spawn_blocking(move || pins.confirm_catalog_files(files)).await.map_err(generic)
            };
            return stream::once(confirmed)
                .map(|confirmed| match confirmed {
                    Ok(files) => stream::iter(files.into_iter().map(Ok)).boxed(),
                    Err(error) => stream::once(async move { Err(error) }).boxed(),
                })
                .flatten()
                .boxed();
        }
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

/// Objects up to this size are fetched whole at a query's first read of them, in one GET.
const WHOLE_OBJECT_MAX_BYTES: u64 = 8 << 20;
/// Bytes of whole objects one query may hold; past it, reads are ranged GETs.
const WHOLE_OBJECTS_BUDGET_BYTES: u64 = 128 << 20;

/// One query's view of a remote lake (S3). A partition object is replaced by a PUT while
/// queries run, and S3 (without versioning) keeps no old version to read, so every read of a
/// listed object is pinned to the version the listing saw with `If-Match: <etag>`:
/// - a small object (our partitions: kilobytes to a few MB) is fetched whole at the query's
///   first read of it, in one pinned GET, and every later read (footer, pages) is served from
///   those bytes: once read, the query sees it as it was, however often it is replaced;
/// - a larger one, or one past the query's budget for whole objects, is read in ranged GETs,
///   each pinned.
///
/// Only objects the query reads are fetched (DataFusion lists the whole table and prunes
/// partitions afterwards). An object replaced between listing and its first read answers 412,
/// reported as [`REPLACED_DURING_QUERY`] so the engine runs the query again on a fresh
/// listing. Read-only, like [`SnapshotStore`]; create one per query.
#[derive(Debug)]
pub struct PinnedRemoteStore {
    inner: Arc<dyn ObjectStore>,
    catalog: Arc<CatalogListing>,
    listed: Arc<Mutex<HashMap<Path, ObjectMeta>>>,
    fetched: Mutex<HashMap<Path, Arc<tokio::sync::OnceCell<Bytes>>>>,
    budget_left: std::sync::atomic::AtomicU64,
}

impl PinnedRemoteStore {
    /// Wraps the shared remote store for one query; listings within the tables of `catalog`
    /// are answered from it (its entity tags are the objects' ETags as stored).
    pub fn new(inner: Arc<dyn ObjectStore>, catalog: Arc<CatalogListing>) -> Self {
        Self {
            inner,
            catalog,
            listed: Arc::default(),
            fetched: Mutex::default(),
            budget_left: std::sync::atomic::AtomicU64::new(WHOLE_OBJECTS_BUDGET_BYTES),
        }
    }

    fn record_listed(listed: &Mutex<HashMap<Path, ObjectMeta>>, metas: &[ObjectMeta]) {
        let mut listed = listed.lock().unwrap_or_else(|e| e.into_inner());
        for meta in metas {
            // The first listing of a query wins: a table scanned twice reads one version.
            listed.entry(meta.location.clone()).or_insert_with(|| meta.clone());
        }
    }

    /// Takes `size` bytes of the whole-object budget, if that many are left.
    fn take_budget(&self, size: u64) -> bool {
        use std::sync::atomic::Ordering;
        self.budget_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(size)).is_ok()
    }

    /// The cell holding an object's bytes when it is (to be) fetched whole.
    fn whole_object_cell(&self, location: &Path, listed: &ObjectMeta) -> Option<Arc<tokio::sync::OnceCell<Bytes>>> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = fetched.get(location) {
            return Some(Arc::clone(cell));
        }
        if listed.size > WHOLE_OBJECT_MAX_BYTES || !self.take_budget(listed.size) {
            return None;
        }
        Some(Arc::clone(fetched.entry(location.clone()).or_default()))
    }
}

/// Counts one read of the query engine in the S3 figures of `/metrics` (its client retries on
/// its own; a 404 or 412 is an answer, not a failure).
fn counted<T>(result: Result<T>) -> Result<T> {
    use crate::metrics::dependencies::S3;
    S3.attempt(false);
    let failed = matches!(
        &result,
        Err(error) if !matches!(error, object_store::Error::NotFound { .. } | object_store::Error::Precondition { .. })
    );
    S3.finished(failed);
    result
}

/// A failed `If-Match`, or a listed object gone, is a replacement the engine answers by
/// running the query again.
fn replaced(error: object_store::Error) -> object_store::Error {
    match error {
        object_store::Error::Precondition { path, .. } | object_store::Error::NotFound { path, .. } => {
            object_store::Error::Precondition { source: format!("{path} {REPLACED_DURING_QUERY}").into(), path }
        }
        other => other,
    }
}

impl std::fmt::Display for PinnedRemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinnedRemoteStore({})", self.inner)
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
        let listed = self.listed.lock().unwrap_or_else(|e| e.into_inner()).get(location).cloned();
        let Some(listed) = listed else {
            return counted(self.inner.get_opts(location, options).await);
        };
        if let Some(cell) = self.whole_object_cell(location, &listed) {
            let bytes = cell
                .get_or_try_init(|| async {
                    let pinned = GetOptions { if_match: listed.e_tag.clone(), ..GetOptions::default() };
                    let result = counted(self.inner.get_opts(location, pinned).await).map_err(replaced)?;
                    result.bytes().await
                })
                .await?
                .clone();
            let size = bytes.len() as u64;
            let range = match &options.range {
                Some(range) => range.as_range(size).map_err(generic)?,
                None => 0..size,
            };
            let slice = if options.head { Bytes::new() } else { bytes.slice(range.start as usize..range.end as usize) };
            return Ok(in_memory_result(listed, range, slice));
        }
        if options.if_match.is_none() {
            options.if_match = listed.e_tag;
        }
        counted(self.inner.get_opts(location, options).await).map_err(replaced)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if let Some(files) = self.catalog.list(prefix) {
            Self::record_listed(&self.listed, &files);
            return stream::iter(files.into_iter().map(Ok)).boxed();
        }
        let listed = Arc::clone(&self.listed);
        self.inner
            .list(prefix)
            .inspect(move |item| {
                if let Ok(meta) = item {
                    Self::record_listed(&listed, std::slice::from_ref(meta));
                }
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await?;
        Self::record_listed(&self.listed, &listed.objects);
        Ok(listed)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only())
    }
}

/// A read answered from bytes already held: `bytes` is the requested `range` of the object.
fn in_memory_result(meta: ObjectMeta, range: Range<u64>, bytes: Bytes) -> GetResult {
    let payload = if bytes.is_empty() { stream::empty().boxed() } else { stream::once(async { Ok(bytes) }).boxed() };
    GetResult { payload: GetResultPayload::Stream(payload), meta, range, attributes: Default::default() }
}
