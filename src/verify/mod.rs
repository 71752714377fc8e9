//! `strata verify`: rebuild each layer's tar from its tar-split and the files on
//! disk, recompute its DiffID, and say exactly which files differ.
//!
//! The caller (the graph) decides which layers exist and where their pieces are; it
//! hands over plain [`LayerJob`]s. Each job is checked independently, layers run in
//! parallel on a rayon pool, and results come back in job order so output is
//! deterministic. Nothing here prints: problems are [`Finding`]s on the result.
//! The cheap ID recomputations that need no layer content live in [`identity`].

pub mod blob;
pub mod content;
mod expect;
pub mod identity;
mod layer;
mod members;
pub mod run;

pub use expect::{placement, ExpectedTree, Placement};
pub use layer::{reassemble_layer, verify_layer};
pub use members::{Event, LayerStream, Member, MemberStream};

use crate::digest::{ChainId, DiffId};
use crate::finding::{Code, Finding, Severity};
use crate::fsread::{Limits, SafeDir};
use crate::store::graphdriver::DriverKind;
use serde::Serialize;
use std::path::PathBuf;

/// How a driver stores the deletions a layer tar expresses as `.wh.` members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutStyle {
    /// 0/0 character devices and `trusted.overlay.opaque` (overlay2).
    Overlay,
    /// `.wh.*` files kept as they are (aufs, fuse-overlayfs).
    Literal,
    /// Not stored: each layer directory is a whole filesystem (vfs, btrfs, zfs).
    Absent,
}

impl WhiteoutStyle {
    /// The whiteout style of `driver`'s layer directories.
    pub fn of(driver: DriverKind) -> Self {
        if driver.overlay_whiteouts() {
            WhiteoutStyle::Overlay
        } else if driver.stores_diffs() {
            WhiteoutStyle::Literal
        } else {
            WhiteoutStyle::Absent
        }
    }
}

/// One layer to verify. Paths are relative to the data-root and are opened through
/// [`SafeDir`], so they cannot lead outside it.
#[derive(Debug, Clone)]
pub struct LayerJob {
    /// The layer's ChainID.
    pub chain_id: ChainId,
    /// The DiffID the layer store records (`layerdb/.../diff`).
    pub diff_id: DiffId,
    /// e.g. `image/overlay2/layerdb/sha256/<chain hex>/tar-split.json.gz`.
    pub tar_split: PathBuf,
    /// e.g. `overlay2/<cache-id>/diff`; see [`DriverKind::content_dir`].
    pub content_dir: PathBuf,
    /// The driver, which fixes how whiteouts are stored.
    pub driver: DriverKind,
    /// Full-filesystem drivers (vfs, btrfs, zfs) only: tar-splits of the layers below,
    /// base first (`Some(vec![])` for a base layer). Drift on those drivers is
    /// computed against the whole chain; `None` skips it with an info finding.
    /// Ignored by the diff-only drivers.
    pub lower_tar_splits: Option<Vec<PathBuf>>,
    /// The containerd store keeps no tar-split: the layer's stream is rebuilt from
    /// its content blob instead, and `tar_split` is not read.
    pub blob: Option<LayerBlob>,
}

/// A layer blob in a containerd content store, relative to the root being read.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// The blob's digest (its name in the content store).
    pub digest: crate::digest::Digest,
    /// The blob file, relative to the containerd root.
    pub path: PathBuf,
    /// The compression its media type names.
    pub compression: blob::Compression,
}

/// How to verify.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Compare sizes, types and presence only; read no file content, hash nothing.
    pub quick: bool,
    /// Layers verified at once; 0 means one per core.
    pub jobs: usize,
    /// How much each reader may load.
    pub limits: Limits,
    /// The user namespace shift of owners on disk (userns-remap, rootless); identity
    /// for an ordinary data-root. [`run::verify_content`] fills it from the graph.
    pub id_map: crate::store::userns::IdMap,
}

/// The outcome for one layer, or for an image (its own ID and every layer beneath
/// it, the worst of them).
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyStatus {
    /// The reassembled stream hashes to the recorded DiffID and no file content
    /// differs (metadata warnings may still be present).
    Verified,
    /// Quick mode found sizes, types and presence consistent; nothing was hashed.
    Checked,
    /// The DiffID differs, or content findings of severity error were made.
    Mismatch,
    /// The stream cannot be rebuilt: tar-split missing, corrupt or over a limit,
    /// or the content directory gone.
    Unverifiable,
}

/// What verifying one layer found.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct LayerResult {
    /// The layer's ChainID.
    pub chain_id: ChainId,
    /// The DiffID the store records.
    pub diff_id: DiffId,
    /// SHA-256 of the reassembled stream; `None` in quick mode or when the stream
    /// could not be rebuilt.
    pub computed_diff_id: Option<DiffId>,
    /// Verified, checked, mismatch or unverifiable.
    pub status: VerifyStatus,
    /// Length of the reassembled tar stream in bytes.
    pub bytes: u64,
    /// What was found wrong in this layer.
    pub findings: Vec<Finding>,
}

/// Called with byte counts as content is hashed, from several threads at once.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Verifies `jobs` in parallel and returns one result per job, in job order.
pub fn verify_layers(
    root: &SafeDir,
    jobs: &[LayerJob],
    opts: &VerifyOptions,
    progress: Option<Progress<'_>>,
) -> Vec<LayerResult> {
    use rayon::prelude::*;
    let run = || jobs.par_iter().map(|job| verify_layer(root, job, opts, progress)).collect();
    match rayon::ThreadPoolBuilder::new().num_threads(opts.jobs).build() {
        Ok(pool) => pool.install(run),
        // No threads to be had: do it on this one rather than fail.
        Err(_) => jobs.iter().map(|job| verify_layer(root, job, opts, progress)).collect(),
    }
}

/// Most findings kept per layer: a directory planted with millions of files must
/// not turn into millions of findings in memory.
pub const MAX_FINDINGS_PER_LAYER: usize = 10_000;

/// Collects one layer's findings, tagging them with the layer and capping them.
pub(crate) struct Reporter {
    layer: ChainId,
    findings: Vec<Finding>,
    dropped: usize,
}

impl Reporter {
    pub(crate) fn new(layer: ChainId) -> Self {
        Self { layer, findings: Vec::new(), dropped: 0 }
    }

    /// Layer-level findings (no path: the DiffID verdict, an unreadable stream)
    /// are few and always kept; per-path ones stop at the cap.
    pub(crate) fn push(&mut self, f: Finding) {
        if f.path.is_none() || self.findings.len() < MAX_FINDINGS_PER_LAYER {
            self.findings.push(f.with_layer(self.layer));
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.dropped > 0 || self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub(crate) fn finish(mut self) -> Vec<Finding> {
        if self.dropped > 0 {
            let f = Finding::warning(
                Code::LimitExceeded,
                format!("{} more findings for this layer were not recorded (limit {MAX_FINDINGS_PER_LAYER})", self.dropped),
            );
            self.findings.push(f.with_layer(self.layer));
        }
        self.findings
    }
}
