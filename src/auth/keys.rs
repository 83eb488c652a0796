//! Signing and verification keys: HS256 secret, or RS256/ES256 PEM keys; the dev secret file.

use super::{AuthError, Claims, Principal};
use crate::domain::{Role, ShopId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};

/// What the keys are built from: the `jwt_*` settings, and where a development secret may live.
#[derive(Debug, Clone, Default)]
pub struct KeySettings {
    /// HS256 secret (`SHOPLAKE_JWT_SECRET`).
    pub secret: Option<SecretString>,
    /// PEM public key for RS256/ES256 verification (`SHOPLAKE_JWT_PUBLIC_KEY`); when set, only
    /// its algorithm is accepted.
    pub public_key: Option<String>,
    /// PEM private key for signing with RS256/ES256 (`SHOPLAKE_JWT_PRIVATE_KEY`).
    pub private_key: Option<SecretString>,
    /// Required `iss` claim, when set (`SHOPLAKE_JWT_ISSUER`).
    pub issuer: Option<String>,
    /// Required `aud` claim, when set (`SHOPLAKE_JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// Where a development secret is generated when neither key is set (the local data
    /// directory); `None` means no key, no tokens.
    pub dev_secret_dir: Option<PathBuf>,
}

/// Keys and validation rules, built once from the settings and kept in the app state.
#[derive(Clone)]
pub struct Keys {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    /// Set when a development secret was created by this call (to be logged once).
    pub generated_secret_at: Option<PathBuf>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// Keys that cannot be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM text is not an RSA or EC public/private key.
    #[error("{0}")]
    Pem(String),
    /// The development secret file could not be read or written.
    #[error("development secret {path}: {source}")]
    DevSecret {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Signing is not possible with this configuration.
    #[error("{0}")]
    CannotSign(String),
}

/// Name of the generated development secret in the data directory.
pub const DEV_SECRET_FILE: &str = "jwt-dev-secret";

impl Keys {
    /// Public key (RS256/ES256) if configured, else the HS256 secret, else a development secret
    /// generated once into the local data directory (mode 0600).
    pub fn from_settings(settings: &KeySettings) -> Result<Self, KeyError> {
        let mut generated_secret_at = None;
        let (algorithm, decoding, encoding) = if let Some(pem) = &settings.public_key {
            let (algorithm, decoding) = decoding_key_from_pem(pem)?;
            let encoding = match &settings.private_key {
                Some(private) => Some(encoding_key_from_pem(algorithm, private.expose_secret())?),
                None => None,
            };
            (algorithm, decoding, encoding)
        } else {
            let secret = match &settings.secret {
                Some(secret) => secret.expose_secret().as_bytes().to_vec(),
                None => {
                    let dir = settings
                        .dev_secret_dir
                        .as_ref()
                        .ok_or_else(|| KeyError::CannotSign("no JWT secret configured".into()))?;
                    let (secret, created) = load_or_create_dev_secret(&dir.join(DEV_SECRET_FILE))?;
                    if created {
                        generated_secret_at = Some(dir.join(DEV_SECRET_FILE));
                    }
                    secret
                }
            };
            (Algorithm::HS256, DecodingKey::from_secret(&secret), Some(EncodingKey::from_secret(&secret)))
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = settings.audience.is_some();
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            validation.set_required_spec_claims(&["exp", "iss"]);
        }
        if let Some(audience) = &settings.audience {
            validation.set_audience(&[audience]);
            let mut required = vec!["exp", "aud"];
            if settings.issuer.is_some() {
                required.push("iss");
            }
            validation.set_required_spec_claims(&required);
        }
        Ok(Self {
            algorithm,
            decoding,
            encoding,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            generated_secret_at,
        })
    }

