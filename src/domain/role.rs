//! `Role`: who a token speaks for (`shop`, `analyst`, `admin`).

use super::DomainError;
use serde::{Deserialize, Serialize};

/// The roles of the contract's auth section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A shop's POS system: uploads and reads its own shop's files only.
    Shop,
    /// Runs SQL and reads the catalog.
    Analyst,
    /// Everything.
    Admin,
}

impl Role {
    /// Parses `shop`, `analyst` or `admin`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "shop" => Ok(Self::Shop),
            "analyst" => Ok(Self::Analyst),
            "admin" => Ok(Self::Admin),
            other => Err(DomainError(format!("invalid role '{other}': expected shop, analyst or admin"))),
        }
    }

    /// The lowercase name used in tokens.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Shop => "shop",
            Self::Analyst => "analyst",
            Self::Admin => "admin",
        }
    }
}
