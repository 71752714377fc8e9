//! `strata verify` output: per-layer and per-image verdicts, then findings.

use super::findings::{summary_line, write_findings_table};
use super::{human_size, new_table, write_json, write_table, Format, Layout, SCHEMA_VERSION};
use crate::digest::{ChainId, DiffId, ImageId};
use crate::finding::{Finding, SeverityCounts};
use crate::graph::Graph;
use crate::verify::run::VerifyReport;
use crate::verify::VerifyStatus;
use serde::Serialize;
use std::io::{self, Write};

#[derive(schemars::JsonSchema, Serialize)]
struct LayerLine {
    chain_id: ChainId,
    diff_id: DiffId,
    computed_diff_id: Option<DiffId>,
    status: VerifyStatus,
    bytes: u64,
}

#[derive(schemars::JsonSchema, Serialize)]
struct ImageLine {
    id: ImageId,
    status: VerifyStatus,
}

#[derive(schemars::JsonSchema, Serialize)]
struct VerifyJson<'a> {
    schema_version: &'static str,
    summary: SeverityCounts,
    layers: Vec<LayerLine>,
    images: Vec<ImageLine>,
    findings: &'a [Finding],
    /// The user namespace owners on disk were compared through (userns-remap,
    /// rootless); absent for an ordinary data-root.
    #[serde(skip_serializing_if = "Option::is_none")]
    userns: Option<&'a crate::store::userns::UserNamespace>,
}

fn status_word(s: VerifyStatus) -> &'static str {
    match s {
        VerifyStatus::Verified => "verified",
        VerifyStatus::Checked => "checked",
        VerifyStatus::Mismatch => "MISMATCH",
        VerifyStatus::Unverifiable => "unverifiable",
    }
}

/// `strata verify`: one line per layer with its status, then the findings worst first; or all of it
/// as JSON.
pub fn write_verify(
    out: &mut dyn Write,
    g: &Graph,
    r: &VerifyReport,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    let summary = SeverityCounts::of(&r.findings);
    if format == Format::Json {
        let v = VerifyJson {
            schema_version: SCHEMA_VERSION,
            summary,
            layers: r
                .layers
                .iter()
                .map(|l| LayerLine {
                    chain_id: l.chain_id,
                    diff_id: l.diff_id,
                    computed_diff_id: l.computed_diff_id,
                    status: l.status,
                    bytes: l.bytes,
                })
                .collect(),
            images: r.images.iter().map(|i| ImageLine { id: i.id, status: i.status }).collect(),
            findings: &r.findings,
            userns: r.userns.as_ref(),
        };
        return write_json(out, &v);
    }
    let mut t = new_table(&["LAYER", "STATUS", "DIFF ID", "BYTES", "IMAGES"]);
    for l in &r.layers {
        let users = g.layers.get(&l.chain_id).map_or(0, |n| n.images.len());
        t.add_row(vec![
            l.chain_id.short(),
            status_word(l.status).to_owned(),
            l.diff_id.short(),
            human_size(l.bytes as i64),
            users.to_string(),
        ]);
    }
    write_table(out, t, layout)?;
    if !r.images.is_empty() {
        writeln!(out)?;
        let mut t = new_table(&["IMAGE", "STATUS", "TAGS"]);
        for i in &r.images {
            let tags = g.images.get(&i.id).map(|n| n.repo_tags.join(", ")).unwrap_or_default();
            t.add_row(vec![
                i.id.short(),
                status_word(i.status).to_owned(),
                crate::finding::terminal_safe(if tags.is_empty() { "<none>" } else { &tags }),
            ]);
        }
        write_table(out, t, layout)?;
    }
    if !r.findings.is_empty() {
        writeln!(out)?;
        write_findings_table(out, &r.findings, layout)?;
    }
    let count = |s: VerifyStatus| r.layers.iter().filter(|l| l.status == s).count();
    writeln!(
        out,
        "\n{} layers: {} verified, {} checked, {} mismatch, {} unverifiable; {} images; {}",
        r.layers.len(),
        count(VerifyStatus::Verified),
        count(VerifyStatus::Checked),
        count(VerifyStatus::Mismatch),
        count(VerifyStatus::Unverifiable),
        r.images.len(),
        summary_line(&summary)
    )
}
