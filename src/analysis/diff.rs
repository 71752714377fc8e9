//! What a container changed: an offline `docker diff`.
//!
//! The engine (20.10 and later, overlay2 included) answers `docker diff` with its
//! "naive" differ: it mounts the container's filesystem and the init layer beneath
//! it, walks both merged trees and compares them entry by entry (moby
//! `archive.ChangesDirs`). strata cannot mount, so it rebuilds both merged views from
//! the overlay directories instead: the container's upper dir over the lower stack
//! (init layer, then the image's layers top first), resolving whiteouts (0/0
//! character devices) and opaque directories (`trusted.overlay.opaque=y`) the way the
//! kernel does. Only paths the upper dir touches can differ, so only those are
//! compared, with the engine's rules:
//!
//! * present above, absent below: `A` (and everything beneath it);
//! * absent above (whiteout, or hidden by an opaque dir), present below: `D`, once,
//!   for the top of what disappeared;
//! * present in both: `C` when type, mode, owner or device differ, or, for
//!   non-directories, size or mtime (to the second when either side has no
//!   nanoseconds), or the `security.capability` xattr; a directory's own size and
//!   mtime never count;
//! * a directory with any change beneath it is `C` itself, unless already reported.
//!
//! Drivers that keep a full copy of the filesystem per layer (vfs, btrfs, zfs) have
//! no whiteouts or opaque marks: there the container's tree is compared with its
//! init layer's tree directly, both ways, exactly as the engine's naive differ does.
//!
//! The engine lists changes in Go map order, which is random; strata sorts them by
//! path, parents first.

use crate::analysis::usage::{capability, stat_different};
use crate::finding::{display_bytes, Code, Finding};
use crate::fsread::{FileKind, Meta, ReadError, SafeDir};
use crate::graph::{ContainerNode, Graph};
use crate::id::ContainerId;
use serde::{Serialize, Serializer};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Directory depth beyond which strata stops walking an upper dir (a tree that deep
/// is built to exhaust the reader, not by a container).
pub const MAX_DEPTH: usize = 1024;

/// Docker's change kinds. JSON spells them `"A"`, `"C"`, `"D"` (the Engine API uses
/// 1, 0, 2 for the same three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Changed: in the lower layers too, and modified in the RW layer (`C`).
    Modify,
    /// Added: only in the RW layer (`A`).
    Add,
    /// Deleted: hidden by a whiteout in the RW layer (`D`).
    Delete,
}

impl ChangeKind {
    /// The letter `docker diff` prints: `C`, `A` or `D`.
    pub fn letter(self) -> &'static str {
        match self {
            ChangeKind::Modify => "C",
            ChangeKind::Add => "A",
            ChangeKind::Delete => "D",
        }
    }
}

impl Serialize for ChangeKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.letter())
    }
}

/// One changed path, absolute inside the container (`/etc/hosts`), as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path inside the container, raw bytes from disk.
    pub path: Vec<u8>,
    /// Added, changed or deleted.
    pub kind: ChangeKind,
}

impl Change {
    /// The path as text without loss (see [`display_bytes`]).
    pub fn display_path(&self) -> String {
        display_bytes(&self.path)
    }
}

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Change", 2)?;
        st.serialize_field("path", &self.display_path())?;
        st.serialize_field("kind", &self.kind)?;
        st.end()
    }
}

/// Why no diff could be computed at all.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The container (by ID) has no RW layer strata can read.
    #[error(
        "container {0} has no RW layer on disk (no layerdb mount, or a driver strata cannot read)"
    )]
    NoRwLayer(String),
    /// The container's (by ID) RW layer directory cannot be opened.
    #[error("container {0}: cannot open its RW layer: {1}")]
    Upper(String, #[source] ReadError),
}

