//! `strata registry-check`: each local repo digest against its live registry, as a
//! table or JSON. (`strata audit --online` carries the same report in its
//! `cross_links.online` and its findings.)

use super::audit::ToolInfo;
use super::findings::{summary_line, write_findings_table};
use super::{new_table, write_json, write_table, Format, Layout};
use crate::audit::online::{OnlineReport, OnlineStatus};
use crate::finding::{terminal_safe, Finding, SeverityCounts};
use serde::Serialize;
use std::io::{self, Write};

/// The JSON document `strata registry-check --format json` writes.
#[derive(schemars::JsonSchema, Serialize)]
pub struct RegistryCheckJson<'a> {
    /// Version of this JSON format ([`super::SCHEMA_VERSION`]).
    #[schemars(extend("const" = "1"))]
    pub schema_version: &'static str,
    /// Which program wrote it.
    pub tool: ToolInfo,
    /// RFC 3339, UTC.
    pub generated_at: String,
    /// Findings by severity.
    pub summary: SeverityCounts,
    /// What was asked and answered.
    pub online: &'a OnlineReport,
    /// Every finding, worst first.
    pub findings: &'a [Finding],
}

fn status_word(s: OnlineStatus) -> &'static str {
    match s {
        OnlineStatus::Verified => "verified",
        OnlineStatus::TagMoved => "tag moved",
        OnlineStatus::Mismatch => "MISMATCH",
        OnlineStatus::Gone => "gone",
        OnlineStatus::Unreachable => "not checked",
    }
}

/// Writes the report (table: one row per repo digest, then the findings).
pub fn write_registry_check(
    out: &mut dyn Write,
    report: &OnlineReport,
    findings: &[Finding],
    generated_at: String,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format != Format::Table {
        let doc = RegistryCheckJson {
            schema_version: super::SCHEMA_VERSION,
            tool: ToolInfo { name: "strata", version: env!("CARGO_PKG_VERSION") },
            generated_at,
            summary: SeverityCounts::of(findings),
            online: report,
            findings,
        };
        return write_json(out, &doc);
    }
    let mut t = new_table(&["REFERENCE", "IMAGE", "TAGS", "STATUS", "LAYERS"]);
    for c in &report.checks {
        let tags: Vec<String> = c
            .tags
            .iter()
            .map(|t| match (&t.remote, t.moved) {
                (_, false) => t.tag.clone(),
                (Some(r), true) => format!("{} -> {}", t.tag, r.short()),
                (None, true) => format!("{} (gone)", t.tag),
            })
            .collect();
        t.add_row(vec![
            terminal_safe(&c.reference),
            c.image.short(),
            terminal_safe(&tags.join(", ")),
            status_word(c.status).into(),
            c.layers_present.to_string(),
        ]);
    }
    write_table(out, t, layout)?;
    for r in &report.registries {
        writeln!(
            out,
            "registry {} ({}): {}{}, {} requests{}",
            terminal_safe(&r.host),
            terminal_safe(&r.url),
            r.auth,
            if r.credentials { " with configured credentials" } else { "" },
            r.requests,
            r.unreachable
                .as_ref()
                .map(|u| format!("; not reached: {}", terminal_safe(u)))
                .unwrap_or_default()
        )?;
    }
    if let Some(n) = &report.note {
        writeln!(out, "note: {}", terminal_safe(n))?;
    }
    writeln!(out)?;
    write_findings_table(out, findings, layout)?;
    writeln!(out, "{}", summary_line(&SeverityCounts::of(findings)))
}
