//! `LocalFs`: the embedded blob store, a directory. Writes go to `.tmp/` and are renamed into
//! place (hard-linked for create-new), after fsync, so an object is complete or absent.

use super::{BlobReader, BlobStore, ObjectMeta, PutMode, StorageError, StorageResult};
use async_trait::async_trait;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use tokio::io::{AsyncRead, AsyncWriteExt, BufWriter};

/// Name of the scratch directory inside the root; never listed as data.
pub const TMP_DIR: &str = ".tmp";

/// A blob store on the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalFs {
    root: PathBuf,
    tmp: PathBuf,
}

impl LocalFs {
    /// Opens (and creates) the store at `root`.
    pub async fn open(root: impl Into<PathBuf>) -> StorageResult<Self> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        tokio::fs::create_dir_all(&tmp).await.map_err(|source| unavailable("creating the data directory", source))?;
        Ok(Self { root, tmp })
    }

    fn path_of(&self, key: &str) -> StorageResult<PathBuf> {
        let relative = Path::new(key);
        let safe = !key.is_empty()
            && relative.components().all(|c| matches!(c, Component::Normal(_)))
            && !key.starts_with(TMP_DIR);
        if !safe {
            return Err(StorageError::InvalidKey(key.to_owned()));
        }
        Ok(self.root.join(relative))
    }

    fn temp_path(&self) -> PathBuf {
        self.tmp.join(format!("{}.part", uuid::Uuid::now_v7()))
    }

    /// Moves a finished temporary file to its key according to `mode`.
    async fn commit(&self, temp: &Path, key: &str, mode: PutMode) -> StorageResult<()> {
        let target = self.path_of(key)?;
        let parent = target.parent().expect("keys have a parent");
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| unavailable("creating a partition directory", source))?;
        let result = match mode {
            // A hard link fails if the target exists: no-overwrite without a race.
            PutMode::CreateNew => tokio::fs::hard_link(temp, &target).await.and(tokio::fs::remove_file(temp).await),
            PutMode::Replace => tokio::fs::rename(temp, &target).await,
        };
        if let Err(source) = result {
            let _ = tokio::fs::remove_file(temp).await;
            return Err(if source.kind() == ErrorKind::AlreadyExists {
                StorageError::AlreadyExists(key.to_owned())
            } else {
                unavailable("moving a finished file into place", source)
            });
        }
        sync_dir(parent).await;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for LocalFs {
    #[tracing::instrument(name = "storage.put_stream", skip(self, body), fields(key))]
    async fn put_stream(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        mode: PutMode,
    ) -> StorageResult<u64> {
        self.path_of(key)?;
        let temp = self.temp_path();
        let written = write_temp(&temp, body).await;
        match written {
            Ok(bytes) => {
                self.commit(&temp, key, mode).await?;
                Ok(bytes)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(e)
            }
        }
    }

    #[tracing::instrument(name = "storage.put_file", skip(self), fields(key))]
    async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StorageResult<ObjectMeta> {
        if path.starts_with(&self.tmp) {
            // Already on our filesystem: make durable and move into place (a rename keeps the
            // file's inode and modification time: its version is the one read here).
            let file = tokio::fs::File::open(path).await.map_err(|s| unavailable("opening a finished file", s))?;
            file.sync_all().await.map_err(|s| unavailable("syncing a finished file", s))?;
            let metadata = file.metadata().await.map_err(|s| unavailable("reading a finished file", s))?;
            self.commit(path, key, mode).await?;
            let version = Some(local_file_version(&metadata));
            return Ok(ObjectMeta { key: key.to_owned(), size: metadata.len(), version });
        }
        let mut file = tokio::fs::File::open(path).await.map_err(|s| unavailable("opening a finished file", s))?;
        self.put_stream(key, &mut file, mode).await?;
        self.head(key).await?.ok_or_else(|| StorageError::NotFound(key.to_owned()))
    }

    async fn get(&self, key: &str) -> StorageResult<BlobReader> {
        match tokio::fs::File::open(self.path_of(key)?).await {
            Ok(file) => Ok(Box::new(file)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(StorageError::NotFound(key.to_owned())),
            Err(source) => Err(unavailable("opening an object", source)),
        }
    }

    async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> StorageResult<bytes::Bytes> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = match tokio::fs::File::open(self.path_of(key)?).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(StorageError::NotFound(key.to_owned())),
            Err(source) => return Err(unavailable("opening an object", source)),
        };
        let mut buffer = vec![0u8; (range.end - range.start) as usize];
        file.seek(std::io::SeekFrom::Start(range.start)).await.map_err(|s| unavailable("seeking in an object", s))?;
        file.read_exact(&mut buffer).await.map_err(|s| unavailable("reading a range of an object", s))?;
        Ok(buffer.into())
    }

    async fn head(&self, key: &str) -> StorageResult<Option<ObjectMeta>> {
        match tokio::fs::metadata(self.path_of(key)?).await {
            Ok(meta) if meta.is_file() => {
                Ok(Some(ObjectMeta { key: key.to_owned(), size: meta.len(), version: Some(local_file_version(&meta)) }))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(unavailable("reading object metadata", source)),
        }
    }

    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || list_blocking(&root, &prefix)).await.expect("list task does not panic")
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(unavailable("deleting an object", source)),
        }
    }

    async fn check(&self) -> StorageResult<()> {
        let probe = self.temp_path();
        tokio::fs::write(&probe, b"probe").await.map_err(|s| unavailable("writing a probe file", s))?;
        let read = tokio::fs::read(&probe).await;
        let _ = tokio::fs::remove_file(&probe).await;
        match read {
            Ok(bytes) if bytes == b"probe" => Ok(()),
            Ok(_) => Err(unavailable("reading a probe file", std::io::Error::other("content differs"))),
            Err(source) => Err(unavailable("reading a probe file", source)),
        }
    }

    async fn remove_incomplete(&self, older_than: std::time::Duration) -> StorageResult<usize> {
        let cutoff = std::time::SystemTime::now() - older_than;
        let mut removed = 0;
        let mut entries =
            tokio::fs::read_dir(&self.tmp).await.map_err(|source| unavailable("listing temporary files", source))?;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let modified = entry.metadata().await.and_then(|m| m.modified()).ok();
            if modified.is_some_and(|m| m > cutoff) {
                continue;
            }
            if tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn scratch_dir(&self) -> &Path {
        &self.tmp
    }

    fn url_of(&self, prefix: &str) -> String {
        let absolute = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        format!("file://{}/{prefix}", absolute.display().to_string().trim_end_matches('/'))
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Copies `body` into a new file at `temp` and fsyncs it. Body errors are `Source`, file errors
/// are `Unavailable`.
async fn write_temp(temp: &Path, body: &mut (dyn AsyncRead + Send + Unpin)) -> StorageResult<u64> {
    let file =
        tokio::fs::File::create(temp).await.map_err(|source| unavailable("creating a temporary file", source))?;
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let read = tokio::io::AsyncReadExt::read(body, &mut buffer).await.map_err(StorageError::Source)?;
        if read == 0 {
            break;
        }
        writer.write_all(&buffer[..read]).await.map_err(|source| unavailable("writing a temporary file", source))?;
        total += read as u64;
    }
    writer.flush().await.map_err(|source| unavailable("writing a temporary file", source))?;
    writer.into_inner().sync_all().await.map_err(|source| unavailable("syncing a temporary file", source))?;
    Ok(total)
}

fn list_blocking(root: &Path, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
    // Walk from the deepest directory the prefix names, then filter by the full prefix.
    let start_dir = match prefix.rfind('/') {
        Some(i) => root.join(&prefix[..i]),
        None => root.to_path_buf(),
    };
    let mut found = Vec::new();
    let mut stack = vec![start_dir];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(source) => return Err(unavailable("listing objects", source)),
        };
        for entry in entries {
            let entry = entry.map_err(|source| unavailable("listing objects", source))?;
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let key = relative.to_string_lossy().replace('\\', "/");
            if key.starts_with(TMP_DIR) {
                continue;
            }
            let kind = entry.file_type().map_err(|source| unavailable("listing objects", source))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && key.starts_with(prefix) {
                let metadata = entry.metadata().ok();
                let size = metadata.as_ref().map_or(0, |m| m.len());
                found.push(ObjectMeta { key, size, version: metadata.as_ref().map(local_file_version) });
            }
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

async fn sync_dir(dir: &Path) {
    if let Ok(handle) = tokio::fs::File::open(dir).await {
        let _ = handle.sync_all().await;
    }
}

fn unavailable(action: &str, source: std::io::Error) -> StorageError {
    StorageError::Unavailable { action: action.to_owned(), source }
}

/// The version of a local file: its modification time in nanoseconds, its inode and its size.
/// A replacement (a new file renamed over the old) has another inode, and while a reader holds
/// the old file open its inode cannot be reused; the time and size tell versions apart even
/// across filesystems that recycle inodes.
pub fn local_file_version(metadata: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let modified_ns = i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec());
    format!("{modified_ns}-{}-{}", metadata.ino(), metadata.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_new_never_overwrites_and_replace_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFs::open(dir.path()).await.unwrap();
        store.put_stream("raw/a/x.csv", &mut &b"one"[..], PutMode::CreateNew).await.unwrap();
        let again = store.put_stream("raw/a/x.csv", &mut &b"two"[..], PutMode::CreateNew).await;
        assert!(matches!(again, Err(StorageError::AlreadyExists(_))));
        assert_eq!(std::fs::read(dir.path().join("raw/a/x.csv")).unwrap(), b"one");
        store.put_stream("raw/a/x.csv", &mut &b"three"[..], PutMode::Replace).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("raw/a/x.csv")).unwrap(), b"three");
        assert_eq!(std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0, "no temp file left");
    }

    #[tokio::test]
    async fn a_failing_body_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFs::open(dir.path()).await.unwrap();
        let failing = futures_util::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"partial")),
            Err(std::io::Error::other("client went away")),
        ]);
        let mut reader = tokio_util::io::StreamReader::new(failing);
        let result = store.put_stream("raw/a/y.csv", &mut reader, PutMode::CreateNew).await;
        assert!(matches!(result, Err(StorageError::Source(_))));
        assert!(!dir.path().join("raw/a/y.csv").exists());
        assert_eq!(std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn keys_outside_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFs::open(dir.path()).await.unwrap();
        for key in ["../x", "/etc/passwd", "a/../../x", ".tmp/x", ""] {
            assert!(matches!(store.get(key).await, Err(StorageError::InvalidKey(_))), "{key}");
        }
    }

    #[tokio::test]
    async fn list_returns_objects_under_a_prefix_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFs::open(dir.path()).await.unwrap();
        for key in [
            "processed/shop_id=2/date=d/data.parquet",
            "processed/shop_id=1/date=d/data.parquet",
            "raw/shop_id=1/x.csv",
        ] {
            store.put_stream(key, &mut &b"x"[..], PutMode::Replace).await.unwrap();
        }
        let keys: Vec<_> = store.list("processed/").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(keys, ["processed/shop_id=1/date=d/data.parquet", "processed/shop_id=2/date=d/data.parquet"]);
    }
}
