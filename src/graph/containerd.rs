//! Linking the containerd image store into the same graph the graphdriver store
//! gives: images, layer chains and containers, so every command reads one model.
//!
//! The rules are moby's (`daemon/containerd/`): an image is its target descriptor,
//! so its ID is the digest of the index or manifest (never the config); names that
//! share a target are one image; the chain runs index -> the platform manifests
//! present -> config -> DiffIDs -> ChainIDs, and each ChainID names a committed
//! snapshot. Sizes follow `/images/json`: the content present under the image plus
//! the stored usage of its snapshot chain.

use super::{ContainerNode, Graph, ImageNode, LayerNode};
use crate::digest::{chain_ids, ChainId, DiffId, Digest, ImageId};
use crate::finding::{Code, Finding};
use crate::fsread::{Limits, SafeDir};
use crate::id::{CacheId, ContainerId, MountId};
use crate::reference::Reference;
use crate::store::containerd::{blob_path, ContainerdStore, CtdImage, SnapshotKind};
use crate::store::containers::ContainerRecord;
use crate::store::distribution::V2Metadata;
use crate::store::imagedb::{parse_config, ImageRecord};
use crate::store::layerdb::{LayerRecord, MountRecord};
use crate::store::repositories::RefRecord;
use crate::verify::blob::Compression;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Label moby's classic builder puts on an image: the image it was built on.
pub const LABEL_PARENT: &str = "org.mobyproject.image.parent";
/// Name prefix moby gives an image whose last tag was removed while in use.
pub const DANGLING_PREFIX: &str = "moby-dangling@";
/// BuildKit marks attestation manifests in an index with this annotation.
const ATTESTATION_ANNOTATION: &str = "vnd.docker.reference.type";

/// What the containerd store adds to an image.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct CtdImageInfo {
    /// Every name in meta.db pointing at this target, as stored (normalised).
    pub names: Vec<String>,
    /// Media type of the target descriptor (an index or a manifest).
    pub target_media_type: String,
    /// Size in bytes of the target, as its descriptor records it.
    pub target_size: i64,
    /// The platform manifest read (the target itself for a single manifest).
    pub manifest: Option<Digest>,
    /// The config blob of the manifest read.
    pub config: Option<Digest>,
    /// `os/architecture[/variant]` of the manifest read.
    pub platform: Option<String>,
    /// Every platform manifest the index lists, with whether its content is here.
    pub manifests: Vec<ManifestRef>,
    /// Bytes of content present under the image (index, manifests, configs, layers).
    pub content_size: i64,
    /// Stored usage of the image's snapshot chain (top ChainID and its parents).
    pub unpacked_size: i64,
    /// When the image record was created in meta.db (RFC 3339).
    pub created_at: Option<String>,
    /// When the image record was last updated in meta.db (RFC 3339).
    pub updated_at: Option<String>,
    /// The image record's labels in meta.db.
    pub labels: BTreeMap<String, String>,
}

/// One manifest an index lists.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ManifestRef {
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// `os/architecture[/variant]` from the index entry, when given.
    pub platform: Option<String>,
    /// A BuildKit attestation manifest (provenance, SBOM), not a runnable platform.
    pub attestation: bool,
    /// The manifest blob and everything it names are in the content store.
    pub available: bool,
}

/// The content blob a layer was unpacked from.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct LayerBlobRef {
    /// The compressed blob's digest (the manifest's layer descriptor).
    pub digest: Digest,
    /// The layer descriptor's media type.
    pub media_type: String,
    /// Size in bytes, as the descriptor records it.
    pub size: i64,
    /// The compression the media type names; `None` for one strata does not know.
    pub compression: Option<Compression>,
    /// Whether the blob is in the content store (pulled images may drop it after unpacking).
    pub present: bool,
}