/// The lower stack of a container, top first: its init layer, then its image's
/// layers. Layers that cannot be opened are left out and reported.
fn lower_stack(
    g: &Graph,
    root: &SafeDir,
    c: &ContainerNode,
    full: bool,
    findings: &mut Vec<Finding>,
) -> Vec<SafeDir> {
    let mut rels: Vec<(PathBuf, String)> = Vec::new();
    if let Some(init) = &c.init_dir {
        rels.push((init.clone(), "init layer".to_owned()));
    }
    let top = c.mount.as_ref().and_then(|m| m.parent);
    if full {
        // One full tree is the whole lower view: the init layer's, else the image's.
        if rels.is_empty() {
            if let Some(dir) =
                top.and_then(|t| g.layers.get(&t)).and_then(|l| l.content_dir.clone())
            {
                rels.push((dir, "image's top layer".to_owned()));
            }
        }
    } else if let Some(top) = top {
        for chain in g.layer_chain(&top).iter().rev() {
            match g.layers.get(chain).and_then(|l| l.content_dir.clone()) {
                Some(dir) => rels.push((dir, format!("layer {}", chain.short()))),
                None => findings.push(
                    Finding::error(
                        Code::LayerContentMissing,
                        format!(
                            "container {}: layer {} has no content directory; the diff ignores it",
                            c.record.id.short(),
                            chain.short()
                        ),
                    )
                    .with_layer(*chain),
                ),
            }
        }
    }
    let mut out = Vec::new();
    for (rel, what) in rels {
        match root.open_dir(&rel) {
            Ok(d) => out.push(d),
            Err(e) => findings.push(
                Finding::error(
                    Code::LayerContentMissing,
                    format!(
                        "container {}: cannot open its {what}: {e}; the diff ignores it",
                        c.record.id.short()
                    ),
                )
                .with_file(&rel),
            ),
        }
    }
    out
}

/// A directory of the merged lower view: the layers (indices into the stack, top
/// first) whose copy of it shows through.
type Merged = Vec<usize>;

struct Walker<'a> {
    /// Full-copy driver: no whiteouts, no opaque marks, deletions found by listing.
    full: bool,
    opts: DiffOptions,
    upper: &'a SafeDir,
    lowers: &'a [SafeDir],
    findings: &'a mut Vec<Finding>,
    id: &'a ContainerId,
    depth_reported: bool,
    /// The merged lower view's root directory.
    root: Merged,
}

