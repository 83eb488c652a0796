//! The writer: whole-object puts, complete or absent. A body within one part is one
//! `PutObject`; a larger one is a multipart upload that sends a part while the next is read,
//! and is aborted on any error or when the request is dropped.

use super::sdk_errors::{status_of, unavailable};
use super::S3Store;
use crate::storage::{BlobStore, PutMode, StorageError, StorageResult};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

impl S3Store {
    /// One `PutObject` of `size` bytes already in memory (or a file streamed from disk);
    /// returns the new object's ETag (`None` when an earlier attempt stored it).
    pub(super) async fn put_object(
        &self,
        full_key: &str,
        key: &str,
        body: ByteStream,
        size: u64,
        mode: PutMode,
    ) -> StorageResult<Option<String>> {
        let mut put = self.client.put_object().bucket(&self.bucket).key(full_key).body(body);
        if mode == PutMode::CreateNew {
            put = put.if_none_match("*");
        }
        match put.send().await {
            Ok(put) => Ok(put.e_tag().map(str::to_owned)),
            Err(error) if status_of(&error) == Some(412) => {
                self.written_by_an_earlier_attempt(key, size).await.map(|()| None)
            }
            Err(error) => Err(unavailable("storing an object", error)),
        }
    }

    /// A create-new put refused (412), or a completion whose upload is gone (404): when the
    /// SDK retried a request whose first attempt did succeed (the answer was lost), the object
    /// is ours. Our create-new keys are unique (they carry a fresh upload id), so an object of
    /// exactly our size is taken as ours; anything else is a real conflict.
    async fn written_by_an_earlier_attempt(&self, key: &str, size: u64) -> StorageResult<()> {
        match self.head(key).await? {
            Some(existing) if existing.size == size => Ok(()),
            _ => Err(StorageError::AlreadyExists(key.to_owned())),
        }
    }

    /// A multipart upload starting with `first` (one full part); the rest is read from `body`.
    /// Returns the bytes stored and the object's ETag (`None` when an earlier attempt completed it).
    pub(super) async fn put_multipart(
        &self,
        full_key: &str,
        key: &str,
        first: Vec<u8>,
        body: &mut (dyn AsyncRead + Send + Unpin),
        mode: PutMode,
    ) -> StorageResult<(u64, Option<String>)> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full_key)
            .send()
            .await
            .map_err(|e| unavailable("starting a multipart upload", e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let mut guard = AbortOnDrop {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: full_key.to_owned(),
            upload_id: Some(upload_id.clone()),
        };
        let mut parts = Vec::new();
        let mut total = 0u64;
        let mut part = first;
        let result: StorageResult<Option<String>> = async {
            loop {
                let number = parts.len() as i32 + 1;
                total += part.len() as u64;
                // Send this part while the next one arrives from the client.
                let sending = self.upload_part(full_key, &upload_id, number, Bytes::from(std::mem::take(&mut part)));
                // The first to fail ends both: a dead upload does not wait for the client.
                let (sent, next) = tokio::try_join!(sending, read_part(body, self.part_size))?;
                parts.push(CompletedPart::builder().part_number(number).e_tag(sent).build());
                part = next;
                if part.is_empty() {
                    break;
                }
            }
            let mut complete = self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(full_key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
            if mode == PutMode::CreateNew {
                complete = complete.if_none_match("*");
            }
            match complete.send().await {
                Ok(completed) => Ok(completed.e_tag().map(str::to_owned)),
                Err(error) if status_of(&error) == Some(412) => {
                    self.written_by_an_earlier_attempt(key, total).await.map(|()| None)
                }
                Err(error)
                    if status_of(&error) == Some(404) && self.head(key).await?.is_some_and(|o| o.size == total) =>
                {
                    Ok(None) // a retried completion of an upload the first attempt completed
                }
                Err(error) => Err(unavailable("completing a multipart upload", error)),
            }
        }
        .await;
        match result {
            Ok(e_tag) => {
                guard.upload_id = None;
                Ok((total, e_tag))
            }
            Err(error) => {
                // Nothing of it may stay billed or visible: abort now, and the drop guard is off.
                if let Some(id) = guard.upload_id.take() {
                    abort_upload(&self.client, &self.bucket, full_key, &id).await;
                }
                Err(error)
            }
        }
    }

    async fn upload_part(&self, full_key: &str, upload_id: &str, number: i32, bytes: Bytes) -> StorageResult<String> {
        let sent = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(full_key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| unavailable("uploading a part", e))?;
        Ok(sent.e_tag().unwrap_or_default().to_owned())
    }
}

/// Reads until `size` bytes are held or the body ends.
pub(super) async fn read_part(body: &mut (dyn AsyncRead + Send + Unpin), size: usize) -> StorageResult<Vec<u8>> {
    let mut part = Vec::with_capacity(size.min(256 << 10));
    while part.len() < size {
        let read = (&mut *body).take((size - part.len()) as u64).read_to_end(&mut part).await;
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(source) => return Err(StorageError::Source(source)),
        }
    }
    Ok(part)
}

/// Aborts an open multipart upload if the request is dropped before it completes or aborts.
struct AbortOnDrop {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: Option<String>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.upload_id.take() else {
            return;
        };
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { abort_upload(&client, &bucket, &key, &id).await });
        }
    }
}

/// Aborts an open multipart upload; a failure is logged and left to the periodic sweep.
pub(super) async fn abort_upload(client: &aws_sdk_s3::Client, bucket: &str, key: &str, upload_id: &str) {
    let aborted = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(upload_id).send().await;
    if let Err(error) = aborted {
        // The periodic sweep (`remove_incomplete`) tries again; a lifecycle rule is the backstop.
        tracing::warn!(key, upload_id, error = %DisplayErrorContext(&error), "could not abort a multipart upload");
    }
}
