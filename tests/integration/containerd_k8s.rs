//! containerd alone, as a Kubernetes node runs it (`k8s-containerd`: sid's
//! containerd 2.1.9, images pulled with `ctr -n k8s.io`, containers made with
//! `ctr`), read from `--containerd-root` with no Docker data-root at all, and
//! checked against containerd's own recorded answers (`ctr images ls`,
//! `ctr containers info`, `ctr snapshots ls`).

use crate::support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const NAME: &str = "k8s-containerd";

fn ctd_root() -> PathBuf {
    extracted(NAME, "containerd-root.tar.gz")
}

fn recorded(file: &str) -> String {
    std::fs::read_to_string(repo().join("fixtures").join(NAME).join("containerd/k8s.io").join(file))
        .unwrap()
}

fn json(args: &[&str], ctd: &Path) -> Value {
    let out = strata()
        .arg("--containerd-root")
        .arg(ctd)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.code() != Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn images_by_target_with_every_name_ctr_lists() {
    require_root!();
    let ctd = ctd_root();
    // ctr images ls: REF TYPE DIGEST ...
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in recorded("images-ls.txt").lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        want.entry(cols[2].to_owned()).or_default().insert(cols[0].to_owned());
    }
    let images = json(&["images"], &ctd);
    let got: BTreeMap<String, BTreeSet<String>> = images
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let names = i["containerd"]["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            (i["id"].as_str().unwrap().to_owned(), names)
        })
        .collect();
    assert_eq!(
        got, want,
        "one image per target, with all its names (the CRI plugin's sha256:<config> names too)"
    );
    for i in images.as_array().unwrap() {
        // The CRI names are the config digest: IDs, not tags.
        for t in i["repo_tags"].as_array().unwrap() {
            assert!(!t.as_str().unwrap().starts_with("sha256"), "{t}");
        }
        let cfg = i["containerd"]["config"].as_str().unwrap();
        assert!(
            want[i["id"].as_str().unwrap()].contains(cfg),
            "the CRI name is the config digest {cfg}"
        );
    }
}

#[test]
fn containers_and_snapshots_as_ctr_records_them() {
    require_root!();
    let ctd = ctd_root();
    let containers: BTreeMap<String, Value> = json(&["containers"], &ctd)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c.clone()))
        .collect();
    let mut parents: BTreeMap<String, String> = BTreeMap::new();
    let mut committed = BTreeSet::new();
    for line in recorded("snapshots-ls.txt").lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.last() == Some(&"Committed") {
            committed.insert(cols[0].to_owned());
        } else {
            parents.insert(cols[0].to_owned(), cols[1].to_owned());
        }
    }
    let images: BTreeMap<String, String> = json(&["images"], &ctd)
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| {
            let id = i["id"].as_str().unwrap().to_owned();
            i["containerd"]["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |n| (n.as_str().unwrap().to_owned(), id.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for line in recorded("containers-info.jsonl").lines() {
        let want: Value = serde_json::from_str(line).unwrap();
        let id = want["ID"].as_str().unwrap();
        let got = &containers[id];
        assert_eq!(got["image_ref"], want["Image"], "{id}");
        assert_eq!(
            got["image"].as_str().unwrap(),
            images[want["Image"].as_str().unwrap()],
            "{id}: image resolved to its target"
        );
        assert_eq!(got["driver"], want["Snapshotter"], "{id}");
        assert_eq!(
            got["parent_layer"].as_str().unwrap(),
            parents[want["SnapshotKey"].as_str().unwrap()],
            "{id}: snapshot parent"
        );
    }
    let layers: BTreeSet<String> = json(&["layers"], &ctd)
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["chain_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(layers, committed, "every committed snapshot is a layer");
}

#[test]
fn verify_is_clean_audit_finds_nothing_and_diff_sees_the_changes() {
    require_root!();
    let ctd = ctd_root();
    let v = json(&["verify"], &ctd);
    for l in v["layers"].as_array().unwrap() {
        assert_eq!(l["status"], "verified", "{l}");
    }
    let a = json(&["audit"], &ctd);
    validate("audit", &a);
    assert_eq!(a["containerd"]["namespace"], "k8s.io");
    assert_eq!(a["containerd"]["located_by"], "flag");
    let bad: Vec<&Value> =
        a["findings"].as_array().unwrap().iter().filter(|f| f["severity"] != "info").collect();
    assert!(bad.is_empty(), "{bad:#?}");
    // What the changer did (fixtures/make-fixtures.sh, k8s-containerd).
    let diff = json(&["diff", "changer"], &ctd);
    let got: BTreeSet<(String, String)> = diff
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap().to_owned(), c["path"].as_str().unwrap().to_owned()))
        .collect();
    for (kind, path) in
        [("A", "/added"), ("C", "/etc/to-modify"), ("D", "/etc/to-delete"), ("D", "/data/removeme")]
    {
        assert!(got.contains(&(kind.to_owned(), path.to_owned())), "{kind} {path} in {got:?}");
    }
}