/// What the containerd store adds to a layer.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct CtdLayerInfo {
    /// Snapshot key in meta.db (the ChainID for a layer).
    pub snapshot_key: String,
    /// Backend id in the snapshotter's metadata.db: `snapshots/<id>`.
    pub snapshot_id: Option<u64>,
    /// The blob the manifest names for this layer, when the manifest was read.
    pub blob: Option<LayerBlobRef>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RawDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: i64,
    platform: Option<RawPlatform>,
    annotations: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl RawPlatform {
    fn text(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", self.os, self.architecture),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RawManifest {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Vec<RawDescriptor>,
    manifests: Option<Vec<RawDescriptor>>,
}

/// The platform this build of strata runs on, in OCI words: moby prefers it.
fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

/// Reads content blobs for the graph: bounded, and every failure a finding.
struct Content<'a> {
    root: &'a SafeDir,
    store: &'a ContainerdStore,
    limits: Limits,
}

impl Content<'_> {
    fn present(&self, d: &Digest) -> bool {
        self.store.blobs.get(d).is_some_and(|b| b.present) || self.root.exists(&blob_path(d))
    }

    fn read(&self, d: &Digest, what: &str, findings: &mut Vec<Finding>) -> Option<Vec<u8>> {
        let rel = blob_path(d);
        match self.root.read_file(&rel, self.limits.max_metadata_bytes) {
            Ok(b) => Some(b),
            Err(e) if e.is_not_found() => {
                findings.push(
                    Finding::error(
                        Code::ContentBlobMissing,
                        format!("{what} {d} is not in the content store"),
                    )
                    .with_file(&rel),
                );
                None
            }
            Err(e) => {
                findings.push(
                    Finding::error(
                        Code::ContentBlobCorrupt,
                        format!("{what} {d} cannot be read: {e}"),
                    )
                    .with_file(&rel),
                );
                None
            }
        }
    }

    fn json(&self, d: &Digest, what: &str, findings: &mut Vec<Finding>) -> Option<RawManifest> {
        let bytes = self.read(d, what, findings)?;
        match serde_json::from_slice::<RawManifest>(&bytes) {
            Ok(m) => Some(m),
            Err(e) => {
                findings.push(
                    Finding::error(
                        Code::ContentBlobCorrupt,
                        format!("{what} {d} is not valid JSON: {e}"),
                    )
                    .with_file(blob_path(d)),
                );
                None
            }
        }
    }
}

fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// One platform manifest, read: its config and layers.
struct Resolved {
    manifest: Digest,
    config: Digest,
    config_raw: Vec<u8>,
    layers: Vec<RawDescriptor>,
    platform: Option<String>,
}

