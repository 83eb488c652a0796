//! Settings: built-in defaults, then `shoplake.toml` (or `--config`), then `SHOPLAKE_*` variables.
//!
//! [`load`] is a pure function of the file text and an environment map, so tests never touch the
//! process environment. Every value is parsed into its type here; a bad one names its source.
//! Each setting is declared once, in `flat.rs`: name, type, default; the README's table is
//! checked against that declaration by a test.

use std::collections::BTreeMap;

/// Every setting declared once (name, type, default), and its assembly into [`Settings`].
mod flat;
/// Where raw values come from: the file, `SHOPLAKE_*` variables, secret files.
mod raw;
/// The README's configuration table, checked against the declared settings.
#[cfg(test)]
mod readme;
/// The typed settings the service reads, and their value types.
mod settings;
/// The serde glue: raw text values into the declared settings; the declared names.
mod text;
/// How each kind of value is read from its text.
mod values;

pub use settings::{AthenaConfig, CatalogKind, LogFormat, Settings, StorageUrl};
pub use values::parse_byte_size;

/// A configuration value that cannot be used; the message names the key, its source and the fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Builds the settings from the config file's text (if any) and the environment (`SHOPLAKE_*`).
pub fn load(file_text: Option<&str>, env: &BTreeMap<String, String>) -> Result<Settings, ConfigError> {
    let raw = raw::collect(file_text, env)?;
    text::flat_settings(&raw)?.into_settings()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nothing_set_gives_the_contract_defaults() {
        let settings = load(None, &env(&[])).unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.storage, StorageUrl::Local("./data".into()));
        assert_eq!(settings.database_url, "sqlite://./data/shoplake.db");
        assert_eq!(settings.max_upload_bytes, 268_435_456);
        assert_eq!(settings.max_rejected_fraction, 0.05);
        assert_eq!(settings.default_currency, "EUR");
        assert_eq!(settings.catalog, CatalogKind::Embedded);
        assert!(settings.jwt_secret.is_none());
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "listen = \"127.0.0.1:9000\"\nmax_upload_bytes = 1024\ndefault_currency = \"usd\"\n";
        let settings = load(Some(file), &env(&[("SHOPLAKE_LISTEN", "127.0.0.1:9001")])).unwrap();
        assert_eq!(settings.listen.port(), 9001);
        assert_eq!(settings.max_upload_bytes, 1024);
        assert_eq!(settings.default_currency, "USD");
    }

    #[test]
    fn bad_values_name_their_variable_and_hide_secrets() {
        let err = load(None, &env(&[("SHOPLAKE_MAX_UPLOAD_BYTES", "lots")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_MAX_UPLOAD_BYTES") && err.contains("lots"), "{err}");
        let err = load(None, &env(&[("SHOPLAKE_JWT_SECRET", "short-secret")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_JWT_SECRET") && !err.contains("short-secret"), "{err}");
        let err = load(None, &env(&[("SHOPLAKE_LISTN", "x")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_LISTN"), "{err}");
        let err = load(Some("colour = 1"), &env(&[])).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn storage_urls_are_typed() {
        let s = load(
            None,
            &env(&[
                ("SHOPLAKE_STORAGE", "s3://lake-bucket/a/b/"),
                ("SHOPLAKE_DATABASE_URL", "postgres://x/y"),
                ("SHOPLAKE_JWT_SECRET", &"k".repeat(32)),
            ]),
        )
        .unwrap();
        assert_eq!(s.storage, StorageUrl::S3 { bucket: "lake-bucket".into(), prefix: "a/b".into() });
        assert_eq!(s.jwt_secret.unwrap().expose_secret().len(), 32);
        let local = load(None, &env(&[("SHOPLAKE_STORAGE", "/srv/lake")])).unwrap();
        assert_eq!(local.database_url, "sqlite:///srv/lake/shoplake.db");
    }

    #[test]
    fn database_pool_and_s3_settings_parse_and_refuse_bad_values() {
        let s = load(
            None,
            &env(&[
                ("SHOPLAKE_DATABASE_MAX_CONNECTIONS", "32"),
                ("SHOPLAKE_DATABASE_STATEMENT_TIMEOUT_MS", "1500"),
                ("SHOPLAKE_S3_PART_SIZE", "16MiB"),
                ("SHOPLAKE_S3_FORCE_PATH_STYLE", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database_max_connections, 32);
        assert_eq!(s.database_statement_timeout, Duration::from_millis(1500));
        assert_eq!(s.s3_part_size, 16 << 20);
        assert_eq!(s.s3_force_path_style, Some(false));
        assert_eq!(load(None, &env(&[])).unwrap().s3_force_path_style, None, "auto by default");
        let err = load(None, &env(&[("SHOPLAKE_S3_PART_SIZE", "1MiB")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_S3_PART_SIZE") && err.contains("5MiB"), "{err}");
        let err = load(None, &env(&[("SHOPLAKE_DATABASE_MAX_CONNECTIONS", "0")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_DATABASE_MAX_CONNECTIONS"), "{err}");
    }

    #[test]
    fn athena_needs_the_glue_catalog_and_an_s3_output_location() {
        let err = load(None, &env(&[("SHOPLAKE_QUERY_ENGINE", "athena")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_CATALOG=glue"), "{err}");
        let glue =
            [("SHOPLAKE_CATALOG", "glue"), ("SHOPLAKE_GLUE_DATABASE", "lake"), ("SHOPLAKE_QUERY_ENGINE", "athena")];
        let s = load(None, &env(&glue)).unwrap();
        assert_eq!(s.athena, Some(AthenaConfig { workgroup: "primary".into(), output_location: None }));
        let mut bad = glue.to_vec();
        bad.push(("SHOPLAKE_ATHENA_OUTPUT_LOCATION", "/tmp/results"));
        let err = load(None, &env(&bad)).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_ATHENA_OUTPUT_LOCATION"), "{err}");
    }

    #[test]
    fn durations_and_sizes_keep_their_plain_forms_and_also_take_units() {
        let file = "request_timeout_secs = 30\ndatabase_timeout_ms = 1500\nmax_upload_bytes = 1024\n";
        let plain = load(Some(file), &env(&[])).unwrap();
        assert_eq!(plain.request_timeout, Duration::from_secs(30));
        assert_eq!(plain.database_timeout, Duration::from_millis(1500));
        assert_eq!(plain.max_upload_bytes, 1024);
        let units = load(
            None,
            &env(&[
                ("SHOPLAKE_REQUEST_TIMEOUT_SECS", "15m"),
                ("SHOPLAKE_DATABASE_TIMEOUT_MS", "2s"),
                ("SHOPLAKE_MAX_UPLOAD_BYTES", "1.5GiB"),
            ]),
        )
        .unwrap();
        assert_eq!(units.request_timeout, Duration::from_secs(900));
        assert_eq!(units.database_timeout, Duration::from_secs(2));
        assert_eq!(units.max_upload_bytes, 3 << 29);
        let err = load(None, &env(&[("SHOPLAKE_REQUEST_TIMEOUT_SECS", "0s")])).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_REQUEST_TIMEOUT_SECS = '0s'") && err.contains("seconds > 0"), "{err}");
    }

    #[test]
    fn a_bad_value_in_the_file_names_its_key_in_the_file() {
        let err = load(Some("query_max_rows = 0"), &env(&[])).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid configuration: 'query_max_rows' in the config file = '0': expected a whole number > 0"
        );
    }
}
