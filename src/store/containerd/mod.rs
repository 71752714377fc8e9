//! Docker's containerd image store, read straight from containerd's root directory
//! (`<data-root>/containerd/daemon` for dockerd's own containerd, `/var/lib/containerd`
//! for a system one).
//!
//! Three sources are joined here:
//! - `io.containerd.metadata.v1.bolt/meta.db` ([`meta`]): images, content records,
//!   snapshot references, containers and leases, per namespace;
//! - the snapshotter's `metadata.db` ([`snapshots`]): snapshot ids, kinds and usage;
//! - the files: content blobs, ingests ([`content`]) and snapshot directories.
//!
//! Both databases are bbolt files, read with our own lock-free reader ([`bbolt`]).
//! Like the other store readers, nothing here stops on a bad file: each becomes a
//! [`Finding`] and whatever could be read is returned.

pub mod bbolt;
pub mod content;
pub mod locate;
pub mod meta;
pub mod snapshots;

pub use content::{blob_path, Ingest, CONTENT_ROOT};
pub use meta::{CtdBlob, CtdContainer, CtdImage, CtdLease, Descriptor, NamespaceSummary, META_DB};
pub use snapshots::{snapshot_dir, snapshotter_root, BackendSnapshot, SnapshotKind};

use crate::digest::Digest;
use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, Limits, SafeDir};
use crate::store::read_error_finding;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Everything read from one containerd root for one namespace.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ContainerdStore {
    /// The namespace analysed (e.g. "moby", "k8s.io").
    pub namespace: String,
    /// Every namespace in meta.db with its counts.
    pub namespaces: Vec<NamespaceSummary>,
    /// The snapshotter whose snapshots are read (e.g. "overlayfs" or "native").
    pub snapshotter: String,
    /// The namespace's image records (one per name; names sharing a target are one image later, in
    /// the graph).
    pub images: Vec<CtdImage>,
    /// Content records of the namespace, with whether each blob file is present.
    pub blobs: BTreeMap<Digest, CtdBlob>,
    /// Blob files that no namespace records.
    pub unrecorded_blobs: Vec<Digest>,
    /// The namespace's snapshot references for the snapshotter, by meta.db key
    /// (committed layers are named by ChainID, containers' by container ID).
    pub snapshots: BTreeMap<String, CtdSnapshot>,
    /// Names of the directories under `<snapshotter root>/snapshots/`.
    pub snapshot_dirs: Vec<String>,
    /// Every snapshot id the snapshotter's metadata.db records, in any namespace.
    pub backend_ids: std::collections::BTreeSet<u64>,
    /// Snapshotter records that no meta.db snapshot, in any namespace, refers to.
    pub backend_only: Vec<BackendSnapshot>,
    /// containerd's own container records in the namespace.
    pub containers: Vec<CtdContainer>,
    /// The namespace's leases.
    pub leases: Vec<CtdLease>,
    /// Ingest directories and the namespace's ingest records.
    pub ingests: Vec<Ingest>,
}

/// A snapshot of the namespace joined with the snapshotter's record and directory.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtdSnapshot {
    /// meta.db key.
    pub key: String,
    /// Backend key, `moby/17/sha256:...`.
    pub name: String,
    /// The parent snapshot's meta.db key; `None` for a base layer.
    pub parent: Option<String>,
    /// The meta.db record's labels.
    pub labels: BTreeMap<String, String>,
    /// `createdat` in meta.db, as RFC 3339.
    pub created_at: Option<String>,
    /// `updatedat` in meta.db, as RFC 3339.
    pub updated_at: Option<String>,
    /// The snapshotter's record for `name`, if it has one.
    pub backend: Option<BackendSnapshot>,
    /// The snapshot's files relative to the containerd root
    /// (`io.containerd.snapshotter.v1.overlayfs/snapshots/<id>/fs`; native: `.../snapshots/<id>`).
    pub dir: Option<PathBuf>,
    /// Whether `dir` exists on disk.
    pub dir_present: bool,
}

/// meta.db and the snapshotter databases are read whole into memory. They outgrow the
/// small-file limit (a busy host's meta.db passes 100 MiB), so their limit is 16 times
/// `max_metadata_bytes`: 1 GiB by default.
pub const BOLT_LIMIT_FACTOR: u64 = 16;

/// The byte limit for one bbolt file under `limits`.
pub fn max_bolt_bytes(limits: &Limits) -> u64 {
    limits.max_metadata_bytes.saturating_mul(BOLT_LIMIT_FACTOR)
}