/// Builds images, layers and containers from the containerd store into `g`.
/// Returns every content blob present under some image, with its descriptor size:
/// what engines from 28.2 add to `LayersSize`.
pub(super) fn link(
    g: &mut Graph,
    root: &SafeDir,
    store: &ContainerdStore,
    containers: BTreeMap<ContainerId, ContainerRecord>,
    limits: Limits,
) -> BTreeMap<Digest, i64> {
    let mut reachable: BTreeMap<Digest, i64> = BTreeMap::new();
    let content = Content { root, store, limits };
    let mut findings = Vec::new();

    // Names by target: one image per target digest, as moby lists them.
    let mut by_target: BTreeMap<Digest, Vec<&CtdImage>> = BTreeMap::new();
    for img in &store.images {
        by_target.entry(img.target.digest).or_default().push(img);
    }

    let (host_os, host_arch) = host_platform();
    let mut layer_info: BTreeMap<ChainId, (DiffId, Option<ChainId>, Option<LayerBlobRef>)> =
        BTreeMap::new();

    for (target, names) in &by_target {
        let first = names[0];
        let media_type = first.target.media_type.clone();
        let mut manifests = Vec::new();
        let mut content_size: i64 = 0;
        let mut counted: BTreeSet<Digest> = BTreeSet::new();
        let mut sizes: BTreeMap<Digest, i64> = BTreeMap::new();
        let mut add_content =
            |d: &Digest, size: i64, present: bool, counted: &mut BTreeSet<Digest>| {
                if present && counted.insert(*d) {
                    content_size = content_size.saturating_add(size.max(0));
                    sizes.insert(*d, size.max(0));
                }
            };
        // The platform manifests to consider.
        let mut candidates: Vec<(Digest, Option<String>, bool)> = Vec::new();
        if is_index(&media_type) {
            if content.present(target) {
                reachable.insert(*target, first.target.size.max(0));
            }
            // The index blob itself is not part of an image's size in moby's
            // listing (only each platform manifest's present content is).
            if let Some(index) = content.json(target, "image index", &mut findings) {
                for m in index.manifests.unwrap_or_default() {
                    let Ok(d) = Digest::parse(&m.digest) else {
                        findings.push(Finding::error(
                            Code::MetadataCorrupt,
                            format!("image index {target} lists a bad digest {:?}", m.digest),
                        ));
                        continue;
                    };
                    let attestation = m.annotations.contains_key(ATTESTATION_ANNOTATION);
                    let platform = m.platform.as_ref().map(RawPlatform::text);
                    let present = content.present(&d);
                    manifests.push(ManifestRef {
                        digest: d,
                        media_type: m.media_type.clone(),
                        platform: platform.clone(),
                        attestation,
                        available: present,
                    });
                    if present {
                        add_content(&d, m.size, true, &mut counted);
                        candidates.push((d, platform, attestation));
                    }
                }
            }
        } else {
            candidates.push((*target, None, false));
        }

        // Content of each present manifest, and the best platform one resolved.
        let mut best: Option<(u8, Resolved)> = None;
        let mut unpacked: i64 = 0;
        for (mdigest, platform, attestation) in candidates {
            let Some(m) = content.json(&mdigest, "image manifest", &mut findings) else { continue };
            if mdigest == *target {
                add_content(target, first.target.size, content.present(target), &mut counted);
            }
            let Some(cfg) =
                m.config.as_ref().and_then(|c| Digest::parse(&c.digest).ok().map(|d| (d, c.size)))
            else {
                if !attestation {
                    findings.push(
                        Finding::error(
                            Code::MetadataCorrupt,
                            format!("image manifest {mdigest} names no config"),
                        )
                        .with_file(blob_path(&mdigest)),
                    );
                }
                continue;
            };
            let config_present = content.present(&cfg.0);
            add_content(&cfg.0, cfg.1, config_present, &mut counted);
            // moby counts an image's unpacked size only for a manifest whose
            // content is all here ("available"); present content always counts.
            let mut available = config_present;
            for l in &m.layers {
                match Digest::parse(&l.digest) {
                    Ok(d) => {
                        let p = content.present(&d);
                        available &= p;
                        add_content(&d, l.size, p, &mut counted);
                    }
                    Err(_) => available = false,
                }
            }
            if attestation
                || m.layers.iter().all(|l| Compression::of_media_type(&l.media_type).is_none())
                    && !m.layers.is_empty()
            {
                continue;
            }
            let Some(config_raw) = content.read(&cfg.0, "image config", &mut findings) else {
                continue;
            };
            let parsed = parse_config(&config_raw).ok();
            let diffs = parsed.as_ref().and_then(|c| c.diff_ids.clone()).unwrap_or_default();
            let chains = chain_ids(&diffs);
            if let (Some(top), true) = (chains.last(), available) {
                unpacked = unpacked.saturating_add(chain_usage(store, &top.to_string()));
            }
            let plat = platform.clone().or_else(|| {
                parsed
                    .as_ref()
                    .and_then(|c| Some(format!("{}/{}", c.os.clone()?, c.architecture.clone()?)))
            });
            // moby prefers the host's platform; any platform beats none.
            let rank = match plat.as_deref() {
                Some(p)
                    if p == format!("{host_os}/{host_arch}")
                        || p.starts_with(&format!("{host_os}/{host_arch}/")) =>
                {
                    0
                }
                Some(_) => 1,
                None => 2,
            };
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((
                    rank,
                    Resolved {
                        manifest: mdigest,
                        config: cfg.0,
                        config_raw,
                        layers: m.layers,
                        platform: plat,
                    },
                ));
            }
        }

        let id = ImageId(*target);
        let mut sorted_names: Vec<String> = names.iter().map(|i| i.name.clone()).collect();
        sorted_names.sort();
        let parent = names
            .iter()
            .find_map(|i| i.labels.get(LABEL_PARENT))
            .and_then(|p| Digest::parse(p).ok())
            .map(ImageId);

        let (record, chain, manifest, config, platform) = match best {
            Some((_, r)) => {
                let config = parse_config(&r.config_raw).ok().map(Box::new);
                let diffs = config.as_ref().and_then(|c| c.diff_ids.clone()).unwrap_or_default();
                let chain = chain_ids(&diffs);
                for (i, (c, d)) in chain.iter().zip(&diffs).enumerate() {
                    let blob = r.layers.get(i).and_then(|l| {
                        let digest = Digest::parse(&l.digest).ok()?;
                        Some(LayerBlobRef {
                            digest,
                            media_type: l.media_type.clone(),
                            size: l.size,
                            compression: Compression::of_media_type(&l.media_type),
                            present: content.present(&digest),
                        })
                    });
                    let parent = i.checked_sub(1).map(|p| chain[p]);
                    let e = layer_info.entry(*c).or_insert((*d, parent, None));
                    if e.2.is_none() {
                        e.2 = blob;
                    }
                }
                let record = ImageRecord {
                    id,
                    raw: r.config_raw,
                    config,
                    parent,
                    last_updated: None,
                    built_locally: false,
                    content_file: blob_path(&r.config),
                };
                (record, chain, Some(r.manifest), Some(r.config), r.platform)
            }
            None => (
                ImageRecord {
                    id,
                    raw: Vec::new(),
                    config: None,
                    parent,
                    last_updated: None,
                    built_locally: false,
                    content_file: blob_path(target),
                },
                Vec::new(),
                None,
                None,
                None,
            ),
        };

        let (repo_tags, repo_digests) = names_of(&sorted_names, target);
        // Every name resolves to the image, as in the engine: `name:tag`, and
        // `name@<target>` for each named repository.
        for n in sorted_names
            .iter()
            .filter(|n| !n.starts_with(DANGLING_PREFIX) && Digest::parse(n).is_err())
        {
            let Ok(r) = Reference::parse(n) else { continue };
            let digested = format!("{}@{target}", r.familiar_name());
            for raw in [n.clone(), digested] {
                let parsed = Reference::parse(&raw).ok().map(Reference::with_default_tag);
                g.references.push(RefRecord {
                    raw: raw.clone(),
                    parsed,
                    image: Some(id),
                    raw_target: target.to_string(),
                });
            }
        }
        let info = CtdImageInfo {
            names: sorted_names,
            target_media_type: media_type,
            target_size: first.target.size,
            manifest,
            config,
            platform,
            manifests,
            content_size,
            unpacked_size: unpacked,
            created_at: names.iter().filter_map(|i| i.created_at.clone()).min(),
            updated_at: names.iter().filter_map(|i| i.updated_at.clone()).max(),
            labels: first.labels.clone(),
        };
        for d in &counted {
            if let Some(size) = sizes.get(d) {
                reachable.insert(*d, *size);
            }
        }
        let size = Some(content_size.saturating_add(unpacked));
        g.images.insert(
            id,
            ImageNode {
                record,
                repo_tags,
                repo_digests,
                chain_ids: chain,
                children: Vec::new(),
                containers: Vec::new(),
                size,
                shared_size: None,
                containerd: Some(Box::new(info)),
            },
        );
    }

    // Layers: every committed snapshot named by a ChainID, with what the images say of it.
    for (key, snap) in &store.snapshots {
        let Ok(chain) = ChainId::parse(key) else { continue };
        let committed = snap.backend.as_ref().is_some_and(|b| b.kind == SnapshotKind::Committed);
        if !committed && !layer_info.contains_key(&chain) {
            continue;
        }
        let (diff_id, parent, blob) = match layer_info.remove(&chain) {
            Some((d, p, b)) => (Some(d), p, b),
            None => (None, snap.parent.as_deref().and_then(|p| ChainId::parse(p).ok()), None),
        };
        let id = snap.backend.as_ref().map(|b| b.id);
        let blobs = blob.iter().flat_map(|b| distribution_sources(store, &b.digest)).collect();
        g.layers.insert(
            chain,
            LayerNode {
                record: LayerRecord {
                    chain_id: chain,
                    diff_id,
                    parent,
                    size: snap.backend.as_ref().and_then(|b| b.size),
                    cache_id: id.map(|i| CacheId::new(i.to_string())),
                    has_tar_split: false,
                    dir: snap.dir.clone().unwrap_or_default(),
                },
                children: Vec::new(),
                images: Vec::new(),
                containers: Vec::new(),
                driver_dir: snap.dir.as_ref().and_then(|d| d.parent().map(PathBuf::from)),
                content_dir: snap.dir.clone(),
                driver_dir_present: snap.dir_present,
                blobs,
                containerd: Some(Box::new(CtdLayerInfo {
                    snapshot_key: key.clone(),
                    snapshot_id: id,
                    blob,
                })),
            },
        );
    }
    // Layers an image needs but no snapshot holds: still in the graph, marked.
    for (chain, (diff, parent, blob)) in layer_info {
        g.layers.insert(
            chain,
            LayerNode {
                record: LayerRecord {
                    chain_id: chain,
                    diff_id: Some(diff),
                    parent,
                    size: None,
                    cache_id: None,
                    has_tar_split: false,
                    dir: PathBuf::new(),
                },
                children: Vec::new(),
                images: Vec::new(),
                containers: Vec::new(),
                driver_dir: None,
                content_dir: None,
                driver_dir_present: false,
                blobs: Vec::new(),
                containerd: Some(Box::new(CtdLayerInfo {
                    snapshot_key: chain.to_string(),
                    snapshot_id: None,
                    blob,
                })),
            },
        );
    }

    // Containers: Docker's config.v2.json stays authoritative, and its RW
    // snapshot is keyed by the container ID on top of `<id>-init`. A host with
    // containerd alone (a Kubernetes node) has only containerd's own records,
    // whose snapshot sits straight on the image's top layer.
    let mut by_name: BTreeMap<&str, ImageId> = BTreeMap::new();
    for img in &store.images {
        by_name.insert(img.name.as_str(), ImageId(img.target.digest));
    }
    let mut all: Vec<(ContainerRecord, String)> =
        containers.into_values().map(|r| (r.clone(), r.id.to_string())).collect();
    if all.is_empty() {
        for c in &store.containers {
            let record = ContainerRecord {
                id: ContainerId::new(c.id.clone()),
                name: None,
                image: c.image.as_deref().and_then(|n| by_name.get(n).copied()),
                image_ref: c.image.clone(),
                state: Default::default(),
                created: c.created_at.clone(),
                driver: c.snapshotter.clone(),
                path: None,
                args: Vec::new(),
                labels: c.labels.clone(),
                dir: PathBuf::new(),
            };
            all.push((record, c.snapshot_key.clone().unwrap_or_else(|| c.id.clone())));
        }
    }
    for (record, key) in all {
        let rw = store.snapshots.get(&key);
        let (init, top) = beneath(store, rw.and_then(|s| s.parent.as_deref()));
        let rw_dir = rw.and_then(|s| s.dir.clone());
        let init_dir = init.and_then(|s| s.dir.clone());
        // The RW layer in the graphdriver's terms: snapshot ids stand for the
        // mount and init ids, and the parent is the image's top layer.
        let mount = rw.map(|s| MountRecord {
            name: key.clone(),
            mount_id: s.backend.as_ref().map(|b| MountId::new(b.id.to_string())),
            init_id: init.and_then(|i| i.backend.as_ref()).map(|b| MountId::new(b.id.to_string())),
            parent: top,
            dir: s.dir.clone().unwrap_or_default(),
        });
        g.containers.insert(record.id.clone(), ContainerNode { record, mount, rw_dir, init_dir });
    }

    g.findings.extend(findings);
    reachable
}