impl Walker<'_> {
    /// The engine's rule, less what the options leave out: a copy that did not keep
    /// times (or owners) would otherwise make every touched path a change.
    fn stat_different(&self, lower: &Meta, upper: &Meta) -> bool {
        let mut upper = *upper;
        if self.opts.ignore_times {
            (upper.mtime, upper.mtime_nsec) = (lower.mtime, lower.mtime_nsec);
        }
        if self.opts.ignore_owners {
            (upper.uid, upper.gid) = (lower.uid, lower.gid);
        }
        stat_different(lower, &upper)
    }

    /// The lower entry at `rel` (whose parent directory is `parent`), top-most copy.
    fn lookup(&mut self, parent: &Merged, rel: &Path) -> Option<(Meta, usize)> {
        for &i in parent {
            match self.lowers[i].lstat(rel) {
                Ok(m) if !self.full && self.lowers[i].is_overlay_whiteout(rel, &m) => return None,
                Ok(m) => return Some((m, i)),
                Err(e)
                    if e.is_not_found()
                        || matches!(e.kind, crate::fsread::ReadErrorKind::NotADirectory) => {}
                Err(e) => self.note(e),
            }
        }
        None
    }

    /// The merged directory at `rel`, given that its top-most copy is in layer `top`.
    fn merged_dir(&mut self, parent: &Merged, top: usize, rel: &Path) -> Merged {
        let mut out = Vec::new();
        for &i in parent.iter().filter(|&&i| i >= top) {
            match self.lowers[i].lstat(rel) {
                Ok(m) if m.kind == FileKind::Dir => {
                    out.push(i);
                    if !self.full && self.lowers[i].is_overlay_opaque(rel) {
                        break;
                    }
                }
                // A whiteout or a non-directory hides the layers below.
                Ok(_) => break,
                Err(e) if e.is_not_found() => {}
                Err(e) => self.note(e),
            }
        }
        out
    }

    /// Names visible in a merged lower directory.
    fn merged_names(&mut self, dir: &Merged, rel: &Path) -> BTreeSet<OsString> {
        let mut visible = BTreeSet::new();
        let mut hidden = BTreeSet::new();
        for &i in dir {
            let entries = match self.lowers[i].read_dir(rel) {
                Ok(e) => e,
                Err(e) => {
                    self.note(e);
                    continue;
                }
            };
            for e in entries {
                if visible.contains(&e.name) || hidden.contains(&e.name) {
                    continue;
                }
                let whiteout = !self.full
                    && matches!(e.kind, FileKind::CharDevice | FileKind::File)
                    && self.lowers[i]
                        .lstat(&rel.join(&e.name))
                        .map(|m| self.lowers[i].is_overlay_whiteout(&rel.join(&e.name), &m))
                        .unwrap_or(false);
                if whiteout {
                    hidden.insert(e.name);
                } else {
                    visible.insert(e.name);
                }
            }
        }
        visible
    }

    fn note(&mut self, e: ReadError) {
        self.findings.push(Finding::warning(
            Code::StoreUnreadable,
            format!("container {}: {e}; the diff may be incomplete", self.id.short()),
        ));
    }

    /// Everything under an added directory is added too. A plain new directory holds
    /// only what the upper dir has (whiteouts there hide nothing). A directory renamed
    /// with `redirect_dir=on` (`overlay.redirect`) also shows the lower entries of the
    /// path it was renamed from (`from`), less what the upper dir whites out.
    fn all_added(&mut self, rel: &Path, from: Option<Merged>, depth: usize, out: &mut Vec<Change>) {
        if !self.depth_ok(depth) {
            return;
        }
        let entries = match self.upper.read_dir(rel) {
            Ok(e) => e,
            Err(e) => return self.note(e),
        };
        let source = from.map(|m| (self.redirect_source(rel).unwrap_or_default(), m));
        let mut named = BTreeSet::new();
        for e in entries {
            named.insert(e.name.clone());
            let p = rel.join(&e.name);
            if !self.full
                && matches!(e.kind, FileKind::CharDevice | FileKind::File)
                && self
                    .upper
                    .lstat(&p)
                    .map(|m| self.upper.is_overlay_whiteout(&p, &m))
                    .unwrap_or(false)
            {
                continue;
            }
            out.push(change(&p, ChangeKind::Add));
            if e.kind == FileKind::Dir {
                let below = self.lower_source(&p, source.as_ref(), &e.name);
                self.all_added(&p, below, depth + 1, out);
            }
        }
        if let Some((src, merged)) = source {
            for name in self.merged_names(&merged, &src) {
                if named.contains(&name) {
                    continue;
                }
                out.push(change(&rel.join(&name), ChangeKind::Add));
                let s = src.join(&name);
                if let Some((m, top)) = self.lookup(&merged, &s) {
                    if m.kind == FileKind::Dir {
                        let child = self.merged_dir(&merged, top, &s);
                        self.lower_added(&s, &child, &rel.join(&name), depth + 1, out);
                    }
                }
            }
        }
    }

    /// Lower-only entries under a renamed directory: all of them show, added.
    fn lower_added(
        &mut self,
        src: &Path,
        merged: &Merged,
        dst: &Path,
        depth: usize,
        out: &mut Vec<Change>,
    ) {
        if !self.depth_ok(depth) {
            return;
        }
        for name in self.merged_names(merged, src) {
            out.push(change(&dst.join(&name), ChangeKind::Add));
            let s = src.join(&name);
            if let Some((m, top)) = self.lookup(merged, &s) {
                if m.kind == FileKind::Dir {
                    let child = self.merged_dir(merged, top, &s);
                    self.lower_added(&s, &child, &dst.join(&name), depth + 1, out);
                }
            }
        }
    }

    /// The lower path an upper directory `rel` shows, when it was renamed with
    /// `redirect_dir=on`: `overlay.redirect` holds an absolute path from the layer root
    /// (`/a/b`), or a name in the same parent.
    fn redirect_source(&mut self, rel: &Path) -> Option<PathBuf> {
        if self.full {
            return None;
        }
        let to = self.upper.overlay_xattr(rel, "redirect")?;
        let to = Path::new(std::ffi::OsStr::from_bytes(&to));
        let abs = match to.strip_prefix("/") {
            Ok(a) => a.to_path_buf(),
            Err(_) => rel.parent().unwrap_or(Path::new("")).join(to),
        };
        // The value comes from disk: keep it inside the layers.
        abs.components().all(|c| matches!(c, std::path::Component::Normal(_))).then_some(abs)
    }

    /// The merged lower directory an added upper directory `rel` (named `name`) shows
    /// beneath it: its own redirect's, else its parent's source's same-named entry.
    fn lower_source(
        &mut self,
        rel: &Path,
        parent: Option<&(PathBuf, Merged)>,
        name: &std::ffi::OsStr,
    ) -> Option<Merged> {
        if let Some(src) = self.redirect_source(rel) {
            return self.merged_at(&src);
        }
        let (psrc, pmerged) = parent?;
        if self.upper.is_overlay_opaque(rel) {
            return None;
        }
        let s = psrc.join(name);
        let (m, top) = self.lookup(pmerged, &s)?;
        (m.kind == FileKind::Dir).then(|| self.merged_dir(pmerged, top, &s))
    }

    /// The merged lower directory at `path`, from the root down; `None` when the
    /// lower view has no directory there.
    fn merged_at(&mut self, path: &Path) -> Option<Merged> {
        let mut cur = self.root.clone();
        let mut at = PathBuf::new();
        for c in path.components() {
            at.push(c);
            let (m, top) = self.lookup(&cur, &at)?;
            if m.kind != FileKind::Dir {
                return None;
            }
            cur = self.merged_dir(&cur, top, &at);
        }
        Some(cur)
    }

    fn depth_ok(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            if !self.depth_reported {
                self.depth_reported = true;
                self.findings.push(Finding::warning(
                    Code::LimitExceeded,
                    format!("container {}: RW layer is nested deeper than {MAX_DEPTH} directories; the diff stops there", self.id.short()),
                ));
            }
            return false;
        }
        true
    }

    /// Compares the upper directory `rel` with the merged lower directory `lower`.
    fn walk_dir(
        &mut self,
        rel: &Path,
        lower: &Merged,
        opaque: bool,
        depth: usize,
        out: &mut Vec<Change>,
    ) {
        if !self.depth_ok(depth) {
            return;
        }
        let entries = match self.upper.read_dir(rel) {
            Ok(e) => e,
            Err(e) => return self.note(e),
        };
        let mut upper_names = BTreeSet::new();
        for e in &entries {
            upper_names.insert(e.name.clone());
            let p = rel.join(&e.name);
            let um = match self.upper.lstat(&p) {
                Ok(m) => m,
                Err(err) => {
                    self.note(err);
                    continue;
                }
            };
            let below = self.lookup(lower, &p);
            if !self.full && self.upper.is_overlay_whiteout(&p, &um) {
                if below.is_some() {
                    out.push(change(&p, ChangeKind::Delete));
                }
                continue;
            }
            let Some((lm, top)) = below else {
                out.push(change(&p, ChangeKind::Add));
                if um.kind == FileKind::Dir {
                    let from = self.redirect_source(&p).and_then(|src| self.merged_at(&src));
                    self.all_added(&p, from, depth + 1, out);
                }
                continue;
            };
            if um.kind == FileKind::Dir && self.redirect_source(&p).is_some() {
                // Renamed onto a path the lower view has: its entries are compared by
                // name with that path's, not with where they came from.
                self.findings.push(Finding::warning(
                    Code::UnsupportedStore,
                    format!(
                        "container {}: /{} was renamed over an existing lower directory (overlay redirect_dir); the diff below it compares the upper dir alone",
                        self.id.short(),
                        display_bytes(p.as_os_str().as_bytes())
                    ),
                ));
            }
            let changed = self.stat_different(&lm, &um)
                || (matches!(um.kind, FileKind::File | FileKind::Dir)
                    && capability(&self.lowers[top], &p) != capability(self.upper, &p));
            let at = out.len();
            if changed {
                out.push(change(&p, ChangeKind::Modify));
            }
            if um.kind == FileKind::Dir {
                let child_lower = if lm.kind == FileKind::Dir {
                    self.merged_dir(lower, top, &p)
                } else {
                    Vec::new()
                };
                let child_opaque = self.full || self.upper.is_overlay_opaque(&p);
                let before = out.len();
                self.walk_dir(&p, &child_lower, child_opaque, depth + 1, out);
                if out.len() > before && !changed {
                    out.insert(at, change(&p, ChangeKind::Modify));
                }
            }
        }
        if opaque {
            // An opaque directory hides everything below it: whatever the lower view
            // had and the upper dir does not name is gone.
            for name in self.merged_names(lower, rel) {
                if !upper_names.contains(&name) {
                    out.push(change(&rel.join(&name), ChangeKind::Delete));
                }
            }
        }
    }
}

