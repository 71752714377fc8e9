//! `--format ndjson` for `audit` and `verify`: one finding per line, then a summary
//! line, each carrying the host, the data-root, the scan time and the schema version,
//! so that a fleet's log pipeline (Fluent Bit, Vector, Elasticsearch, Loki) can ship
//! them as they are. Described by `schema/ndjson.schema.json`.

use super::SCHEMA_VERSION;
use crate::analysis::host::HostId;
use crate::finding::{Finding, Severity, SeverityCounts};
use serde::Serialize;
use std::io::{self, Write};

/// What every line says about the scan it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    /// `audit` or `verify`.
    pub command: &'static str,
    /// The host scanned (engine-id, and hostname where known).
    pub host: HostId,
    /// The data-root read, as given.
    pub data_root: String,
    /// When the scan ran: RFC 3339, UTC, to the second.
    pub scan_time: String,
    /// The strata version that scanned.
    pub strata_version: &'static str,
}

/// The counts on the last line.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Findings written.
    pub findings: usize,
    /// Of which errors.
    pub error: usize,
    /// Of which warnings.
    pub warning: usize,
    /// Of which informational.
    pub info: usize,
    /// The worst severity found; null when nothing was found.
    pub worst: Option<Severity>,
    /// Images, layers (and for `audit`, containers) looked at.
    pub images: usize,
    /// Layers looked at.
    pub layers: usize,
    /// Containers looked at (`audit` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<usize>,
}

impl Totals {
    /// Counts `findings` by severity beside the object counts.
    pub fn new(
        findings: &[Finding],
        images: usize,
        layers: usize,
        containers: Option<usize>,
    ) -> Self {
        let c = SeverityCounts::of(findings);
        Self {
            findings: findings.len(),
            error: c.error,
            warning: c.warning,
            info: c.info,
            worst: findings.iter().map(|f| f.severity).max(),
            images,
            layers,
            containers,
        }
    }
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    schema_version: &'static str,
    /// `finding` or `summary`.
    record: &'static str,
    #[serde(flatten)]
    scan: &'a Scan,
    #[serde(flatten)]
    body: T,
}

/// Writes one line per finding (the finding's fields at the top level beside the
/// scan's) and the summary line last; each line is flushed as it is written.
pub fn write_ndjson(
    out: &mut dyn Write,
    scan: &Scan,
    findings: &[Finding],
    totals: &Totals,
) -> io::Result<()> {
    for f in findings {
        write_line(
            out,
            &Line { schema_version: SCHEMA_VERSION, record: "finding", scan, body: f },
        )?;
    }
    write_line(out, &Line { schema_version: SCHEMA_VERSION, record: "summary", scan, body: totals })
}

fn write_line<T: Serialize>(out: &mut dyn Write, line: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(io::Error::other)?;
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Code;

    #[test]
    fn one_line_per_finding_then_the_summary() {
        let scan = Scan {
            command: "audit",
            host: HostId { engine_id: Some("e".into()), hostname: None },
            data_root: "/var/lib/docker".into(),
            scan_time: "2026-11-30T23:00:00Z".into(),
            strata_version: "0",
        };
        let findings = vec![Finding::warning(Code::ImageDangling, "a\nb")];
        let mut out = Vec::new();
        write_ndjson(&mut out, &scan, &findings, &Totals::new(&findings, 1, 2, Some(3))).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["record"], "finding");
        assert_eq!(lines[0]["message"], "a\nb");
        assert_eq!(lines[0]["host"]["engine_id"], "e");
        assert_eq!(lines[1]["record"], "summary");
        assert_eq!(lines[1]["worst"], "warning");
        assert_eq!(lines[1]["containers"], 3);
    }
}
