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
mod prefetch;
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
    /// What the findings say and how many are kept.
    pub findings: FindingOptions,
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

/// Most findings kept per layer by default: a directory planted with millions of
/// files must not turn into millions of findings in memory.
pub const MAX_FINDINGS_PER_LAYER: usize = 10_000;

/// Fewest entries drifting the same way before they are summarised: one or two
/// are as short listed as summarised.
pub const SUMMARY_MIN_ENTRIES: usize = 3;

/// How many example paths a summary finding names.
const SUMMARY_EXAMPLES: usize = 3;

/// What the per-layer findings say, and how many of them are kept.
#[derive(Debug, Clone, Copy)]
pub struct FindingOptions {
    /// Most per-path findings kept for one layer. Past it, a lower-severity finding
    /// makes way for a higher one; what is dropped is counted in one summary finding
    /// that carries the worst severity dropped.
    pub max_per_layer: usize,
    /// List every metadata drift one by one, even when most entries of a layer drift
    /// the same way (by default those become one summary finding per layer).
    pub all_findings: bool,
    /// Do not compare modification times (a copy that did not preserve them).
    pub ignore_times: bool,
    /// Do not compare owners (a copy made by another user, or with ids not kept).
    pub ignore_owners: bool,
}

impl Default for FindingOptions {
    fn default() -> Self {
        Self {
            max_per_layer: MAX_FINDINGS_PER_LAYER,
            all_findings: false,
            ignore_times: false,
            ignore_owners: false,
        }
    }
}

/// One way an entry's metadata can drift from its tar header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Drift {
    /// Permission bits.
    Mode,
    /// uid and gid.
    Owner,
    /// Extended attributes.
    Xattrs,
    /// Modification time.
    Times,
    /// A hard link no longer shared.
    HardLink,
    /// A symlink's target: never summarised, a changed target is no copying artefact.
    LinkTarget,
}

impl Drift {
    const ALL: [Drift; 6] = [
        Drift::Mode,
        Drift::Owner,
        Drift::Xattrs,
        Drift::Times,
        Drift::HardLink,
        Drift::LinkTarget,
    ];

    fn what(self) -> &'static str {
        match self {
            Drift::Mode => "permission bits differ",
            Drift::Owner => "owner differs",
            Drift::Xattrs => "extended attributes differ",
            Drift::Times => "modification time differs",
            Drift::HardLink => "hard link no longer shared",
            Drift::LinkTarget => "symlink target differs",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Drift::Times => {
                ", as after a copy that did not keep times (cp -r); --ignore-times skips the check"
            }
            Drift::Owner => {
                ", as after a copy that did not keep owners; --ignore-owners skips the check"
            }
            Drift::HardLink => ", as after a copy that did not keep hard links (cp -r)",
            _ => "",
        }
    }
}

/// One entry's metadata drift, held until the layer is done: only then is it known
/// whether most entries drift the same way.
struct DriftRecord {
    seq: usize,
    path: Vec<u8>,
    severity: Severity,
    /// "differs from the layer tar: " before the parts (mode, owner, xattrs).
    prefixed: bool,
    parts: Vec<(Drift, String)>,
}

/// Per-aspect tallies of drift.
#[derive(Default, Clone)]
struct DriftTally {
    /// Entries this aspect was compared on.
    compared: usize,
    /// Entries it differed on (records kept or not).
    drifted: usize,
    /// Drift past the record limit, by severity: dropped unless summarised.
    overflow: [usize; 3],
    worst: Option<Severity>,
    examples: Vec<Vec<u8>>,
}

fn rank(s: Severity) -> usize {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    }
}

/// Collects one layer's findings, tagging them with the layer and capping them.
///
/// The cap never drops a finding in favour of a less severe one: when full, a new
/// finding evicts the latest of the least severe kept ones if it is worse, and is
/// dropped otherwise. Metadata drift is held back until the end of the layer, then
/// either listed or summarised per aspect (see [`FindingOptions::all_findings`]).
pub(crate) struct Reporter {
    layer: ChainId,
    opts: FindingOptions,
    seq: usize,
    /// Layer-level findings (no path), always kept.
    general: Vec<(usize, Finding)>,
    /// Per-path findings kept, by severity rank.
    kept: [Vec<(usize, Finding)>; 3],
    /// Per-path findings dropped at the cap, by severity rank.
    dropped: [usize; 3],
    drift: Vec<DriftRecord>,
    tally: [DriftTally; 6],
}