fn change(rel: &Path, kind: ChangeKind) -> Change {
    let mut path = Vec::with_capacity(rel.as_os_str().len() + 1);
    path.push(b'/');
    path.extend_from_slice(rel.as_os_str().as_bytes());
    Change { path, kind }
}

/// What `diff` leaves out of the engine's comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// A modification time alone is no change.
    pub ignore_times: bool,
    /// An owner alone is no change.
    pub ignore_owners: bool,
}

/// The changes of container `c` against its image, sorted by path with each
/// directory before what it contains, plus findings about what could not be read.
pub fn container_changes(
    g: &Graph,
    root: &SafeDir,
    c: &ContainerNode,
) -> Result<(Vec<Change>, Vec<Finding>), DiffError> {
    container_changes_with(g, root, c, DiffOptions::default())
}

/// [`container_changes`] with some of the engine's comparisons left out.
pub fn container_changes_with(
    g: &Graph,
    root: &SafeDir,
    c: &ContainerNode,
    opts: DiffOptions,
) -> Result<(Vec<Change>, Vec<Finding>), DiffError> {
    let id = &c.record.id;
    let root = g.content_root(root);
    let rw = c.rw_dir.as_ref().ok_or_else(|| DiffError::NoRwLayer(id.short().to_owned()))?;
    let upper = root.open_dir(rw).map_err(|e| DiffError::Upper(id.short().to_owned(), e))?;
    let mut findings = Vec::new();
    let full = g.driver.is_some_and(|d| !d.stores_diffs());
    if g.driver.is_some_and(|d| d.stores_diffs() && !d.overlay_whiteouts()) {
        findings.push(Finding::warning(
            Code::UnsupportedStore,
            format!("container {}: {} keeps `.wh.` whiteout files, which strata diff does not interpret yet; deletions show as added `.wh.` names", id.short(), g.driver_name),
        ));
    }
    let lowers = lower_stack(g, root, c, full, &mut findings);
    let mut out = Vec::new();
    {
        let all: Merged = (0..lowers.len()).collect();
        // The root of the merged view: every layer's top dir, down to an opaque one.
        let mut top: Merged = Vec::new();
        for i in all {
            top.push(i);
            if !full && lowers[i].is_overlay_opaque(Path::new("")) {
                break;
            }
        }
        let mut w = Walker {
            full,
            opts,
            upper: &upper,
            lowers: &lowers,
            findings: &mut findings,
            id,
            depth_reported: false,
            root: top.clone(),
        };
        let opaque = full || upper.is_overlay_opaque(Path::new(""));
        w.walk_dir(Path::new(""), &top, opaque, 0, &mut out);
    }
    out.sort_by(|a, b| split(&a.path).cmp(&split(&b.path)));
    Ok((out, findings))
}

