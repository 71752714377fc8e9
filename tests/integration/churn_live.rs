//! strata on a live, busy engine (issue 14): a real dockerd builds, tags, pushes to and
//! pulls from a local registry, removes and prunes images, and creates, runs and removes
//! containers, while strata reads the same data-root again and again (`audit`, `verify`,
//! `df`, `images`, all `--format json`).
//!
//! A fault planted before the churn (a layer file changed on disk) must be reported by
//! every `audit` and `verify` run; nothing else may be an error: a file that changes or
//! disappears while strata reads it is the engine at work, not damage. Every run is
//! bounded in time and must print valid JSON. Once for the graphdriver store (Debian's
//! 20.10 on a copy of the `basic` fixture), once for the containerd image store (sid's
//! 28.5 with the `containerd-snapshotter` feature, on an empty data-root).
//!
//! `STRATA_CHURN_SECS` sets how long each churn lasts (default 60).

use crate::support::engine::{self, EngineOptions, LiveEngine};
use crate::support::strata;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest a single strata run may take on the busy host before it counts as a hang.
const RUN_BOUND: Duration = Duration::from_secs(90);

/// How long the engine churns.
fn churn_time() -> Duration {
    let secs = std::env::var("STRATA_CHURN_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    Duration::from_secs(secs)
}

/// A `docker-registry` serving a private directory on 127.0.0.1, killed when dropped.
struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("strata-registry-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        // A port the kernel just gave out and took back is free for the registry.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  \
                 filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { child, addr, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let up = Command::new("curl")
                .args(["-sf", &format!("http://{}/v2/", registry.addr)])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("docker-registry did not answer on {}", registry.addr);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the engine did while strata read.
#[derive(Default, Debug)]
struct ChurnCount {
    builds: usize,
    pushes: usize,
    pulls: usize,
    runs: usize,
    removals: usize,
    failed: Vec<String>,
}

/// Runs `docker args`, counting a failure (with its stderr) instead of stopping: under
/// churn a command may lose a race with another (a prune removing what the next step
/// wanted), and the point is the load, not each command.
fn step(engine: &LiveEngine, count: &mut ChurnCount, args: &[&str]) -> bool {
    let out = engine.docker(args);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        count.failed.push(format!("docker {}: {}", args.join(" "), err.trim()));
    }
    out.status.success()
}

/// Makes the engine busy until `stop` is set: build FROM `base`, tag, push, remove,
/// pull back, run and create containers, remove and prune.
fn churn(engine: &LiveEngine, base: &str, registry: &str, stop: &AtomicBool) -> ChurnCount {
    let ctx = tempfile::Builder::new()
        .prefix("strata-churn-ctx-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let mut count = ChurnCount::default();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        std::fs::write(ctx.path().join("f"), format!("churn file {i}\n")).unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            format!(
                "FROM {base}\nRUN echo {i} > /churn-{i}.txt && mkdir -p /d{i} && echo x > /d{i}/x\n\
                 COPY f /f\nRUN rm -rf /d{i}\n"
            ),
        )
        .unwrap();
        let local = format!("churn/img:{i}");
        let remote = format!("{registry}/churn/img:{i}");
        let ctx_path = ctx.path().display().to_string();
        if step(engine, &mut count, &["build", "-q", "--network=none", "-t", &local, &ctx_path]) {
            count.builds += 1;
        }
        step(engine, &mut count, &["tag", &local, &remote]);
        if step(engine, &mut count, &["push", &remote]) {
            count.pushes += 1;
        }
        // Remove both names (the image with them), then pull it back from the registry.
        if step(engine, &mut count, &["rmi", &local, &remote]) {
            count.removals += 1;
        }
        if step(engine, &mut count, &["pull", "-q", &remote]) {
            count.pulls += 1;
        }
        let name = format!("churn-c{i}");
        if step(
            engine,
            &mut count,
            &["run", "--rm", "--network=none", &remote, "sh", "-c", "echo w > /w; cat /f"],
        ) {
            count.runs += 1;
        }
        step(engine, &mut count, &["create", "--network=none", "--name", &name, &remote, "true"]);
        // Keep one created container at a time, so the store holds a mount while it churns.
        if i > 1 {
            step(engine, &mut count, &["rm", "-f", &format!("churn-c{}", i - 1)]);
        }
        if i > 2 {
            let old = format!("{registry}/churn/img:{}", i - 2);
            if step(engine, &mut count, &["rmi", &old]) {
                count.removals += 1;
            }
        }
        if i % 3 == 0 {
            step(engine, &mut count, &["image", "prune", "-f"]);
            step(engine, &mut count, &["container", "prune", "-f"]);
        }
    }
    count
}