/// True when `dir` looks like a containerd root (has `io.containerd.metadata.v1.bolt/meta.db`).
pub fn looks_like_root(dir: &SafeDir) -> bool {
    dir.lstat(Path::new(META_DB)).is_ok_and(|m| m.kind == FileKind::File)
}

/// Reads a bbolt file; `None` (with one finding) when it is missing, unreadable or
/// not a sound database.
pub(crate) fn open_bolt(
    root: &SafeDir,
    rel: &str,
    limits: &Limits,
    required: bool,
    findings: &mut Vec<Finding>,
) -> Option<bbolt::Db> {
    // A live containerd rewrites the file in place while it is read, with no lock
    // taken here. Transaction N+1 writes only pages N does not reach; once it has
    // committed, N+2 may reuse N's pages. So a copy during which nothing committed
    // is a consistent view of N; otherwise read again, a bounded number of times,
    // and say so if it never settles.
    for attempt in 0..MAX_READS {
        let bytes = match root.read_file(Path::new(rel), max_bolt_bytes(limits)) {
            Ok(b) => b,
            Err(e) if e.is_not_found() && !required => return None,
            Err(e) if e.is_not_found() => {
                findings.push(
                    Finding::error(
                        Code::StoreMissing,
                        format!("{rel}: not found; this containerd root has no metadata database"),
                    )
                    .with_file(rel),
                );
                return None;
            }
            Err(e) => {
                findings.push(read_error_finding(&e, Path::new(rel), root.path()));
                return None;
            }
        };
        let db = match bbolt::Db::open(bytes) {
            Ok(db) => db,
            Err(e) => {
                findings.push(
                    Finding::error(
                        Code::MetadataCorrupt,
                        format!("{rel}: not a readable bbolt database: {e}"),
                    )
                    .with_file(rel),
                );
                return None;
            }
        };
        let now = read_prefix(root, Path::new(rel), 2 * db.page_size())
            .and_then(|p| bbolt::committed_txid(&p, db.page_size()));
        match now {
            Some(t) if t > db.txid() && attempt + 1 < MAX_READS => continue,
            Some(t) if t > db.txid() => {
                findings.push(
                    Finding::warning(
                        Code::MetadataCorrupt,
                        format!(
                            "{rel}: containerd committed {} transactions while it was read, {MAX_READS} times over; what was read may mix them",
                            t - db.txid()
                        ),
                    )
                    .with_file(rel),
                );
                return Some(db);
            }
            _ => return Some(db),
        }
    }
    None
}

/// Times a bbolt file is read before its view is taken as it is.
const MAX_READS: usize = 5;

/// The first `len` bytes of a file (or fewer, if it is shorter).
fn read_prefix(root: &SafeDir, rel: &Path, len: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let (f, _) = root.open_file(rel).ok()?;
    let mut out = Vec::with_capacity(len);
    f.take(len as u64).read_to_end(&mut out).ok()?;
    Some(out)
}

