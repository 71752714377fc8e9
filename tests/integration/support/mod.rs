//! Shared test support: real fixture data-roots, Docker's recorded answers, the
//! binary under test, and the one way a test skips.
//!
//! Fixture archives hold overlay whiteouts (0/0 char devices) and trusted.* xattrs,
//! which only root can recreate, so tests that need them skip (with a message) when
//! not root. Each archive is extracted once into the target dir and shared read-only;
//! a test that tampers with a data-root copies it first with [`copy_tree`].
//!
//! Every skip goes through [`skip`] (or the `skip!`, `require_root!` and
//! `require_tool!` macros built on it): with `STRATA_REQUIRE_ALL_TESTS=1`, as CI
//! sets it, a skip is a failure instead.
#![allow(dead_code)]

pub mod audit;
pub mod engine;
pub mod hostile;
pub mod layers;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the tests run as root (the one copy of this check).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The environment variable that turns every skip into a failure. `.ci/run` sets it:
/// CI runs as root with every tool installed, so a test that would skip there is
/// broken, not excused.
pub const REQUIRE_ALL_TESTS: &str = "STRATA_REQUIRE_ALL_TESTS";

/// Whether [`REQUIRE_ALL_TESTS`] is set (to anything but empty or `0`).
pub fn require_all_tests() -> bool {
    std::env::var_os(REQUIRE_ALL_TESTS).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Says why the calling test (or part of it) does not run: a message on stderr, or a
/// panic when [`REQUIRE_ALL_TESTS`] is set. The caller returns (or moves on) after.
#[track_caller]
pub fn skip(why: &str) {
    if require_all_tests() {
        panic!("{REQUIRE_ALL_TESTS} is set and this test would skip: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// True when running as root; otherwise [`skip`]s and returns false.
#[track_caller]
pub fn root_or_skip() -> bool {
    let root = is_root();
    if !root {
        skip("this test needs root (fixtures hold whiteout devices and trusted.* xattrs)");
    }
    root
}

/// Whether `tool` runs (`tool arg` exits 0), e.g. `have("dot", "-V")`.
pub fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success())
}

/// True when every `(tool, version-flag)` runs; otherwise [`skip`]s naming the first
/// missing one with `hint` (how to install it) and returns false.
#[track_caller]
pub fn tools_or_skip(tools: &[(&str, &str)], hint: &str) -> bool {
    match tools.iter().find(|(tool, arg)| !have(tool, arg)) {
        Some((tool, _)) => {
            skip(&format!("`{tool}` is not installed ({hint})"));
            false
        }
        None => true,
    }
}

/// Skips the calling test (returns from it): `skip!("why {}", x)`. See [`skip`].
macro_rules! skip {
    ($($why:tt)+) => {{
        $crate::support::skip(&format!($($why)+));
        return;
    }};
}

/// Skips the calling test (returns from it) when not root. See [`skip`].
macro_rules! require_root {
    () => {
        if !$crate::support::root_or_skip() {
            return;
        }
    };
}

/// Skips the calling test (returns from it) unless `tool arg` runs:
/// `require_tool!("dot", "-V", "apt-get install graphviz")`. See [`skip`].
macro_rules! require_tool {
    ($tool:expr, $arg:expr, $hint:expr) => {
        if !$crate::support::tools_or_skip(&[($tool, $arg)], $hint) {
            return;
        }
    };
}

/// Names of the graphdriver-store fixtures every comparison test runs over.
pub const GRAPHDRIVER_FIXTURES: &[&str] = &["basic", "trixie26", "vfs", "userns", "rootless"];

/// The graphdriver fixtures made by the `basic` scenario (the same images, tags and
/// containers on three engines or drivers), for tests that rely on that scenario's images.
pub const BASIC_SCENARIO_FIXTURES: &[&str] = &["basic", "trixie26", "vfs"];

/// Docker's recorded answers for a fixture.
pub fn answers(name: &str) -> PathBuf {
    repo().join("fixtures").join(name).join("docker")
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads a file of one JSON value per line.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Extracts `fixtures/<name>/<archive>` once and returns where. Safe when several test
/// processes race: each extracts into its own directory and renames it into place.
pub fn extracted(name: &str, archive: &str) -> PathBuf {
    let src = repo().join("fixtures").join(name).join(archive);
    let stamp = std::fs::metadata(&src)
        .and_then(|m| m.modified())
        .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs())
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    let dest = cache.join(format!("{name}-{}-{stamp}", archive.trim_end_matches(".tar.gz")));
    // Threads of one test binary extract one at a time; processes race safely below.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if dest.is_dir() {
        return dest;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let tmp = cache.join(format!(".{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let status = Command::new(repo().join("fixtures/extract.sh"))
        .arg(&src)
        .arg(&tmp)
        .status()
        .expect("run fixtures/extract.sh");
    assert!(status.success(), "extract.sh {} failed: {status}", src.display());
    if std::fs::rename(&tmp, &dest).is_err() {
        // Another process won the race; use its copy.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dest
}

/// Where a data-root's image store lives: the data-root itself, or under
/// `--userns-remap` the `<uid>.<gid>` directory in it that holds `image/`.
pub fn store_dir(root: &Path) -> PathBuf {
    if root.join("image").is_dir() {
        return root.to_path_buf();
    }
    let remapped = std::fs::read_dir(root).into_iter().flatten().flatten().find(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.split_once('.')
            .is_some_and(|(u, g)| u.parse::<u32>().is_ok() && g.parse::<u32>().is_ok())
            && e.path().join("image").is_dir()
    });
    remapped.map_or_else(|| root.to_path_buf(), |e| e.path())
}

/// The data-root of a fixture, extracted (needs root).
pub fn data_root(name: &str) -> PathBuf {
    extracted(name, "data-root.tar.gz")
}

/// A private copy of a tree, preserving devices, xattrs, links and times, for tests
/// that damage it.
pub fn copy_tree(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("strata-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let status = Command::new("cp")
        .args(["-a", "--preserve=all"])
        .arg(format!("{}/.", src.display()))
        .arg(dir.path())
        .status()
        .expect("run cp");
    assert!(status.success(), "cp -a failed");
    dir
}

/// The strata binary, with no environment that could point it elsewhere.
pub fn strata() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    // No COLUMNS: tables come in the full layout, as piped output always has.
    c.env_remove("STRATA_ROOT").env_remove("COLUMNS").env("NO_COLOR", "1");
    c
}

/// Runs strata with `args` on `root`, returning (status code, stdout, stderr).
pub fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = strata().arg("--root").arg(root).args(args).output().expect("run strata");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs strata with `--format json` and parses stdout.
pub fn run_json(root: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = run(root, &all);
    assert!(code == 0 || code == 1, "strata {all:?} exited {code}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("strata {all:?}: bad JSON ({e}): {out}"))
}

/// Validates `value` against `schema/<name>.schema.json`, panicking with every error.
pub fn validate(name: &str, value: &serde_json::Value) {
    let path = repo().join("schema").join(format!("{name}.schema.json"));
    let schema = read_json(&path);
    let validator =
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let errors: Vec<String> =
        validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "output does not match {}:\n{}", path.display(), errors.join("\n"));
}

/// Renders DOT text with Graphviz (`dot -Tsvg`): the SVG, or what `dot` said on stderr.
pub fn dot_svg(dot: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run dot");
    child.stdin.take().expect("dot's stdin").write_all(dot.as_bytes()).expect("write to dot");
    let res = child.wait_with_output().expect("wait for dot");
    if res.status.success() {
        Ok(String::from_utf8_lossy(&res.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&res.stderr).into_owned())
    }
}
