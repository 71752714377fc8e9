//! Property: a random tar (random names, long names, sizes, modes, owners, times,
//! files, directories, symlinks, hard links), disassembled by Debian's `tar-split
//! disasm` and unpacked by GNU tar into a layer directory, is reassembled by strata
//! bit for bit, and verifies against its DiffID. Skips when tar-split or tar is
//! missing, or when not root (owners and modes must survive unpacking).

use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use strata::digest::{ChainId, DiffId, Digest};
use strata::store::graphdriver::DriverKind;
use strata::verify::{LayerJob, VerifyOptions, VerifyStatus};

#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    /// A hard link to the n-th regular file written before it (if any).
    HardLink(usize),
}

#[derive(Debug, Clone)]
struct Spec {
    /// Index of the directory it goes in (modulo the number of directories; none: top).
    dir: Option<usize>,
    name: String,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    let name = prop_oneof![4 => "[a-z0-9][a-z0-9._-]{0,11}", 1 => "[a-z]{90,140}"];
    let kind = prop_oneof![
        5 => proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Kind::File),
        2 => Just(Kind::Dir),
        1 => "[a-z0-9/._]{1,40}".prop_map(Kind::Symlink),
        1 => (0usize..8).prop_map(Kind::HardLink),
    ];
    (
        proptest::option::of(0usize..6),
        name,
        kind,
        prop_oneof![Just(0o644u32), Just(0o755), Just(0o600), Just(0o4755), Just(0o1777)],
        0u64..70000,
        0u64..70000,
        1_000_000u64..2_000_000_000,
    )
        .prop_map(|(dir, name, kind, mode, uid, gid, mtime)| Spec {
            dir,
            name,
            kind,
            mode,
            uid,
            gid,
            mtime,
        })
}

/// Writes the tar with the `tar` crate (GNU headers, long names as GNU extensions).
fn build_tar(specs: &[Spec]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for s in specs {
        let parent = match (s.dir, dirs.len()) {
            (Some(i), n) if n > 0 => format!("{}/", dirs[i % n]),
            _ => String::new(),
        };
        let path = format!("{parent}{}", s.name);
        // Unique names, and never a name that is a prefix directory of another.
        if !used.insert(path.clone())
            || used.iter().any(|u| {
                u.starts_with(&format!("{path}/"))
                    || path.starts_with(&format!("{u}/")) && !dirs.contains(u)
            })
        {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(s.mode);
        h.set_uid(s.uid);
        h.set_gid(s.gid);
        h.set_mtime(s.mtime);
        match &s.kind {
            Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &path, &data[..]).unwrap();
                files.push(path);
            }
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty()).unwrap();
                dirs.push(path);
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &path, target).unwrap();
            }
            Kind::HardLink(n) => {
                let Some(target) = (!files.is_empty()).then(|| files[n % files.len()].clone())
                else {
                    used.remove(&path);
                    continue;
                };
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, &path, &target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Root (owners and modes must survive unpacking) and the tools; otherwise
/// [`skip`](crate::support::skip)s and returns false.
fn tools() -> bool {
    crate::support::root_or_skip()
        && crate::support::tools_or_skip(
            &[("tar-split", "--version"), ("tar", "--version")],
            "apt-get install tar-split",
        )
}

/// Lays out a one-layer data-root: the tar's tar-split (by `tar-split disasm`) in
/// layerdb and its files (by GNU tar) in an overlay2 diff directory.
fn layer(
    tar_bytes: &[u8],
) -> Result<(tempfile::TempDir, std::path::PathBuf, LayerJob), TestCaseError> {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let diff_id = DiffId(Digest::of(tar_bytes));
    let chain = ChainId(diff_id.0);
    let ts_rel =
        Path::new("image/overlay2/layerdb/sha256").join(chain.hex()).join("tar-split.json.gz");
    let content_rel = Path::new("overlay2").join("c".repeat(64)).join("diff");
    std::fs::create_dir_all(root.join(ts_rel.parent().unwrap())).unwrap();
    std::fs::create_dir_all(root.join(&content_rel)).unwrap();
    let tar_path = t.path().join("layer.tar");
    std::fs::write(&tar_path, tar_bytes).unwrap();
    let st = Command::new("tar-split")
        .args(["disasm", "--no-stdout", "--output"])
        .arg(root.join(&ts_rel))
        .arg(&tar_path)
        .output()
        .unwrap();
    prop_assert!(st.status.success(), "tar-split disasm: {}", String::from_utf8_lossy(&st.stderr));
    let st = Command::new("tar")
        .args(["--numeric-owner", "--same-owner", "-xpf"])
        .arg(&tar_path)
        .arg("-C")
        .arg(root.join(&content_rel))
        .output()
        .unwrap();
    prop_assert!(st.status.success(), "tar -x: {}", String::from_utf8_lossy(&st.stderr));
    let job = LayerJob {
        chain_id: chain,
        diff_id,
        tar_split: ts_rel,
        content_dir: content_rel,
        driver: DriverKind::Overlay2,
        lower_tar_splits: None,
        blob: None,
    };
    Ok((t, root, job))
}

fn reassemble(root: &Path, job: &LayerJob) -> (Vec<u8>, strata::verify::LayerResult) {
    let dir = strata::fsread::SafeDir::open_root(root).unwrap();
    let mut out = Vec::new();
    let r = strata::verify::reassemble_layer(&dir, job, &VerifyOptions::default(), None, &mut out)
        .unwrap();
    (out, r)
}

fn round_trip(tar_bytes: &[u8]) -> Result<(), TestCaseError> {
    let (_t, root, job) = layer(tar_bytes)?;
    let (out, r) = reassemble(&root, &job);
    prop_assert!(
        out == tar_bytes,
        "reassembled {} bytes differ from the {}-byte tar",
        out.len(),
        tar_bytes.len()
    );
    prop_assert_eq!(r.status, VerifyStatus::Verified, "{:#?}", r.findings);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn random_tars_reassemble_bit_for_bit(specs in proptest::collection::vec(spec(), 0..25)) {
        if !tools() {
            return Ok(());
        }
        let tar_bytes = build_tar(&specs);
        round_trip(&tar_bytes)?;
    }
}

/// The property is not vacuous: change one byte of an unpacked file and the
/// reassembled stream differs and the layer no longer verifies.
#[test]
fn a_changed_file_breaks_the_round_trip() {
    if !tools() {
        return;
    }
    let specs = vec![Spec {
        dir: None,
        name: "f".into(),
        kind: Kind::File(b"hello".to_vec()),
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_500_000_000,
    }];
    let tar_bytes = build_tar(&specs);
    let (_t, root, job) = layer(&tar_bytes).unwrap();
    let (out, r) = reassemble(&root, &job);
    assert!(out == tar_bytes && r.status == VerifyStatus::Verified);
    std::fs::write(root.join(&job.content_dir).join("f"), b"jello").unwrap();
    let (out, r) = reassemble(&root, &job);
    assert!(out != tar_bytes, "a changed file still reassembles to the original bytes");
    assert_ne!(r.status, VerifyStatus::Verified);
}
