//! Local volumes: `<data-root>/volumes/metadata.db` (bbolt, moby `volume/service/db.go`:
//! bucket `volumes`, key the volume name, value JSON `{"Name","Driver","Labels","Options"}`)
//! and, for the `local` driver, the data in `volumes/<name>/_data`.
//!
//! Sizes are counted as the engine's `/system/df` counts them (moby `directory.Size`):
//! the apparent size of every non-directory under `_data`, each inode once. Volumes of
//! other drivers have no size (`-1` in the engine's answer, null here). `RefCount` is the
//! number of containers whose `MountPoints` (config.v2.json) name the volume.

use crate::analysis::usage::dir_size;
use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, Limits, SafeDir};
use crate::store::containerd::bbolt::Value;
use crate::store::containerd::open_bolt;
use crate::store::read_error_finding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The volumes directory, relative to the data-root.
pub const VOLUMES_DIR: &str = "volumes";
/// The label Docker 23+ puts on volumes made for an anonymous mount.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct Volume {
    /// The volume's name.
    pub name: String,
    /// Its driver (`local` for volumes strata can measure).
    pub driver: String,
    /// Made for an anonymous mount (`-v /path`, an image's `VOLUME`): the anonymous
    /// label (Docker 23+); on older engines, which set no label, a container mount point
    /// that holds it with no source given (the engine named it), or, when no container
    /// holds it, a 64-hex name with no labels.
    pub anonymous: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its driver options.
    pub options: BTreeMap<String, String>,
    /// `volumes/<name>/_data`, relative to the data-root (local driver).
    pub mountpoint: Option<String>,
    /// Bytes by the engine's rule; null for other drivers or when unreadable.
    pub size: Option<i64>,
    /// Containers that mount it (Docker's `RefCount`).
    pub ref_count: usize,
    /// Their IDs.
    pub containers: Vec<String>,
}

impl Volume {
    /// Not mounted by any container: `docker volume prune` frees it (anonymous ones by
    /// default, named ones with `--all`).
    pub fn reclaimable(&self) -> bool {
        self.ref_count == 0
    }
}

#[derive(Deserialize, Default)]
struct RawVolume {
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "Driver", default)]
    driver: Option<String>,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "Options", default)]
    options: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct RawMountPoint {
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "Type", default)]
    kind: Option<String>,
    /// The mount as the user asked for it: `-v NAME:/dst` or `--mount source=NAME` leave
    /// `Source` = NAME; `-v /dst` (which the CLI sends as `Config.Volumes`, not a bind), an
    /// image's `VOLUME` and `--mount type=volume` without a source leave `{}` or `""`,
    /// and the engine then makes a volume with a random 64-hex name.
    #[serde(rename = "Spec", default)]
    spec: Option<RawMountSpec>,
}

#[derive(Deserialize)]
struct RawMountSpec {
    #[serde(rename = "Source", default)]
    source: Option<String>,
}

#[derive(Deserialize)]
struct RawConfigMounts {
    #[serde(rename = "MountPoints", default)]
    mount_points: Option<BTreeMap<String, RawMountPoint>>,
}

/// The containers that mount each volume, from their config.v2.json `MountPoints`.
#[derive(Debug, Default)]
pub struct VolumeUsers {
    /// Volume name → IDs of the containers that mount it.
    pub by_volume: BTreeMap<String, Vec<String>>,
    /// Volumes that some container holds through a mount point with no source given:
    /// the engine made them for an anonymous mount.
    pub made_anonymous: std::collections::BTreeSet<String>,
}

/// Reads every container's volume mount points, the containers at once on the reader pool
/// (`store::par_read`): a big host has a thousand containers or more, and this is the
/// second read of their `config.v2.json` (the graph's reader keeps none of `MountPoints`).
pub fn mount_points(root: &SafeDir, limits: &Limits) -> VolumeUsers {
    let mut users = VolumeUsers::default();
    let Ok(entries) = root.read_dir(Path::new("containers")) else { return users };
    let ids: Vec<String> = entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Dir)
        .filter_map(|e| e.name.to_str().map(str::to_owned))
        .collect();
    let (mounts, _) = super::par_read(ids, |id, _| {
        let rel = Path::new("containers").join(&id).join("config.v2.json");
        let bytes = root.read_file(&rel, limits.max_metadata_bytes).ok()?;
        let cfg = serde_json::from_slice::<RawConfigMounts>(&bytes).ok()?;
        Some((id, cfg.mount_points.unwrap_or_default()))
    });
    for (id, mount_points) in mounts {
        let mut names: Vec<String> = Vec::new();
        for m in mount_points.into_values() {
            if m.kind.as_deref().is_some_and(|k| k != "volume") {
                continue;
            }
            let Some(name) = m.name.filter(|n| !n.is_empty()) else { continue };
            let source_given = m.spec.and_then(|s| s.source).is_some_and(|s| !s.is_empty());
            if !source_given {
                users.made_anonymous.insert(name.clone());
            }
            names.push(name);
        }
        names.sort();
        names.dedup();
        for n in names {
            users.by_volume.entry(n).or_default().push(id.clone());
        }
    }
    users
}

