//! One integration-test binary (one link step): a module per resource.
//!
//! The suite runs once per back end (`scripts/test.sh`): local directory + SQLite, then S3 +
//! PostgreSQL (`SHOPLAKE_TEST_BACKEND=s3`, see `helpers`). Every module runs on both, except:
//! - `local_only`: what only exists locally (the CLI on a data directory, SIGKILL cycles on a
//!   SQLite file, tmpfs and SQLite-file faults);
//! - `s3_only`: what only exists with S3 + PostgreSQL (several replicas on one bucket and one
//!   database, a shop-day lock's connection dying mid-commit, the S3 server or the database
//!   connection failing).
//!
//! `.config/nextest.toml` selects them: the default profile leaves out `s3_only`, the `s3`
//! profile runs this binary without `local_only`.

mod auth;
mod catalog;
mod concurrency;
mod dry_run;
mod errors;
mod external;
mod health;
mod helpers;
mod hostile;
mod openapi;
mod operations;
mod processing;
mod query;
mod reconcile;
mod reporting;
mod security;
mod server_process;
mod uploads;

/// Tests of the local back end only.
mod local_only {
    mod cli;
    mod crash;
    mod faults;
    mod validate;
}

/// Tests of the S3 + PostgreSQL back end only.
mod s3_only {
    mod athena;
    mod faults;
    mod glue;
    mod lambda;
    mod lock_fence;
    mod replicas;
    mod storage;
}
