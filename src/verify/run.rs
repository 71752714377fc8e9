//! A whole `strata verify` run: choose what to check from the graph, turn layers into
//! jobs, run them, and roll layer results up to images.

use super::identity::{check_identities, ImageIdentity};
use super::{verify_layers, LayerJob, LayerResult, Progress, VerifyOptions, VerifyStatus};
use crate::digest::{ChainId, ImageId};
use crate::finding::{Code, Finding};
use crate::fsread::SafeDir;
use crate::graph::Graph;
use crate::store::userns::UserNamespace;
use serde::Serialize;
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;

/// What to verify. Empty sets mean everything in the data-root.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Images chosen: each is verified with every layer of its chain.
    pub images: BTreeSet<ImageId>,
    /// Layers chosen, by ChainID.
    pub layers: BTreeSet<ChainId>,
}

impl Selection {
    /// Whether nothing was chosen, which means every image and layer.
    pub fn is_everything(&self) -> bool {
        self.images.is_empty() && self.layers.is_empty()
    }
}

/// What verifying one image found: its own ID and the worst of its layers.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ImageVerdict {
    /// The image ID.
    pub id: ImageId,
    /// The worst of its ID check and its layers' statuses.
    pub status: VerifyStatus,
    /// What its config (or target, on containerd) actually hashes to.
    pub computed_id: crate::digest::Digest,
}

/// Everything `strata verify` found.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// One result per layer verified.
    pub layers: Vec<LayerResult>,
    /// One verdict per image verified.
    pub images: Vec<ImageVerdict>,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
    /// The user namespace the store was written in (userns-remap, rootless), whose
    /// shift owners on disk were compared through; absent for an ordinary data-root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns: Option<UserNamespace>,
}

/// The layers `sel` covers: chosen layers, and every layer of chosen images.
fn selected_layers(g: &Graph, sel: &Selection) -> BTreeSet<ChainId> {
    if sel.is_everything() {
        return g.layers.keys().copied().collect();
    }
    let mut out = sel.layers.clone();
    for id in &sel.images {
        if let Some(img) = g.images.get(id) {
            out.extend(img.chain_ids.iter().filter(|c| g.layers.contains_key(c)));
        }
    }
    out
}

/// Builds the job for one layer, or the finding that says why it cannot be checked.
/// `save` rebuilds layers from the same jobs.
pub fn job_for(g: &Graph, chain: &ChainId) -> Result<LayerJob, Box<Finding>> {
    let l = &g.layers[chain];
    let unverifiable = |code: Code, msg: String| Finding::error(code, msg).with_layer(*chain);
    let diff_id = l.record.diff_id.ok_or_else(|| {
        unverifiable(
            Code::MetadataCorrupt,
            format!("layer {}: no readable diff file, nothing to verify against", chain.short()),
        )
        .with_file(l.record.dir.join("diff"))
    })?;
    if let Some(ctd) = &l.containerd {
        return containerd_job(g, l, ctd, diff_id);
    }
    let cache_id = l.record.cache_id.as_deref().ok_or_else(|| {
        unverifiable(
            Code::MetadataCorrupt,
            format!("layer {}: no readable cache-id, its files cannot be found", chain.short()),
        )
        .with_file(l.record.dir.join("cache-id"))
    })?;
    let driver = g.driver.ok_or_else(|| {
        Finding::warning(
            Code::UnsupportedStore,
            format!(
                "layer {}: graphdriver {:?} is not one strata can read files of",
                chain.short(),
                g.driver_name
            ),
        )
        .with_layer(*chain)
    })?;
    let lower_tar_splits = if driver.stores_diffs() {
        None
    } else {
        let below = l.record.parent.map(|p| g.layer_chain(&p)).unwrap_or_default();
        Some(
            below
                .iter()
                .filter_map(|c| g.layers.get(c))
                .map(|l| l.record.tar_split_path())
                .collect(),
        )
    };
    Ok(LayerJob {
        chain_id: *chain,
        diff_id,
        tar_split: l.record.tar_split_path(),
        content_dir: driver.content_dir(cache_id),
        driver,
        lower_tar_splits,
        blob: None,
    })
}