/// One strata run's result.
struct Run {
    command: &'static str,
    elapsed: Duration,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// Runs `strata --root ROOT COMMAND --format json`, killed after [`RUN_BOUND`].
fn run_bounded(root: &Path, extra: &[String], command: &'static str) -> Run {
    let out_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (out, err) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let start = Instant::now();
    let mut child = strata()
        .arg("--root")
        .arg(root)
        .args(extra)
        .args([command, "--format", "json"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run strata");
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > RUN_BOUND {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        command,
        elapsed: start.elapsed(),
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        timed_out,
    }
}

/// The fault planted before the churn: where it is, so its findings can be told apart.
struct Planted {
    /// ChainID of the damaged layer.
    layer: String,
    /// The changed file, inside the layer.
    path: String,
}

impl Planted {
    fn matches(&self, finding: &serde_json::Value) -> bool {
        finding["layer"].as_str() == Some(&self.layer)
            || finding["path"].as_str() == Some(&self.path)
    }
}

/// What the reads saw over the churn.
#[derive(Default)]
struct Tally {
    runs: usize,
    per_command: std::collections::BTreeMap<&'static str, usize>,
    /// Problems with a run itself: a panic, a hang, bad JSON, exit 2.
    broken: Vec<String>,
    /// Error findings other than the planted fault, one line each.
    false_errors: Vec<String>,
    /// Runs with at least one false error.
    runs_with_false_errors: usize,
    /// `audit`/`verify` runs that did not report the planted fault.
    missed_fault: Vec<String>,
    /// `changed-during-scan` findings seen.
    changed_during_scan: usize,
    /// Runs whose first read saw an error that the second read showed to be a change:
    /// the false errors strata would report without its second look.
    runs_with_errors_rechecked: usize,
    /// Warnings left after the second read, by code, with how often.
    warnings: std::collections::BTreeMap<String, usize>,
    /// What they said, by code and message (IDs elided), with how often.
    changes: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, run: &Run, planted: &Planted) {
        self.runs += 1;
        *self.per_command.entry(run.command).or_default() += 1;
        let what = format!("{} (after {:.1}s)", run.command, run.elapsed.as_secs_f64());
        if run.timed_out {
            self.broken.push(format!("{what}: no answer within {RUN_BOUND:?}"));
            return;
        }
        if run.stderr.contains("panicked") {
            self.broken.push(format!("{what}: panicked: {}", run.stderr.trim()));
        }
        if !matches!(run.code, Some(0 | 1)) {
            self.broken.push(format!("{what}: exit {:?}: {}", run.code, run.stderr.trim()));
            return;
        }
        let json: serde_json::Value = match serde_json::from_str(&run.stdout) {
            Ok(v) => v,
            Err(e) => {
                self.broken.push(format!("{what}: invalid JSON ({e}): {:.300}", run.stdout));
                return;
            }
        };
        let Some(findings) = json.get("findings").and_then(|f| f.as_array()) else { return };
        let mut saw_fault = false;
        let mut false_here = 0;
        let mut rechecked_here = 0;
        for f in findings {
            if f["code"] == "changed-during-scan" {
                self.changed_during_scan += 1;
                let msg = f["message"].as_str().unwrap_or_default();
                rechecked_here += usize::from(msg.contains("first read (error)"));
                let msg = f["message"].as_str().unwrap_or_default();
                let words: Vec<&str> = msg
                    .split_whitespace()
                    .filter(|w| !w.chars().any(|c| c.is_ascii_digit()) || w.len() < 8)
                    .collect();
                *self.changes.entry(words.join(" ")).or_default() += 1;
            }
            if f["severity"] == "warning" {
                let code = f["code"].as_str().unwrap_or_default().to_owned();
                *self.warnings.entry(code).or_default() += 1;
            }
            if f["severity"] != "error" {
                continue;
            }
            if planted.matches(f) {
                saw_fault = true;
            } else {
                false_here += 1;
                self.false_errors.push(format!("{what}: {f}"));
            }
        }
        if false_here > 0 {
            self.runs_with_false_errors += 1;
        }
        if rechecked_here > 0 {
            self.runs_with_errors_rechecked += 1;
        }
        if !saw_fault {
            self.missed_fault.push(what);
        }
    }
}

/// Reads `root` over and over while `engine` churns for [`churn_time`], then asserts.
fn read_while_churning(
    engine: &LiveEngine,
    base: &str,
    registry: &Registry,
    extra: &[String],
    planted: &Planted,
    label: &str,
) {
    let stop = AtomicBool::new(false);
    let commands: [&'static str; 4] = ["audit", "verify", "df", "images"];
    let (tally, count) = std::thread::scope(|s| {
        let churner = s.spawn(|| churn(engine, base, &registry.addr, &stop));
        let deadline = Instant::now() + churn_time();
        let mut tally = Tally::default();
        let mut n = 0;
        while Instant::now() < deadline {
            let run = run_bounded(&engine.data_root, extra, commands[n % commands.len()]);
            tally.add(&run, planted);
            n += 1;
        }
        stop.store(true, Ordering::Relaxed);
        (tally, churner.join().expect("the churn thread"))
    });
    eprintln!(
        "churn {label}: {} strata runs {:?}; engine: {} builds, {} pushes, {} pulls, {} runs, \
         {} removals, {} failed docker commands; {} runs with false errors ({} findings), \
         {} changed-during-scan findings ({} runs would have reported false errors without \
         the second read), {} runs missed the planted fault",
        tally.runs,
        tally.per_command,
        count.builds,
        count.pushes,
        count.pulls,
        count.runs,
        count.removals,
        count.failed.len(),
        tally.runs_with_false_errors,
        tally.false_errors.len(),
        tally.changed_during_scan,
        tally.runs_with_errors_rechecked,
        tally.missed_fault.len(),
    );
    eprintln!("  warnings left: {:?}", tally.warnings);
    for (what, n) in &tally.changes {
        eprintln!("  {n} x changed-during-scan: {what}");
    }
    for line in count.failed.iter().take(10) {
        eprintln!("  engine: {line}");
    }
    // Without real churn the test proves nothing.
    assert!(
        count.builds >= 2 && count.pulls >= 2 && count.runs >= 2,
        "the engine barely churned ({count:?}); its log ends:\n{}",
        engine.log_tail(30)
    );
    assert!(tally.runs >= 8, "only {} strata runs in the churn", tally.runs);
    assert!(tally.broken.is_empty(), "broken strata runs:\n{}", tally.broken.join("\n"));
    assert!(
        tally.false_errors.is_empty(),
        "{} of {} runs reported errors that are not the planted fault:\n{}",
        tally.runs_with_false_errors,
        tally.runs,
        tally.false_errors.join("\n")
    );
    assert!(
        tally.missed_fault.is_empty(),
        "runs that missed the planted fault ({} {}): {}",
        planted.layer,
        planted.path,
        tally.missed_fault.join(", ")
    );
}

/// Rewrites a layer file in place, same size, so only its content differs.
fn plant_modified_file(file: &Path) {
    let old = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut new = old.clone();
    new[0] = if new[0] == b'X' { b'Y' } else { b'X' };
    std::fs::write(file, new).unwrap();
}

/// ChainIDs from DiffIDs, as the engine computes them.
fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => {
                format!("sha256:{}", hex::encode(Sha256::digest(format!("{parent} {diff}"))))
            }
        };
        out.push(next);
    }
    out
}

