//! Blob storage behind one small trait, shaped after S3: whole-object puts (streamed, complete or
//! absent), no rename, list by prefix. `local` is the embedded implementation, `s3` the cloud one.

pub mod layout;
mod local;
mod s3;

pub use local::{local_file_version, LocalFs};
pub use s3::{S3Connection, S3Options, S3Store, MIN_PART_SIZE};

use async_trait::async_trait;
use std::path::Path;
use tokio::io::AsyncRead;

/// Whether a put may replace an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Fail with [`StorageError::AlreadyExists`] if the key exists (raw archive: never overwritten).
    CreateNew,
    /// Replace the object atomically: readers see the old or the new bytes, never a mix.
    Replace,
}

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// What names this version of the object, so a reader can tell it from a later
    /// replacement: locally `<modified ns>-<inode>-<size>` ([`local_file_version`]), on S3 its
    /// ETag. `None` where the store did not say.
    pub version: Option<String>,
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The body being stored failed to arrive (client error, size limit, disconnect); nothing stored.
    #[error("the data being stored could not be read: {0}")]
    Source(#[source] std::io::Error),
    /// `PutMode::CreateNew` and the key exists.
    #[error("object {0} already exists")]
    AlreadyExists(String),
    /// No object at that key.
    #[error("object {0} not found")]
    NotFound(String),
    /// A key that would leave the store's root.
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    /// The storage itself failed (unwritable, full, unreachable): retry later.
    #[error("storage unavailable while {action}: {source}")]
    Unavailable {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of the storage layer.
pub type StorageResult<T> = Result<T, StorageError>;

/// A readable object body.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// The operations shoplake needs from a blob store.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Streams `body` into `key` as one object. On any error, no object and no temporary
    /// data are left (S3: the multipart upload is aborted). Returns the bytes written.
    async fn put_stream(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        mode: PutMode,
    ) -> StorageResult<u64>;

    /// Stores the local file at `path` under `key` (used for files written by the ingest core);
    /// returns what was stored, with its version.
    async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StorageResult<ObjectMeta>;

    /// Opens an object for streaming reads.
    async fn get(&self, key: &str) -> StorageResult<BlobReader>;

    /// Bytes `range` of an object (for Parquet footers: two small reads, no data pages).
    async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> StorageResult<bytes::Bytes>;

    /// Size of an object, or `None` if it does not exist.
    async fn head(&self, key: &str) -> StorageResult<Option<ObjectMeta>>;

    /// All objects whose key starts with `prefix` (recursive), in key order.
    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>>;

    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> StorageResult<()>;

    /// Proves the store is usable right now (write, read and delete a probe object).
    async fn check(&self) -> StorageResult<()>;

    /// Removes what interrupted puts left behind (temporary files, open multipart uploads)
    /// that is older than `older_than`: younger ones may belong to a put still running, here or
    /// in another replica. Returns how many were removed.
    async fn remove_incomplete(&self, older_than: std::time::Duration) -> StorageResult<usize>;

    /// A local directory for scratch files (ingest output before it is stored).
    fn scratch_dir(&self) -> &Path;

    /// URL of a key prefix, as other engines name it (`file:///srv/lake/processed/`,
    /// `s3://bucket/prefix/processed/`).
    fn url_of(&self, prefix: &str) -> String;

    /// Human-readable location for logs (`/srv/lake`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
}
