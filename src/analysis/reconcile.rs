//! `strata df --reconcile`: one walk of the whole data-root, every entry set against
//! the `df` row that explains it, and what no row explains named by path, so the total
//! equals what `du` gives (apparent and allocated, each inode once, directories
//! included, not crossing into other filesystems).
//!
//! Ownership, by the deepest owning path above an entry:
//! - Images: each image layer's layerdb dir and driver dir;
//! - Containers: `containers/<id>` (but its logs), its RW and init layers (layerdb
//!   mount dir and driver dirs);
//! - Local Volumes: `volumes/<name>`;
//! - Build Cache: BuildKit's snapshot dirs in the driver home;
//! - Logs: each log file;
//! - Orphaned: each orphan's paths.
//!
//! The rest (the image and volume databases, `buildkit/`'s databases and build history,
//! overlay2's `l/` links, `network/`, `containerd/`, unknown dirs) is listed by path, with
//! what the engine keeps there ([`what_is`]).

use crate::analysis::df::{find_orphans, DiskUsage};
use crate::analysis::usage::walk;
use crate::finding::Finding;
use crate::fsread::{FileKind, SafeDir};
use crate::graph::Graph;
use crate::store::read_error_finding;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The `df` row a path belongs to.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Row {
    /// Layer data of images (layerdb, graphdriver, image configs).
    Images,
    /// Container RW layers and container directories.
    Containers,
    /// Local volumes.
    Volumes,
    /// BuildKit's build cache.
    BuildCache,
    /// Container log files.
    Logs,
    /// What strata found that no image, container, volume or cache owns.
    Orphaned,
}

impl Row {
    /// The row's name as the `df` table prints it.
    pub fn label(self) -> &'static str {
        match self {
            Row::Images => "Images",
            Row::Containers => "Containers",
            Row::Volumes => "Local Volumes",
            Row::BuildCache => "Build Cache",
            Row::Logs => "Logs",
            Row::Orphaned => "Orphaned",
        }
    }
}

/// Bytes on disk.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Bytes {
    /// `st_size` (`du --apparent-size`).
    pub apparent: u64,
    /// `st_blocks * 512` (`du`).
    pub allocated: u64,
    /// Directory entries counted (files, directories, links).
    pub entries: u64,
}

impl Bytes {
    fn add(&mut self, size: u64, blocks: u64) {
        self.apparent = self.apparent.saturating_add(size);
        self.allocated = self.allocated.saturating_add(blocks.saturating_mul(512));
        self.entries += 1;
    }
}

/// One row: the size `df` gives it and the bytes on disk under its paths.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct RowAccount {
    /// The row.
    pub row: Row,
    /// The row's size as `df` counts it (Docker's rule where Docker has the row).
    pub df_size: i64,
    /// Bytes on disk under the row's paths.
    pub on_disk: Bytes,
}

/// A path no row explains, with what is under it.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct Unexplained {
    /// Relative to the data-root.
    pub path: String,
    /// What the engine keeps there (`unknown` when strata does not know the path).
    pub what: String,
    /// Bytes on disk under it.
    pub on_disk: Bytes,
}

/// The data-root's top-level directories moby makes (the storage drivers' homes among them).
const ENGINE_DIRS: [&str; 20] = [
    "aufs",
    "btrfs",
    "buildkit",
    "containerd",
    "containers",
    "devicemapper",
    "fuse-overlayfs",
    "image",
    "network",
    "overlay",
    "overlay2",
    "plugins",
    "rootfs",
    "runtimes",
    "swarm",
    "tmp",
    "trust",
    "vfs",
    "volumes",
    "zfs",
];

/// What the engine keeps at an unexplained path (paths grouped by their first two
/// components, three under `image/`), from where moby, BuildKit and containerd put their
/// state. A path not known here is `unknown`: a leftover or something not Docker's, for a
/// person to look at.
pub fn what_is(path: &Path) -> &'static str {
    let comps: Vec<&str> = path.iter().map(|c| c.to_str().unwrap_or("")).collect();
    match comps.as_slice() {
        ["."] | [] => "the data-root directory",
        ["engine-id"] => "the engine's ID",
        [top] if ENGINE_DIRS.contains(top) => "engine directory",
        ["image", _, "imagedb"] => "image configs",
        ["image", _, "layerdb"] => "layer store directories",
        ["image", _, "distribution"] => "registry digest links",
        ["image", _, "repositories.json"] => "tags",
        ["image", ..] => "image store",
        ["buildkit", "metadata_v2.db"] => "BuildKit cache records",
        ["buildkit", "snapshots.db"] => "BuildKit snapshotter metadata",
        ["buildkit", "cache.db"] => "BuildKit cache keys",
        ["buildkit", "containerdmeta.db"] => "BuildKit content/lease metadata",
        ["buildkit", h] if h.starts_with("history") => "BuildKit build history",
        ["buildkit", "content"] => "BuildKit content: history blobs",
        ["buildkit", "executor"] => "BuildKit RUN step files",
        ["buildkit", w] if w.starts_with("containerd-") => {
            "BuildKit metadata for the containerd store"
        }
        ["buildkit", ..] => "BuildKit state",
        ["containerd", "daemon"] => "the managed containerd's state",
        ["containerd", ..] => "containerd state",
        ["network", "files"] => "network store",
        ["volumes", "metadata.db"] => "volume metadata",
        ["volumes", ..] => "volume store",
        ["plugins", ..] => "plugin store",
        ["rootfs", ..] => "container rootfs mount points",
        ["overlay2", "l"] => "overlay2 short-name links",
        ["containers", ..] => "container directory no container owns",
        ["swarm", ..] => "swarm state",
        ["trust", ..] => "content trust keys",
        ["runtimes", ..] | ["tmp", ..] => "engine scratch",
        _ => "unknown",
    }
}

