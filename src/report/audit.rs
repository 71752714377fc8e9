//! `strata audit`: one report object for machines (`schema/audit.schema.json`), a
//! summary worst-first for people.

use super::df::write_summary;
use super::listing::{ContainerView, ImageView, LayerView};
use super::{write_json, Format, Layout, Views, SCHEMA_VERSION};
use crate::analysis::df::ContainerSizes;
use crate::analysis::df::DiskUsage;
use crate::audit::crosslinks::CrossLinks;
use crate::audit::{Audit, ContentChecks};
use crate::finding::{terminal_safe, Finding, Severity, SeverityCounts};
use crate::graph::{ContainerNode, EngineGeneration, Graph, ImageNode, LayerNode, StoreKind};
use crate::id::ContainerId;
use crate::store::containerd::locate::LocatedBy;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Which program wrote the report.
#[derive(schemars::JsonSchema, Serialize)]
pub struct ToolInfo {
    /// Always `strata`.
    #[schemars(extend("const" = "strata"))]
    pub name: &'static str,
    /// The crate version.
    pub version: &'static str,
}

/// Counts at the top of an audit report.
#[derive(schemars::JsonSchema, Serialize)]
pub struct Summary {
    /// Findings of severity error.
    pub error: usize,
    /// Findings of severity warning.
    pub warning: usize,
    /// Findings of severity info.
    pub info: usize,
    /// The worst severity found; null when nothing was found.
    pub worst: Option<Severity>,
    /// Images in the store.
    pub images: usize,
    /// Layers in the store.
    pub layers: usize,
    /// Containers on the host.
    pub containers: usize,
}

/// Where the containerd image store was read, for the record.
#[derive(schemars::JsonSchema, Serialize)]
pub struct ContainerdInfo {
    /// The containerd root directory.
    pub root: String,
    /// Which rule found it.
    pub located_by: LocatedBy,
    /// The namespace analysed.
    pub namespace: String,
    /// The snapshotter whose snapshots were read (`overlayfs`, `native`...).
    pub snapshotter: String,
    /// Every namespace in meta.db with its image count.
    pub namespaces: BTreeMap<String, usize>,
}

/// The `strata audit --format json` object.
#[derive(schemars::JsonSchema, Serialize)]
pub struct AuditReport<'a> {
    /// Version of this JSON format ([`super::SCHEMA_VERSION`]).
    #[schemars(extend("const" = "1"))]
    pub schema_version: &'static str,
    /// Which program wrote it.
    pub tool: ToolInfo,
    /// The data-root read.
    pub data_root: String,
    /// The graphdriver store read; empty when none.
    pub driver: String,
    /// Which engine generation wrote the data-root, as far as the disk tells.
    pub engine: EngineGeneration,
    /// Which image store was read.
    pub store: StoreKind,
    /// The containerd image store read, when that is the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containerd: Option<ContainerdInfo>,
    /// RFC 3339, UTC.
    #[schemars(extend("pattern" = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"))]
    pub generated_at: String,
    /// Whether layer content was verified, and for how many layers.
    pub content_checks: &'a ContentChecks,
    /// Finding counts and store sizes.
    pub summary: Summary,
    /// Every image, newest first.
    #[schemars(with = "Vec<ImageView>")]
    pub images: Views<'a, ImageNode, ImageView>,
    /// Every layer, by ChainID.
    #[schemars(with = "Vec<LayerView>")]
    pub layers: Views<'a, LayerNode, LayerView>,
    /// Every container, newest first.
    #[schemars(with = "Vec<ContainerView>")]
    pub containers: Views<'a, ContainerNode, ContainerView>,
    /// How images, layers, driver directories and distribution metadata refer to each other.
    pub cross_links: &'a CrossLinks,
    /// What `strata df` reports, reclaimable leftovers included.
    pub disk_usage: &'a DiskUsage,
    /// Every finding, worst first.
    pub findings: &'a [Finding],
    /// The user namespace the store was written in (userns-remap, rootless): owners
    /// on disk are container ids shifted by it. Absent for an ordinary data-root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns: Option<crate::store::userns::UserNamespace>,
}

