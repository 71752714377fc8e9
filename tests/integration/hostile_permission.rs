//! Without permission: a user who may not read the data-root gets one clear error
//! naming the path and what to do, and exit status 2; on a copy made readable for
//! them, the same user gets the same answers root gets.
//!
//! Runs strata as `nobody` through `setpriv`; needs root for that (and for the
//! fixture), and skips with a message otherwise.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// strata as `nobody` (no supplementary groups), or `None` (after [`skip`]) when that
/// cannot be done.
fn as_nobody(root: &Path, args: &[&str]) -> Option<(i32, String, String)> {
    let ok = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "true"])
        .status();
    if !matches!(ok, Ok(s) if s.success()) {
        skip("cannot run as nobody with setpriv");
        return None;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_strata"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("STRATA_ROOT")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run setpriv");
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A copy `nobody` can reach: the temp dir itself must be searchable.
fn reachable_copy(name: &str) -> tempfile::TempDir {
    let copy = copy_tree(&data_root(name));
    chmod(copy.path(), 0o755);
    // Every directory above it must be searchable too.
    let mut p = copy.path().parent();
    while let Some(dir) = p {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        assert!(
            mode & 0o001 != 0,
            "{} is not searchable by others; tests cannot run as nobody under it",
            dir.display()
        );
        p = dir.parent();
    }
    copy
}

fn assert_one_clear_error(code: i32, stdout: &str, stderr: &str, path: &Path) {
    assert_eq!(code, 2, "exit status; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line, got: {stderr}");
    assert!(lines[0].contains(&path.display().to_string()), "names {}: {stderr}", path.display());
    assert!(
        lines[0].contains("permission denied") && lines[0].contains("sudo"),
        "says what to do: {stderr}"
    );
    assert!(stdout.trim().is_empty(), "no half output: {stdout}");
}

#[test]
fn unreadable_data_root_is_one_clear_error() {
    require_root!();
    let copy = reachable_copy("basic");
    // As Docker leaves it: the top 0710 root:root, so others may not list it.
    chmod(copy.path(), 0o710);
    for cmd in [
        &["images"][..],
        &["layers", "--format", "json"],
        &["containers"],
        &["inspect", "strata/app:1"],
    ] {
        let Some((code, out, err)) = as_nobody(copy.path(), cmd) else { return };
        assert_one_clear_error(code, &out, &err, copy.path());
    }
}

#[test]
fn unreadable_image_store_below_a_readable_top_is_one_clear_error() {
    require_root!();
    let copy = reachable_copy("basic");
    let image = copy.path().join("image");
    // image/ itself unreadable.
    chmod(&image, 0o700);
    let Some((code, out, err)) = as_nobody(copy.path(), &["images"]) else { return };
    assert_one_clear_error(code, &out, &err, &image);
    // image/ readable, image/overlay2 not.
    chmod(&image, 0o755);
    let store = image.join("overlay2");
    chmod(&store, 0o700);
    let (code, out, err) = as_nobody(copy.path(), &["images", "--format", "json"]).unwrap();
    assert_one_clear_error(code, &out, &err, &store);
}

#[test]
fn a_copy_made_readable_gives_nobody_the_same_answers() {
    require_root!();
    let copy = reachable_copy("basic");
    let status = Command::new("chmod").args(["-R", "a+rX"]).arg(copy.path()).status().unwrap();
    assert!(status.success());
    for cmd in ["images", "layers", "containers"] {
        let as_root = run_json(copy.path(), &[cmd]);
        let (code, out, err) = as_nobody(copy.path(), &[cmd, "--format", "json"]).unwrap();
        assert_eq!(code, 0, "{cmd}: {err}");
        let as_nobody: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(as_nobody, as_root, "{cmd} as nobody differs from root");
    }
}
