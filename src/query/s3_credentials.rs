//! The SDK's credential chain (environment, profile, web identity, instance role) as an
//! `object_store` credential provider, for the query engine's client of the lake's bucket.

use async_trait::async_trait;
use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::error::DisplayErrorContext;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The SDK's credential chain (environment, profile, web identity, instance role) for the
/// query engine's `object_store` client, refreshed before the credentials expire.
#[derive(Debug)]
pub(super) struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<object_store::aws::AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    pub(super) fn new(provider: SharedCredentialsProvider) -> Self {
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
