//! Pre-1.10 data-roots (issue 10): built by `fixtures/make-pre110.sh` in the layout
//! moby's v1 migration code reads (`graph/<id>/json`, `repositories-<driver>`,
//! containers with a v1 `config.json`). strata lists their images (v1 IDs as
//! recorded, tags, parent chains, layer directories) and containers, says once
//! what cannot be verified there, and reports no false errors.

use crate::support::*;
use serde_json::Value;

fn instant(t: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap()
}

#[test]
fn pre_110_images_and_containers_are_listed_as_recorded() {
    require_root!();
    let root = extracted("pre110", "data-root.tar.gz");
    let want = read_json(&repo().join("fixtures/pre110/expected.json"));

    let (code, _, err) = run(&root, &["images"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("is this a Docker data-root"), "{err}");
    let images = run_json(&root, &["images"]);
    validate("legacy-images", &images);
    let images = images.as_array().unwrap();
    let mut want_images: Vec<&Value> = want["images"].as_array().unwrap().iter().collect();
    want_images.sort_by_key(|i| std::cmp::Reverse(instant(&i["created"])));
    let got: Vec<&str> = images.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let order: Vec<&str> = want_images.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(got, order, "v1 IDs as recorded, newest first");
    for w in &want_images {
        let g = images.iter().find(|i| i["id"] == w["id"]).unwrap();
        assert_eq!(g["parent"], w["parent"]);
        assert_eq!(g["created"], w["created"]);
        assert_eq!(g["layer_dir"], format!("aufs/diff/{}", w["id"].as_str().unwrap()));
        assert_eq!(g["layer_dir_present"], true);
        // The chain: parent, grandparent... as the expected parents give it.
        let mut chain = Vec::new();
        let mut p = w["parent"].clone();
        while let Some(id) = p.as_str() {
            chain.push(Value::from(id));
            p = want_images.iter().find(|i| i["id"] == id).unwrap()["parent"].clone();
        }
        assert_eq!(g["chain"], Value::Array(chain), "{}", w["id"]);
    }
    for (tag, id) in want["tags"].as_object().unwrap() {
        let g = images.iter().find(|i| &i["id"] == id).unwrap();
        assert!(g["tags"].as_array().unwrap().iter().any(|t| t == tag.as_str()), "{tag}");
    }

    let ctrs = run_json(&root, &["containers"]);
    validate("legacy-containers", &ctrs);
    let ctrs = ctrs.as_array().unwrap();
    let mut want_ctrs: Vec<&Value> = want["containers"].as_array().unwrap().iter().collect();
    want_ctrs.sort_by_key(|c| std::cmp::Reverse(instant(&c["created"])));
    assert_eq!(ctrs.len(), want_ctrs.len());
    for (g, w) in ctrs.iter().zip(&want_ctrs) {
        for k in ["id", "name", "image", "image_ref", "created", "running", "exit_code"] {
            assert_eq!(g[k], w[k], "container {}: {k}", w["id"]);
        }
        assert_eq!(g["rw_dir_present"], true);
    }

    // Nothing to verify, said once and plainly; no false errors or warnings.
    for args in [&["verify"][..], &["audit", "--fail-on", "warning"]] {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let (code, out, err) = run(&root, &all);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let fs = v["findings"].as_array().unwrap();
        assert!(fs.iter().all(|f| f["severity"] == "info"), "{args:?}: {fs:#?}");
        let notes: Vec<&Value> = fs
            .iter()
            .filter(|f| f["message"].as_str().unwrap().contains("pre-1.10 data-root"))
            .collect();
        assert_eq!(notes.len(), 1, "{args:?}: {fs:#?}");
        assert!(notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("no image, layer or container content can be verified"));
    }
}

/// A broken pre-1.10 root still gets true findings: a tag naming no image, an image
/// whose parent is gone.
#[test]
fn pre_110_damage_is_reported_not_hidden() {
    require_root!();
    let copy = copy_tree(&extracted("pre110", "data-root.tar.gz"));
    let root = copy.path();
    let want = read_json(&repo().join("fixtures/pre110/expected.json"));
    let base = want["tags"]["busybox:latest"].as_str().unwrap();
    std::fs::remove_dir_all(root.join("graph").join(base)).unwrap();
    let (code, out, _) = run(root, &["audit", "--format", "json"]);
    assert_eq!(code, 0, "warnings only");
    let v: Value = serde_json::from_str(&out).unwrap();
    let fs = v["findings"].as_array().unwrap();
    let has = |code: &str| fs.iter().any(|f| f["code"] == code && f["severity"] == "warning");
    assert!(has("reference-broken"), "{fs:#?}");
    assert!(has("parent-missing"), "{fs:#?}");
}