/// Reads one containerd root. `snapshotter` `None` picks the one holding snapshots in
/// this namespace, preferring `overlayfs`, then `native`.
pub fn read_store(
    root: &SafeDir,
    namespace: &str,
    snapshotter: Option<&str>,
    limits: Limits,
    findings: &mut Vec<Finding>,
) -> ContainerdStore {
    // Every namespace is read: counts are listed for all of them, and a blob or backend
    // snapshot is only unreferenced if no namespace refers to it.
    let mut spaces: BTreeMap<String, meta::Namespace> = BTreeMap::new();
    if let Some(db) = open_bolt(root, META_DB, &limits, true, findings) {
        let mut w = meta::Walker::new(META_DB, findings);
        let top = db.root();
        if let Some(v1) = w.bucket(&top, b"v1") {
            for (name, utf8) in meta::namespaces(&mut w, &v1) {
                // A non-UTF-8 namespace was reported by name; it cannot be asked for.
                let Some(ns) = utf8.then(|| w.bucket(&v1, name.as_bytes())).flatten() else {
                    continue;
                };
                let read = meta::read_namespace(&mut w, &name, &ns);
                spaces.insert(name, read);
            }
        } else if w.damage.is_none() {
            w.odd("v1", "no schema bucket: not a containerd metadata database, or an empty one");
        }
        if let Some(f) = w.damage_finding() {
            findings.push(f);
        }
    }

    let namespaces = spaces
        .iter()
        .map(|(name, ns)| NamespaceSummary {
            name: name.clone(),
            images: ns.images.len(),
            containers: ns.containers.len(),
            content: ns.blobs.len(),
            snapshots: ns.snapshots.values().map(BTreeMap::len).sum(),
        })
        .collect();

    let mine = spaces.remove(namespace).unwrap_or_default();
    let snapshotter = match snapshotter {
        Some(s) => s.to_owned(),
        None => pick_snapshotter(root, &mine),
    };

    // The snapshotter's own records.
    let backend_rel = snapshotter_root(&snapshotter).join("metadata.db");
    let backend_file = backend_rel.to_string_lossy().into_owned();
    let has_snapshots = mine.snapshots.get(&snapshotter).is_some_and(|m| !m.is_empty());
    let mut backend = BTreeMap::new();
    if let Some(db) = open_bolt(root, &backend_file, &limits, has_snapshots, findings) {
        let mut w = meta::Walker::new(backend_file.clone(), findings);
        backend = snapshots::read_backend(&db, &mut w);
        if let Some(f) = w.damage_finding() {
            findings.push(f);
        }
    }

    let mut snapshots_out = BTreeMap::new();
    for (key, s) in mine.snapshots.get(&snapshotter).cloned().unwrap_or_default() {
        let b = backend.get(&s.name).cloned();
        let dir = b.as_ref().and_then(|b| snapshot_dir(&snapshotter, b.id));
        let dir_present =
            dir.as_ref().is_some_and(|d| root.lstat(d).is_ok_and(|m| m.kind == FileKind::Dir));
        let snap = CtdSnapshot {
            key: s.key,
            name: s.name,
            parent: s.parent,
            labels: s.labels,
            created_at: s.created_at,
            updated_at: s.updated_at,
            backend: b,
            dir,
            dir_present,
        };
        snapshots_out.insert(key, snap);
    }

    // Backend records referenced from no namespace.
    let referenced: BTreeSet<&str> = spaces
        .values()
        .chain(std::iter::once(&mine))
        .filter_map(|ns| ns.snapshots.get(&snapshotter))
        .flat_map(|m| m.values().map(|s| s.name.as_str()))
        .collect();
    let backend_ids = backend.values().map(|b| b.id).collect();
    let backend_only =
        backend.values().filter(|b| !referenced.contains(b.key.as_str())).cloned().collect();

    let snapshot_dirs = list_snapshot_dirs(root, &snapshotter, findings);

    // Content: records of this namespace, marked present from the files on disk.
    let on_disk = content::list_blobs(root, findings);
    let mut blobs = mine.blobs.clone();
    for (d, size) in &on_disk {
        if let Some(b) = blobs.get_mut(d) {
            b.present = true;
            b.file_size = Some(*size);
        }
    }
    let recorded_anywhere = |d: &Digest| {
        mine.blobs.contains_key(d) || spaces.values().any(|ns| ns.blobs.contains_key(d))
    };
    let unrecorded_blobs =
        on_disk.iter().map(|(d, _)| *d).filter(|d| !recorded_anywhere(d)).collect();

    let ingests = join_ingests(
        content::list_ingests(root, limits.max_metadata_bytes, findings),
        &mine.ingests,
    );

    ContainerdStore {
        namespace: namespace.to_owned(),
        namespaces,
        snapshotter,
        images: mine.images,
        blobs,
        unrecorded_blobs,
        snapshots: snapshots_out,
        snapshot_dirs,
        backend_ids,
        backend_only,
        containers: mine.containers,
        leases: mine.leases,
        ingests,
    }
}

/// The snapshotter with snapshots in this namespace, preferring overlayfs then native;
/// with none, the first of those whose plugin directory exists, else overlayfs (the
/// engine's default).
fn pick_snapshotter(root: &SafeDir, ns: &meta::Namespace) -> String {
    let used = |s: &str| ns.snapshots.get(s).is_some_and(|m| !m.is_empty());
    for s in ["overlayfs", "native"] {
        if used(s) {
            return s.to_owned();
        }
    }
    if let Some((s, _)) = ns.snapshots.iter().find(|(_, m)| !m.is_empty()) {
        return s.clone();
    }
    for s in ["overlayfs", "native"] {
        if root.lstat(&snapshotter_root(s).join("metadata.db")).is_ok() {
            return s.to_owned();
        }
    }
    "overlayfs".to_owned()
}

fn list_snapshot_dirs(
    root: &SafeDir,
    snapshotter: &str,
    findings: &mut Vec<Finding>,
) -> Vec<String> {
    let rel = snapshotter_root(snapshotter).join("snapshots");
    match root.read_dir(&rel) {
        Ok(entries) => entries
            .into_iter()
            .map(|e| crate::finding::display_bytes(e.name.as_encoded_bytes()))
            .collect(),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => {
            findings.push(read_error_finding(&e, &rel, root.path()));
            Vec::new()
        }
    }
}