/// The reconciliation.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct Reconcile {
    /// Each row, in `df` order.
    pub rows: Vec<RowAccount>,
    /// Paths no row explains.
    pub unexplained: Vec<Unexplained>,
    /// Every entry of the data-root, the top directory included: what `du` gives.
    pub total: Bytes,
}

fn owners(g: &Graph, du: &DiskUsage) -> BTreeMap<PathBuf, Row> {
    let mut m: BTreeMap<PathBuf, Row> = BTreeMap::new();
    for l in g.layers.values() {
        m.insert(l.record.dir.clone(), Row::Images);
        if let Some(d) = &l.driver_dir {
            m.insert(d.clone(), Row::Images);
        }
    }
    for c in g.containers.keys() {
        m.insert(Path::new("containers").join(c), Row::Containers);
    }
    for mt in g.layerdb.mounts.values() {
        m.insert(mt.dir.clone(), Row::Containers);
        if let Some(k) = g.driver {
            for id in mt.mount_id.iter().chain(mt.init_id.iter()) {
                m.insert(k.layer_dir(id), Row::Containers);
            }
        }
    }
    for v in &du.volumes {
        m.insert(Path::new("volumes").join(&v.name), Row::Volumes);
    }
    if let (Some(bk), Some(k)) = (&g.buildkit, g.driver) {
        for d in &bk.owned_dirs {
            m.insert(k.layer_dir(d), Row::BuildCache);
        }
    }
    for l in &du.logs {
        for f in &l.files {
            m.insert(PathBuf::from(&f.path), Row::Logs);
        }
    }
    for o in &du.orphaned {
        m.insert(PathBuf::from(&o.path), Row::Orphaned);
        if let Some(d) = &o.driver_dir {
            m.insert(PathBuf::from(d), Row::Orphaned);
        }
    }
    // Orphaned driver dirs the df did not measure still belong to the row.
    if let Some(home) = &g.driver_home {
        for name in find_orphans(g).driver_dirs {
            if let Some(d) = home.dirs.get(&name) {
                m.insert(d.path.clone(), Row::Orphaned);
            }
        }
    }
    m
}

/// Where an unexplained entry is listed: its first two components (three under `image/`).
fn group_of(rel: &Path) -> PathBuf {
    let comps: Vec<_> = rel.components().collect();
    let n = if comps.first().is_some_and(|c| c.as_os_str() == "image") { 3 } else { 2 };
    comps.iter().take(n).collect()
}

/// Walks the data-root once and sets every entry against its row.
pub fn reconcile(
    g: &Graph,
    root: &SafeDir,
    du: &DiskUsage,
    findings: &mut Vec<Finding>,
) -> Reconcile {
    let owners = owners(g, du);
    let mut rows: BTreeMap<Row, Bytes> = BTreeMap::new();
    let mut unexplained: BTreeMap<PathBuf, Bytes> = BTreeMap::new();
    let mut total = Bytes::default();
    let top = root.lstat(Path::new(""));
    let root_dev = top.as_ref().map(|m| m.dev).ok();
    if let Ok(m) = &top {
        total.add(m.size, m.blocks);
        unexplained.entry(PathBuf::from(".")).or_default().add(m.size, m.blocks);
    }
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut problems = Vec::new();
    walk(root, &mut problems, |p, m| {
        // Not into other filesystems (`du -x`): a live host's mounted merged dirs.
        if root_dev.is_some_and(|d| d != m.dev) {
            return;
        }
        if m.nlink > 1 && m.kind != FileKind::Dir && !seen.insert((m.dev, m.ino)) {
            return;
        }
        total.add(m.size, m.blocks);
        let owner = p.ancestors().find_map(|a| owners.get(a));
        match owner {
            Some(r) => rows.entry(*r).or_default().add(m.size, m.blocks),
            None => unexplained.entry(group_of(p)).or_default().add(m.size, m.blocks),
        }
    });
    for e in &problems {
        let rel = e.path.strip_prefix(root.path()).unwrap_or(&e.path).to_path_buf();
        findings.push(read_error_finding(e, &rel, root.path()));
    }
    let s = &du.summary;
    let rows = [
        (Row::Images, s.images.size),
        (Row::Containers, s.containers.size),
        (Row::Volumes, s.volumes.size),
        (Row::BuildCache, s.build_cache.size),
        (Row::Logs, s.logs.size),
        (Row::Orphaned, s.orphaned.size),
    ]
    .into_iter()
    .map(|(row, df_size)| RowAccount {
        row,
        df_size,
        on_disk: rows.get(&row).copied().unwrap_or_default(),
    })
    .collect();
    let unexplained = unexplained
        .into_iter()
        .map(|(p, b)| Unexplained {
            path: crate::finding::display_bytes(p.as_os_str().as_encoded_bytes()),
            what: what_is(&p).to_owned(),
            on_disk: b,
        })
        .collect();
    Reconcile { rows, unexplained, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_are_named_and_others_unknown() {
        assert_eq!(what_is(Path::new("buildkit/history.db")), "BuildKit build history");
        assert_eq!(what_is(Path::new("buildkit/history_c8d.db")), "BuildKit build history");
        assert_eq!(what_is(Path::new("image/overlay2/imagedb")), "image configs");
        assert_eq!(
            what_is(Path::new("image/vfs/layerdb")),
            what_is(Path::new("image/overlay2/layerdb"))
        );
        assert_eq!(what_is(Path::new("buildkit")), "engine directory");
        assert_eq!(what_is(Path::new("overlay2/not-a-layer")), "unknown");
        assert_eq!(what_is(Path::new("backup/old")), "unknown");
        assert_eq!(what_is(Path::new("backup.tar")), "unknown");
    }
}
