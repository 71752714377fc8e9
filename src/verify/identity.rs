//! Identity checks: every ID recomputed from the bytes or IDs it is defined by.
//!
//! These need no layer content, so they are cheap and run even with `--quick`: an
//! image ID against its config bytes, a ChainID against `parent` + `diff`, an image's
//! diff_ids against the layers they must resolve to, and parent links both ways.

use crate::digest::{chain_id, Digest, ImageId};
use crate::finding::{Code, Finding};
use crate::graph::Graph;
use serde::Serialize;

/// Result of checking one image's ID and chain.
#[derive(Debug, Clone, Serialize)]
pub struct ImageIdentity {
    pub id: ImageId,
    /// Digest of the config bytes as found.
    pub computed_id: Digest,
    pub id_matches: bool,
    /// Every ChainID of the config resolves to a layerdb record.
    pub layers_present: bool,
}

/// Recomputes every image ID and ChainID in the graph. Returns per-image results and
/// the findings, in a stable order.
pub fn check_identities(g: &Graph) -> (Vec<ImageIdentity>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut images = Vec::new();
    for img in g.images.values() {
        let id = img.id();
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
                    Finding::error(Code::MetadataCorrupt, format!("image {}: config has no rootfs; Docker will not load it", id.short()))
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
                        format!("image {}: parent image {} is not in imagedb", id.short(), parent.short()),
                    )
                    .with_image(id)
                    .with_file(img.record.content_file.parent().map(|p| p.to_path_buf()).unwrap_or_default()),
                );
            }
        }
        images.push(ImageIdentity { id, computed_id: computed, id_matches, layers_present });
    }

    for l in g.layers.values() {
        let Some(diff) = l.record.diff_id else { continue };
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
    }
    (images, findings)
}
