//! Hostile shapes rather than damaged bytes: a layer chain thousands deep (moby stops
//! at 125), parent loops between layers and between images, a layer its own parent.
//! Every command must answer within a bound and never panic.

use crate::support::hostile::*;
use crate::support::*;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::time::Duration;

fn sha(s: &[u8]) -> String {
    hex::encode(Sha256::digest(s))
}

/// A graphdriver data-root with one image on a chain of `n` layers, each with its
/// driver directory: well-formed, just far deeper than Docker allows.
fn deep_chain(root: &Path, n: usize) {
    let img = root.join("image/overlay2");
    std::fs::create_dir_all(img.join("imagedb/content/sha256")).unwrap();
    std::fs::create_dir_all(img.join("layerdb/sha256")).unwrap();
    std::fs::create_dir_all(root.join("overlay2/l")).unwrap();
    let mut diffs = Vec::new();
    let mut chain = String::new();
    for i in 0..n {
        let d = format!("sha256:{}", sha(format!("layer{i}").as_bytes()));
        let parent = chain.clone();
        chain = if i == 0 {
            d.clone()
        } else {
            format!("sha256:{}", sha(format!("{chain} {d}").as_bytes()))
        };
        let ld = img.join("layerdb/sha256").join(&chain[7..]);
        std::fs::create_dir_all(&ld).unwrap();
        std::fs::write(ld.join("diff"), &d).unwrap();
        std::fs::write(ld.join("size"), "1").unwrap();
        let cache = sha(format!("cache{i}").as_bytes());
        std::fs::write(ld.join("cache-id"), &cache).unwrap();
        if i > 0 {
            std::fs::write(ld.join("parent"), &parent).unwrap();
        }
        std::fs::create_dir_all(root.join("overlay2").join(&cache).join("diff")).unwrap();
        diffs.push(d);
    }
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diffs}, "history": []
    }))
    .unwrap();
    let id = sha(&cfg);
    std::fs::write(img.join("imagedb/content/sha256").join(&id), &cfg).unwrap();
    std::fs::write(
        img.join("repositories.json"),
        serde_json::to_vec(
            &serde_json::json!({"Repositories": {"deep": {"deep:latest": format!("sha256:{id}")}}}),
        )
        .unwrap(),
    )
    .unwrap();
}

fn every_command_finishes(root: &Path, refs: &[&str], bound: Duration, what: &str) {
    for cmd in all_commands_for(root, refs) {
        for format in ["json", "table"] {
            let mut a = cmd.clone();
            a.extend(["--format".to_owned(), format.to_owned()]);
            let o = run_bounded(root, &a, bound);
            assert!(!o.timed_out, "{what}: strata {a:?} did not finish within {bound:?}");
            assert!(!o.stderr.contains("panicked"), "{what}: strata {a:?} panicked: {}", o.stderr);
            assert!(
                matches!(o.code, Some(0..=2)),
                "{what}: strata {a:?} exited {:?}: {}",
                o.code,
                o.stderr
            );
            if format == "json" && o.code != Some(2) {
                // `tree` nests one level per layer: deeper than serde_json's default
                // recursion limit here, which is the reader's limit, not bad JSON.
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&o.stdout) {
                    assert!(e.to_string().contains("recursion limit"), "{what}: strata {a:?}: {e}");
                }
            }
        }
    }
}

/// Found while probing: `df` and `audit` walked the whole chain below every prefix
/// of an image (quadratic): 4000 layers took 4 s and 8 s in a release build, 20000
/// over 5 minutes. Now linear: in a debug build 6000 layers take seconds (minutes before).
#[test]
fn a_chain_thousands_deep_is_handled_in_linear_time() {
    let t = tempfile::tempdir().unwrap();
    deep_chain(t.path(), 6000);
    every_command_finishes(t.path(), &["deep:latest"], Duration::from_secs(30), "6000-layer chain");
}

#[test]
fn parent_loops_do_not_hang() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let list = |rel: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let layers = list("image/overlay2/layerdb/sha256");
    let l = |i: usize| root.join("image/overlay2/layerdb/sha256").join(&layers[i]).join("parent");
    // Two layers each the other's parent, and one its own.
    std::fs::write(l(0), format!("sha256:{}", layers[1])).unwrap();
    std::fs::write(l(1), format!("sha256:{}", layers[0])).unwrap();
    std::fs::write(l(2), format!("sha256:{}", layers[2])).unwrap();
    // Two images each the other's parent.
    let images = list("image/overlay2/imagedb/metadata/sha256");
    let m = |i: usize| {
        root.join("image/overlay2/imagedb/metadata/sha256").join(&images[i]).join("parent")
    };
    std::fs::write(m(0), format!("sha256:{}", images[1])).unwrap();
    std::fs::write(m(1), format!("sha256:{}", images[0])).unwrap();
    let refs = [images[0].as_str(), layers[0].as_str(), "strata/app:1", "changer"];
    every_command_finishes(root, &refs, Duration::from_secs(30), "parent loops");
}

/// Strings from disk never reach the terminal raw: escape sequences planted in a
/// container's name, path and labels and in a tag come out escaped in every table.
#[test]
fn planted_escape_sequences_never_reach_the_terminal() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let evil = "\u{1b}[31mEVIL\u{1b}]0;title\u{7}\u{1b}[2J";
    let mut cfgs: Vec<_> = std::fs::read_dir(root.join("containers"))
        .unwrap()
        .map(|e| e.unwrap().path().join("config.v2.json"))
        .collect();
    cfgs.sort();
    for p in &cfgs {
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["Name"] = format!("/{evil}").into();
        v["Path"] = format!("/bin/{evil}").into();
        v["Config"]["Labels"] = serde_json::json!({ evil: evil });
        std::fs::write(p, serde_json::to_vec(&v).unwrap()).unwrap();
    }
    let repos = root.join("image/overlay2/repositories.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&repos).unwrap()).unwrap();
    let target = v["Repositories"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    v["Repositories"][format!("x{evil}")] = serde_json::json!({ format!("x{evil}:1"): target });
    std::fs::write(&repos, serde_json::to_vec(&v).unwrap()).unwrap();
    for cmd in all_commands_for(root, &["strata/app:1"]) {
        let o = run_bounded(root, &cmd, std::time::Duration::from_secs(60));
        for (stream, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "strata {cmd:?} wrote a raw control character to {stream}: {text:?}"
            );
        }
    }
}
