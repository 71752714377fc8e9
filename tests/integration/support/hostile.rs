//! Helpers for the hostile-input tests: every strata command with the arguments it
//! needs, runs bounded in time, and a fingerprint of a whole tree.

use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one bounded run gave.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status; `None` when killed (by the bound or a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
}

/// Runs strata with `args` on `root`, killing it after `bound`.
pub fn run_bounded(root: &Path, args: &[String], bound: Duration) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("STRATA_ROOT")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata");
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > bound {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait after kill");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        elapsed,
        timed_out,
    }
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .arg("--help")
        .output()
        .expect("strata --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Commands with no table or JSON report, left out of [`all_commands_for`]: their
/// output (a bodyfile with the inode numbers and times of the very copy read; a tar
/// archive written to `-o`) cannot be compared across copies as a report can. Their own
/// modules test them on hostile input (`timeline_cli::hostile_*`, `save_docker`,
/// `export_docker`).
pub const OWN_FORMATS: &[&str] = &["timeline", "save", "export"];

/// Commands the harness leaves out: `registry-check` asks live registries (its answer
/// depends on what listens on the host's network, not on the copy read); its hostile
/// servers are `registry_online`'s.
pub const NETWORK_COMMANDS: &[&str] = &["registry-check"];

/// Every subcommand `strata --help` lists (but `help`, [`OWN_FORMATS`] and
/// [`NETWORK_COMMANDS`]), each with the references its usage line asks for. Commands
/// added later are picked up without touching the tests. For a command that needs a
/// reference, candidates are tried on `root` (tags and container names strata itself
/// lists there, then `extra`) and the first it accepts is used, so `history` gets an
/// image and `diff` a container.
pub fn all_commands_for(root: &Path, extra: &[&str]) -> Vec<Vec<String>> {
    let top = help(&[]);
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in top.lines() {
        if line.trim_end() == "Commands:" {
            in_commands = true;
            continue;
        }
        if in_commands {
            if line.trim().is_empty() || !line.starts_with(' ') {
                break;
            }
            if let Some(name) = line.split_whitespace().next() {
                if name != "help"
                    && !NETWORK_COMMANDS.contains(&name)
                    && !OWN_FORMATS.contains(&name)
                    && line.starts_with("  ")
                    && !line.starts_with("      ")
                {
                    names.push(name.to_owned());
                }
            }
        }
    }
    assert!(names.len() >= 4, "could not read the command list from strata --help:\n{top}");
    let mut candidates: Vec<String> = Vec::new();
    let listed = |cmd: &str, field: &str| -> Vec<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--root")
            .arg(root)
            .args([cmd, "--format", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v.as_array()
            .map(|a| {
                a.iter()
                    .flat_map(|x| match &x[field] {
                        serde_json::Value::Array(t) => {
                            t.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()
                        }
                        serde_json::Value::String(s) => vec![s.clone()],
                        _ => vec![],
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    candidates.extend(listed("images", "repo_tags").into_iter().take(3));
    candidates.extend(listed("containers", "name").into_iter().take(3));
    candidates.extend(extra.iter().map(|s| s.to_string()));
    if candidates.is_empty() {
        candidates.push("strata/app:1".into());
    }
    let mut out = Vec::new();
    for name in names {
        let usage = help(&[&name]);
        let usage_line =
            usage.lines().find(|l| l.starts_with("Usage:")).unwrap_or_default().to_owned();
        // Required positionals are `<NAME>`; optional ones `[NAME]` are left out.
        let positionals = usage_line.split_whitespace().filter(|w| w.starts_with('<')).count();
        if positionals == 0 {
            out.push(vec![name]);
            continue;
        }
        let with = |c: &str| -> Vec<String> {
            let mut cmd = vec![name.clone()];
            cmd.extend(std::iter::repeat_n(c.to_owned(), positionals));
            cmd
        };
        // Accepted, and with something to show (a `diff` of a container that changed
        // nothing is an empty list, which says little about damage elsewhere).
        let tried: Vec<(&String, bool, bool)> = candidates
            .iter()
            .map(|c| {
                let o = Command::new(env!("CARGO_BIN_EXE_strata"))
                    .arg("--root")
                    .arg(root)
                    .args(with(c))
                    .args(["--format", "json"])
                    .output()
                    .unwrap();
                let ok = matches!(o.status.code(), Some(0 | 1));
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
                let full = ok && !(v.is_null() || v.as_array().is_some_and(|a| a.is_empty()));
                (c, ok, full)
            })
            .collect();
        let pick = tried
            .iter()
            .find(|t| t.2)
            .or_else(|| tried.iter().find(|t| t.1))
            .map(|t| t.0)
            .unwrap_or(&candidates[0]);
        out.push(with(pick));
    }
    out
}

/// [`all_commands_for`] on the pristine `basic` fixture's names only.
pub fn all_commands(extra: &[&str]) -> Vec<Vec<String>> {
    all_commands_for(&crate::support::data_root("basic"), extra)
}

/// Whether the command supports `--format json` (all global today; checked anyway).
pub fn supports_json(cmd: &[String]) -> bool {
    help(&[&cmd[0]]).contains("--format")
}

/// A fingerprint of everything about a tree that a write could change: names, file
/// types, modes, owners, sizes, mtimes and ctimes, content hashes, symlink targets,
/// device numbers and extended attributes. Access times are left out (reading
/// changes them, and strata reads with O_NOATIME where it may). One line per entry,
/// sorted, so a difference can be shown.
pub fn fingerprint(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let entry = entry.expect("walk");
        let p = entry.path();
        let rel = p.strip_prefix(root).unwrap();
        let m = std::fs::symlink_metadata(p).unwrap();
        let ft = m.file_type();
        let content = if ft.is_file() {
            let mut h = Sha256::new();
            let mut f = std::fs::File::open(p).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            hex::encode(h.finalize())
        } else if ft.is_symlink() {
            format!("-> {:?}", std::fs::read_link(p).unwrap())
        } else {
            String::new()
        };
        let mut xattrs: Vec<String> = xattr::list(p)
            .map(|names| {
                names
                    .map(|n| {
                        let v = xattr::get(p, &n).ok().flatten().unwrap_or_default();
                        format!("{}={}", n.to_string_lossy(), hex::encode(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        lines.push(format!(
            "{:?} mode={:o} uid={} gid={} size={} mtime={}.{} ctime={}.{} ino={} nlink={} rdev={} {} [{}]",
            rel,
            m.mode(),
            m.uid(),
            m.gid(),
            if ft.is_dir() { 0 } else { m.size() },
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            m.ino(),
            m.nlink(),
            m.rdev(),
            content,
            xattrs.join(",")
        ));
    }
    lines
}

/// The lines of `a` and `b` that differ, for a readable failure.
pub fn diff(a: &[String], b: &[String]) -> String {
    let sa: std::collections::BTreeSet<_> = a.iter().collect();
    let sb: std::collections::BTreeSet<_> = b.iter().collect();
    let mut out = String::new();
    for l in sa.difference(&sb).take(20) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in sb.difference(&sa).take(20) {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}

/// A read-only bind mount of `src` at a fresh directory, unmounted on drop; `None`
/// (after [`super::skip`], a failure under `STRATA_REQUIRE_ALL_TESTS`) when mounts are
/// not allowed here.
pub struct RoMount {
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl RoMount {
    pub fn new(src: &Path) -> Option<Self> {
        let dir = tempfile::Builder::new().prefix("strata-ro-").tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let bind = Command::new("mount").arg("--bind").arg(src).arg(&path).status();
        if !matches!(bind, Ok(s) if s.success()) {
            super::skip("cannot bind-mount here (mount --bind failed)");
            return None;
        }
        let ro = Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&path).status();
        if !matches!(ro, Ok(s) if s.success()) {
            let _ = Command::new("umount").arg(&path).status();
            super::skip("cannot remount read-only here");
            return None;
        }
        Some(Self { path, _dir: dir })
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// One file of each kind that matters in a graphdriver data-root, relative to it:
/// (label, path). The first in sorted order of each kind, so runs are repeatable.
pub fn pick_files(root: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    use std::path::PathBuf;
    let first = |dir: &str, pred: &dyn Fn(&Path) -> bool| -> Option<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        v.sort();
        v.into_iter().find(|p| pred(p)).map(|p| p.strip_prefix(root).unwrap().to_path_buf())
    };
    let img = "image/overlay2";
    let mut out: Vec<(&'static str, Option<PathBuf>)> = vec![
        ("image config", first(&format!("{img}/imagedb/content/sha256"), &|p| p.is_file())),
        (
            "image parent",
            first(&format!("{img}/imagedb/metadata/sha256"), &|p| p.join("parent").is_file())
                .map(|d| d.join("parent")),
        ),
        (
            "layer diff",
            first(&format!("{img}/layerdb/sha256"), &|p| p.join("diff").is_file())
                .map(|d| d.join("diff")),
        ),
        (
            "layer size",
            first(&format!("{img}/layerdb/sha256"), &|p| p.join("size").is_file())
                .map(|d| d.join("size")),
        ),
        (
            "layer cache-id",
            first(&format!("{img}/layerdb/sha256"), &|p| p.join("cache-id").is_file())
                .map(|d| d.join("cache-id")),
        ),
        (
            "layer parent",
            first(&format!("{img}/layerdb/sha256"), &|p| p.join("parent").is_file())
                .map(|d| d.join("parent")),
        ),
        (
            "tar-split",
            first(&format!("{img}/layerdb/sha256"), &|p| p.join("tar-split.json.gz").is_file())
                .map(|d| d.join("tar-split.json.gz")),
        ),
        ("repositories.json", Some(PathBuf::from(format!("{img}/repositories.json")))),
        (
            "v2metadata",
            first(&format!("{img}/distribution/v2metadata-by-diffid/sha256"), &|p| p.is_file()),
        ),
        (
            "diffid-by-digest",
            first(&format!("{img}/distribution/diffid-by-digest/sha256"), &|p| p.is_file()),
        ),
        (
            "container config",
            first("containers", &|p| p.join("config.v2.json").is_file())
                .map(|d| d.join("config.v2.json")),
        ),
        (
            "mount-id",
            first(&format!("{img}/layerdb/mounts"), &|p| p.join("mount-id").is_file())
                .map(|d| d.join("mount-id")),
        ),
        (
            "init-id",
            first(&format!("{img}/layerdb/mounts"), &|p| p.join("init-id").is_file())
                .map(|d| d.join("init-id")),
        ),
        (
            "mount parent",
            first(&format!("{img}/layerdb/mounts"), &|p| p.join("parent").is_file())
                .map(|d| d.join("parent")),
        ),
        ("overlay2 link", first("overlay2", &|p| p.join("link").is_file()).map(|d| d.join("link"))),
        (
            "overlay2 lower",
            first("overlay2", &|p| p.join("lower").is_file()).map(|d| d.join("lower")),
        ),
    ];
    // A regular file inside a layer's diff directory.
    let in_diff = walkdir::WalkDir::new(root.join("overlay2"))
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && e.path().components().any(|c| c.as_os_str() == "diff"))
        .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf());
    out.push(("file in a layer diff", in_diff));
    out.into_iter()
        .map(|(label, p)| {
            let p = p.unwrap_or_else(|| panic!("fixture has no {label}"));
            assert!(root.join(&p).is_file(), "{label}: {} is not a file", p.display());
            (label, p)
        })
        .collect()
}

/// JSON output made comparable across runs and roots: the root path replaced by
/// `<root>`, and the clock (`generated_at`) dropped.
pub fn stable_json(out: &str, root: &Path) -> String {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("generated_at");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let text = out.replace(&root.display().to_string(), "<root>");
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(mut v) => {
            strip(&mut v);
            v.to_string()
        }
        Err(_) => text,
    }
}

/// Whether `cmd` reads the store file `label` (a [`pick_files`] label) names, so that damage to
/// it must show in what `cmd` prints. The listings read only what they show (README, "Big
/// hosts"): `images` reads each layer's `size` and not its `diff`, `cache-id` or `parent`, nor
/// the RW layers (`layerdb/mounts`); `df`
/// reads `size` and `cache-id`; only `audit`, `verify` and `inspect` read overlay2's `link` and
/// `lower`. Every other command reads every store file.
pub fn command_reads(cmd: &str, label: &str) -> bool {
    match (cmd, label) {
        (_, "overlay2 link" | "overlay2 lower") => matches!(cmd, "audit" | "verify" | "inspect"),
        (
            "images",
            "layer diff" | "layer cache-id" | "layer parent" | "mount-id" | "init-id"
            | "mount parent",
        ) => false,
        ("df", "layer diff" | "layer parent") => false,
        _ => true,
    }
}
