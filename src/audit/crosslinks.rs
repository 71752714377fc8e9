//! Registry cross-links: which compressed blobs (and repositories) each local layer
//! is known by, which manifest digests each image is known by, and whether the two
//! distribution maps agree with each other and with the layers present.
//!
//! `diffid-by-digest` and `v2metadata-by-diffid` are written together on pull and
//! push, so normally each maps back to the other; the 50-entry cap and removals can
//! break that legitimately, which is why a disagreement is a warning, not an error.

use super::registry::RegistryReport;
use crate::digest::{ChainId, DiffId, Digest, ImageId};
use crate::finding::{Code, Finding};
use crate::graph::Graph;
use crate::store::distribution::V2Metadata;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What a v2metadata entry's HMAC says about how it was recorded.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HmacStatus {
    /// Empty: recorded by a pull (or an old engine); tied to no credentials.
    Empty,
    /// Recorded by a push in an anonymous session (auth config `{}`).
    Anonymous,
    /// Recorded by a push with some credentials strata does not know.
    Credentials,
}

/// The HMAC key of an anonymous session: the digest string of `{}` (the JSON of an
/// empty auth config), used as ASCII, not as raw bytes.
pub fn anonymous_key() -> String {
    Digest::of(b"{}").to_string()
}

/// `hex(HMAC-SHA256(key, digest + repository))`, as moby computes it.
pub fn compute_hmac(key: &str, digest: &Digest, repository: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; fall back to empty anyway
    // rather than panic.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(digest.to_string().as_bytes());
    mac.update(repository.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// How a v2metadata entry was recorded, judged from its HMAC.
pub fn hmac_status(e: &V2Metadata) -> HmacStatus {
    if e.hmac.is_empty() {
        HmacStatus::Empty
    } else if compute_hmac(&anonymous_key(), &e.digest, &e.source_repository)
        .eq_ignore_ascii_case(&e.hmac)
    {
        HmacStatus::Anonymous
    } else {
        HmacStatus::Credentials
    }
}

/// A registry blob a layer is known by, as the audit reports it.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct BlobLink {
    /// The compressed blob's digest.
    pub digest: Digest,
    /// The repository it was pulled from or pushed to.
    pub source_repository: String,
    /// Pull, anonymous push or push with credentials.
    pub hmac: HmacStatus,
    /// Whether `diffid-by-digest` maps this blob back to the layer's DiffID.
    pub maps_back: bool,
}

/// The registry blobs one layer is known by.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct LayerLinks {
    /// The layer's ChainID.
    pub chain_id: ChainId,
    /// Its DiffID, the key of `v2metadata-by-diffid`.
    pub diff_id: Option<DiffId>,
    /// Every `v2metadata-by-diffid` entry for that DiffID.
    pub blobs: Vec<BlobLink>,
}

/// The manifest digests one image is known by.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ImageLinks {
    /// The image ID.
    pub id: ImageId,
    /// Manifest (or index) digests by repository, `name@sha256:...`.
    pub repo_digests: Vec<String>,
}

/// How local images and layers map to registry manifests and blobs.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct CrossLinks {
    /// Images with at least one repo digest.
    pub images: Vec<ImageLinks>,
    /// Layers with distribution metadata.
    pub layers: Vec<LayerLinks>,
    /// The offline registry cross-check, when `--registry-root` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryReport>,
    /// The online cross-check against live registries, with `--online`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<super::online::OnlineReport>,
}

fn dist_file(g: &Graph, ns: &str, d: &Digest) -> PathBuf {
    Path::new("image")
        .join(&g.driver_name)
        .join("distribution")
        .join(ns)
        .join("sha256")
        .join(d.hex())
}

