//! The corruption campaign: copies of real fixtures with ONE file damaged at a time
//! (truncated, zeroed, garbage, a directory, a symlink loop, a symlink to a FIFO
//! outside the root, a FIFO, unreadable), and every strata command run on each.
//!
//! Every run must finish within a bound, exit 0, 1 or 2 and never panic, and its JSON
//! must still parse. The damaged file must be named: in a finding of the loaded graph
//! (the library), on stderr of the listing commands or in their JSON, or in the JSON
//! of commands that report findings (audit, verify).
//!
//! One copy per fixture is reused: each damage is undone from a pristine backup
//! before the next (the parent directory's times too), and at the end the copy must
//! answer exactly as the pristine fixture does. About a minute on 2 cores.
//!
//! "Unreadable" for root: permission bits do not stop root, so that damage runs
//! strata as `nobody` on a copy made readable to it, with the one file mode 000.

use crate::support::hostile::*;
use crate::support::*;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use strata::fsread::Limits;
use strata::graph::{Graph, LoadOptions};

const BOUND: Duration = Duration::from_secs(30);
const REFS: &[&str] = &["strata/app:1", "strata/base:1.0"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    Truncated,
    Zeroed,
    Garbage,
    Directory,
    SymlinkLoop,
    SymlinkToOutsideFifo,
    Fifo,
}

const DAMAGES: &[Damage] = &[
    Damage::Truncated,
    Damage::Zeroed,
    Damage::Garbage,
    Damage::Directory,
    Damage::SymlinkLoop,
    Damage::SymlinkToOutsideFifo,
    Damage::Fifo,
];

/// Deterministic garbage (xorshift), so a failure can be replayed.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len.max(16))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn apply(root: &Path, rel: &Path, damage: Damage, outside: &Path) {
    let p = root.join(rel);
    let original = std::fs::read(&p).unwrap();
    let remove = || std::fs::remove_file(&p).unwrap();
    match damage {
        Damage::Truncated => std::fs::write(&p, &original[..original.len() / 2]).unwrap(),
        Damage::Zeroed => std::fs::write(&p, vec![0u8; original.len().max(1)]).unwrap(),
        Damage::Garbage => {
            std::fs::write(&p, garbage(original.len(), original.len() as u64)).unwrap()
        }
        Damage::Directory => {
            remove();
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("inside"), b"x").unwrap();
        }
        Damage::SymlinkLoop => {
            remove();
            symlink(p.file_name().unwrap(), &p).unwrap();
        }
        Damage::SymlinkToOutsideFifo => {
            remove();
            symlink(outside.join("fifo"), &p).unwrap();
        }
        Damage::Fifo => {
            remove();
            nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        }
    }
}

