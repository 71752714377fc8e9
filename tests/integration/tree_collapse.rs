//! `strata tree` on a big host: fan-out summed up and long chains folded, in the text and
//! Graphviz views, on the real fixtures with the thresholds made small (`--fanout`,
//! `--chain`) so their few layers collapse. Every layer, image and container is either
//! drawn or counted in exactly one summary line, so the counts add up to Docker's own
//! answers recorded beside each fixture.

use crate::support::*;
use std::collections::BTreeSet;
use std::path::Path;

/// What a fixture holds, as the engine answered: images (`/images/json?all=1`),
/// containers (`/containers/json?all=1`) and layers (distinct DiffID prefixes of the
/// images' `RootFS.Layers`: one layer per chain).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    layers: usize,
    images: usize,
    containers: usize,
}

fn engine_counts(fx: &str) -> Counts {
    let dir = answers(fx);
    let images = read_json(&dir.join("api-images.json"));
    let containers = read_json(&dir.join("api-containers.json"));
    let inspect = read_json(&dir.join("image-inspect.json"));
    let mut chains = BTreeSet::new();
    for img in inspect.as_array().unwrap() {
        let layers: Vec<String> = img["RootFS"]["Layers"]
            .as_array()
            .map(|a| a.iter().map(|l| l.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        for k in 1..=layers.len() {
            chains.insert(layers[..k].to_vec());
        }
    }
    Counts {
        layers: chains.len(),
        images: images.as_array().unwrap().len(),
        containers: containers.as_array().unwrap().len(),
    }
}

/// `3 layers, 4 images, 1 container` (any subset, in that order) read back.
fn parse_counts(s: &str) -> Counts {
    let mut c = Counts::default();
    for part in s.split(", ") {
        let (n, what) = part.split_once(' ').unwrap_or_else(|| panic!("counts {s:?}"));
        let n: usize = n.parse().unwrap_or_else(|_| panic!("counts {s:?}"));
        match what.trim_end_matches('s') {
            "layer" => c.layers += n,
            "image" => c.images += n,
            "container" => c.containers += n,
            _ => panic!("counts {s:?}"),
        }
    }
    c
}

/// `(+3 intermediate images)` at the end of a line.
fn intermediates(line: &str) -> usize {
    let Some(at) = line.rfind("(+") else { return 0 };
    let rest = &line[at + 2..];
    if !rest.contains(" intermediate image") {
        return 0;
    }
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// What a text tree draws, what its summary lines stand for, and what it says it left out.
#[derive(Debug, Default)]
struct Reading {
    drawn: Counts,
    summed: Counts,
    folds: usize,
    mores: usize,
    not_drawn: Option<Counts>,
    totals: (usize, usize),
}

fn read_text(out: &str) -> Reading {
    let mut r = Reading::default();
    for line in out.lines() {
        let body = line.trim_start_matches(['│', '├', '└', '─', ' ']);
        if let Some(rest) = body.strip_prefix("● ") {
            r.drawn.layers += 1;
            r.drawn.images += intermediates(rest);
        } else if body.starts_with("◆ ") {
            r.drawn.images += 1;
        } else if body.starts_with("▶ ") {
            r.drawn.containers += 1;
        } else if let Some(rest) = body.strip_prefix("… and ") {
            // `… and 2 more (1 layer, 3 images): strata tree ...`
            let open = rest.find(" (").unwrap();
            let close = rest.find("): ").unwrap();
            let c = parse_counts(&rest[open + 2..close]);
            r.summed.layers += c.layers;
            r.summed.images += c.images;
            r.summed.containers += c.containers;
            r.mores += 1;
            assert!(rest[close..].contains("strata tree "), "a summary names its command: {line}");
        } else if let Some(rest) = body.strip_prefix("… ") {
            // `… 5 layers folded: 168350f12b4b … 4466f84295bd, 71B (+5 intermediate images)`
            assert!(rest.contains(" folded: "), "{line}");
            let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
            r.summed.layers += n;
            r.summed.images += intermediates(rest);
            r.folds += 1;
        } else if let Some(rest) = line.strip_prefix("not drawn: ") {
            r.not_drawn = Some(parse_counts(&rest[..rest.find(" (").unwrap()]));
        } else if let Some(rest) = line.strip_prefix("totals: ") {
            let words: Vec<&str> = rest.split(' ').collect();
            r.totals = (words[0].parse().unwrap(), words[2].parse().unwrap());
        }
    }
    r
}

fn tree_text(root: &Path, args: &[&str]) -> String {
    let mut all = vec!["tree"];
    all.extend(args);
    let (code, out, err) = run(root, &all);
    assert_eq!(code, 0, "strata {all:?}: {err}");
    out
}

const SETTINGS: &[&[&str]] = &[
    &[],
    &["--fanout", "1"],
    &["--chain", "1"],
    &["--fanout", "2", "--chain", "2"],
    &["--fanout", "1", "--chain", "1"],
    &["--fanout", "3", "--chain", "4"],
];

/// Drawn plus summed up is the engine's count of layers, images and containers, at every
/// threshold, with and without `--all`; the `not drawn` line is the sum of the summaries.
#[test]
fn collapsed_counts_add_up_to_the_engines_answers() {
    require_root!();
    for fx in BASIC_SCENARIO_FIXTURES {
        let root = data_root(fx);
        let want = engine_counts(fx);
        for all in [false, true] {
            for setting in SETTINGS {
                let mut args = setting.to_vec();
                if all {
                    args.push("--all");
                }
                let out = tree_text(&root, &args);
                let r = read_text(&out);
                let sum = Counts {
                    layers: r.drawn.layers + r.summed.layers,
                    images: r.drawn.images + r.summed.images,
                    containers: r.drawn.containers + r.summed.containers,
                };
                assert_eq!(sum, want, "{fx} {args:?}: drawn {r:?}\n{out}");
                assert_eq!(r.totals, (want.images, want.layers), "{fx} {args:?}: totals\n{out}");
                if r.summed == Counts::default() {
                    assert!(r.not_drawn.is_none(), "{fx} {args:?}: nothing left out\n{out}");
                } else {
                    assert_eq!(r.not_drawn, Some(r.summed), "{fx} {args:?}\n{out}");
                }
                // Fan-out 1 always has something to sum up: every fixture has a layer with
                // an image and a child, or two roots.
                if setting.contains(&"1") && setting[0] == "--fanout" {
                    assert!(r.mores > 0, "{fx} {args:?}: fan-out 1 summed nothing up\n{out}");
                }
            }
        }
    }
}

/// The classic-builder chain of strata/app:1 (layers that hold only intermediate images)
/// folds under `--chain 2`; it is drawn whole by default and with `--no-collapse`.
#[test]
fn long_chains_fold_into_one_line() {
    require_root!();
    for fx in ["basic", "trixie26"] {
        let root = data_root(fx);
        let folded = read_text(&tree_text(&root, &["--chain", "2"]));
        assert_eq!(folded.folds, 1, "{fx}: the app chain folds once");
        let whole = read_text(&tree_text(&root, &["--no-collapse"]));
        assert_eq!(whole.folds + whole.mores, 0, "{fx}: --no-collapse draws everything");
        assert_eq!(whole.drawn.layers, engine_counts(fx).layers);
        // The fold saves lines: the chain's layers are one line, and its indentation.
        assert!(folded.drawn.layers < whole.drawn.layers, "{fx}");
        assert_eq!(tree_text(&root, &["--no-collapse"]), tree_text(&root, &[]), "{fx}");
        assert_eq!(
            tree_text(&root, &["--no-collapse"]),
            tree_text(&root, &["--fanout", "0", "--chain", "0"]),
            "{fx}"
        );
    }
    let (code, _, err) = run(&data_root("basic"), &["tree", "--no-collapse", "--fanout", "3"]);
    assert_eq!(code, 2, "--no-collapse with --fanout is refused: {err}");
}

/// Under fan-out, what is drawn first is what has containers, then the newest: at
/// `--fanout 1` the image with the most containers (in the engine's answers) is the one
/// drawn, with its newest container (by the engine's `Created`).
#[test]
fn fanout_draws_containers_first_then_newest() {
    require_root!();
    for fx in BASIC_SCENARIO_FIXTURES {
        let root = data_root(fx);
        let dir = answers(fx);
        let containers = read_json(&dir.join("container-inspect.json"));
        let images = read_json(&dir.join("image-inspect.json"));
        let mut by_image: std::collections::BTreeMap<
            String,
            Vec<(chrono::DateTime<chrono::FixedOffset>, String)>,
        > = Default::default();
        for c in containers.as_array().unwrap() {
            let created =
                chrono::DateTime::parse_from_rfc3339(c["Created"].as_str().unwrap()).unwrap();
            let name = c["Name"].as_str().unwrap().trim_start_matches('/').to_owned();
            by_image
                .entry(c["Image"].as_str().unwrap().to_owned())
                .or_default()
                .push((created, name));
        }
        let most = by_image.values().map(Vec::len).max().unwrap();
        let busiest: Vec<_> = by_image.iter().filter(|(_, v)| v.len() == most).collect();
        assert_eq!(busiest.len(), 1, "{fx}: one image has the most containers");
        let (image_id, cs) = busiest[0];
        let tag = images.as_array().unwrap().iter().find(|i| &i["Id"] == image_id).unwrap()
            ["RepoTags"][0]
            .as_str()
            .unwrap()
            .to_owned();
        let newest = &cs.iter().max().unwrap().1;

        let out = tree_text(&root, &["--fanout", "1", "--chain", "0"]);
        let drawn = || out.lines().filter(|l| !l.starts_with("legend: "));
        let image_lines: Vec<&str> = drawn().filter(|l| l.contains("◆ ")).collect();
        assert_eq!(image_lines.len(), 1, "{fx}: one image drawn\n{out}");
        assert!(image_lines[0].contains(&tag), "{fx}: {tag} drawn first\n{out}");
        let container_lines: Vec<&str> = drawn().filter(|l| l.contains("▶ ")).collect();
        assert_eq!(container_lines.len(), 1, "{fx}\n{out}");
        assert!(container_lines[0].contains(&format!("▶ {newest} ")), "{fx}: {newest}\n{out}");
        if cs.len() > 1 {
            let n = cs.len() - 1;
            let more = format!("… and {n} more ({n} container{})", if n == 1 { "" } else { "s" });
            assert!(out.contains(&more), "{fx}: {more}\n{out}");
        }
    }
}

/// The Graphviz view collapses the same way (a dashed box per folded chain, a note per
/// summary), its counts add up to the engine's, and Graphviz lays it out.
#[test]
fn dot_collapses_like_the_text_and_renders() {
    require_root!();
    require_tool!("dot", "-V", "apt-get install graphviz");
    for fx in BASIC_SCENARIO_FIXTURES {
        let root = data_root(fx);
        let want = engine_counts(fx);
        for (setting, all) in SETTINGS.iter().flat_map(|s| [(s, true), (s, false)]) {
            let mut args = vec!["tree", "--format", "dot"];
            args.extend(*setting);
            if all {
                args.push("--all");
            }
            let (code, out, err) = run(&root, &args);
            assert_eq!(code, 0, "{err}");
            let mut got = Counts::default();
            for line in out.lines() {
                let Some(label) = line.split("label=\"").nth(1) else { continue };
                if line.contains("style=dashed, label=\"… ") && line.contains("layers folded") {
                    let n = label.trim_start_matches("… ").split(' ').next().unwrap();
                    got.layers += n.parse::<usize>().unwrap();
                    if let Some(at) = label.find("\\n+") {
                        let n = label[at + 3..].split(' ').next().unwrap();
                        got.images += n.parse::<usize>().unwrap();
                    }
                } else if line.contains("shape=note") {
                    let counts = label.split("\\n").nth(1).unwrap();
                    let c = parse_counts(counts);
                    got.layers += c.layers;
                    got.images += c.images;
                    got.containers += c.containers;
                } else if line.contains("shape=box") {
                    got.layers += 1;
                } else if line.contains("shape=ellipse") {
                    got.images += 1;
                } else if line.contains("shape=hexagon") {
                    got.containers += 1;
                }
            }
            if all {
                assert_eq!(got, want, "{fx} {args:?}\n{out}");
            } else {
                // Without --all the intermediates on drawn layers are left out of the
                // picture (only a fold or a note counts them).
                assert_eq!(got.layers, want.layers, "{fx} {args:?}\n{out}");
                assert_eq!(got.containers, want.containers, "{fx} {args:?}\n{out}");
                assert!(got.images <= want.images, "{fx} {args:?}\n{out}");
            }

            if let Err(e) = dot_svg(&out) {
                panic!("{fx} {args:?}: {e}");
            }
        }
    }
}

/// JSON is for machines: whole whatever the thresholds.
#[test]
fn json_ignores_the_thresholds() {
    require_root!();
    let root = data_root("basic");
    let whole = run_json(&root, &["tree"]);
    let small = run_json(&root, &["tree", "--fanout", "1", "--chain", "1"]);
    assert_eq!(whole, small);
    assert_eq!(whole["totals"]["layers"].as_u64().unwrap() as usize, engine_counts("basic").layers);
}
