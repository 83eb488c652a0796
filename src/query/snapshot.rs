//! `SnapshotStore`: one query's read-only view of the local lake, pinned file by file.
//!
//! An upload replaces `data.parquet` by renaming a new file over it while queries run. The
//! engine lists a file (taking its size), then reads its footer and pages in several range
//! reads; a plain local store opens the path anew for each, so a replacement in between would
//! mix two files (or read a footer at the old size from the new file). This store opens each
//! file once per query, reports size and modification time from that open handle, and serves
//! every read from it: a query sees each partition whole, as it was when the query first
//! touched it — the old file or the new one, never both.

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
    pinned: Mutex<HashMap<Path, Arc<Pinned>>>,
}

impl std::fmt::Display for SnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotStore({})", self.inner.local)
    }
}

const STORE: &str = "SnapshotStore";

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
        let modified = metadata.modified().map_err(generic)?;
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified: modified.into(),
            size: metadata.len(),
            // Unique per file version: a replacement is a new inode.
            e_tag: Some(format!("{:x}-{:x}-{:x}", metadata.ino(), metadata.mtime_nsec(), metadata.len())),
            version: None,
        };
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        // Another task of the same query may have pinned it meanwhile: the first one wins.
        Ok(Arc::clone(pinned.entry(location.clone()).or_insert_with(|| Arc::new(Pinned { file, meta }))))
    }

    /// The pinned handle of `location`, opened on a blocking thread when not pinned yet.
    async fn pin(self: &Arc<Self>, location: &Path) -> Result<Arc<Pinned>> {
        if let Some(pinned) = self.pinned.lock().unwrap_or_else(|e| e.into_inner()).get(location) {
            return Ok(Arc::clone(pinned));
        }
        let (pins, location) = (Arc::clone(self), location.clone());
        tokio::task::spawn_blocking(move || pins.open(&location)).await.map_err(generic)?
    }

    /// Pins a batch of listed objects in one blocking call and returns their metadata as the
    /// pinned handles say, so later reads agree with the listing. An object removed between
    /// listing and opening is left out (it is simply not there any more).
    async fn pin_listed(self: &Arc<Self>, listed: Vec<ObjectMeta>) -> Result<Vec<ObjectMeta>> {
        if listed.is_empty() {
            return Ok(listed);
        }
        let pins = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut metas = Vec::with_capacity(listed.len());
            for meta in listed {
                match pins.open(&meta.location) {
                    Ok(pinned) => metas.push(pinned.meta.clone()),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            Ok(metas)
        })
        .await
        .map_err(generic)?
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
        let pinned = self.inner.pin(location).await?;
        let size = pinned.meta.size;
        let range = match &options.range {
            Some(range) => range.as_range(size).map_err(generic)?,
            None => 0..size,
        };
        let payload = if options.head || range.is_empty() {
            stream::empty().boxed()
        } else {
            let (file, start, length) = (Arc::clone(&pinned), range.start, (range.end - range.start) as usize);
            stream::once(async move {
                tokio::task::spawn_blocking(move || {
                    let mut buffer = vec![0u8; length];
                    file.file.read_exact_at(&mut buffer, start).map(|()| Bytes::from(buffer)).map_err(generic)
                })
                .await
                .map_err(generic)?
            })
            .boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            meta: pinned.meta.clone(),
            range,
            attributes: Default::default(),
        })
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        // Pinned in batches: one blocking call opens a few hundred files.
        let pins = Arc::clone(&self.inner);
        self.inner
            .local
            .list(prefix)
            .chunks(256)
            .then(move |chunk| {
                let pins = Arc::clone(&pins);
                async move {
                    let (mut listed, mut results) = (Vec::with_capacity(chunk.len()), Vec::new());
                    for item in chunk {
                        match item {
                            Ok(meta) => listed.push(meta),
                            Err(error) => results.push(Err(error)),
                        }
                    }
                    match pins.pin_listed(listed).await {
                        Ok(metas) => results.extend(metas.into_iter().map(Ok)),
                        Err(error) => results.push(Err(error)),
                    }
                    stream::iter(results)
                }
            })
            .flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listed = self.inner.local.list_with_delimiter(prefix).await?;
        let objects = self.inner.pin_listed(listed.objects).await?;
        Ok(ListResult { common_prefixes: listed.common_prefixes, objects })
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only())
    }
}
