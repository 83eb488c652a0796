//! The value types of the settings as written: each parses its text (a variable's value, or a
//! TOML value turned into text) and, when it cannot, says what was expected. The error is the
//! expected form only; [`super::text`] adds the setting's name, source and value.

use chrono::NaiveDate;
use secrecy::SecretString;
use serde::de::{Deserialize, Deserializer, Error as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::settings::{LogFormat, StorageUrl};

/// Implements `Deserialize` for types with `fn parse(&str) -> Option<Self>` (given the trimmed
/// text); the literal is the expected form named when parsing fails.
macro_rules! parsed_from_text {
    ($($ty:ty => $expected:literal,)*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(text.trim()).ok_or_else(|| D::Error::custom($expected))
            }
        }
    )*};
}

parsed_from_text! {
    Address => "an address like 127.0.0.1:8080",
    StorageUrl => "a directory or s3://bucket/prefix",
    DatabaseUrl => "sqlite://PATH or postgres://...",
    JwtSecret => "a secret of at least 32 bytes",
    CatalogName => "embedded or glue",
    QueryEngine => "embedded or athena",
    LogFormat => "pretty or json",
    PathStyle => "true, false or auto",
    S3Location => "an s3://bucket/prefix/ URL",
    Seconds => "a whole number of seconds > 0, or a duration like 90s or 15m",
    Millis => "a whole number of milliseconds > 0, or a duration like 1500ms or 2s",
    ByteCount => "a byte size > 0, like 268435456, 64KiB, 256MiB or 1GiB",
    PartSize => "a byte size of at least 5MiB, like 8MiB",
    Fraction => "a fraction between 0 and 1, like 0.05",
    Currency => "a three-letter ISO 4217 code like EUR",
    Date => "a date YYYY-MM-DD",
}

/// A socket address, `127.0.0.1:8080`.
#[derive(Debug, Clone, Copy)]
pub struct Address(pub SocketAddr);

impl Address {
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok().map(Self)
    }
}

impl StorageUrl {
    /// `s3://bucket/prefix` (a valid bucket name), or a directory (`file://` optional).
    fn parse(raw: &str) -> Option<Self> {
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            return bucket_ok
                .then(|| StorageUrl::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() });
        }
        if raw.is_empty() || raw.contains("://") {
            return None;
        }
        Some(StorageUrl::Local(PathBuf::from(raw.strip_prefix("file://").unwrap_or(raw))))
    }
}

/// A state database URL: `sqlite:...`, `postgres://...` or `postgresql://...`.
#[derive(Debug, Clone)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    fn parse(text: &str) -> Option<Self> {
        let known = ["sqlite:", "postgres://", "postgresql://"].iter().any(|scheme| text.starts_with(scheme));
        known.then(|| Self(text.to_owned()))
    }
}

/// An HS256 secret of at least 32 bytes (hidden from `Debug`).
#[derive(Debug, Clone)]
pub struct JwtSecret(pub SecretString);

impl JwtSecret {
    fn parse(text: &str) -> Option<Self> {
        (text.len() >= 32).then(|| Self(SecretString::from(text)))
    }
}

/// PEM text, or the path of a file holding it (the text is hidden from `Debug`: it may be a
/// private key).
#[derive(Clone)]
pub struct Pem(pub String);

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pem(..)")
    }
}

impl<'de> Deserialize<'de> for Pem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.contains("-----BEGIN") {
            return Ok(Self(text));
        }
        std::fs::read_to_string(text.trim())
            .ok()
            .filter(|content| content.contains("-----BEGIN"))
            .map(Self)
            .ok_or_else(|| D::Error::custom("PEM text or the path of a readable PEM file"))
    }
}

/// `SHOPLAKE_CATALOG`: which catalog records tables and partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogName {
    /// In our own database.
    Embedded,
    /// AWS Glue (with `SHOPLAKE_GLUE_DATABASE`).
    Glue,
}

impl CatalogName {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "embedded" => Some(Self::Embedded),
            "glue" => Some(Self::Glue),
            _ => None,
        }
    }
}

/// `SHOPLAKE_QUERY_ENGINE`: where SQL queries run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryEngine {
    /// DataFusion in the process.
    Embedded,
    /// Amazon Athena over the Glue database.
    Athena,
}

impl QueryEngine {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "embedded" => Some(Self::Embedded),
            "athena" => Some(Self::Athena),
            _ => None,
        }
    }
}

impl LogFormat {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "pretty" => Some(Self::Pretty),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// S3 path-style addressing: `true`, `false`, or `auto` (`None`: path style with an endpoint URL).
#[derive(Debug, Clone, Copy, Default)]
pub struct PathStyle(pub Option<bool>);

impl PathStyle {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "true" => Some(Self(Some(true))),
            "false" => Some(Self(Some(false))),
            "auto" => Some(Self(None)),
            _ => None,
        }
    }
}

/// An `s3://` URL (Athena's result location).
#[derive(Debug, Clone)]
pub struct S3Location(pub String);

impl S3Location {
    fn parse(text: &str) -> Option<Self> {
        text.starts_with("s3://").then(|| Self(text.to_owned()))
    }
}

