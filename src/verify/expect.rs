//! What a layer directory should hold, derived from tar members, and the walk that
//! compares it with what the directory does hold (drift).
//!
//! Graphdrivers store a layer differently from its tar: overlay2 turns `.wh.X`
//! members into 0/0 character devices and `.wh..wh..opq` into an xattr on the
//! directory; aufs and fuse-overlayfs keep them as literal files; vfs and btrfs keep
//! a whole filesystem per layer, where whiteouts are simply absences and most
//! entries come from lower layers. [`ExpectedTree`] folds members into the shape the
//! driver leaves on disk, so the walk is a plain lookup.

use super::{Reporter, WhiteoutStyle};
use crate::finding::{display_bytes, Code, Finding};
use crate::fsread::{FileKind, SafeDir};
use crate::store::graphdriver::DriverKind;
use crate::tarsplit::MemberKind;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// What one path in the layer directory should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A tar member of `size` content bytes; `own` when it comes from this layer
    /// rather than one below.
    Member { kind: MemberKind, size: u64, own: bool },
    /// An overlay whiteout device standing for a `.wh.` member.
    Whiteout,
    /// A parent directory the tar did not list; extraction creates it.
    ImplicitDir,
}

#[derive(Debug)]
struct Slot {
    expect: Expect,
    seen: bool,
}

/// How a member lands on disk under a given driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// At its own path, as its own kind.
    Plain,
    /// An overlay whiteout device at this path.
    Whiteout(Vec<u8>),
    /// An overlay opaque xattr on this directory.
    Opaque(Vec<u8>),
    /// Nothing on disk: a deletion in a full-filesystem layer.
    Deletion,
}

