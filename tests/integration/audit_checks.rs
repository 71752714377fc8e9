//! `strata audit` on real fixtures: a clean copy trips nothing above info, and each
//! consistency check is tripped by a copy damaged for it, with the exact code,
//! severity and place. Every report is checked against `schema/audit.schema.json`.

use crate::support;
use crate::support::audit::{above_info, audit, with_code};
use crate::support::{copy_tree, data_root, GRAPHDRIVER_FIXTURES};
use serde_json::Value;
use std::fs;
use std::path::Path;

const IMG: &str = "image/overlay2";
/// `basic`: strata/rebuilt:1.
const REBUILT: &str = "sha256:d5f05a0043946dcaa3fef8bd45a300907d79c1d7533e1313a8c5d0fe984c72e1";
/// `basic`: the `never-started` container.
const NEVER_STARTED: &str = "5eba672dd376cd3e000cbafbbedc2cd4db58583e2a77f22bc5f757f4a13e57c1";
const FROM_SHORT_ID: &str = "c23736db5fd0b64899cf35e34cff5f76b4759d986be8d795b5dbf0150cd740bb";
const FAKE_HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn one<'a>(report: &'a Value, code: &str) -> &'a Value {
    let v = with_code(report, code);
    assert_eq!(
        v.len(),
        1,
        "expected one {code} finding, got {v:#?}\nall: {:#?}",
        report["findings"]
    );
    v[0]
}

fn assert_finding(f: &Value, severity: &str, key: &str, value: &str) {
    assert_eq!(f["severity"], severity, "{f:#}");
    assert_eq!(f[key], value, "{f:#}");
}

/// A private copy of the `basic` data-root.
fn basic_copy() -> tempfile::TempDir {
    copy_tree(&data_root("basic"))
}

/// The ChainID (hex) of the layer whose cache-id is `cache`.
fn layer_with_cache_id(root: &Path, cache: &str) -> String {
    for e in fs::read_dir(root.join(IMG).join("layerdb/sha256")).unwrap() {
        let e = e.unwrap();
        if fs::read_to_string(e.path().join("cache-id")).is_ok_and(|c| c.trim() == cache) {
            return e.file_name().to_string_lossy().into_owned();
        }
    }
    panic!("no layer with cache-id {cache}");
}

#[test]
fn clean_fixtures_trip_nothing_above_info() {
    require_root!();
    for name in GRAPHDRIVER_FIXTURES {
        let (code, r) = audit(&data_root(name), &[]);
        assert_eq!(code, 0, "{name}: exit status");
        assert!(above_info(&r).is_empty(), "{name}: {:#?}", above_info(&r));
        assert_eq!(r["summary"]["error"], 0);
        assert_eq!(r["summary"]["warning"], 0);
        // As many dangling images as Docker lists as <none>:<none>.
        let docker = support::read_json(&support::answers(name).join("api-system-df.json"));
        let none = |v: &Value, s: &str| v.as_array().is_none_or(|a| a.iter().all(|x| x == s));
        let dangling = docker["Images"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| {
                none(&i["RepoTags"], "<none>:<none>") && none(&i["RepoDigests"], "<none>@<none>")
            })
            .count();
        assert_eq!(with_code(&r, "image-dangling").len(), dangling, "{name}");
        assert_eq!(r["driver"], if *name == "vfs" { "vfs" } else { "overlay2" });
        assert_eq!(r["tool"]["name"], "strata");
    }
}

#[test]
fn table_output_is_worst_first_and_fail_on_sets_the_status() {
    require_root!();
    let t = basic_copy();
    let root = t.path();
    fs::create_dir_all(root.join(IMG).join("layerdb/tmp/write-set-x")).unwrap();
    fs::write(root.join("overlay2").join(FAKE_HEX), b"planted").unwrap();
    let (code, out, _) = support::run(root, &["audit"]);
    assert_eq!(code, 0, "warnings only: default --fail-on error passes\n{out}");
    let warn = out.find("warning  ").expect("a warning row");
    let info = out.find("info  ").expect("an info row");
    assert!(warn < info, "worst first:\n{out}");
    assert_eq!(support::run(root, &["audit", "--fail-on", "warning"]).0, 1);
    assert_eq!(support::run(root, &["audit", "--fail-on", "never"]).0, 0);
    // Damage that makes an error.
    fs::write(root.join("containers").join(NEVER_STARTED).join("config.v2.json"), b"{").unwrap();
    assert_eq!(support::run(root, &["audit"]).0, 1);
    assert_eq!(support::run(root, &["audit", "--fail-on", "never"]).0, 0);
    // Could not run at all.
    assert_eq!(support::run(root, &["audit", "--registry-root", "/nonexistent/registry"]).0, 2);
    assert_eq!(support::run(&root.join("nonexistent"), &["audit"]).0, 2);
}

