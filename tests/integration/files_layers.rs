//! `strata files` lists what each fixture layer's tar holds: the symlinks, hard
//! links, long and non-UTF-8 names, whiteouts and opaque markers recorded in
//! `fixtures/<name>/layer-facts.json` all appear, with the right types and targets.

use crate::support::*;
use std::collections::BTreeMap;

fn files_available() -> bool {
    strata().args(["files", "--help"]).output().map(|o| o.status.success()).unwrap_or(false)
}

#[test]
fn files_show_every_recorded_layer_fact() {
    require_root!();
    if !files_available() {
        skip!("`strata files` is not wired in this build (it needs src/tarsplit.rs)");
    }
    for fx in GRAPHDRIVER_FIXTURES {
        let root = data_root(fx);
        let facts = read_json(&repo().join("fixtures").join(fx).join("layer-facts.json"));
        let layers = facts["layers"].as_object().unwrap();
        assert!(!layers.is_empty(), "{fx}: no layer facts");
        for (chain, f) in layers {
            let at = format!("{fx} layer {}", &chain[7..19]);
            let out = run_json(&root, &["files", chain]);
            let listing = &out.as_array().unwrap()[0];
            assert_eq!(listing["chain_id"], chain.as_str(), "{at}");
            assert_eq!(listing["diff_id"], f["diff_id"], "{at}");
            let entries: BTreeMap<String, &serde_json::Value> = listing["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e["path"].as_str().unwrap().to_owned(), e))
                .collect();
            let get = |p: &str| *entries.get(p).unwrap_or_else(|| panic!("{at}: {p} not listed"));
            for (path, target) in f["symlinks"].as_object().unwrap() {
                let e = get(path);
                assert_eq!(e["type"], "symlink", "{at}: {path}");
                assert_eq!(&e["link_target"], target, "{at}: {path}");
            }
            for pair in f["hardlinks"].as_array().unwrap() {
                let (a, b) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
                let (ea, eb) = (get(a), get(b));
                let link = if ea["type"] == "hardlink" { (ea, b) } else { (eb, a) };
                assert_eq!(link.0["type"], "hardlink", "{at}: one of {a}, {b} is a hard link");
                let target = link.0["link_target"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("./")
                    .trim_start_matches('/');
                assert_eq!(target, link.1, "{at}: hard link target");
            }
            for name in f["non_utf8_names"]
                .as_array()
                .unwrap()
                .iter()
                .chain(f["long_names"].as_array().unwrap())
            {
                get(name.as_str().unwrap());
            }
            for w in f["whiteouts"].as_array().unwrap() {
                let w = w.as_str().unwrap();
                let marker = match w.rsplit_once('/') {
                    Some((dir, base)) => format!("{dir}/.wh.{base}"),
                    None => format!(".wh.{w}"),
                };
                assert_eq!(get(&marker)["whiteout"], true, "{at}: {marker}");
            }
            for d in f["opaque_dirs"].as_array().unwrap() {
                let marker = format!("{}/.wh..wh..opq", d.as_str().unwrap());
                assert_eq!(get(&marker)["whiteout"], true, "{at}: {marker}");
            }
        }
    }
}

#[test]
fn files_of_an_image_lists_each_layer_bottom_first() {
    require_root!();
    if !files_available() {
        skip!("`strata files` is not wired in this build (it needs src/tarsplit.rs)");
    }
    let root = data_root("basic");
    let img = run_json(&root, &["images"])
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repo_tags"].as_array().unwrap().iter().any(|t| t == "strata/app:1"))
        .cloned()
        .unwrap();
    let out = run_json(&root, &["files", "strata/app:1"]);
    let chains: Vec<&serde_json::Value> =
        out.as_array().unwrap().iter().map(|l| &l["chain_id"]).collect();
    let want: Vec<&serde_json::Value> = img["chain_ids"].as_array().unwrap().iter().collect();
    assert_eq!(chains, want);
    let (code, text, err) = run(&root, &["files", "strata/app:1"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("opt/app/bad\\xffname"), "non-UTF-8 names escaped");
    assert!(text.contains(" -> busybox"), "symlink targets shown");
}
