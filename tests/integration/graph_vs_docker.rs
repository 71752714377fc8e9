//! `strata images`, `containers` and `inspect` agree with what Docker itself said
//! about the same data-root (recorded in fixtures/<name>/docker/ by the engine that
//! wrote it), on every field both have.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn by_key<'a>(items: &'a Value, key: &str) -> BTreeMap<String, &'a Value> {
    items.as_array().unwrap().iter().map(|v| (v[key].as_str().unwrap().to_owned(), v)).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn images_match_docker_image_inspect() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        check_images_match_docker_image_inspect(fx, &data_root(fx), &answers(fx));
    }
}

fn check_images_match_docker_image_inspect(fx: &str, root: &Path, answers: &Path) {
    let ours = run_json(root, &["images"]);
    let ours = by_key(&ours, "id");
    let docker = read_json(&answers.join("image-inspect.json"));
    let docker = by_key(&docker, "Id");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        docker.keys().collect::<Vec<_>>(),
        "{fx}: image sets differ"
    );
    for (id, d) in &docker {
        let o = ours[id];
        let ctx = format!("{fx} image {id}");
        assert_eq!(strs(&o["repo_tags"]), strs(&d["RepoTags"]), "{ctx}: RepoTags");
        assert_eq!(strs(&o["repo_digests"]), strs(&d["RepoDigests"]), "{ctx}: RepoDigests");
        let parent = d["Parent"].as_str().filter(|p| !p.is_empty());
        assert_eq!(o["parent"].as_str(), parent, "{ctx}: Parent");
        assert_eq!(o["created"], d["Created"], "{ctx}: Created");
        assert_eq!(o["os"], d["Os"], "{ctx}: Os");
        assert_eq!(o["architecture"], d["Architecture"], "{ctx}: Architecture");
        assert_eq!(o["size"], d["Size"], "{ctx}: Size");
        assert_eq!(strs(&o["diff_ids"]), strs(&d["RootFS"]["Layers"]), "{ctx}: RootFS.Layers");
        let last_tag = d["Metadata"]["LastTagTime"].as_str().filter(|t| !t.starts_with("0001-"));
        assert_eq!(o["last_tag_time"].as_str(), last_tag, "{ctx}: Metadata.LastTagTime");
    }
}

#[test]
fn shared_sizes_and_container_counts_match_system_df() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        check_shared_sizes_and_container_counts_match_system_df(fx, &data_root(fx), &answers(fx));
    }
}

fn check_shared_sizes_and_container_counts_match_system_df(fx: &str, root: &Path, answers: &Path) {
    let ours = run_json(root, &["images"]);
    let ours = by_key(&ours, "id");
    let df = read_json(&answers.join("api-system-df.json"));
    let images = df["Images"].as_array().unwrap();
    assert!(!images.is_empty());
    for d in images {
        let id = d["Id"].as_str().unwrap();
        let o =
            ours.get(id).unwrap_or_else(|| panic!("{fx}: /system/df lists {id}, strata does not"));
        assert_eq!(o["size"], d["Size"], "{fx} {id}: Size");
        assert_eq!(o["shared_size"], d["SharedSize"], "{fx} {id}: SharedSize");
        assert_eq!(o["containers"], d["Containers"], "{fx} {id}: Containers");
        let unique = d["Size"].as_i64().unwrap() - d["SharedSize"].as_i64().unwrap();
        assert_eq!(o["unique_size"].as_i64(), Some(unique), "{fx} {id}: unique");
    }
}

#[test]
fn containers_match_docker_container_inspect() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        check_containers_match_docker_container_inspect(fx, &data_root(fx), &answers(fx));
    }
}

