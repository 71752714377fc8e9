//! Offline cross-check against a docker-registry (distribution) storage directory.
//!
//! The storage format is read by [`crate::store::registry`]; this module holds the
//! checks. For each local repo digest whose repository the registry holds, strata
//! checks that the manifest is there and hashes to its name, that its config is the
//! local image, and that each layer blob is one the local v2metadata knows for the
//! DiffID at that position.

use crate::digest::{DiffId, Digest, ImageId};
use crate::finding::{Code, Finding};
use crate::fsread::{Limits, SafeDir};
use crate::graph::Graph;
use crate::reference::Reference;
use crate::store::registry::{blob_path, parse_manifest, read_repos, v2_prefix, verify_blobs};
use crate::store::registry::{BlobStats, ManifestInfo, ManifestKind, RegistryRepo};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The outcome of checking one repo digest against the registry storage.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestCheckStatus {
    /// Manifest present and hashing right, config is the image, layers known locally.
    Verified,
    /// Something disagrees; see the findings.
    Mismatch,
    /// The registry does not hold this repository: it is some other registry's digest.
    NotInRegistry,
}

/// The check of one local repo digest against the registry.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct RepoDigestCheck {
    /// The local image the digest belongs to.
    pub image: ImageId,
    /// The `name@sha256:...` reference as the image lists it.
    pub reference: String,
    /// The repository path in the registry (`strata/app`).
    pub repository: String,
    /// The manifest (or index) digest.
    pub digest: Digest,
    /// Verified, mismatch, or not in this registry.
    pub status: DigestCheckStatus,
}

/// What the offline registry cross-check read and found.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct RegistryReport {
    /// The directory given, as given.
    pub root: String,
    /// Every repository in the storage.
    pub repositories: Vec<RegistryRepo>,
    /// Every manifest any repository names (index children included).
    pub manifests: Vec<ManifestInfo>,
    /// What hashing every blob found.
    pub blobs: BlobStats,
    /// One check per local repo digest.
    pub repo_digests: Vec<RepoDigestCheck>,
}