impl Reporter {
    pub(crate) fn new(layer: ChainId, opts: FindingOptions) -> Self {
        Self {
            layer,
            opts,
            seq: 0,
            general: Vec::new(),
            kept: Default::default(),
            dropped: [0; 3],
            drift: Vec::new(),
            tally: Default::default(),
        }
    }

    pub(crate) fn options(&self) -> FindingOptions {
        self.opts
    }

    fn next_seq(&mut self) -> usize {
        self.seq += 1;
        self.seq
    }

    /// Layer-level findings (no path: the DiffID verdict, an unreadable stream)
    /// are few and always kept; per-path ones are capped.
    pub(crate) fn push(&mut self, f: Finding) {
        let seq = self.next_seq();
        self.keep(seq, f);
    }

    fn keep(&mut self, seq: usize, f: Finding) {
        let f = f.with_layer(self.layer);
        if f.path.is_none() {
            self.general.push((seq, f));
            return;
        }
        let r = rank(f.severity);
        let held: usize = self.kept.iter().map(Vec::len).sum();
        if held < self.opts.max_per_layer {
            self.kept[r].push((seq, f));
            return;
        }
        // Full: the least severe kept finding makes way for a worse one.
        match (0..r).find(|&low| !self.kept[low].is_empty()) {
            Some(low) => {
                self.kept[low].pop();
                self.dropped[low] += 1;
                self.kept[r].push((seq, f));
            }
            None => self.dropped[r] += 1,
        }
    }

    /// Counts one entry on which `aspect` was compared.
    pub(crate) fn compared(&mut self, aspect: Drift) {
        self.tally[aspect as usize].compared += 1;
    }

    /// Records metadata drift of the entry at `path`: one finding, unless most
    /// entries drift the same way (decided in [`Reporter::finish`]).
    pub(crate) fn drift(
        &mut self,
        path: &[u8],
        severity: Severity,
        prefixed: bool,
        parts: Vec<(Drift, String)>,
    ) {
        let seq = self.next_seq();
        let room = self.drift.len() < self.opts.max_per_layer;
        for (aspect, _) in &parts {
            let t = &mut self.tally[*aspect as usize];
            t.drifted += 1;
            t.worst = t.worst.max(Some(severity));
            if t.examples.len() < SUMMARY_EXAMPLES {
                t.examples.push(path.to_vec());
            }
            if !room {
                t.overflow[rank(severity)] += 1;
            }
        }
        if room {
            self.drift.push(DriftRecord { seq, path: path.to_vec(), severity, prefixed, parts });
        }
    }

    /// Whether most entries drift this way, enough to be one finding.
    fn summarised(&self, aspect: Drift) -> bool {
        let t = &self.tally[aspect as usize];
        !self.opts.all_findings
            && aspect != Drift::LinkTarget
            && t.drifted >= SUMMARY_MIN_ENTRIES
            && t.drifted * 2 > t.compared
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.dropped[rank(Severity::Error)] > 0
            || !self.kept[rank(Severity::Error)].is_empty()
            || self.general.iter().any(|(_, f)| f.severity == Severity::Error)
    }