fn check_containers_match_docker_container_inspect(fx: &str, root: &Path, answers: &Path) {
    let ours = run_json(root, &["containers"]);
    let ours = by_key(&ours, "id");
    let docker = read_json(&answers.join("container-inspect.json"));
    let docker = by_key(&docker, "Id");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        docker.keys().collect::<Vec<_>>(),
        "{fx}: container sets differ"
    );
    for (id, d) in &docker {
        let o = ours[id];
        let ctx = format!("{fx} container {id}");
        assert_eq!(
            o["name"].as_str(),
            d["Name"].as_str().map(|n| n.trim_start_matches('/')),
            "{ctx}: Name"
        );
        assert_eq!(o["image"], d["Image"], "{ctx}: Image");
        assert_eq!(o["image_ref"], d["Config"]["Image"], "{ctx}: Config.Image");
        assert_eq!(o["state"], d["State"]["Status"], "{ctx}: State.Status");
        assert_eq!(o["exit_code"], d["State"]["ExitCode"], "{ctx}: ExitCode");
        assert_eq!(o["created"], d["Created"], "{ctx}: Created");
        assert_eq!(o["driver"], d["Driver"], "{ctx}: Driver");
        if d["GraphDriver"]["Data"].is_null() {
            // vfs and friends: Docker shows no paths to compare with.
            assert!(o["mount_id"].is_string(), "{ctx}: RW layer");
            continue;
        }
        let upper = d["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
        let mount_id = upper.trim_end_matches("/diff").rsplit('/').next().unwrap();
        assert_eq!(o["mount_id"].as_str(), Some(mount_id), "{ctx}: RW layer");
        let lower = d["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
        let init =
            lower.split(':').next().unwrap().trim_end_matches("/diff").rsplit('/').next().unwrap();
        assert_eq!(o["init_id"].as_str(), Some(init), "{ctx}: init layer");
    }
}

/// GraphDriver.Data as docker inspect computes it, with the daemon's data-root path
/// swapped for where the fixture is extracted.
#[test]
fn inspect_graph_driver_paths_match_docker() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        check_inspect_graph_driver_paths_match_docker(fx, &data_root(fx), &answers(fx));
    }
}

fn check_inspect_graph_driver_paths_match_docker(fx: &str, root: &Path, answers: &Path) {
    let info = read_json(&answers.join("info.json"));
    let docker_root = info["DockerRootDir"].as_str().unwrap().to_owned();
    // Under --userns-remap the engine's root dir is the `<uid>.<gid>` store in the data-root.
    let remapped = Path::new(&docker_root).file_name().and_then(|n| n.to_str()).filter(|n| {
        n.split_once('.').is_some_and(|(u, g)| u.parse::<u32>().is_ok() && g.parse::<u32>().is_ok())
    });
    let root_s = match remapped {
        Some(n) => root.join(n).display().to_string(),
        None => root.display().to_string(),
    };
    let swap = |s: &str| s.replace(&docker_root, &root_s);
    for (file, key) in [("image-inspect.json", "Id"), ("container-inspect.json", "Id")] {
        let docker = read_json(&answers.join(file));
        for d in docker.as_array().unwrap() {
            let id = d[key].as_str().unwrap();
            let ours = run_json(root, &["inspect", id]);
            assert_eq!(ours["graph_driver"]["name"], d["GraphDriver"]["Name"]);
            let Some(data) = d["GraphDriver"]["Data"].as_object() else {
                assert!(ours["graph_driver"]["data"].is_null(), "{fx} {id}: GraphDriver.Data");
                continue;
            };
            for (k, v) in data {
                assert_eq!(
                    ours["graph_driver"]["data"][k].as_str(),
                    Some(swap(v.as_str().unwrap()).as_str()),
                    "{fx} {id}: GraphDriver.Data.{k}"
                );
            }
            assert_eq!(ours["graph_driver"]["name"], d["GraphDriver"]["Name"]);
        }
    }
}

#[test]
fn inspect_resolves_references_as_docker_does() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        check_inspect_resolves_references_as_docker_does(fx, &data_root(fx), &answers(fx));
    }
}

