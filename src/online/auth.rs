//! Registry credentials and `WWW-Authenticate` challenges.
//!
//! Credentials come from a Docker client config (`~/.docker/config.json`, the
//! directory `DOCKER_CONFIG` names, or `--registry-auth-file`): its `auths` map, keyed
//! by registry host. They are held here only: [`Credential`]'s `Debug` hides them,
//! nothing serialises them, and [`super::client`] sends them only to the registry they
//! belong to (Basic) or to the token realm that registry's own challenge named (Bearer).
//! Credential helpers (`credsStore`, `credHelpers`) are programs strata does not run.

use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest client config file read (a real one is a few KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// One registry's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name (empty with an identity token).
    pub username: String,
    /// Password, or the identity (refresh) token.
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never printed, even in a debug dump.
        f.write_str("Credential(<redacted>)")
    }
}

impl Credential {
    /// `Basic <base64(user:secret)>`.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.secret);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// Credentials by registry host (`127.0.0.1:5000`, `docker.io`).
#[derive(Debug, Clone, Default)]
pub struct AuthStore {
    by_host: BTreeMap<String, Credential>,
    /// Where they were read from, for the report (never the credentials).
    pub source: Option<PathBuf>,
    /// Registries configured to a credential helper strata does not run.
    pub helper_hosts: Vec<String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// An auth file that could not be used; says which file and why, never its content.
#[derive(Debug, thiserror::Error)]
#[error("registry auth file {path}: {why}")]
pub struct AuthFileError {
    /// The file.
    pub path: String,
    /// What was wrong with it.
    pub why: String,
}

/// Where the analyst's Docker client config is: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`; `None` without either variable.
pub fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d).join("config.json")),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

impl AuthStore {
    /// The analyst's Docker client config: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`. A missing file is no credentials, not an error.
    pub fn from_docker_config() -> Result<Self, AuthFileError> {
        let Some(path) = docker_config_path() else { return Ok(Self::default()) };
        if !path.exists() {
            return Ok(Self::default());
        }
        Self::from_file(&path)
    }

    /// A Docker client config file (`--registry-auth-file`): its `auths` map.
    pub fn from_file(path: &Path) -> Result<Self, AuthFileError> {
        let err = |why: String| AuthFileError { path: path.display().to_string(), why };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(err(format!("larger than {MAX_CONFIG_BYTES} bytes")));
        }
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        // serde_json's errors quote no input, only positions: safe to show.
        let raw: RawConfig = serde_json::from_slice(&bytes)
            .map_err(|e| err(format!("not a Docker client config ({e})")))?;
        let mut store = Self { source: Some(path.to_path_buf()), ..Self::default() };
        for (key, a) in raw.auths {
            let cred = if let Some(tok) = a.identitytoken.filter(|t| !t.is_empty()) {
                Some(Credential { username: a.username.unwrap_or_default(), secret: tok })
            } else if let (Some(u), Some(p)) = (a.username.clone(), a.password) {
                Some(Credential { username: u, secret: p })
            } else if let Some(enc) = a.auth.filter(|s| !s.is_empty()) {
                let dec = base64::engine::general_purpose::STANDARD
                    .decode(enc.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                match dec.as_deref().and_then(|s| s.split_once(':')) {
                    Some((u, p)) => Some(Credential { username: u.into(), secret: p.into() }),
                    None => {
                        return Err(err(format!(
                            "auths entry for {key}: `auth` is not base64 of user:password"
                        )))
                    }
                }
            } else {
                None
            };
            if let Some(c) = cred {
                store.by_host.insert(registry_key(&key), c);
            }
        }
        store.helper_hosts = raw.cred_helpers.into_keys().map(|k| registry_key(&k)).collect();
        if raw.creds_store.is_some_and(|s| !s.is_empty()) {
            store.helper_hosts.push("*".into());
        }
        Ok(store)
    }

    /// Credentials for a registry host, as references name it (`docker.io` for Docker Hub).
    pub fn get(&self, host: &str) -> Option<&Credential> {
        self.by_host.get(host)
    }

    /// Adds credentials (tests, and callers that read them some other way).
    pub fn insert(&mut self, host: &str, cred: Credential) {
        self.by_host.insert(registry_key(host), cred);
    }

    /// Registry hosts with credentials (never the credentials).
    pub fn hosts(&self) -> Vec<String> {
        self.by_host.keys().cloned().collect()
    }
}

/// A config `auths` key (`https://index.docker.io/v1/`, `http://h:5000`, `h:5000/v2/`)
/// as the host a reference names.
pub fn registry_key(key: &str) -> String {
    let k = key.trim();
    let k = k.strip_prefix("https://").or_else(|| k.strip_prefix("http://")).unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm="...",service="...",scope="..."`: get a token from the realm.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The `scope` the registry asked for.
        scope: Option<String>,
    },
    /// `Basic realm="..."`: send the credentials to the registry itself.
    Basic,
}

/// Parses a `WWW-Authenticate` value; `None` for a scheme strata does not speak.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let h = header.trim();
    let (scheme, rest) = h.split_once(char::is_whitespace).unwrap_or((h, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `k="v", k2=v2`: quoted values may hold commas (`scope="repository:a:pull,push"`).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), val.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_commas_in_scope() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn config_keys_become_hosts_and_secrets_stay_hidden() {
        assert_eq!(registry_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        let dir = std::env::temp_dir().join(format!("strata-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("config.json");
        // "alice:s3cret"
        std::fs::write(&f, r#"{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcmV0"}}}"#).unwrap();
        let s = AuthStore::from_file(&f).unwrap();
        let c = s.get("127.0.0.1:5000").unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("alice", "s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
        std::fs::write(&f, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        assert!(!AuthStore::from_file(&f).unwrap_err().to_string().contains("!!"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
