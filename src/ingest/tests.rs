//! End-to-end tests of `ingest`.
