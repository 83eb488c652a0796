//! `UploadId`: a UUIDv7, so ids sort by the time the upload was received.

use super::DomainError;
use uuid::Uuid;

/// Identifier of one upload; time-ordered (UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(Uuid);

impl UploadId {
    /// A fresh id for an upload received now.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the hyphenated form; anything else is not an upload id.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Uuid::try_parse(raw).map(Self).map_err(|_| DomainError("invalid upload id: expected a UUID".into()))
    }

    /// The UUID itself.
    pub fn uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_7_and_increase() {
        let first = UploadId::new();
        let second = UploadId::new();
        assert_eq!(first.uuid().get_version_num(), 7);
        assert!(second > first);
        assert_eq!(UploadId::parse(&first.to_string()).unwrap(), first);
    }
}
