//! Reader for a docker-registry (distribution) storage directory.
//!
//! Layout (filesystem driver), under `docker/registry/v2/`:
//! * `blobs/sha256/<xx>/<hex>/data`: every blob, content-addressed (manifests,
//!   configs and compressed layers alike);
//! * `repositories/<name>/_manifests/tags/<tag>/current/link`: the manifest a tag
//!   points to; `_manifests/revisions/sha256/<hex>/link`: manifests the repository
//!   holds; `_layers/sha256/<hex>/link`: blobs linked into the repository.
//!   `<name>` may have several components (`strata/app`).
//!
//! This module only reads that format (links, repositories, blobs, manifest
//! documents); the cross-check against the local image store lives in
//! [`crate::audit::registry`]. Every blob's own digest is verified, streaming, so
//! memory stays bounded whatever the blob size. All reads go through [`SafeDir`].

use crate::digest::{Digest, Hasher};
use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, Limits, SafeDir};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Deepest repository name strata follows (`a/b/c/...`); the registry allows far
/// less in practice, and a bound keeps a hostile tree from recursing forever.
const MAX_REPO_DEPTH: usize = 16;

/// What kind of document a manifest blob is.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestKind {
    /// Docker schema2 or OCI image manifest: one config, a list of layers.
    Manifest,
    /// Docker manifest list or OCI index: a list of manifests.
    Index,
    /// Docker schema1 (signed or not): no config blob; legacy.
    Schema1,
    /// Not JSON, or no recognisable shape.
    Unknown,
}

/// What a manifest blob in registry storage says: its kind and the blobs it names.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ManifestInfo {
    /// The blob's digest.
    pub digest: Digest,
    /// `mediaType`, when the document has one.
    pub media_type: Option<String>,
    /// Manifest, index, schema1 or unknown.
    pub kind: ManifestKind,
    /// The config blob (manifests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Digest>,
    /// The layer blobs, in order (manifests only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Digest>,
    /// Index entries, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Digest>,
}

/// One repository of the registry storage, with its links.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct RegistryRepo {
    /// Path under `repositories/`, e.g. `strata/app`.
    pub name: String,
    /// Tag -> the manifest its `current/link` names.
    pub tags: BTreeMap<String, Digest>,
    /// Manifests linked under `_manifests/revisions`.
    pub revisions: Vec<Digest>,
    /// Blobs linked under `_layers`.
    pub layers: Vec<Digest>,
}

/// What hashing every blob of the storage found.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize)]
pub struct BlobStats {
    /// Blobs found.
    pub count: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Blobs whose bytes hash to their name.
    pub verified: usize,
    /// Blobs whose bytes hash to another digest.
    pub mismatched: Vec<Digest>,
    /// Blobs no manifest, config, layer or index entry refers to.
    pub unreferenced: Vec<Digest>,
}

/// Where the `v2` tree is: the storage root holds `docker/registry/v2`; accept the
/// `v2` directory itself too.
pub fn v2_prefix(reg: &SafeDir) -> PathBuf {
    let full = Path::new("docker/registry/v2");
    if reg.exists(full) {
        full.to_path_buf()
    } else {
        PathBuf::new()
    }
}

/// Reads one `link` file (a digest as text); missing gives `None`, a bad or unreadable one a
/// finding.
pub fn read_link(
    reg: &SafeDir,
    rel: &Path,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> Option<Digest> {
    match reg.read_file(rel, limits.max_metadata_bytes.min(4096)) {
        Ok(b) => match std::str::from_utf8(&b).ok().and_then(|s| Digest::parse(s.trim()).ok()) {
            Some(d) => Some(d),
            None => {
                out.push(
                    Finding::warning(
                        Code::MetadataCorrupt,
                        "registry link file does not hold a digest",
                    )
                    .with_file(rel),
                );
                None
            }
        },
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            out.push(
                Finding::warning(Code::StoreUnreadable, format!("registry: {e}")).with_file(rel),
            );
            None
        }
    }
}

