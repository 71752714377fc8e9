//! `strata verify` end to end on tampered copies of real fixtures: each kind of damage
//! gives its exact finding (code, layer, path) and the exit status scripts rely on.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A layer of the `basic` fixture, located by what `layer-facts.json` (written by the
/// fixture script from the disk, not by strata) says it holds.
struct FactLayer {
    chain_id: String,
    cache_id: String,
}

fn layer_where(pred: impl Fn(&Value) -> bool) -> FactLayer {
    let facts = read_json(&repo().join("fixtures/basic/layer-facts.json"));
    let (chain, l) =
        facts["layers"].as_object().unwrap().iter().find(|(_, l)| pred(l)).expect("fixture layer");
    FactLayer { chain_id: chain.clone(), cache_id: l["cache_id"].as_str().unwrap().to_owned() }
}

/// The layer holding `opt/app/one.txt` (and its hardlink).
fn one_txt_layer() -> FactLayer {
    layer_where(|l| l["hardlinks"].to_string().contains("opt/app/one.txt"))
}

fn app_id() -> String {
    read_json(&repo().join("fixtures/basic/ids.json"))["images"]["strata/app:1"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn diff_dir(root: &Path, l: &FactLayer) -> PathBuf {
    root.join("overlay2").join(&l.cache_id).join("diff")
}

fn layerdb(root: &Path, chain: &str) -> PathBuf {
    root.join("image/overlay2/layerdb/sha256").join(chain.trim_start_matches("sha256:"))
}

fn verify(root: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = run(root, &args);
    assert!(!err.contains("panicked"), "{err}");
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}\n{err}"));
    (code, v)
}

fn findings<'a>(v: &'a Value, code: &str) -> Vec<&'a Value> {
    v["findings"].as_array().unwrap().iter().filter(|f| f["code"] == code).collect()
}

/// Asserts exactly the finding asked for is there, at the given severity.
fn assert_finding(v: &Value, code: &str, layer: Option<&str>, path: Option<&str>, severity: &str) {
    let hit = findings(v, code)
        .into_iter()
        .find(|f| layer.is_none_or(|l| f["layer"] == l) && path.is_none_or(|p| f["path"] == p));
    let hit = hit.unwrap_or_else(|| {
        panic!("no {code} finding for layer {layer:?} path {path:?} in {:#}", v["findings"])
    });
    assert_eq!(hit["severity"], severity, "{hit}");
}

fn layer_status<'a>(v: &'a Value, chain: &str) -> &'a str {
    v["layers"].as_array().unwrap().iter().find(|l| l["chain_id"] == chain).unwrap()["status"]
        .as_str()
        .unwrap()
}

#[test]
fn clean_fixtures_verify_with_nothing_above_info() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        let root = data_root(fx);
        let (code, v) = verify(&root, &[]);
        assert_eq!(code, 0, "{fx}: {:#}", v["findings"]);
        let layers = v["layers"].as_array().unwrap();
        assert!(!layers.is_empty());
        for l in layers {
            assert_eq!(l["status"], "verified", "{fx}: {l}");
            assert_eq!(l["computed_diff_id"], l["diff_id"], "{fx}: {l}");
        }
        for i in v["images"].as_array().unwrap() {
            assert_eq!(i["status"], "verified", "{fx}: {i}");
        }
        for f in v["findings"].as_array().unwrap() {
            assert_eq!(f["severity"], "info", "{fx}: {f}");
        }
        // Quick mode checks the same layers without hashing.
        let (code, v) = verify(&root, &["--quick"]);
        assert_eq!(code, 0, "{fx} --quick: {:#}", v["findings"]);
        assert!(v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "checked" && l["computed_diff_id"].is_null()));
    }
}

