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

use super::{BlobReader, BlobStore, ObjectMeta, PutMode, StorageError, StorageResult};
use crate::metrics::dependencies;
use async_trait::async_trait;
use aws_sdk_s3::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_s3::config::{ConfigBag, Intercept, ProvideCredentials, RuntimeComponents, SharedCredentialsProvider};
use aws_sdk_s3::error::{BoxError, DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt};

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
    /// For the query engine's own S3 client.
    query: QueryClientSettings,
}

#[derive(Clone, Debug)]
struct QueryClientSettings {
    region: String,
    endpoint: Option<String>,
    path_style: bool,
    credentials: Option<SharedCredentialsProvider>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("bucket", &self.bucket).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl S3Store {
    /// Builds the client from the environment (`AWS_REGION`, credentials chain, `AWS_ENDPOINT_URL`)
    /// and creates a local scratch directory. Does not contact S3 (see [`BlobStore::check`]).
    pub async fn connect(options: &S3Options) -> StorageResult<Self> {
        let sdk = crate::aws::sdk_config().await;
        let endpoint = crate::aws::endpoint_url(&sdk, "S3");
        let path_style = options.force_path_style.unwrap_or(endpoint.is_some());
        let mut config =
            aws_sdk_s3::config::Builder::from(&sdk).force_path_style(path_style).interceptor(CountRequests);
        if let Some(endpoint) = &endpoint {
            config = config.endpoint_url(endpoint);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        let prefix = if options.prefix.is_empty() { String::new() } else { format!("{}/", options.prefix) };
        let scratch = ScratchDir::create().map_err(|source| unavailable_io("creating a scratch directory", source))?;
        Ok(Self {
            client,
            bucket: options.bucket.clone(),
            prefix,
            part_size: options.part_size.max(MIN_PART_SIZE) as usize,
            scratch: Arc::new(scratch),
            query: QueryClientSettings {
                region: sdk.region().map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
                endpoint,
                path_style,
                credentials: sdk.credentials_provider(),
            },
        })
    }

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

    /// One `PutObject` of `size` bytes already in memory (or a file streamed from disk).
    async fn put_object(
        &self,
        full_key: &str,
        key: &str,
        body: ByteStream,
        size: u64,
        mode: PutMode,
    ) -> StorageResult<()> {
        let mut put = self.client.put_object().bucket(&self.bucket).key(full_key).body(body);
        if mode == PutMode::CreateNew {
            put = put.if_none_match("*");
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(error) if status_of(&error) == Some(412) => self.written_by_an_earlier_attempt(key, size).await,
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
    async fn put_multipart(
        &self,
        full_key: &str,
        key: &str,
        first: Vec<u8>,
        body: &mut (dyn AsyncRead + Send + Unpin),
        mode: PutMode,
    ) -> StorageResult<u64> {
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
        let result: StorageResult<()> = async {
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
                Ok(_) => Ok(()),
                Err(error) if status_of(&error) == Some(412) => self.written_by_an_earlier_attempt(key, total).await,
                Err(error)
                    if status_of(&error) == Some(404) && self.head(key).await?.is_some_and(|o| o.size == total) =>
                {
                    Ok(()) // a retried completion of an upload the first attempt completed
                }
                Err(error) => Err(unavailable("completing a multipart upload", error)),
            }
        }
        .await;
        match result {
            Ok(()) => {
                guard.upload_id = None;
                Ok(total)
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

    /// An object store over the same bucket for the query engine (DataFusion reads through
    /// `object_store`), with the same region, endpoint, addressing and credentials.
    pub fn query_store(&self) -> StorageResult<(url::Url, Arc<dyn object_store::ObjectStore>)> {
        use object_store::aws::AmazonS3Builder;
        let settings = &self.query;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(!settings.path_style);
        if let Some(endpoint) = &settings.endpoint {
            // object_store takes a custom endpoint as is: with virtual-hosted addressing the
            // bucket must already be in its host (the SDK adds it itself).
            let endpoint = if settings.path_style { endpoint.clone() } else { bucket_in_host(endpoint, &self.bucket) };
            builder = builder.with_endpoint(&endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(provider) = &settings.credentials {
            builder = builder.with_credentials(Arc::new(SdkCredentials::new(provider.clone())));
        }
        let store = builder.build().map_err(|e| unavailable_io("configuring the query engine's S3 client", e))?;
        let url = url::Url::parse(&format!("s3://{}", self.bucket))
            .map_err(|e| unavailable_io("naming the bucket as a URL", e))?;
        Ok((url, Arc::new(store)))
    }
}

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
        self.put_multipart(&full_key, key, first, body, mode).await
    }

    #[tracing::instrument(name = "storage.put_file", skip(self), fields(key))]
    async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StorageResult<u64> {
        let full_key = self.full_key(key)?;
        let size = tokio::fs::metadata(path).await.map_err(|s| unavailable_io("reading a finished file", s))?.len();
        if size < self.part_size as u64 {
            // Streamed from disk, and replayable for retries.
            let body = ByteStream::from_path(path).await.map_err(|e| unavailable_io("opening a finished file", e))?;
            self.put_object(&full_key, key, body, size, mode).await?;
            return Ok(size);
        }
        let mut file = tokio::fs::File::open(path).await.map_err(|s| unavailable_io("opening a finished file", s))?;
        let first = read_part(&mut file, self.part_size).await?;
        self.put_multipart(&full_key, key, first, &mut file, mode).await
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
                Ok(Some(ObjectMeta { key: key.to_owned(), size: head.content_length().unwrap_or(0).max(0) as u64 }))
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
                found.push(ObjectMeta { key: key.to_owned(), size: object.size().unwrap_or(0).max(0) as u64 });
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

    fn query_store(&self) -> StorageResult<Option<(url::Url, Arc<dyn object_store::ObjectStore>)>> {
        S3Store::query_store(self).map(Some)
    }
}

/// `https://minio:9000` -> `https://bucket.minio:9000`.
fn bucket_in_host(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{bucket}.{rest}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

/// Reads until `size` bytes are held or the body ends.
async fn read_part(body: &mut (dyn AsyncRead + Send + Unpin), size: usize) -> StorageResult<Vec<u8>> {
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

async fn abort_upload(client: &aws_sdk_s3::Client, bucket: &str, key: &str, upload_id: &str) {
    let aborted = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(upload_id).send().await;
    if let Err(error) = aborted {
        // The periodic sweep (`remove_incomplete`) tries again; a lifecycle rule is the backstop.
        tracing::warn!(key, upload_id, error = %DisplayErrorContext(&error), "could not abort a multipart upload");
    }
}

/// A 404 that says the key does not exist (not a missing bucket, which is a misconfiguration
/// that must never read as "no object": the reconciler would drop partitions on it).
fn no_such_key<R>(error: &SdkError<aws_sdk_s3::operation::get_object::GetObjectError, R>) -> bool {
    error.as_service_error().is_some_and(|e| e.is_no_such_key())
}

/// HTTP status of an SDK error, when the server answered.
fn status_of<E, R: HasStatus>(error: &SdkError<E, R>) -> Option<u16> {
    error.raw_response().map(HasStatus::status_code)
}

/// The SDK's HTTP response type, seen only for its status.
trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn unavailable<E, R>(action: &str, error: SdkError<E, R>) -> StorageError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let message = DisplayErrorContext(&error).to_string();
    StorageError::Unavailable { action: action.to_owned(), source: std::io::Error::other(message) }
}

fn unavailable_io(action: &str, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
    StorageError::Unavailable { action: action.to_owned(), source: std::io::Error::other(error) }
}

/// Counts S3 requests, retries and failures for `/metrics`.
#[derive(Debug)]
struct CountRequests;

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "shoplake-count-requests"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let retry = cfg.load::<RequestAttempts>().is_some_and(|attempts| attempts.attempts() > 1);
        dependencies::S3.attempt(retry);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // A 404 or 412 is an answer, not a failure of S3; no answer or a 5xx/429 is.
        let failed = match context.output_or_error() {
            Some(Err(_)) => context.response().is_none_or(|r| r.status().as_u16() >= 500 || r.status().as_u16() == 429),
            _ => false,
        };
        dependencies::S3.finished(failed);
        Ok(())
    }
}

/// The SDK's credential chain (environment, profile, web identity, instance role) for the
/// query engine's `object_store` client, refreshed before the credentials expire.
#[derive(Debug)]
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<object_store::aws::AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        Self { provider, cached: tokio::sync::Mutex::new(None) }
    }
}

#[async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = object_store::aws::AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<Self::Credential>> {
        let mut cached = self.cached.lock().await;
        let fresh_until = SystemTime::now() + Duration::from_secs(300);
        if let Some((credential, expiry)) = cached.as_ref() {
            if expiry.is_none_or(|e| e > fresh_until) {
                return Ok(Arc::clone(credential));
            }
        }
        let provided = self.provider.provide_credentials().await.map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: Box::new(std::io::Error::other(DisplayErrorContext(&e).to_string())),
        })?;
        let credential = Arc::new(object_store::aws::AwsCredential {
            key_id: provided.access_key_id().to_owned(),
            secret_key: provided.secret_access_key().to_owned(),
            token: provided.session_token().map(str::to_owned),
        });
        *cached = Some((Arc::clone(&credential), provided.expiry()));
        Ok(credential)
    }
}