/// Whether a volume was made for an anonymous mount. Docker 23+ says so with a label. Older
/// engines (20.10) set none, so the containers' mount points decide: one that holds the
/// volume with no source given means the engine made and named it. A volume no container
/// holds any more leaves only its name: 64 hex digits (the engine's random ID) and no labels.
fn is_anonymous(
    name: &str,
    labels: &BTreeMap<String, String>,
    users: &VolumeUsers,
    mounted: bool,
) -> bool {
    if labels.contains_key(ANONYMOUS_LABEL) || users.made_anonymous.contains(name) {
        return true;
    }
    !mounted
        && labels.is_empty()
        && name.len() == 64
        && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A volume name strata joins to a path: what moby accepts (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Reads every volume, sorted by name. No `volumes/` gives an empty list.
pub fn read_volumes(root: &SafeDir, limits: &Limits, findings: &mut Vec<Finding>) -> Vec<Volume> {
    let rel = format!("{VOLUMES_DIR}/metadata.db");
    let mut raw: BTreeMap<String, RawVolume> = BTreeMap::new();
    if let Some(db) = open_bolt(root, &rel, limits, false, findings) {
        let bucket = match db.root().bucket(b"volumes") {
            Ok(b) => b,
            Err(e) => {
                findings.push(
                    Finding::error(Code::MetadataCorrupt, format!("{rel}: {e}")).with_file(&rel),
                );
                None
            }
        };
        if let Some(b) = bucket {
            for item in b.iter() {
                match item {
                    Ok((k, Value::Data(v))) => {
                        let Ok(name) = std::str::from_utf8(k) else { continue };
                        match serde_json::from_slice::<RawVolume>(v) {
                            Ok(r) => {
                                raw.insert(name.to_owned(), r);
                            }
                            Err(e) => {
                                findings.push(
                                    Finding::error(
                                        Code::MetadataCorrupt,
                                        format!("{rel}: volume {name}: {e}"),
                                    )
                                    .with_file(&rel),
                                );
                                raw.insert(name.to_owned(), RawVolume::default());
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        findings.push(
                            Finding::error(Code::MetadataCorrupt, format!("{rel}: {e}"))
                                .with_file(&rel),
                        );
                        break;
                    }
                }
            }
        }
    }
    // A local volume without a metadata entry is still a volume to the engine (its
    // local driver lists the directories): a `<name>/_data` dir.
    if let Ok(entries) = root.read_dir(Path::new(VOLUMES_DIR)) {
        for e in entries {
            let Some(name) = e.name.to_str() else { continue };
            if e.kind == FileKind::Dir
                && is_valid_name(name)
                && root.exists(&Path::new(VOLUMES_DIR).join(name).join("_data"))
            {
                raw.entry(name.to_owned()).or_insert_with(|| RawVolume {
                    driver: Some("local".into()),
                    ..Default::default()
                });
            }
        }
    }
    // Who mounts what matters only for a volume that is there.
    let users = if raw.is_empty() { VolumeUsers::default() } else { mount_points(root, limits) };
    let mut out = Vec::new();
    for (name, r) in raw {
        let driver = r.driver.filter(|d| !d.is_empty()).unwrap_or_else(|| "local".to_owned());
        let labels = r.labels.unwrap_or_default();
        let (mountpoint, size) = if driver == "local" && is_valid_name(&name) {
            let data: PathBuf = Path::new(VOLUMES_DIR).join(&name).join("_data");
            let size = match dir_size(root, &data) {
                Ok((n, problems)) => {
                    for p in &problems {
                        let rel_p =
                            p.path.strip_prefix(root.path()).unwrap_or(&p.path).to_path_buf();
                        findings.push(read_error_finding(p, &rel_p, root.path()));
                    }
                    Some(i64::try_from(n).unwrap_or(i64::MAX))
                }
                Err(e) => {
                    if !e.is_not_found() {
                        findings.push(read_error_finding(&e, &data, root.path()));
                    }
                    None
                }
            };
            (Some(data.to_string_lossy().into_owned()), size)
        } else {
            (None, None)
        };
        let containers = users.by_volume.get(&name).cloned().unwrap_or_default();
        let _ = r.name;
        out.push(Volume {
            anonymous: is_anonymous(&name, &labels, &users, !containers.is_empty()),
            name,
            driver,
            labels,
            options: r.options.unwrap_or_default(),
            mountpoint,
            size,
            ref_count: containers.len(),
            containers,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "318f099dc7ba8a266ef8cc1ca14a2a8f1fd3ea5bc838161f2f53806876d6906b";

    #[test]
    fn anonymous_by_label_then_mount_point_then_name() {
        let none = BTreeMap::new();
        let label = BTreeMap::from([(ANONYMOUS_LABEL.to_owned(), String::new())]);
        let mut users = VolumeUsers::default();
        // Docker 23+: the label, whatever the name.
        assert!(is_anonymous("strata-named", &label, &users, true));
        // 20.10, mounted: the mount point decides, not the name.
        assert!(!is_anonymous(HEX, &none, &users, true), "named explicitly with a hex name");
        users.made_anonymous.insert("some-name".to_owned());
        assert!(is_anonymous("some-name", &none, &users, true));
        // 20.10, mounted by nobody: only the name is left.
        assert!(is_anonymous(HEX, &none, &users, false));
        assert!(!is_anonymous(&HEX[1..], &none, &users, false));
        let other = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
        assert!(!is_anonymous(HEX, &other, &users, false));
    }
}
