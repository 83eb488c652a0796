//! Client set-up: the SDK client from the environment (`AWS_REGION`, the credentials chain,
//! `AWS_ENDPOINT_URL`), with request counting, and what the query engine's client needs to match.

use super::request_counting::CountRequests;
use super::scratch::ScratchDir;
use super::sdk_errors::unavailable_io;
use super::S3Connection;
use super::{S3Options, S3Store, MIN_PART_SIZE};
use crate::storage::StorageResult;
use std::sync::Arc;

impl S3Store {
    /// Builds the client from the environment (`AWS_REGION`, credentials chain, `AWS_ENDPOINT_URL`)
    /// and creates a local scratch directory. Does not contact S3 (see
    /// [`BlobStore::check`](crate::storage::BlobStore::check)).
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
            connection: S3Connection::new(&sdk, &options.bucket, endpoint, path_style),
        })
    }
}
