//! Finding the containerd root that holds a host's containerd image store.
//!
//! Docker 29's packages run containerd as its own service, so the store is not
//! under the data-root at all: it is containerd's `root` (`/etc/containerd/config.toml`,
//! default `/var/lib/containerd`). A dockerd that runs its own containerd keeps it
//! under `<data-root>/containerd/daemon`. strata never mixes hosts: when the
//! data-root is a copy or evidence, the analyst machine's own containerd is never
//! read, only what lies beside the given root or under `--host-root`.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The metadata database that marks a containerd root.
pub const META_DB: &str = "io.containerd.metadata.v1.bolt/meta.db";

/// How the containerd root was found, for the user to see.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocatedBy {
    /// `--containerd-root` / `STRATA_CONTAINERD_ROOT`.
    Flag,
    /// dockerd's own containerd, under `<data-root>/containerd/daemon`.
    InsideDataRoot,
    /// `root` from the host's containerd config, under `--host-root`.
    HostConfig,
    /// `<host>/var/lib/containerd` under `--host-root`.
    HostDefault,
    /// `lib/containerd` beside a data-root ending in `lib/docker` (a mounted copy).
    BesideDataRoot,
    /// This machine's containerd config, when reading this machine's own data-root.
    SystemConfig,
    /// This machine's `/var/lib/containerd`, likewise.
    SystemDefault,
}

impl LocatedBy {
    /// How the root was found, in words for a person.
    pub fn describe(self) -> &'static str {
        match self {
            LocatedBy::Flag => "given by --containerd-root",
            LocatedBy::InsideDataRoot => "dockerd's own containerd, inside the data-root",
            LocatedBy::HostConfig => {
                "root from the host's /etc/containerd/config.toml under --host-root"
            }
            LocatedBy::HostDefault => "the host's /var/lib/containerd under --host-root",
            LocatedBy::BesideDataRoot => {
                "found beside the data-root (lib/containerd next to lib/docker)"
            }
            LocatedBy::SystemConfig => "root from this machine's /etc/containerd/config.toml",
            LocatedBy::SystemDefault => "this machine's /var/lib/containerd",
        }
    }
}

/// A containerd root and how it was found.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct Location {
    /// The containerd root directory (the one holding `io.containerd.metadata.v1.bolt/`).
    pub path: PathBuf,
    /// Which rule found it.
    pub located_by: LocatedBy,
}

/// What the caller knows about where to look.
#[derive(Debug, Clone, Default)]
pub struct Hints<'a> {
    /// `--containerd-root`.
    pub explicit: Option<&'a Path>,
    /// `--host-root`: a mounted host filesystem.
    pub host_root: Option<&'a Path>,
    /// The data-root being read.
    pub data_root: Option<&'a Path>,
    /// The data-root is this machine's own (not given by `--root` or `--host-root`):
    /// only then may this machine's containerd config be read.
    pub data_root_is_local: bool,
}

fn has_meta(dir: &Path) -> bool {
    // symlink_metadata: a planted link must not make a root look real.
    std::fs::symlink_metadata(dir.join(META_DB)).map(|m| m.is_file()).unwrap_or(false)
}

/// `root = "..."` at the top level of a containerd config.toml (versions 1 to 3
/// all keep it there). A full TOML parser is not needed for one top-level string,
/// and a config that is not small plain text is ignored.
pub fn config_root(config: &str) -> Option<PathBuf> {
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            // Past the top-level table.
            return None;
        }
        let Some(rest) = line.strip_prefix("root") else { continue };
        let Some(value) = rest.trim_start().strip_prefix('=') else { continue };
        let value = value.trim();
        let value = value.split_once(" #").map(|(v, _)| v.trim()).unwrap_or(value);
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))?;
        if unquoted.is_empty() {
            return None;
        }
        return Some(PathBuf::from(unquoted));
    }
    None
}

fn read_config_root(path: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    config_root(&std::fs::read_to_string(path).ok()?)
}

/// Joins an absolute path from a host's config onto the host root.
pub fn under_host(host: &Path, p: &Path) -> PathBuf {
    host.join(p.strip_prefix("/").unwrap_or(p))
}

/// Finds the containerd root for these hints, or `None`.
pub fn locate(h: &Hints<'_>) -> Option<Location> {
    if let Some(p) = h.explicit {
        return Some(Location { path: p.to_path_buf(), located_by: LocatedBy::Flag });
    }
    if let Some(d) = h.data_root {
        let inner = d.join("containerd/daemon");
        if has_meta(&inner) {
            return Some(Location { path: inner, located_by: LocatedBy::InsideDataRoot });
        }
    }
    if let Some(host) = h.host_root {
        if let Some(root) = read_config_root(&host.join("etc/containerd/config.toml")) {
            let p = under_host(host, &root);
            if has_meta(&p) {
                return Some(Location { path: p, located_by: LocatedBy::HostConfig });
            }
        }
        let p = host.join("var/lib/containerd");
        return has_meta(&p).then_some(Location { path: p, located_by: LocatedBy::HostDefault });
    }
    if let Some(d) = h.data_root {
        if d.ends_with("lib/docker") {
            if let Some(lib) = d.parent() {
                let p = lib.join("containerd");
                if has_meta(&p) {
                    return Some(Location { path: p, located_by: LocatedBy::BesideDataRoot });
                }
            }
        }
    }
    if h.data_root_is_local {
        if let Some(root) = read_config_root(Path::new("/etc/containerd/config.toml")) {
            if has_meta(&root) {
                return Some(Location { path: root, located_by: LocatedBy::SystemConfig });
            }
        }
        let p = PathBuf::from("/var/lib/containerd");
        if has_meta(&p) {
            return Some(Location { path: p, located_by: LocatedBy::SystemDefault });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_root_reads_the_top_level_key_only() {
        assert_eq!(
            config_root("version = 3\nroot = \"/srv/ctd\"\nstate = \"/run/x\"\n"),
            Some(PathBuf::from("/srv/ctd"))
        );
        assert_eq!(config_root("root='/a' # comment\n"), Some(PathBuf::from("/a")));
        assert_eq!(config_root("[plugins.x]\nroot = \"/nested\"\n"), None);
        assert_eq!(config_root("rootless = true\n"), None);
        assert_eq!(config_root("state = \"/run\"\n"), None);
    }

    #[test]
    fn evidence_never_falls_back_to_this_machine() {
        let tmp = std::env::temp_dir().join(format!("strata-locate-{}", std::process::id()));
        let data = tmp.join("mnt/var/lib/docker");
        std::fs::create_dir_all(&data).unwrap();
        let h = Hints { data_root: Some(&data), ..Default::default() };
        assert!(locate(&h).is_none());
        let beside = tmp.join("mnt/var/lib/containerd/io.containerd.metadata.v1.bolt");
        std::fs::create_dir_all(&beside).unwrap();
        std::fs::write(beside.join("meta.db"), b"x").unwrap();
        let found = locate(&h).unwrap();
        assert_eq!(found.located_by, LocatedBy::BesideDataRoot);
        assert_eq!(found.path, tmp.join("mnt/var/lib/containerd"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
