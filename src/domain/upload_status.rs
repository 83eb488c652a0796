//! `UploadStatus`: the upload state machine of the contract.

use super::DomainError;
use serde::{Deserialize, Serialize};

/// `received` -> `processing` -> `succeeded` | `rejected` | `failed`; `succeeded` -> `superseded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    /// The request arrived; its raw bytes are being archived or wait for processing.
    Received,
    /// The archived file is being cleaned and written.
    Processing,
    /// Accepted rows are in `processed/` and the catalog.
    Succeeded,
    /// The whole file was refused (see `errors`); nothing in `processed/` changed.
    Rejected,
    /// An internal or dependency failure; nothing half-written is visible.
    Failed,
    /// Was `succeeded`; a later upload replaced its shop-date (see `superseded_by`).
    Superseded,
}

impl UploadStatus {
    /// All statuses, in state-machine order.
    pub const ALL: [Self; 6] =
        [Self::Received, Self::Processing, Self::Succeeded, Self::Rejected, Self::Failed, Self::Superseded];

    /// Parses the lowercase name.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw).ok_or_else(|| {
            DomainError(format!(
                "invalid status '{raw}': expected one of received, processing, succeeded, rejected, failed, superseded"
            ))
        })
    }

    /// The lowercase name stored and sent.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }

    /// Whether the state machine allows going from `self` to `next`.
    pub fn can_become(&self, next: Self) -> bool {
        use UploadStatus::*;
        matches!(
            (self, next),
            (Received, Processing)
                | (Received, Failed)
                | (Processing, Succeeded)
                | (Processing, Rejected)
                | (Processing, Failed)
                | (Succeeded, Superseded)
        )
    }

    /// No further transition except `succeeded` -> `superseded`.
    pub fn is_in_flight(&self) -> bool {
        matches!(self, Self::Received | Self::Processing)
    }

    /// Whether the upload has reached a final status.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::Received | Self::Processing)
    }
}

#[cfg(test)]
mod tests {
    use super::UploadStatus::*;
    use super::*;

    #[test]
    fn only_the_contract_transitions_are_allowed() {
        let allowed = [
            (Received, Processing),
            (Received, Failed),
            (Processing, Succeeded),
            (Processing, Rejected),
            (Processing, Failed),
            (Succeeded, Superseded),
        ];
        for from in UploadStatus::ALL {
            for to in UploadStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for status in UploadStatus::ALL {
            assert_eq!(UploadStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(UploadStatus::parse("done").is_err());
    }
}