/// A duration > 0 written in seconds: `30`, or with a unit: `90s`, `15m`, `1h 30m`.
#[derive(Debug, Clone, Copy)]
pub struct Seconds(pub Duration);

impl Seconds {
    fn parse(text: &str) -> Option<Self> {
        positive_duration(text, Duration::from_secs).map(Self)
    }
}

/// A duration > 0 written in milliseconds: `5000`, or with a unit: `1500ms`, `5s`.
#[derive(Debug, Clone, Copy)]
pub struct Millis(pub Duration);

impl Millis {
    fn parse(text: &str) -> Option<Self> {
        positive_duration(text, Duration::from_millis).map(Self)
    }
}

/// A whole number in the setting's unit, or a duration with its unit (humantime); never zero.
fn positive_duration(text: &str, from_count: fn(u64) -> Duration) -> Option<Duration> {
    let duration = match text.parse::<u64>() {
        Ok(count) => from_count(count),
        Err(_) => humantime::parse_duration(text).ok()?,
    };
    (!duration.is_zero()).then_some(duration)
}

/// A byte size > 0: `268435456`, `256MiB`, `1GiB`, `10MB`, `512KiB`.
#[derive(Debug, Clone, Copy)]
pub struct ByteCount(pub u64);

impl ByteCount {
    fn parse(text: &str) -> Option<Self> {
        parse_byte_size(text).map(Self)
    }
}

/// An S3 multipart part size: from 5MiB (S3's minimum) to 5GiB (its maximum).
#[derive(Debug, Clone, Copy)]
pub struct PartSize(pub u64);

impl PartSize {
    fn parse(text: &str) -> Option<Self> {
        parse_byte_size(text).filter(|n| (crate::storage::MIN_PART_SIZE..=5 << 30).contains(n)).map(Self)
    }
}

/// `268435456`, `256MiB`, `1GiB`, `10MB`, `512KiB` (units as the `bytesize` crate reads them,
/// any case); zero and sizes beyond `u64` are refused.
pub fn parse_byte_size(raw: &str) -> Option<u64> {
    let size: bytesize::ByteSize = raw.parse().ok()?;
    Some(size.as_u64()).filter(|bytes| *bytes > 0 && *bytes < u64::MAX)
}

/// A fraction between 0 and 1.
#[derive(Debug, Clone, Copy)]
pub struct Fraction(pub f64);

impl Fraction {
    fn parse(text: &str) -> Option<Self> {
        text.parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f)).map(Self)
    }
}

/// A three-letter ISO 4217 code, kept in capitals.
#[derive(Debug, Clone)]
pub struct Currency(pub String);

impl Currency {
    fn parse(text: &str) -> Option<Self> {
        (text.len() == 3 && text.chars().all(|c| c.is_ascii_alphabetic())).then(|| Self(text.to_ascii_uppercase()))
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy)]
pub struct Date(pub NaiveDate);

impl Date {
    fn parse(text: &str) -> Option<Self> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(Self)
    }
}

/// A whole number > 0 (a count, a limit).
#[derive(Debug, Clone, Copy)]
pub struct Positive<T>(pub T);

impl<'de, T: FromStr + Default + PartialOrd> Deserialize<'de> for Positive<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let number = text.trim().parse::<T>().ok().filter(|n| *n > T::default());
        number.map(Self).ok_or_else(|| D::Error::custom("a whole number > 0"))
    }
}

/// A whole number, zero included (zero turns a check off or allows nothing).
#[derive(Debug, Clone, Copy)]
pub struct Whole<T>(pub T);

impl<'de, T: FromStr> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.trim().parse::<T>().map(Self).map_err(|_| D::Error::custom("a whole number (0 allowed)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_accept_units() {
        assert_eq!(parse_byte_size("256MiB"), Some(268_435_456));
        assert_eq!(parse_byte_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_byte_size("10"), Some(10));
        assert_eq!(parse_byte_size("0"), None);
        assert_eq!(parse_byte_size("ten"), None);
    }

    #[test]
    fn byte_sizes_read_decimal_and_binary_units_in_any_case() {
        assert_eq!(parse_byte_size("10MB"), Some(10_000_000));
        assert_eq!(parse_byte_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_byte_size("64kib"), Some(64 << 10));
        assert_eq!(parse_byte_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_byte_size("99999999999999999999GiB"), None, "beyond u64");
    }

    #[test]
    fn durations_are_whole_units_or_humantime_and_never_zero() {
        assert_eq!(Seconds::parse("30").map(|s| s.0), Some(Duration::from_secs(30)));
        assert_eq!(Seconds::parse("15m").map(|s| s.0), Some(Duration::from_secs(900)));
        assert_eq!(Seconds::parse("1h 30m").map(|s| s.0), Some(Duration::from_secs(5400)));
        assert_eq!(Millis::parse("1500").map(|s| s.0), Some(Duration::from_millis(1500)));
        assert_eq!(Millis::parse("2s").map(|s| s.0), Some(Duration::from_secs(2)));
        assert!(Seconds::parse("0").is_none() && Seconds::parse("0s").is_none());
        assert!(Seconds::parse("soon").is_none() && Seconds::parse("-5").is_none());
    }
}
