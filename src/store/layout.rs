//! Finding the data-root and deciding which image store in it to read.
//!
//! A data-root can hold more than one store: `image/overlay2` beside an older
//! `image/aufs`, or, since Docker 29, a containerd image store and no graphdriver
//! store at all. strata reads one graphdriver store and says plainly what else it saw.

use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, SafeDir};
use crate::store::graphdriver::DriverKind;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where the data-root came from, for messages.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootSource {
    /// `--root` or `STRATA_ROOT`.
    Flag,
    /// `data-root` in /etc/docker/daemon.json.
    DaemonJson,
    /// A rootless Docker's `~/.local/share/docker`.
    Rootless,
    /// `/var/lib/docker`.
    Default,
    /// Under `--host-root`, as that host's daemon.json or default says.
    HostRoot,
    /// No data-root: `--containerd-root` alone, for a host that runs containerd
    /// without Docker.
    ContainerdOnly,
}

/// The data-root of a mounted host: `data-root` from its daemon.json, else its
/// `/var/lib/docker`, both under `host`.
pub fn host_data_root(host: &Path) -> PathBuf {
    let p = daemon_json_data_root(&host.join("etc/docker/daemon.json"))
        .unwrap_or_else(|| PathBuf::from("/var/lib/docker"));
    crate::store::containerd::locate::under_host(host, &p)
}

/// Picks the data-root: `--root`/`STRATA_ROOT`, else `data-root` in
/// /etc/docker/daemon.json, else the rootless location for a non-root user who has
/// one, else /var/lib/docker.
pub fn resolve_data_root(explicit: Option<&Path>) -> (PathBuf, RootSource) {
    if let Some(p) = explicit {
        return (p.to_path_buf(), RootSource::Flag);
    }
    if let Some(p) = daemon_json_data_root(Path::new("/etc/docker/daemon.json")) {
        return (p, RootSource::DaemonJson);
    }
    if !nix::unistd::geteuid().is_root() {
        let xdg = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")));
        if let Some(base) = xdg {
            let p = base.join("docker");
            if p.is_dir() {
                return (p, RootSource::Rootless);
            }
        }
    }
    (PathBuf::from("/var/lib/docker"), RootSource::Default)
}

/// `data-root` (or the old `graph`) from a daemon.json, if it sets one.
pub fn daemon_json_data_root(path: &Path) -> Option<PathBuf> {
    // The daemon config is small; refuse anything that is not.
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    ["data-root", "graph"].iter().find_map(|k| {
        v.get(*k).and_then(|s| s.as_str()).filter(|s| !s.is_empty()).map(PathBuf::from)
    })
}

/// What image stores a data-root holds.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct StoreLayout {
    /// `image/<name>` directories.
    pub image_stores: Vec<String>,
    /// Known graphdriver homes present and non-empty.
    pub driver_homes: Vec<String>,
    /// The store strata reads, if any.
    pub chosen: Option<String>,
    /// A containerd image store, if one was seen.
    pub containerd: Option<PathBuf>,
}

/// The order Docker itself tries drivers in on Linux.
const DRIVER_PRIORITY: &[&str] = &["overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs", "aufs"];

