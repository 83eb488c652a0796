//! Where raw setting values come from: the config file, `SHOPLAKE_*` variables, and files
//! named by `*_FILE` variables for secrets (Docker and Kubernetes secrets). Unknown names are
//! refused, so that a typo cannot silently leave a default in place — except the variables
//! Kubernetes injects for a Service whose name starts with `shoplake`.

use std::collections::BTreeMap;

use super::text::setting_names;
use super::ConfigError;

/// Settings that may also be read from a file named by `<setting>_file`.
pub const SECRET_FILE_KEYS: &[&str] = &["jwt_secret", "jwt_private_key", "jwt_public_key", "database_url"];

/// Variables read elsewhere (by the CLI and the log filter), not settings.
pub const READ_ELSEWHERE: &[&str] = &["config", "log"];

/// Where a raw value came from, for error messages.
#[derive(Debug, Clone)]
pub enum Source {
    /// The config file.
    File,
    /// A `SHOPLAKE_*` variable.
    Env,
    /// The file named by another setting (its origin, e.g. `SHOPLAKE_JWT_SECRET_FILE`).
    SecretFile { named_by: String },
}

impl Source {
    /// How an error message names the setting `key` from this source.
    pub fn origin(&self, key: &str) -> String {
        match self {
            Source::File => format!("'{key}' in the config file"),
            Source::Env => format!("SHOPLAKE_{}", key.to_ascii_uppercase()),
            Source::SecretFile { named_by } => format!("the file named by {named_by}"),
        }
    }
}

/// Each setting's text and where it came from, by setting name.
pub type RawValues = BTreeMap<String, (String, Source)>;

