//! A second look before reporting damage: on a live engine, a thing that disappears or
//! changes between two reads is the engine at work, not damage.
//!
//! strata locks nothing while it reads (the engine would wait on it, and a compromised
//! host's locks are not to be trusted), so one pass can see an image being removed, a
//! layer half deleted, a container created from an image registered after `imagedb` was
//! listed. Before a warning or an error is reported, the store is read again (metadata
//! only, no hashing) and compared with the first read: when the thing the finding is
//! about (its image, layer, container or RW layer, or the file it read) is gone, new, or
//! different in the second read, the finding becomes a [`Code::ChangedDuringScan`] info
//! saying what changed. A fault that was there before the scan is the same in both
//! reads, so it is still reported.

use crate::finding::{Code, Finding, Severity};
use crate::graph::Graph;
use crate::id::ContainerId;

/// Turns every warning and error of `findings` that `second` (a later read of the same
/// store) shows to be a change under the scan, rather than damage, into a
/// `changed-during-scan` info finding. Returns how many were turned.
pub fn recheck(first: &Graph, second: &Graph, findings: &mut [Finding]) -> usize {
    let mut turned = 0;
    for f in findings.iter_mut() {
        if f.severity < Severity::Warning || f.code == Code::ChangedDuringScan {
            continue;
        }
        if let Some(what) = what_changed(first, second, f) {
            *f = Finding {
                code: Code::ChangedDuringScan,
                severity: Severity::Info,
                message: format!(
                    "{what} while strata read it; first read ({}): {}: {}",
                    f.severity, f.code, f.message
                ),
                ..f.clone()
            };
            turned += 1;
        }
    }
    turned
}

/// Whether the two reads differ in their images, layers, containers, RW layers, driver
/// directories, snapshots or content records. When they do not, the store is quiet and a
/// further look would see the same.
pub fn store_moved(first: &Graph, second: &Graph) -> bool {
    let ctd = |g: &Graph| {
        g.containerd.as_ref().map(|c| {
            let s = &c.store;
            (
                s.snapshots.keys().cloned().collect::<Vec<_>>(),
                s.blobs.keys().copied().collect::<Vec<_>>(),
            )
        })
    };
    let dirs =
        |g: &Graph| g.driver_home.as_ref().map(|h| h.dirs.keys().cloned().collect::<Vec<_>>());
    !(first.images.keys().eq(second.images.keys())
        && first.layers.keys().eq(second.layers.keys())
        && first.containers.keys().eq(second.containers.keys())
        && first.layerdb.mounts.keys().eq(second.layerdb.mounts.keys())
        && dirs(first) == dirs(second)
        && ctd(first) == ctd(second))
}

/// How much older than the scan the last change of every store path must be for
/// [`quiet_since`]: the coarsest timestamps in use (FAT's 2 s; ext4 with small inodes
/// keeps 1 s) round a change down by less than this.
const QUIET_MARGIN_NS: i64 = 2_000_000_000;

/// Whether nothing a second read would see differently has changed since `started`
/// (nanoseconds since the epoch, taken before the first read): every directory whose
/// entries the graphdriver store is read from, every container's and RW layer's directory,
/// and every file a warning or error names, last changed (ctime)
/// at least two seconds before it (`QUIET_MARGIN_NS`).
///
/// Why: on a quiet host or an evidence copy the second read sees what the first saw and
/// costs as much again (on a 10,000-image host, half of `audit --metadata-only`).
/// The engine writes its metadata by renaming files into place and creating or removing
/// whole directories, so every change it makes moves the ctime of a directory here; a
/// ctime cannot be set back by any call but a clock change. A missing path counts as
/// quiet: its parent, also looked at, changes when it appears. Skipping the second read
/// can only keep findings, never turn one into `changed-during-scan`.
pub fn quiet_since(
    g: &Graph,
    data_root: &crate::fsread::SafeDir,
    findings: &[Finding],
    started: i64,
) -> bool {
    use std::path::{Path, PathBuf};
    // The containerd store is always read again: its databases are rewritten in place by
    // several writers (leases, garbage collection, ingests), and a second read of it costs
    // little next to a graphdriver store's tens of thousands of files.
    if g.containerd.is_some() {
        return false;
    }
    let limit = started.saturating_sub(QUIET_MARGIN_NS);
    let quiet = |root: &crate::fsread::SafeDir, rel: &Path| {
        root.changed_at(rel).is_none_or(|changed| changed < limit)
    };
    let mut paths: Vec<PathBuf> = ["", "image", "containers"].iter().map(PathBuf::from).collect();
    if !g.driver_name.is_empty() {
        let image = Path::new("image").join(&g.driver_name);
        for sub in [
            "",
            "repositories.json",
            "imagedb",
            "imagedb/content/sha256",
            "imagedb/metadata/sha256",
            "layerdb",
            "layerdb/sha256",
            "layerdb/mounts",
            "layerdb/tmp",
        ] {
            paths.push(image.join(sub));
        }
        paths.extend(g.layerdb.mounts.values().map(|m| m.dir.clone()));
        paths.push(PathBuf::from(&g.driver_name));
        if let Some(home) = &g.driver_home {
            let listing = home.kind.layer_dir("");
            paths.push(listing);
        }
    }
    paths.extend(g.containers.keys().map(|id| Path::new("containers").join(id.as_str())));
    // Each file a warning or error names, and the directory it sits in.
    let named = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .filter_map(|f| f.file.as_deref())
        .map(Path::new)
        .filter(|p| p.is_relative());
    for p in named {
        paths.extend(p.parent().map(Path::to_path_buf));
        paths.push(p.to_path_buf());
    }
    paths.iter().all(|p| quiet(data_root, p))
}

