//! `strata audit`: one report object for machines (`schema/audit.schema.json`), a
//! summary worst-first for people.

use super::df::write_summary;
use super::listing::{ContainerView, ImageView, LayerView};
use super::{write_json, Format, Layout, SCHEMA_VERSION};
use crate::analysis::df::DiskUsage;
use crate::audit::crosslinks::CrossLinks;
use crate::audit::{Audit, ContentChecks};
use crate::finding::{terminal_safe, Finding, Severity, SeverityCounts};
use crate::graph::{EngineGeneration, Graph};
use serde::Serialize;
use std::io::{self, Write};

#[derive(Serialize)]
pub struct ToolInfo {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Serialize)]
pub struct Summary {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
    /// The worst severity found; null when nothing was found.
    pub worst: Option<Severity>,
    pub images: usize,
    pub layers: usize,
    pub containers: usize,
}

/// The `strata audit --format json` object.
#[derive(Serialize)]
pub struct AuditReport<'a> {
    pub schema_version: &'static str,
    pub tool: ToolInfo,
    pub data_root: String,
    /// The graphdriver store read; empty when none.
    pub driver: String,
    pub engine: EngineGeneration,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub content_checks: &'a ContentChecks,
    pub summary: Summary,
    pub images: Vec<ImageView>,
    pub layers: Vec<LayerView>,
    pub containers: Vec<ContainerView>,
    pub cross_links: &'a CrossLinks,
    pub disk_usage: &'a DiskUsage,
    pub findings: &'a [Finding],
}

impl<'a> AuditReport<'a> {
    pub fn new(g: &Graph, audit: &'a Audit, generated_at: String) -> Self {
        let counts = SeverityCounts::of(&audit.findings);
        let mut containers: Vec<_> = g.containers.values().collect();
        containers.sort_by(|a, b| b.record.created.cmp(&a.record.created).then_with(|| a.record.id.cmp(&b.record.id)));
        Self {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo { name: "strata", version: env!("CARGO_PKG_VERSION") },
            data_root: g.data_root.display().to_string(),
            driver: g.driver_name.clone(),
            engine: g.engine,
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
            images: g.images_newest_first().into_iter().map(ImageView::new).collect(),
            layers: g.layers.values().map(LayerView::new).collect(),
            containers: containers.into_iter().map(ContainerView::new).collect(),
            cross_links: &audit.cross_links,
            disk_usage: &audit.disk_usage,
            findings: &audit.findings,
        }
    }
}

pub fn write_audit(out: &mut dyn Write, report: &AuditReport<'_>, format: Format, layout: Layout) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, report);
    }
    let s = &report.summary;
    writeln!(
        out,
        "strata audit of {} ({} store, {} engine)",
        terminal_safe(&report.data_root),
        if report.driver.is_empty() { "no graphdriver" } else { &report.driver },
        match report.engine {
            EngineGeneration::Legacy => "Docker 20.10 or older",
            EngineGeneration::Modern => "Docker 23 or newer",
        }
    )?;
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
        let verified = reg.repo_digests.iter().filter(|r| r.status == crate::audit::registry::DigestCheckStatus::Verified).count();
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

    if !report.findings.is_empty() {
        writeln!(out)?;
        super::findings::write_findings_table(out, report.findings, layout)?;
    }
    writeln!(out, "\nDisk usage:\n")?;
    write_summary(out, report.disk_usage, layout)
}
