//! Identity checks: every ID recomputed from the bytes or IDs it is defined by.
//!
//! These need no layer content, so they are cheap and run even with `--quick`: an
//! image ID against its config bytes, a ChainID against `parent` + `diff`, an image's
//! diff_ids against the layers they must resolve to, and parent links both ways.

use crate::digest::{chain_id, Digest, ImageId};
use crate::finding::{Code, Finding};
use crate::graph::{Graph, ImageNode, LayerNode};
use serde::Serialize;

/// Result of checking one image's ID and chain.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ImageIdentity {
    /// The image ID (its imagedb file name).
    pub id: ImageId,
    /// Digest of the config bytes as found.
    pub computed_id: Digest,
    /// Whether `computed_id` equals `id`.
    pub id_matches: bool,
    /// Every ChainID of the config resolves to a layerdb record.
    pub layers_present: bool,
}

/// Recomputes every image ID and ChainID in the graph. Returns per-image results and
/// the findings, in a stable order.
///
/// Each image and layer is checked on its own, on every core: a big host has tens of
/// thousands of configs and ChainIDs to hash (10,000 images: 0.08 s of one core, perf), and
/// the results are put back in the graph's order.
pub fn check_identities(g: &Graph) -> (Vec<ImageIdentity>, Vec<Finding>) {
    use rayon::prelude::*;
    let images: Vec<&ImageNode> = g.images.values().collect();
    let layers: Vec<&LayerNode> = g.layers.values().collect();
    let (images, layer_findings) = rayon::join(
        || images.par_iter().map(|img| image_identity(g, img)).collect::<Vec<_>>(),
        || layers.par_iter().map(|l| layer_identity(g, l)).collect::<Vec<_>>(),
    );
    let mut findings = Vec::new();
    let images = images
        .into_iter()
        .map(|(identity, found)| {
            findings.extend(found);
            identity
        })
        .collect();
    findings.extend(layer_findings.into_iter().flatten());
    (images, findings)
}

/// One image's ID against its config bytes (or, on the containerd store, its manifest
/// and config blobs), its layers and its parent.
fn image_identity(g: &Graph, img: &ImageNode) -> (ImageIdentity, Vec<Finding>) {
    let mut findings = Vec::new();
    let id = img.id();
    if let (Some(info), Some(ctd)) = (&img.containerd, &g.containerd) {
        let (computed, id_matches) = containerd_identity(id, info, img, &ctd.root, &mut findings);
        let identity = ImageIdentity {
            id,
            computed_id: computed,
            id_matches,
            layers_present: img.chain_ids.iter().all(|c| g.layers.contains_key(c)),
        };
        return (identity, findings);
    }
    let computed = Digest::of(&img.record.raw);
    let id_matches = computed == id.0;
    if !id_matches {
        findings.push(
            Finding::error(
                Code::ImageIdMismatch,
                format!("image {}: config bytes hash to {computed}; the file was changed after Docker wrote it", id.short()),
            )
            .with_image(id)
            .with_file(&img.record.content_file),
        );
    }
    if let Some(cfg) = &img.record.config {
        if cfg.diff_ids.is_none() {
            findings.push(
                Finding::error(
                    Code::MetadataCorrupt,
                    format!("image {}: config has no rootfs; Docker will not load it", id.short()),
                )
                .with_image(id)
                .with_file(&img.record.content_file),
            );
        }
    }
    let mut layers_present = true;
    for (c, l) in g.image_layers(img) {
        if l.is_none() {
            layers_present = false;
            findings.push(
                Finding::error(
                    Code::LayerMissing,
                    format!("image {} needs layer {} which is not in layerdb; Docker will not load this image", id.short(), c.short()),
                )
                .with_image(id)
                .with_layer(c),
            );
        }
    }
    if let Some(parent) = img.record.parent {
        if !g.images.contains_key(&parent) {
            findings.push(
                Finding::warning(
                    Code::ParentMissing,
                    format!(
                        "image {}: parent image {} is not in imagedb",
                        id.short(),
                        parent.short()
                    ),
                )
                .with_image(id)
                .with_file(
                    img.record.content_file.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
                ),
            );
        }
    }
    (ImageIdentity { id, computed_id: computed, id_matches, layers_present }, findings)
}

/// One layer's ChainID against its parent and diff, and its parent's record.
fn layer_identity(g: &Graph, l: &LayerNode) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(diff) = l.record.diff_id else { return findings };
    if let Some(p) = l.record.parent {
        if !g.layers.contains_key(&p) {
            findings.push(
                Finding::error(
                    Code::ParentMissing,
                    format!(
                        "layer {}: parent layer {} is not in layerdb; Docker skips this layer and every layer above it",
                        l.chain_id().short(),
                        p.short()
                    ),
                )
                .with_layer(l.chain_id())
                .with_file(l.record.dir.join("parent")),
            );
        }
    }
    let computed = chain_id(l.record.parent.as_ref(), &diff);
    if computed != l.chain_id() {
        findings.push(
            Finding::error(
                Code::ChainIdMismatch,
                format!("layer {}: parent + diff give ChainID {computed}; its diff or parent file was changed", l.chain_id().short()),
            )
            .with_layer(l.chain_id())
            .with_file(l.record.dir.join("diff")),
        );
    }
    findings
}

/// Largest manifest or index hashed for an identity check; registries refuse
/// manifests over 4 MiB, so anything larger is not one.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// On the containerd store an image is its target: the ID must be the digest of
/// the target blob (index or manifest), the manifest read must hash to its name,
/// and the config to the digest the manifest gives.
fn containerd_identity(
    id: ImageId,
    info: &crate::graph::containerd::CtdImageInfo,
    img: &crate::graph::ImageNode,
    root: &crate::fsread::SafeDir,
    findings: &mut Vec<Finding>,
) -> (Digest, bool) {
    use crate::store::containerd::blob_path;
    let hash =
        |d: &Digest| root.read_file(&blob_path(d), MAX_MANIFEST_BYTES).map(|b| Digest::of(&b));
    let computed = match hash(&id.0) {
        Ok(c) => c,
        Err(e) => {
            findings.push(
                Finding::error(
                    Code::ContentBlobMissing,
                    format!("image {}: its target blob cannot be read: {e}", id.short()),
                )
                .with_image(id)
                .with_file(blob_path(&id.0)),
            );
            return (id.0, false);
        }
    };
    let mut ok = computed == id.0;
    if !ok {
        findings.push(
            Finding::error(
                Code::ImageIdMismatch,
                format!("image {}: its target blob hashes to {computed}; the blob was changed after it was stored", id.short()),
            )
            .with_image(id)
            .with_file(blob_path(&id.0)),
        );
    }
    if let Some(m) = info.manifest.filter(|m| *m != id.0) {
        if let Ok(c) = hash(&m) {
            if c != m {
                ok = false;
                findings.push(
                    Finding::error(
                        Code::ContentBlobMismatch,
                        format!("image {}: manifest {m} hashes to {c}", id.short()),
                    )
                    .with_image(id)
                    .with_file(blob_path(&m)),
                );
            }
        }
    }
    if let Some(cfg) = info.config {
        let c = Digest::of(&img.record.raw);
        if c != cfg {
            ok = false;
            findings.push(
                Finding::error(
                    Code::ContentBlobMismatch,
                    format!("image {}: config blob {cfg} hashes to {c}; the config was changed after it was stored", id.short()),
                )
                .with_image(id)
                .with_file(blob_path(&cfg)),
            );
        }
    }
    (computed, ok)
}
