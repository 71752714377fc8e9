//! A real dockerd for the tests that compare with, or feed, a live engine (`docker load`
//! of a save, `docker export`, churn while strata reads). One way to start it, so every
//! such test gets the same private, self-cleaning daemon.
//!
//! The daemon touches nothing of the machine's: its data-root, exec-root, socket and
//! pidfile are under one private directory, with no iptables and no bridge. Dropping the
//! [`LiveEngine`] stops it (SIGTERM, then SIGKILL after 60 s) and unmounts what it left
//! mounted under its directories.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A dockerd started by a test, stopped when dropped.
pub struct LiveEngine {
    child: Option<Child>,
    /// The daemon's data-root (what strata reads).
    pub data_root: PathBuf,
    /// The private directory holding exec-root, socket, pidfile and log.
    pub dir: PathBuf,
    /// The daemon's API socket.
    pub sock: PathBuf,
    /// A temporary directory holding all of the above, removed after the daemon stops
    /// (fields drop after [`Drop::drop`] has stopped it).
    tmp: Option<tempfile::TempDir>,
}

/// How to start the daemon.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--storage-driver` (default overlay2).
    pub storage_driver: String,
    /// More dockerd arguments (`--userns-remap=default`, `--config-file=...`, ...).
    pub extra_args: Vec<String>,
    /// The dockerd binary (default: the system's, Debian's docker.io).
    pub dockerd: PathBuf,
    /// Directories put first on PATH (another engine's binaries, bookworm's runc...).
    pub path_prefix: Vec<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            storage_driver: "overlay2".into(),
            extra_args: Vec::new(),
            dockerd: PathBuf::from("/usr/sbin/dockerd"),
            path_prefix: Vec::new(),
        }
    }
}

impl LiveEngine {
    /// Starts a dockerd on `data_root` (an existing copy of a fixture, or an empty
    /// directory), its other state under `dir`. Waits until the API answers (at most
    /// 60 s). `Err` says why it could not start, with the end of its log; the caller
    /// decides whether that is a skip or a failure.
    pub fn start(data_root: &Path, dir: &Path, opts: &EngineOptions) -> Result<LiveEngine, String> {
        if !super::is_root() {
            return Err("dockerd needs root".into());
        }
        if !opts.dockerd.exists() {
            return Err(format!(
                "{} not found (bash .ci/install-docker.sh installs docker.io)",
                opts.dockerd.display()
            ));
        }
        std::fs::create_dir_all(data_root).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.join("exec")).map_err(|e| e.to_string())?;
        let sock = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
        let mut path = opts.path_prefix.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
        path.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()));
        let child = Command::new(&opts.dockerd)
            .arg("--data-root")
            .arg(data_root)
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg(format!("--storage-driver={}", opts.storage_driver))
            .args(&opts.extra_args)
            .env("PATH", path.join(":"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", opts.dockerd.display()))?;
        let mut engine = LiveEngine {
            child: Some(child),
            data_root: data_root.to_path_buf(),
            dir: dir.to_path_buf(),
            sock,
            tmp: None,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if engine.sock.exists() && engine.docker(&["version"]).status.success() {
                return Ok(engine);
            }
            let exited = engine.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let tail = engine.log_tail(30);
                return Err(format!("dockerd did not start ({exited:?}); its log ends:\n{tail}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs the docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .output()
            .expect("run the docker CLI")
    }

    /// Runs the docker CLI and panics, with its stderr, unless it succeeds; returns stdout.
    #[track_caller]
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `GET` an API path (`/images/json?all=1`) over the socket, parsed as JSON.
    #[track_caller]
    pub fn api(&self, path: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sf", "--unix-socket"])
            .arg(&self.sock)
            .arg(format!("http://localhost{path}"))
            .output()
            .expect("run curl (bash .ci/install-docker.sh installs it)");
        assert!(out.status.success(), "GET {path}: curl exited {}", out.status);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e})"))
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops the daemon now (also done on drop).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        signal("TERM", &child.id().to_string());
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        // A managed containerd normally exits with dockerd; make sure.
        let pidfile = self.dir.join("exec/containerd/containerd.pid");
        if let Ok(pid) = std::fs::read_to_string(pidfile) {
            signal("KILL", pid.trim());
        }
        unmount_under(&self.dir);
        unmount_under(&self.data_root);
    }
}

impl Drop for LiveEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends a signal with kill(1) (nix's `signal` feature is not built for the crate).
fn signal(name: &str, pid: &str) {
    if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
        let _ = Command::new("kill").arg(format!("-{name}")).arg(pid).status();
    }
}

/// Unmounts every mount at or below `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return };
    let prefix = dir.display().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    points.sort_by(|a, b| b.cmp(a));
    for m in points {
        let _ = Command::new("umount").arg(m).status();
        let _ = Command::new("umount").arg("-l").arg(m).stderr(Stdio::null()).status();
    }
}

/// Starts a daemon on a private copy of fixture `name`'s data-root (at
/// `engine.data_root`), or skips (returns `None`) when this machine cannot run one.
/// The copy is removed when the engine is dropped.
#[track_caller]
pub fn on_fixture_copy(name: &str) -> Option<LiveEngine> {
    if !super::root_or_skip() {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("strata-engine-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let root = dir.path().join("root");
    let status = Command::new("cp")
        .args(["-a", "--preserve=all"])
        .arg(super::data_root(name))
        .arg(&root)
        .status()
        .expect("run cp");
    assert!(status.success(), "cp -a of fixture {name} failed");
    match LiveEngine::start(&root, &dir.path().join("run"), &EngineOptions::default()) {
        Ok(mut engine) => {
            engine.tmp = Some(dir);
            Some(engine)
        }
        Err(why) => {
            super::skip(&format!("no dockerd could start here: {why}"));
            None
        }
    }
}
