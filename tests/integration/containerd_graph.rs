//! Every command on Docker's containerd image store, checked against the engine's
//! own recorded answers: Docker 26.1 with its own containerd under the data-root
//! (`containerd-store`), and Docker 28.5 with containerd 2.1 as a separate service
//! whose root lies beside the data-root (`containerd-sid`, Docker 29's layout).
//! Then copies damaged the ways a responder meets: an edited snapshot file, a file
//! planted in a new directory, an edited config blob, a missing layer blob, a
//! truncated meta.db.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A fixture laid out as its host had it; returns the data-root to pass.
pub(crate) fn host(name: &str) -> PathBuf {
    let data = data_root(name);
    if name != "containerd-sid" {
        return data;
    }
    // The containerd root sits beside the data-root, as /var/lib/containerd beside
    // /var/lib/docker: strata must find it there by itself.
    let lib = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures/containerd-sid-host/var/lib");
    if !lib.join("containerd").exists() {
        std::fs::create_dir_all(&lib).unwrap();
        let staged = tempfile::tempdir_in(&lib).unwrap();
        std::fs::rename(copy_tree(&data).keep(), staged.path().join("docker")).unwrap();
        std::fs::rename(copy_tree(&extracted(name, "containerd-root.tar.gz")).keep(), staged.path().join("containerd")).unwrap();
        // Another test process may have won the race; either copy is the same.
        let _ = std::fs::rename(staged.path().join("docker"), lib.join("docker"));
        let _ = std::fs::rename(staged.path().join("containerd"), lib.join("containerd"));
    }
    lib.join("docker")
}

fn json(args: &[&str], root: &Path) -> Value {
    let out = strata().arg("--root").arg(root).args(args).args(["--format", "json"]).output().unwrap();
    assert!(out.status.code() != Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

const FIXTURES: &[&str] = &["containerd-store", "containerd-sid"];

#[test]
fn images_equal_the_engines_answers() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        let mine: BTreeMap<String, Value> =
            json(&["images"], &root).as_array().unwrap().iter().map(|i| (i["id"].as_str().unwrap().to_owned(), i.clone())).collect();
        let api = read_json(&answers(name).join("api-images.json"));
        assert_eq!(mine.len(), api.as_array().unwrap().len(), "{name}: image count");
        for want in api.as_array().unwrap() {
            let id = want["Id"].as_str().unwrap();
            let got = mine.get(id).unwrap_or_else(|| panic!("{name}: image {id} missing"));
            assert_eq!(got["size"], want["Size"], "{name} {id}: Size");
            assert_eq!(
                got["repo_tags"].as_array().unwrap(),
                &want["RepoTags"].as_array().cloned().unwrap_or_default(),
                "{name} {id}: RepoTags"
            );
            assert_eq!(
                got["repo_digests"].as_array().unwrap(),
                &want["RepoDigests"].as_array().cloned().unwrap_or_default(),
                "{name} {id}: RepoDigests"
            );
            let parent = want["ParentId"].as_str().unwrap();
            assert_eq!(got["parent"].as_str().unwrap_or(""), parent, "{name} {id}: ParentId");
        }
        // SharedSize and Containers as /system/df counts them (intermediates unlisted).
        let df = read_json(&answers(name).join("api-system-df.json"));
        for want in df["Images"].as_array().unwrap() {
            let got = &mine[want["Id"].as_str().unwrap()];
            assert_eq!(got["shared_size"], want["SharedSize"], "{name}: SharedSize of {}", want["Id"]);
            assert_eq!(got["containers"], want["Containers"], "{name}: Containers of {}", want["Id"]);
        }
        // DiffIDs equal RootFS.Layers of image inspect.
        for want in read_json(&answers(name).join("image-inspect.json")).as_array().unwrap() {
            let got = &mine[want["Id"].as_str().unwrap()];
            assert_eq!(got["diff_ids"], want["RootFS"]["Layers"], "{name}: DiffIDs of {}", want["Id"]);
        }
    }
}

