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

/// One container, from `containers/<id>/config.v2.json`: the fields strata reports.
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
    /// Running, paused, exited... as the file records it.
    pub state: ContainerState,
    /// `Created`, as written (RFC 3339).
    pub created: Option<String>,
    /// `Driver`: the graphdriver (or snapshotter) the container was created on.
    pub driver: Option<String>,
    /// `Path`: the command the container runs.
    pub path: Option<String>,
    /// `Args`: the command's arguments.
    pub args: Vec<String>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `containers/<id>`, relative to the data-root.
    pub dir: PathBuf,
}

/// `State` of a `config.v2.json`: what Docker's one-word status is computed from.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerState {
    /// The container's process is running.
    #[serde(rename = "Running", default)]
    pub running: bool,
    /// Frozen by `docker pause`.
    #[serde(rename = "Paused", default)]
    pub paused: bool,
    /// Being restarted by its restart policy.
    #[serde(rename = "Restarting", default)]
    pub restarting: bool,
    /// The last run was killed by the OOM killer.
    #[serde(rename = "OOMKilled", default)]
    pub oom_killed: bool,
    /// Marked dead: a removal failed part way.
    #[serde(rename = "Dead", default)]
    pub dead: bool,
    /// A `docker rm` was under way.
    #[serde(rename = "RemovalInProgress", default)]
    pub removal_in_progress: bool,
    /// Host PID of the container's process while it ran (0 when stopped).
    #[serde(rename = "Pid", default)]
    pub pid: i64,
    /// Exit status of the last run.
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i64,
    /// The engine's last error starting it, if any.
    #[serde(rename = "Error", default)]
    pub error: String,
    /// When the last run started (Go's zero time when never started).
    #[serde(rename = "StartedAt", default)]
    pub started_at: Option<String>,
    /// When the last run ended.
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
    /// `ID`, to check against the directory name.
    #[serde(rename = "ID", default)]
    pub id: Option<String>,
    /// `Name`, with its leading `/`.
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    /// `Image`: the image ID the engine resolved at create time.
    #[serde(rename = "Image", default)]
    pub image: Option<String>,
    /// `State`.
    #[serde(rename = "State", default)]
    pub state: Option<ContainerState>,
    /// `Created`.
    #[serde(rename = "Created", default)]
    pub created: Option<String>,
    /// `Driver`.
    #[serde(rename = "Driver", default)]
    pub driver: Option<String>,
    /// `Path`.
    #[serde(rename = "Path", default)]
    pub path: Option<String>,
    /// `Args`.
    #[serde(rename = "Args", default)]
    pub args: Option<Vec<String>>,
    /// `Config`: what the user asked for.
    #[serde(rename = "Config", default)]
    pub config: Option<RawContainerConfig>,
}

/// The `Config` object of a `config.v2.json`, every field optional.
#[derive(Deserialize)]
pub struct RawContainerConfig {
    /// `Config.Image`: the image as the user typed it.
    #[serde(rename = "Image", default)]
    pub image: Option<String>,
    /// `Config.Labels`.
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// Reads every `containers/<id>/config.v2.json`, by container ID; an unreadable or unparsable one
/// is a finding and is skipped.
pub fn read_containers(
    ctx: &StoreCtx,
    findings: &mut Vec<Finding>,
) -> BTreeMap<ContainerId, ContainerRecord> {
    let mut out = BTreeMap::new();
    let base = Path::new("containers");
    let entries = ctx.list_dir_or_finding(base, findings).unwrap_or_default();
    let (records, found) = super::par_read(entries, |entry, findings| {
        let id = entry.name.to_str()?;
        let dir = base.join(id);
        let rel = dir.join("config.v2.json");
        let bytes = match ctx.root.read_file(&rel, ctx.limits.max_metadata_bytes) {
            Ok(b) => b,
            // A pre-1.10 container (v1 config.json only): store/legacy.rs lists it.
            Err(e)
                if e.is_not_found()
                    && ctx.root.exists(&dir.join("config.json"))
                    && crate::store::legacy::is_legacy(ctx.root) =>
            {
                return None
            }
            // A container directory without its config: one the engine is creating (the
            // directory comes first, the config after the RW layer) or removing, or a
            // creation a crash cut short. Docker skips it on restore: a warning, not the
            // corruption of a file that is there.
            Err(e) if e.is_not_found() => {
                findings.push(
                    Finding::warning(
                        Code::MetadataCorrupt,
                        format!(
                            "container {id}: no config.v2.json (a container being created or removed, or a creation that never finished); Docker skips it"
                        ),
                    )
                    .with_subject(id)
                    .with_file(&rel),
                );
                return None;
            }
            Err(e) => {
                findings.push(read_error_finding(&e, &rel, ctx.root.path()));
                return None;
            }
        };
        let raw = match parse_container_config(&bytes) {
            Ok(r) => r,
            Err(e) => {
                findings.push(
                    Finding::error(
                        Code::MetadataCorrupt,
                        format!("container {id}: config.v2.json is not valid: {e}"),
                    )
                    .with_file(&rel),
                );
                return None;
            }
        };
        if raw.id.as_deref() != Some(id) {
            findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    format!(
                        "container {id}: config.v2.json says ID {:?}; Docker would not restore it",
                        raw.id.unwrap_or_default()
                    ),
                )
                .with_file(&rel),
            );
        }
        let image = raw.image.as_deref().and_then(|s| match ImageId::parse(s) {
            Ok(i) => Some(i),
            Err(e) => {
                findings.push(
                    Finding::error(Code::MetadataCorrupt, format!("container {id}: Image: {e}"))
                        .with_file(&rel),
                );
                None
            }
        });
        let (image_ref, labels) = match raw.config {
            Some(c) => (c.image, c.labels.unwrap_or_default()),
            None => (None, BTreeMap::new()),
        };
        Some(ContainerRecord {
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
        })
    });
    findings.extend(found);
    out.extend(records.into_iter().map(|c| (c.id.clone(), c)));
    out
}
