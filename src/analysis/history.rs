//! An image's build history matched to its layers, the way `docker history` does it.
//!
//! The config's `history` lists every build step; only steps without `empty_layer`
//! produced a layer, and they did so in `rootfs.diff_ids` order. Docker walks the
//! steps, hands the next DiffID to each non-empty one, and reports that layer's own
//! size (not the chain's). The step's image ID comes from the `parent` chain of
//! local images (classic builder and commit), newest first, and is `<missing>`
//! past its end. strata does the same, offline, and says so when the counts disagree
//! instead of failing the way the engine does.

use crate::digest::{ChainId, DiffId, ImageId};
use crate::finding::{Code, Finding};
use crate::graph::{Graph, ImageNode};
use crate::store::imagedb::HistoryEntry;
use serde::Serialize;
use std::collections::BTreeSet;

/// One step of `strata history`, newest first like `docker history`.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct HistoryStep {
    /// The local image this step ended in, when the parent chain reaches it;
    /// `None` is Docker's `<missing>`.
    pub id: Option<ImageId>,
    /// Familiar `name:tag` strings of that image.
    pub tags: Vec<String>,
    /// When the step ran (RFC 3339).
    pub created: Option<String>,
    /// The Dockerfile instruction or command that made it; empty when unknown.
    pub created_by: String,
    /// The step's author; usually empty.
    pub author: String,
    /// The step's comment (`docker commit -m`, import notes).
    pub comment: String,
    /// The layer's own size for a step that made one, 0 for an empty step; `None`
    /// when the layer is missing from layerdb or its size is unreadable.
    pub size: Option<i64>,
    /// The step made no layer (`ENV`, `CMD`...).
    pub empty_layer: bool,
    /// ChainID of the layer the step made, if any.
    pub chain_id: Option<ChainId>,
    /// DiffID of the layer the step made, if any.
    pub diff_id: Option<DiffId>,
}

/// Which history entry made each layer of an image, bottom layer first. `None`
/// where the history runs out (images imported or assembled without one).
pub fn layer_steps(img: &ImageNode) -> Vec<Option<HistoryEntry>> {
    let n = img.chain_ids.len();
    let mut out: Vec<Option<HistoryEntry>> =
        img.record.history().into_iter().filter(|h| !h.empty_layer).take(n).map(Some).collect();
    out.resize(n, None);
    out
}

/// The history of `img`, newest step first, with findings for what does not add up.
pub fn image_history(g: &Graph, img: &ImageNode) -> (Vec<HistoryStep>, Vec<Finding>) {
    let mut findings = Vec::new();
    let Some(cfg) = img.record.config.as_ref() else {
        findings.push(
            Finding::error(
                Code::MetadataCorrupt,
                format!("image {}: config is unreadable, so it has no history", img.id().short()),
            )
            .with_image(img.id()),
        );
        return (Vec::new(), findings);
    };
    let diff_ids = cfg.diff_ids.clone().unwrap_or_default();
    let history = img.record.history();
    let mut steps = Vec::with_capacity(history.len());
    let mut layer = 0usize;
    for h in &history {
        let (size, chain_id, diff_id) = if h.empty_layer {
            (Some(0), None, None)
        } else if layer < diff_ids.len() {
            let c = img.chain_ids.get(layer).copied();
            let size = c.and_then(|c| g.layers.get(&c)).and_then(|l| l.record.size);
            let d = diff_ids[layer];
            layer += 1;
            (size, c, Some(d))
        } else {
            // Docker refuses the whole history here ("too many non-empty layers in
            // History section"); strata shows the step and says why it has no layer.
            layer += 1;
            (None, None, None)
        };
        steps.push(HistoryStep {
            id: None,
            tags: Vec::new(),
            created: h.created.clone(),
            created_by: h.created_by.clone().unwrap_or_default(),
            author: h.author.clone().unwrap_or_default(),
            comment: h.comment.clone().unwrap_or_default(),
            size,
            empty_layer: h.empty_layer,
            chain_id,
            diff_id,
        });
    }
    if layer > diff_ids.len() {
        findings.push(
            Finding::warning(
                Code::MetadataCorrupt,
                format!(
                    "image {}: history has {layer} non-empty steps but rootfs has {} layers; Docker refuses to show this history",
                    img.id().short(),
                    diff_ids.len()
                ),
            )
            .with_image(img.id()),
        );
    }
    steps.reverse();

    // Image IDs along the parent chain, newest first, as far as it goes.
    let mut seen = BTreeSet::new();
    let mut cur = Some(img);
    for step in steps.iter_mut() {
        let Some(i) = cur else { break };
        if !seen.insert(i.id()) {
            break;
        }
        step.id = Some(i.id());
        step.tags = i.repo_tags.clone();
        cur = i.record.parent.and_then(|p| g.images.get(&p));
    }
    for c in &img.chain_ids {
        if !g.layers.contains_key(c) {
            findings.push(
                Finding::error(
                    Code::LayerMissing,
                    format!(
                        "image {} needs layer {} which is not in layerdb",
                        img.id().short(),
                        c.short()
                    ),
                )
                .with_image(img.id())
                .with_layer(*c),
            );
        }
    }
    (steps, findings)
}