/// The DiffIDs of an image, as the engine reports them.
fn diff_ids(engine: &LiveEngine, image: &str) -> Vec<String> {
    let out = engine.docker_ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", image]);
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn graphdriver_store_under_churn_reports_only_the_planted_fault() {
    require_root!();
    require_tool!("docker-registry", "--version", "bash .ci/install-docker.sh");
    let Some(engine) = engine::on_fixture_copy("basic") else { return };
    let registry = Registry::start();
    // The planted fault: strata/app:1's first COPY layer has its file changed on disk.
    let layers = chain_ids(&diff_ids(&engine, "strata/app:1"));
    let layer = layers[1].clone();
    let cache_id = std::fs::read_to_string(
        engine.data_root.join("image/overlay2/layerdb/sha256").join(&layer[7..]).join("cache-id"),
    )
    .unwrap();
    plant_modified_file(
        &engine.data_root.join("overlay2").join(cache_id.trim()).join("diff/opt/app/hello.txt"),
    );
    let planted = Planted { layer, path: "opt/app/hello.txt".into() };
    read_while_churning(&engine, "strata/base:1.0", &registry, &[], &planted, "graphdriver");
}

/// sid's engine (docker.io 28.5, containerd 2.1), where `fixtures/fetch-engine.sh` puts
/// it; `None` when it is not there.
fn sid_engine() -> Option<PathBuf> {
    let dir = std::env::var_os("STRATA_ENGINE_SID")
        .map_or_else(|| PathBuf::from("/var/tmp/strata-engine-sid"), PathBuf::from);
    (dir.join("usr/sbin/dockerd").is_file() && dir.join("usr/bin/containerd").is_file())
        .then_some(dir)
}

#[test]
fn containerd_store_under_churn_reports_only_the_planted_fault() {
    require_root!();
    require_tool!("docker-registry", "--version", "bash .ci/install-docker.sh");
    require_tool!("busybox", "true", "bash .ci/install-docker.sh");
    let Some(sid) = sid_engine() else {
        skip!("no docker.io 28 with containerd 2 (fixtures/fetch-engine.sh /var/tmp/strata-engine-sid sid)")
    };
    let dir = tempfile::Builder::new()
        .prefix("strata-engine-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    // bookworm's runc and docker-init first, then sid's containerd.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/sbin/runc", bin.join("runc")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/docker-init", bin.join("docker-init")).unwrap();
    let config = dir.path().join("daemon.json");
    std::fs::write(&config, r#"{"features":{"containerd-snapshotter":true}}"#).unwrap();
    let opts = EngineOptions {
        storage_driver: "overlayfs".into(),
        extra_args: vec![format!("--config-file={}", config.display())],
        dockerd: sid.join("usr/sbin/dockerd"),
        path_prefix: vec![bin, sid.join("usr/bin")],
    };
    let engine = match LiveEngine::start(&dir.path().join("root"), &dir.path().join("run"), &opts) {
        Ok(engine) => engine,
        Err(why) => skip!("sid's dockerd could not start here: {why}"),
    };
    let registry = Registry::start();
    // A base image imported from busybox-static, and an image built on it holding the
    // file the fault is planted in.
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(which_busybox(), rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "mkdir", "rm", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let tar = dir.path().join("rootfs.tar");
    let ok = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status();
    assert!(ok.is_ok_and(|s| s.success()), "tar of the busybox rootfs");
    engine.docker_ok(&["import", &tar.display().to_string(), "churn/base:1"]);
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("victim.txt"), "planted fault lives here\n").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM churn/base:1\nCOPY victim.txt /planted/\n")
        .unwrap();
    engine.docker_ok(&[
        "build",
        "-q",
        "--network=none",
        "-t",
        "churn/victim:1",
        &ctx.display().to_string(),
    ]);
    let layers = chain_ids(&diff_ids(&engine, "churn/victim:1"));
    let snapshots =
        engine.data_root.join("containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots");
    let victims: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .unwrap()
        .filter_map(|e| {
            let file = e.ok()?.path().join("fs/planted/victim.txt");
            file.is_file().then_some(file)
        })
        .collect();
    // The layer's committed snapshot, and the build step's snapshot it was committed
    // from when the engine has not collected it yet: the fault goes in both.
    assert!(
        !victims.is_empty(),
        "no snapshot holds planted/victim.txt under {}",
        snapshots.display()
    );
    for v in &victims {
        plant_modified_file(v);
    }
    let planted = Planted { layer: layers[1].clone(), path: "planted/victim.txt".into() };
    read_while_churning(&engine, "churn/base:1", &registry, &[], &planted, "containerd");
}

/// The static busybox (busybox-static installs it as /bin/busybox).
fn which_busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("busybox (apt-get install busybox-static)")
}

/// The second read, step by step on a still data-root: a layer whose files go between
/// the reads (as `docker rmi` does it: driver directory first, then its layerdb entry)
/// is `changed-during-scan`; a layer whose files were gone before the scan stays an error.
#[test]
fn the_second_read_tells_a_change_from_damage() {
    use strata::audit::{recheck, AuditOptions};
    use strata::finding::{Code, Severity};
    use strata::fsread::SafeDir;
    use strata::graph::{Graph, LoadOptions};
    require_root!();
    let copy = crate::support::copy_tree(&crate::support::data_root("basic"));
    let root = copy.path();
    let load = || Graph::load(root, &LoadOptions::default()).expect("load the copy").0;
    let cache_dir = |g: &Graph, layer: &strata::digest::ChainId| {
        root.join("overlay2").join(g.layers[layer].record.cache_id.as_ref().unwrap().as_str())
    };
    // Damage before the scan: strata/app:1's top layer has lost its files.
    let before = load();
    let app = before.images.values().find(|i| i.repo_tags.iter().any(|t| t == "strata/app:1"));
    let damaged = *app.unwrap().chain_ids.last().unwrap();
    std::fs::remove_dir_all(cache_dir(&before, &damaged)).unwrap();
    // The scan's first read; then the engine removes the dangling old strata/rebuilt:1's
    // own layer while the content checks run.
    let first = load();
    let dangling = first.images.values().find(|i| i.record.id.short() == "c785dd794af7");
    let removed = *dangling.expect("the dangling image of the fixture").chain_ids.last().unwrap();
    std::fs::remove_dir_all(cache_dir(&first, &removed)).unwrap();
    let safe = SafeDir::open_root(root).unwrap();
    let mut findings = strata::audit::run(&first, &safe, None, &AuditOptions::default()).findings;
    let errors_on = |fs: &[strata::finding::Finding], layer| {
        fs.iter().filter(|f| f.layer == Some(layer) && f.severity == Severity::Error).count()
    };
    assert!(errors_on(&findings, removed) > 0, "the first read sees the half-removed layer");
    assert!(errors_on(&findings, damaged) > 0, "the first read sees the damaged layer");
    std::fs::remove_dir_all(root.join("image/overlay2/layerdb/sha256").join(removed.hex()))
        .unwrap();
    let second = load();
    assert!(recheck::store_moved(&first, &second));
    recheck::recheck(&first, &second, &mut findings);
    assert_eq!(errors_on(&findings, removed), 0, "{findings:#?}");
    assert!(findings.iter().any(|f| f.layer == Some(removed)
        && f.code == Code::ChangedDuringScan
        && f.severity == Severity::Info
        && f.message.contains("was removed")));
    assert!(errors_on(&findings, damaged) > 0, "damage from before the scan stays an error");
    // A store that did not move explains nothing: every error stays.
    let third = load();
    let mut again = strata::audit::run(&second, &safe, None, &AuditOptions::default()).findings;
    let errors = again.iter().filter(|f| f.severity == Severity::Error).count();
    assert!(!recheck::store_moved(&second, &third));
    assert_eq!(recheck::recheck(&second, &third, &mut again), 0);
    assert_eq!(again.iter().filter(|f| f.severity == Severity::Error).count(), errors);
}
