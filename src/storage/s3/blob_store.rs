//! The [`BlobStore`] operations on the bucket: puts through the writer, reads, listings,
//! the readiness probe and the sweep of abandoned multipart uploads.

use super::sdk_errors::{no_such_key, status_of, unavailable, unavailable_io};
use super::writer::{abort_upload, read_part};
use super::S3Store;
use crate::storage::{BlobReader, BlobStore, ObjectMeta, PutMode, StorageError, StorageResult};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncRead;

#[async_trait]
impl BlobStore for S3Store {
    #[tracing::instrument(name = "storage.put_stream", skip(self, body), fields(key))]
    async fn put_stream(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        mode: PutMode,
    ) -> StorageResult<u64> {
        let full_key = self.full_key(key)?;
        let first = read_part(body, self.part_size).await?;
        if first.len() < self.part_size {
            let size = first.len() as u64;
            self.put_object(&full_key, key, ByteStream::from(first), size, mode).await?;
            return Ok(size);
        }
        Ok(self.put_multipart(&full_key, key, first, body, mode).await?.0)
    }

    #[tracing::instrument(name = "storage.put_file", skip(self), fields(key))]
    async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StorageResult<ObjectMeta> {
        let full_key = self.full_key(key)?;
        let size = tokio::fs::metadata(path).await.map_err(|s| unavailable_io("reading a finished file", s))?.len();
        let (size, e_tag) = if size < self.part_size as u64 {
            // Streamed from disk, and replayable for retries.
            let body = ByteStream::from_path(path).await.map_err(|e| unavailable_io("opening a finished file", e))?;
            (size, self.put_object(&full_key, key, body, size, mode).await?)
        } else {
            let mut file =
                tokio::fs::File::open(path).await.map_err(|s| unavailable_io("opening a finished file", s))?;
            let first = read_part(&mut file, self.part_size).await?;
            self.put_multipart(&full_key, key, first, &mut file, mode).await?
        };
        match e_tag {
            Some(e_tag) => Ok(ObjectMeta { key: key.to_owned(), size, version: Some(e_tag) }),
            // Stored by an earlier attempt whose answer was lost: ask for what is there.
            None => self.head(key).await?.ok_or_else(|| StorageError::NotFound(key.to_owned())),
        }
    }

    async fn get(&self, key: &str) -> StorageResult<BlobReader> {
        let full_key = self.full_key(key)?;
        match self.client.get_object().bucket(&self.bucket).key(&full_key).send().await {
            Ok(object) => Ok(Box::new(object.body.into_async_read())),
            Err(error) if no_such_key(&error) => Err(StorageError::NotFound(key.to_owned())),
            Err(error) => Err(unavailable("reading an object", error)),
        }
    }

    async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> StorageResult<Bytes> {
        let full_key = self.full_key(key)?;
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let asked = format!("bytes={}-{}", range.start, range.end - 1);
        let object = match self.client.get_object().bucket(&self.bucket).key(&full_key).range(asked).send().await {
            Ok(object) => object,
            Err(error) if no_such_key(&error) => return Err(StorageError::NotFound(key.to_owned())),
            Err(error) => return Err(unavailable("reading a range of an object", error)),
        };
        let bytes = object.body.collect().await.map_err(|e| unavailable_io("reading a range of an object", e))?;
        let bytes = bytes.into_bytes();
        if bytes.len() as u64 != range.end - range.start {
            let short = format!("asked for {} bytes of {key}, got {}", range.end - range.start, bytes.len());
            return Err(unavailable_io("reading a range of an object", std::io::Error::other(short)));
        }
        Ok(bytes)
    }

    async fn head(&self, key: &str) -> StorageResult<Option<ObjectMeta>> {
        let full_key = self.full_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(&full_key).send().await {
            Ok(head) => {
                let size = head.content_length().unwrap_or(0).max(0) as u64;
                Ok(Some(ObjectMeta { key: key.to_owned(), size, version: head.e_tag().map(str::to_owned) }))
            }
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(unavailable("reading object metadata", error)),
        }
    }

    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}{prefix}", self.prefix))
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unavailable("listing objects", e))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                let size = object.size().unwrap_or(0).max(0) as u64;
                found.push(ObjectMeta { key: key.to_owned(), size, version: object.e_tag().map(str::to_owned) });
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        let full_key = self.full_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|e| unavailable("deleting an object", e))?;
        Ok(())
    }

    async fn check(&self) -> StorageResult<()> {
        // Write, read back and delete a probe: proves the bucket exists and we may use it.
        let probe = format!(".shoplake/probe-{}", uuid::Uuid::now_v7());
        let full_key = self.full_key(&probe)?;
        self.put_object(&full_key, &probe, ByteStream::from_static(b"probe"), 5, PutMode::Replace).await?;
        let read = self.get_range(&probe, 0..5).await;
        let deleted = self.delete(&probe).await;
        match read {
            Ok(bytes) if bytes.as_ref() == b"probe" => deleted,
            Ok(_) => Err(unavailable_io("reading a probe object", std::io::Error::other("content differs"))),
            Err(error) => Err(error),
        }
    }

    async fn remove_incomplete(&self, older_than: Duration) -> StorageResult<usize> {
        // Multipart uploads a crashed or cut-off request left open (their parts are billed).
        let cutoff = SystemTime::now() - older_than;
        let mut removed = 0;
        let mut key_marker: Option<String> = None;
        let mut upload_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_marker.take())
                .send()
                .await
                .map_err(|e| unavailable("listing open multipart uploads", e))?;
            for upload in page.uploads() {
                let started = upload.initiated().and_then(|t| SystemTime::try_from(*t).ok());
                if started.is_some_and(|t| t > cutoff) {
                    continue;
                }
                if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                    abort_upload(&self.client, &self.bucket, key, id).await;
                    removed += 1;
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && upload_marker.is_none() {
                break;
            }
        }
        Ok(removed)
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch.path
    }

    fn url_of(&self, prefix: &str) -> String {
        format!("s3://{}/{}{prefix}", self.bucket, self.prefix)
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }
}