#[test]
fn deleted_image_breaks_its_reference() {
    require_root!();
    let t = basic_copy();
    let hex = &REBUILT[7..];
    fs::remove_file(t.path().join(IMG).join("imagedb/content/sha256").join(hex)).unwrap();
    let (code, r) = audit(t.path(), &[]);
    assert_eq!(code, 1);
    let f = one(&r, "reference-broken");
    assert_finding(f, "error", "subject", "strata/rebuilt:1");
    assert_eq!(f["image"], REBUILT);
    assert_eq!(f["file"], "image/overlay2/repositories.json");
}

#[test]
fn planted_driver_dir_is_orphaned_and_counted() {
    require_root!();
    let t = basic_copy();
    let dir = t.path().join("overlay2").join(FAKE_HEX);
    fs::create_dir_all(dir.join("diff")).unwrap();
    fs::write(dir.join("diff/payload"), vec![7u8; 1000]).unwrap();
    let (code, r) = audit(t.path(), &[]);
    assert_eq!(code, 0, "orphans are warnings");
    let f = one(&r, "graphdriver-dir-orphaned");
    assert_finding(f, "warning", "subject", FAKE_HEX);
    assert_eq!(f["file"], format!("overlay2/{FAKE_HEX}"));
    let orphans = r["disk_usage"]["orphaned"].as_array().unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0]["kind"], "driver-dir");
    assert_eq!(orphans[0]["size"], 1000);
    // `df` reports the same.
    let df = support::audit::df(t.path());
    assert_eq!(df["orphaned"], r["disk_usage"]["orphaned"]);
    assert_eq!(df["summary"]["orphaned"]["size"], 1000);
}

#[test]
fn layerdb_tmp_leftover() {
    require_root!();
    let t = basic_copy();
    let dir = t.path().join(IMG).join("layerdb/tmp/write-set-x");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("diff"), "sha256:".to_owned() + FAKE_HEX).unwrap();
    let (_, r) = audit(t.path(), &[]);
    let f = one(&r, "layerdb-tmp-leftover");
    assert_finding(f, "warning", "subject", "write-set-x");
    assert_eq!(f["file"], "image/overlay2/layerdb/tmp/write-set-x");
    assert!(r["disk_usage"]["orphaned"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["kind"] == "tmp" && o["size"] == 71));
}

#[test]
fn removing_leftover_owns_its_driver_dir() {
    require_root!();
    let t = basic_copy();
    let name = format!("{FAKE_HEX}-{}-removing", "f".repeat(64));
    let cache = "c".repeat(64);
    let ldir = t.path().join(IMG).join("layerdb/sha256").join(&name);
    fs::create_dir_all(&ldir).unwrap();
    fs::write(ldir.join("cache-id"), &cache).unwrap();
    fs::create_dir_all(t.path().join("overlay2").join(&cache).join("diff")).unwrap();
    fs::write(t.path().join("overlay2").join(&cache).join("diff/f"), vec![1u8; 500]).unwrap();
    let (_, r) = audit(t.path(), &[]);
    let f = one(&r, "layer-removing-leftover");
    assert_finding(f, "warning", "subject", &name);
    assert!(
        with_code(&r, "graphdriver-dir-orphaned").is_empty(),
        "the driver dir belongs to the -removing layer"
    );
    let o: Vec<&Value> = r["disk_usage"]["orphaned"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "removing")
        .collect();
    assert_eq!(o.len(), 1);
    assert_eq!(o[0]["driver_dir"], format!("overlay2/{cache}"));
    assert_eq!(o[0]["size"], 500 + 64);
}

