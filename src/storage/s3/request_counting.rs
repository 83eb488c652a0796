//! The interceptor that counts S3 requests, retries and failures for `/metrics`.

use crate::metrics::dependencies;
use aws_sdk_s3::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

/// Counts S3 requests, retries and failures for `/metrics`.
#[derive(Debug)]
pub(super) struct CountRequests;

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