/// Whether any finding is one [`recheck`] would look at again.
pub fn needs_recheck(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity >= Severity::Warning && f.code != Code::ChangedDuringScan)
}

/// What changed between the two reads about what `f` concerns, in a few words; `None`
/// when both reads agree (the finding stands).
pub fn what_changed(first: &Graph, second: &Graph, f: &Finding) -> Option<String> {
    if let Some(id) = &f.image {
        match (first.images.contains_key(id), second.images.contains_key(id)) {
            (true, false) => return Some(format!("image {} was removed", id.short())),
            (false, true) => return Some(format!("image {} was created", id.short())),
            _ => {}
        }
    }
    if let Some(id) = &f.layer {
        match (first.layers.get(id), second.layers.get(id)) {
            (Some(_), None) => return Some(format!("layer {} was removed", id.short())),
            (None, Some(_)) => return Some(format!("layer {} was created", id.short())),
            (Some(a), Some(b)) if !same_layer(a, b) => {
                return Some(format!("layer {} changed", id.short()))
            }
            _ => {}
        }
    }
    if let Some(subject) = &f.subject {
        if let Some(what) = container_changed(first, second, subject) {
            return Some(what);
        }
        if let Some(what) = reference_changed(first, second, f, subject) {
            return Some(what);
        }
        if let Some(what) = driver_dir_changed(first, second, subject) {
            return Some(what);
        }
        if let Some(what) = snapshot_changed(first, second, subject) {
            return Some(what);
        }
    }
    if let Some(what) = f.file.as_deref().and_then(|file| blob_changed(first, second, file)) {
        return Some(what);
    }
    // A layer registration (`layerdb/tmp/write-set-*`) or delete (`<chainID>-<random>-removing`)
    // in progress, which has since finished.
    let file = f.file.as_deref().unwrap_or_default();
    let seen = |g: &Graph| match f.code {
        Code::LayerdbTmpLeftover => {
            g.layerdb.tmp_leftovers.iter().any(|t| t.to_string_lossy() == file)
        }
        Code::LayerRemovingLeftover => {
            g.layerdb.removing.iter().any(|r| r.dir.to_string_lossy() == file)
        }
        _ => false,
    };
    if seen(first) && !seen(second) {
        return Some(format!("{file} was a layer transaction in progress"));
    }
    // A read problem (a file that would not parse, a directory gone) that the second
    // read does not meet again: the file was being written or removed.
    if first.findings.contains(f) && !second.findings.iter().any(|g| same_place(f, g)) {
        let what = f.file.as_deref().map_or_else(|| "what it read".to_owned(), |p| p.to_owned());
        return Some(format!("{what} changed"));
    }
    None
}

/// Two reads of one layer agree on where its content is.
fn same_layer(a: &crate::graph::LayerNode, b: &crate::graph::LayerNode) -> bool {
    a.record.cache_id == b.record.cache_id
        && a.record.diff_id == b.record.diff_id
        && a.driver_dir_present == b.driver_dir_present
        && a.containerd.as_ref().map(|c| c.snapshot_id)
            == b.containerd.as_ref().map(|c| c.snapshot_id)
}

