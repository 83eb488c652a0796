//! AWS Lambda entry point (feature `lambda`): S3 ObjectCreated events for files dropped under
//! `raw/` run through the same pipeline as an upload (see `shoplake::lambda`). Configured like
//! `shoplake serve` (`SHOPLAKE_STORAGE=s3://...`, `SHOPLAKE_DATABASE_URL=postgres://...`,
//! `SHOPLAKE_CATALOG`...); the backends are opened once per cold start.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use shoplake::app::Backends;
use shoplake::config::{self, StorageUrl};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let settings = config::load(None, &env)?;
    shoplake::telemetry::init(
        config::LogFormat::Json,
        &std::env::var("SHOPLAKE_LOG").unwrap_or_else(|_| "info".into()),
    );
    let StorageUrl::S3 { bucket, prefix } = settings.storage.clone() else {
        return Err("the Lambda handler needs SHOPLAKE_STORAGE=s3://bucket/prefix".into());
    };
    let backends = Backends::open(&settings).await?;
    let pipeline = Arc::new(backends.pipeline(&settings, Default::default())?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| {
        let (pipeline, bucket, prefix) = (Arc::clone(&pipeline), bucket.clone(), prefix.clone());
        async move {
            let handled = shoplake::lambda::handle(&pipeline, &bucket, &prefix, &event.payload).await?;
            Ok::<_, Error>(serde_json::json!({ "handled": handled }))
        }
    }))
    .await
}
