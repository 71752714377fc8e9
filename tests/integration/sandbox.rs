//! The Landlock sandbox (`src/sandbox.rs`): with it, the kernel refuses a write, a
//! read outside the roots and a TCP connection that the test-only probe
//! (`STRATA_SANDBOX_PROBE`) attempts once the sandbox is on, and `--no-sandbox`
//! lets the same attempts through; every command still gives the same answer
//! under it on every fixture, and `audit -o` still writes its report.

use crate::support::hostile::{all_commands_for, supports_json};
use crate::support::*;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Runs strata with the probe pointed at `dir` (and at a TCP listener of our own).
fn probe(args: &[&str], dir: &Path, listener: &TcpListener) -> Output {
    let port = listener.local_addr().unwrap().port();
    strata()
        .args(args)
        .env("STRATA_SANDBOX_PROBE", dir)
        .env("STRATA_SANDBOX_PROBE_PORT", port.to_string())
        .output()
        .unwrap()
}

/// The probe's line for `what`: `allowed`, or `refused: <error>`.
fn outcome(out: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let prefix = format!("strata-sandbox-probe: {what}: ");
    err.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no probe line for {what} in:\n{err}"))
        .to_owned()
}

/// Skips when the kernel has no Landlock at all (strata says so on stderr).
fn has_landlock(out: &Output) -> bool {
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("has no Landlock") {
        skip("this kernel has no Landlock (or it is disabled at boot)");
        return false;
    }
    true
}

/// Refused by the kernel: Landlock answers `EACCES`, the seccomp filter `EPERM`.
fn refused(said: &str, by: &str) -> bool {
    said.starts_with(&format!("refused: {by}"))
}

fn accepted(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    listener.accept().is_ok()
}