/// Reads the registry and cross-checks every local repo digest against it.
pub fn check_registry(
    g: &Graph,
    reg: &SafeDir,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> RegistryReport {
    let v2 = v2_prefix(reg);
    let repositories = read_repos(reg, &v2, limits, out);
    let (present, mut blobs) = verify_blobs(reg, &v2, out);

    // Parse every manifest any repository names, and the children of indexes.
    let mut manifests: BTreeMap<Digest, ManifestInfo> = BTreeMap::new();
    let mut queue: Vec<Digest> = repositories
        .iter()
        .flat_map(|r| r.revisions.iter().chain(r.tags.values()).copied())
        .collect();
    while let Some(d) = queue.pop() {
        if manifests.contains_key(&d) || !present.contains(&d) {
            continue;
        }
        let rel = blob_path(&v2, &d);
        let info = match reg.read_file(&rel, limits.max_metadata_bytes) {
            Ok(bytes) => parse_manifest(d, &bytes),
            Err(e) => {
                out.push(
                    Finding::warning(Code::StoreUnreadable, format!("registry: {e}"))
                        .with_file(&rel),
                );
                continue;
            }
        };
        match info.kind {
            ManifestKind::Schema1 => out.push(
                Finding::info(
                    Code::RegistryLegacyManifest,
                    format!("registry manifest {} is Docker schema1 (legacy, no config blob); not cross-checked", d.short()),
                )
                .with_file(&rel),
            ),
            ManifestKind::Unknown => out.push(
                Finding::warning(
                    Code::RegistryManifestMismatch,
                    format!("registry manifest {} is not a manifest or index strata recognises", d.short()),
                )
                .with_file(&rel),
            ),
            _ => {}
        }
        queue.extend(info.manifests.iter().copied());
        manifests.insert(d, info);
    }

    // Blobs a manifest names must be there; blobs nothing names are listed.
    let mut referenced: BTreeSet<Digest> = BTreeSet::new();
    for r in &repositories {
        referenced.extend(r.revisions.iter().copied());
        referenced.extend(r.tags.values().copied());
    }
    for m in manifests.values() {
        referenced.extend(m.config.iter().copied());
        referenced.extend(m.layers.iter().copied());
        referenced.extend(m.manifests.iter().copied());
        for d in m.config.iter().chain(&m.layers).chain(&m.manifests) {
            if !present.contains(d) {
                out.push(
                    Finding::error(
                        Code::RegistryBlobMissing,
                        format!(
                            "registry manifest {} names blob {}, which the registry does not hold",
                            m.digest.short(),
                            d.short()
                        ),
                    )
                    .with_file(blob_path(&v2, d)),
                );
            }
        }
    }
    for r in &repositories {
        for d in r.revisions.iter().chain(r.tags.values()) {
            if !present.contains(d) {
                out.push(
                    Finding::error(
                        Code::RegistryBlobMissing,
                        format!("registry repository {} names manifest {}, which the registry does not hold", r.name, d.short()),
                    )
                    .with_file(blob_path(&v2, d)),
                );
            }
        }
    }
    blobs.unreferenced = present.iter().filter(|d| !referenced.contains(d)).copied().collect();
    for d in &blobs.unreferenced {
        out.push(
            Finding::info(
                Code::RegistryBlobUnreferenced,
                format!(
                    "registry blob {} is referenced by no manifest (garbage-collect candidate)",
                    d.short()
                ),
            )
            .with_file(blob_path(&v2, d)),
        );
    }

    let repo_digests =
        check_repo_digests(g, &repositories, &manifests, &present, &blobs.mismatched, &v2, out);
    RegistryReport {
        root: reg.path().display().to_string(),
        repositories,
        manifests: manifests.into_values().collect(),
        blobs,
        repo_digests,
    }
}

fn check_repo_digests(
    g: &Graph,
    repos: &[RegistryRepo],
    manifests: &BTreeMap<Digest, ManifestInfo>,
    present: &BTreeSet<Digest>,
    mismatched: &[Digest],
    v2: &Path,
    out: &mut Vec<Finding>,
) -> Vec<RepoDigestCheck> {
    let by_name: BTreeMap<&str, &RegistryRepo> =
        repos.iter().map(|r| (r.name.as_str(), r)).collect();
    let mut checks = Vec::new();
    for img in g.images.values() {
        let diff_ids: Vec<DiffId> =
            img.record.config.as_ref().and_then(|c| c.diff_ids.clone()).unwrap_or_default();
        for rd in &img.repo_digests {
            let Ok(r) = Reference::parse(rd) else { continue };
            let Some(digest) = r.digest else { continue };
            // Normalised names always start with the registry host; the registry
            // stores the path after it.
            let path = r.name.split_once('/').map_or(r.name.as_str(), |(_, p)| p);
            let mut check = RepoDigestCheck {
                image: img.id(),
                reference: rd.clone(),
                repository: path.to_owned(),
                digest,
                status: DigestCheckStatus::NotInRegistry,
            };
            let Some(repo) = by_name.get(path) else {
                checks.push(check);
                continue;
            };
            let before = out.len();
            let mut bad = false;
            let rel = blob_path(v2, &digest);
            let mismatch = |msg: String| {
                Finding::error(Code::RegistryManifestMismatch, msg)
                    .with_image(img.id())
                    .with_subject(rd.as_str())
                    .with_file(&rel)
            };
            if !repo.revisions.contains(&digest) && !repo.tags.values().any(|d| *d == digest) {
                out.push(mismatch(format!(
                    "{rd}: registry repository {} holds no manifest {}",
                    repo.name,
                    digest.short()
                )));
            } else if !present.contains(&digest) {
                // Already reported as registry-blob-missing.
            } else if mismatched.contains(&digest) {
                out.push(mismatch(format!(
                    "{rd}: the registry's manifest bytes do not hash to {}",
                    digest.short()
                )));
            } else if let Some(m) = manifests.get(&digest) {
                // An index: the platform manifest whose config is this image.
                let target = match m.kind {
                    ManifestKind::Manifest => Some(m),
                    ManifestKind::Index => m
                        .manifests
                        .iter()
                        .filter_map(|c| manifests.get(c))
                        .find(|c| c.config == Some(*img.id().digest())),
                    _ => None,
                };
                match (m.kind, target) {
                    (ManifestKind::Schema1 | ManifestKind::Unknown, _) => {}
                    (_, None) => out.push(mismatch(format!(
                        "{rd}: no manifest under index {} has image {} as its config",
                        digest.short(),
                        img.id().short()
                    ))),
                    (_, Some(t)) if t.config != Some(*img.id().digest()) => {
                        out.push(mismatch(format!(
                            "{rd}: the registry manifest's config is {}, not the local image {}",
                            t.config.map(|c| c.short()).unwrap_or_else(|| "missing".into()),
                            img.id().short()
                        )))
                    }
                    (_, Some(t)) => {
                        // Damaged or missing blobs were reported on their own; they
                        // still make this digest unverifiable.
                        let unsound = |d: &Digest| !present.contains(d) || mismatched.contains(d);
                        bad |= t
                            .config
                            .iter()
                            .chain(&t.layers)
                            .chain(std::iter::once(&t.digest))
                            .any(unsound);
                        if t.layers.len() != diff_ids.len() {
                            out.push(mismatch(format!(
                                "{rd}: the registry manifest has {} layers, the local image {}",
                                t.layers.len(),
                                diff_ids.len()
                            )));
                        }
                        for (i, (blob, diff)) in t.layers.iter().zip(&diff_ids).enumerate() {
                            let known = g
                                .distribution
                                .v2metadata_by_diffid
                                .get(diff)
                                .is_some_and(|v| v.iter().any(|e| e.digest == *blob));
                            if !known {
                                out.push(
                                    Finding::warning(
                                        Code::RegistryLayerMismatch,
                                        format!("{rd}: layer {i} is blob {} in the registry, which local v2metadata does not list for DiffID {}", blob.short(), diff.short()),
                                    )
                                    .with_image(img.id())
                                    .with_subject(rd.as_str())
                                    .with_file(&rel),
                                );
                            }
                        }
                    }
                }
            }
            let ok = out.len() == before && present.contains(&digest) && !bad;
            check.status =
                if ok { DigestCheckStatus::Verified } else { DigestCheckStatus::Mismatch };
            checks.push(check);
        }
    }
    checks
}
