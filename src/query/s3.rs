//! The engine's `object_store` over the lake's bucket: DataFusion reads through `object_store`,
//! not the SDK, so it gets a client of its own that shares the store's connection (region,
//! endpoint, addressing and credentials).

use super::s3_credentials::SdkCredentials;
use crate::storage::S3Connection;
use object_store::aws::AmazonS3Builder;
use std::sync::Arc;

/// The bucket's URL (`s3://bucket`) and an object store reading it as the blob store does.
pub fn lake_object_store(
    connection: &S3Connection,
) -> Result<(url::Url, Arc<dyn object_store::ObjectStore>), object_store::Error> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&connection.bucket)
        .with_region(&connection.region)
        .with_virtual_hosted_style_request(!connection.path_style);
    if let Some(endpoint) = &connection.endpoint {
        // object_store takes a custom endpoint as is: with virtual-hosted addressing the bucket
        // must already be in its host (the SDK adds it itself).
        let endpoint =
            if connection.path_style { endpoint.clone() } else { bucket_in_host(endpoint, &connection.bucket) };
        builder = builder.with_endpoint(&endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(provider) = &connection.credentials {
        builder = builder.with_credentials(Arc::new(SdkCredentials::new(provider.clone())));
    }
    let store = builder.build()?;
    let url = url::Url::parse(&format!("s3://{}", connection.bucket))
        .map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
    Ok((url, Arc::new(store)))
}

/// `https://minio:9000` -> `https://bucket.minio:9000`.
fn bucket_in_host(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{bucket}.{rest}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosted_endpoints_carry_the_bucket_in_their_host() {
        assert_eq!(bucket_in_host("https://minio:9000", "lake"), "https://lake.minio:9000");
        assert_eq!(bucket_in_host("minio:9000", "lake"), "lake.minio:9000");
    }
}