/// Matches ingest directories with the namespace's records by backend reference; a
/// record with no directory is kept with an empty `dir`.
fn join_ingests(mut dirs: Vec<Ingest>, records: &[meta::MetaIngest]) -> Vec<Ingest> {
    for r in records {
        let found =
            dirs.iter_mut().find(|d| r.backend_ref.is_some() && d.reference == r.backend_ref);
        match found {
            Some(d) => {
                d.record = Some(r.key.clone());
                d.expected = r.expected;
                d.expire_at = r.expire_at.clone();
            }
            None => dirs.push(Ingest {
                dir: String::new(),
                reference: r.backend_ref.clone(),
                bytes: None,
                record: Some(r.key.clone()),
                expected: r.expected,
                expire_at: r.expire_at.clone(),
            }),
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::bbolt::tests::{fixture_file, inline, Builder};
    use super::*;

    /// A containerd root holding only the fixture's two databases (no root needed).
    fn databases_only() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for rel in [META_DB, "io.containerd.snapshotter.v1.overlayfs/metadata.db"] {
            let p = t.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, fixture_file(&format!("containerd/daemon/{rel}"))).unwrap();
        }
        t
    }

    #[test]
    fn records_without_files_are_read_and_marked_absent() {
        let t = databases_only();
        let root = SafeDir::open_root(t.path()).unwrap();
        assert!(looks_like_root(&root));
        let mut findings = Vec::new();
        let s = read_store(&root, "moby", None, Limits::default(), &mut findings);
        assert!(findings.is_empty(), "{findings:#?}");
        assert_eq!(s.snapshotter, "overlayfs");
        assert_eq!(s.images.len(), 4);
        assert_eq!(s.blobs.len(), 13);
        assert!(s.blobs.values().all(|b| !b.present && b.file_size.is_none()));
        assert!(s.snapshots.values().all(|s| s.backend.is_some() && !s.dir_present));
        assert!(s.backend_only.is_empty());
        assert_eq!(s.leases.len(), 2);
        assert!(s.leases.iter().all(|l| l.snapshots.len() == 2));
        // Another namespace is empty but still lists every namespace.
        let other = read_store(&root, "k8s.io", None, Limits::default(), &mut findings);
        assert!(other.images.is_empty() && other.snapshots.is_empty());
        assert_eq!(other.namespaces, s.namespaces);
        // Every backend record is referenced from moby, whichever namespace is read.
        assert!(other.backend_only.is_empty());
    }

    #[test]
    fn odd_values_are_findings_and_the_record_is_kept() {
        let mut b = Builder::new();
        let target = inline(&[
            (
                b"digest",
                b"sha256:dfe3fdbbac9dd9cf1cb2b6862878b4f034f78730bb2a72b4290f9441add038a1".to_vec(),
                false,
            ),
            (b"mediatype", b"application/vnd.oci.image.manifest.v1+json".to_vec(), false),
            (b"size", vec![0x80], false), // a truncated varint
        ]);
        let image = inline(&[(b"createdat", vec![9, 9, 9], false), (b"target", target, true)]);
        let images = inline(&[(b"docker.io/library/x:1", image, true)]);
        let ns = inline(&[(b"images", images, true)]);
        let v1 = inline(&[(b"moby", ns, true)]);
        let root = b.push(Builder::leaf_bytes(0, &[(b"v1", v1, true)]));
        b.meta(0, root, 2);
        b.meta(1, root, 1);
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(META_DB);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b.bytes()).unwrap();

        let dir = SafeDir::open_root(t.path()).unwrap();
        let mut findings = Vec::new();
        let s = read_store(&dir, "moby", None, Limits::default(), &mut findings);
        assert_eq!(s.images.len(), 1);
        assert_eq!(s.images[0].name, "docker.io/library/x:1");
        assert_eq!(s.images[0].created_at, None);
        let msgs: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(findings.len(), 2, "{msgs:#?}");
        assert!(
            msgs.iter().any(|m| m.contains("target/size") && m.contains("varint")),
            "{msgs:#?}"
        );
        assert!(msgs.iter().any(|m| m.contains("createdat") && m.contains("time")), "{msgs:#?}");
        assert!(findings.iter().all(|f| f.file.as_deref() == Some(META_DB)));
    }
}