/// The raw values by setting key, file first, variables over it, secret files resolved.
pub fn collect(file_text: Option<&str>, env: &BTreeMap<String, String>) -> Result<RawValues, ConfigError> {
    let mut raw = RawValues::new();
    if let Some(text) = file_text {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError(format!("config file is not valid TOML: {e}")))?;
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(ConfigError(format!(
                        "config file key '{key}': expected a string or number, found {}",
                        other.type_str()
                    )))
                }
            };
            if !is_known(&key) {
                return Err(ConfigError(format!("config file has unknown key '{key}'; known keys: {}", known_keys())));
            }
            raw.insert(key, (text, Source::File));
        }
    }
    for (name, value) in env {
        let Some(key) = name.strip_prefix("SHOPLAKE_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if READ_ELSEWHERE.contains(&key.as_str()) || is_kubernetes_service_link(&key, value) {
            continue;
        }
        if !is_known(&key) {
            return Err(ConfigError(format!(
                "unknown environment variable {name}; known: {}",
                known_keys()
                    .split(", ")
                    .map(|k| format!("SHOPLAKE_{}", k.to_ascii_uppercase()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        raw.insert(key, (value.clone(), Source::Env));
    }
    resolve_secret_files(&mut raw)?;
    Ok(raw)
}

fn is_known(key: &str) -> bool {
    setting_names().contains(&key)
        || key.strip_suffix("_file").is_some_and(|setting| SECRET_FILE_KEYS.contains(&setting))
}

/// The known keys, for error messages (secret-file forms included).
pub fn known_keys() -> String {
    let settings = setting_names().iter().map(|k| (*k).to_owned());
    let files = SECRET_FILE_KEYS.iter().map(|k| format!("{k}_file"));
    settings.chain(files).collect::<Vec<_>>().join(", ")
}

/// Replaces each `<setting>_file` by `<setting>` with the file's content (a trailing line
/// break dropped: secret files are usually written with one). Both set is an error.
fn resolve_secret_files(raw: &mut RawValues) -> Result<(), ConfigError> {
    for setting in SECRET_FILE_KEYS {
        let file_key = format!("{setting}_file");
        let Some((path, source)) = raw.remove(&file_key) else { continue };
        let named_by = source.origin(&file_key);
        if let Some((_, direct)) = raw.get(*setting) {
            // The layers still apply: a variable overrides the config file, in either form.
            match (direct, &source) {
                (Source::File, Source::Env) => {}
                (Source::Env, Source::File) => continue,
                _ => {
                    return Err(ConfigError(format!(
                        "both {} and {named_by} are set; keep one",
                        direct.origin(setting)
                    )))
                }
            }
        }
        let content = std::fs::read_to_string(path.trim())
            .map_err(|e| ConfigError(format!("{named_by} = '{}': cannot read that file ({e})", path.trim())))?;
        let content = content.strip_suffix('\n').map(|c| c.strip_suffix('\r').unwrap_or(c)).unwrap_or(&content);
        if content.is_empty() {
            return Err(ConfigError(format!("{named_by} = '{}': the file is empty", path.trim())));
        }
        raw.insert((*setting).to_owned(), (content.to_owned(), Source::SecretFile { named_by }));
    }
    Ok(())
}

/// Whether `SHOPLAKE_<KEY>` is one of the variables Kubernetes injects into every pod for a
/// Service named `shoplake` or `shoplake-<x>` (docker links use the same names):
/// `<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT[_<NAME>]`, `<SVC>_PORT=tcp://...` and
/// `<SVC>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]`.
fn is_kubernetes_service_link(key: &str, value: &str) -> bool {
    if key.ends_with("service_host") || key.ends_with("service_port") || key.contains("service_port_") {
        return true;
    }
    if (key == "port" || key.ends_with("_port"))
        && ["tcp://", "udp://", "sctp://"].iter().any(|scheme| value.starts_with(scheme))
    {
        return true;
    }
    // `..._port_8080_tcp`, `..._port_8080_tcp_proto`, `_port`, `_addr`.
    let Some(at) = key.match_indices("port_").map(|(at, _)| at).find(|&at| at == 0 || key[..at].ends_with('_')) else {
        return false;
    };
    let mut parts = key[at + "port_".len()..].split('_');
    let number = parts.next().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let protocol = parts.next().is_some_and(|p| matches!(p, "tcp" | "udp" | "sctp"));
    let field = match parts.next() {
        None => true,
        Some(f) => matches!(f, "proto" | "port" | "addr") && parts.next().is_none(),
    };
    number && protocol && field
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kubernetes_service_link_variables_are_ignored_and_typos_still_refused() {
        // What a Service `shoplake` (port 8080) and a Service `shoplake-api` inject.
        let injected = env(&[
            ("SHOPLAKE_PORT", "tcp://10.0.0.11:8080"),
            ("SHOPLAKE_SERVICE_HOST", "10.0.0.11"),
            ("SHOPLAKE_SERVICE_PORT", "8080"),
            ("SHOPLAKE_SERVICE_PORT_HTTP", "8080"),
            ("SHOPLAKE_PORT_8080_TCP", "tcp://10.0.0.11:8080"),
            ("SHOPLAKE_PORT_8080_TCP_PROTO", "tcp"),
            ("SHOPLAKE_PORT_8080_TCP_PORT", "8080"),
            ("SHOPLAKE_PORT_8080_TCP_ADDR", "10.0.0.11"),
            ("SHOPLAKE_API_PORT", "tcp://10.0.0.12:80"),
            ("SHOPLAKE_API_SERVICE_HOST", "10.0.0.12"),
            ("SHOPLAKE_API_PORT_80_TCP_ADDR", "10.0.0.12"),
            ("SHOPLAKE_LISTEN", "0.0.0.0:8080"),
        ]);
        let raw = collect(None, &injected).unwrap();
        assert_eq!(raw.keys().collect::<Vec<_>>(), vec!["listen"]);
        for typo in [("SHOPLAKE_LISTN", "x"), ("SHOPLAKE_PORT", "8080"), ("SHOPLAKE_PORT_8080", "x")] {
            let err = collect(None, &env(&[typo])).unwrap_err().to_string();
            assert!(err.contains(typo.0), "{err}");
        }
    }

    #[test]
    fn secrets_are_read_from_the_files_named_by_file_variables() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("jwt");
        std::fs::write(&secret, "s3cret-from-a-docker-secret-0123456789\n").unwrap();
        let url = dir.path().join("db");
        std::fs::write(&url, "postgres://app@db/lake\r\n").unwrap();
        let file_text = format!("database_url_file = '{}'", url.display());
        let raw = collect(Some(&file_text), &env(&[("SHOPLAKE_JWT_SECRET_FILE", secret.to_str().unwrap())])).unwrap();
        assert_eq!(raw["jwt_secret"].0, "s3cret-from-a-docker-secret-0123456789");
        assert_eq!(raw["database_url"].0, "postgres://app@db/lake");
        assert!(!raw.contains_key("jwt_secret_file"));

        let both = env(&[("SHOPLAKE_JWT_SECRET_FILE", secret.to_str().unwrap()), ("SHOPLAKE_JWT_SECRET", "x")]);
        let err = collect(None, &both).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_JWT_SECRET ") && err.contains("SHOPLAKE_JWT_SECRET_FILE"), "{err}");
        // A variable overrides the config file, whichever form each uses.
        let file_text = "jwt_secret = 'from-the-config-file-0123456789abcdef'";
        let raw = collect(Some(file_text), &env(&[("SHOPLAKE_JWT_SECRET_FILE", secret.to_str().unwrap())])).unwrap();
        assert_eq!(raw["jwt_secret"].0, "s3cret-from-a-docker-secret-0123456789");
        let file_text = format!("jwt_secret_file = '{}'", secret.display());
        let raw = collect(Some(&file_text), &env(&[("SHOPLAKE_JWT_SECRET", "from-the-environment-0123456789abcdef")]))
            .unwrap();
        assert_eq!(raw["jwt_secret"].0, "from-the-environment-0123456789abcdef");
        let missing = env(&[("SHOPLAKE_DATABASE_URL_FILE", "/nonexistent/db-url")]);
        let err = collect(None, &missing).unwrap_err().to_string();
        assert!(err.contains("SHOPLAKE_DATABASE_URL_FILE = '/nonexistent/db-url'"), "{err}");
    }
}