/// A containerd layer: its blob in the content store is the stream, its snapshot
/// directory the files.
fn containerd_job(
    g: &Graph,
    l: &crate::graph::LayerNode,
    ctd: &crate::graph::containerd::CtdLayerInfo,
    diff_id: crate::digest::DiffId,
) -> Result<LayerJob, Box<Finding>> {
    let chain = l.chain_id();
    let content_dir = l.content_dir.clone().ok_or_else(|| {
        Box::new(
            Finding::error(
                Code::LayerContentMissing,
                format!(
                    "layer {}: no snapshot holds this layer, its files cannot be checked",
                    chain.short()
                ),
            )
            .with_layer(chain),
        )
    })?;
    let blob = ctd.blob.as_ref().ok_or_else(|| {
        Box::new(
            Finding::error(
                Code::ContentBlobMissing,
                format!("layer {}: no image manifest names a blob for this layer", chain.short()),
            )
            .with_layer(chain),
        )
    })?;
    if !blob.present {
        return Err(Box::new(
            Finding::error(
                Code::ContentBlobMissing,
                format!(
                    "layer {}: its blob {} is not in the content store (garbage-collected or removed), so its DiffID cannot be recomputed",
                    chain.short(),
                    blob.digest
                ),
            )
            .with_layer(chain)
            .with_file(crate::store::containerd::blob_path(&blob.digest)),
        ));
    }
    let compression = blob.compression.ok_or_else(|| {
        Box::new(
            Finding::warning(
                Code::UnsupportedStore,
                format!(
                    "layer {}: blob media type {:?} is not a layer strata can read",
                    chain.short(),
                    blob.media_type
                ),
            )
            .with_layer(chain),
        )
    })?;
    let driver = g.driver.ok_or_else(|| {
        Box::new(
            Finding::warning(
                Code::UnsupportedStore,
                format!(
                    "layer {}: snapshotter {:?} is not one strata can read files of",
                    chain.short(),
                    g.driver_name
                ),
            )
            .with_layer(chain),
        )
    })?;
    Ok(LayerJob {
        chain_id: chain,
        diff_id,
        tar_split: std::path::PathBuf::new(),
        content_dir,
        driver,
        // Drift on a full-copy snapshotter (native) would need every lower blob.
        lower_tar_splits: None,
        blob: Some(crate::verify::LayerBlob {
            digest: blob.digest,
            path: crate::store::containerd::blob_path(&blob.digest),
            compression,
        }),
    })
}

/// Verifies the content of `layers`: one result per layer, by chain ID. A layer that
/// cannot even be turned into a job (no diff, no cache-id, unknown driver) comes back
/// unverifiable with the finding that says why. Owners are compared through the
/// graph's user namespace, when it has one.
pub fn verify_content(
    root: &SafeDir,
    g: &Graph,
    layers: &BTreeSet<ChainId>,
    opts: &VerifyOptions,
    progress: Option<Progress<'_>>,
) -> Vec<LayerResult> {
    verify_content_in_userns(root, g, layers, opts, progress).0
}

/// How many owners of non-root tar members the inference of a rootless subordinate
/// range looks at, at most.
const INFER_SAMPLES: usize = 4096;

/// A rootless data-root read without the host's `/etc/subuid` and `/etc/subgid`:
/// the subordinate base is inferred from the layers. For tar members owned by a
/// container id `n ≥ 1`, the owner on disk is `base + n - 1`; each such member votes
/// for a base, and a base more than half of them agree on is taken (range length
/// assumed 65536). Tampered owners are a minority and are then still reported.
fn infer_subordinate(
    root: &SafeDir,
    jobs: &[LayerJob],
    limits: crate::fsread::Limits,
    ns: &UserNamespace,
) -> UserNamespace {
    use crate::store::userns::{Extent, DEFAULT_RANGE};
    use std::collections::BTreeMap;
    let mut votes: [BTreeMap<i64, usize>; 2] = Default::default();
    let mut samples = 0usize;
    'jobs: for job in jobs {
        let Ok(layer) = root.open_dir(&job.content_dir) else { continue };
        let Ok(mut stream) =
            super::LayerStream::open(root, &job.tar_split, job.blob.as_ref(), limits)
        else {
            continue;
        };
        while let Ok(Some(ev)) = stream.next_event() {
            let super::Event::Member(m) = ev else { continue };
            let (Ok(rel), Ok(h)) = (&m.rel, &m.header) else { continue };
            if (h.uid == 0 && h.gid == 0) || rel.is_empty() {
                continue;
            }
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(rel));
            let Ok(meta) = layer.lstat(path) else { continue };
            for (i, (tar, disk)) in [(h.uid, meta.uid), (h.gid, meta.gid)].into_iter().enumerate() {
                if let (true, Ok(tar)) = (tar >= 1, i64::try_from(tar)) {
                    *votes[i].entry(i64::from(disk) - tar + 1).or_default() += 1;
                }
            }
            samples += 1;
            if samples >= INFER_SAMPLES {
                break 'jobs;
            }
        }
    }
    let pick = |v: &BTreeMap<i64, usize>| {
        let total: usize = v.values().sum();
        let (base, n) = v.iter().max_by_key(|(_, n)| **n)?;
        let base = u32::try_from(*base).ok().filter(|b| *b > 0)?;
        (2 * n > total).then_some((base, *n, total))
    };
    let (Some(u), Some(g)) = (pick(&votes[0]), pick(&votes[1])) else {
        let mut out = ns.clone();
        out.source.push_str(
            "; the layers did not show a subordinate range either (too few non-root owners): only container root is mapped",
        );
        return out;
    };
    let mut out = ns.clone();
    out.uid_map.push(Extent { inside: 1, outside: u.0, count: DEFAULT_RANGE });
    out.gid_map.push(Extent { inside: 1, outside: g.0, count: DEFAULT_RANGE });
    out.complete = true;
    out.source.push_str(&format!(
        "; subordinate ranges inferred from the layers: owners on disk of non-root tar entries put uid 1 at {} ({} of {} entries agree) and gid 1 at {} ({} of {}), length {DEFAULT_RANGE} assumed",
        u.0, u.1, u.2, g.0, g.1, g.2
    ));
    out
}