#[test]
fn broken_mount_id() {
    require_root!();
    let t = basic_copy();
    let file = t.path().join(IMG).join("layerdb/mounts").join(NEVER_STARTED).join("mount-id");
    let old = fs::read_to_string(&file).unwrap();
    fs::write(&file, FAKE_HEX).unwrap();
    let (code, r) = audit(t.path(), &[]);
    assert_eq!(code, 1);
    let f = one(&r, "mount-broken");
    assert_finding(f, "error", "subject", NEVER_STARTED);
    assert_eq!(f["file"], format!("image/overlay2/layerdb/mounts/{NEVER_STARTED}/mount-id"));
    // The RW directory it used to name is now named by nothing.
    let orphan = one(&r, "graphdriver-dir-orphaned");
    assert_finding(orphan, "warning", "subject", old.trim());
}

#[test]
fn container_pointing_at_a_missing_image() {
    require_root!();
    let t = basic_copy();
    let file = t.path().join("containers").join(FROM_SHORT_ID).join("config.v2.json");
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    v["Image"] = Value::String(format!("sha256:{FAKE_HEX}"));
    fs::write(&file, serde_json::to_string(&v).unwrap()).unwrap();
    let (_, r) = audit(t.path(), &[]);
    let f = one(&r, "container-image-missing");
    assert_finding(f, "error", "subject", FROM_SHORT_ID);
    assert_eq!(f["image"], format!("sha256:{FAKE_HEX}"));
}

#[test]
fn container_without_its_rw_layer() {
    require_root!();
    let t = basic_copy();
    fs::remove_dir_all(t.path().join(IMG).join("layerdb/mounts").join(FROM_SHORT_ID)).unwrap();
    let (_, r) = audit(t.path(), &[]);
    let f = one(&r, "container-layer-missing");
    assert_finding(f, "error", "subject", FROM_SHORT_ID);
    // Its RW and init directories are now named by nothing.
    assert_eq!(with_code(&r, "graphdriver-dir-orphaned").len(), 2);
}

/// Docker writes `Dead: true` to config.v2.json before it lets go of a container's RW
/// layer, and removes the container's directory last: a dead container without its RW
/// layer is a removal under way (or one that failed part way), a warning, not a lost layer.
#[test]
fn dead_container_without_its_rw_layer_is_a_removal_not_a_loss() {
    require_root!();
    let t = basic_copy();
    fs::remove_dir_all(t.path().join(IMG).join("layerdb/mounts").join(FROM_SHORT_ID)).unwrap();
    let file = t.path().join("containers").join(FROM_SHORT_ID).join("config.v2.json");
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    v["State"]["Dead"] = Value::Bool(true);
    fs::write(&file, serde_json::to_string(&v).unwrap()).unwrap();
    let (_, r) = audit(t.path(), &[]);
    let f = one(&r, "container-layer-missing");
    assert_finding(f, "warning", "subject", FROM_SHORT_ID);
    assert!(f["message"].as_str().unwrap().contains("marked dead"), "{f:#}");
}

#[test]
fn layer_content_missing() {
    require_root!();
    let t = basic_copy();
    // strata/rebuilt:1's top layer (MANIFEST.md).
    let cache = "821e5593e17c5fe0af59cc069636b32ddb24f4b8d6aea20bba6781130fd50455";
    let chain = layer_with_cache_id(t.path(), cache);
    fs::remove_dir_all(t.path().join("overlay2").join(cache)).unwrap();
    let (_, r) = audit(t.path(), &[]);
    let f = one(&r, "layer-content-missing");
    assert_finding(f, "error", "layer", &format!("sha256:{chain}"));
    assert_eq!(f["file"], format!("overlay2/{cache}"));
}

#[test]
fn layer_no_one_needs_is_orphaned() {
    require_root!();
    let t = basic_copy();
    let cache = "d".repeat(64);
    let ldir = t.path().join(IMG).join("layerdb/sha256").join(FAKE_HEX);
    fs::create_dir_all(&ldir).unwrap();
    fs::write(ldir.join("diff"), format!("sha256:{FAKE_HEX}")).unwrap();
    fs::write(ldir.join("size"), "3").unwrap();
    fs::write(ldir.join("cache-id"), &cache).unwrap();
    fs::create_dir_all(t.path().join("overlay2").join(&cache).join("diff")).unwrap();
    fs::write(t.path().join("overlay2").join(&cache).join("diff/x"), b"abc").unwrap();
    let (_, r) = audit(t.path(), &[]);
    let f = one(&r, "layer-orphaned");
    assert_finding(f, "warning", "layer", &format!("sha256:{FAKE_HEX}"));
    assert!(
        with_code(&r, "graphdriver-dir-orphaned").is_empty(),
        "its driver dir is named by its cache-id"
    );
    let o = &r["disk_usage"]["orphaned"][0];
    assert_eq!(o["kind"], "layer");
    assert_eq!(o["layer"], format!("sha256:{FAKE_HEX}"));
    // diff + size + cache-id files, and the 3-byte payload.
    assert_eq!(o["size"], 71 + 1 + 64 + 3);
}