#[test]
fn a_write_a_read_and_a_connection_outside_the_roots_are_refused() {
    require_root!();
    let root = data_root("basic");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("probe-secret"), b"not strata's to read\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let args = ["--root", root.to_str().unwrap(), "layers"];

    let out = probe(&args, outside.path(), &listener);
    if !has_landlock(&out) {
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for what in ["write", "read"] {
        let said = outcome(&out, what);
        assert!(refused(&said, "Permission denied"), "{what}: {said}");
    }
    assert!(!outside.path().join("probe-written").exists(), "the sandbox let a file be created");
    // Landlock does not guard metadata: the seccomp filter does.
    let said = outcome(&out, "chmod");
    assert!(refused(&said, "Operation not permitted"), "chmod: {said}");
    // A ring's operations pass the filter unseen: making one is refused.
    let said = outcome(&out, "io_uring");
    assert!(refused(&said, "Operation not permitted"), "io_uring: {said}");
    // Both refuse: Landlock's TCP rule, and the filter before it (no socket at all).
    let said = outcome(&out, "connect");
    assert!(said.starts_with("refused:"), "connect: {said}");
    assert!(!accepted(&listener), "a connection reached the listener through the sandbox");

    // The same attempts, without the sandbox, all go through: the probe is real.
    let mut args = args.to_vec();
    args.insert(0, "--no-sandbox");
    let out = probe(&args, outside.path(), &listener);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for what in ["write", "read", "chmod", "io_uring", "connect"] {
        assert_eq!(outcome(&out, what), "allowed", "{what} with --no-sandbox");
    }
    assert!(outside.path().join("probe-written").is_file());
    assert!(accepted(&listener), "no connection reached the listener with --no-sandbox");
}

#[test]
fn beneath_the_root_files_are_read_but_nothing_is_written() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let inside = copy.path().join("image");
    std::fs::write(inside.join("probe-secret"), b"planted\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let out = probe(&["--root", copy.path().to_str().unwrap(), "images"], &inside, &listener);
    if !has_landlock(&out) {
        return;
    }
    assert_eq!(outcome(&out, "read"), "allowed");
    let said = outcome(&out, "write");
    assert!(refused(&said, "Permission denied"), "write: {said}");
    assert!(!inside.join("probe-written").exists());
    let said = outcome(&out, "chmod");
    assert!(refused(&said, "Operation not permitted"), "chmod: {said}");
}

/// Replaces the scan's own time (`2026-12-01T00:56:07Z`, whole seconds, as strata
/// stamps reports) so that two runs a second apart compare equal. Times read from
/// the store carry fractions of a second and stay.
fn without_scan_time(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let t = &b[i..b.len().min(i + 20)];
        let is_stamp = t.len() == 20
            && t[10] == b'T'
            && t[19] == b'Z'
            && [4, 7].iter().all(|&k| t[k] == b'-')
            && [13, 16].iter().all(|&k| t[k] == b':')
            && t.iter()
                .enumerate()
                .all(|(k, c)| [4, 7, 10, 13, 16, 19].contains(&k) || c.is_ascii_digit());
        if is_stamp {
            out.push_str("<scan time>");
            i += 20;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn same_with_and_without(label: &str, base: &[String], cmd: &[String]) {
    let run = |sandbox: bool| {
        let mut c = strata();
        if !sandbox {
            c.arg("--no-sandbox");
        }
        let o = c.args(base).args(cmd).output().unwrap();
        // On a kernel with an older Landlock the sandboxed run says so, once: the one
        // line the two runs may differ by.
        let err: String = String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| !l.starts_with("strata: note: this kernel"))
            .map(|l| format!("{l}\n"))
            .collect();
        (
            o.status.code(),
            without_scan_time(&String::from_utf8_lossy(&o.stdout)),
            without_scan_time(&err),
        )
    };
    let (sandboxed, free) = (run(true), run(false));
    assert!(
        matches!(free.0, Some(0 | 1)),
        "{label} {cmd:?} does not run even without the sandbox: {free:?}"
    );
    assert_eq!(sandboxed.0, free.0, "{label} {cmd:?}: exit status\n{}", sandboxed.2);
    assert_eq!(sandboxed.2, free.2, "{label} {cmd:?}: stderr");
    assert!(sandboxed.1 == free.1, "{label} {cmd:?}: stdout differs under the sandbox");
}

#[test]
fn every_command_answers_the_same_under_the_sandbox_on_every_fixture() {
    require_root!();
    let registry = extracted("basic", "registry.tar.gz");
    // (label, the global arguments that point at the fixture, the data-root to list
    // reference candidates from, extra candidates)
    let mut setups: Vec<(String, Vec<String>, PathBuf)> = Vec::new();
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    for name in ["basic", "trixie26", "vfs", "buildkit", "containerd-store"] {
        let root = data_root(name);
        setups.push((name.to_owned(), vec!["--root".into(), arg(&root)], root));
    }
    let sid = crate::containerd_graph::host("containerd-sid");
    setups.push(("containerd-sid".into(), vec!["--root".into(), arg(&sid)], sid.clone()));
    // The same host through --host-root: its config files are read from under it.
    let host = sid.parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    setups.push(("containerd-sid --host-root".into(), vec!["--host-root".into(), arg(&host)], sid));
    let k8s = extracted("k8s-containerd", "containerd-root.tar.gz");
    setups.push(("k8s-containerd".into(), vec!["--containerd-root".into(), arg(&k8s)], k8s));
    let mut ran = 0;
    for (label, base, listed_from) in &setups {
        let extra = ["strata/app:1", "127.0.0.1:5000/strata/app:1", "changer"];
        for mut cmd in all_commands_for(listed_from, &extra) {
            if label == "k8s-containerd" && cmd.len() > 1 {
                // The candidates are listed with --root, which a node has none of.
                cmd[1] = if cmd[0] == "diff" { "changer" } else { extra[1] }.to_owned();
            }
            same_with_and_without(label, base, &cmd);
            if supports_json(&cmd) {
                let mut json = cmd.clone();
                json.extend(["--format".into(), "json".into()]);
                same_with_and_without(label, base, &json);
            }
            ran += 1;
        }
        let mut audit: Vec<String> = vec!["audit".into(), "--format".into(), "ndjson".into()];
        audit.extend(["--registry-root".into(), arg(&registry)]);
        same_with_and_without(label, base, &audit);
    }
    assert!(ran >= setups.len() * 10, "only {ran} commands ran");
}

#[test]
fn audit_o_renames_its_report_into_place_under_the_sandbox() {
    require_root!();
    let root = data_root("basic");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("audit.json");
    std::fs::write(&dest, b"yesterday's report\n").unwrap();
    let args = ["--root", root.to_str().unwrap(), "audit", "--format", "json"];
    let out = strata().args(args).arg("-o").arg(&dest).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "the report went to stdout too");
    let free = strata().arg("--no-sandbox").args(args).output().unwrap();
    let mut written = String::new();
    std::fs::File::open(&dest).unwrap().read_to_string(&mut written).unwrap();
    assert_eq!(
        without_scan_time(&written),
        without_scan_time(&String::from_utf8_lossy(&free.stdout)),
        "the report written under the sandbox is not the one printed without it"
    );
    // The replaced report is gone and no temporary file is left beside it.
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("audit.json")]);
}