    pub(crate) fn finish(mut self) -> Vec<Finding> {
        let summarised: Vec<Drift> =
            Drift::ALL.into_iter().filter(|a| self.summarised(*a)).collect();
        for aspect in &summarised {
            let t = &self.tally[*aspect as usize];
            let examples: Vec<String> =
                t.examples.iter().map(|p| crate::finding::display_bytes(p)).collect();
            let f = Finding::new(
                Code::LayerMetadataModified,
                t.worst.unwrap_or(Severity::Warning),
                format!(
                        "{} from the layer tar on {} of {} entries (e.g. {}){}; not listed one by one (--all-findings lists them)",
                        aspect.what(),
                        t.drifted,
                        t.compared,
                        examples.join(", "),
                    aspect.hint()
                ),
            );
            self.general.push((0, f.with_layer(self.layer)));
        }
        for aspect in Drift::ALL.into_iter().filter(|a| !summarised.contains(a)) {
            let overflow = self.tally[aspect as usize].overflow;
            for (d, o) in self.dropped.iter_mut().zip(overflow) {
                *d += o;
            }
        }
        for rec in std::mem::take(&mut self.drift) {
            let parts: Vec<String> = rec
                .parts
                .into_iter()
                .filter(|(a, _)| !summarised.contains(a))
                .map(|(_, m)| m)
                .collect();
            if parts.is_empty() {
                continue;
            }
            let msg = if rec.prefixed {
                format!("differs from the layer tar: {}", parts.join("; "))
            } else {
                parts.join("; ")
            };
            let f = Finding::new(Code::LayerMetadataModified, rec.severity, msg);
            self.keep(rec.seq, f.with_path(&rec.path));
        }
        let dropped: usize = self.dropped.iter().sum();
        if dropped > 0 {
            // The worst severity dropped, so the exit status still counts it.
            let worst = [Severity::Error, Severity::Warning, Severity::Info]
                .into_iter()
                .find(|s| self.dropped[rank(*s)] > 0)
                .unwrap_or(Severity::Warning);
            let [info, warning, error] = self.dropped;
            let f = Finding::new(
                Code::LimitExceeded,
                worst,
                format!(
                    "{dropped} more findings for this layer were not recorded (limit {}, --max-findings-per-layer): {error} errors, {warning} warnings, {info} info",
                    self.opts.max_per_layer
                ),
            );
            self.general.push((usize::MAX, f.with_layer(self.layer)));
        }
        let mut all: Vec<(usize, Finding)> = self.general;
        for k in self.kept {
            all.extend(k);
        }
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, f)| f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> ChainId {
        ChainId(crate::digest::Digest::from_bytes([7; 32]))
    }

    #[test]
    fn the_cap_evicts_warnings_for_errors_and_counts_the_worst_dropped() {
        let opts = FindingOptions { max_per_layer: 2, ..Default::default() };
        let mut r = Reporter::new(layer(), opts);
        for p in [&b"a"[..], b"b", b"c"] {
            r.push(Finding::warning(Code::StoreUnreadable, "w").with_path(p));
        }
        r.push(Finding::error(Code::LayerFileAdded, "e").with_path(b"planted"));
        assert!(r.has_errors());
        let f = r.finish();
        let paths: Vec<_> = f.iter().map(|f| f.path.as_deref()).collect();
        assert_eq!(paths, [Some("a"), Some("planted"), None]);
        assert_eq!(f[2].code, Code::LimitExceeded);
        assert_eq!(f[2].severity, Severity::Warning);
        assert!(f[2].message.starts_with("2 more findings"), "{}", f[2].message);

        let mut r = Reporter::new(layer(), opts);
        for p in [&b"a"[..], b"b", b"c"] {
            r.push(Finding::error(Code::LayerFileAdded, "e").with_path(p));
        }
        r.push(Finding::warning(Code::StoreUnreadable, "w").with_path(b"d"));
        let f = r.finish();
        assert_eq!(f.last().unwrap().severity, Severity::Error, "{f:#?}");
    }

    #[test]
    fn drift_of_most_entries_is_one_finding_unless_all_are_asked_for() {
        for all_findings in [false, true] {
            let opts = FindingOptions { all_findings, ..Default::default() };
            let mut r = Reporter::new(layer(), opts);
            for i in 0..20u8 {
                r.compared(Drift::Times);
                r.compared(Drift::Mode);
                let p = [b'f', b'0' + i];
                r.drift(&p, Severity::Warning, false, vec![(Drift::Times, "t".into())]);
                if i == 3 {
                    r.drift(&p, Severity::Warning, true, vec![(Drift::Mode, "mode".into())]);
                }
            }
            let f = r.finish();
            if all_findings {
                assert_eq!(f.len(), 21);
            } else {
                assert_eq!(f.len(), 2, "{f:#?}");
                assert!(f[0].path.is_none() && f[0].message.contains("on 20 of 20 entries"));
                assert_eq!(f[1].message, "differs from the layer tar: mode");
            }
        }
    }
}
