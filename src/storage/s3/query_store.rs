//! The query engine's `object_store` over the store's bucket: DataFusion reads through
//! `object_store`, not the SDK, so it gets a client of its own with the same region, endpoint,
//! addressing and credentials.

use super::credentials::SdkCredentials;
use super::sdk_errors::unavailable_io;
use super::S3Store;
use crate::storage::StorageResult;
use aws_sdk_s3::config::SharedCredentialsProvider;
use std::sync::Arc;

/// What the query engine's client must share with the store's SDK client.
#[derive(Clone, Debug)]
pub(super) struct QueryClientSettings {
    region: String,
    endpoint: Option<String>,
    path_style: bool,
    credentials: Option<SharedCredentialsProvider>,
}

impl QueryClientSettings {
    /// The settings of the SDK configuration `sdk`, with the endpoint and addressing in use.
    pub(super) fn new(sdk: &aws_config::SdkConfig, endpoint: Option<String>, path_style: bool) -> Self {
        Self {
            region: sdk.region().map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
            endpoint,
            path_style,
            credentials: sdk.credentials_provider(),
        }
    }
}

impl S3Store {
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

/// `https://minio:9000` -> `https://bucket.minio:9000`.
fn bucket_in_host(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{bucket}.{rest}"),
        None => format!("{bucket}.{endpoint}"),
    }
}