#[test]
fn scan_time_is_masked_and_store_times_are_not() {
    assert_eq!(
        without_scan_time(r#"{"a":"2026-12-01T00:56:07Z","b":"2026-11-29T01:12:44.5Z"}"#),
        r#"{"a":"<scan time>","b":"2026-11-29T01:12:44.5Z"}"#
    );
}

/// Runs `strata ARGS layers` under `strace -ff` (one trace file per thread, so no call is
/// split across lines) and returns its JSON without the scan time, its stderr, and every
/// traced `openat2` of `path` with its result.
fn traced_opens(args: &[&str], root: &Path, path: &str) -> (String, String, Vec<String>) {
    let traces = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let prefix = traces.path().join("t");
    let out = std::process::Command::new("strace")
        .args(["-ff", "-qq", "-e", "trace=openat2", "-o"])
        .arg(&prefix)
        .arg(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .arg("--root")
        .arg(root)
        .args(["layers", "--format", "json"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut opens = Vec::new();
    for f in std::fs::read_dir(traces.path()).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        opens.extend(text.lines().filter(|l| l.contains(path)).map(str::to_owned));
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (without_scan_time(&String::from_utf8_lossy(&out.stdout)), stderr, opens)
}

#[test]
fn a_planted_device_node_is_refused_by_the_kernel_before_any_driver_sees_it() {
    require_root!();
    require_tool!("strace", "-V", "apt-get install strace");
    let copy = copy_tree(&data_root("basic"));
    // A layer's `size` replaced by a character device (1,3: /dev/null's numbers, harmless
    // if the guard failed): without `nodev` strata opens it before its fstat refuses it.
    let layers = copy.path().join("image/overlay2/layerdb/sha256");
    let layer = std::fs::read_dir(&layers).unwrap().next().unwrap().unwrap().file_name();
    let rel = format!("image/overlay2/layerdb/sha256/{}/size", layer.to_string_lossy());
    let node = copy.path().join(&rel);
    std::fs::remove_file(&node).unwrap();
    let made = std::process::Command::new("mknod").arg(&node).args(["c", "1", "3"]).status();
    assert!(made.unwrap().success(), "mknod failed");

    let (sandboxed, said, opens) = traced_opens(&[], copy.path(), &rel);
    assert!(said.contains(&format!("{rel}: is a character device")), "{said}");
    assert!(!opens.is_empty(), "strata never tried {rel}");
    for l in &opens {
        assert!(l.ends_with("= -1 EACCES (Permission denied)"), "the node was opened: {l}");
    }
    // The same run without the sandbox opens it (the trace is real), and both say the same.
    let (open, _, opens) = traced_opens(&["--no-sandbox"], copy.path(), &rel);
    assert!(opens.iter().any(|l| !l.contains("= -1")), "not opened without the sandbox: {opens:?}");
    assert_eq!(sandboxed, open);
    // Nothing of this reached the host's mounts.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(copy.path().to_str().unwrap()), "a mount leaked to the host");
}
