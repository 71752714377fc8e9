//! Reader for `image/<driver>/distribution`: what registry blobs each layer is known by.

use super::{read_error_finding, StoreCtx};
use crate::digest::{DiffId, Digest};
use crate::finding::{Code, Finding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `v2metadata-by-diffid` entry: a compressed blob of this layer seen in a repository.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Metadata {
    /// The compressed blob's digest, as the registry knows it.
    #[serde(rename = "Digest")]
    pub digest: Digest,
    /// The repository it was pulled from or pushed to (`docker.io/library/alpine`).
    #[serde(rename = "SourceRepository")]
    pub source_repository: String,
    /// Empty for pulls; for pushes, an HMAC of digest + repository keyed by the credentials.
    #[serde(rename = "HMAC", default)]
    pub hmac: String,
}

/// `image/<driver>/distribution`: the maps between local layers and registry blobs.
#[derive(Debug, Clone, Default)]
pub struct Distribution {
    /// Compressed blob digest -> DiffID.
    pub diffid_by_digest: BTreeMap<Digest, DiffId>,
    /// DiffID -> blobs it was pulled as or pushed as.
    pub v2metadata_by_diffid: BTreeMap<DiffId, Vec<V2Metadata>>,
}

/// Reads both maps; a bad entry is a finding and is skipped.
pub fn read_distribution(ctx: &StoreCtx, findings: &mut Vec<Finding>) -> Distribution {
    let mut d = Distribution::default();
    let base = ctx.image_root.join("distribution");
    for (ns, is_diffid_map) in [("diffid-by-digest", true), ("v2metadata-by-diffid", false)] {
        let dir = base.join(ns).join("sha256");
        for entry in ctx.list_dir_or_finding(&dir, findings).unwrap_or_default() {
            let Some(name) = entry.name.to_str() else { continue };
            let Ok(key) = Digest::from_hex(name) else { continue };
            let rel = dir.join(name);
            let bytes = match ctx.root.read_file(&rel, ctx.limits.max_metadata_bytes) {
                Ok(b) => b,
                Err(e) => {
                    findings.push(read_error_finding(&e, &rel, ctx.root.path()));
                    continue;
                }
            };
            let parsed = if is_diffid_map {
                std::str::from_utf8(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|s| DiffId::parse(s).map_err(|e| e.to_string()))
                    .map(|id| {
                        d.diffid_by_digest.insert(key, id);
                    })
            } else {
                serde_json::from_slice::<Vec<V2Metadata>>(&bytes).map_err(|e| e.to_string()).map(
                    |v| {
                        d.v2metadata_by_diffid.insert(DiffId(key), v);
                    },
                )
            };
            if let Err(msg) = parsed {
                findings.push(
                    Finding::error(
                        Code::MetadataCorrupt,
                        format!("{ns} entry {}: {msg}", key.short()),
                    )
                    .with_file(&rel),
                );
            }
        }
    }
    d
}