fn check_inspect_resolves_references_as_docker_does(fx: &str, root: &Path, answers: &Path) {
    let docker = read_json(&answers.join("image-inspect.json"));
    for d in docker.as_array().unwrap() {
        let id = d["Id"].as_str().unwrap();
        let mut names: Vec<String> = strs(&d["RepoTags"]);
        names.extend(strs(&d["RepoDigests"]));
        names.push(id[7..19].to_owned());
        names.push(id[7..].to_owned());
        for t in strs(&d["RepoTags"]) {
            if !t.contains('/') || !t.split('/').next().unwrap().contains(['.', ':']) {
                names.push(format!(
                    "docker.io/{}",
                    if t.contains('/') { t.clone() } else { format!("library/{t}") }
                ));
            }
        }
        for n in names {
            let v = run_json(root, &["inspect", &n]);
            assert_eq!(v["kind"], "image", "{fx}: inspect {n}");
            assert_eq!(v["id"], id, "{fx}: inspect {n}");
        }
    }
    let containers = read_json(&answers.join("container-inspect.json"));
    for d in containers.as_array().unwrap() {
        let id = d["Id"].as_str().unwrap();
        for n in [d["Name"].as_str().unwrap(), &id[..12], id] {
            let v = run_json(root, &["inspect", n]);
            assert_eq!(v["kind"], "container", "{fx}: inspect {n}");
            assert_eq!(v["id"], id);
        }
    }
    let (code, _, err) = run(root, &["inspect", "no-such-image:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-image:1"), "{err}");
}

#[test]
fn every_image_chain_resolves_to_layerdb_records() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        check_every_image_chain_resolves_to_layerdb_records(fx, &data_root(fx), &answers(fx));
    }
}

fn check_every_image_chain_resolves_to_layerdb_records(fx: &str, root: &Path, _answers: &Path) {
    let images = run_json(root, &["images"]);
    let layers = run_json(root, &["layers"]);
    let layers = by_key(&layers, "chain_id");
    for img in images.as_array().unwrap() {
        let chain = strs(&img["chain_ids"]);
        let diffs = strs(&img["diff_ids"]);
        assert_eq!(chain.len(), diffs.len());
        let mut total = 0;
        for (i, (c, d)) in chain.iter().zip(&diffs).enumerate() {
            let l = layers.get(c).unwrap_or_else(|| panic!("{fx}: layer {c} missing"));
            assert_eq!(l["diff_id"].as_str(), Some(d.as_str()));
            let parent = if i == 0 { None } else { Some(chain[i - 1].as_str()) };
            assert_eq!(l["parent"].as_str(), parent);
            assert_eq!(l["driver_dir_present"], true);
            assert!(strs(&l["images"]).contains(&img["id"].as_str().unwrap().to_owned()));
            total += l["size"].as_i64().unwrap();
        }
        assert_eq!(img["size"].as_i64(), Some(total));
    }
}

/// Registry blobs recorded per layer are the ones Docker recorded in v2metadata,
/// and pushed entries are told apart from pulled ones.
#[test]
fn layers_carry_their_registry_blobs() {
    require_root!();
    let root = data_root("basic");
    let layers = run_json(&root, &["layers"]);
    let with_blobs: Vec<&Value> = layers
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| !l["blob_digests"].as_array().unwrap().is_empty())
        .collect();
    assert!(!with_blobs.is_empty());
    let dist = root.join("image/overlay2/distribution/v2metadata-by-diffid/sha256");
    for l in with_blobs {
        let diff = l["diff_id"].as_str().unwrap();
        let raw: Value =
            serde_json::from_slice(&std::fs::read(dist.join(&diff[7..])).unwrap()).unwrap();
        let expect: Vec<(String, String, bool)> = raw
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["Digest"].as_str().unwrap().into(),
                    e["SourceRepository"].as_str().unwrap().into(),
                    !e["HMAC"].as_str().unwrap().is_empty(),
                )
            })
            .collect();
        let got: Vec<(String, String, bool)> = l["blob_digests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["digest"].as_str().unwrap().into(),
                    e["source_repository"].as_str().unwrap().into(),
                    e["pushed"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expect, "layer {}", l["chain_id"]);
    }
}

