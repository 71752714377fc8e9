//! A snapshotter's own database, `io.containerd.snapshotter.v1.<name>/metadata.db`
//! (containerd `core/snapshots/storage/bolt.go`):
//! `v1/snapshots/<backend key>/{id, kind, parent, size, inodes, createdat, updatedat, labels/}`.
//!
//! `id` is a Go `PutUvarint` (unsigned), `size` and `inodes` are `PutVarint` (zigzag),
//! `kind` one byte. The id names the directory `snapshots/<id>` that holds the files.

use super::bbolt::Db;
use super::meta::Walker;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a snapshot is, as the snapshotter records it (containerd `snapshots.Kind`).
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    /// A read-only view of a parent (kind 1).
    View,
    /// A writable snapshot being prepared or used by a container (kind 2).
    Active,
    /// A committed, immutable layer (kind 3).
    Committed,
    /// A value containerd does not define (or a missing/odd `kind` field).
    Unknown(u8),
}

impl SnapshotKind {
    /// The kind for the `kind` byte of a record.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => SnapshotKind::View,
            2 => SnapshotKind::Active,
            3 => SnapshotKind::Committed,
            other => SnapshotKind::Unknown(other),
        }
    }
}

/// One record of the snapshotter's metadata.db.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendSnapshot {
    /// Backend key, `<ns>/<seq>/<key>` for snapshots made through meta.db.
    pub key: String,
    /// The backend id: the files are in `snapshots/<id>`.
    pub id: u64,
    /// View, active or committed.
    pub kind: SnapshotKind,
    /// The parent's backend key; `None` for a base layer.
    pub parent: Option<String>,
    /// Usage stored at commit (bytes); absent for active snapshots.
    pub size: Option<i64>,
    /// Inode count stored at commit; absent for active snapshots.
    pub inodes: Option<i64>,
    /// The record's labels.
    pub labels: BTreeMap<String, String>,
    /// `createdat`, as RFC 3339.
    pub created_at: Option<String>,
    /// `updatedat`, as RFC 3339.
    pub updated_at: Option<String>,
}

/// Directory of the snapshotter plugin, relative to the containerd root.
pub fn snapshotter_root(snapshotter: &str) -> PathBuf {
    PathBuf::from(format!("io.containerd.snapshotter.v1.{snapshotter}"))
}

/// The files of snapshot `id`, relative to the containerd root: overlay-style
/// snapshotters keep them in `snapshots/<id>/fs` (beside `work`), `native` in
/// `snapshots/<id>` itself. `None` for snapshotters whose layout strata does not know.
pub fn snapshot_dir(snapshotter: &str, id: u64) -> Option<PathBuf> {
    let base = snapshotter_root(snapshotter).join("snapshots").join(id.to_string());
    match snapshotter {
        "overlayfs" | "fuse-overlayfs" | "stargz" => Some(base.join("fs")),
        "native" => Some(base),
        _ => None,
    }
}

/// Reads every record of a snapshotter database, keyed by backend key. Structural
/// damage is left in the walker for the caller to report once.
pub fn read_backend(db: &Db, w: &mut Walker<'_>) -> BTreeMap<String, BackendSnapshot> {
    let mut out = BTreeMap::new();
    let root = db.root();
    let Some(snaps) = w.bucket(&root, b"v1").and_then(|v1| w.bucket(&v1, b"snapshots")) else {
        return out;
    };
    for (k, b) in w.sub_buckets(&snaps) {
        let key = w.key_text("v1/snapshots", k);
        let path = format!("v1/snapshots/{key}");
        let id = match w.get(&b, b"id") {
            Some(v) => super::meta::uvarint(v).unwrap_or_else(|| {
                w.odd(&format!("{path}/id"), "not a uvarint");
                0
            }),
            None => {
                w.odd(&path, "snapshot record without an id");
                0
            }
        };
        let kind = match w.get(&b, b"kind") {
            Some([k]) => SnapshotKind::from_byte(*k),
            other => {
                w.odd(
                    &format!("{path}/kind"),
                    format!("expected one byte, found {} bytes", other.map_or(0, <[u8]>::len)),
                );
                SnapshotKind::Unknown(0)
            }
        };
        if let SnapshotKind::Unknown(k) = kind {
            if k != 0 {
                w.odd(&format!("{path}/kind"), format!("unknown snapshot kind {k}"));
            }
        }
        let rec = BackendSnapshot {
            id,
            kind,
            parent: w.text(&b, &path, "parent"),
            size: w.varint(&b, &path, "size"),
            inodes: w.varint(&b, &path, "inodes"),
            labels: w.labels(&b, &path),
            created_at: w.time(&b, &path, "createdat"),
            updated_at: w.time(&b, &path, "updatedat"),
            key: key.clone(),
        };
        out.insert(key, rec);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fixture_backend() {
        let bytes = super::super::bbolt::tests::fixture_file(
            "containerd/daemon/io.containerd.snapshotter.v1.overlayfs/metadata.db",
        );
        let db = Db::open(bytes).unwrap();
        let mut findings = Vec::new();
        let mut w =
            Walker::new("io.containerd.snapshotter.v1.overlayfs/metadata.db", &mut findings);
        let recs = read_backend(&db, &mut w);
        assert!(w.damage.is_none());
        drop(w);
        assert!(findings.is_empty(), "{findings:?}");
        let ids: Vec<u64> = recs.values().map(|r| r.id).collect();
        for id in [1, 5, 12, 13, 14, 15] {
            assert!(ids.contains(&id), "{ids:?}");
        }
        // Every committed layer records its usage; every key is namespaced.
        for r in recs.values() {
            assert!(r.key.starts_with("moby/"), "{}", r.key);
            if r.kind == SnapshotKind::Committed {
                assert!(r.size.is_some(), "{r:?}");
            }
            assert!(r.created_at.as_deref().is_some_and(|t| t.ends_with('Z')), "{r:?}");
        }
    }
}
