//! `ShopId`: the shop's identifier, `[A-Za-z0-9_-]{1,64}`, safe to use as a path segment.

use super::DomainError;

/// A shop identifier as the contract allows it: 1 to 64 of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShopId(String);

impl ShopId {
    /// Accepts exactly the contract's alphabet; anything else (dots, slashes, spaces) is refused,
    /// so a shop id can never escape its storage prefix.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(valid_char) {
            return Err(DomainError(format!(
                "invalid shop_id '{}': expected 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
                truncate_for_message(raw)
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The identifier as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShopId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Keeps error messages short when a client sends a huge value.
pub(crate) fn truncate_for_message(raw: &str) -> String {
    raw.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_alphabet_is_accepted() {
        for ok in ["001", "shop_A-9", &"x".repeat(64)] {
            assert_eq!(ShopId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn path_traversal_and_other_characters_are_refused() {
        for bad in ["", "..", "a/b", "a.b", "a b", "ü", &"x".repeat(65), "%2e%2e"] {
            assert!(ShopId::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
