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
    let lib =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures/containerd-sid-host/var/lib");
    if !lib.join("containerd").exists() {
        std::fs::create_dir_all(&lib).unwrap();
        let staged = tempfile::tempdir_in(&lib).unwrap();
        std::fs::rename(copy_tree(&data).keep(), staged.path().join("docker")).unwrap();
        std::fs::rename(
            copy_tree(&extracted(name, "containerd-root.tar.gz")).keep(),
            staged.path().join("containerd"),
        )
        .unwrap();
        // Another test process may have won the race; either copy is the same.
        let _ = std::fs::rename(staged.path().join("docker"), lib.join("docker"));
        let _ = std::fs::rename(staged.path().join("containerd"), lib.join("containerd"));
    }
    lib.join("docker")
}

fn json(args: &[&str], root: &Path) -> Value {
    let out =
        strata().arg("--root").arg(root).args(args).args(["--format", "json"]).output().unwrap();
    assert!(out.status.code() != Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

const FIXTURES: &[&str] = &["containerd-store", "containerd-sid"];

#[test]
fn images_equal_the_engines_answers() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        let mine: BTreeMap<String, Value> = json(&["images"], &root)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["id"].as_str().unwrap().to_owned(), i.clone()))
            .collect();
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
            assert_eq!(
                got["shared_size"], want["SharedSize"],
                "{name}: SharedSize of {}",
                want["Id"]
            );
            assert_eq!(
                got["containers"], want["Containers"],
                "{name}: Containers of {}",
                want["Id"]
            );
        }
        // DiffIDs, creation time, platform, tags and digests equal image inspect.
        for want in read_json(&answers(name).join("image-inspect.json")).as_array().unwrap() {
            let id = want["Id"].as_str().unwrap();
            let got = &mine[id];
            assert_eq!(got["diff_ids"], want["RootFS"]["Layers"], "{name}: DiffIDs of {id}");
            assert_eq!(got["created"], want["Created"], "{name}: Created of {id}");
            assert_eq!(got["os"], want["Os"], "{name}: Os of {id}");
            assert_eq!(got["architecture"], want["Architecture"], "{name}: Architecture of {id}");
            assert_eq!(got["repo_tags"], want["RepoTags"], "{name}: RepoTags of {id}");
        }
    }
}