#[test]
fn containers_and_their_sizes_equal_the_engines_answers() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        let mine: BTreeMap<String, Value> =
            json(&["containers"], &root).as_array().unwrap().iter().map(|c| (c["id"].as_str().unwrap().to_owned(), c.clone())).collect();
        for want in read_json(&answers(name).join("container-inspect.json")).as_array().unwrap() {
            let id = want["Id"].as_str().unwrap();
            let got = &mine[id];
            assert_eq!(got["image"], want["Image"], "{name} {id}: Image");
            assert_eq!(got["name"].as_str().unwrap(), want["Name"].as_str().unwrap().trim_start_matches('/'), "{name} {id}: Name");
            assert_eq!(got["driver"], want["Driver"], "{name} {id}: Driver");
            assert_eq!(got["rw_size"], want["SizeRw"], "{name} {id}: SizeRw");
            assert_eq!(got["rootfs_size"], want["SizeRootFs"], "{name} {id}: SizeRootFs");
        }
    }
}

#[test]
fn history_equals_the_engines_answers() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        for entry in std::fs::read_dir(answers(name).join("history")).unwrap() {
            let p = entry.unwrap().path();
            let file = p.file_name().unwrap().to_str().unwrap().to_owned();
            let Some(hex) = file.strip_suffix(".api.json") else { continue };
            let want = read_json(&p);
            let got = json(&["history", &format!("sha256:{hex}")], &root);
            let got = got.as_array().unwrap();
            let want = want.as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name} {hex}: steps");
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g["created_by"].as_str().unwrap_or(""), w["CreatedBy"].as_str().unwrap(), "{name} {hex}");
                assert_eq!(g["comment"].as_str().unwrap_or(""), w["Comment"].as_str().unwrap(), "{name} {hex}");
            }
        }
    }
}

#[test]
fn verify_is_clean_and_audit_finds_no_error() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        let v = json(&["verify"], &root);
        for l in v["layers"].as_array().unwrap() {
            assert_eq!(l["status"], "verified", "{name}: {l}");
        }
        for i in v["images"].as_array().unwrap() {
            assert_eq!(i["status"], "verified", "{name}: {i}");
        }
        let a = json(&["audit"], &root);
        let errors: Vec<&Value> = a["findings"].as_array().unwrap().iter().filter(|f| f["severity"] != "info").collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

fn damaged(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let src = host(name);
    let top = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let lib = top.path().join("var/lib");
    std::fs::create_dir_all(&lib).unwrap();
    let data = copy_tree(&std::fs::canonicalize(&src).unwrap());
    std::fs::rename(data.keep(), lib.join("docker")).unwrap();
    let ctd_src = if name == "containerd-sid" { src.parent().unwrap().join("containerd") } else { src.join("containerd/daemon") };
    let ctd = if name == "containerd-sid" { lib.join("containerd") } else { lib.join("docker/containerd/daemon") };
    if name == "containerd-sid" {
        std::fs::rename(copy_tree(&ctd_src).keep(), &ctd).unwrap();
    }
    (top, lib.join("docker"), ctd)
}

fn findings(args: &[&str], root: &Path) -> Vec<Value> {
    json(args, root)["findings"].as_array().unwrap().clone()
}

fn has(f: &[Value], code: &str, needle: &str) -> bool {
    f.iter().any(|x| x["code"] == code && x.to_string().contains(needle))
}

