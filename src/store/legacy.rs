//! Pre-1.10 data-roots (Docker 1.9 and earlier), read as moby's v1 migration code
//! (`migrate/v1`) reads them: `graph/<v1 id>/json` (the v1 image JSON, with its
//! `parent`), `graph/<v1 id>/layersize`, `repositories-<driver>` (tags to v1 IDs) and
//! `containers/<id>/config.json` (the v1 container config, whose `Image` is a v1 ID).
//!
//! Image IDs then were random, not hashes of anything, and there are no DiffIDs or
//! tar-splits: nothing in this layout can be recomputed from bytes. The reader lists
//! what is there (IDs as recorded, tags, parent chains, layer directories,
//! containers) and says so once, as an info finding, instead of reporting the
//! missing modern store as damage.

use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, Limits, SafeDir};
use crate::store::{list_dir_or_finding, read_error_finding};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The pre-1.10 image directory.
pub const GRAPH_DIR: &str = "graph";

/// Most ancestors followed up a parent chain (a loop, or a chain built to exhaust
/// the reader, stops there).
const MAX_CHAIN: usize = 1024;

/// One image of a pre-1.10 data-root.
#[derive(schemars::JsonSchema, Debug, Clone, serde::Serialize)]
pub struct LegacyImage {
    /// The v1 ID as the engine recorded it (64 hex digits, random, not content-addressed).
    pub id: String,
    /// The parent image's v1 ID.
    pub parent: Option<String>,
    /// Ancestors, nearest first, as far as they are present.
    pub chain: Vec<String>,
    /// When it was created (RFC 3339, as recorded).
    pub created: Option<String>,
    /// The build step that made it (`container_config.Cmd`, joined).
    pub created_by: Option<String>,
    /// Layer size in bytes (`layersize`, else `Size` in the JSON).
    pub size: Option<i64>,
    /// The engine version that wrote it.
    pub docker_version: Option<String>,
    /// `name:tag` references from `repositories-<driver>`.
    pub tags: Vec<String>,
    /// The layer's directory under the data-root (e.g. `aufs/diff/<id>`), if the driver is known.
    pub layer_dir: Option<String>,
    /// Whether that directory exists.
    pub layer_dir_present: bool,
}

/// One container of a pre-1.10 data-root.
#[derive(schemars::JsonSchema, Debug, Clone, serde::Serialize)]
pub struct LegacyContainer {
    /// The container ID.
    pub id: String,
    /// Its name, without the leading `/`.
    pub name: Option<String>,
    /// The v1 ID of its image.
    pub image: Option<String>,
    /// What it was created from, as typed (`Config.Image`).
    pub image_ref: Option<String>,
    /// When it was created (RFC 3339, as recorded).
    pub created: Option<String>,
    /// When it last started.
    pub started_at: Option<String>,
    /// When it last stopped (`0001-01-01...` when it never did).
    pub finished_at: Option<String>,
    /// Running when the engine last wrote its state.
    pub running: bool,
    /// Exit status of the last run.
    pub exit_code: i64,
    /// The storage driver it was created on.
    pub driver: Option<String>,
    /// Its RW layer directory (e.g. `aufs/diff/<id>`), if the driver is known.
    pub rw_dir: Option<String>,
    /// Whether that directory exists.
    pub rw_dir_present: bool,
}

/// What a pre-1.10 data-root holds.
#[derive(schemars::JsonSchema, Debug, Clone, Default, serde::Serialize)]
pub struct LegacyStore {
    /// The storage driver, from `repositories-<driver>` (else the driver directory found).
    pub driver: Option<String>,
    /// Every image under `graph/`, by v1 ID.
    pub images: Vec<LegacyImage>,
    /// Every container with a v1 `config.json` and no `config.v2.json`.
    pub containers: Vec<LegacyContainer>,
}

#[derive(Deserialize, Default)]
struct V1Image {
    id: Option<String>,
    parent: Option<String>,
    created: Option<String>,
    container_config: Option<V1RunConfig>,
    docker_version: Option<String>,
    #[serde(rename = "Size")]
    size: Option<i64>,
}

#[derive(Deserialize, Default)]
struct V1RunConfig {
    #[serde(rename = "Cmd")]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Image")]
    image: Option<String>,
}

#[derive(Deserialize, Default)]
struct V1State {
    #[serde(rename = "Running", default)]
    running: bool,
    #[serde(rename = "ExitCode", default)]
    exit_code: i64,
    #[serde(rename = "StartedAt")]
    started_at: Option<String>,
    #[serde(rename = "FinishedAt")]
    finished_at: Option<String>,
}

