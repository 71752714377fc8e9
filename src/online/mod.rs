//! Asking live registries (`strata audit --online`, `strata registry-check`).
//!
//! Everything else in strata reads disk only; this is the one module that opens
//! network connections, so a sandbox can leave the network closed to every other
//! command (`cli`'s plan says which runs need it). The store readers stay offline;
//! the checks that use these answers are in [`crate::audit::online`].
//!
//! The HTTP client is [`ureq`] 3 with rustls: synchronous (strata has no async
//! runtime and needs none for a few dozen requests), small, pure Rust TLS with
//! bundled roots (no OpenSSL to match on an evidence workstation), per-call global
//! timeouts that cover the body, body limits, and redirects that drop
//! `Authorization` by default. `reqwest` would bring tokio; `curl` a C library.

pub mod auth;
pub mod client;

use std::time::Duration;

/// Bounds on what the online checks send and accept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time for one request, body included.
    pub request_timeout: Duration,
    /// Time for the whole run; checks not done by then are reported as not done.
    pub total_timeout: Duration,
    /// Requests in flight at once (one per image checked).
    pub concurrency: usize,
    /// Redirects followed per request.
    pub max_redirects: u32,
    /// Largest manifest or index accepted (the distribution spec's 4 MiB).
    pub max_manifest_bytes: u64,
    /// Largest image config fetched.
    pub max_config_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(15),
            total_timeout: Duration::from_secs(300),
            concurrency: 4,
            max_redirects: 3,
            max_manifest_bytes: 4 << 20,
            max_config_bytes: 8 << 20,
        }
    }
}

/// Where a registry is: the host a reference names, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegistryAddr {
    /// As references name it: `127.0.0.1:5000`, `docker.io`, `ghcr.io`.
    pub host: String,
    /// The host the API is on (`registry-1.docker.io` for `docker.io`).
    pub api_host: String,
    /// HTTPS, unless the host was given with `--insecure-registry`.
    pub https: bool,
}

impl RegistryAddr {
    /// The address of a reference's registry host; plain HTTP only when `insecure` lists it.
    pub fn new(host: &str, insecure: &[String]) -> Self {
        let api_host = if host == "docker.io" { "registry-1.docker.io" } else { host }.to_owned();
        let https = !insecure.iter().any(|i| i.eq_ignore_ascii_case(host));
        Self { host: host.to_owned(), api_host, https }
    }

    /// `https://host` or `http://host`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.api_host)
    }
}

/// Whether a string is a plausible registry host (`name[:port]`) before it goes into a
/// URL: a name from disk must not smuggle a path, user info or another scheme.
pub fn is_valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Whether a repository path is safe to put in a URL (`strata/app`).
pub fn is_valid_repo(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && r.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c != "."
                && c != ".."
        })
}

/// Whether a tag is safe to put in a URL.
pub fn is_valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