    /// Verifies a bearer token and turns it into a [`Principal`]. Only the configured algorithm
    /// is accepted, so `alg: none` and HS256-signed-with-the-public-key tokens are refused.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let shop = match (claims.role, &claims.shop_id) {
            (Role::Shop, Some(raw)) => Some(ShopId::parse(raw).map_err(|e| AuthError::Invalid(e.0))?),
            (Role::Shop, None) => return Err(AuthError::Invalid("role shop without shop_id".into())),
            (_, Some(raw)) => ShopId::parse(raw).ok(),
            (_, None) => None,
        };
        Ok(Principal { subject: claims.sub, role: claims.role, shop, expires_at: claims.exp })
    }

    /// Signs a token for `role` (and `shop` for role shop) valid for `ttl_secs`.
    pub fn sign(&self, subject: &str, role: Role, shop: Option<&ShopId>, ttl_secs: u64) -> Result<String, KeyError> {
        let encoding = self
            .encoding
            .as_ref()
            .ok_or_else(|| KeyError::CannotSign("signing with RS256/ES256 needs SHOPLAKE_JWT_PRIVATE_KEY".into()))?;
        if role == Role::Shop && shop.is_none() {
            return Err(KeyError::CannotSign("a shop token needs --shop-id".into()));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            shop_id: shop.map(|s| s.as_str().to_owned()),
            exp: now + ttl_secs,
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, encoding)
            .map_err(|e| KeyError::CannotSign(e.to_string()))
    }
}

fn decoding_key_from_pem(pem: &str) -> Result<(Algorithm, DecodingKey), KeyError> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Ok((Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
        return Ok((Algorithm::ES256, key));
    }
    Err(KeyError::Pem("SHOPLAKE_JWT_PUBLIC_KEY is neither an RSA nor a P-256 EC public key in PEM".into()))
}

fn encoding_key_from_pem(algorithm: Algorithm, pem: &str) -> Result<EncodingKey, KeyError> {
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(pem.as_bytes()),
    };
    key.map_err(|e| KeyError::Pem(format!("SHOPLAKE_JWT_PRIVATE_KEY does not match the public key's kind: {e}")))
}

/// Reads the development secret, or creates it (32 random bytes, hex, mode 0600).
fn load_or_create_dev_secret(path: &Path) -> Result<(Vec<u8>, bool), KeyError> {
    let err = |source| KeyError::DevSecret { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok((text.trim().as_bytes().to_vec(), false)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, secret.as_bytes()).map_err(err)?;
            Ok((secret.into_bytes(), true))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(err)?;
            Ok((text.trim().as_bytes().to_vec(), false))
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> KeySettings {
        let env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        crate::config::load(None, &env).unwrap().key_settings()
    }

    #[test]
    fn signed_token_verifies_with_its_role_and_shop() {
        let keys = Keys::from_settings(&settings(&[("SHOPLAKE_JWT_SECRET", &"s".repeat(32))])).unwrap();
        let shop = ShopId::parse("001").unwrap();
        let token = keys.sign("pos-1", Role::Shop, Some(&shop), 60).unwrap();
        let principal = keys.verify(&token).unwrap();
        assert_eq!(principal.role, Role::Shop);
        assert_eq!(principal.shop, Some(shop));
    }

    #[test]
    fn dev_secret_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&[("SHOPLAKE_STORAGE", dir.path().to_str().unwrap())]);
        let first = Keys::from_settings(&s).unwrap();
        assert!(first.generated_secret_at.is_some());
        let second = Keys::from_settings(&s).unwrap();
        assert!(second.generated_secret_at.is_none(), "second start must reuse the secret");
        let token = first.sign("a", Role::Admin, None, 60).unwrap();
        assert!(second.verify(&token).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_SECRET_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn issuer_and_audience_are_enforced_when_configured() {
        let secret = "s".repeat(32);
        let plain = Keys::from_settings(&settings(&[("SHOPLAKE_JWT_SECRET", &secret)])).unwrap();
        let strict = Keys::from_settings(&settings(&[
            ("SHOPLAKE_JWT_SECRET", &secret),
            ("SHOPLAKE_JWT_ISSUER", "https://idp.example"),
            ("SHOPLAKE_JWT_AUDIENCE", "shoplake"),
        ]))
        .unwrap();
        let without = plain.sign("a", Role::Admin, None, 60).unwrap();
        assert!(strict.verify(&without).is_err());
        let with = strict.sign("a", Role::Admin, None, 60).unwrap();
        assert!(strict.verify(&with).is_ok());
    }
}
