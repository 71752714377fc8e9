//! User namespaces: the owner shift of `--userns-remap` and rootless data-roots.
//!
//! Both kinds of engine unpack layers inside a user namespace, so the owners on disk
//! are the container's owners moved into the host's subordinate ranges:
//!
//! * `dockerd --userns-remap=USER` keeps its whole store under
//!   `<data-root>/<uid>.<gid>/`, named after the first host id of the range; container
//!   id `n` is host id `uid + n` (`/etc/subuid`, `/etc/subgid` of USER give the length).
//! * A rootless dockerd runs as a normal user: container root is that user, container
//!   ids `1..` are the user's `/etc/subuid` and `/etc/subgid` range (rootlesskit's
//!   `newuidmap` layout), and its data-root (`~/.local/share/docker`) belongs to it.
//!
//! This module finds the remapped root(s), and reads the ranges from the host's files
//! (under `--host-root` when given) where it can; where it cannot, `verify` infers
//! the subordinate base from the layers (see `verify::run`).

use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, SafeDir};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The most ranges one id map holds: rootless needs two (root, then the subordinate
/// range); more lines in /etc/subuid than this are ignored.
pub const MAX_EXTENTS: usize = 4;
/// The length Docker gives a range it creates (`--userns-remap=default`), and what is
/// assumed when the host's files are not there.
pub const DEFAULT_RANGE: u32 = 65536;
/// /etc/passwd, /etc/subuid, /etc/subgid are small; refuse anything that is not.
const MAX_ID_FILE: u64 = 4 << 20;

/// One contiguous range of ids: container ids `inside..inside+count` are host ids
/// `outside..outside+count` (a line of `/proc/<pid>/uid_map`).
#[derive(schemars::JsonSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Extent {
    /// First id inside the container.
    pub inside: u32,
    /// First id on the host (on disk).
    pub outside: u32,
    /// How many ids.
    pub count: u32,
}

/// One direction of a mapping (uids or gids), at most [`MAX_EXTENTS`] ranges; copied
/// into every layer job. Empty means identity: what is on disk is the container's id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdRanges {
    extents: [Extent; MAX_EXTENTS],
    len: usize,
}

impl IdRanges {
    /// The ranges given (the first [`MAX_EXTENTS`]).
    pub fn new(extents: &[Extent]) -> Self {
        let mut r = IdRanges::default();
        for e in extents.iter().filter(|e| e.count > 0).take(MAX_EXTENTS) {
            r.extents[r.len] = *e;
            r.len += 1;
        }
        r
    }

    /// The ranges.
    pub fn extents(&self) -> &[Extent] {
        &self.extents[..self.len]
    }

    /// Whether ids are not shifted at all.
    pub fn is_identity(&self) -> bool {
        self.len == 0
    }

    /// The container id of host id `host`; `None` when no range holds it (a file the
    /// engine's namespace cannot own: shown as `nobody` inside).
    pub fn to_container(&self, host: u32) -> Option<u32> {
        if self.is_identity() {
            return Some(host);
        }
        self.extents().iter().find_map(|e| {
            let off = host.checked_sub(e.outside)?;
            (off < e.count).then(|| e.inside + off)
        })
    }

    /// The host id of container id `inside`, when a range holds it.
    pub fn to_host(&self, inside: u32) -> Option<u32> {
        if self.is_identity() {
            return Some(inside);
        }
        self.extents().iter().find_map(|e| {
            let off = inside.checked_sub(e.inside)?;
            (off < e.count).then(|| e.outside + off)
        })
    }
}

/// Both directions: what `verify` needs to compare owners on disk with tar headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdMap {
    /// User ids.
    pub uids: IdRanges,
    /// Group ids.
    pub gids: IdRanges,
}

impl IdMap {
    /// Whether owners on disk are the container's own.
    pub fn is_identity(&self) -> bool {
        self.uids.is_identity() && self.gids.is_identity()
    }
}

/// Which kind of engine wrote the shifted store.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UsernsKind {
    /// `dockerd --userns-remap`: the store under `<data-root>/<uid>.<gid>/`.
    UsernsRemap,
    /// A rootless dockerd: the data-root of a normal user.
    Rootless,
}

/// The user namespace the data-root was written in, and how strata knows.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserNamespace {
    /// userns-remap or rootless.
    pub kind: UsernsKind,
    /// The directory read: the remapped root (`<data-root>/<uid>.<gid>`), or the
    /// rootless data-root.
    pub root: PathBuf,
    /// Container uid ranges and the host uids they are on disk.
    pub uid_map: Vec<Extent>,
    /// Container gid ranges and the host gids they are on disk.
    pub gid_map: Vec<Extent>,
    /// Where the ranges come from, in words (the directory name, the host's files,
    /// the layers).
    pub source: String,
    /// False while the subordinate range is still unknown (rootless, no host files):
    /// only container root is mapped until `verify` infers the rest from the layers.
    pub complete: bool,
}