#[derive(Deserialize, Default)]
struct V1Container {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "Created")]
    created: Option<String>,
    #[serde(rename = "Image")]
    image: Option<String>,
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Driver")]
    driver: Option<String>,
    #[serde(rename = "State", default)]
    state: V1State,
    #[serde(rename = "Config")]
    config: Option<V1RunConfig>,
}

#[derive(Deserialize)]
struct Repositories {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

/// A v1 ID: 64 lowercase hex digits (moby's `imagev1.ValidateID`).
fn is_v1_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a pre-1.10 driver kept a layer's (or a container's RW) files.
fn layer_dir(driver: &str, id: &str) -> Option<PathBuf> {
    Some(match driver {
        "aufs" => Path::new("aufs/diff").join(id),
        "overlay" => Path::new("overlay").join(id),
        "vfs" => Path::new("vfs/dir").join(id),
        "btrfs" => Path::new("btrfs/subvolumes").join(id),
        "zfs" => Path::new("zfs/graph").join(id),
        "devicemapper" => Path::new("devicemapper/mnt").join(id),
        _ => return None,
    })
}

/// Whether `root` is a pre-1.10 data-root: it has `graph/` and no modern image store.
pub fn is_legacy(root: &SafeDir) -> bool {
    root.lstat(Path::new(GRAPH_DIR)).is_ok_and(|m| m.kind == FileKind::Dir)
}

