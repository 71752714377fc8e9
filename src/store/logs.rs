//! Container log files, which `docker system df` does not count:
//! - `json-file`: `containers/<id>/<id>-json.log` and its rotations `<id>-json.log.1`,
//!   `.2`, ... (`.N.gz` when compressed);
//! - `local`: `containers/<id>/local-logs/container.log` and its rotations
//!   (`container.log.N`, `.N.gz`).
//!
//! Sizes are apparent (`st_size`) and allocated (`st_blocks * 512`).

use crate::fsread::{FileKind, SafeDir};
use serde::Serialize;
use std::path::Path;

/// One log file.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct LogFile {
    /// Relative to the data-root.
    pub path: String,
    /// Apparent size in bytes (`st_size`).
    pub size: u64,
    /// Bytes allocated on disk (`st_blocks * 512`).
    pub allocated: u64,
}

/// One container's log files.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct ContainerLogs {
    /// The container's ID.
    pub container: String,
    /// `json-file` or `local`, from the file names found.
    pub driver: String,
    /// The log file and its rotations.
    pub files: Vec<LogFile>,
    /// Apparent size of all its files, in bytes.
    pub size: u64,
    /// Bytes allocated on disk for all its files.
    pub allocated: u64,
}

/// Whether `name` is a json-file log of container `id`, or one of its rotations.
fn is_json_log(id: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(id).and_then(|r| r.strip_prefix("-json.log")) else {
        return false;
    };
    is_rotation_suffix(rest)
}

/// `""`, `.N` or `.N.gz`.
fn is_rotation_suffix(rest: &str) -> bool {
    if rest.is_empty() {
        return true;
    }
    let Some(n) = rest.strip_prefix('.') else { return false };
    let n = n.strip_suffix(".gz").unwrap_or(n);
    !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit())
}

/// Directories of the `local` log driver inside a container's directory (moby's
/// `local.Name + "-logs"`; `container-logs` is accepted too).
pub const LOCAL_LOG_DIRS: [&str; 2] = ["local-logs", "container-logs"];

/// Reads every container's log files, sorted by container ID; containers without
/// log files are left out.
pub fn read_logs(root: &SafeDir) -> Vec<ContainerLogs> {
    let mut out = Vec::new();
    let Ok(mut entries) = root.read_dir(Path::new("containers")) else { return out };
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        if e.kind != FileKind::Dir {
            continue;
        }
        let Some(id) = e.name.to_str() else { continue };
        let dir = Path::new("containers").join(id);
        let mut files = Vec::new();
        let mut driver = "json-file";
        let add = |rel: &Path, files: &mut Vec<LogFile>| {
            if let Ok(m) = root.lstat(rel) {
                if m.kind == FileKind::File {
                    files.push(LogFile {
                        path: rel.to_string_lossy().into_owned(),
                        size: m.size,
                        allocated: m.blocks.saturating_mul(512),
                    });
                }
            }
        };
        // The container directory's listing also says which `local` log directories
        // exist: only those are opened (two failed opens a container otherwise).
        let mut local_dirs: Vec<&'static str> = Vec::new();
        if let Ok(list) = root.read_dir(&dir) {
            let mut names: Vec<String> = Vec::new();
            for d in list {
                let Ok(n) = d.name.into_string() else { continue };
                if let Some(l) = LOCAL_LOG_DIRS.iter().find(|l| **l == n) {
                    if d.kind == FileKind::Dir {
                        local_dirs.push(l);
                    }
                } else if is_json_log(id, &n) {
                    names.push(n);
                }
            }
            names.sort();
            for n in names {
                add(&dir.join(n), &mut files);
            }
        }
        // In LOCAL_LOG_DIRS' order, whatever order the directory listed them in.
        let listed = LOCAL_LOG_DIRS.iter().filter(|l| local_dirs.contains(l));
        for local in listed.map(|d| dir.join(d)) {
            let Ok(list) = root.read_dir(&local) else { continue };
            let mut names: Vec<String> = list
                .into_iter()
                .filter_map(|d| d.name.into_string().ok())
                .filter(|n| n.strip_prefix("container.log").is_some_and(is_rotation_suffix))
                .collect();
            names.sort();
            if !names.is_empty() && files.is_empty() {
                driver = "local";
            }
            for n in names {
                add(&local.join(n), &mut files);
            }
        }
        if files.is_empty() {
            continue;
        }
        let size = files.iter().map(|f| f.size).fold(0, u64::saturating_add);
        let allocated = files.iter().map(|f| f.allocated).fold(0, u64::saturating_add);
        out.push(ContainerLogs {
            container: id.to_owned(),
            driver: driver.to_owned(),
            files,
            size,
            allocated,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_names() {
        assert!(is_json_log("abc", "abc-json.log"));
        assert!(is_json_log("abc", "abc-json.log.1"));
        assert!(is_json_log("abc", "abc-json.log.12.gz"));
        assert!(!is_json_log("abc", "abc-json.log.x"));
        assert!(!is_json_log("abc", "abd-json.log"));
        assert!(!is_json_log("abc", "abc-json.log."));
    }
}