/// `<dir>/sha256/<hex>/link` entries, as digests.
pub fn read_link_dir(
    reg: &SafeDir,
    dir: &Path,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> Vec<Digest> {
    let base = dir.join("sha256");
    let mut v = Vec::new();
    for e in reg.read_dir(&base).unwrap_or_default() {
        let Some(name) = e.name.to_str() else { continue };
        if Digest::from_hex(name).is_err() {
            continue;
        }
        if let Some(d) = read_link(reg, &base.join(name).join("link"), limits, out) {
            v.push(d);
        }
    }
    v
}

/// Every repository under `<v2>/repositories/`, however deep its name, sorted by name.
pub fn read_repos(
    reg: &SafeDir,
    v2: &Path,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> Vec<RegistryRepo> {
    let mut repos = Vec::new();
    let base = v2.join("repositories");
    let mut stack: Vec<(String, usize)> = vec![(String::new(), 0)];
    while let Some((name, depth)) = stack.pop() {
        let dir = if name.is_empty() { base.clone() } else { base.join(&name) };
        let entries = match reg.read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                out.push(
                    Finding::warning(Code::StoreUnreadable, format!("registry: {e}"))
                        .with_file(&dir),
                );
                continue;
            }
        };
        if entries.iter().any(|e| e.name == "_manifests") {
            let m = dir.join("_manifests");
            let mut tags = BTreeMap::new();
            for t in reg.read_dir(&m.join("tags")).unwrap_or_default() {
                let Some(tag) = t.name.to_str() else { continue };
                if let Some(d) =
                    read_link(reg, &m.join("tags").join(tag).join("current/link"), limits, out)
                {
                    tags.insert(tag.to_owned(), d);
                }
            }
            repos.push(RegistryRepo {
                name: name.clone(),
                tags,
                revisions: read_link_dir(reg, &m.join("revisions"), limits, out),
                layers: read_link_dir(reg, &dir.join("_layers"), limits, out),
            });
        }
        if depth >= MAX_REPO_DEPTH {
            continue;
        }
        for e in entries {
            let Some(n) = e.name.to_str() else { continue };
            if e.kind == FileKind::Dir && !n.starts_with('_') {
                let child = if name.is_empty() { n.to_owned() } else { format!("{name}/{n}") };
                stack.push((child, depth + 1));
            }
        }
    }
    repos.sort_by(|a, b| a.name.cmp(&b.name));
    repos
}

/// `blobs/sha256/<xx>/<hex>/data` under `v2`: where a blob's bytes are.
pub fn blob_path(v2: &Path, d: &Digest) -> PathBuf {
    let hex = d.hex();
    v2.join("blobs/sha256").join(&hex[..2]).join(&hex).join("data")
}

/// Streams a blob through SHA-256 with a fixed buffer.
pub fn hash_blob(reg: &SafeDir, rel: &Path) -> Result<(Digest, u64), crate::fsread::ReadError> {
    let (mut f, _) = reg.open_file(rel)?;
    let mut buf = vec![0u8; 1 << 16];
    Hasher::of_reader(&mut f, &mut buf).map_err(|(e, _)| crate::fsread::ReadError {
        path: reg.display_path(rel),
        kind: crate::fsread::ReadErrorKind::Io(e),
    })
}

/// Every blob: verify its digest. Returns the set present and the stats.
pub fn verify_blobs(
    reg: &SafeDir,
    v2: &Path,
    out: &mut Vec<Finding>,
) -> (BTreeSet<Digest>, BlobStats) {
    let mut present = BTreeSet::new();
    let mut stats = BlobStats::default();
    let base = v2.join("blobs/sha256");
    for prefix in reg.read_dir(&base).unwrap_or_default() {
        let pdir = base.join(&prefix.name);
        for e in reg.read_dir(&pdir).unwrap_or_default() {
            let Some(name) = e.name.to_str() else { continue };
            let Ok(d) = Digest::from_hex(name) else { continue };
            let rel = pdir.join(name).join("data");
            match hash_blob(reg, &rel) {
                Ok((actual, n)) => {
                    present.insert(d);
                    stats.count += 1;
                    stats.bytes += n;
                    if actual == d {
                        stats.verified += 1;
                    } else {
                        stats.mismatched.push(d);
                        out.push(
                            Finding::error(
                                Code::RegistryBlobMismatch,
                                format!("registry blob {} hashes to {}", d.short(), actual.short()),
                            )
                            .with_file(&rel),
                        );
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => out.push(
                    Finding::warning(Code::StoreUnreadable, format!("registry: {e}"))
                        .with_file(&rel),
                ),
            }
        }
    }
    (present, stats)
}

#[derive(Deserialize)]
struct RawDescriptor {
    digest: Option<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
}

/// Parses a manifest or index blob; anything unrecognisable is `ManifestKind::Unknown`.
pub fn parse_manifest(digest: Digest, bytes: &[u8]) -> ManifestInfo {
    let unknown = ManifestInfo {
        digest,
        media_type: None,
        kind: ManifestKind::Unknown,
        config: None,
        layers: vec![],
        manifests: vec![],
    };
    let Ok(raw) = serde_json::from_slice::<RawManifest>(bytes) else { return unknown };
    let digests = |v: &Option<Vec<RawDescriptor>>| -> Vec<Digest> {
        v.iter()
            .flatten()
            .filter_map(|d| d.digest.as_deref().and_then(|s| Digest::parse(s).ok()))
            .collect()
    };
    let kind = if raw.schema_version == Some(1) {
        ManifestKind::Schema1
    } else if raw.manifests.is_some() {
        ManifestKind::Index
    } else if raw.config.is_some() {
        ManifestKind::Manifest
    } else {
        ManifestKind::Unknown
    };
    ManifestInfo {
        digest,
        media_type: raw.media_type.clone(),
        kind,
        config: raw
            .config
            .as_ref()
            .and_then(|c| c.digest.as_deref())
            .and_then(|s| Digest::parse(s).ok()),
        layers: digests(&raw.layers),
        manifests: digests(&raw.manifests),
    }
}