#[test]
fn edited_diffid_by_digest_entry() {
    require_root!();
    let t = basic_copy();
    let blob = "1c1a220772e146b5cdc585849be418d03c74b3933bc3cd2c4cf198d3a41d1555";
    let rel = format!("image/overlay2/distribution/diffid-by-digest/sha256/{blob}");
    fs::write(
        t.path().join(&rel),
        "sha256:1fdf11d2dd4ffb8176fa80c2f0720746e7986c98a66e443f6a824dc2d6f0d684",
    )
    .unwrap();
    let (code, r) = audit(t.path(), &[]);
    assert_eq!(code, 0, "distribution maps may legitimately disagree: warning");
    let v = with_code(&r, "distribution-map-inconsistent");
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v.iter().all(|f| f["severity"] == "warning"));
    assert!(v.iter().any(|f| f["file"] == rel.as_str()), "{v:#?}");
    assert!(v.iter().any(|f| f["file"]
        == "image/overlay2/distribution/v2metadata-by-diffid/sha256/d1abc7141237b7ff7bb0226e3bb943753671593ed99cfb2621a5407d7774597b"));
    // The cross-link says the blob no longer maps back.
    let layers = r["cross_links"]["layers"].as_array().unwrap();
    let link = layers
        .iter()
        .flat_map(|l| l["blobs"].as_array().unwrap())
        .find(|b| b["digest"] == format!("sha256:{blob}"))
        .unwrap();
    assert_eq!(link["maps_back"], false);
}

#[test]
fn distribution_entries_for_removed_layers_are_stale() {
    require_root!();
    let t = basic_copy();
    let dist = t.path().join(IMG).join("distribution");
    let blob = "e".repeat(64);
    fs::write(dist.join("diffid-by-digest/sha256").join(&blob), format!("sha256:{FAKE_HEX}"))
        .unwrap();
    fs::write(
        dist.join("v2metadata-by-diffid/sha256").join(FAKE_HEX),
        format!(r#"[{{"Digest":"sha256:{blob}","SourceRepository":"docker.io/library/gone","HMAC":""}}]"#),
    )
    .unwrap();
    let (_, r) = audit(t.path(), &[]);
    assert!(above_info(&r).is_empty(), "{:#?}", above_info(&r));
    let f = one(&r, "distribution-stale");
    assert_finding(
        f,
        "info",
        "file",
        &format!("image/overlay2/distribution/v2metadata-by-diffid/sha256/{FAKE_HEX}"),
    );
}

#[test]
fn verify_identity_findings_are_part_of_the_audit() {
    require_root!();
    let t = basic_copy();
    let content = t.path().join(IMG).join("imagedb/content/sha256").join(&REBUILT[7..]);
    let mut bytes = fs::read(&content).unwrap();
    bytes.push(b'\n');
    fs::write(&content, bytes).unwrap();
    let meta = t.path().join(IMG).join("imagedb/metadata/sha256").join(&REBUILT[7..]);
    fs::write(meta.join("parent"), format!("sha256:{FAKE_HEX}")).unwrap();
    let (_, r) = audit(t.path(), &[]);
    assert_finding(one(&r, "image-id-mismatch"), "error", "image", REBUILT);
    assert_finding(one(&r, "parent-missing"), "warning", "image", REBUILT);
}

#[test]
fn unreadable_metadata_is_metadata_corrupt() {
    require_root!();
    let t = basic_copy();
    let cache = "821e5593e17c5fe0af59cc069636b32ddb24f4b8d6aea20bba6781130fd50455";
    let chain = layer_with_cache_id(t.path(), cache);
    fs::write(t.path().join(IMG).join("layerdb/sha256").join(&chain).join("size"), "6\n").unwrap();
    let (code, r) = audit(t.path(), &[]);
    assert_eq!(code, 1);
    let f = one(&r, "metadata-corrupt");
    assert_finding(f, "error", "layer", &format!("sha256:{chain}"));
    assert_eq!(f["file"], format!("image/overlay2/layerdb/sha256/{chain}/size"));
}