/// Puts back the pristine file (content, mode, owner, times, xattrs) and its
/// parent directory's times.
fn restore(root: &Path, rel: &Path, backup: &Path, parent_stamp: &Path) {
    let p = root.join(rel);
    if let Ok(m) = std::fs::symlink_metadata(&p) {
        if m.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    let st =
        Command::new("cp").args(["-a", "--preserve=all"]).arg(backup).arg(&p).status().unwrap();
    assert!(st.success());
    let st = Command::new("touch")
        .arg("-r")
        .arg(parent_stamp)
        .arg(p.parent().unwrap())
        .status()
        .unwrap();
    assert!(st.success());
}

/// Whether a graph load can tell this damage of this file from a genuine value. A
/// truncated `size` is still a number and a truncated cache-id, link or lower still
/// a name: only the checks (audit) can see those; the layer contents and tar-split
/// are not read when loading.
fn loader_must_name(label: &str, damage: Damage) -> bool {
    if matches!(label, "tar-split" | "file in a layer diff") {
        return false;
    }
    !(damage == Damage::Truncated
        && matches!(label, "layer size" | "layer cache-id" | "overlay2 link" | "overlay2 lower"))
}

/// Commands whose output is a list of findings, which must name any damaged file.
fn reports_findings(cmd: &str) -> bool {
    matches!(cmd, "audit" | "verify")
}

/// Whether a command that reports findings must name this damage: everything the
/// loader must name, and, when the build checks layer content, the tar-split and
/// the layer files too (a truncated, zeroed or replaced file in a layer, a damaged
/// tar-split stream).
fn checker_must_name(label: &str, damage: Damage, content_checked: bool) -> bool {
    loader_must_name(label, damage)
        || (content_checked && matches!(label, "tar-split" | "file in a layer diff"))
}

/// Whether `audit` on this data-root hashes layer content (verify has landed).
fn content_checked(root: &Path) -> bool {
    let a: Vec<String> = ["audit", "--format", "json"].map(String::from).to_vec();
    let o = run_bounded(root, &a, BOUND);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    v["content_checks"]["layers_checked"].as_u64().unwrap_or(0) > 0
}

fn json_args(cmd: &[String]) -> Vec<String> {
    let mut a = cmd.to_vec();
    a.extend(["--format".to_owned(), "json".to_owned()]);
    a
}

/// Checks one run; returns a description of what is wrong, if anything.
/// `must_name`: whether this damage must be named (by a listing on stderr, by a
/// checker in its findings).
fn check_run(
    what: &str,
    cmd: &[String],
    o: &Outcome,
    rel: &Path,
    must_name: bool,
) -> Result<(), String> {
    let rel_s = rel.to_str().unwrap();
    if o.timed_out {
        return Err(format!("{what}: strata {cmd:?} did not finish within {BOUND:?}"));
    }
    if o.stderr.contains("panicked") {
        return Err(format!("{what}: strata {cmd:?} panicked: {}", o.stderr));
    }
    let code =
        o.code.ok_or_else(|| format!("{what}: strata {cmd:?} killed by a signal: {}", o.stderr))?;
    if !(0..=2).contains(&code) {
        return Err(format!("{what}: strata {cmd:?} exited {code}: {}", o.stderr));
    }
    if code == 2 {
        // Could not run (e.g. the image asked for is the damaged one): one clear
        // message, no half-written output.
        if o.stderr.trim().is_empty()
            || !o.stdout.trim().is_empty()
                && serde_json::from_str::<serde_json::Value>(&o.stdout).is_err()
        {
            return Err(format!(
                "{what}: strata {cmd:?} exit 2 without a clear message: {} / {}",
                o.stderr, o.stdout
            ));
        }
        return Ok(());
    }
    let v: serde_json::Value = serde_json::from_str(&o.stdout).map_err(|e| {
        format!(
            "{what}: strata {cmd:?} JSON does not parse ({e}): {}",
            o.stdout.chars().take(400).collect::<String>()
        )
    })?;
    // A file inside a layer may be named by its path in the layer.
    let in_layer = rel_s.split_once("/diff/").map(|(_, p)| p).unwrap_or(rel_s);
    let text = v.to_string();
    if must_name && reports_findings(&cmd[0]) && !text.contains(rel_s) && !text.contains(in_layer) {
        return Err(format!("{what}: strata {cmd:?} has no finding naming {rel_s}"));
    }
    if must_name
        && !reports_findings(&cmd[0])
        && !o.stderr.contains(rel_s)
        && v.as_array().is_some_and(|a| a.is_empty())
    {
        return Err(format!(
            "{what}: strata {cmd:?} neither names {rel_s} on stderr nor lists anything: {}",
            o.stderr
        ));
    }
    Ok(())
}

fn campaign(fixture: &str) {
    let pristine = data_root(fixture);
    let copy = copy_tree(&pristine);
    let root = copy.path();
    let outside = tempfile::tempdir().unwrap();
    nix::unistd::mkfifo(
        &outside.path().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let backups = tempfile::tempdir().unwrap();
    let commands = all_commands_for(&pristine, REFS);
    let files = pick_files(root);
    let content = content_checked(&pristine);
    eprintln!("{fixture}: audit checks layer content: {content}");
    assert!(files.len() >= 17, "{files:?}");
    let mut failures = Vec::new();
    let mut runs = 0;
    for (i, (label, rel)) in files.iter().enumerate() {
        let backup = backups.path().join(format!("{i}"));
        let stamp = backups.path().join(format!("{i}.dir"));
        assert!(Command::new("cp")
            .args(["-a", "--preserve=all"])
            .arg(root.join(rel))
            .arg(&backup)
            .status()
            .unwrap()
            .success());
        assert!(Command::new("touch")
            .arg("-r")
            .arg(root.join(rel).parent().unwrap())
            .arg(&stamp)
            .status()
            .unwrap()
            .success());
        for &damage in DAMAGES {
            let what = format!("{fixture}: {label} {} {damage:?}", rel.display());
            apply(root, rel, damage, outside.path());
            // The library: a finding names the file.
            if loader_must_name(label, damage) {
                let opts =
                    LoadOptions { driver: None, limits: Limits::default(), ..Default::default() };
                let g = Graph::load(root, &opts).unwrap().0;
                let rel_s = rel.to_str().unwrap();
                if !g
                    .findings
                    .iter()
                    .any(|f| f.file.as_deref() == Some(rel_s) || f.message.contains(rel_s))
                {
                    failures.push(format!(
                        "{what}: no finding names it; findings: {:?}",
                        g.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
                    ));
                }
            }
            for cmd in &commands {
                let a = json_args(cmd);
                let o = run_bounded(root, &a, BOUND);
                runs += 1;
                let must = if reports_findings(&cmd[0]) {
                    checker_must_name(label, damage, content)
                } else {
                    loader_must_name(label, damage) && command_reads(&cmd[0], label)
                };
                if let Err(e) = check_run(&what, &a, &o, rel, must) {
                    failures.push(e);
                }
            }
            restore(root, rel, &backup, &stamp);
        }
    }
    // Undone exactly: the copy answers as the pristine fixture does.
    for cmd in &commands {
        let a = json_args(cmd);
        let on_copy = run_bounded(root, &a, BOUND);
        let on_pristine = run_bounded(&pristine, &a, BOUND);
        assert_eq!(
            stable_json(&on_copy.stdout, root),
            stable_json(&on_pristine.stdout, &pristine),
            "{fixture}: restoring left a difference for {a:?}"
        );
    }
    eprintln!(
        "{fixture}: {} files x {} damages, {runs} runs, {} failures",
        files.len(),
        DAMAGES.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn campaign_basic() {
    require_root!();
    campaign("basic");
}

#[test]
fn campaign_trixie26() {
    require_root!();
    campaign("trixie26");
}

/// "Unreadable" for real: as `nobody`, on a copy made readable to it, one file at a
/// time mode 000. Each command still runs and names the file.
#[test]
fn unreadable_files_as_nobody() {
    require_root!();
    let ok = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "true"])
        .status();
    if !matches!(ok, Ok(s) if s.success()) {
        skip!("cannot run as nobody with setpriv");
    }
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Command::new("chmod").args(["-R", "a+rX"]).arg(root).status().unwrap().success());
    let commands = all_commands(REFS);
    let mut failures = Vec::new();
    for (label, rel) in pick_files(root) {
        let p: PathBuf = root.join(&rel);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        for cmd in &commands {
            let a = json_args(cmd);
            let out = Command::new("setpriv")
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_strata"))
                .arg("--root")
                .arg(root)
                .args(&a)
                .env_remove("STRATA_ROOT")
                .output()
                .unwrap();
            let o = Outcome {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                elapsed: Duration::ZERO,
                timed_out: false,
            };
            let what = format!("basic: {label} {} unreadable (as nobody)", rel.display());
            let reads = !matches!(label, "tar-split" | "file in a layer diff")
                && command_reads(&cmd[0], label);
            if let Err(e) = check_run(&what, &a, &o, &rel, reads) {
                failures.push(e);
            }
            if reads
                && cmd[0] != "inspect"
                && !o.stderr.contains("permission denied")
                && !o.stdout.contains("permission denied")
            {
                failures.push(format!(
                    "{what}: strata {a:?} does not say permission denied: {}",
                    o.stderr
                ));
            }
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
