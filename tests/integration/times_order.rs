//! Images newest first and containers by creation are ordered on the instants their
//! times name, not on RFC 3339 text (issue 10): on a copy of a real data-root whose
//! config times were edited to differ in fractional digits and in offsets, strata's
//! order is the order a live dockerd gives for the same copy.

use crate::support::engine::{EngineOptions, LiveEngine};
use crate::support::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::path::Path;

/// Container times, oldest to newest as instants; as text (newest first) they sort
/// 1, 0, 2. dockerd orders containers to the nanosecond.
const TIMES: [&str; 3] =
    ["2020-01-01T00:00:00Z", "2020-01-01T02:00:00.05+02:00", "2020-01-01T00:00:00.1Z"];

/// Image times, oldest to newest; as text they sort 1, 2, 0. dockerd orders images
/// to the second (`Created` in the API is Unix seconds), so these differ by seconds.
const IMAGE_TIMES: [&str; 3] =
    ["2020-01-01T00:00:00Z", "2020-01-01T02:00:01.5+02:00", "2020-01-01T00:00:02.25Z"];

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces `from` with `to` in every regular file under `dir` that holds it.
fn replace_in_tree(dir: &Path, from: &str, to: &str) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            replace_in_tree(&p, from, to);
        } else if m.is_file() && m.len() < 1 << 20 {
            if let Ok(s) = std::fs::read_to_string(&p) {
                if s.contains(from) {
                    std::fs::write(&p, s.replace(from, to)).unwrap();
                }
            }
        }
    }
}

/// Gives image `id` (hex) a new `created`: its config is rewritten, so it gets a new
/// ID, renamed everywhere the store names it. Returns the new ID (hex).
fn set_image_created(root: &Path, id: &str, created: &str) -> String {
    let store = root.join("image/overlay2");
    let old = store.join("imagedb/content/sha256").join(id);
    let mut config: Value = serde_json::from_slice(&std::fs::read(&old).unwrap()).unwrap();
    config["created"] = created.into();
    let bytes = serde_json::to_vec(&config).unwrap();
    let new = hex(&bytes);
    std::fs::write(store.join("imagedb/content/sha256").join(&new), &bytes).unwrap();
    std::fs::remove_file(&old).unwrap();
    let meta = store.join("imagedb/metadata/sha256");
    if meta.join(id).is_dir() {
        std::fs::rename(meta.join(id), meta.join(&new)).unwrap();
    }
    for dir in [store.join("imagedb/metadata"), root.join("containers")] {
        replace_in_tree(&dir, id, &new);
    }
    let repos = store.join("repositories.json");
    let text = std::fs::read_to_string(&repos).unwrap();
    std::fs::write(&repos, text.replace(id, &new)).unwrap();
    new
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v.as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_owned()).collect()
}

/// The order of `wanted` within `all`.
fn order_of(all: &[String], wanted: &[String]) -> Vec<String> {
    all.iter().filter(|i| wanted.contains(i)).cloned().collect()
}

#[test]
fn images_and_containers_are_ordered_by_instant_not_text() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path().join("root");
    std::fs::create_dir(&root).unwrap();
    for e in std::fs::read_dir(copy.path()).unwrap() {
        let p = e.unwrap().path();
        if p != root {
            std::fs::rename(&p, root.join(p.file_name().unwrap())).unwrap();
        }
    }
    // Three images, the last of them the newest of the fixture: text order would
    // put it first again.
    let picked = ["04fdce645c29", "313e90bf53df", "d5f05a004394"];
    let all_ids = std::fs::read_dir(root.join("image/overlay2/imagedb/content/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<Vec<_>>();
    let mut edited = Vec::new();
    for (short, t) in picked.iter().zip(IMAGE_TIMES) {
        let id = all_ids.iter().find(|i| i.starts_with(short)).expect(short).clone();
        edited.push(format!("sha256:{}", set_image_created(&root, &id, t)));
    }
    let mut ctrs = ids(&run_json(&root, &["containers"]), "id");
    ctrs.sort();
    for (id, t) in ctrs.iter().zip(TIMES) {
        let p = root.join("containers").join(id).join("config.v2.json");
        let mut c: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        c["Created"] = t.into();
        std::fs::write(&p, serde_json::to_vec(&c).unwrap()).unwrap();
    }

    // Newest first: [2], [1], [0]; every other image is newer.
    let want_images: Vec<String> = edited.iter().rev().cloned().collect();
    let want_ctrs: Vec<String> = ctrs.iter().rev().cloned().collect();
    let images = ids(&run_json(&root, &["images"]), "id");
    assert_eq!(images[images.len() - 3..], want_images[..], "strata images");
    let (_, report) = crate::support::audit::audit(&root, &["--metadata-only"]);
    let audit_images = ids(&report["images"], "id");
    assert_eq!(audit_images[audit_images.len() - 3..], want_images[..], "audit images");
    assert_eq!(ids(&run_json(&root, &["containers"]), "id"), want_ctrs, "strata containers");
    assert_eq!(ids(&report["containers"], "id"), want_ctrs, "audit containers");

    // The engine, on the same copy, agrees.
    let run_dir = copy.path().join("run");
    let engine = match LiveEngine::start(&root, &run_dir, &EngineOptions::default()) {
        Ok(e) => e,
        Err(why) => return skip(&format!("no dockerd could start here: {why}")),
    };
    let live_images = ids(&engine.api("/images/json?all=1"), "Id");
    assert_eq!(order_of(&live_images, &edited), want_images, "dockerd's image order");
    let live_ctrs = ids(&engine.api("/containers/json?all=1"), "Id");
    assert_eq!(live_ctrs, want_ctrs, "dockerd's container order");
}
