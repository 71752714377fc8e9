//! `audit --online` and `registry-check` against live registries on loopback:
//! Debian's `docker-registry` serving a copy of each fixture's registry storage
//! (anonymous, htpasswd Basic, and token auth from a token server in this file),
//! damage done through the registry API and in its storage, and a hostile server.
//!
//! The fixtures' images were pushed to `127.0.0.1:<registry-port.txt>`, so every
//! test here binds that port: they take a file lock on it, one at a time, across
//! test processes.

use crate::containerd_graph::host;
use crate::support::{copy_tree, extracted, read_json, repo, strata};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Finding codes of the online check.
const ONLINE_CODES: &[&str] = &[
    "registry-tag-moved",
    "registry-manifest-gone",
    "registry-content-mismatch",
    "registry-config-mismatch",
    "registry-layers-differ",
    "registry-blob-gone",
    "registry-unreachable",
];

fn port(name: &str) -> u16 {
    std::fs::read_to_string(repo().join("fixtures").join(name).join("registry-port.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The fixtures' registry port, held by this test alone (across processes too).
fn lock_port(port: u16) -> nix::fcntl::Flock<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join(format!("strata-test-registry-{port}.lock")))
        .unwrap();
    let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("lock port {port}: {e}"));
    // Something else (not a test of ours) on the port would make every answer wrong.
    for _ in 0..50 {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return lock;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("127.0.0.1:{port} is taken by another program; these tests need it");
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `docker-registry serve` on a copy of a fixture's registry storage.
struct Registry {
    child: Child,
    storage: tempfile::TempDir,
    port: u16,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Registry {
    /// `auth` is the YAML of the registry's `auth:` section (empty: anonymous).
    fn start(name: &str, auth: &str) -> Self {
        let port = port(name);
        let lock = lock_port(port);
        let storage = copy_tree(&extracted(name, "registry.tar.gz"));
        let conf = storage.path().join("config.yml");
        std::fs::write(
            &conf,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                storage.path().display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reg = Self { child, storage, port, _lock: lock };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(15), "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .path()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

const V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Runs strata with the online flags; returns exit status, parsed JSON, stderr.
fn online(root: &Path, cmd: &[&str], extra: &[&str]) -> (i32, Value, String) {
    let out = strata()
        .arg("--root")
        .arg(root)
        .args(cmd)
        // Loopback only: containerd-sid's base also names docker.io (see below).
        .args(["--format", "json", "--insecure-registry", "127.0.0.1:5000"])
        .args(["--registry", "127.0.0.1:5000"])
        .args(extra)
        .env("DOCKER_CONFIG", "/nonexistent-strata-test")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{cmd:?} exit {code}: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    crate::support::validate(if cmd[0] == "audit" { "audit" } else { "registry-check" }, &v);
    (code, v, stderr)
}

fn online_findings(v: &Value) -> Vec<Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| ONLINE_CODES.contains(&f["code"].as_str().unwrap()))
        .cloned()
        .collect()
}

/// RepoDigests naming the fixture's registry, as the engine listed them.
fn engine_repo_digests(name: &str, port: u16) -> BTreeSet<String> {
    let prefix = format!("127.0.0.1:{port}/");
    read_json(&crate::support::answers(name).join("image-inspect.json"))
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["RepoDigests"].as_array().unwrap().clone())
        .map(|d| d.as_str().unwrap().to_owned())
        .filter(|d| d.starts_with(&prefix))
        .collect()
}

#[test]
fn online_confirms_every_repo_digest_the_engine_lists() {
    require_root!();
    require_tool!("docker-registry", "--version", "apt-get install docker-registry");
    for name in ["basic", "trixie26", "containerd-sid", "buildkit"] {
        let reg = Registry::start(name, "");
        let root = host(name);
        let (code, v, err) = online(&root, &["registry-check"], &[]);
        assert_eq!(code, 0, "{name}: {err}\n{v:#}");
        // containerd-sid's base is also named and labelled docker.io/strata/base
        // (BuildKit's FROM resolved it so): `--registry` keeps the test on loopback.
        assert!(online_findings(&v).is_empty(), "{name}: {:#}", v["findings"]);
        let want = engine_repo_digests(name, reg.port);
        if want.is_empty() {
            // buildkit's images were built here and never pushed or pulled.
            assert!(v["online"]["checks"].as_array().unwrap().is_empty(), "{name}: {v:#}");
            assert!(v["online"]["note"].as_str().unwrap().contains("nothing to ask"), "{name}");
            continue;
        }
        let checks: Vec<Value> = v["online"]["checks"].as_array().unwrap().clone();
        let got: BTreeSet<String> =
            checks.iter().map(|c| c["reference"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got, want, "{name}: every repo digest naming the registry, no other");
        for c in &checks {
            assert_eq!(c["status"], "verified", "{name}: {c}");
            assert!(c["layers_present"].as_u64().unwrap() > 0, "{name}: {c}");
            assert!(!c["tags"].as_array().unwrap().is_empty(), "{name}: {c}");
        }
        assert_eq!(v["online"]["registries"].as_array().unwrap().len(), 1);
        assert_eq!(v["online"]["registries"][0]["auth"], "anonymous");

        // audit --online carries the same report and no other online finding.
        let (_, a, _) = online(&root, &["audit", "--metadata-only", "--online"], &[]);
        assert_eq!(a["cross_links"]["online"]["checks"], v["online"]["checks"]);
        assert!(online_findings(&a).is_empty(), "{name}: {:#}", a["findings"]);
    }
}

/// Moves `repo:tag` to a manifest with a new config, through the registry API;
/// returns (old digest, new digest).
fn move_tag(reg: &Registry, repo: &str, tag: &str) -> (String, String) {
    let a = agent();
    let mut r =
        a.get(reg.url(&format!("/v2/{repo}/manifests/{tag}"))).header("Accept", V2).call().unwrap();
    let old_bytes = r.body_mut().read_to_vec().unwrap();
    let old = format!("sha256:{}", sha(&old_bytes));
    let mut m: Value = serde_json::from_slice(&old_bytes).unwrap();
    let cfg_digest = m["config"]["digest"].as_str().unwrap().to_owned();
    let mut r = a.get(reg.url(&format!("/v2/{repo}/blobs/{cfg_digest}"))).call().unwrap();
    let mut cfg: Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    cfg["created"] = json!("2026-06-01T00:00:00Z");
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let new_cfg = format!("sha256:{}", sha(&cfg_bytes));
    let r = a.post(reg.url(&format!("/v2/{repo}/blobs/uploads/"))).send_empty().unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let loc = if loc.starts_with("http") { loc } else { reg.url(&loc) };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = a
        .put(format!("{loc}{sep}digest={new_cfg}"))
        .header("Content-Type", "application/octet-stream")
        .send(&cfg_bytes[..])
        .unwrap();
    assert_eq!(r.status(), 201, "config upload");
    m["config"]["digest"] = json!(new_cfg);
    m["config"]["size"] = json!(cfg_bytes.len());
    let new_bytes = serde_json::to_vec_pretty(&m).unwrap();
    let r = a
        .put(reg.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("Content-Type", V2)
        .send(&new_bytes[..])
        .unwrap();
    assert_eq!(r.status(), 201, "manifest put");
    (old, format!("sha256:{}", sha(&new_bytes)))
}

#[test]
fn online_finds_a_moved_tag_a_deleted_manifest_and_a_corrupt_blob_and_nothing_else() {
    require_root!();
    require_tool!("docker-registry", "--version", "apt-get install docker-registry");
    let reg = Registry::start("basic", "");
    let root = host("basic");
    let inspect = read_json(&crate::support::answers("basic").join("image-inspect.json"));
    let digest_of = |repo: &str| -> (String, String) {
        let want = format!("127.0.0.1:5000/{repo}@");
        inspect
            .as_array()
            .unwrap()
            .iter()
            .find_map(|i| {
                i["RepoDigests"].as_array().unwrap().iter().find_map(|d| {
                    d.as_str()
                        .unwrap()
                        .strip_prefix(&want)
                        .map(|d| (i["Id"].as_str().unwrap().to_owned(), d.to_owned()))
                })
            })
            .unwrap()
    };

    // 1. The app's tag moves to a manifest with another config.
    let (app_old, app_new) = move_tag(&reg, "strata/app", "1");
    assert_eq!(app_old, digest_of("strata/app").1);
    // 2. The base's manifest is deleted.
    let (_, base_digest) = digest_of("strata/base");
    let r = agent()
        .delete(reg.url(&format!("/v2/strata/base/manifests/{base_digest}")))
        .call()
        .unwrap();
    assert_eq!(r.status(), 202, "manifest delete");
    // 3. A blob is corrupted in the storage: the only-pulled image's config.
    let (pulled_id, _) = digest_of("strata/only-pulled");
    let f = reg.blob_file(&pulled_id);
    let mut bytes = std::fs::read(&f).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&f, &bytes).unwrap();

    for cmd in [&["registry-check"][..], &["audit", "--metadata-only", "--online"][..]] {
        let (code, v, err) = online(&root, cmd, &[]);
        assert_eq!(code, 1, "{cmd:?}: an error finding: {err}");
        let found = online_findings(&v);
        let codes: Vec<&str> = found.iter().map(|f| f["code"].as_str().unwrap()).collect();
        assert_eq!(found.len(), 3, "{cmd:?}: exactly three: {found:#?}");
        let one = |code: &str| {
            found
                .iter()
                .find(|f| f["code"] == code)
                .unwrap_or_else(|| panic!("{cmd:?}: no {code} in {codes:?}"))
        };
        let moved = one("registry-tag-moved");
        assert_eq!(moved["subject"], "127.0.0.1:5000/strata/app:1");
        assert_eq!(moved["severity"], "info");
        let msg = moved["message"].as_str().unwrap();
        assert!(msg.contains(&app_old) && msg.contains(&app_new), "{msg}");
        assert!(msg.contains("2026-06-01T00:00:00Z"), "the new image's time: {msg}");
        let gone = one("registry-manifest-gone");
        assert_eq!(gone["severity"], "warning");
        let msg = gone["message"].as_str().unwrap();
        assert!(msg.contains("127.0.0.1:5000/strata/base") && msg.contains(&base_digest), "{msg}");
        assert!(msg.contains("1.0"), "names the tag: {msg}");
        let bad = one("registry-content-mismatch");
        assert_eq!(bad["severity"], "error");
        assert_eq!(bad["image"], pulled_id.as_str());
        let msg = bad["message"].as_str().unwrap();
        assert!(msg.contains("strata/only-pulled") && msg.contains(&pulled_id), "{msg}");
        assert!(msg.contains(&format!("sha256:{}", sha(&bytes))), "the actual hash: {msg}");
    }
}

fn auth_file(dir: &Path, user: &str, pass: &str) -> PathBuf {
    let f = dir.join("auth.json");
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    std::fs::write(&f, json!({"auths": {"127.0.0.1:5000": {"auth": enc}}}).to_string()).unwrap();
    f
}

#[test]
fn online_answers_htpasswd_basic_auth_and_never_prints_the_password() {
    require_root!();
    require_tool!("docker-registry", "--version", "apt-get install docker-registry");
    // `htpasswd` has no version flag that exits 0: make one throwaway entry instead.
    let htpasswd_runs = Command::new("htpasswd")
        .args(["-nbB", "probe", "probe"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !htpasswd_runs {
        skip!("`htpasswd` is not installed (apt-get install apache2-utils)");
    }
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let out = Command::new("htpasswd").args(["-nbB", "alice", "s3cret-pw"]).output().unwrap();
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let _reg = Registry::start(
        "basic",
        &format!("auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n", htpasswd.display()),
    );
    let root = host("basic");

    // Without credentials: unauthorized, said as info; nothing verified.
    let (_, v, _) = online(&root, &["registry-check"], &[]);
    let f = online_findings(&v);
    assert!(!f.is_empty() && f.iter().all(|f| f["code"] == "registry-unreachable"), "{f:#?}");
    assert!(f.iter().any(|f| f["message"].as_str().unwrap().contains("Basic")), "{f:#?}");
    assert!(v["online"]["checks"].as_array().unwrap().iter().all(|c| c["status"] != "verified"));

    // With the right credentials, from --registry-auth-file and from DOCKER_CONFIG.
    let file = auth_file(dir.path(), "alice", "s3cret-pw");
    let (code, v, err) =
        online(&root, &["registry-check"], &["--registry-auth-file", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(online_findings(&v).is_empty(), "{:#}", v["findings"]);
    assert_eq!(v["online"]["registries"][0]["auth"], "basic");
    assert_eq!(v["online"]["registries"][0]["credentials"], true);
    assert!(v["online"]["checks"].as_array().unwrap().iter().all(|c| c["status"] == "verified"));
    let all = format!("{v}{err}");
    assert!(!all.contains("s3cret-pw") && !all.contains("YWxpY2U6czNjcmV0LXB3"), "leak: {all}");
    // DOCKER_CONFIG names a directory holding `config.json`.
    std::fs::copy(&file, dir.path().join("config.json")).unwrap();
    let out = strata()
        .arg("--root")
        .arg(&root)
        .args(["registry-check", "--insecure-registry", "127.0.0.1:5000"])
        .env("DOCKER_CONFIG", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verified") && !text.contains("s3cret"), "{text}");

    // Wrong password: unauthorized, and the attempt's password is not printed either.
    let bad = auth_file(dir.path(), "alice", "wrong-pw");
    let (_, v, err) =
        online(&root, &["registry-check"], &["--registry-auth-file", bad.to_str().unwrap()]);
    assert!(online_findings(&v)
        .iter()
        .any(|f| f["message"].as_str().unwrap().contains("unauthorized")));
    assert!(!format!("{v}{err}").contains("wrong-pw"));
}

/// A token server: answers `GET /token` with a JWT the registry trusts, signed by a
/// test key (RS256 with `openssl dgst`, the certificate in `x5c`), for `alice` only.
struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Authorization headers it saw (to check what the client sent where).
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl TokenServer {
    fn start(dir: &Path) -> Self {
        let key = dir.join("key.pem");
        let cert = dir.join("cert.pem");
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=strata-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        let der = Command::new("openssl")
            .args(["x509", "-outform", "der", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (st, sn, key) = (stop.clone(), seen.clone(), key.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let req = read_head(&mut s);
                let auth = header_of(&req, "authorization").unwrap_or_default();
                sn.lock().unwrap().push(auth.clone());
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("alice:t0ken-pw")
                );
                if auth != want {
                    let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let scope = req
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.split("scope=").nth(1))
                    .map(|s| s.split('&').next().unwrap().replace("%3A", ":").replace("%2F", "/"))
                    .unwrap_or_default();
                let repo = scope.split(':').nth(1).unwrap_or("").to_owned();
                let tok = jwt(&key, &x5c, &repo);
                let body = json!({"token": tok}).to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, stop, seen }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn jwt(key: &Path, x5c: &str, repo: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = json!({
        "iss": "strata-test-issuer", "sub": "alice", "aud": "strata-test-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{repo}"),
        "access": [{"type": "repository", "name": repo, "actions": ["pull"]}],
    });
    let signing = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(signing.as_bytes()).unwrap();
    let sig = child.wait_with_output().unwrap().stdout;
    format!("{signing}.{}", b64url(&sig))
}

/// Reads a request's head (bounded).
fn read_head(s: &mut TcpStream) -> String {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 << 10 {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn header_of(req: &str, name: &str) -> Option<String> {
    req.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

#[test]
fn online_answers_a_bearer_challenge_with_a_token_from_the_realm() {
    require_root!();
    require_tool!("docker-registry", "--version", "apt-get install docker-registry");
    require_tool!("openssl", "version", "apt-get install openssl");
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(dir.path());
    let _reg = Registry::start(
        "basic",
        &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: strata-test-registry\n    issuer: strata-test-issuer\n    rootcertbundle: {}\n",
            tokens.port,
            dir.path().join("cert.pem").display()
        ),
    );
    let root = host("basic");
    let file = auth_file(dir.path(), "alice", "t0ken-pw");
    let (code, v, err) =
        online(&root, &["registry-check"], &["--registry-auth-file", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{:#}", v["findings"]);
    assert!(online_findings(&v).is_empty(), "{:#}", v["findings"]);
    assert_eq!(v["online"]["registries"][0]["auth"], "bearer");
    assert!(v["online"]["checks"].as_array().unwrap().iter().all(|c| c["status"] == "verified"));
    // The credentials went to the realm the registry named, and it saw them.
    assert!(tokens.seen.lock().unwrap().iter().any(|a| a.starts_with("Basic ")));
    assert!(!format!("{v}{err}").contains("t0ken-pw"));

    // Without credentials the token server refuses: unauthorized, as info.
    let (_, v, _) = online(&root, &["registry-check"], &[]);
    let f = online_findings(&v);
    assert!(!f.is_empty() && f.iter().all(|f| f["code"] == "registry-unreachable"), "{f:#?}");
    assert!(f.iter().any(|f| f["message"].as_str().unwrap().contains("token endpoint")), "{f:#?}");
}

#[derive(Clone, Copy, Debug)]
enum Hostile {
    WrongDigest,
    EndlessBody,
    SlowDrip,
    RedirectLoop,
}

/// A server on the fixtures' registry port that answers every request badly.
fn hostile(mode: Hostile, port: u16, stop: Arc<AtomicBool>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let stop = stop.clone();
            std::thread::spawn(move || {
                let _ = s.set_nonblocking(false);
                let req = read_head(&mut s);
                let head = req.starts_with("HEAD");
                let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                match mode {
                    Hostile::WrongDigest => {
                        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"},"layers":[]}"#;
                        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: {V2}\r\nDocker-Content-Digest: sha256:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", "0".repeat(64), body.len());
                        if !head {
                            let _ = s.write_all(body);
                        }
                    }
                    Hostile::EndlessBody => {
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Type: {V2}\r\nConnection: close\r\n\r\n"
                        );
                        let chunk = vec![b' '; 64 << 10];
                        while !head && !stop.load(Ordering::Relaxed) && s.write_all(&chunk).is_ok()
                        {
                        }
                    }
                    Hostile::SlowDrip => {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
                        while !stop.load(Ordering::Relaxed) && s.write_all(b"X").is_ok() {
                            std::thread::sleep(Duration::from_millis(300));
                        }
                    }
                    Hostile::RedirectLoop => {
                        let _ = write!(s, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/v2/loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
}

#[test]
fn online_survives_a_hostile_registry() {
    require_root!();
    let root = host("basic");
    let port = port("basic");
    for (mode, want) in [
        (Hostile::WrongDigest, "registry-content-mismatch"),
        (Hostile::EndlessBody, "larger than"),
        (Hostile::SlowDrip, "timed out"),
        (Hostile::RedirectLoop, "redirects"),
    ] {
        let _lock = lock_port(port);
        let stop = Arc::new(AtomicBool::new(false));
        hostile(mode, port, stop.clone());
        let t = Instant::now();
        let (_, v, err) = online(
            &root,
            &["registry-check"],
            &["--registry-timeout", "2", "--registry-total-timeout", "20"],
        );
        stop.store(true, Ordering::Relaxed);
        assert!(t.elapsed() < Duration::from_secs(30), "{mode:?}: took {:?}", t.elapsed());
        let f = online_findings(&v);
        let hit =
            f.iter().any(|f| f["code"] == want || f["message"].as_str().unwrap().contains(want));
        assert!(hit, "{mode:?}: want {want}: {f:#?}\n{err}");
        let checks = v["online"]["checks"].as_array().unwrap();
        assert!(
            !checks.is_empty() && checks.iter().all(|c| c["status"] != "verified"),
            "{mode:?}: {checks:#?}"
        );
        // Let the listener go before the next mode binds the port.
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn online_without_a_network_says_so_and_gives_the_offline_report() {
    require_root!();
    let root = host("basic");
    let _lock = lock_port(port("basic"));
    // Nothing listens on the port: connection refused, as without a network.
    let (code, v, err) = online(&root, &["audit", "--metadata-only", "--online"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no registry could be reached"), "{err}");
    assert!(v["online"].is_null() && v["cross_links"]["online"]["note"].is_string());
    let f = online_findings(&v);
    assert_eq!(f.len(), 1, "one note for the registry: {f:#?}");
    assert_eq!(f[0]["severity"], "info");
    // The offline part is all there.
    let (_, offline, _) = online(&root, &["audit", "--metadata-only"], &[]);
    assert_eq!(v["images"], offline["images"]);
}

/// A private copy of `basic`'s data-root and its graphdriver image directory.
fn tampered_basic() -> (tempfile::TempDir, PathBuf) {
    let copy = copy_tree(&crate::support::data_root("basic"));
    let img = std::fs::read_dir(copy.path().join("image"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("repositories.json").exists())
        .unwrap();
    (copy, img)
}

#[test]
fn online_finds_a_tampered_host_config_and_layer_map() {
    require_root!();
    require_tool!("docker-registry", "--version", "apt-get install docker-registry");
    let _reg = Registry::start("basic", "");
    let inspect = read_json(&crate::support::answers("basic").join("image-inspect.json"));
    let image = |tag: &str| {
        inspect
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["RepoTags"].as_array().unwrap().iter().any(|t| t == tag))
            .unwrap()
            .clone()
    };
    let (app, base) = (image("strata/app:1"), image("strata/base:1.0"));

    // repositories.json says the base's registry digest is the app image's.
    let (copy, img) = tampered_basic();
    let repos = img.join("repositories.json");
    let mut r: Value = serde_json::from_slice(&std::fs::read(&repos).unwrap()).unwrap();
    let base_ref = base["RepoDigests"][0].as_str().unwrap().to_owned();
    r["Repositories"]["127.0.0.1:5000/strata/base"][&base_ref] = app["Id"].clone();
    std::fs::write(&repos, serde_json::to_vec(&r).unwrap()).unwrap();
    let (code, v, err) = online(copy.path(), &["registry-check"], &[]);
    assert_eq!(code, 1, "{err}");
    let f = online_findings(&v);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["code"], "registry-config-mismatch");
    assert_eq!(f[0]["image"], app["Id"]);
    let msg = f[0]["message"].as_str().unwrap();
    assert!(
        msg.contains(base["Id"].as_str().unwrap()) && msg.contains(app["Id"].as_str().unwrap()),
        "{msg}"
    );

    // diffid-by-digest maps the only-pulled image's layer blob to another DiffID.
    let (copy, img) = tampered_basic();
    let pulled = image("127.0.0.1:5000/strata/only-pulled:1");
    let diff = pulled["RootFS"]["Layers"][0].as_str().unwrap();
    let map = img.join("distribution/diffid-by-digest/sha256");
    let mut hit = None;
    for e in std::fs::read_dir(&map).unwrap() {
        let p = e.unwrap().path();
        if std::fs::read_to_string(&p).unwrap().trim() == diff {
            std::fs::write(&p, format!("sha256:{}", "ab".repeat(32))).unwrap();
            hit = Some(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    let blob = hit.expect("diffid-by-digest knows the layer");
    let (code, v, err) = online(copy.path(), &["registry-check"], &[]);
    assert_eq!(code, 1, "{err}");
    let f: Vec<Value> =
        online_findings(&v).into_iter().filter(|f| f["code"] == "registry-layers-differ").collect();
    assert!(!f.is_empty(), "{:#}", v["findings"]);
    assert!(f.iter().all(|f| f["message"].as_str().unwrap().contains(&blob)), "{f:#?}");
    assert!(f.iter().any(|f| f["image"] == pulled["Id"]), "{f:#?}");
}

#[test]
fn online_finds_the_platform_manifest_under_an_index() {
    require_root!();
    require_tool!("docker-registry", "--version", "apt-get install docker-registry");
    let reg = Registry::start("basic", "");
    let a = agent();
    let mut r = a.get(reg.url("/v2/strata/app/manifests/1")).header("Accept", V2).call().unwrap();
    let m = r.body_mut().read_to_vec().unwrap();
    let app_manifest = format!("sha256:{}", sha(&m));
    let list = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": V2, "size": m.len(), "digest": app_manifest,
             "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    });
    let bytes = serde_json::to_vec(&list).unwrap();
    let r = a
        .put(reg.url("/v2/strata/app/manifests/multi"))
        .header("Content-Type", "application/vnd.docker.distribution.manifest.list.v2+json")
        .send(&bytes[..])
        .unwrap();
    assert_eq!(r.status(), 201, "index put");
    let index = format!("sha256:{}", sha(&bytes));

    // The host also recorded the index digest for the app image (as a pull by a
    // multi-platform tag does).
    let (copy, img) = tampered_basic();
    let repos = img.join("repositories.json");
    let mut j: Value = serde_json::from_slice(&std::fs::read(&repos).unwrap()).unwrap();
    let app_id =
        j["Repositories"]["127.0.0.1:5000/strata/app"]["127.0.0.1:5000/strata/app:1"].clone();
    j["Repositories"]["127.0.0.1:5000/strata/app"][format!("127.0.0.1:5000/strata/app@{index}")] =
        app_id.clone();
    std::fs::write(&repos, serde_json::to_vec(&j).unwrap()).unwrap();
    let (code, v, err) =
        online(copy.path(), &["registry-check", "127.0.0.1:5000/strata/app:1"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(online_findings(&v).is_empty(), "{:#}", v["findings"]);
    let checks = v["online"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "the manifest and the index digests: {checks:#?}");
    let via = checks.iter().find(|c| c["digest"] == index.as_str()).unwrap();
    assert_eq!(via["status"], "verified");
    assert_eq!(via["platform_manifest"], app_manifest.as_str());
    assert_eq!(via["image"], app_id);
}
