//! Reader for `image/<driver>/repositories.json`: tags and digest references.

use super::StoreCtx;
use crate::digest::ImageId;
use crate::finding::{Code, Finding};
use crate::reference::Reference;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One reference from repositories.json, kept both as written and parsed.
#[derive(Debug, Clone)]
pub struct RefRecord {
    /// The familiar string as stored (`alpine:3.19`, `x@sha256:...`).
    pub raw: String,
    /// Parsed and normalised; `None` when Docker would not index it either.
    pub parsed: Option<Reference>,
    /// The image it points to, if the value is a valid image ID.
    pub image: Option<ImageId>,
    /// The value as written, for reporting broken references.
    pub raw_target: String,
}

#[derive(Deserialize)]
struct RawRepositories {
    #[serde(rename = "Repositories", default)]
    repositories: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// Reads `repositories.json`: every reference, resolved or not; a missing file is no references, an
/// unparsable one a finding.
pub fn read_references(ctx: &StoreCtx, findings: &mut Vec<Finding>) -> Vec<RefRecord> {
    let rel = ctx.image_root.join("repositories.json");
    let Some(text) = ctx.read_small_text(&rel, findings) else {
        return Vec::new();
    };
    let records = match parse_repositories(text.as_bytes()) {
        Ok(r) => r,
        Err(e) => {
            findings.push(
                Finding::error(
                    Code::MetadataCorrupt,
                    format!("repositories.json is not valid: {e}"),
                )
                .with_file(&rel),
            );
            return Vec::new();
        }
    };
    for r in &records {
        if r.parsed.is_none() {
            findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    format!(
                        "repositories.json: {:?} is not a valid reference; Docker ignores it",
                        r.raw
                    ),
                )
                .with_file(&rel),
            );
        }
    }
    records
}

/// Parses the bytes of a repositories.json into one record per reference. Keys that
/// are not valid references are kept with `parsed: None`; the caller reports them.
pub fn parse_repositories(bytes: &[u8]) -> Result<Vec<RefRecord>, serde_json::Error> {
    let raw: RawRepositories = serde_json::from_slice(bytes)?;
    let repos = raw.repositories.unwrap_or_default();
    // Sized at once: grown by doubling, 10,000 tags left some megabytes unused (heaptrack).
    let mut out = Vec::with_capacity(repos.values().map(|r| r.len()).sum());
    for (_repo, refs) in repos {
        for (key, value) in refs {
            let parsed = Reference::parse(&key).ok().map(Reference::with_default_tag);
            let image = ImageId::parse(&value).ok();
            out.push(RefRecord { raw: key, parsed, image, raw_target: value });
        }
    }
    Ok(out)
}