#[test]
fn same_size_edit_is_pinpointed() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let l = one_txt_layer();
    let f = diff_dir(t.path(), &l).join("opt/app/two.txt");
    let before = std::fs::read(&f).unwrap();
    let mut after = before.clone();
    after[0] ^= 0x20;
    std::fs::write(&f, &after).unwrap();
    let (code, v) = verify(t.path(), &[]);
    assert_eq!(code, 1);
    assert_finding(&v, "layer-file-modified", Some(&l.chain_id), Some("opt/app/two.txt"), "error");
    assert_finding(&v, "diff-id-mismatch", Some(&l.chain_id), None, "error");
    assert_eq!(layer_status(&v, &l.chain_id), "mismatch");
    let app = app_id();
    let img = v["images"].as_array().unwrap().iter().find(|i| i["id"] == app.as_str()).unwrap();
    assert_eq!(img["status"], "mismatch");
    // Verifying just that image finds the same file; another image is untouched.
    let (code, v) = verify(t.path(), &["strata/app:1"]);
    assert_eq!(code, 1);
    assert_finding(&v, "layer-file-modified", Some(&l.chain_id), Some("opt/app/two.txt"), "error");
    let (code, _) = verify(t.path(), &["strata/scratch:1"]);
    assert_eq!(code, 0);
}

#[test]
fn planted_and_removed_files_are_named() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let l = one_txt_layer();
    std::fs::write(diff_dir(t.path(), &l).join("opt/app/planted.sh"), b"#!/bin/sh\nid\n").unwrap();
    std::fs::remove_file(diff_dir(t.path(), &l).join("opt/app/two.txt")).unwrap();
    let (code, v) = verify(t.path(), &["--layer", &l.chain_id]);
    assert_eq!(code, 1);
    assert_finding(&v, "layer-file-added", Some(&l.chain_id), Some("opt/app/planted.sh"), "error");
    assert_finding(&v, "layer-file-missing", Some(&l.chain_id), Some("opt/app/two.txt"), "error");
    // The planted file is invisible to the DiffID; only the walk finds it.
    assert_eq!(v["layers"].as_array().unwrap().len(), 1);
}

#[test]
fn edited_config_and_rewritten_diff_break_their_ids() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let app = app_id();
    let cfg = t.path().join("image/overlay2/imagedb/content/sha256").join(&app[7..]);
    let mut bytes = std::fs::read(&cfg).unwrap();
    bytes.push(b' ');
    std::fs::write(&cfg, bytes).unwrap();
    let l = one_txt_layer();
    let forged = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    std::fs::write(layerdb(t.path(), &l.chain_id).join("diff"), forged).unwrap();
    let (code, v) = verify(t.path(), &[]);
    assert_eq!(code, 1);
    let hit = findings(&v, "image-id-mismatch");
    assert!(hit.iter().any(|f| f["image"] == app.as_str()), "{:#}", v["findings"]);
    assert_finding(&v, "chain-id-mismatch", Some(&l.chain_id), None, "error");
    assert_finding(&v, "diff-id-mismatch", Some(&l.chain_id), None, "error");
}

#[test]
fn deleted_layerdb_and_driver_dirs_are_reported() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let l = one_txt_layer();
    std::fs::remove_dir_all(layerdb(t.path(), &l.chain_id)).unwrap();
    let other = layer_where(|x| x["opaque_dirs"].to_string().contains("data/old"));
    std::fs::remove_dir_all(t.path().join("overlay2").join(&other.cache_id)).unwrap();
    let (code, v) = verify(t.path(), &[]);
    assert_eq!(code, 1);
    let missing = findings(&v, "layer-missing");
    assert!(
        missing
            .iter()
            .any(|f| f["layer"] == l.chain_id.as_str() && f["image"] == app_id().as_str()),
        "{:#}",
        v["findings"]
    );
    assert_finding(&v, "layer-content-missing", Some(&other.chain_id), None, "error");
    assert_eq!(layer_status(&v, &other.chain_id), "unverifiable");
}

