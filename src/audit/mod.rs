//! `strata audit`: everything strata can say about a host in one pass.
//!
//! It gathers the graph's read findings, the consistency checks ([`checks`]), the
//! distribution cross-links ([`crosslinks`]), the optional offline registry
//! cross-check ([`registry`]), layer content verification, and the disk-usage
//! account ([`crate::analysis::df`]), and returns them as one model for the renderers. One
//! bad file is one finding; nothing here stops the scan.

pub mod checks;
pub mod containerd;
pub mod crosslinks;
pub mod online;
pub mod recheck;
pub mod registry;

use crate::analysis::df::{disk_usage, DiskUsage};
use crate::digest::ChainId;
use crate::finding::{Finding, Severity};
use crate::fsread::{Limits, SafeDir};
use crate::graph::Graph;
use crate::verify::{Progress, VerifyOptions};
use crosslinks::CrossLinks;
use serde::Serialize;
use std::collections::BTreeSet;

/// How to audit.
#[derive(Clone, Copy, Default)]
pub struct AuditOptions<'a> {
    /// Skip layer content checks (no hashing of layer files).
    pub metadata_only: bool,
    /// Layers hashed at once; 0 means one per core.
    pub jobs: usize,
    /// How much each reader may load.
    pub limits: Limits,
    /// Told of bytes hashed, for a progress bar.
    pub progress: Option<Progress<'a>>,
    /// What the layer content findings say and how many are kept.
    pub findings: crate::verify::FindingOptions,
}

/// What the content checks did.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ContentChecks {
    /// Content checks were asked for (not `--metadata-only`).
    pub requested: bool,
    /// Layers whose content was verified.
    pub layers_checked: usize,
    /// Why fewer layers than present were checked, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The audit's model; renderers add the tool and graph views around it.
#[derive(Debug, Clone)]
pub struct Audit {
    /// Every finding (read, consistency, content, registry), worst first.
    pub findings: Vec<Finding>,
    /// How images and layers map to registry manifests and blobs.
    pub cross_links: CrossLinks,
    /// The `strata df` account, orphans included.
    pub disk_usage: DiskUsage,
    /// Whether layer content was verified, and for how many layers.
    pub content: ContentChecks,
    /// The user namespace owners were compared through (a rootless range inferred
    /// from the layers when the content was verified), when the store has one.
    pub userns: Option<crate::store::userns::UserNamespace>,
}

/// The exit-status threshold of `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Fail (exit status `FINDINGS`) when there is an error finding.
    Error,
    /// Fail on a warning or an error finding.
    Warning,
    /// Never fail because of findings.
    Never,
}

impl FailOn {
    /// Whether `findings` hold anything at or above the threshold.
    pub fn tripped(self, findings: &[Finding]) -> bool {
        let min = match self {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Never => return false,
        };
        findings.iter().any(|f| f.severity >= min)
    }
}

/// Runs the whole audit. `registry` is an opened `--registry-root`.
pub fn run(
    g: &Graph,
    root: &SafeDir,
    registry: Option<&SafeDir>,
    opts: &AuditOptions<'_>,
) -> Audit {
    // What `df` reports reads the RW layers, leftovers, volumes and logs from disk and
    // needs nothing the checks find: it is measured while the checks run.
    let ((mut findings, cross_links), (disk_usage, du_findings)) = crate::store::together(
        || {
            let mut findings = g.findings.clone();
            findings.extend(crate::verify::identity::check_identities(g).1);
            match &g.containerd {
                Some(ctd) => containerd::run_all(g, ctd, &mut findings),
                None => checks::run_all(g, root, &mut findings),
            }
            let mut cross_links = crosslinks::cross_links(g, &mut findings);
            if let Some(reg) = registry {
                cross_links.registry =
                    Some(registry::check_registry(g, reg, &opts.limits, &mut findings));
            }
            (findings, cross_links)
        },
        || disk_usage(g, root),
    );
    let mut userns = g.userns.clone();
    let content = content_checks(g, root, opts, &mut findings, &mut userns);
    if g.containerd.is_some() {
        checks::dangling(g, &mut findings);
    }
    findings.extend(du_findings);
    Finding::sort_worst_first(&mut findings);
    findings.dedup();
    Audit { findings, cross_links, disk_usage, content, userns }
}

/// Layer content verification over every layer whose driver directory is there (a
/// missing one is already a `layer-content-missing` finding from the checks).
fn content_checks(
    g: &Graph,
    root: &SafeDir,
    opts: &AuditOptions,
    out: &mut Vec<Finding>,
    userns: &mut Option<crate::store::userns::UserNamespace>,
) -> ContentChecks {
    if opts.metadata_only {
        return ContentChecks {
            requested: false,
            layers_checked: 0,
            note: Some("--metadata-only: layer content not hashed".into()),
        };
    }
    let layers: BTreeSet<ChainId> =
        g.layers.values().filter(|l| l.driver_dir_present).map(|l| l.chain_id()).collect();
    let vopts = VerifyOptions {
        quick: false,
        jobs: opts.jobs,
        limits: opts.limits,
        findings: opts.findings,
        ..VerifyOptions::default()
    };
    let (results, ns) =
        crate::verify::run::verify_content_in_userns(root, g, &layers, &vopts, opts.progress);
    *userns = ns;
    for r in &results {
        out.extend(r.findings.iter().cloned());
    }
    if let Some(ctd) = &g.containerd {
        out.extend(
            crate::verify::content::check_blobs(ctd, &crate::verify::run::layer_blobs(g, &results))
                .1,
        );
    }
    let skipped = g.layers.len() - layers.len();
    ContentChecks {
        requested: true,
        layers_checked: results.len(),
        note: (skipped > 0)
            .then(|| format!("{skipped} layers have no driver directory and were not hashed")),
    }
}
