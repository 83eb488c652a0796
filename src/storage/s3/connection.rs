//! `S3Connection`: what another client of the store's bucket must share with the store's own
//! SDK client — bucket, region, endpoint, addressing and credentials (the query engine reads the
//! bucket through `object_store` with it).

use super::S3Store;
use aws_sdk_s3::config::SharedCredentialsProvider;

/// How the store reaches its bucket.
#[derive(Clone, Debug)]
pub struct S3Connection {
    /// Bucket name.
    pub bucket: String,
    /// The SDK's region (`us-east-1` when none is configured).
    pub region: String,
    /// A custom endpoint (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`), as configured.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted.
    pub path_style: bool,
    /// The SDK's credential chain, when one is configured.
    pub credentials: Option<SharedCredentialsProvider>,
}

impl S3Connection {
    /// The connection of the SDK configuration `sdk` to `bucket`, with the endpoint and
    /// addressing in use.
    pub(super) fn new(sdk: &aws_config::SdkConfig, bucket: &str, endpoint: Option<String>, path_style: bool) -> Self {
        Self {
            bucket: bucket.to_owned(),
            region: sdk.region().map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
            endpoint,
            path_style,
            credentials: sdk.credentials_provider(),
        }
    }
}

impl S3Store {
    /// How this store reaches its bucket, for other clients of it.
    pub fn connection(&self) -> &S3Connection {
        &self.connection
    }
}
