//! Authentication: JWT claims, signing (`shoplake token`) and verification; no HTTP here.

mod keys;

pub use keys::{KeyError, KeySettings, Keys};

use crate::domain::{Role, ShopId};
use serde::{Deserialize, Serialize};

/// The claims of a shoplake token (contract: sub, role, shop_id for shops, exp, iat).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token was issued to (a POS terminal, a person).
    pub sub: String,
    /// `shop`, `analyst` or `admin`.
    pub role: Role,
    /// Required for role `shop`: the one shop it may act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<String>,
    /// Expiry, seconds since the epoch (required).
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer, checked when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience, checked when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// A verified caller: what the rest of the service may rely on.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's subject, for logs.
    pub subject: String,
    /// The caller's role.
    pub role: Role,
    /// The caller's shop, for role `shop`.
    pub shop: Option<ShopId>,
    /// When the token expires (Unix seconds): a session made from it ends then too.
    pub expires_at: u64,
}

impl Principal {
    /// Whether this caller may act on `shop`'s uploads: admins on all, shops on their own.
    pub fn may_act_on_shop(&self, shop: &ShopId) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Shop => self.shop.as_ref() == Some(shop),
            Role::Analyst => false,
        }
    }
}

/// Why a token was refused. The client only learns "invalid token"; the log gets the reason.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Signature, algorithm, expiry, issuer or audience check failed.
    #[error("invalid token: {0}")]
    Invalid(String),
}
