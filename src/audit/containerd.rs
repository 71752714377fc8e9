//! Consistency checks of the containerd image store: the references between
//! images, content, snapshots, containers and leases that containerd's garbage
//! collector relies on, and the leftovers it may leave.

use super::checks::rw_layer_gone;
use crate::finding::{Code, Finding};
use crate::graph::{ContainerdPart, Graph};
use crate::store::containerd::blob_path;
use std::path::Path;

/// Every check; nothing here reads layer content.
pub fn run_all(g: &Graph, ctd: &ContainerdPart, out: &mut Vec<Finding>) {
    content_references(ctd, out);
    snapshots(ctd, out);
    containers(g, ctd, out);
    leftovers(ctd, out);
}

/// A `containerd.io/gc.ref.content.*` label that names missing content: the
/// collector keeps nothing alive through it and the image is incomplete.
fn content_references(ctd: &ContainerdPart, out: &mut Vec<Finding>) {
    let store = &ctd.store;
    for img in &store.images {
        let d = img.target.digest;
        if !store.blobs.get(&d).is_some_and(|b| b.present) && !ctd.root.exists(&blob_path(&d)) {
            out.push(
                Finding::error(
                    Code::ContentBlobMissing,
                    format!("image {}: its target {d} is not in the content store", img.name),
                )
                .with_file(blob_path(&d))
                // The image (its ID is its target's digest) lets the second read see an
                // image removed under the scan, whose content the collector took first.
                .with_image(crate::digest::ImageId(d)),
            );
        }
    }
    for b in store.blobs.values() {
        if !b.present {
            // Content records without their blob: a layer pulled lazily, or removed by hand.
            out.push(
                Finding::warning(
                    Code::ContentBlobMissing,
                    format!(
                        "content {} is recorded in meta.db but its blob file is missing",
                        b.digest
                    ),
                )
                .with_file(blob_path(&b.digest)),
            );
        }
        for (k, v) in &b.labels {
            if !k.starts_with("containerd.io/gc.ref.content") {
                continue;
            }
            let Ok(child) = crate::digest::Digest::parse(v) else { continue };
            if !store.blobs.get(&child).is_some_and(|c| c.present)
                && !ctd.root.exists(&blob_path(&child))
            {
                out.push(
                    Finding::warning(
                        Code::ContentBlobMissing,
                        format!("content {} names {child} in its label {k}, but that content is not here", b.digest),
                    )
                    .with_file(blob_path(&child)),
                );
            }
        }
    }
}

fn snapshots(ctd: &ContainerdPart, out: &mut Vec<Finding>) {
    let store = &ctd.store;
    let snap_root =
        std::path::PathBuf::from(format!("io.containerd.snapshotter.v1.{}", store.snapshotter));
    for s in store.snapshots.values() {
        if let Some(p) = &s.parent {
            if !store.snapshots.contains_key(p) {
                out.push(
                    Finding::error(
                        Code::ParentMissing,
                        format!("snapshot {}: its parent {p} is not in meta.db", s.key),
                    )
                    .with_subject(s.key.as_str()),
                );
            }
        }
        match (&s.backend, &s.dir) {
            (None, _) => out.push(
                Finding::error(
                    Code::MountBroken,
                    format!(
                        "snapshot {} is in meta.db but the {} snapshotter has no record of {}",
                        s.key, store.snapshotter, s.name
                    ),
                )
                .with_subject(s.key.as_str()),
            ),
            (Some(_), Some(dir)) if !s.dir_present => out.push(
                Finding::error(
                    Code::LayerContentMissing,
                    format!("snapshot {}: its directory is missing", s.key),
                )
                .with_file(dir)
                // The key lets the second read see a snapshot removed under the scan (its
                // directory renamed away before the snapshotter's records let go of it).
                .with_subject(s.key.as_str()),
            ),
            _ => {}
        }
    }
    for d in &store.snapshot_dirs {
        if !d.parse::<u64>().is_ok_and(|id| store.backend_ids.contains(&id)) {
            out.push(
                Finding::warning(
                    Code::GraphdriverDirOrphaned,
                    format!(
                        "snapshot directory {d} has no record in the snapshotter's metadata.db"
                    ),
                )
                .with_file(snap_root.join("snapshots").join(d)),
            );
        }
    }
}

fn containers(g: &Graph, ctd: &ContainerdPart, out: &mut Vec<Finding>) {
    for c in g.containers.values() {
        let id = &c.record.id;
        let Some(m) = &c.mount else {
            out.push(rw_layer_gone(
                c,
                format!("container {}: its RW snapshot is not in meta.db", id.short()),
            ));
            continue;
        };
        if c.rw_dir.is_none() || !ctd.store.snapshots.get(&m.name).is_some_and(|s| s.dir_present) {
            out.push(rw_layer_gone(
                c,
                format!("container {}: its RW snapshot directory is missing", id.short()),
            ));
        }
        if c.init_dir.is_some()
            && !ctd
                .store
                .snapshots
                .values()
                .any(|s| s.dir.as_ref() == c.init_dir.as_ref() && s.dir_present)
        {
            out.push(rw_layer_gone(
                c,
                format!("container {}: its init snapshot directory is missing", id.short()),
            ));
        }
        // The snapshot must sit on the image's top layer; otherwise the
        // container's filesystem is not the image it claims.
        if let Some(img) = c.record.image.and_then(|i| g.images.get(&i)) {
            if img.top_layer().is_some() && m.parent != img.top_layer() {
                out.push(
                    Finding::error(
                        Code::ContainerLayerMissing,
                        format!(
                            "container {}: its snapshots sit on {}, but image {}'s top layer is {}",
                            id.short(),
                            m.parent.map(|p| p.short()).unwrap_or_else(|| "nothing".into()),
                            img.id().short(),
                            img.top_layer().map(|t| t.short()).unwrap_or_else(|| "none".into())
                        ),
                    )
                    .with_image(img.id())
                    .with_subject(id.as_str()),
                );
            }
        }
    }
}

fn leftovers(ctd: &ContainerdPart, out: &mut Vec<Finding>) {
    for i in &ctd.store.ingests {
        out.push(
            Finding::info(
                Code::LayerdbTmpLeftover,
                format!(
                    "an unfinished download (ingest {}) holds {} bytes",
                    i.reference.as_deref().unwrap_or(&i.dir),
                    i.bytes.map_or("an unknown number of".into(), |b| b.to_string())
                ),
            )
            .with_file(Path::new("io.containerd.content.v1.content/ingest").join(&i.dir)),
        );
    }
    for l in &ctd.store.leases {
        if l.snapshots.is_empty() && l.content.is_empty() && l.ingests.is_empty() {
            out.push(
                Finding::info(Code::LayerdbTmpLeftover, format!("lease {} holds nothing", l.id))
                    .with_subject(l.id.as_str()),
            );
        }
    }
}
