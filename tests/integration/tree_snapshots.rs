//! `strata tree` on the real fixtures, held against reviewed `insta` snapshots in
//! `tests/snapshots/`. Fixture IDs are fixed, so the output is too. To re-record
//! after an intended change: `INSTA_UPDATE=always cargo test --test integration tree_`
//! (or `cargo insta test` then `cargo insta review`, if cargo-insta is installed), then
//! review the diff by eye before committing. Under CI (`CI` set) insta never writes a
//! snapshot, and a mismatch fails.

use crate::support::*;
use std::collections::BTreeSet;
use std::path::Path;

fn snapshot(name: &str, actual: &str) {
    // insta compares with trailing whitespace trimmed; the reviewed files end in exactly
    // one newline, so the output must too.
    assert_eq!(&actual[actual.trim_end().len()..], "\n", "{name}: output ends in one newline");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, actual));
}

fn tree(root: &Path, args: &[&str]) -> String {
    let mut all = vec!["tree"];
    all.extend(args);
    let (code, out, err) = run(root, &all);
    assert_eq!(code, 0, "strata {all:?}: {err}");
    assert!(!out.contains('\x1b'), "no colour when not on a terminal");
    out
}

const VIEWS: &[(&str, &[&str])] = &[
    ("unicode", &[]),
    ("ascii", &["--ascii"]),
    ("depth2", &["--ascii", "--depth", "2"]),
    ("all", &["--all", "--no-trunc"]),
    ("image-base", &["--image", "strata/base:1.0"]),
    ("whatrequires-base", &["--whatrequires", "strata/base:1.0"]),
    // Fan-out and chain thresholds small enough for a fixture (tree_collapse.rs checks
    // the counts against the engine's answers).
    ("collapsed", &["--fanout", "2", "--chain", "2"]),
];

fn image_with_tag(root: &Path, tag: &str) -> Option<serde_json::Value> {
    let images = run_json(root, &["images"]);
    images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repo_tags"].as_array().unwrap().iter().any(|t| t == tag))
        .cloned()
}

/// The short ChainID of strata/scratch:1's only layer (present in every fixture).
fn scratch_layer(root: &Path) -> String {
    let img = image_with_tag(root, "strata/scratch:1").expect("strata/scratch:1 in every fixture");
    img["chain_ids"][0].as_str().unwrap()[7..19].to_owned()
}

#[test]
fn tree_views_match_snapshots() {
    require_root!();
    for fx in BASIC_SCENARIO_FIXTURES {
        let root = data_root(fx);
        for (name, args) in VIEWS {
            snapshot(&format!("tree_{fx}_{name}"), &tree(&root, args));
        }
        let layer = scratch_layer(&root);
        snapshot(
            &format!("tree_{fx}_whatrequires-layer"),
            &tree(&root, &["--whatrequires", &layer]),
        );
        // The classic-builder image with its long chain, where the fixture has it.
        if image_with_tag(&root, "strata/app:1").is_some() {
            snapshot(&format!("tree_{fx}_image-app"), &tree(&root, &["--image", "strata/app:1"]));
        }
        snapshot(&format!("tree_{fx}_dot"), &tree(&root, &["--format", "dot"]));
        snapshot(
            &format!("tree_{fx}_dot-collapsed"),
            &tree(&root, &["--format", "dot", "--fanout", "2", "--chain", "2"]),
        );
    }
}

/// Every layer appears exactly once in the nested JSON, every image hangs at its top
/// layer, and the totals add up.
#[test]
fn json_forest_holds_each_layer_once() {
    require_root!();
    for fx in BASIC_SCENARIO_FIXTURES {
        let root = data_root(fx);
        let forest = run_json(&root, &["tree", "--all"]);
        let layers = run_json(&root, &["layers"]);
        let images = run_json(&root, &["images"]);
        let mut seen = Vec::new();
        let mut placed = BTreeSet::new();
        let mut stack: Vec<&serde_json::Value> =
            forest["roots"].as_array().unwrap().iter().collect();
        let mut bytes = 0;
        while let Some(l) = stack.pop() {
            seen.push(l["chain_id"].as_str().unwrap().to_owned());
            bytes += l["size"].as_i64().unwrap();
            for i in l["images"].as_array().unwrap() {
                let id = i["id"].as_str().unwrap();
                let top = images.as_array().unwrap().iter().find(|x| x["id"] == id).unwrap()
                    ["top_layer"]
                    .clone();
                assert_eq!(top, l["chain_id"], "{fx}: image {id} hangs at its top layer");
                placed.insert(id.to_owned());
            }
            stack.extend(l["children"].as_array().unwrap());
        }
        let unique: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{fx}: a layer appears twice");
        let all_layers: BTreeSet<String> = layers
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["chain_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(unique, all_layers, "{fx}: every layer is in the forest");
        for i in forest["unplaced_images"].as_array().unwrap() {
            placed.insert(i["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            placed.len(),
            images.as_array().unwrap().len(),
            "{fx}: with --all every image is shown"
        );
        assert_eq!(forest["totals"]["layers"].as_u64().unwrap() as usize, all_layers.len());
        assert_eq!(
            forest["totals"]["images"].as_u64().unwrap() as usize,
            images.as_array().unwrap().len()
        );
        assert_eq!(forest["totals"]["bytes"].as_i64().unwrap(), bytes);
    }
}

/// The DOT output is valid Graphviz: `dot -Tsvg` (Debian's graphviz) renders it.
#[test]
fn dot_renders_with_graphviz() {
    require_root!();
    require_tool!("dot", "-V", "apt-get install graphviz");
    for fx in BASIC_SCENARIO_FIXTURES {
        let root = data_root(fx);
        for args in [
            &["tree", "--format", "dot"][..],
            &["tree", "--all", "--format", "dot"],
            &["tree", "--whatrequires", "strata/base:1.0", "--format", "dot"],
        ] {
            let (code, out, err) = run(&root, args);
            assert_eq!(code, 0, "{err}");
            let svg = dot_svg(&out).unwrap_or_else(|e| panic!("{fx} {args:?}: dot failed: {e}"));
            let layer = scratch_layer(&root);
            assert!(svg.contains("<svg"), "{fx} {args:?}: no svg");
            let whole_forest = !args.contains(&"--whatrequires");
            assert!(!whole_forest || svg.contains(&layer), "{fx}: svg lacks layer {layer}");
            assert!(svg.contains("hexagon") || svg.contains("<polygon"), "{fx}: containers drawn");
        }
    }
}

#[test]
fn other_commands_refuse_dot() {
    require_root!();
    let root = data_root("basic");
    let (code, _, err) = run(&root, &["images", "--format", "dot"]);
    assert_eq!(code, 2);
    assert!(err.contains("only available for `strata tree`"), "{err}");
}
