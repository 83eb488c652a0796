//! `S3Store`: the cloud blob store, an S3 bucket and key prefix (AWS, or any S3-compatible store
//! through `AWS_ENDPOINT_URL`: MinIO, R2, moto).
//!
//! What the trait promises, and how S3 keeps it:
//! - a put is complete or absent: bodies up to one part go in one `PutObject`; larger ones in a
//!   multipart upload (parts of `part_size`, the next part read from the client while the last
//!   one is sent, so memory is two parts whatever the size), which is aborted on any error or
//!   when the request is dropped, and whose leftovers after a crash are aborted by
//!   [`BlobStore::remove_incomplete`]; S3 shows no object until the upload completes.
//! - `CreateNew` never overwrites: `If-None-Match: *` on the put or the completion (412 from S3
//!   is [`StorageError::AlreadyExists`]).
//! - `Replace` is one put: S3 replaces objects atomically; readers see the old or the new bytes.
//! - throttling (503 SlowDown), 5xx and timeouts are retried by the SDK with exponential backoff
//!   (5 attempts); every attempt, retry and error is counted for `/metrics`.
//!
//! [`BlobStore::remove_incomplete`]: super::BlobStore::remove_incomplete

/// The [`BlobStore`](super::BlobStore) operations on the bucket.
mod blob_store;
/// Client set-up: the SDK client from the environment, with request counting.
mod client;
/// `S3Connection`: bucket, region, endpoint, addressing and credentials, for other clients.
mod connection;
/// The interceptor counting S3 requests, retries and failures for `/metrics`.
mod request_counting;
/// The local scratch directory, cleaned of dead processes' leftovers.
mod scratch;
/// SDK errors read for their status and turned into [`StorageError`]s.
mod sdk_errors;
/// The writer: whole-object puts, one `PutObject` or a multipart upload aborted on failure.
mod writer;

use super::{StorageError, StorageResult};
pub use connection::S3Connection;
use scratch::ScratchDir;
use std::sync::Arc;

/// Smallest part S3 accepts (except the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;

/// Settings of the S3 store beyond what the `AWS_*` variables say.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without leading or trailing slash, possibly empty.
    pub prefix: String,
    /// Multipart part size in bytes (at least [`MIN_PART_SIZE`]).
    pub part_size: u64,
    /// Path-style addressing (`endpoint/bucket/key`); `None`: on when an endpoint URL is set.
    pub force_path_style: Option<bool>,
}

/// A blob store on S3.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// `""` or `"a/b/"`.
    prefix: String,
    part_size: usize,
    scratch: Arc<ScratchDir>,
    /// How the client reaches the bucket (shared with other clients of it).
    connection: S3Connection,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("bucket", &self.bucket).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl S3Store {
    /// The SDK client (tests and tools use it to look at the bucket as S3 sees it).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The full S3 key of a store key, refusing keys that are not plain relative paths.
    fn full_key(&self, key: &str) -> StorageResult<String> {
        let safe = !key.is_empty()
            && !key.starts_with('/')
            && key.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..");
        if !safe {
            return Err(StorageError::InvalidKey(key.to_owned()));
        }
        Ok(format!("{}{key}", self.prefix))
    }
}