/// A container (or its RW layer, `layerdb/mounts/<id>`) created, removed or changed.
fn container_changed(first: &Graph, second: &Graph, subject: &str) -> Option<String> {
    let id = ContainerId::new(subject);
    let short = crate::id::short_id(subject);
    match (first.containers.get(&id), second.containers.get(&id)) {
        (Some(_), None) => return Some(format!("container {short} was removed")),
        (None, Some(_)) => return Some(format!("container {short} was created")),
        (Some(a), Some(b)) if a.record.image != b.record.image => {
            return Some(format!("container {short} changed"))
        }
        (Some(a), Some(b)) if a.record.state.status() != b.record.state.status() => {
            return Some(format!(
                "container {short} went from {} to {}",
                a.record.state.status(),
                b.record.state.status()
            ))
        }
        (Some(a), Some(b)) => {
            // The RW layer as the graph linked it: on the containerd store this is the
            // container's snapshot in meta.db (there is no layerdb/mounts to compare).
            let linked = |g: &Graph, c: &crate::graph::ContainerNode| {
                let m = c.mount.as_ref().map(|m| {
                    let present = g
                        .containerd
                        .as_ref()
                        .and_then(|ctd| ctd.store.snapshots.get(&m.name).map(|s| s.dir_present));
                    (m.mount_id.clone(), m.init_id.clone(), m.parent, present)
                });
                (m, c.rw_dir.clone(), c.init_dir.clone())
            };
            let (la, lb) = (linked(first, a), linked(second, b));
            if la != lb {
                return Some(match (&la.0, &lb.0) {
                    (Some(_), None) => format!("the RW layer of {short} was removed"),
                    (None, Some(_)) => format!("the RW layer of {short} was created"),
                    _ => format!("the RW layer of {short} changed"),
                });
            }
        }
        _ => {}
    }
    let mount = |g: &Graph| {
        g.layerdb.mounts.get(subject).map(|m| {
            let dir = |id: &Option<crate::id::MountId>| {
                id.as_ref().map(|i| {
                    g.driver_home.as_ref().is_some_and(|h| h.dirs.contains_key(i.as_str()))
                })
            };
            (m.mount_id.clone(), m.init_id.clone(), m.parent, dir(&m.mount_id), dir(&m.init_id))
        })
    };
    match (mount(first), mount(second)) {
        (Some(_), None) => Some(format!("the RW layer of {short} was removed")),
        (None, Some(_)) => Some(format!("the RW layer of {short} was created")),
        (Some(a), Some(b)) if a != b => Some(format!("the RW layer of {short} changed")),
        _ => None,
    }
}

/// A containerd snapshot (by meta.db key) that came, went, or that the snapshotter
/// and meta.db, read one after the other, did not yet (or no longer) agree on.
fn snapshot_changed(first: &Graph, second: &Graph, key: &str) -> Option<String> {
    let seen = |g: &Graph| {
        let s = g.containerd.as_ref()?.store.snapshots.get(key)?;
        Some((s.name.clone(), s.backend.is_some(), s.dir.clone(), s.dir_present))
    };
    let (a, b) = (seen(first), seen(second));
    (a.is_some() && a != b).then(|| format!("snapshot {key} changed"))
}

/// A content blob (`io.containerd.content.v1.content/blobs/sha256/<hex>`, relative to
/// the containerd root) that was removed, written or recorded between the reads.
fn blob_changed(first: &Graph, second: &Graph, file: &str) -> Option<String> {
    let hex = file.strip_prefix("io.containerd.content.v1.content/blobs/sha256/")?;
    let digest = crate::digest::Digest::from_hex(hex).ok()?;
    let seen = |g: &Graph| {
        let store = &g.containerd.as_ref()?.store;
        Some(store.blobs.get(&digest).map(|b| b.present))
    };
    let (a, b) = (seen(first), seen(second));
    (a != b).then(|| format!("content blob {} changed", digest.short()))
}

/// A tag or digest reference that was retagged, removed or created.
fn reference_changed(first: &Graph, second: &Graph, f: &Finding, raw: &str) -> Option<String> {
    if f.code != Code::ReferenceBroken {
        return None;
    }
    let target = |g: &Graph| {
        g.references
            .iter()
            .find(|r| r.raw == raw)
            .map(|r| (r.raw_target.clone(), r.image.is_some_and(|id| g.images.contains_key(&id))))
    };
    (target(first) != target(second)).then(|| format!("reference {raw} changed"))
}

/// A graphdriver directory (cache-id or mount-id) that came or went, or that a layer or
/// mount took or let go of between the reads.
fn driver_dir_changed(first: &Graph, second: &Graph, name: &str) -> Option<String> {
    let seen = |g: &Graph| {
        let present = g.driver_home.as_ref().is_some_and(|h| h.dirs.contains_key(name));
        let used = g
            .layers
            .values()
            .any(|l| l.record.cache_id.as_ref().is_some_and(|c| c.as_str() == name))
            || g.layerdb.mounts.values().any(|m| {
                [&m.mount_id, &m.init_id]
                    .iter()
                    .any(|i| i.as_ref().is_some_and(|i| i.as_str() == name))
            });
        (present, used)
    };
    let (a, b) = (seen(first), seen(second));
    (a != b).then(|| format!("driver directory {} changed", crate::id::short_id(name)))
}

/// The same finding in the same place (messages may differ: they can quote sizes).
fn same_place(a: &Finding, b: &Finding) -> bool {
    a.code == b.code
        && a.file == b.file
        && a.subject == b.subject
        && a.image == b.image
        && a.layer == b.layer
        && a.path == b.path
}