#[test]
fn truncated_and_escaping_tar_split_are_findings() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let l = one_txt_layer();
    let ts = layerdb(t.path(), &l.chain_id).join("tar-split.json.gz");
    let bytes = std::fs::read(&ts).unwrap();
    std::fs::write(&ts, &bytes[..bytes.len() / 2]).unwrap();
    let (code, v) = verify(t.path(), &["--layer", &l.chain_id]);
    assert_eq!(code, 1);
    assert_finding(&v, "tar-split-corrupt", Some(&l.chain_id), None, "error");
    assert_eq!(layer_status(&v, &l.chain_id), "unverifiable");

    // A name that climbs out of the layer is refused, never opened.
    let other = layer_where(|x| {
        x["files"] == 1
            && x["whiteouts"].as_array().unwrap().is_empty()
            && x["cache_id"] != l.cache_id.as_str()
    });
    let ts = layerdb(t.path(), &other.chain_id).join("tar-split.json.gz");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -dc '{p}' | sed -E 's/\"name\":\"([^\"]*)\",\"size\":([1-9])/\"name\":\"..\\/..\\/..\\/etc\\/passwd\",\"size\":\\2/' | gzip -c > '{p}.new' && mv '{p}.new' '{p}'",
            p = ts.display()
        ))
        .status()
        .unwrap();
    assert!(out.success());
    let (code, v) = verify(t.path(), &["--layer", &other.chain_id]);
    assert_eq!(code, 1);
    assert_finding(&v, "path-escape", Some(&other.chain_id), None, "error");
}

#[test]
fn symlink_to_a_fifo_outside_is_not_followed() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let outside = tempfile::tempdir().unwrap();
    let fifo = outside.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let l = one_txt_layer();
    // two.txt is a regular member; one.txt is the tar's hard link to one-hardlink.txt.
    for name in ["opt/app/two.txt", "opt/app/one.txt"] {
        let f = diff_dir(t.path(), &l).join(name);
        std::fs::remove_file(&f).unwrap();
        std::os::unix::fs::symlink(&fifo, &f).unwrap();
    }
    let start = Instant::now();
    let (code, v) = verify(t.path(), &["--layer", &l.chain_id]);
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    assert_eq!(code, 1);
    assert_finding(&v, "layer-file-modified", Some(&l.chain_id), Some("opt/app/two.txt"), "error");
    assert_finding(&v, "layer-file-modified", Some(&l.chain_id), Some("opt/app/one.txt"), "error");
}

#[test]
fn chmod_and_chown_are_warnings_not_errors() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let l = one_txt_layer();
    let f = diff_dir(t.path(), &l).join("opt/app/two.txt");
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    let g = diff_dir(t.path(), &l).join("opt/app/hello-symlink");
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &g,
        Some(nix::unistd::Uid::from_raw(4242)),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let (code, v) = verify(t.path(), &["--layer", &l.chain_id]);
    assert_eq!(code, 0, "{:#}", v["findings"]);
    assert_finding(
        &v,
        "layer-metadata-modified",
        Some(&l.chain_id),
        Some("opt/app/two.txt"),
        "warning",
    );
    assert_finding(
        &v,
        "layer-metadata-modified",
        Some(&l.chain_id),
        Some("opt/app/hello-symlink"),
        "warning",
    );
    assert_eq!(layer_status(&v, &l.chain_id), "verified");
}

#[test]
fn verify_table_and_unknown_reference() {
    require_root!();
    let root = data_root("basic");
    let (code, out, _) = run(&root, &["verify"]);
    assert_eq!(code, 0);
    assert!(out.contains("11 layers: 11 verified"), "{out}");
    let (code, _, err) = run(&root, &["verify", "nope:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("nope:1"));
}

/// `strata audit` hashes layer content by default and finds what verify finds;
/// `--metadata-only` does not look.
#[test]
fn audit_includes_content_checks_unless_metadata_only() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    let l = one_txt_layer();
    std::fs::write(diff_dir(t.path(), &l).join("opt/app/planted.sh"), b"x").unwrap();
    let (code, out, _) = run(t.path(), &["audit", "--format", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    validate("audit", &v);
    assert_finding(&v, "layer-file-added", Some(&l.chain_id), Some("opt/app/planted.sh"), "error");
    assert_eq!(v["content_checks"]["layers_checked"], 11);
    let (code, out, _) = run(t.path(), &["audit", "--metadata-only", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(findings(&v, "layer-file-added").is_empty());
    assert_eq!(v["content_checks"]["requested"], false);
}