/// What lies beneath a container's RW snapshot: Docker's init snapshot (any
/// snapshot not named by a ChainID), and the first layer snapshot, the image's top.
fn beneath<'a>(
    store: &'a ContainerdStore,
    parent: Option<&str>,
) -> (Option<&'a crate::store::containerd::CtdSnapshot>, Option<ChainId>) {
    let Some(p) = parent else { return (None, None) };
    if let Ok(c) = ChainId::parse(p) {
        return (None, Some(c));
    }
    let init = store.snapshots.get(p);
    let top = init.and_then(|i| i.parent.as_deref()).and_then(|t| ChainId::parse(t).ok());
    (init, top)
}

/// Stored usage of a snapshot and every parent, as moby sums it; a missing
/// ancestor ends the sum (moby then reports what it had).
pub fn chain_usage(store: &ContainerdStore, top: &str) -> i64 {
    let mut total: i64 = 0;
    let mut seen = BTreeSet::new();
    let mut next = Some(top.to_owned());
    while let Some(key) = next {
        if !seen.insert(key.clone()) {
            break;
        }
        let Some(s) = store.snapshots.get(&key) else { break };
        total = total.saturating_add(s.backend.as_ref().and_then(|b| b.size).unwrap_or(0));
        next = s.parent.clone();
    }
    total
}