/// A local directory for the ingest's scratch files. The process holds a lock on a file in it
/// while it runs, so a later start removes the directories whose lock is free (their process
/// is gone), whatever the process ids (a container's service is always pid 1).
#[derive(Debug)]
struct ScratchDir {
    path: PathBuf,
    _held: std::fs::File,
}

const SCRATCH_PREFIX: &str = "shoplake-scratch-";
const SCRATCH_LOCK: &str = ".owner.lock";

impl ScratchDir {
    fn create() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        if let Ok(entries) = std::fs::read_dir(&base) {
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX) {
                    continue;
                }
                let abandoned = match std::fs::File::open(entry.path().join(SCRATCH_LOCK)) {
                    Ok(lock) => lock.try_lock().is_ok(),
                    Err(_) => true, // no lock file: from a process that crashed while creating it
                };
                if abandoned {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        // Made under another name and renamed once locked, so another process's clean-up never
        // sees it without its lock.
        let name = uuid::Uuid::now_v7();
        let making = base.join(format!(".{SCRATCH_PREFIX}{name}"));
        std::fs::create_dir_all(&making)?;
        let held = std::fs::File::create(making.join(SCRATCH_LOCK))?;
        held.lock()?;
        let path = base.join(format!("{SCRATCH_PREFIX}{name}"));
        std::fs::rename(&making, &path)?;
        Ok(Self { path, _held: held })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
