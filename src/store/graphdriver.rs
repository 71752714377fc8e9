//! Reader for the graphdriver home (`<root>/<driver>/`): where layer files live.
//!
//! Layers are named by cache-id and RW layers by mount-id; which subdirectory holds
//! a layer's files depends on the driver, and only this module knows those layouts.

use super::{quoted, ParseError, StoreCtx};
use crate::finding::{Code, Finding};
use crate::fsread::FileKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Graphdrivers strata knows the layout of.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriverKind {
    /// Per-layer diffs, overlay whiteouts (0/0 char devices, opaque xattr).
    Overlay2,
    /// Same layout as overlay2, but whiteouts stored as literal `.wh.` files.
    FuseOverlayfs,
    /// Per-layer diffs with literal `.wh.` whiteouts.
    Aufs,
    /// A full copy of the filesystem per layer.
    Vfs,
    /// A subvolume (full filesystem) per layer.
    Btrfs,
    /// A dataset per layer; its files are only reachable when mounted.
    Zfs,
}

impl DriverKind {
    /// The driver for a directory name under `image/` (`overlay2`...); `None` for one strata cannot
    /// read.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "overlay2" => Self::Overlay2,
            "fuse-overlayfs" => Self::FuseOverlayfs,
            "aufs" => Self::Aufs,
            "vfs" => Self::Vfs,
            "btrfs" => Self::Btrfs,
            "zfs" => Self::Zfs,
            _ => return None,
        })
    }

    /// The driver's name, as in `image/<name>` and `<data-root>/<name>`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Overlay2 => "overlay2",
            Self::FuseOverlayfs => "fuse-overlayfs",
            Self::Aufs => "aufs",
            Self::Vfs => "vfs",
            Self::Btrfs => "btrfs",
            Self::Zfs => "zfs",
        }
    }

    /// Whether each layer directory holds only that layer's changes (so it can be
    /// compared entry by entry with the layer's tar), rather than a whole filesystem.
    pub fn stores_diffs(&self) -> bool {
        matches!(self, Self::Overlay2 | Self::FuseOverlayfs | Self::Aufs)
    }

    /// Whether whiteouts are 0/0 character devices and opaque dirs an xattr (overlay
    /// format) rather than `.wh.` files (aufs format).
    pub fn overlay_whiteouts(&self) -> bool {
        matches!(self, Self::Overlay2)
    }

    /// Directory under the driver home that lists one entry per layer.
    fn listing_dir(&self) -> &'static str {
        match self {
            Self::Overlay2 | Self::FuseOverlayfs => "",
            Self::Aufs => "diff",
            Self::Vfs => "dir",
            Self::Btrfs => "subvolumes",
            Self::Zfs => "graph",
        }
    }

    /// The directory of layer `id`, relative to the data-root: what must exist.
    pub fn layer_dir(&self, id: &str) -> PathBuf {
        super::join_exact(Path::new(self.name()), &[self.listing_dir(), id])
    }

    /// Where the files of layer `id` are, relative to the data-root.
    pub fn content_dir(&self, id: &str) -> PathBuf {
        match self {
            Self::Overlay2 | Self::FuseOverlayfs => {
                super::join_exact(Path::new(self.name()), &[self.listing_dir(), id, "diff"])
            }
            _ => self.layer_dir(id),
        }
    }
}

/// One directory in the driver home.
#[derive(Debug, Clone)]
pub struct DriverDir {
    /// The entry's name: a cache-id or mount-id (`-init` for init layers).
    pub name: String,
    /// Relative to the data-root.
    pub path: PathBuf,
    /// Its file type (a layer's is a directory).
    pub kind: FileKind,
    /// overlay2: the short name in `l/`.
    pub link: Option<String>,
    /// overlay2: `l/<short>` entries of the lower layers, nearest first.
    pub lower: Option<Vec<String>>,
}

/// An overlay2 `l/<short>` symlink.
#[derive(Debug, Clone)]
pub struct ShortLink {
    /// The link's name (26 base32 characters in moby).
    pub name: String,
    /// The link text, expected to be `../<id>/diff`.
    pub target: Option<String>,
}

/// What the graphdriver home holds: a directory per layer, and overlay2's short links.
#[derive(Debug, Clone)]
pub struct DriverHome {
    /// The driver, which fixes the layout.
    pub kind: DriverKind,
    /// Every entry of the layer listing, by name (cache-id or mount-id).
    pub dirs: BTreeMap<String, DriverDir>,
    /// overlay2's `l/` symlinks (read only when asked for: see [`read_driver_home`]).
    pub links: Vec<ShortLink>,
    /// The listing was read: `dirs` is every entry there, so a name not in it is absent.
    pub listed: bool,
}

impl DriverHome {
    /// Whether the directory of layer `id` is present, when the listing can say
    /// (`None`: look on disk). overlay2's `l` is not kept in `dirs`.
    pub fn holds(&self, id: &str) -> Option<bool> {
        let hidden =
            matches!(self.kind, DriverKind::Overlay2 | DriverKind::FuseOverlayfs) && id == "l";
        (self.listed && !hidden).then(|| self.dirs.contains_key(id))
    }
}