/// Builds the cross-links and checks the distribution maps.
pub fn cross_links(g: &Graph, out: &mut Vec<Finding>) -> CrossLinks {
    let dist = &g.distribution;
    let images = g
        .images
        .values()
        .filter(|i| !i.repo_digests.is_empty())
        .map(|i| ImageLinks { id: i.id(), repo_digests: i.repo_digests.clone() })
        .collect();

    let layers = g
        .layers
        .values()
        .filter(|l| !l.blobs.is_empty())
        .map(|l| LayerLinks {
            chain_id: l.chain_id(),
            diff_id: l.record.diff_id,
            blobs: l
                .blobs
                .iter()
                .map(|b| BlobLink {
                    digest: b.digest,
                    source_repository: b.source_repository.clone(),
                    hmac: hmac_status(b),
                    maps_back: l.record.diff_id.is_some()
                        && dist.diffid_by_digest.get(&b.digest) == l.record.diff_id.as_ref(),
                })
                .collect(),
        })
        .collect();

    // v2metadata -> diffid-by-digest. One finding per (DiffID, blob), however many
    // repositories the blob is listed under.
    for (diff, entries) in &dist.v2metadata_by_diffid {
        let digests: BTreeSet<Digest> = entries.iter().map(|e| e.digest).collect();
        for d in digests {
            let msg = match dist.diffid_by_digest.get(&d) {
                Some(back) if back == diff => continue,
                Some(back) => format!(
                    "v2metadata lists blob {} for DiffID {}, but diffid-by-digest maps that blob to {}",
                    d.short(),
                    diff.short(),
                    back.short()
                ),
                None => format!(
                    "v2metadata lists blob {} for DiffID {}, but diffid-by-digest has no entry for that blob",
                    d.short(),
                    diff.short()
                ),
            };
            out.push(
                Finding::warning(Code::DistributionMapInconsistent, msg).with_file(dist_file(
                    g,
                    "v2metadata-by-diffid",
                    &diff.0,
                )),
            );
        }
    }
    // diffid-by-digest -> v2metadata.
    for (d, diff) in &dist.diffid_by_digest {
        let listed =
            dist.v2metadata_by_diffid.get(diff).is_some_and(|v| v.iter().any(|e| e.digest == *d));
        if !listed {
            out.push(
                Finding::warning(
                    Code::DistributionMapInconsistent,
                    format!(
                        "diffid-by-digest maps blob {} to DiffID {}, but v2metadata for that DiffID does not list the blob",
                        d.short(),
                        diff.short()
                    ),
                )
                .with_file(dist_file(g, "diffid-by-digest", d)),
            );
        }
    }
    // Entries about layers no longer present: normal after `docker rmi`, since the
    // engine never prunes distribution metadata.
    let present: BTreeSet<DiffId> = g.layers.values().filter_map(|l| l.record.diff_id).collect();
    for diff in dist.v2metadata_by_diffid.keys().filter(|d| !present.contains(d)) {
        out.push(
            Finding::info(
                Code::DistributionStale,
                format!("distribution metadata for DiffID {} names no layer present", diff.short()),
            )
            .with_file(dist_file(g, "v2metadata-by-diffid", &diff.0)),
        );
    }
    for (d, diff) in &dist.diffid_by_digest {
        if !present.contains(diff) && !dist.v2metadata_by_diffid.contains_key(diff) {
            out.push(
                Finding::info(
                    Code::DistributionStale,
                    format!(
                        "diffid-by-digest maps blob {} to DiffID {}, which no layer present has",
                        d.short(),
                        diff.short()
                    ),
                )
                .with_file(dist_file(g, "diffid-by-digest", d)),
            );
        }
    }

    CrossLinks { images, layers, registry: None, online: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_key_is_the_digest_string_of_an_empty_object() {
        assert_eq!(
            anonymous_key(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn hmac_matches_a_push_recorded_by_docker() {
        // From the `basic` fixture: pushed anonymously to a local registry.
        let e = V2Metadata {
            digest: Digest::parse(
                "sha256:967b7df6ef59023c37b500d173a1f5ca5c7192da6cf1d07450cdbc1d7eab4087",
            )
            .unwrap(),
            source_repository: "127.0.0.1:5000/strata/app".into(),
            hmac: "df5a21263fc1a94274544865148530b7217ae5aad5744eb119523532b24a8f17".into(),
        };
        assert_eq!(hmac_status(&e), HmacStatus::Anonymous);
        let other = V2Metadata { hmac: "00".repeat(32), ..e.clone() };
        assert_eq!(hmac_status(&other), HmacStatus::Credentials);
        let pulled = V2Metadata { hmac: String::new(), ..e };
        assert_eq!(hmac_status(&pulled), HmacStatus::Empty);
    }
}
