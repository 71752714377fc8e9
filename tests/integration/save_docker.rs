//! `strata save` against a real engine: `docker load` of strata's archive of each
//! fixture gives the image IDs, tags and `RootFS.Layers` the engine that wrote the
//! fixture recorded; a damaged layer stops the save, `--allow-mismatch` records it.

use crate::support::engine::{EngineOptions, LiveEngine};
use crate::support::{answers, data_root, read_json, run};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The fixture's images as its engine answered `docker image inspect`: tagged ones, and
/// the dangling one (saved by ID).
fn recorded(fixture: &str) -> Vec<serde_json::Value> {
    let all = read_json(&answers(fixture).join("image-inspect.json"));
    all.as_array().unwrap().clone()
}

fn tags(img: &serde_json::Value) -> Vec<String> {
    let mut t: Vec<String> = img["RepoTags"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    t.sort();
    t
}

fn layers(img: &serde_json::Value) -> Vec<String> {
    img["RootFS"]["Layers"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// A 20.10 engine on an empty data-root, in a private directory.
fn empty_engine(dir: &Path) -> Option<LiveEngine> {
    match LiveEngine::start(&dir.join("root"), &dir.join("run"), &EngineOptions::default()) {
        Ok(e) => Some(e),
        Err(why) => {
            crate::support::skip(&format!("no dockerd could start here: {why}"));
            None
        }
    }
}

/// What the engine's image ID is once the archive is loaded into a graphdriver
/// engine: the recorded ID for a graphdriver fixture; for a containerd-store fixture
/// (whose IDs are manifest digests), the config digest its manifest names, read from
/// the fixture's content store.
fn loaded_id(fixture: &str, img: &serde_json::Value) -> String {
    let id = img["Id"].as_str().unwrap().to_owned();
    let blob = data_root(fixture)
        .join("containerd/daemon/io.containerd.content.v1.content/blobs/sha256")
        .join(id.trim_start_matches("sha256:"));
    if !blob.exists() {
        return id;
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    manifest["config"]["digest"].as_str().unwrap().to_owned()
}

fn save_loads_with_the_recorded_ids(fixture: &str) {
    require_root!();
    let root = data_root(fixture);
    let images = recorded(fixture);
    // Every tag, plus one untagged image by ID (saved without a name).
    let mut refs: Vec<String> = images.iter().flat_map(tags).collect();
    let untagged = images.iter().find(|i| tags(i).is_empty()).map(|i| i["Id"].as_str().unwrap());
    refs.extend(untagged.map(str::to_owned));
    let dir = tempfile::Builder::new()
        .prefix("strata-save-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let tar = dir.path().join("images.tar");
    let mut args = vec!["save", "-o", tar.to_str().unwrap()];
    args.extend(refs.iter().map(String::as_str));
    let (code, _, err) = run(&root, &args);
    assert_eq!(code, 0, "strata save of {fixture}: {err}");
    assert!(err.contains("every layer matches its DiffID"), "{err}");

    let Some(engine) = empty_engine(dir.path()) else { return };
    engine.docker_ok(&["load", "-i", tar.to_str().unwrap()]);
    for img in
        images.iter().filter(|i| !tags(i).is_empty() || Some(i["Id"].as_str().unwrap()) == untagged)
    {
        let id = loaded_id(fixture, img);
        let got: serde_json::Value =
            serde_json::from_str(&engine.docker_ok(&["image", "inspect", &id])).unwrap();
        let got = &got[0];
        assert_eq!(got["Id"].as_str().unwrap(), id, "{fixture}: image ID after docker load");
        assert_eq!(tags(got), tags(img), "{fixture} {id}: tags after docker load");
        assert_eq!(layers(got), layers(img), "{fixture} {id}: RootFS.Layers after docker load");
    }
}

#[test]
fn save_of_basic_loads_with_the_same_ids_tags_and_layers() {
    save_loads_with_the_recorded_ids("basic");
}

#[test]
fn save_of_trixie26_loads_with_the_same_ids_tags_and_layers() {
    save_loads_with_the_recorded_ids("trixie26");
}

/// The containerd store's layers go out as their compressed content blobs; a 20.10
/// graphdriver engine loads them and gets the same DiffIDs and the config's ID.
#[test]
fn save_of_the_containerd_store_loads_into_a_20_10_engine() {
    save_loads_with_the_recorded_ids("containerd-store");
}

/// The entries of a tar, by path: content.
fn tar_files(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(p, data);
    }
    out
}

/// A file of strata/base:1.0's only layer changed on disk: the save stops with the
/// finding naming it and leaves no file; with --allow-mismatch the layer is written
/// as it is on disk, named by its own hash, and index.json records the mismatch.
#[test]
fn a_damaged_layer_stops_the_save_and_allow_mismatch_records_it() {
    require_root!();
    let copy = crate::support::copy_tree(&data_root("basic"));
    let base = "95c4611a1fd024880008111c8c43d4bb145e4d3529d903cf7f4ead1d649d91d7";
    let file = copy.path().join("overlay2").join(base).join("diff/etc/base-config");
    // Same size (14 bytes), so the rebuilt layer is still a well-formed tar.
    std::fs::write(&file, b"tampered-conf\n").unwrap();
    let out = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let tar = out.path().join("base.tar");

    let (code, _, err) =
        run(copy.path(), &["save", "strata/base:1.0", "-o", tar.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not match its DiffID"), "{err}");
    assert!(err.contains("etc/base-config"), "the finding names the file: {err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing left behind");

    let (code, _, err) = run(
        copy.path(),
        &["save", "strata/base:1.0", "--allow-mismatch", "-o", tar.to_str().unwrap()],
    );
    assert_eq!(code, 1, "a recorded mismatch is still a finding: {err}");
    let files = tar_files(&tar);
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let ann = &index["manifests"][0]["annotations"];
    let note = ann["dev.strata.diffid-mismatch.0"].as_str().unwrap_or_else(|| panic!("{index}"));
    let recorded = std::fs::read_to_string(
        copy.path().join("image/overlay2/layerdb/sha256/1fdf11d2dd4ffb8176fa80c2f0720746e7986c98a66e443f6a824dc2d6f0d684/diff"),
    )
    .unwrap();
    assert!(note.contains(recorded.trim()), "{note}");
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layer = manifest[0]["Layers"][0].as_str().unwrap();
    let blob = &files[layer];
    let hash = hex::encode(Sha256::digest(blob));
    assert_eq!(layer, format!("blobs/sha256/{hash}"), "the blob is named by its own bytes");
    assert_ne!(format!("sha256:{hash}"), recorded.trim());
    // The layer holds the file as it is on disk.
    let mut inner = tar::Archive::new(&blob[..]);
    let tampered = inner
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        // `docker import` names members `./etc/...`.
        .find(|e| {
            e.path_bytes().strip_prefix(b"./").unwrap_or(&e.path_bytes()) == b"etc/base-config"
        })
        .map(|mut e| {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            s
        });
    assert_eq!(tampered.as_deref(), Some("tampered-conf\n"));
}

/// `-o` inside the data-root is refused; `-o -` writes the archive to stdout.
#[test]
fn save_refuses_the_data_root_and_writes_stdout() {
    require_root!();
    let root = data_root("basic");
    let inside = root.join("strata.tar");
    let (code, _, err) = run(&root, &["save", "strata/scratch:1", "-o", inside.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("refusing to write"), "{err}");
    assert!(!inside.exists());
    let out = crate::support::strata()
        .arg("--root")
        .arg(&root)
        .args(["save", "strata/scratch:1", "-o", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    for want in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
}
