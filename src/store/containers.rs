//! Reader for `containers/<id>/config.v2.json` (and `hostconfig.json`).
//!
//! Only the fields strata reports are parsed, each optional: containers made by old
//! engines, by `docker create` of a `hello-world`-like image, or left half-written
//! by a crash must still be listed.

use super::{read_error_finding, StoreCtx};
use crate::digest::ImageId;
use crate::finding::{Code, Finding};
use crate::id::ContainerId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ContainerRecord {
    /// Directory name; checked against the `ID` inside the file.
    pub id: ContainerId,
    /// Without the leading `/`.
    pub name: Option<String>,
    /// The resolved image ID.
    pub image: Option<ImageId>,
    /// What the user typed (`Config.Image`): a name, a short id, anything.
    pub image_ref: Option<String>,
    pub state: ContainerState,
    pub created: Option<String>,
    pub driver: Option<String>,
    pub path: Option<String>,
    pub args: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerState {
    #[serde(rename = "Running", default)]
    pub running: bool,
    #[serde(rename = "Paused", default)]
    pub paused: bool,
    #[serde(rename = "Restarting", default)]
    pub restarting: bool,
    #[serde(rename = "OOMKilled", default)]
    pub oom_killed: bool,
    #[serde(rename = "Dead", default)]
    pub dead: bool,
    #[serde(rename = "RemovalInProgress", default)]
    pub removal_in_progress: bool,
    #[serde(rename = "Pid", default)]
    pub pid: i64,
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i64,
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "StartedAt", default)]
    pub started_at: Option<String>,
    #[serde(rename = "FinishedAt", default)]
    pub finished_at: Option<String>,
}

impl ContainerState {
    /// Docker's one-word state, computed as the engine does.
    pub fn status(&self) -> &'static str {
        if self.running {
            if self.paused {
                "paused"
            } else if self.restarting {
                "restarting"
            } else {
                "running"
            }
        } else if self.removal_in_progress {
            "removing"
        } else if self.dead {
            "dead"
        } else if self.started_at.as_deref().is_none_or(is_zero_time) {
            "created"
        } else {
            "exited"
        }
    }

    /// Whether `docker system df` counts this container's RW layer as reclaimable.
    pub fn is_active(&self) -> bool {
        self.running || self.paused || self.restarting
    }
}

/// Go's zero `time.Time` as JSON.
fn is_zero_time(s: &str) -> bool {
    s.is_empty() || s.starts_with("0001-01-01T00:00:00")
}

/// Parses the bytes of a `config.v2.json`: the fields strata reports, each optional.
pub fn parse_container_config(bytes: &[u8]) -> Result<RawContainer, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// `config.v2.json` as written, every field optional.
#[derive(Deserialize)]
pub struct RawContainer {
    #[serde(rename = "ID", default)]
    pub id: Option<String>,
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "Image", default)]
    pub image: Option<String>,
    #[serde(rename = "State", default)]
    pub state: Option<ContainerState>,
    #[serde(rename = "Created", default)]
    pub created: Option<String>,
    #[serde(rename = "Driver", default)]
    pub driver: Option<String>,
    #[serde(rename = "Path", default)]
    pub path: Option<String>,
    #[serde(rename = "Args", default)]
    pub args: Option<Vec<String>>,
    #[serde(rename = "Config", default)]
    pub config: Option<RawContainerConfig>,
}

#[derive(Deserialize)]
pub struct RawContainerConfig {
    #[serde(rename = "Image", default)]
    pub image: Option<String>,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

pub fn read_containers(ctx: &StoreCtx, findings: &mut Vec<Finding>) -> BTreeMap<ContainerId, ContainerRecord> {
    let mut out = BTreeMap::new();
    let base = Path::new("containers");
    for entry in ctx.list_dir_or_finding(base, findings).unwrap_or_default() {
        let Some(id) = entry.name.to_str() else { continue };
        let dir = base.join(id);
        let rel = dir.join("config.v2.json");
        let bytes = match ctx.root.read_file(&rel, ctx.limits.max_metadata_bytes) {
            Ok(b) => b,
            Err(e) => {
                findings.push(read_error_finding(&e, &rel, ctx.root.path()));
                continue;
            }
        };
        let raw = match parse_container_config(&bytes) {
            Ok(r) => r,
            Err(e) => {
                findings.push(
                    Finding::error(Code::MetadataCorrupt, format!("container {id}: config.v2.json is not valid: {e}")).with_file(&rel),
                );
                continue;
            }
        };
        if raw.id.as_deref() != Some(id) {
            findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    format!("container {id}: config.v2.json says ID {:?}; Docker would not restore it", raw.id.unwrap_or_default()),
                )
                .with_file(&rel),
            );
        }
        let image = raw.image.as_deref().and_then(|s| match ImageId::parse(s) {
            Ok(i) => Some(i),
            Err(e) => {
                findings.push(Finding::error(Code::MetadataCorrupt, format!("container {id}: Image: {e}")).with_file(&rel));
                None
            }
        });
        let (image_ref, labels) = match raw.config {
            Some(c) => (c.image, c.labels.unwrap_or_default()),
            None => (None, BTreeMap::new()),
        };
        out.insert(
            ContainerId::new(id),
            ContainerRecord {
                id: ContainerId::new(id),
                name: raw.name.map(|n| n.trim_start_matches('/').to_owned()),
                image,
                image_ref,
                state: raw.state.unwrap_or_default(),
                created: raw.created,
                driver: raw.driver,
                path: raw.path,
                args: raw.args.unwrap_or_default(),
                labels,
                dir,
            },
        );
    }
    out
}
