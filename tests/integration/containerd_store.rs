//! The containerd store reader on the real `containerd-store` fixture (Docker 26.1 with
//! its own containerd 1.7), checked against Docker's recorded answers; and a damaged
//! meta.db, which must give one finding naming it and no panic.

use crate::support::*;
use std::collections::BTreeSet;
use std::path::Path;
use strata::digest::Digest;
use strata::finding::Code;
use strata::fsread::{Limits, SafeDir};
use strata::store::containerd::{self, SnapshotKind, META_DB};

const FIXTURE: &str = "containerd-store";

/// Docker's short form of a normalised name: `docker.io/library/x` -> `x`,
/// `docker.io/y/x` -> `y/x`.
fn familiar(name: &str) -> String {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    n.strip_prefix("library/").unwrap_or(n).to_owned()
}

fn ctd_root() -> std::path::PathBuf {
    data_root(FIXTURE).join("containerd/daemon")
}

#[test]
fn reads_the_fixture_as_docker_sees_it() {
    require_root!();
    let root = SafeDir::open_root(&ctd_root()).unwrap();
    assert!(containerd::looks_like_root(&root));
    let mut findings = Vec::new();
    let store = containerd::read_store(&root, "moby", None, Limits::default(), &mut findings);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(store.snapshotter, "overlayfs");
    assert!(store.namespaces.iter().any(|n| n.name == "moby" && n.images == store.images.len()));

    // Image names are Docker's RepoTags (normalised), targets the image IDs.
    let inspect = read_json(&answers(FIXTURE).join("image-inspect.json"));
    let mut want_tags = BTreeSet::new();
    let mut want_ids = BTreeSet::new();
    for img in inspect.as_array().unwrap() {
        want_ids.insert(img["Id"].as_str().unwrap().to_owned());
        for t in img["RepoTags"].as_array().unwrap() {
            want_tags
                .insert((t.as_str().unwrap().to_owned(), img["Id"].as_str().unwrap().to_owned()));
        }
    }
    let got_tags: BTreeSet<(String, String)> = store
        .images
        .iter()
        .filter(|i| !i.name.starts_with("moby-dangling@"))
        .map(|i| (familiar(&i.name), i.target.digest.to_string()))
        .collect();
    assert_eq!(got_tags, want_tags);
    let got_ids: BTreeSet<String> =
        store.images.iter().map(|i| i.target.digest.to_string()).collect();
    assert_eq!(got_ids, want_ids);
    // Times print as Docker prints them: an image's last update is its LastTagTime.
    for img in inspect.as_array().unwrap() {
        let id = img["Id"].as_str().unwrap();
        let want = img["Metadata"]["LastTagTime"].as_str().unwrap();
        let got: Vec<_> = store
            .images
            .iter()
            .filter(|i| i.target.digest.to_string() == id)
            .filter_map(|i| i.updated_at.as_deref())
            .collect();
        assert!(got.contains(&want), "{id}: {got:?} vs {want}");
    }
    for img in &store.images {
        assert!(img.target.size > 0 && !img.target.media_type.is_empty(), "{img:?}");
        if let Some(d) = img.name.strip_prefix("moby-dangling@") {
            assert_eq!(d, img.target.digest.to_string());
        }
    }

    // Every blob Docker's content store holds is recorded and present.
    let facts = read_json(&repo().join("fixtures").join(FIXTURE).join("layer-facts.json"));
    let want_blobs: BTreeSet<Digest> = facts["containerd_blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().parse().unwrap())
        .collect();
    let got_blobs: BTreeSet<Digest> = store.blobs.keys().copied().collect();
    assert_eq!(got_blobs, want_blobs);
    for b in store.blobs.values() {
        assert!(b.present, "{b:?}");
        assert_eq!(b.file_size.map(|s| s as i64), b.size, "{b:?}");
    }
    assert!(store.unrecorded_blobs.is_empty());

    // Every committed snapshot's directory exists, and every directory has a record.
    let mut ids = BTreeSet::new();
    for s in store.snapshots.values() {
        let b = s.backend.as_ref().unwrap_or_else(|| panic!("no backend record for {s:?}"));
        assert!(s.dir_present, "{s:?}");
        ids.insert(b.id.to_string());
        if b.kind == SnapshotKind::Committed {
            assert!(s.dir.as_ref().unwrap().ends_with(Path::new(&b.id.to_string()).join("fs")));
        }
    }
    let dirs: BTreeSet<String> = store.snapshot_dirs.iter().cloned().collect();
    assert!(ids.is_subset(&dirs), "{ids:?} vs {dirs:?}");

    // Each Docker container has its RW snapshot (active) on its init one (committed).
    let containers = read_json(&answers(FIXTURE).join("container-inspect.json"));
    for c in containers.as_array().unwrap() {
        let id = c["Id"].as_str().unwrap();
        let rw = store.snapshots.get(id).unwrap_or_else(|| panic!("no snapshot {id}"));
        let init_key = format!("{id}-init");
        assert_eq!(rw.parent.as_deref(), Some(init_key.as_str()));
        assert_eq!(rw.backend.as_ref().unwrap().kind, SnapshotKind::Active);
        let init =
            store.snapshots.get(&init_key).unwrap_or_else(|| panic!("no snapshot {init_key}"));
        assert_eq!(init.backend.as_ref().unwrap().kind, SnapshotKind::Committed);
        assert!(init.parent.as_deref().is_some_and(|p| p.starts_with("sha256:")), "{init:?}");
    }
}

#[test]
fn a_truncated_meta_db_is_one_finding_naming_it() {
    require_root!();
    let copy = copy_tree(&ctd_root());
    let db = copy.path().join(META_DB);
    let bytes = std::fs::read(&db).unwrap();
    for len in [0, 100, 4096, 3 * 4096 + 7, bytes.len() / 2] {
        std::fs::write(&db, &bytes[..len]).unwrap();
        let root = SafeDir::open_root(copy.path()).unwrap();
        let mut findings = Vec::new();
        let store = containerd::read_store(&root, "moby", None, Limits::default(), &mut findings);
        let named: Vec<_> =
            findings.iter().filter(|f| f.file.as_deref() == Some(META_DB)).collect();
        assert_eq!(named.len(), 1, "len {len}: {findings:#?}");
        assert_eq!(named[0].code, Code::MetadataCorrupt);
        // The files on disk are still listed.
        assert!(!store.snapshot_dirs.is_empty());
    }
}