impl UserNamespace {
    /// The mapping, for comparing owners.
    pub fn id_map(&self) -> IdMap {
        IdMap { uids: IdRanges::new(&self.uid_map), gids: IdRanges::new(&self.gid_map) }
    }

    /// One line for stderr: which namespace, which ranges, from where.
    pub fn describe(&self) -> String {
        let ranges = |v: &[Extent]| {
            v.iter()
                .map(|e| format!("{}→{} ×{}", e.inside, e.outside, e.count))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let kind = match self.kind {
            UsernsKind::UsernsRemap => "userns-remap store",
            UsernsKind::Rootless => "rootless Docker data-root",
        };
        format!(
            "{kind} {}: owners on disk are container ids shifted (uids {}; gids {}), from {}",
            crate::finding::terminal_safe(&self.root.display().to_string()),
            ranges(&self.uid_map),
            ranges(&self.gid_map),
            self.source
        )
    }
}

/// `<uid>.<gid>`, the name dockerd gives a remapped root.
pub fn parse_remap_name(name: &str) -> Option<(u32, u32)> {
    let (u, g) = name.split_once('.')?;
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok())?
    };
    Some((num(u)?, num(g)?))
}

/// Remapped roots directly under `root`: `<uid>.<gid>` directories that hold an
/// image store or containers, in name order.
pub fn remapped_roots(root: &SafeDir) -> Vec<(String, u32, u32)> {
    let Ok(entries) = root.read_dir(Path::new("")) else { return Vec::new() };
    let mut out: Vec<(String, u32, u32)> = entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Dir)
        .filter_map(|e| {
            let name = e.name.into_string().ok()?;
            let (u, g) = parse_remap_name(&name)?;
            let holds = |d: &str| root.exists(&Path::new(&name).join(d));
            (holds("image") || holds("containers")).then_some((name, u, g))
        })
        .collect();
    out.sort_by_key(|(_, u, g)| (*u, *g));
    out
}

/// The host's id files, when strata may trust them for this data-root.
#[derive(Debug, Clone)]
pub struct HostIds {
    /// `/etc` of the host (`<host-root>/etc`, or this machine's).
    pub etc: PathBuf,
}

impl HostIds {
    fn read(&self, name: &str) -> Option<String> {
        let p = self.etc.join(name);
        let meta = std::fs::metadata(&p).ok()?;
        if !meta.is_file() || meta.len() > MAX_ID_FILE {
            return None;
        }
        String::from_utf8(std::fs::read(&p).ok()?).ok()
    }

    /// `(name, home)` of host uid `uid` from `passwd`.
    pub fn user(&self, uid: u32) -> Option<(String, PathBuf)> {
        self.read("passwd")?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
                .then(|| (f[0].to_owned(), PathBuf::from(f[5])))
        })
    }

    /// The ranges `subuid` or `subgid` gives `user` (by name or number), in file order.
    pub fn ranges(&self, file: &str, user: &str, id: u32) -> Vec<(u32, u32)> {
        let Some(text) = self.read(file) else { return Vec::new() };
        text.lines()
            .filter_map(|l| {
                let mut f = l.trim().split(':');
                let (who, start, count) = (f.next()?, f.next()?, f.next()?);
                (who == user || who.parse::<u32>().ok() == Some(id))
                    .then(|| Some((start.parse().ok()?, count.parse().ok()?)))?
            })
            .collect()
    }

    /// The range in `file` that starts at `start`, whoever it belongs to.
    fn range_at(&self, file: &str, start: u32) -> Option<(String, u32)> {
        self.read(file)?.lines().find_map(|l| {
            let mut f = l.trim().split(':');
            let (who, s, count) = (f.next()?, f.next()?, f.next()?);
            (s.parse::<u32>().ok()? == start)
                .then(|| Some((who.to_owned(), count.parse().ok()?)))?
        })
    }
}

