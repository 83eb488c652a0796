//! The AWS SDK configuration shared by the S3 store and the Glue catalog: the usual `AWS_*`
//! chain (region, credentials, `AWS_ENDPOINT_URL` for compatible servers), a default region,
//! retries with backoff and timeouts.

use std::time::Duration;

/// Loads the SDK configuration from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::standard().with_max_attempts(5).with_initial_backoff(Duration::from_millis(100)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        )
        .load()
        .await
}

/// The endpoint URL of one service: `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `S3`, `GLUE`), else
/// `AWS_ENDPOINT_URL`; `None` for AWS itself.
pub fn endpoint_url(sdk: &aws_config::SdkConfig, service: &str) -> Option<String> {
    std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
        .ok()
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
        .filter(|e| !e.is_empty())
}
