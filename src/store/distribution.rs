//! Reader for `image/<driver>/distribution`: what registry blobs each layer is known by.

use super::{read_error_finding, StoreCtx};
use crate::digest::{DiffId, Digest};
use crate::finding::{Code, Finding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

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
///
/// The entries of each map are read on the reader pool (`store::par_read`): a host that
/// pulled its images has two files here per layer, tens of thousands on a big host.
pub fn read_distribution(ctx: &StoreCtx, findings: &mut Vec<Finding>) -> Distribution {
    let mut d = Distribution::default();
    let base = ctx.image_root.join("distribution");
    let (entries, found) = read_map(ctx, &base, "diffid-by-digest", findings, |text| {
        std::str::from_utf8(text)
            .map_err(|e| e.to_string())
            .and_then(|s| DiffId::parse(s).map_err(|e| e.to_string()))
    });
    d.diffid_by_digest.extend(entries);
    findings.extend(found);
    let (entries, found) = read_map(ctx, &base, "v2metadata-by-diffid", findings, |text| {
        serde_json::from_slice::<Vec<V2Metadata>>(text).map_err(|e| e.to_string())
    });
    d.v2metadata_by_diffid.extend(entries.into_iter().map(|(k, v)| (DiffId(k), v)));
    findings.extend(found);
    d
}

/// Every `<hex>` file of the map `base/ns/sha256`, parsed by `parse`, in the listing's order;
/// an unreadable or unparsable one is a finding (a listing failure goes to `findings` first).
fn read_map<T: Send>(
    ctx: &StoreCtx,
    base: &Path,
    ns: &str,
    findings: &mut Vec<Finding>,
    parse: impl Fn(&[u8]) -> Result<T, String> + Sync + Send,
) -> (Vec<(Digest, T)>, Vec<Finding>) {
    let dir = &base.join(ns).join("sha256");
    let names: Vec<(Digest, String)> = ctx
        .list_dir_or_finding(dir, findings)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let name = e.name.to_str()?;
            Some((Digest::from_hex(name).ok()?, name.to_owned()))
        })
        .collect();
    super::par_read(names, |(key, name), found| {
        let rel = dir.join(name);
        let bytes = match ctx.root.read_file(&rel, ctx.limits.max_metadata_bytes) {
            Ok(b) => b,
            Err(e) => {
                found.push(read_error_finding(&e, &rel, ctx.root.path()));
                return None;
            }
        };
        match parse(&bytes) {
            Ok(v) => Some((key, v)),
            Err(msg) => {
                found.push(
                    Finding::error(
                        Code::MetadataCorrupt,
                        format!("{ns} entry {}: {msg}", key.short()),
                    )
                    .with_file(&rel),
                );
                None
            }
        }
    })
}