/// The remapped root under `root` to read (and notes on the others), when `root`
/// itself holds no store but `<uid>.<gid>/` directories do.
pub fn pick_remapped_root(
    root: &SafeDir,
    findings: &mut Vec<Finding>,
) -> Option<(String, u32, u32)> {
    if root.exists(Path::new("image")) || root.exists(Path::new("containers")) {
        let found = remapped_roots(root);
        for (name, ..) in &found {
            findings.push(
                Finding::info(
                    Code::UnsupportedStore,
                    format!("a userns-remap store {name}/ is here too (a daemon run with --userns-remap); strata read the data-root itself (read that one with --root {})", root.path().join(name).display()),
                )
                .with_file(name),
            );
        }
        return None;
    }
    let mut found = remapped_roots(root).into_iter();
    let chosen = found.next()?;
    for (name, ..) in found {
        findings.push(
            Finding::info(
                Code::UnsupportedStore,
                format!(
                    "another userns-remap store {name}/ is here; strata read {}/ (read this one with --root {})",
                    chosen.0,
                    root.path().join(&name).display()
                ),
            )
            .with_file(&name),
        );
    }
    Some(chosen)
}

/// The namespace of a userns-remap root named `<uid>.<gid>`: the base from the name,
/// the length from the host's files when a range there starts at it.
pub fn remap_namespace(dir: &Path, uid: u32, gid: u32, host: Option<&HostIds>) -> UserNamespace {
    let from_host = |file: &str, start: u32| host.and_then(|h| h.range_at(file, start));
    let (u, g) = (from_host("subuid", uid), from_host("subgid", gid));
    let source = match (&u, &g, host) {
        (Some((who, _)), Some(_), Some(h)) => format!(
            "the directory name and {who}'s ranges in {}/subuid and subgid",
            h.etc.display()
        ),
        _ => format!(
            "the directory name (range length {DEFAULT_RANGE} assumed: no matching /etc/subuid and /etc/subgid line was read)"
        ),
    };
    let count = |r: Option<(String, u32)>| r.map_or(DEFAULT_RANGE, |(_, c)| c);
    UserNamespace {
        kind: UsernsKind::UsernsRemap,
        root: dir.to_path_buf(),
        uid_map: vec![Extent { inside: 0, outside: uid, count: count(u) }],
        gid_map: vec![Extent { inside: 0, outside: gid, count: count(g) }],
        source,
        complete: true,
    }
}

/// The namespace of a rootless data-root, which belongs to the user who ran the
/// engine (`owner`): container root is that user, the rest the user's subordinate
/// ranges from the host's files; without them only root is mapped (`complete` false).
pub fn rootless_namespace(dir: &Path, owner: (u32, u32), host: Option<&HostIds>) -> UserNamespace {
    let root_u = Extent { inside: 0, outside: owner.0, count: 1 };
    let root_g = Extent { inside: 0, outside: owner.1, count: 1 };
    let user = host.and_then(|h| h.user(owner.0).map(|(n, _)| (h, n)));
    let sub = |file: &str, id: u32| -> Vec<Extent> {
        let Some((h, name)) = &user else { return Vec::new() };
        // newuidmap maps the ranges in file order, from container id 1 on.
        let mut inside = 1u32;
        let mut out = Vec::new();
        for (start, count) in h.ranges(file, name, id) {
            out.push(Extent { inside, outside: start, count });
            inside = inside.saturating_add(count);
        }
        out
    };
    let (su, sg) = (sub("subuid", owner.0), sub("subgid", owner.1));
    let complete = !su.is_empty() && !sg.is_empty();
    let source = match (&user, complete) {
        (Some((h, name)), true) => format!(
            "the data-root's owner {name} (uid {}) and its ranges in {}/subuid and subgid",
            owner.0,
            h.etc.display()
        ),
        _ => format!(
            "the data-root's owner (uid {} gid {}); no /etc/subuid and /etc/subgid ranges read for it",
            owner.0, owner.1
        ),
    };
    let mut uid_map = vec![root_u];
    uid_map.extend(su);
    let mut gid_map = vec![root_g];
    gid_map.extend(sg);
    UserNamespace {
        kind: UsernsKind::Rootless,
        root: dir.to_path_buf(),
        uid_map,
        gid_map,
        source,
        complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remap_names() {
        assert_eq!(parse_remap_name("100000.100000"), Some((100000, 100000)));
        assert_eq!(parse_remap_name("1.2"), Some((1, 2)));
        for bad in ["100000", "a.b", ".1", "1.", "1.2.3", "+1.2", "99999999999.1"] {
            assert_eq!(parse_remap_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn rootless_ranges_map_both_ways() {
        let r = IdRanges::new(&[
            Extent { inside: 0, outside: 1001, count: 1 },
            Extent { inside: 1, outside: 165536, count: 65536 },
        ]);
        assert_eq!(r.to_container(1001), Some(0));
        assert_eq!(r.to_container(165536), Some(1));
        assert_eq!(r.to_container(166535), Some(1000));
        assert_eq!(r.to_container(0), None);
        assert_eq!(r.to_container(165536 + 65536), None);
        assert_eq!(r.to_host(65534), Some(231069));
        assert_eq!(IdRanges::default().to_container(7), Some(7));
    }
}
