//! `strata export` against a real engine: for every container of a fixture, strata's
//! archive and `docker export`'s (a live engine on a copy of the fixture) hold the
//! same entries: path, type, size, content, mode, owner, link target, xattrs, mtime.

use crate::support::engine;
use crate::support::{answers, read_json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: u8,
    size: u64,
    sha256: String,
    mode: u32,
    uid: u64,
    gid: u64,
    link: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
    mtime: u64,
    device: (u32, u32),
}

/// Every entry of a tar, by path (a directory's trailing `/` dropped).
fn entries(path: &Path) -> BTreeMap<Vec<u8>, Entry> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut p = e.path_bytes().to_vec();
        while p.len() > 1 && p.ends_with(b"/") {
            p.pop();
        }
        let mut xattrs: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .map(|x| {
                x.map(|r| r.unwrap())
                    .filter(|r| r.key_bytes().starts_with(b"SCHILY.xattr."))
                    .map(|r| (r.key().unwrap().to_owned(), r.value_bytes().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let entry = Entry {
            kind: h.entry_type().as_byte(),
            size: h.size().unwrap(),
            sha256: hex::encode(Sha256::digest(&data)),
            // Permission bits: 20.10's Go also sets the type bits (0o100000...) there,
            // which the type flag already says; 28's does not (nor does strata).
            mode: h.mode().unwrap() & 0o7777,
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            link: e.link_name_bytes().map(|l| l.to_vec()).unwrap_or_default(),
            xattrs,
            mtime: h.mtime().unwrap(),
            device: (
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            ),
        };
        assert!(
            out.insert(p.clone(), entry).is_none(),
            "{}: path twice",
            String::from_utf8_lossy(&p)
        );
    }
    out
}

fn export_matches_docker_export(fixture: &str) {
    let Some(engine) = engine::on_fixture_copy(fixture) else { return };
    let containers = read_json(&answers(fixture).join("container-inspect.json"));
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut compared = 0;
    for c in containers.as_array().unwrap() {
        let id = c["Id"].as_str().unwrap();
        let theirs = dir.path().join(format!("{id}.docker.tar"));
        let ours = dir.path().join(format!("{id}.strata.tar"));
        engine.docker_ok(&["export", "-o", theirs.to_str().unwrap(), id]);
        let (code, _, err) =
            crate::support::run(&engine.data_root, &["export", id, "-o", ours.to_str().unwrap()]);
        assert_eq!(code, 0, "strata export {id}: {err}");
        let (a, b) = (entries(&theirs), entries(&ours));
        assert!(a.len() > 10, "{id}: docker export gave {} entries", a.len());
        for (p, e) in &a {
            assert_eq!(b.get(p), Some(e), "{fixture} {id}: entry {}", String::from_utf8_lossy(p));
        }
        let extra: Vec<String> = b
            .keys()
            .filter(|p| !a.contains_key(*p))
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        assert!(extra.is_empty(), "{fixture} {id}: strata exported more: {extra:?}");
        compared += 1;
    }
    assert!(compared >= 2, "{fixture}: containers compared: {compared}");
}

#[test]
fn export_of_basic_containers_equals_docker_export() {
    export_matches_docker_export("basic");
}

#[test]
fn export_of_trixie26_containers_equals_docker_export() {
    export_matches_docker_export("trixie26");
}

/// An image's export is its rootfs: the same entries as a never-started container of
/// it, minus what Docker's init layer adds.
#[test]
fn export_of_an_image_is_its_rootfs() {
    require_root!();
    let root = crate::support::data_root("basic");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let img = dir.path().join("image.tar");
    let ctr = dir.path().join("container.tar");
    let (code, _, err) =
        crate::support::run(&root, &["export", "strata/app:1", "-o", img.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        crate::support::run(&root, &["export", "never-started", "-o", ctr.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (i, c) = (entries(&img), entries(&ctr));
    // Docker's init layer: these paths, and the directories above them.
    let init = [
        ".dockerenv",
        "dev",
        "etc/hostname",
        "etc/hosts",
        "etc/mtab",
        "etc/resolv.conf",
        "proc",
        "sys",
    ];
    let from_init = |p: &[u8]| {
        init.iter().any(|x| p == x.as_bytes() || p.starts_with(format!("{x}/").as_bytes()))
            || p == b"etc"
    };
    for (p, e) in &c {
        if !from_init(p) {
            assert_eq!(i.get(p), Some(e), "{}", String::from_utf8_lossy(p));
        }
    }
    assert!(i.keys().all(|p| c.contains_key(p)), "the image has nothing the container lacks");
}
