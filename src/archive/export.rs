//! `strata export`: the flattened filesystem of a container (its image's layers,
//! its init layer and its RW layer) or of an image, as `docker export` writes it.
//!
//! The layers' directories are merged the way overlayfs merges them for the engine:
//! the top-most copy of a path wins, a whiteout (a 0/0 character device) hides the
//! path below it, and an opaque directory (`trusted.overlay.opaque=y`) hides what the
//! lower layers hold under it. Full-copy drivers (vfs, btrfs, zfs, native) keep the
//! whole filesystem in the top directory, which is read alone.
//!
//! The archive matches `docker export` (go-archive's `TarWithOptions` over the
//! mounted rootfs): entries in lexical order per directory, parents first, no entry
//! for the root, directories named with a trailing `/`, a regular file with more
//! than one link written once and then as hard links, sockets left out, and of the
//! extended attributes only `security.capability`, the one go-archive copies.

use super::{EntryHeader, EntryKind, TarWriter};
use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, Meta, SafeDir};
use crate::graph::{ContainerNode, Graph, ImageNode};
use crate::verify::Progress;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Deeper than this, a directory is not descended into (and a finding says so).
const MAX_DEPTH: usize = 1024;
/// Read size for file content.
const CHUNK: usize = 1 << 20;
/// The only extended attribute `docker export` carries.
const CAPABILITY: &str = "security.capability";

/// What an export wrote and met.
#[derive(Debug, Default)]
pub struct ExportOutcome {
    /// Entries written.
    pub entries: u64,
    /// Bytes of file content written.
    pub content_bytes: u64,
    /// What could not be read (the entry is left out or cut short), and layers missing.
    pub findings: Vec<Finding>,
}

/// Why an export could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Nothing to export: no layer directory can be opened.
    #[error("{0}")]
    NoFilesystem(String),
    /// Writing the archive failed.
    #[error("writing the archive: {0}")]
    Io(#[from] io::Error),
}

/// The layer directories of a container, top first: RW layer, init layer, image layers.
pub fn container_stack(g: &Graph, c: &ContainerNode) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    dirs.extend(c.rw_dir.clone());
    dirs.extend(c.init_dir.clone());
    if let Some(top) = c.mount.as_ref().and_then(|m| m.parent) {
        dirs.extend(image_dirs(g, &top));
    } else if let Some(img) = c.record.image.as_ref().and_then(|i| g.images.get(i)) {
        // The containerd store records no layerdb mount: the image names the chain.
        if let Some(top) = img.top_layer() {
            dirs.extend(image_dirs(g, &top));
        }
    }
    dirs
}

/// The layer directories of an image, top first.
pub fn image_stack(g: &Graph, img: &ImageNode) -> Vec<PathBuf> {
    img.top_layer().map(|t| image_dirs(g, &t)).unwrap_or_default()
}

fn image_dirs(g: &Graph, top: &crate::digest::ChainId) -> Vec<PathBuf> {
    g.layer_chain(top)
        .iter()
        .rev()
        .filter_map(|c| g.layers.get(c).and_then(|l| l.content_dir.clone()))
        .collect()
}

/// Writes the merged filesystem of `stack` (layer directories relative to the
/// store's content root, top first) to `out` as a tar.
pub fn export(
    g: &Graph,
    root: &SafeDir,
    stack: &[PathBuf],
    progress: Option<Progress<'_>>,
    out: &mut dyn Write,
) -> Result<ExportOutcome, ExportError> {
    let content = g.content_root(root);
    let full = g.driver.is_some_and(|d| !d.stores_diffs());
    let mut outcome = ExportOutcome::default();
    let mut layers = Vec::new();
    for rel in stack {
        match content.open_dir(rel) {
            Ok(d) => layers.push(d),
            Err(e) => outcome.findings.push(
                Finding::error(
                    Code::LayerContentMissing,
                    format!("a layer directory cannot be opened, its files are missing from the export: {e}"),
                )
                .with_file(rel),
            ),
        }
        if full {
            // The top directory already holds the whole filesystem.
            break;
        }
    }
    if layers.is_empty() {
        return Err(ExportError::NoFilesystem(
            "no layer directory of this filesystem can be opened; nothing to export".to_owned(),
        ));
    }
    let mut w = Walk {
        layers: &layers,
        full,
        tw: TarWriter::new(out),
        links: HashMap::new(),
        outcome: &mut outcome,
        progress,
        buf: vec![0; CHUNK],
    };
    let top: Vec<usize> = {
        let mut v = Vec::new();
        for i in 0..layers.len() {
            v.push(i);
            if w.opaque(i, Path::new("")) {
                break;
            }
        }
        v
    };
    w.dir(Path::new(""), &top, 0)?;
    w.tw.finish()?;
    Ok(outcome)
}

struct Walk<'a, 'w> {
    layers: &'a [SafeDir],
    full: bool,
    tw: TarWriter<&'w mut dyn Write>,
    /// Regular files with more than one link already written: (dev, inode) → path.
    links: HashMap<(u64, u64), Vec<u8>>,
    outcome: &'a mut ExportOutcome,
    progress: Option<Progress<'a>>,
    buf: Vec<u8>,
}

impl Walk<'_, '_> {
    fn opaque(&self, i: usize, rel: &Path) -> bool {
        !self.full && self.layers[i].is_overlay_opaque(rel)
    }

    fn is_whiteout(&self, m: &Meta) -> bool {
        !self.full && m.is_whiteout()
    }