#[test]
fn containers_and_their_sizes_equal_the_engines_answers() {
    require_root!();
    for name in FIXTURES {
        let root = host(name);
        let mine: BTreeMap<String, Value> = json(&["containers"], &root)
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_owned(), c.clone()))
            .collect();
        for want in read_json(&answers(name).join("container-inspect.json")).as_array().unwrap() {
            let id = want["Id"].as_str().unwrap();
            let got = &mine[id];
            assert_eq!(got["image"], want["Image"], "{name} {id}: Image");
            assert_eq!(
                got["name"].as_str().unwrap(),
                want["Name"].as_str().unwrap().trim_start_matches('/'),
                "{name} {id}: Name"
            );
            assert_eq!(got["driver"], want["Driver"], "{name} {id}: Driver");
            assert_eq!(got["state"], want["State"]["Status"], "{name} {id}: State");
            assert_eq!(got["exit_code"], want["State"]["ExitCode"], "{name} {id}: ExitCode");
            assert_eq!(got["created"], want["Created"], "{name} {id}: Created");
            assert_eq!(got["image_ref"], want["Config"]["Image"], "{name} {id}: Config.Image");
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
                assert_eq!(
                    g["created_by"].as_str().unwrap_or(""),
                    w["CreatedBy"].as_str().unwrap(),
                    "{name} {hex}"
                );
                assert_eq!(
                    g["comment"].as_str().unwrap_or(""),
                    w["Comment"].as_str().unwrap(),
                    "{name} {hex}"
                );
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
        validate("audit", &a);
        assert_eq!(a["store"], "containerd", "{name}");
        for (cmd, schema) in
            [("images", "images"), ("layers", "layers"), ("containers", "containers"), ("df", "df")]
        {
            validate(schema, &json(&[cmd], &root));
        }
        let errors: Vec<&Value> =
            a["findings"].as_array().unwrap().iter().filter(|f| f["severity"] != "info").collect();
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
    let ctd_src = if name == "containerd-sid" {
        src.parent().unwrap().join("containerd")
    } else {
        src.join("containerd/daemon")
    };
    let ctd = if name == "containerd-sid" {
        lib.join("containerd")
    } else {
        lib.join("docker/containerd/daemon")
    };
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
    let base = g
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["parent"].is_null() && l["size"].as_i64().unwrap_or(0) > 1_000_000)
        .unwrap();
    let dir = snaps.join(base["cache_id"].as_str().unwrap()).join("fs");
    // 1. An edited file.
    std::fs::write(dir.join("etc/passwd"), b"root::0:0::/root:/bin/sh\nevil::0:0::/:/bin/sh\n")
        .unwrap();
    // 2. A file planted in a new directory.
    std::fs::create_dir_all(dir.join("usr/share/planted")).unwrap();
    std::fs::write(dir.join("usr/share/planted/backdoor"), b"#!/bin/sh\n").unwrap();
    let f = findings(&["verify"], &root);
    assert!(has(&f, "layer-file-modified", "etc/passwd"), "{f:#?}");
    assert!(has(&f, "layer-file-added", "usr/share/planted/backdoor"), "{f:#?}");
    assert!(has(&f, "diff-id-mismatch", ""), "{f:#?}");

    // 3. An edited config blob.
    let images = json(&["images"], &root);
    let app = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repo_tags"].to_string().contains("strata/app:1"))
        .unwrap();
    let inspect = json(&["inspect", app["id"].as_str().unwrap()], &root);
    let config =
        inspect["containerd"]["config"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let blobs = ctd.join("io.containerd.content.v1.content/blobs/sha256");
    let cfg = blobs.join(&config);
    let mut bytes = std::fs::read(&cfg).unwrap();
    let pos = bytes.iter().position(|&b| b == b'{').unwrap();
    bytes.insert(pos + 1, b' ');
    std::fs::write(&cfg, bytes).unwrap();
    // 4. A missing layer blob (the scratch image's only layer).
    let scratch = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repo_tags"].to_string().contains("strata/scratch:1"))
        .unwrap();
    let top = scratch["top_layer"].as_str().unwrap();
    let layer = json(&["inspect", top], &root);
    let blob = layer["containerd"]["blob"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    std::fs::remove_file(blobs.join(&blob)).unwrap();
    let f = findings(&["verify"], &root);
    assert!(has(&f, "content-blob-mismatch", &config), "config blob edit: {f:#?}");
    assert!(has(&f, "content-blob-missing", &blob), "layer blob removed: {f:#?}");
    let out = strata().arg("--root").arg(&root).arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    // 6. Content no layer pass reads (the BuildKit image's attestation manifest) is
    // hashed too: every blob must be what its name says.
    let bk = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repo_tags"].to_string().contains("strata/buildkit:1"))
        .unwrap();
    let att = bk["containerd"]["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["attestation"] == true)
        .unwrap();
    let att = att["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let mut bytes = std::fs::read(blobs.join(&att)).unwrap();
    bytes.push(b'\n');
    std::fs::write(blobs.join(&att), bytes).unwrap();
    let f = findings(&["verify"], &root);
    assert!(has(&f, "content-blob-mismatch", &att), "attestation blob edit: {f:#?}");

    // 5. A truncated meta.db: a finding naming it, and the report still comes out.
    let meta = ctd.join("io.containerd.metadata.v1.bolt/meta.db");
    let len = std::fs::metadata(&meta).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&meta).unwrap();
    file.set_len(len / 3).unwrap();
    let out =
        strata().arg("--root").arg(&root).args(["audit", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(a["findings"].to_string().contains("meta.db"), "{a:#}");
}

/// A container whose RW snapshot directory is gone is an error; once its config.v2.json
/// marks it dead (Docker writes that before it removes the snapshot) it is a removal
/// under way, a warning.
#[test]
fn container_without_its_snapshot_is_an_error_unless_marked_dead() {
    require_root!();
    let (_keep, root, ctd) = damaged("containerd-sid");
    let list = json(&["containers"], &root);
    let c = list.as_array().unwrap().iter().find(|c| c["name"] == "changer").unwrap();
    let id = c["id"].as_str().unwrap().to_owned();
    let rw = ctd.join(c["rw_dir"].as_str().unwrap());
    std::fs::remove_dir_all(rw.parent().unwrap()).unwrap();
    let about = |f: &[Value]| -> Vec<Value> {
        f.iter()
            .filter(|x| x["code"] == "container-layer-missing" && x["subject"] == id.as_str())
            .cloned()
            .collect()
    };
    let f = about(&findings(&["audit"], &root));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["severity"], "error", "{f:#?}");
    assert!(f[0]["message"].as_str().unwrap().contains("RW snapshot directory is missing"));

    let file = root.join("containers").join(&id).join("config.v2.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["State"]["Dead"] = Value::Bool(true);
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let f = about(&findings(&["audit"], &root));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["severity"], "warning", "{f:#?}");
    assert!(f[0]["message"].as_str().unwrap().contains("marked dead"), "{f:#?}");
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
        let sizes: BTreeMap<String, Value> = mine["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_owned(), c["rw_size"].clone()))
            .collect();
        for c in want["Containers"].as_array().unwrap() {
            assert_eq!(
                sizes[c["Id"].as_str().unwrap()],
                c["SizeRw"],
                "{name}: SizeRw of {}",
                c["Id"]
            );
        }
        let listed: Vec<&str> =
            mine["images"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
        let mut want_ids: Vec<&str> =
            want["Images"].as_array().unwrap().iter().map(|i| i["Id"].as_str().unwrap()).collect();
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

/// `--host-root`: the data-root and the containerd root are found under a mounted
/// host as that host finds them, its containerd config included; a copied
/// data-root alone never reads this machine's containerd.
#[test]
fn host_root_finds_both_roots_as_the_host_would() {
    require_root!();
    let lib = host("containerd-sid").parent().unwrap().to_path_buf();
    let top = lib.parent().unwrap().parent().unwrap().to_path_buf();
    let listed =
        read_json(&answers("containerd-sid").join("api-images.json")).as_array().unwrap().len();
    let count = |args: &[&str]| -> (usize, String) {
        let out = strata().args(args).args(["images", "--format", "json"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (v.as_array().map_or(0, |a| a.len()), err)
    };
    let (n, err) = count(&["--host-root", top.to_str().unwrap()]);
    assert_eq!(n, listed, "{err}");
    assert!(
        err.contains(&format!("at {}", lib.join("containerd").display()))
            && err.contains("--host-root"),
        "{err}"
    );

    // The host's config.toml moves containerd's root: it is followed, under the host.
    let h = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::create_dir_all(h.path().join("etc/containerd")).unwrap();
    std::fs::write(
        h.path().join("etc/containerd/config.toml"),
        "version = 3\nroot = \"/srv/ctd\"\nstate = \"/run/ctd\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(h.path().join("var/lib")).unwrap();
    std::fs::create_dir_all(h.path().join("srv")).unwrap();
    std::os::unix::fs::symlink(lib.join("docker"), h.path().join("var/lib/docker")).unwrap();
    std::os::unix::fs::symlink(lib.join("containerd"), h.path().join("srv/ctd")).unwrap();
    let (n, err) = count(&["--host-root", h.path().to_str().unwrap()]);
    assert_eq!(n, listed, "{err}");
    assert!(err.contains(&format!("at {}", h.path().join("srv/ctd").display())), "{err}");

    // A copy of the data-root alone: nothing beside it, and this machine's own
    // containerd is never read in its place.
    let alone = copy_tree(&lib.join("docker"));
    let (n, err) = count(&["--root", alone.path().to_str().unwrap()]);
    assert_eq!(n, 0, "{err}");
    assert!(err.contains("--containerd-root"), "the message says how to give the store: {err}");
    assert!(!err.contains("/var/lib/containerd"), "{err}");
}

/// `strata files` of every containerd layer lists exactly the members GNU tar
/// finds in its blob, in order.
#[test]
fn files_list_every_member_of_each_layer_blob() {
    require_root!();
    require_tool!("tar", "--version", "apt-get install tar");
    for name in FIXTURES {
        let root = host(name);
        let layers = json(&["layers"], &root);
        let ctd = json(&["audit", "--metadata-only"], &root)["containerd"]["root"]
            .as_str()
            .unwrap()
            .to_owned();
        for l in layers.as_array().unwrap() {
            let Some(blob) = l["containerd"]["blob"]["digest"].as_str() else { continue };
            let path = Path::new(&ctd)
                .join("io.containerd.content.v1.content/blobs/sha256")
                .join(blob.trim_start_matches("sha256:"));
            let out = std::process::Command::new("tar").arg("-tzf").arg(&path).output().unwrap();
            assert!(out.status.success(), "tar -tzf {}", path.display());
            let want: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_owned())
                .filter(|p| !p.is_empty())
                .collect();
            let files = json(&["files", l["chain_id"].as_str().unwrap()], &root);
            let got: Vec<String> = files[0]["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_owned())
                .filter(|p| !p.is_empty() && p != ".")
                .collect();
            // GNU tar prints non-UTF-8 bytes as they are; strata escapes them as \xNN.
            let got: Vec<String> = got
                .iter()
                .map(|p| p.replace("\\xff", "\u{fffd}").replace("\\xe9", "\u{fffd}"))
                .collect();
            let want: Vec<String> = want.iter().map(|p| p.to_owned()).collect();
            assert_eq!(
                got.len(),
                want.len(),
                "{name} layer {}: {got:?} vs {want:?}",
                l["chain_id"]
            );
            for (g, w) in got.iter().zip(&want) {
                if !g.contains('\u{fffd}') {
                    assert_eq!(g, w, "{name} layer {}", l["chain_id"]);
                }
            }
        }
    }
}

/// After a migration a host holds both stores: the graphdriver store stays the
/// engine's (its layers are there), `images` lists both, each image labelled with
/// its store, and `--store` reads one.
#[test]
fn both_stores_after_a_migration_are_listed_and_labelled() {
    require_root!();
    let t = copy_tree(&data_root("basic"));
    std::fs::remove_dir_all(t.path().join("containerd/daemon")).unwrap();
    let moved = copy_tree(&data_root("containerd-store").join("containerd/daemon"));
    std::fs::rename(moved.keep(), t.path().join("containerd/daemon")).unwrap();
    let count = |v: &Value, store: &str| {
        v.as_array().unwrap().iter().filter(|i| i["store"] == store).count()
    };
    let gd = read_json(&answers("basic").join("api-images.json")).as_array().unwrap().len();
    let ctd =
        read_json(&answers("containerd-store").join("api-images.json")).as_array().unwrap().len();
    let both = json(&["images"], t.path());
    validate("images", &both);
    assert_eq!((count(&both, "graphdriver"), count(&both, "containerd")), (gd, ctd));
    let only = json(&["--store", "containerd", "images"], t.path());
    assert_eq!((count(&only, "graphdriver"), count(&only, "containerd")), (0, ctd));
    let only = json(&["--store", "graphdriver", "images"], t.path());
    assert_eq!((count(&only, "graphdriver"), count(&only, "containerd")), (gd, 0));
    let out = strata().arg("--root").arg(t.path()).arg("images").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("graphdriver image store image/overlay2:")
            && text.contains("containerd image store at"),
        "{text}"
    );
}

/// A zstd layer blob (the OCI `tar+zstd` media type) verifies like a gzip one: the
/// base layer of a real containerd store, recompressed with zstd, against its
/// real snapshot directory.
#[test]
fn a_zstd_layer_blob_verifies_against_its_snapshot() {
    require_root!();
    use strata::verify::blob::Compression;
    use strata::verify::{verify_layer, LayerBlob, LayerJob, VerifyOptions, VerifyStatus};
    let root = host("containerd-sid");
    let layers = json(&["layers"], &root);
    let base = layers
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["parent"].is_null() && l["size"].as_i64().unwrap_or(0) > 1_000_000)
        .unwrap();
    let ctd = copy_tree(&root.parent().unwrap().join("containerd"));
    let blobs = ctd.path().join("io.containerd.content.v1.content/blobs/sha256");
    let gz = std::fs::read(blobs.join(
        base["containerd"]["blob"]["digest"].as_str().unwrap().trim_start_matches("sha256:"),
    ))
    .unwrap();
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar).unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let digest = strata::digest::Digest::of(&zst);
    std::fs::write(blobs.join(digest.hex()), &zst).unwrap();
    let safe = strata::fsread::SafeDir::open_root(ctd.path()).unwrap();
    let job = LayerJob {
        chain_id: strata::digest::ChainId::parse(base["chain_id"].as_str().unwrap()).unwrap(),
        diff_id: strata::digest::DiffId::parse(base["diff_id"].as_str().unwrap()).unwrap(),
        tar_split: PathBuf::new(),
        content_dir: PathBuf::from(format!(
            "io.containerd.snapshotter.v1.overlayfs/snapshots/{}/fs",
            base["cache_id"].as_str().unwrap()
        )),
        driver: strata::store::graphdriver::DriverKind::Overlay2,
        lower_tar_splits: None,
        blob: Some(LayerBlob {
            digest,
            path: PathBuf::from(format!(
                "io.containerd.content.v1.content/blobs/sha256/{}",
                digest.hex()
            )),
            compression: Compression::Zstd,
        }),
    };
    let r = verify_layer(&safe, &job, &VerifyOptions::default(), None);
    assert_eq!(r.status, VerifyStatus::Verified, "{:#?}", r.findings);
    assert_eq!(r.computed_diff_id, Some(job.diff_id));
}

/// `-o FILE` never lands inside a root being read (the data-root or the containerd
/// root beside it), and elsewhere appears whole under its name, with no temporary
/// file left beside it.
#[test]
fn report_file_is_refused_inside_the_roots_and_written_whole_elsewhere() {
    require_root!();
    let root = host("containerd-sid");
    let ctd = root.parent().unwrap().join("containerd");
    for inside in [root.join("report.json"), ctd.join("report.json")] {
        let out = strata()
            .arg("--root")
            .arg(&root)
            .args(["audit", "--metadata-only", "--format", "json", "-o"])
            .arg(&inside)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write"));
        assert!(!inside.exists());
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dest = dir.path().join("report.json");
    let out = strata()
        .arg("--root")
        .arg(&root)
        .args(["audit", "--metadata-only", "--format", "json", "-o"])
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&std::fs::read(&dest).unwrap()).unwrap();
    validate("audit", &v);
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("report.json")], "nothing but the report");
}