impl<'a> AuditReport<'a> {
    /// Assembles the report from the graph and the audit's results; `generated_at` is RFC 3339,
    /// UTC.
    pub fn new(g: &'a Graph, audit: &'a Audit, generated_at: String) -> Self {
        let counts = SeverityCounts::of(&audit.findings);
        // The sizes `df` measured (the same rule as `strata containers`), not measured twice.
        let sizes: BTreeMap<&ContainerId, ContainerSizes> = audit
            .disk_usage
            .containers
            .iter()
            .map(|d| (&d.id, ContainerSizes { rw: d.rw_size, rootfs: d.rootfs_size }))
            .collect();
        Self {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo { name: "strata", version: env!("CARGO_PKG_VERSION") },
            data_root: g.data_root.display().to_string(),
            driver: g.driver_name.clone(),
            engine: g.engine,
            store: g.store,
            containerd: g.containerd.as_ref().map(|c| ContainerdInfo {
                root: c.location.path.display().to_string(),
                located_by: c.location.located_by,
                namespace: c.store.namespace.clone(),
                snapshotter: c.store.snapshotter.clone(),
                namespaces: c.store.namespaces.iter().map(|n| (n.name.clone(), n.images)).collect(),
            }),
            generated_at,
            content_checks: &audit.content,
            summary: Summary {
                error: counts.error,
                warning: counts.warning,
                info: counts.info,
                worst: audit.findings.iter().map(|f| f.severity).max(),
                images: g.images.len(),
                layers: g.layers.len(),
                containers: g.containers.len(),
            },
            images: Views::new(g.images_newest_first(), ImageView::new),
            layers: Views::new(g.layers.values().collect(), LayerView::new),
            containers: Views::new(g.containers_newest_first(), move |c| {
                ContainerView::new(c)
                    .with_sizes(sizes.get(&c.record.id).copied().unwrap_or_default())
            }),
            cross_links: &audit.cross_links,
            disk_usage: &audit.disk_usage,
            findings: &audit.findings,
            userns: audit.userns.clone(),
        }
    }
}

/// `strata audit`: the report as JSON, or a summary and the findings worst first as a table.
pub fn write_audit(
    out: &mut dyn Write,
    report: &AuditReport<'_>,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, report);
    }
    let s = &report.summary;
    match &report.containerd {
        Some(c) => writeln!(
            out,
            "strata audit of {}: containerd image store at {} (namespace {}, snapshotter {})",
            terminal_safe(&report.data_root),
            terminal_safe(&c.root),
            terminal_safe(&c.namespace),
            terminal_safe(&c.snapshotter)
        )?,
        None => writeln!(
            out,
            "strata audit of {} ({} store, {} engine)",
            terminal_safe(&report.data_root),
            if report.driver.is_empty() { "no graphdriver" } else { &report.driver },
            match report.engine {
                EngineGeneration::Legacy => "Docker 20.10 or older",
                EngineGeneration::Modern => "Docker 23 or newer",
            }
        )?,
    }
    writeln!(out, "{} images, {} layers, {} containers", s.images, s.layers, s.containers)?;
    let verdict = match s.worst {
        Some(Severity::Error) => "PROBLEMS FOUND",
        Some(Severity::Warning) => "warnings",
        _ => "clean",
    };
    let counts = SeverityCounts { error: s.error, warning: s.warning, info: s.info };
    writeln!(out, "findings: {}: {verdict}", super::findings::summary_line(&counts))?;
    let c = report.content_checks;
    match (&c.note, c.requested) {
        (Some(note), _) => writeln!(out, "layer content: {note}")?,
        (None, true) => writeln!(out, "layer content: {} layers verified", c.layers_checked)?,
        (None, false) => {}
    }
    if let Some(reg) = &report.cross_links.registry {
        let verified = reg
            .repo_digests
            .iter()
            .filter(|r| r.status == crate::audit::registry::DigestCheckStatus::Verified)
            .count();
        writeln!(
            out,
            "registry {}: {} repositories, {} blobs ({} verified), {}/{} local repo digests verified",
            terminal_safe(&reg.root),
            reg.repositories.len(),
            reg.blobs.count,
            reg.blobs.verified,
            verified,
            reg.repo_digests.len()
        )?;
    }

    if let Some(on) = &report.cross_links.online {
        use crate::audit::online::OnlineStatus;
        let count = |st: OnlineStatus| on.checks.iter().filter(|c| c.status == st).count();
        let hosts: Vec<String> = on.registries.iter().map(|r| terminal_safe(&r.host)).collect();
        writeln!(
            out,
            "online ({}): {}/{} local repo digests verified, {} with a moved tag, {} mismatched, {} gone, {} not checked",
            if hosts.is_empty() { "no registry".to_owned() } else { hosts.join(", ") },
            count(OnlineStatus::Verified),
            on.checks.len(),
            count(OnlineStatus::TagMoved),
            count(OnlineStatus::Mismatch),
            count(OnlineStatus::Gone),
            count(OnlineStatus::Unreachable)
        )?;
        if let Some(n) = &on.note {
            writeln!(out, "online: {}", terminal_safe(n))?;
        }
    }

    if !report.findings.is_empty() {
        writeln!(out)?;
        super::findings::write_findings_table(out, report.findings, layout)?;
    }
    writeln!(out, "\nDisk usage:\n")?;
    write_summary(out, report.disk_usage, layout)
}