/// `containerd.io/distribution.source.<host>=<repo>,...` labels of a blob, as the
/// blob-to-repository links the graphdriver store keeps in v2metadata.
fn distribution_sources(store: &ContainerdStore, d: &Digest) -> Vec<V2Metadata> {
    let Some(b) = store.blobs.get(d) else { return Vec::new() };
    let mut out = Vec::new();
    for (k, v) in &b.labels {
        let Some(host) = k.strip_prefix("containerd.io/distribution.source.") else { continue };
        for repo in v.split(',').filter(|r| !r.is_empty()) {
            out.push(V2Metadata {
                digest: *d,
                source_repository: format!("{host}/{repo}"),
                hmac: String::new(),
            });
        }
    }
    out
}

/// RepoTags and RepoDigests from an image's names, in the familiar forms the
/// engine prints: every tagged name; and one `name@<target>`, for the last name
/// in meta.db's order, because moby keeps one image record per target (the last
/// one listed) and derives the digested reference from that record alone.
fn names_of(names: &[String], target: &Digest) -> (Vec<String>, Vec<String>) {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for n in names {
        // Dangling placeholders, and the CRI plugin's `sha256:<config>` names,
        // which are IDs rather than references.
        if n.starts_with(DANGLING_PREFIX) || Digest::parse(n).is_ok() {
            continue;
        }
        let Ok(r) = Reference::parse(n) else {
            // moby lists a name it cannot parse as it is.
            tags.push(n.clone());
            continue;
        };
        if r.tag.is_some() && r.digest.is_none() {
            tags.push(r.familiar());
        }
        digests = vec![format!("{}@{target}", r.familiar_name())];
    }
    tags.sort();
    (tags, digests)
}
