//! Sizes come from files anyone may have written (layerdb `size`) and from lstat of
//! files anyone may have planted (sparse files of exabytes in a container's RW
//! layer). No sum of them may panic or wrap: every command still answers.

use crate::support::hostile::*;
use crate::support::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn every_command_answers(root: &Path, what: &str) {
    for cmd in all_commands_for(root, &["strata/app:1", "changer"]) {
        for format in ["json", "table"] {
            let mut a = cmd.clone();
            a.extend(["--format".to_owned(), format.to_owned()]);
            let o = run_bounded(root, &a, Duration::from_secs(60));
            assert!(!o.timed_out, "{what}: strata {a:?} hung");
            assert!(!o.stderr.contains("panicked"), "{what}: strata {a:?} panicked: {}", o.stderr);
            assert!(
                matches!(o.code, Some(0..=2)),
                "{what}: strata {a:?} exited {:?}: {}",
                o.code,
                o.stderr
            );
            if format == "json" && o.code != Some(2) {
                serde_json::from_str::<serde_json::Value>(&o.stdout)
                    .unwrap_or_else(|e| panic!("{what}: strata {a:?}: {e}"));
            }
        }
    }
}

fn layer_size_files(root: &Path) -> Vec<std::path::PathBuf> {
    let dir = root.join("image/overlay2/layerdb/sha256");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("size"))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Found by hand while reviewing sums: two layers of `size` i64::MAX made every
/// command panic ("attempt to add with overflow" in the graph's image size).
#[test]
fn extreme_layer_sizes_do_not_overflow() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let files = layer_size_files(root);
    assert!(files.len() >= 3);
    for (what, pick) in [
        ("all i64::MAX", &(|_: usize| i64::MAX) as &dyn Fn(usize) -> i64),
        ("all i64::MIN", &|_| i64::MIN),
        ("alternating MAX and MIN", &|i| if i % 2 == 0 { i64::MAX } else { i64::MIN }),
        ("all -1", &|_| -1),
    ] {
        for (i, f) in files.iter().enumerate() {
            std::fs::write(f, pick(i).to_string()).unwrap();
        }
        every_command_answers(root, what);
    }
    // An overflowing image size is unknown, not a wrapped number.
    for (i, f) in files.iter().enumerate() {
        std::fs::write(f, i64::MAX.to_string()).unwrap();
        let _ = i;
    }
    let images = run_json(root, &["images"]);
    let multi = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["chain_ids"].as_array().unwrap().len() > 1)
        .unwrap();
    assert!(multi["size"].is_null(), "{multi}");
}

/// Sparse files of 4 EiB in a container's RW layer (tmpfs allows them, ext4 does
/// not): the RW size saturates (or is unknown) instead of wrapping or panicking.
#[test]
fn exabyte_sparse_files_in_a_rw_layer() {
    require_root!();
    let mnt = tempfile::tempdir().unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(mnt.path())
        .status();
    if !matches!(ok, Ok(s) if s.success()) {
        skip!("cannot mount a tmpfs here");
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(mnt.path());
    let root = mnt.path().join("root");
    let src = data_root("basic");
    assert!(Command::new("cp")
        .args(["-a", "--preserve=all"])
        .arg(&src)
        .arg(&root)
        .status()
        .unwrap()
        .success());
    let containers = run_json(&root, &["containers"]);
    let changer = containers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "changer")
        .expect("container changer");
    let rw = root.join(changer["rw_dir"].as_str().unwrap());
    for k in 0..4 {
        let f = std::fs::File::create(rw.join(format!("huge{k}"))).unwrap();
        if f.set_len(1 << 62).is_err() {
            skip!("this tmpfs does not take 4 EiB sparse files");
        }
    }
    every_command_answers(&root, "4 x 4 EiB sparse files");
    let containers = run_json(&root, &["containers"]);
    let changer = containers.as_array().unwrap().iter().find(|c| c["name"] == "changer").unwrap();
    // Too large to say (unknown) or saturated: never a wrapped small or negative size.
    let rw = &changer["rw_size"];
    assert!(rw.is_null() || rw.as_i64() == Some(i64::MAX), "{changer}");
}