/// Looks at what the data-root holds and picks the graphdriver store to read.
/// `forced` is `--driver`.
pub fn detect_layout(
    root: &SafeDir,
    forced: Option<&str>,
    findings: &mut Vec<Finding>,
) -> StoreLayout {
    let list = |rel: &str| -> Vec<String> {
        root.read_dir(Path::new(rel))
            .map(|v| {
                v.into_iter()
                    .filter(|e| e.kind == FileKind::Dir)
                    .filter_map(|e| e.name.into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let image_stores = list("image");
    let driver_homes: Vec<String> = DRIVER_PRIORITY
        .iter()
        .filter(|d| root.read_dir(Path::new(d)).map(|v| !v.is_empty()).unwrap_or(false))
        .map(|d| d.to_string())
        .collect();

    let chosen = match forced {
        Some(d) => Some(d.to_owned()),
        None => DRIVER_PRIORITY
            .iter()
            .find(|d| image_stores.iter().any(|s| s == *d) && driver_homes.iter().any(|h| h == *d))
            .or_else(|| DRIVER_PRIORITY.iter().find(|d| image_stores.iter().any(|s| s == *d)))
            .map(|d| d.to_string())
            .or_else(|| image_stores.first().cloned()),
    };

    for s in &image_stores {
        if Some(s) != chosen.as_ref() {
            findings.push(
                Finding::info(
                    Code::UnsupportedStore,
                    format!(
                        "another image store image/{s} is present; strata read image/{} (choose with --driver {s})",
                        chosen.as_deref().unwrap_or("?")
                    ),
                )
                .with_file(Path::new("image").join(s)),
            );
        }
    }
    // A pre-1.10 data-root keeps its images in graph/ beside the driver's directory;
    // store/legacy.rs reads it and says what it is.
    let legacy = chosen.is_none() && crate::store::legacy::is_legacy(root);
    for h in &driver_homes {
        if Some(h) != chosen.as_ref() && !image_stores.contains(h) && !legacy {
            findings.push(
                Finding::info(
                    Code::UnsupportedStore,
                    format!("driver directory {h}/ has no image store beside it: left by an earlier storage driver?"),
                )
                .with_file(h),
            );
        }
    }
    if let Some(c) = &chosen {
        if DriverKind::from_name(c).is_none() {
            findings.push(Finding::warning(
                Code::UnsupportedStore,
                format!("graphdriver {c:?} is not one strata knows the layout of; layer files will not be checked"),
            ));
        }
    }

    // Whether to read it instead is the graph's choice (moby's rules, and a root
    // outside the data-root); here it only keeps the "no store" warning away.
    let containerd = containerd_store(root, chosen.is_some());
    if chosen.is_none() && containerd.is_none() && !legacy {
        findings.push(
            Finding::warning(Code::StoreMissing, "no image store found under image/, and no containerd root beside it: is this a Docker data-root? (for Docker's containerd image store, give --containerd-root DIR, or --host-root DIR for a mounted host)").with_file("image"),
        );
    }
    StoreLayout { image_stores, driver_homes, chosen, containerd }
}

/// The containerd metadata database that dockerd's own containerd keeps under the
/// data-root, or the system one when reading the system data-root. Every dockerd
/// keeps a containerd state directory, and even the graphdriver store leaves a few
/// manifests in its content store after a pull, so only unpacked snapshots (or a
/// content store with no graphdriver store beside it) count as an image store.
fn containerd_store(root: &SafeDir, has_graphdriver_store: bool) -> Option<PathBuf> {
    let non_empty = |p: &Path| root.read_dir(p).map(|v| !v.is_empty()).unwrap_or(false);
    let inner = Path::new("containerd/daemon");
    let meta = inner.join("io.containerd.metadata.v1.bolt/meta.db");
    let snapshots = non_empty(&inner.join("io.containerd.snapshotter.v1.overlayfs/snapshots"));
    let blobs = non_empty(&inner.join("io.containerd.content.v1.content/blobs/sha256"));
    if root.exists(&meta) && (snapshots || (blobs && !has_graphdriver_store)) {
        return Some(root.path().join(meta));
    }
    if root.path() == Path::new("/var/lib/docker") {
        let system = Path::new("/var/lib/containerd");
        let has = |p: &str| {
            std::fs::read_dir(system.join(p)).map(|mut d| d.next().is_some()).unwrap_or(false)
        };
        if system.join("io.containerd.metadata.v1.bolt/meta.db").is_file()
            && has("io.containerd.snapshotter.v1.overlayfs/snapshots")
        {
            return Some(system.join("io.containerd.metadata.v1.bolt/meta.db"));
        }
    }
    None
}