/// overlay2 short link names (`link`, and `l/<name>`): moby makes them 26 random
/// base32 characters. Anything that is not plain ASCII letters and digits (a NUL-filled
/// file after a crash, a `..`, a `/`) is refused rather than shown or joined to a path.
pub fn is_valid_link_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Parses an overlay2 `link` file: one short name, surrounding whitespace ignored.
pub fn parse_link(text: &str) -> Result<String, ParseError> {
    let t = text.trim();
    if is_valid_link_name(t) {
        Ok(t.to_owned())
    } else {
        Err(ParseError::BadLinkName(quoted(t, 80)))
    }
}

/// Parses an overlay2 `lower` file: `l/<name>` entries separated by `:`, nearest first.
pub fn parse_lower(text: &str) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    for entry in text.trim().split(':').filter(|p| !p.is_empty()) {
        match entry.strip_prefix("l/") {
            Some(name) if is_valid_link_name(name) => out.push(entry.to_owned()),
            _ => return Err(ParseError::BadLowerEntry(quoted(entry, 80))),
        }
    }
    Ok(out)
}

/// Reads the driver home's listing, and with `links` for overlay2 each layer's `link` and
/// `lower` and the `l/` links.
///
/// `links` is off for the listings (`images`, `df`, ...): they need which directories exist,
/// not overlay2's short-link bookkeeping, which is two more files a layer and a symlink for
/// every layer (33,000 reads on a 10,000-image host). The audit, verify and inspect read them.
pub fn read_driver_home(
    ctx: &StoreCtx,
    kind: DriverKind,
    links: bool,
    findings: &mut Vec<Finding>,
) -> DriverHome {
    let overlay = matches!(kind, DriverKind::Overlay2 | DriverKind::FuseOverlayfs);
    let listing = Path::new(kind.name()).join(kind.listing_dir());
    let entries = ctx.list_dir_or_finding(&listing, findings);
    let listed = entries.is_some();
    let entries: Vec<_> =
        entries.unwrap_or_default().into_iter().filter(|e| !(overlay && e.name == "l")).collect();
    let (dirs, found) = super::par_read(entries, |entry, findings| {
        let name = entry.name.to_str()?;
        let path = super::join_exact(&listing, &[name]);
        let (link, lower) = if overlay && links && entry.kind == FileKind::Dir {
            let mut checked =
                |file: &str, parse: &dyn Fn(&str) -> Result<Vec<String>, ParseError>| {
                    let rel = path.join(file);
                    let text = ctx.read_small_text(&rel, findings)?;
                    match parse(&text) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            findings.push(
                                Finding::error(
                                    Code::MetadataCorrupt,
                                    format!("{}: {e}", rel.display()),
                                )
                                .with_file(&rel),
                            );
                            None
                        }
                    }
                };
            let link =
                checked("link", &|t| parse_link(t).map(|l| vec![l])).and_then(|mut v| v.pop());
            let lower = checked("lower", &parse_lower);
            (link, lower)
        } else {
            (None, None)
        };
        Some(DriverDir { name: name.to_owned(), path, kind: entry.kind, link, lower })
    });
    findings.extend(found);
    let mut home = DriverHome {
        kind,
        dirs: dirs.into_iter().map(|d| (d.name.clone(), d)).collect(),
        links: Vec::new(),
        listed,
    };
    if overlay && links {
        let l = Path::new(kind.name()).join("l");
        let entries = ctx.list_dir_or_finding(&l, findings).unwrap_or_default();
        // One open of `l/`, then a readlinkat by name for each link.
        if let Ok(dir) = ctx.root.open_dir(&l) {
            let (read, _) = super::par_read(entries, |entry, _| {
                let name = entry.name.to_str()?;
                let target = dir
                    .read_link(Path::new(name))
                    .ok()
                    .map(|t| String::from_utf8_lossy(&t).into_owned());
                Some(ShortLink { name: name.to_owned(), target })
            });
            home.links = read;
        }
    }
    home
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_and_lower_refuse_what_moby_never_writes() {
        assert_eq!(
            parse_link("GJAMBQ42PWL77AFX3L36Q5TNVD\n").unwrap(),
            "GJAMBQ42PWL77AFX3L36Q5TNVD"
        );
        // Found by the corruption campaign: a zero-filled file (as a crash leaves it).
        assert!(parse_link(&"\0".repeat(26)).is_err());
        assert!(parse_link("../../etc").is_err());
        assert!(parse_link("").is_err());
        assert_eq!(parse_lower("l/AAA:l/BBB").unwrap(), vec!["l/AAA", "l/BBB"]);
        assert_eq!(parse_lower("").unwrap(), Vec::<String>::new());
        assert!(parse_lower(&"\0".repeat(60)).is_err());
        assert!(parse_lower("l/AAA:l/../../etc").is_err());
        assert!(parse_lower("/etc").is_err());
    }
}