/// Splits `a/b/c` into (`a/b`, `c`); the parent of a top-level name is empty.
pub(crate) fn split_parent(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    if !parent.is_empty() {
        out.extend_from_slice(parent);
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// Where a member with cleaned path `rel` lives under `style`.
pub fn placement(rel: &[u8], style: WhiteoutStyle) -> Placement {
    let (parent, base) = split_parent(rel);
    if style == WhiteoutStyle::Literal || !base.starts_with(WHITEOUT_PREFIX) {
        return Placement::Plain;
    }
    match style {
        WhiteoutStyle::Overlay if base == OPAQUE_MARKER => Placement::Opaque(parent.to_vec()),
        WhiteoutStyle::Overlay => Placement::Whiteout(join(parent, &base[WHITEOUT_PREFIX.len()..])),
        _ => Placement::Deletion,
    }
}

/// The expected content of one layer directory.
#[derive(Debug, Default)]
pub struct ExpectedTree {
    map: BTreeMap<Vec<u8>, Slot>,
    opaque: BTreeSet<Vec<u8>>,
}

impl ExpectedTree {
    /// Folds one member in. `rel` is the cleaned path; `kind` its header's kind.
    pub fn add(
        &mut self,
        rel: &[u8],
        kind: MemberKind,
        size: u64,
        own: bool,
        style: WhiteoutStyle,
    ) {
        if kind == MemberKind::Meta {
            return;
        }
        let (parent, base) = split_parent(rel);
        match placement(rel, style) {
            Placement::Plain => {
                if kind != MemberKind::Dir {
                    // A non-directory replaces whatever tree was there.
                    self.remove_below(rel);
                }
                self.put(rel.to_vec(), Expect::Member { kind, size, own });
            }
            Placement::Whiteout(target) => self.put(target, Expect::Whiteout),
            Placement::Opaque(dir) => {
                self.opaque.insert(dir);
            }
            Placement::Deletion => {
                if base == OPAQUE_MARKER {
                    self.remove_below(parent);
                } else {
                    let target = join(parent, &base[WHITEOUT_PREFIX.len()..]);
                    self.remove_below(&target);
                    self.map.remove(&target);
                }
            }
        }
        let mut dir = parent;
        while !dir.is_empty() {
            self.map
                .entry(dir.to_vec())
                .or_insert(Slot { expect: Expect::ImplicitDir, seen: false });
            dir = split_parent(dir).0;
        }
    }

    fn put(&mut self, rel: Vec<u8>, expect: Expect) {
        self.map.insert(rel, Slot { expect, seen: false });
    }

    /// Drops everything strictly below `dir`.
    fn remove_below(&mut self, dir: &[u8]) {
        let prefix = if dir.is_empty() { Vec::new() } else { join(dir, b"") };
        let doomed: Vec<Vec<u8>> = self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.map.remove(&k);
        }
        if dir.is_empty() {
            self.opaque.clear();
        } else {
            self.opaque.retain(|d| !d.starts_with(&prefix));
        }
    }

    /// Number of paths the layer tar leaves in the layer directory.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the layer tar leaves nothing in the layer directory.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Names aufs keeps at the top of every branch for its own bookkeeping.
fn aufs_internal(rel: &[u8]) -> bool {
    matches!(rel, b".wh..wh.plnk" | b".wh..wh.aufs" | b".wh..wh.orph")
}

fn path_of(rel: &[u8]) -> &Path {
    if rel.is_empty() {
        Path::new("")
    } else {
        Path::new(OsStr::from_bytes(rel))
    }
}

pub(crate) fn file_kind_of(kind: MemberKind) -> Option<FileKind> {
    Some(match kind {
        MemberKind::File => FileKind::File,
        MemberKind::Symlink => FileKind::Symlink,
        MemberKind::CharDevice => FileKind::CharDevice,
        MemberKind::BlockDevice => FileKind::BlockDevice,
        MemberKind::Dir => FileKind::Dir,
        MemberKind::Fifo => FileKind::Fifo,
        MemberKind::HardLink | MemberKind::Meta => return None,
    })
}

/// Walks `layer` (never following links) and reports what `tree` does not
/// describe, plus inherited entries that are gone. `check_opaque` compares overlay
/// opaque markers, which needs xattr reads (and root, for `trusted.*`).
pub fn walk(
    layer: &SafeDir,
    tree: &mut ExpectedTree,
    driver: DriverKind,
    check_opaque: bool,
    out: &mut Reporter,
) {
    let style = WhiteoutStyle::of(driver);
    // The layer root is there by construction (a `./` member names it).
    if let Some(root) = tree.map.get_mut(&Vec::new()) {
        root.seen = true;
    }
    let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(dir) = stack.pop() {
        if check_opaque {
            let on_disk = layer.is_overlay_opaque(path_of(&dir));
            let wanted = tree.opaque.contains(&dir);
            let marker = join(&dir, OPAQUE_MARKER);
            if on_disk && !wanted {
                out.push(
                    Finding::error(
                        Code::LayerFileAdded,
                        format!(
                            "directory {:?} is marked opaque on disk (hiding every lower-layer entry below it) but the layer tar has no opaque marker",
                            display_bytes(&dir)
                        ),
                    )
                    .with_path(&marker),
                );
            } else if wanted && !on_disk {
                out.push(
                    Finding::error(
                        Code::LayerFileMissing,
                        format!(
                            "the layer tar marks directory {:?} opaque but the directory on disk is not: lower-layer entries below it would show through",
                            display_bytes(&dir)
                        ),
                    )
                    .with_path(&marker),
                );
            }
        }
        let entries = match layer.read_dir(path_of(&dir)) {
            Ok(e) => e,
            Err(e) => {
                out.push(
                    Finding::warning(
                        Code::StoreUnreadable,
                        format!("cannot list directory, added files below it not checked: {e}"),
                    )
                    .with_path(&dir),
                );
                continue;
            }
        };
        // Pushed in reverse so directories pop in name order: findings stay sorted.
        let mut subdirs = Vec::new();
        for entry in entries {
            let rel = join(&dir, entry.name.as_bytes());
            match tree.map.get_mut(&rel) {
                Some(slot) => {
                    slot.seen = true;
                    if let Expect::Member { kind, size, own: false } = slot.expect {
                        if let Some(want) = file_kind_of(kind) {
                            if want != entry.kind {
                                out.push(
                                    Finding::error(
                                        Code::LayerFileModified,
                                        format!(
                                            "is a {} on disk, but a lower layer made it a {}",
                                            entry.kind, want
                                        ),
                                    )
                                    .with_path(&rel),
                                );
                                continue;
                            }
                        }
                        // Inherited content is not hashed here (that would re-read the
                        // whole filesystem per layer), but a size change is cheap to see.
                        if kind == MemberKind::File {
                            if let Ok(m) = layer.lstat(path_of(&rel)) {
                                if m.size != size {
                                    out.push(
                                        Finding::error(
                                            Code::LayerFileModified,
                                            format!("size is {} bytes on disk, the lower layer it comes from says {size}", m.size),
                                        )
                                        .with_path(&rel),
                                    );
                                }
                            }
                        }
                    }
                    if entry.kind == FileKind::Dir {
                        subdirs.push(rel);
                    }
                }
                None if driver == DriverKind::Aufs && aufs_internal(&rel) => {}
                None => {
                    let what = if style == WhiteoutStyle::Overlay
                        && matches!(entry.kind, FileKind::CharDevice | FileKind::File)
                        && layer
                            .lstat(path_of(&rel))
                            .map(|m| layer.is_overlay_whiteout(path_of(&rel), &m))
                            .unwrap_or(false)
                    {
                        "a whiteout (hiding this path in lower layers)".to_string()
                    } else if let (FileKind::Dir, Some(to)) = (
                        entry.kind,
                        (style == WhiteoutStyle::Overlay)
                            .then(|| layer.overlay_xattr(path_of(&rel), "redirect"))
                            .flatten(),
                    ) {
                        subdirs.push(rel.clone());
                        format!(
                            "a directory renamed through an overlay mount with redirect_dir (overlay.redirect {:?}: it shows that lower-layer directory's entries)",
                            display_bytes(&to)
                        )
                    } else if entry.kind == FileKind::File
                        && style == WhiteoutStyle::Overlay
                        && layer.overlay_xattr(path_of(&rel), "metacopy").is_some()
                    {
                        "a metadata-only copy of a lower-layer file (overlay.metacopy, written through an overlay mount with metacopy=on: its data stays below)".to_string()
                    } else if entry.kind == FileKind::Dir {
                        // A responder needs what was planted, not just where: walk
                        // in, and each entry below is a finding of its own (the
                        // per-layer cap bounds them).
                        subdirs.push(rel.clone());
                        "a directory (each entry in it is listed too)".to_string()
                    } else {
                        format!("a {}", entry.kind)
                    };
                    out.push(
                        Finding::error(
                            Code::LayerFileAdded,
                            format!("{what} on disk that the layer tar does not contain"),
                        )
                        .with_path(&rel),
                    );
                }
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    for (rel, slot) in &tree.map {
        if let (false, Expect::Member { own: false, .. }) = (slot.seen, slot.expect) {
            out.push(
                Finding::error(
                    Code::LayerFileMissing,
                    "inherited from a lower layer, but missing from this full-filesystem layer",
                )
                .with_path(rel),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_land_where_each_driver_puts_them() {
        assert_eq!(
            placement(b"etc/.wh.passwd", WhiteoutStyle::Overlay),
            Placement::Whiteout(b"etc/passwd".to_vec())
        );
        assert_eq!(
            placement(b"etc/.wh..wh..opq", WhiteoutStyle::Overlay),
            Placement::Opaque(b"etc".to_vec())
        );
        assert_eq!(
            placement(b".wh..wh..opq", WhiteoutStyle::Overlay),
            Placement::Opaque(Vec::new())
        );
        assert_eq!(placement(b"etc/.wh.passwd", WhiteoutStyle::Literal), Placement::Plain);
        assert_eq!(placement(b"etc/.wh.passwd", WhiteoutStyle::Absent), Placement::Deletion);
        assert_eq!(placement(b"etc/passwd", WhiteoutStyle::Overlay), Placement::Plain);
    }

    #[test]
    fn full_filesystem_chain_applies_deletions() {
        let mut t = ExpectedTree::default();
        let s = WhiteoutStyle::Absent;
        t.add(b"etc", MemberKind::Dir, 0, false, s);
        t.add(b"etc/a", MemberKind::File, 0, false, s);
        t.add(b"etc/b", MemberKind::File, 0, false, s);
        t.add(b"var/x/y", MemberKind::File, 0, false, s);
        t.add(b"etc/.wh.a", MemberKind::File, 0, true, s);
        t.add(b"var/.wh..wh..opq", MemberKind::File, 0, true, s);
        t.add(b"etc/b", MemberKind::File, 0, true, s);
        let keys: Vec<&[u8]> = t.map.keys().map(Vec::as_slice).collect();
        assert_eq!(keys, vec![&b"etc"[..], b"etc/b", b"var"]);
        assert_eq!(
            t.map[&b"etc/b"[..]].expect,
            Expect::Member { kind: MemberKind::File, size: 0, own: true }
        );
        assert_eq!(t.map[&b"var"[..]].expect, Expect::ImplicitDir);
        // A file replacing a directory takes its subtree with it.
        t.add(b"etc", MemberKind::Symlink, 0, true, s);
        assert_eq!(t.len(), 2);
    }
}