#[test]
fn containerd_image_store_is_read_and_named() {
    require_root!();
    let root = data_root("containerd-store");
    let (code, out, err) = run(&root, &["images"]);
    assert_eq!(code, 0, "{err}");
    let named = format!("containerd image store at {}", root.join("containerd/daemon").display());
    assert!(err.contains(&named), "stderr names the containerd root read: {err}");
    let listed =
        read_json(&answers("containerd-store").join("api-images.json")).as_array().unwrap().len();
    assert_eq!(out.lines().count(), 1 + listed, "every image Docker lists: {out}");
}

/// A data-root made just now by a live dockerd, compared there and then with what
/// that daemon answered. Skips (with the reason) when not root or no dockerd starts.
#[test]
fn live_engine_fresh_data_root() {
    require_root!();
    let out = tempfile::Builder::new()
        .prefix("strata-live-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let status = std::process::Command::new(repo().join("fixtures/make-fixtures.sh"))
        .arg("--out")
        .arg(out.path())
        .arg("basic")
        // Not 5000: registry_online serves the fixtures' registries there.
        .env("STRATA_REGISTRY_PORT_FROM", "5300")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run fixtures/make-fixtures.sh");
    // 77: make-fixtures.sh's "cannot run here" (no dockerd could start).
    if status.code() == Some(77) {
        skip!("no dockerd could start here (see make-fixtures.sh output above); install docker.io");
    }
    assert!(status.success(), "make-fixtures.sh failed: {status}");
    let root = out.path().join("root");
    let st = std::process::Command::new(repo().join("fixtures/extract.sh"))
        .arg(out.path().join("data-root.tar.gz"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    let answers = out.path().join("docker");
    check_images_match_docker_image_inspect("live", &root, &answers);
    check_shared_sizes_and_container_counts_match_system_df("live", &root, &answers);
    check_containers_match_docker_container_inspect("live", &root, &answers);
    check_inspect_graph_driver_paths_match_docker("live", &root, &answers);
    check_inspect_resolves_references_as_docker_does("live", &root, &answers);
    check_every_image_chain_resolves_to_layerdb_records("live", &root, &answers);
}

/// The listings keep to their committed, documented schemas on every fixture.
#[test]
fn listings_match_their_schemas() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES.iter().chain(&["containerd-store"]) {
        let root = data_root(fx);
        for cmd in ["images", "layers", "containers"] {
            validate(cmd, &run_json(&root, &[cmd]));
        }
    }
}

/// With more than one image store on disk, strata reads the one whose driver
/// directory is there, names the others, and `--driver` picks explicitly.
#[test]
fn several_image_stores_are_named_and_chosen() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    std::fs::create_dir_all(t.path().join("image/aufs/imagedb/content/sha256")).unwrap();
    std::fs::create_dir_all(t.path().join("vfs/dir/leftover")).unwrap();
    let (code, out, err) = run(t.path(), &["images", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let images: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(images.as_array().unwrap().len(), 19);
    assert!(err.contains("image/aufs"), "{err}");
    assert!(err.contains("vfs/"), "{err}");
    let (code, out, _) = run(t.path(), &["images", "--driver", "aufs", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "[]");
}

/// A live dockerd started on a copy of the basic fixture lists exactly the images strata
/// reads from the same copy (IDs and tags), so a live engine on a fixture copy is a fair
/// peer for the tests that need one (save/load, export, churn).
#[test]
fn live_engine_on_fixture_copy_agrees_with_strata() {
    let Some(engine) = engine::on_fixture_copy("basic") else { return };
    let live = engine.api("/images/json?all=1");
    let ours = run_json(&engine.data_root, &["images"]);
    let ids = |v: &serde_json::Value, key: &str| {
        let mut ids: Vec<String> =
            v.as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    assert!(!live.as_array().unwrap().is_empty());
    assert_eq!(ids(&live, "Id"), ids(&ours, "id"), "live engine vs strata on one copy");
}
