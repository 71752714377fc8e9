//! Registry cross-links: what the audit reports equals what v2metadata and the
//! registry's storage directory hold, and damage to either is found.

use crate::support;
use crate::support::audit::{above_info, audit, with_code};
use crate::support::{copy_tree, data_root, extracted, GRAPHDRIVER_FIXTURES};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn registry(name: &str) -> PathBuf {
    extracted(name, "registry.tar.gz")
}

fn v2(reg: &Path) -> PathBuf {
    reg.join("docker/registry/v2")
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn blob_path(reg: &Path, hex: &str) -> PathBuf {
    v2(reg).join("blobs/sha256").join(&hex[..2]).join(hex).join("data")
}

fn put_blob(reg: &Path, bytes: &[u8]) -> String {
    let hex = sha(bytes);
    let p = blob_path(reg, &hex);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
    hex
}

fn link(dir: &Path, hex: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("link"), format!("sha256:{hex}")).unwrap();
}

fn one<'a>(r: &'a Value, code: &str) -> &'a Value {
    let v = with_code(r, code);
    assert_eq!(v.len(), 1, "expected one {code}: {:#?}", r["findings"]);
    v[0]
}

#[test]
fn cross_links_equal_v2metadata_and_repositories_json() {
    require_root!();
    for name in GRAPHDRIVER_FIXTURES {
        let root = data_root(name);
        let (_, r) = audit(&root, &["--metadata-only"]);
        let img = support::store_dir(&root).join("image").join(r["driver"].as_str().unwrap());

        // v2metadata on disk, by DiffID.
        let mut want: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
        // (A store that never pulled or pushed has no distribution directory.)
        for e in
            fs::read_dir(img.join("distribution/v2metadata-by-diffid/sha256")).into_iter().flatten()
        {
            let e = e.unwrap();
            let v: Value = serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
            let entries = v.as_array().unwrap().iter().map(|m| {
                (
                    m["Digest"].as_str().unwrap().to_owned(),
                    m["SourceRepository"].as_str().unwrap().to_owned(),
                    !m["HMAC"].as_str().unwrap().is_empty(),
                )
            });
            want.insert(format!("sha256:{}", e.file_name().to_string_lossy()), entries.collect());
        }
        let mut got: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
        for l in r["cross_links"]["layers"].as_array().unwrap() {
            let blobs = l["blobs"].as_array().unwrap();
            for b in blobs {
                assert_eq!(b["maps_back"], true, "{name}: {b}");
                // The fixtures push without credentials: every HMAC is the anonymous one.
                assert!(b["hmac"] == "empty" || b["hmac"] == "anonymous", "{name}: {b}");
            }
            let v = blobs
                .iter()
                .map(|b| {
                    (
                        b["digest"].as_str().unwrap().to_owned(),
                        b["source_repository"].as_str().unwrap().to_owned(),
                        b["hmac"] != "empty",
                    )
                })
                .collect();
            got.insert(l["diff_id"].as_str().unwrap().to_owned(), v);
        }
        let pushed = want.values().flatten().any(|e| e.2);
        assert_eq!(got, want, "{name}: blob digests and repositories per layer");
        assert!(
            !pushed
                || r["cross_links"]["layers"].as_array().unwrap().iter().any(|l| l["blobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b["hmac"] == "anonymous")),
            "{name}: pushes are recognised"
        );

        // Repo digests per image, from repositories.json.
        let repos = support::read_json(&img.join("repositories.json"));
        let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for refs in repos["Repositories"].as_object().unwrap().values() {
            for (k, v) in refs.as_object().unwrap() {
                if k.contains('@') {
                    want.entry(v.as_str().unwrap().to_owned()).or_default().insert(k.clone());
                }
            }
        }
        let got: BTreeMap<String, BTreeSet<String>> = r["cross_links"]["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_owned(),
                    i["repo_digests"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}: repo digests");
    }
}

#[test]
fn registry_storage_agrees_with_the_local_store() {
    require_root!();
    for name in GRAPHDRIVER_FIXTURES {
        let reg = registry(name);
        let (code, r) =
            audit(&data_root(name), &["--metadata-only", "--registry-root", reg.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}");
        assert!(above_info(&r).is_empty(), "{name}: {:#?}", above_info(&r));
        let rr = &r["cross_links"]["registry"];

        // Tags as the link files hold them.
        let mut want: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let repos = v2(&reg).join("repositories");
        for m in walkdir::WalkDir::new(&repos)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_name() == "_manifests")
        {
            let repo = m.path().parent().unwrap();
            let name = repo.strip_prefix(&repos).unwrap().to_string_lossy().into_owned();
            for tag in fs::read_dir(m.path().join("tags")).unwrap() {
                let tag = tag.unwrap();
                let d = fs::read_to_string(tag.path().join("current/link")).unwrap();
                want.entry(name.clone())
                    .or_default()
                    .insert(tag.file_name().to_string_lossy().into_owned(), d.trim().to_owned());
            }
        }
        let got: BTreeMap<String, BTreeMap<String, String>> = rr["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    serde_json::from_value(r["tags"].clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}: tags");

        // Every blob verified, none unreferenced.
        let count = walkdir::WalkDir::new(v2(&reg).join("blobs"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_name() == "data")
            .count();
        assert_eq!(rr["blobs"]["count"], count);
        assert_eq!(rr["blobs"]["verified"], count);
        assert_eq!(rr["blobs"]["unreferenced"], json!([]));

        // Every local repo digest found and verified; manifests are schema2.
        let checks = rr["repo_digests"].as_array().unwrap();
        assert_eq!(
            checks.len(),
            r["cross_links"]["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["repo_digests"].as_array().unwrap().len())
                .sum::<usize>()
        );
        assert!(checks.iter().all(|c| c["status"] == "verified"), "{name}: {checks:#?}");
        for m in rr["manifests"].as_array().unwrap() {
            assert_eq!(m["kind"], "manifest");
            assert_eq!(m["media_type"], "application/vnd.docker.distribution.manifest.v2+json");
            // Config digest = a local image ID.
            assert!(r["images"].as_array().unwrap().iter().any(|i| i["id"] == m["config"]), "{m}");
        }
    }
}

/// A copy of `basic`'s registry and its manifest for strata/app:1.
fn basic_registry_copy() -> (tempfile::TempDir, String, Value) {
    let t = copy_tree(&registry("basic"));
    let cur = fs::read_to_string(
        v2(t.path()).join("repositories/strata/app/_manifests/tags/1/current/link"),
    )
    .unwrap();
    let hex = cur.trim().trim_start_matches("sha256:").to_owned();
    let m: Value = serde_json::from_slice(&fs::read(blob_path(t.path(), &hex)).unwrap()).unwrap();
    (t, hex, m)
}

fn audit_with(reg: &Path, root: &Path) -> (i32, Value) {
    audit(root, &["--metadata-only", "--registry-root", reg.to_str().unwrap()])
}

#[test]
fn damaged_and_unreferenced_blobs() {
    require_root!();
    let (t, _, m) = basic_registry_copy();
    let layer = m["layers"][1]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let gone = m["layers"][2]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let p = blob_path(t.path(), &layer);
    let mut bytes = fs::read(&p).unwrap();
    bytes.push(0);
    fs::write(&p, bytes).unwrap();
    fs::remove_file(blob_path(t.path(), &gone)).unwrap();
    let planted = put_blob(t.path(), b"nobody refers to me");

    let (code, r) = audit_with(t.path(), &data_root("basic"));
    assert_eq!(code, 1);
    let f = one(&r, "registry-blob-mismatch");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], format!("docker/registry/v2/blobs/sha256/{}/{layer}/data", &layer[..2]));
    let f = one(&r, "registry-blob-missing");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], format!("docker/registry/v2/blobs/sha256/{}/{gone}/data", &gone[..2]));
    let f = one(&r, "registry-blob-unreferenced");
    assert_eq!(f["severity"], "info");
    assert_eq!(
        r["cross_links"]["registry"]["blobs"]["unreferenced"],
        json!([format!("sha256:{planted}")])
    );
    let app = r["cross_links"]["registry"]["repo_digests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["repository"] == "strata/app")
        .unwrap()
        .clone();
    assert_eq!(app["status"], "mismatch");
}

#[test]
fn manifest_whose_config_is_another_image() {
    require_root!();
    let (t, hex, mut m) = basic_registry_copy();
    // Rewrite the manifest in place under its old name: its bytes no longer match.
    m["config"]["digest"] =
        json!("sha256:ac3dcaf9ea56a565f0d63203f30b51e6d4ab98e707bec4e9220b02977ec7965d");
    fs::write(blob_path(t.path(), &hex), serde_json::to_vec(&m).unwrap()).unwrap();
    let (_, r) = audit_with(t.path(), &data_root("basic"));
    assert_eq!(one(&r, "registry-blob-mismatch")["severity"], "error");
    let f = one(&r, "registry-manifest-mismatch");
    assert_eq!(f["severity"], "error");
    assert_eq!(
        f["image"],
        "sha256:a2294ef851df08d788877543d1fd914d7ff6b93182fbcc7422d277db2078c853"
    );
    assert_eq!(f["subject"], format!("127.0.0.1:5000/strata/app@sha256:{hex}"));
}

#[test]
fn oci_index_and_schema1_manifests() {
    require_root!();
    let (t, hex, m) = basic_registry_copy();
    let size = fs::read(blob_path(t.path(), &hex)).unwrap().len();
    // An OCI index over the app manifest, pushed as a new revision of strata/app.
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": m["mediaType"], "digest": format!("sha256:{hex}"), "size": size,
                       "platform": {"architecture": "amd64", "os": "linux"}}]});
    let ihex = put_blob(t.path(), serde_json::to_string(&index).unwrap().as_bytes());
    link(
        &v2(t.path()).join("repositories/strata/app/_manifests/revisions/sha256").join(&ihex),
        &ihex,
    );
    link(&v2(t.path()).join("repositories/strata/app/_manifests/tags/multi/current"), &ihex);
    // A schema1 manifest under another tag.
    let s1 = json!({"schemaVersion": 1, "name": "strata/app", "tag": "old", "architecture": "amd64", "fsLayers": [], "history": []});
    let s1hex = put_blob(t.path(), serde_json::to_string(&s1).unwrap().as_bytes());
    link(
        &v2(t.path()).join("repositories/strata/app/_manifests/revisions/sha256").join(&s1hex),
        &s1hex,
    );

    // The local store knows the image by the index digest too (a multi-arch pull).
    let root = copy_tree(&data_root("basic"));
    let rj = root.path().join("image/overlay2/repositories.json");
    let mut repos: Value = serde_json::from_slice(&fs::read(&rj).unwrap()).unwrap();
    repos["Repositories"]["127.0.0.1:5000/strata/app"]
        [format!("127.0.0.1:5000/strata/app@sha256:{ihex}")] =
        json!("sha256:a2294ef851df08d788877543d1fd914d7ff6b93182fbcc7422d277db2078c853");
    fs::write(&rj, serde_json::to_vec(&repos).unwrap()).unwrap();

    let (code, r) = audit_with(t.path(), root.path());
    assert_eq!(code, 0, "{:#?}", above_info(&r));
    assert!(above_info(&r).is_empty(), "{:#?}", above_info(&r));
    assert_eq!(one(&r, "registry-legacy-manifest")["severity"], "info");
    let rr = &r["cross_links"]["registry"];
    let idx = rr["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == format!("sha256:{ihex}"))
        .unwrap();
    assert_eq!(idx["kind"], "index");
    let check = rr["repo_digests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["digest"] == format!("sha256:{ihex}"))
        .unwrap();
    assert_eq!(check["status"], "verified");
}

#[test]
fn registry_layer_unknown_to_local_v2metadata() {
    require_root!();
    let reg = registry("basic");
    let root = copy_tree(&data_root("basic"));
    // Forget the blob of strata/app's layer 1 (DiffID d1abc7141237...) locally.
    let f = root
        .path()
        .join("image/overlay2/distribution/v2metadata-by-diffid/sha256/d1abc7141237b7ff7bb0226e3bb943753671593ed99cfb2621a5407d7774597b");
    fs::write(&f, "[]").unwrap();
    let (_, r) = audit_with(&reg, root.path());
    let v = with_code(&r, "registry-layer-mismatch");
    assert_eq!(v.len(), 1, "{:#?}", r["findings"]);
    assert_eq!(v[0]["severity"], "warning");
    assert_eq!(
        v[0]["image"],
        "sha256:a2294ef851df08d788877543d1fd914d7ff6b93182fbcc7422d277db2078c853"
    );
    // And the local maps no longer agree.
    assert_eq!(with_code(&r, "distribution-map-inconsistent").len(), 1);
}