/// Reads a pre-1.10 data-root, or `None` when there is no `graph/`.
pub fn read_legacy(
    root: &SafeDir,
    limits: &Limits,
    findings: &mut Vec<Finding>,
) -> Option<LegacyStore> {
    if !is_legacy(root) {
        return None;
    }
    let top = list_dir_or_finding(root, Path::new(""), findings).unwrap_or_default();
    let names: Vec<String> =
        top.iter().filter_map(|e| e.name.to_str().map(str::to_owned)).collect();
    let driver = names
        .iter()
        .find_map(|n| n.strip_prefix("repositories-").map(str::to_owned))
        .or_else(|| {
            ["aufs", "overlay", "devicemapper", "btrfs", "zfs", "vfs"]
                .iter()
                .find(|d| names.iter().any(|n| n == *d))
                .map(|d| d.to_string())
        });
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(d) = &driver {
        let rel = PathBuf::from(format!("repositories-{d}"));
        match root.read_file(&rel, limits.max_metadata_bytes) {
            Ok(bytes) => match serde_json::from_slice::<Repositories>(&bytes) {
                Ok(r) => {
                    for (name, repo) in r.repositories {
                        for (tag, id) in repo {
                            // A digest "tag" is a name@digest reference.
                            let sep = if tag.contains(':') { "@" } else { ":" };
                            tags.entry(id).or_default().push(format!("{name}{sep}{tag}"));
                        }
                    }
                }
                Err(e) => findings.push(
                    Finding::error(Code::MetadataCorrupt, format!("{}: {e}", rel.display()))
                        .with_file(&rel),
                ),
            },
            Err(e) if e.is_not_found() => {}
            Err(e) => findings.push(read_error_finding(&e, &rel, root.path())),
        }
    }
    let dir_of = |id: &str| {
        let rel = driver.as_deref().and_then(|d| layer_dir(d, id));
        let present = rel.as_ref().is_some_and(|p| root.exists(p));
        (rel.map(|p| p.display().to_string()), present)
    };

    let mut images = Vec::new();
    let graph = Path::new(GRAPH_DIR);
    for entry in list_dir_or_finding(root, graph, findings).unwrap_or_default() {
        let Some(id) = entry.name.to_str().filter(|n| is_v1_id(n)) else { continue };
        let rel = graph.join(id).join("json");
        let v1: V1Image = match root.read_file(&rel, limits.max_metadata_bytes) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(v) => v,
                Err(e) => {
                    findings.push(
                        Finding::error(
                            Code::MetadataCorrupt,
                            format!("pre-1.10 image {id}: json is not valid: {e}"),
                        )
                        .with_file(&rel),
                    );
                    V1Image::default()
                }
            },
            Err(e) => {
                findings.push(read_error_finding(&e, &rel, root.path()));
                V1Image::default()
            }
        };
        if v1.id.as_deref().is_some_and(|j| j != id) {
            findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    format!(
                        "pre-1.10 image {id}: its json says id {:?}",
                        v1.id.unwrap_or_default()
                    ),
                )
                .with_file(&rel),
            );
        }
        let size = root
            .read_file(&graph.join(id).join("layersize"), 64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse().ok())
            .or(v1.size);
        let created_by =
            v1.container_config.as_ref().and_then(|c| c.cmd.as_ref()).map(|c| c.join(" "));
        let (layer_dir, layer_dir_present) = dir_of(id);
        images.push(LegacyImage {
            id: id.to_owned(),
            parent: v1.parent.filter(|p| !p.is_empty()),
            chain: Vec::new(),
            created: v1.created,
            created_by,
            size,
            docker_version: v1.docker_version,
            tags: tags.remove(id).unwrap_or_default(),
            layer_dir,
            layer_dir_present,
        });
    }
    let parents: BTreeMap<String, Option<String>> =
        images.iter().map(|i| (i.id.clone(), i.parent.clone())).collect();
    for img in &mut images {
        let mut cur = img.parent.clone();
        while let Some(p) = cur {
            if img.chain.len() >= MAX_CHAIN || img.chain.contains(&p) || p == img.id {
                break;
            }
            img.chain.push(p.clone());
            cur = parents.get(&p).cloned().flatten();
        }
        if let Some(p) = &img.parent {
            if !parents.contains_key(p) {
                findings.push(
                    Finding::warning(
                        Code::ParentMissing,
                        format!("pre-1.10 image {}: its parent {p} is not under graph/", img.id),
                    )
                    .with_file(graph.join(&img.id)),
                );
            }
        }
    }
    for (id, names) in &tags {
        findings.push(Finding::warning(
            Code::ReferenceBroken,
            format!("{} names pre-1.10 image {id}, which is not under graph/", names.join(", ")),
        ));
    }

    let mut containers = Vec::new();
    let base = Path::new("containers");
    for entry in list_dir_or_finding(root, base, findings).unwrap_or_default() {
        let Some(id) = entry.name.to_str() else { continue };
        if root.exists(&base.join(id).join("config.v2.json")) {
            continue;
        }
        let rel = base.join(id).join("config.json");
        let c: V1Container = match root.read_file(&rel, limits.max_metadata_bytes) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(c) => c,
                Err(e) => {
                    findings.push(
                        Finding::error(
                            Code::MetadataCorrupt,
                            format!("pre-1.10 container {id}: config.json is not valid: {e}"),
                        )
                        .with_file(&rel),
                    );
                    continue;
                }
            },
            Err(e) => {
                findings.push(read_error_finding(&e, &rel, root.path()));
                continue;
            }
        };
        if c.id.as_deref().is_some_and(|j| j != id) {
            findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    format!(
                        "pre-1.10 container {id}: config.json says ID {:?}",
                        c.id.unwrap_or_default()
                    ),
                )
                .with_file(&rel),
            );
        }
        if let Some(img) = c.image.as_deref().filter(|i| !parents.contains_key(*i)) {
            findings.push(
                Finding::warning(
                    Code::ContainerImageMissing,
                    format!("pre-1.10 container {id}: its image {img} is not under graph/"),
                )
                .with_file(&rel),
            );
        }
        let (rw_dir, rw_dir_present) = dir_of(id);
        containers.push(LegacyContainer {
            id: id.to_owned(),
            name: c.name.map(|n| n.trim_start_matches('/').to_owned()),
            image: c.image,
            image_ref: c.config.and_then(|c| c.image),
            created: c.created,
            started_at: c.state.started_at,
            finished_at: c.state.finished_at,
            running: c.state.running,
            exit_code: c.state.exit_code,
            driver: c.driver,
            rw_dir,
            rw_dir_present,
        });
    }
    images.sort_by(|a, b| {
        crate::graph::newest_first(a.created.as_deref(), b.created.as_deref())
            .then_with(|| a.id.cmp(&b.id))
    });
    containers.sort_by(|a, b| {
        crate::graph::newest_first(a.created.as_deref(), b.created.as_deref())
            .then_with(|| a.id.cmp(&b.id))
    });
    findings.push(Finding::info(
        Code::UnsupportedStore,
        format!(
            "pre-1.10 data-root (graph/, {} images, {} containers): its image IDs are random, not content hashes, and it records no DiffIDs or tar-splits, so no image, layer or container content can be verified here; images, tags, parent chains and containers are listed as recorded (a Docker 1.10 to 17.x engine migrates a copy to the content-addressed layout, which strata verifies)",
            images.len(),
            containers.len()
        ),
    ).with_file(GRAPH_DIR));
    Some(LegacyStore { driver, images, containers })
}
