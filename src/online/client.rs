//! One registry's HTTP client: the distribution API calls strata makes, the
//! `WWW-Authenticate` dance, and every bound (time, size, redirects, retries).

use super::auth::{parse_challenge, AuthStore, Challenge, Credential};
use super::{Limits, RegistryAddr};
use crate::digest::Digest;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ureq::Agent;

/// What `Accept` says for a manifest: Docker's and OCI's manifests, lists and indexes.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Largest token-endpoint answer read.
const MAX_TOKEN_BYTES: u64 = 64 << 10;

/// Why a request gave no answer strata can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No connection: DNS, refused, TLS, reset.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The registry refused the credentials strata had (or had none).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Past the per-request or total time budget.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A body past its cap.
    #[error("answer larger than {0} bytes: refused")]
    TooLarge(u64),
    /// More redirects than allowed.
    #[error("too many redirects (more than {0})")]
    Redirects(u32),
    /// A malformed answer.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl FetchError {
    /// Whether this says nothing about the registry's content (so a second try or
    /// another host may do better), as opposed to an answer strata refused.
    pub fn is_transport(&self) -> bool {
        matches!(self, FetchError::Unreachable(_) | FetchError::Timeout(_))
    }
}

/// One answer: status, the headers strata uses, and the body when asked for.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Docker-Content-Digest`, as sent.
    pub content_digest: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Last-Modified`, when the registry sends it.
    pub last_modified: Option<String>,
    /// The body (empty for HEAD).
    pub body: Vec<u8>,
}

impl Answer {
    /// The `Docker-Content-Digest` header as a digest, if it is one.
    pub fn header_digest(&self) -> Option<Digest> {
        self.content_digest.as_deref().and_then(|s| Digest::parse(s.trim()).ok())
    }
}

/// How a client authenticated, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthUsed {
    /// No challenge, or none answered.
    #[default]
    Anonymous,
    /// Basic credentials to the registry.
    Basic,
    /// A Bearer token from the realm (with or without credentials).
    Bearer,
}

/// A client for one registry host.
pub struct RegistryClient {
    addr: RegistryAddr,
    agent: Agent,
    limits: Limits,
    deadline: Instant,
    cred: Option<Credential>,
    /// Hosts (`host:port`) that may be spoken to over plain HTTP.
    insecure: Vec<String>,
    /// Bearer tokens by scope.
    tokens: Mutex<BTreeMap<String, String>>,
    /// The registry asked for Basic once: send it up front from then on.
    basic: Mutex<bool>,
    used: Mutex<AuthUsed>,
    requests: std::sync::atomic::AtomicUsize,
}

impl RegistryClient {
    /// A client for `addr`; nothing is sent until the first call.
    pub fn new(
        addr: RegistryAddr,
        auth: &AuthStore,
        insecure: &[String],
        limits: Limits,
        deadline: Instant,
    ) -> Self {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(limits.max_redirects)
            // Authorization never follows a redirect (blob stores hand out signed URLs).
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            .https_only(false)
            .timeout_connect(Some(limits.request_timeout))
            .max_response_header_size(64 << 10)
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            cred: auth.get(&addr.host).cloned(),
            addr,
            agent,
            limits,
            deadline,
            insecure: insecure.to_vec(),
            tokens: Mutex::new(BTreeMap::new()),
            basic: Mutex::new(false),
            used: Mutex::new(AuthUsed::Anonymous),
            requests: Default::default(),
        }
    }

    /// The registry this client speaks to.
    pub fn addr(&self) -> &RegistryAddr {
        &self.addr
    }

    /// How it authenticated last.
    pub fn auth_used(&self) -> AuthUsed {
        self.used.lock().map(|g| *g).unwrap_or_default()
    }

    /// Requests sent so far (retries and token requests included).
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `GET` (or `HEAD`) `/v2/<repo>/manifests/<reference>` with every manifest type accepted.
    pub fn manifest(&self, repo: &str, reference: &str, head: bool) -> Result<Answer, FetchError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.addr.base_url());
        self.call(&url, repo, head, Some(MANIFEST_ACCEPT), self.limits.max_manifest_bytes)
    }

    /// `GET` (or `HEAD`) `/v2/<repo>/blobs/<digest>`, the body capped at `cap` bytes.
    pub fn blob(
        &self,
        repo: &str,
        digest: &Digest,
        head: bool,
        cap: u64,
    ) -> Result<Answer, FetchError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.addr.base_url());
        self.call(&url, repo, head, None, cap)
    }

    /// One call with authentication and at most one retry of a transport failure.
    fn call(
        &self,
        url: &str,
        repo: &str,
        head: bool,
        accept: Option<&str>,
        cap: u64,
    ) -> Result<Answer, FetchError> {
        let scope = format!("repository:{repo}:pull");
        let mut retried = false;
        let mut challenged = false;
        loop {
            let auth = self.auth_header(&scope);
            let r = self.send(url, head, accept, auth.as_deref(), cap);
            match r {
                Ok((ans, challenge)) if ans.status == 401 && !challenged => {
                    challenged = true;
                    let Some(ch) = challenge.as_deref().and_then(parse_challenge) else {
                        return Err(FetchError::Unauthorized(
                            "401 without a challenge strata can answer".into(),
                        ));
                    };
                    self.answer_challenge(&ch, &scope)?;
                }
                Ok((ans, _)) if ans.status == 401 || ans.status == 403 => {
                    return Err(FetchError::Unauthorized(format!(
                        "HTTP {} from {}{}",
                        ans.status,
                        self.addr.host,
                        if self.cred.is_some() {
                            " with the configured credentials"
                        } else {
                            " (no credentials configured for it)"
                        }
                    )))
                }
                Ok((ans, _)) if ans.status >= 500 && !retried => retried = true,
                Ok((ans, _)) => return Ok(ans),
                Err(e) if e.is_transport() && !retried && self.remaining() > Duration::ZERO => {
                    retried = true
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn auth_header(&self, scope: &str) -> Option<String> {
        if let Some(t) = self.tokens.lock().ok().and_then(|m| m.get(scope).cloned()) {
            return Some(format!("Bearer {t}"));
        }
        if self.basic.lock().is_ok_and(|b| *b) {
            return self.cred.as_ref().map(Credential::basic_header);
        }
        None
    }

    /// Gets what the challenge asks for; the credentials go to this registry (Basic)
    /// or to the realm this registry named (Bearer), nowhere else.
    fn answer_challenge(&self, ch: &Challenge, scope: &str) -> Result<(), FetchError> {
        match ch {
            Challenge::Basic => {
                if self.cred.is_none() {
                    return Err(FetchError::Unauthorized(format!(
                        "{} asks for Basic credentials and none are configured for it",
                        self.addr.host
                    )));
                }
                if let Ok(mut b) = self.basic.lock() {
                    *b = true;
                }
                self.set_used(AuthUsed::Basic);
                Ok(())
            }
            Challenge::Bearer { realm, service, .. } => {
                let realm_url = self.check_realm(realm)?;
                let mut q = Vec::new();
                if let Some(s) = service {
                    q.push(format!("service={}", query_escape(s)));
                }
                // Whatever scope the registry named, strata asks for pull only.
                q.push(format!("scope={}", query_escape(scope)));
                let sep = if realm_url.contains('?') { '&' } else { '?' };
                let url = format!("{realm_url}{sep}{}", q.join("&"));
                let basic = self.cred.as_ref().map(Credential::basic_header);
                let (ans, _) = self.send(&url, false, None, basic.as_deref(), MAX_TOKEN_BYTES)?;
                if ans.status != 200 {
                    return Err(FetchError::Unauthorized(format!(
                        "token endpoint answered HTTP {}",
                        ans.status
                    )));
                }
                #[derive(serde::Deserialize)]
                struct Tok {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Tok = serde_json::from_slice(&ans.body)
                    .map_err(|e| FetchError::Protocol(format!("token endpoint: {e}")))?;
                let Some(tok) = t.token.or(t.access_token).filter(|t| !t.is_empty()) else {
                    return Err(FetchError::Protocol("token endpoint gave no token".into()));
                };
                if let Ok(mut m) = self.tokens.lock() {
                    m.insert(scope.to_owned(), tok);
                }
                self.set_used(AuthUsed::Bearer);
                Ok(())
            }
        }
    }

    fn set_used(&self, a: AuthUsed) {
        if let Ok(mut u) = self.used.lock() {
            *u = a;
        }
    }

    /// A realm is https, or plain http on the registry's own (insecure) host, or on a
    /// host given with `--insecure-registry`: credentials never cross plain HTTP
    /// unless the analyst said so.
    fn check_realm(&self, realm: &str) -> Result<String, FetchError> {
        if realm.starts_with("https://") {
            return Ok(realm.to_owned());
        }
        let Some(rest) = realm.strip_prefix("http://") else {
            return Err(FetchError::Protocol(format!(
                "token realm {} is not an http(s) URL",
                crate::finding::terminal_safe(realm)
            )));
        };
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host_name = |h: &str| h.rsplit_once(':').map_or(h, |(n, _)| n).to_owned();
        let same_machine = !self.addr.https && host_name(host) == host_name(&self.addr.host);
        if same_machine || self.insecure.iter().any(|i| i == host) {
            Ok(realm.to_owned())
        } else {
            Err(FetchError::Unauthorized(format!(
                "token realm {} is plain HTTP; give --insecure-registry {} to allow it",
                crate::finding::terminal_safe(realm),
                crate::finding::terminal_safe(host)
            )))
        }
    }

    /// One HTTP exchange under the per-request and total budgets; returns the answer and
    /// its `WWW-Authenticate` challenge.
    fn send(
        &self,
        url: &str,
        head: bool,
        accept: Option<&str>,
        auth: Option<&str>,
        cap: u64,
    ) -> Result<(Answer, Option<String>), FetchError> {
        let budget = self.limits.request_timeout.min(self.remaining());
        if budget.is_zero() {
            return Err(FetchError::Timeout("the total time budget is spent".into()));
        }
        self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut resp = if head {
            let mut rb = self.agent.head(url);
            if let Some(a) = accept {
                rb = rb.header("Accept", a);
            }
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.config().timeout_global(Some(budget)).build().call()
        } else {
            let mut rb = self.agent.get(url);
            if let Some(a) = accept {
                rb = rb.header("Accept", a);
            }
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.config().timeout_global(Some(budget)).build().call()
        }
        .map_err(|e| self.map_error(e, budget))?;
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect::<String>())
        };
        let mut ans = Answer {
            status: resp.status().as_u16(),
            content_digest: header("docker-content-digest"),
            content_type: header("content-type"),
            last_modified: header("last-modified"),
            body: Vec::new(),
        };
        let challenge = header("www-authenticate");
        if !head && (200..300).contains(&ans.status) || ans.status == 401 {
            // An error body is read only a little (a 401's JSON); a success up to its cap.
            let cap = if ans.status == 401 { 64 << 10 } else { cap };
            ans.body = resp
                .body_mut()
                .with_config()
                .limit(cap)
                .read_to_vec()
                .map_err(|e| self.map_error(e, budget))?;
        }
        Ok((ans, challenge))
    }
}

impl RegistryClient {
    fn map_error(&self, e: ureq::Error, budget: Duration) -> FetchError {
        let redirects = self.limits.max_redirects;
        let tls_hint = |what: String| {
            if self.addr.https {
                FetchError::Unreachable(format!(
                    "TLS with {} failed ({what}); if it speaks plain HTTP, give --insecure-registry {}",
                    self.addr.api_host, self.addr.host
                ))
            } else {
                FetchError::Protocol(what)
            }
        };
        map_error(e, budget, redirects, tls_hint)
    }
}

fn map_error(
    e: ureq::Error,
    budget: Duration,
    redirects: u32,
    tls: impl Fn(String) -> FetchError,
) -> FetchError {
    match e {
        ureq::Error::Timeout(t) => {
            FetchError::Timeout(format!("{t} (after {:.1}s)", budget.as_secs_f64()))
        }
        ureq::Error::BodyExceedsLimit(n) => FetchError::TooLarge(n),
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
            FetchError::Redirects(redirects)
        }
        ureq::Error::HostNotFound => FetchError::Unreachable("host not found".into()),
        ureq::Error::ConnectionFailed => FetchError::Unreachable("connection failed".into()),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                FetchError::Timeout(io.to_string())
            }
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::NetworkUnreachable
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::PermissionDenied => FetchError::Unreachable(io.to_string()),
            // rustls reports a peer that does not speak TLS as invalid data.
            std::io::ErrorKind::InvalidData => tls(io.to_string()),
            // Name lookup and other socket failures: no answer from the registry.
            _ => FetchError::Unreachable(io.to_string()),
        },
        ureq::Error::BodyStalled => FetchError::Timeout("the body stalled".into()),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => tls(e.to_string()),
        other => FetchError::Protocol(other.to_string()),
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(host: &str, insecure: &[String]) -> RegistryClient {
        let mut auth = AuthStore::default();
        auth.insert(host, Credential { username: "u".into(), secret: "p".into() });
        RegistryClient::new(
            RegistryAddr::new(host, insecure),
            &auth,
            insecure,
            Limits::default(),
            Instant::now() + Duration::from_secs(5),
        )
    }

    #[test]
    fn credentials_cross_plain_http_only_where_the_analyst_allowed_it() {
        let tls = client("registry.example:443", &[]);
        assert!(tls.check_realm("https://auth.example/token").is_ok());
        assert!(matches!(
            tls.check_realm("http://auth.example/token"),
            Err(FetchError::Unauthorized(_))
        ));
        assert!(tls.check_realm("ftp://auth.example/").is_err());
        let plain = client("127.0.0.1:5000", &["127.0.0.1:5000".into()]);
        // The insecure registry's own machine, another port: allowed.
        assert!(plain.check_realm("http://127.0.0.1:5001/token").is_ok());
        assert!(plain.check_realm("http://10.0.0.1:5001/token").is_err());
        let allowed = client("127.0.0.1:5000", &["127.0.0.1:5000".into(), "10.0.0.1:5001".into()]);
        assert!(allowed.check_realm("http://10.0.0.1:5001/token").is_ok());
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