    fn note(&mut self, msg: String, rel: &Path) {
        self.outcome.findings.push(
            Finding::warning(Code::StoreUnreadable, msg).with_path(rel.as_os_str().as_bytes()),
        );
    }

    /// Writes the entries of the merged directory `rel`, whose copies are in `dirs`.
    fn dir(&mut self, rel: &Path, dirs: &[usize], depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            self.note(format!("nested deeper than {MAX_DEPTH} directories; not exported"), rel);
            return Ok(());
        }
        // name → (layer, lstat) of its top-most copy; None when a whiteout hides it.
        let mut names: BTreeMap<OsString, Option<(usize, Meta)>> = BTreeMap::new();
        for &i in dirs {
            let entries = match self.layers[i].read_dir(rel) {
                Ok(e) => e,
                Err(e) => {
                    self.note(format!("directory unreadable, its entries are left out: {e}"), rel);
                    continue;
                }
            };
            for e in entries {
                if names.contains_key(&e.name) {
                    continue;
                }
                let p = rel.join(&e.name);
                match self.layers[i].lstat(&p) {
                    Ok(m) if self.is_whiteout(&m) => {
                        names.insert(e.name, None);
                    }
                    Ok(m) => {
                        names.insert(e.name, Some((i, m)));
                    }
                    Err(err) => self.note(format!("cannot stat, left out: {err}"), &p),
                }
            }
        }
        for (name, found) in names {
            let Some((i, meta)) = found else { continue };
            let p = rel.join(&name);
            self.entry(&p, i, &meta)?;
            if meta.kind == FileKind::Dir {
                let mut below = vec![i];
                if !self.opaque(i, &p) {
                    for &j in dirs.iter().filter(|&&j| j > i) {
                        match self.layers[j].lstat(&p) {
                            Ok(m) if m.kind == FileKind::Dir => {
                                below.push(j);
                                if self.opaque(j, &p) {
                                    break;
                                }
                            }
                            // A whiteout or a non-directory hides the layers below.
                            Ok(_) => break,
                            Err(_) => {}
                        }
                    }
                }
                self.dir(&p, &below, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Writes one entry, found in layer `i`.
    fn entry(&mut self, rel: &Path, i: usize, meta: &Meta) -> io::Result<()> {
        let layer = &self.layers[i];
        let mut path = rel.as_os_str().as_bytes().to_vec();
        let mut link = Vec::new();
        let mut xattrs = Vec::new();
        let kind = match meta.kind {
            FileKind::File => {
                if meta.nlink > 1 {
                    if let Some(first) = self.links.get(&(meta.dev, meta.ino)) {
                        link = first.clone();
                    } else {
                        self.links.insert((meta.dev, meta.ino), path.clone());
                    }
                }
                if link.is_empty() {
                    EntryKind::File
                } else {
                    EntryKind::HardLink
                }
            }
            FileKind::Dir => {
                path.push(b'/');
                EntryKind::Dir
            }
            FileKind::Symlink => {
                match layer.read_link(rel) {
                    Ok(t) => link = t,
                    Err(e) => {
                        self.note(format!("symbolic link unreadable, left out: {e}"), rel);
                        return Ok(());
                    }
                }
                EntryKind::Symlink
            }
            FileKind::CharDevice => EntryKind::CharDevice,
            FileKind::BlockDevice => EntryKind::BlockDevice,
            FileKind::Fifo => EntryKind::Fifo,
            // go-archive leaves sockets out; so does `docker export`.
            FileKind::Socket | FileKind::Unknown => return Ok(()),
        };
        let mut file = None;
        if kind == EntryKind::File {
            match layer.open_file(rel) {
                Ok((f, _)) => file = Some(f),
                Err(e) => {
                    self.note(format!("file unreadable, left out: {e}"), rel);
                    return Ok(());
                }
            }
        }
        if matches!(kind, EntryKind::File | EntryKind::Dir) {
            let listed = match &file {
                Some(f) => crate::fsread::file_xattrs(f).map_err(|e| e.to_string()),
                None => layer.xattrs(rel).map_err(|e| e.to_string()),
            };
            match listed {
                Ok(x) => xattrs.extend(x.into_iter().filter(|(k, _)| k == CAPABILITY)),
                Err(e) => self.note(format!("xattrs unreadable, left out: {e}"), rel),
            }
        }
        let size = if kind == EntryKind::File { meta.size } else { 0 };
        self.tw.begin_entry(&EntryHeader {
            path: &path,
            kind,
            size,
            mode: meta.mode,
            uid: u64::from(meta.uid),
            gid: u64::from(meta.gid),
            mtime: meta.mtime,
            link: &link,
            device: (
                nix::sys::stat::major(meta.rdev) as u32,
                nix::sys::stat::minor(meta.rdev) as u32,
            ),
            xattrs: &xattrs,
        })?;
        self.outcome.entries += 1;
        if let Some(mut f) = file {
            let mut buf = std::mem::take(&mut self.buf);
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.note(format!("read failed, the rest is zeros: {e}"), rel);
                        break;
                    }
                };
                let before = self.tw.owed();
                self.tw.content(&buf[..n])?;
                let wrote = before - self.tw.owed();
                self.outcome.content_bytes += wrote;
                if let Some(p) = self.progress {
                    p(wrote);
                }
                if self.tw.owed() == 0 {
                    break;
                }
            }
            self.buf = buf;
            if self.tw.owed() > 0 {
                self.note(
                    format!(
                        "file shrank while read: {} bytes of zeros written in its place",
                        self.tw.owed()
                    ),
                    rel,
                );
            }
        }
        self.tw.end_entry()
    }
}