fn split(p: &[u8]) -> Vec<&[u8]> {
    p.split(|&b| b == b'/').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: FileKind, mode: u32, size: u64, mtime: i64, nsec: i64) -> Meta {
        Meta {
            kind,
            mode,
            uid: 0,
            gid: 0,
            size,
            mtime,
            mtime_nsec: nsec,
            nlink: 1,
            ino: 1,
            dev: 1,
            rdev: 0,
            blocks: 0,
        }
    }

    #[test]
    fn directories_ignore_size_and_mtime_files_do_not() {
        let d1 = meta(FileKind::Dir, 0o755, 4096, 1, 0);
        let d2 = meta(FileKind::Dir, 0o755, 8192, 2, 5);
        assert!(!stat_different(&d1, &d2));
        let f1 = meta(FileKind::File, 0o644, 3, 10, 500);
        assert!(
            !stat_different(&f1, &meta(FileKind::File, 0o644, 3, 10, 0)),
            "tar drops nanoseconds"
        );
        assert!(stat_different(&f1, &meta(FileKind::File, 0o644, 3, 10, 501)));
        assert!(stat_different(&f1, &meta(FileKind::File, 0o600, 3, 10, 500)));
        assert!(stat_different(&f1, &meta(FileKind::Symlink, 0o644, 3, 10, 500)));
    }

    #[test]
    fn sorts_parents_before_children() {
        let mut v = [b"/a-b".to_vec(), b"/a/b".to_vec(), b"/a".to_vec()];
        v.sort_by(|a, b| split(a).cmp(&split(b)));
        assert_eq!(v, [b"/a".to_vec(), b"/a/b".to_vec(), b"/a-b".to_vec()]);
    }
}