/// [`verify_content`], also returning the user namespace owners were compared
/// through (with a rootless subordinate range inferred from the layers, if it had
/// to be).
pub fn verify_content_in_userns(
    root: &SafeDir,
    g: &Graph,
    layers: &BTreeSet<ChainId>,
    opts: &VerifyOptions,
    progress: Option<Progress<'_>>,
) -> (Vec<LayerResult>, Option<UserNamespace>) {
    let mut jobs = Vec::with_capacity(layers.len());
    let mut blocked: Vec<LayerResult> = Vec::new();
    for c in layers.iter().filter(|c| g.layers.contains_key(c)) {
        match job_for(g, c) {
            Ok(j) => jobs.push(j),
            Err(f) => blocked.push(LayerResult {
                chain_id: *c,
                // With no readable diff file there is nothing else to show.
                diff_id: g.layers[c].record.diff_id.unwrap_or(crate::digest::DiffId(c.0)),
                computed_diff_id: None,
                status: VerifyStatus::Unverifiable,
                bytes: 0,
                findings: vec![*f],
            }),
        }
    }
    let content_root = g.content_root(root);
    let userns = g.userns.as_ref().map(|ns| match ns.complete {
        true => ns.clone(),
        false => infer_subordinate(content_root, &jobs, opts.limits, ns),
    });
    let opts = VerifyOptions {
        id_map: userns.as_ref().map_or(opts.id_map, UserNamespace::id_map),
        ..*opts
    };
    let mut results = verify_layers(content_root, &jobs, &opts, progress);
    results.extend(blocked);
    results.sort_by_key(|r| r.chain_id);
    (results, userns)
}

/// The layer blobs the layer pass has already hashed (whatever it found).
pub fn layer_blobs(g: &Graph, results: &[LayerResult]) -> BTreeSet<crate::digest::Digest> {
    results
        .iter()
        .filter(|r| r.computed_diff_id.is_some())
        .filter_map(|r| {
            g.layers.get(&r.chain_id)?.containerd.as_ref()?.blob.as_ref().map(|b| b.digest)
        })
        .collect()
}

/// Runs a verification over `sel`.
pub fn run(
    root: &SafeDir,
    g: &Graph,
    sel: &Selection,
    opts: &VerifyOptions,
    progress: Option<Progress<'_>>,
) -> VerifyReport {
    let layers = selected_layers(g, sel);
    let (identities, id_findings) = check_identities(g);
    let mut findings: Vec<Finding> = Vec::new();
    let (results, userns) = verify_content_in_userns(root, g, &layers, opts, progress);
    if let (Some(ctd), false, true) = (&g.containerd, opts.quick, sel.is_everything()) {
        findings.extend(super::content::check_blobs(ctd, &layer_blobs(g, &results)).1);
    }

    let images: Vec<&ImageIdentity> =
        identities.iter().filter(|i| sel.is_everything() || sel.images.contains(&i.id)).collect();
    // One lookup per chain entry: a search of `results` per entry was quadratic on hosts
    // with thousands of images.
    let mut by_chain: std::collections::HashMap<ChainId, VerifyStatus> = Default::default();
    for r in &results {
        by_chain.entry(r.chain_id).or_insert(r.status);
    }
    let verdicts = images
        .iter()
        .map(|i| {
            let chain = &g.images[&i.id].chain_ids;
            let statuses: Vec<VerifyStatus> = chain
                .iter()
                .map(|c| by_chain.get(c).copied().unwrap_or(VerifyStatus::Unverifiable))
                .collect();
            let status = if !i.id_matches || statuses.contains(&VerifyStatus::Mismatch) {
                VerifyStatus::Mismatch
            } else if !i.layers_present || statuses.contains(&VerifyStatus::Unverifiable) {
                VerifyStatus::Unverifiable
            } else if statuses.contains(&VerifyStatus::Checked) {
                VerifyStatus::Checked
            } else {
                VerifyStatus::Verified
            };
            ImageVerdict { id: i.id, status, computed_id: i.computed_id }
        })
        .collect();

    // Identity and store findings that concern what was selected.
    let wanted = |f: &Finding| {
        sel.is_everything()
            || f.image.is_some_and(|i| sel.images.contains(&i))
            || f.layer.is_some_and(|l| layers.contains(&l))
    };
    findings.extend(id_findings.into_iter().filter(|f| wanted(f)));
    findings.extend(g.findings.iter().filter(|f| wanted(f)).cloned());
    for r in &results {
        findings.extend(r.findings.iter().cloned());
    }
    Finding::sort_worst_first(&mut findings);
    VerifyReport { layers: results, images: verdicts, findings, userns }
}