#[test]
fn tampered_copies_are_each_reported_by_path_or_digest() {
    require_root!();
    let name = "containerd-sid";
    let (_keep, root, ctd) = damaged(name);
    let g = json(&["layers"], &root);
    // The app image's top layer snapshot holds /opt/app; pick a layer with a regular file.
    let snaps = ctd.join("io.containerd.snapshotter.v1.overlayfs/snapshots");
    let base = g.as_array().unwrap().iter().find(|l| l["parent"].is_null() && l["size"].as_i64().unwrap_or(0) > 1_000_000).unwrap();
    let dir = snaps.join(base["cache_id"].as_str().unwrap()).join("fs");
    // 1. An edited file.
    std::fs::write(dir.join("etc/passwd"), b"root::0:0::/root:/bin/sh\nevil::0:0::/:/bin/sh\n").unwrap();
    // 2. A file planted in a new directory.
    std::fs::create_dir_all(dir.join("usr/share/planted")).unwrap();
    std::fs::write(dir.join("usr/share/planted/backdoor"), b"#!/bin/sh\n").unwrap();
    let f = findings(&["verify"], &root);
    assert!(has(&f, "layer-file-modified", "etc/passwd"), "{f:#?}");
    assert!(has(&f, "layer-file-added", "usr/share/planted/backdoor"), "{f:#?}");
    assert!(has(&f, "diff-id-mismatch", ""), "{f:#?}");

    // 3. An edited config blob.
    let images = json(&["images"], &root);
    let app = images.as_array().unwrap().iter().find(|i| i["repo_tags"].to_string().contains("strata/app:1")).unwrap();
    let inspect = json(&["inspect", app["id"].as_str().unwrap()], &root);
    let config = inspect["containerd"]["config"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let blobs = ctd.join("io.containerd.content.v1.content/blobs/sha256");
    let cfg = blobs.join(&config);
    let mut bytes = std::fs::read(&cfg).unwrap();
    let pos = bytes.iter().position(|&b| b == b'{').unwrap();
    bytes.insert(pos + 1, b' ');
    std::fs::write(&cfg, bytes).unwrap();
    // 4. A missing layer blob (the scratch image's only layer).
    let scratch = images.as_array().unwrap().iter().find(|i| i["repo_tags"].to_string().contains("strata/scratch:1")).unwrap();
    let top = scratch["top_layer"].as_str().unwrap();
    let layer = json(&["inspect", top], &root);
    let blob = layer["containerd"]["blob"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    std::fs::remove_file(blobs.join(&blob)).unwrap();
    let f = findings(&["verify"], &root);
    assert!(has(&f, "content-blob-mismatch", &config), "config blob edit: {f:#?}");
    assert!(has(&f, "content-blob-missing", &blob), "layer blob removed: {f:#?}");
    let out = strata().arg("--root").arg(&root).arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    // 5. A truncated meta.db: a finding naming it, and the report still comes out.
    let meta = ctd.join("io.containerd.metadata.v1.bolt/meta.db");
    let len = std::fs::metadata(&meta).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&meta).unwrap();
    file.set_len(len / 3).unwrap();
    let out = strata().arg("--root").arg(&root).args(["audit", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(a["findings"].to_string().contains("meta.db"), "{a:#}");
}

/// `strata df` equals `/system/df`: LayersSize (snapshots only on 26.1, snapshots
/// plus image content from 28.2), and each container's SizeRw.
#[test]
fn df_equals_system_df() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        let mine = json(&["df"], &root);
        let want = read_json(&answers(name).join("api-system-df.json"));
        assert_eq!(mine["layers_size"], want["LayersSize"], "{name}: LayersSize");
        let sizes: BTreeMap<String, Value> =
            mine["containers"].as_array().unwrap().iter().map(|c| (c["id"].as_str().unwrap().to_owned(), c["rw_size"].clone())).collect();
        for c in want["Containers"].as_array().unwrap() {
            assert_eq!(sizes[c["Id"].as_str().unwrap()], c["SizeRw"], "{name}: SizeRw of {}", c["Id"]);
        }
        let listed: Vec<&str> = mine["images"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
        let mut want_ids: Vec<&str> = want["Images"].as_array().unwrap().iter().map(|i| i["Id"].as_str().unwrap()).collect();
        let mut got = listed.clone();
        got.sort();
        want_ids.sort();
        assert_eq!(got, want_ids, "{name}: the images /system/df lists");
    }
}

/// `GraphDriver` as `docker inspect` reports it on this store: the snapshotter's
/// name and no paths.
#[test]
fn inspect_graph_driver_equals_docker() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        for want in read_json(&answers(name).join("container-inspect.json")).as_array().unwrap() {
            let got = json(&["inspect", want["Id"].as_str().unwrap()], &root);
            assert_eq!(got["graph_driver"]["name"], want["GraphDriver"]["Name"], "{name}");
            assert_eq!(got["graph_driver"]["data"], want["GraphDriver"]["Data"], "{name}");
        }
    }
}
