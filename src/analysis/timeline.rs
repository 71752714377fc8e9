//! `strata timeline`: when everything on the host happened, in one account.
//!
//! Two kinds of entry, both [`Entry`]:
//! - **files**: every inode of every layer's directory and of every container's RW
//!   and init layer, with the four times statx gives (birth only where the
//!   filesystem keeps it), and every member of every layer's tar as tar-split (or,
//!   on the containerd store, the layer blob) records it, with its tar mtime;
//! - **events** from metadata: image created (config), each build step (history),
//!   `LastTagTime` (`lastUpdated`), container created/started/finished
//!   (`config.v2.json`), and containerd's `createdat`/`updatedat` of images,
//!   content, snapshots (meta.db's and the snapshotter's records) and containers,
//!   and leases' `createdat`. An event has one
//!   time, put in all four time fields.
//!
//! Memory stays bounded on a host of millions of files: [`collect`] streams entries
//! to a callback as it reads them, and [`Sorter`] sorts them by time in runs of
//! [`Sorter::RUN_ROWS`] rows, spilling each sorted run to an anonymous temporary file
//! and merging the runs at the end (an external merge sort), so at most one run and
//! one row per spilled run are in memory.

use crate::digest::ChainId;
use crate::finding::{display_bytes, Finding};
use crate::fsread::{Limits, SafeDir};
use crate::graph::Graph;
use crate::store::read_error_finding;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where an entry's times come from.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The inode on disk (statx).
    Inode,
    /// A tar header of the layer (tar-split, or the containerd layer blob).
    Tar,
    /// A metadata record (image config, `config.v2.json`, containerd's meta.db).
    Metadata,
}

/// What an entry belongs to.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerKind {
    /// An image (by image ID).
    Image,
    /// An image layer (by ChainID).
    Layer,
    /// A container's read-write layer (by container ID).
    ContainerRw,
    /// A container's `-init` layer (by container ID).
    ContainerInit,
    /// A container (by container ID).
    Container,
    /// A containerd content blob (by digest).
    Content,
    /// A containerd snapshot (by meta.db key).
    Snapshot,
    /// A containerd lease (by ID).
    Lease,
}

impl OwnerKind {
    /// The word used in names: `layer`, `container-rw`...
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Image => "image",
            OwnerKind::Layer => "layer",
            OwnerKind::ContainerRw => "container-rw",
            OwnerKind::ContainerInit => "container-init",
            OwnerKind::Container => "container",
            OwnerKind::Content => "content",
            OwnerKind::Snapshot => "snapshot",
            OwnerKind::Lease => "lease",
        }
    }
}

/// One file or one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Where the times come from.
    pub source: Source,
    /// What it belongs to.
    pub owner_kind: OwnerKind,
    /// The owner's ID: ChainID, image ID, container ID, digest, snapshot key, lease ID.
    pub owner: String,
    /// A name for the owner a person knows it by: an image's first tag, a container's name.
    pub owner_name: Option<String>,
    /// For a file, its path inside the layer (`/etc/passwd`; non-UTF-8 bytes as
    /// `\xNN`); for an event, what happened (`created (config)`).
    pub path: String,
    /// Inode number (0 for tar members and events).
    pub inode: u64,
    /// The whole `st_mode` (type and permission bits); 0 for events.
    pub mode: u32,
    /// Owner user ID.
    pub uid: u64,
    /// Owner group ID.
    pub gid: u64,
    /// Size in bytes.
    pub size: u64,
    /// Last access, nanoseconds since the epoch.
    pub atime: Option<i64>,
    /// Last modification.
    pub mtime: Option<i64>,
    /// Last inode change.
    pub ctime: Option<i64>,
    /// Birth.
    pub crtime: Option<i64>,
}

impl Entry {
    /// The four times in bodyfile order of `macb`: modified, accessed, changed, born.
    pub fn times(&self) -> [Option<i64>; 4] {
        [self.mtime, self.atime, self.ctime, self.crtime]
    }
}

/// A time window, both ends included, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    /// Earliest time kept.
    pub since: Option<i64>,
    /// Latest time kept.
    pub until: Option<i64>,
}

impl Window {
    /// Whether `t` is inside.
    pub fn contains(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }
}

/// One line of the sorted account: an entry at one of its times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The time this row is at, nanoseconds since the epoch.
    pub time: i64,
    /// Which of the entry's times equal it, as mactime shows them: `m.c.`, `macb`.
    pub macb: String,
    /// The entry, with all its times.
    pub entry: Entry,
}

impl Row {
    fn key(&self) -> (i64, Source, OwnerKind, &str, &str, &str) {
        (
            self.time,
            self.entry.source,
            self.entry.owner_kind,
            &self.entry.owner,
            &self.entry.path,
            &self.macb,
        )
    }
}

impl Ord for Row {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Row {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The rows of `entry` inside `window`: one per distinct time inside it (mactime's
/// way, for csv and jsonl), or with `one_per_entry` a single row at its earliest time
/// inside (for the bodyfile, where mactime does the spreading). The entry keeps all
/// its times, those outside the window too: the window chooses rows, it does not
/// edit the evidence. An entry with no time inside gives none.
pub fn rows(mut entry: Entry, window: Window, one_per_entry: bool) -> Vec<Row> {
    let times = entry.times();
    let mut distinct: Vec<i64> =
        times.iter().flatten().copied().filter(|t| window.contains(*t)).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if one_per_entry {
        distinct.truncate(1);
    }
    let macb = |t: i64| -> String {
        times
            .iter()
            .zip(['m', 'a', 'c', 'b'])
            .map(|(x, c)| if *x == Some(t) { c } else { '.' })
            .collect()
    };
    let n = distinct.len();
    let mut out = Vec::with_capacity(n);
    for (i, t) in distinct.into_iter().enumerate() {
        let m = if one_per_entry { "macb".to_owned() } else { macb(t) };
        let e =
            if i + 1 == n { std::mem::replace(&mut entry, empty_entry()) } else { entry.clone() };
        out.push(Row { time: t, macb: m, entry: e });
    }
    out
}

fn empty_entry() -> Entry {
    Entry {
        source: Source::Metadata,
        owner_kind: OwnerKind::Image,
        owner: String::new(),
        owner_name: None,
        path: String::new(),
        inode: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 0,
        atime: None,
        mtime: None,
        ctime: None,
        crtime: None,
    }
}

/// Sorts rows by time with bounded memory: runs of [`Sorter::RUN_ROWS`] rows are
/// sorted in memory and appended to one anonymous temporary file (gone when closed,
/// even on a crash), then merged.
///
/// The file is made by the caller before the sandbox starts ([`Sorter::spill_file`]),
/// in a directory outside the roots being read: once sandboxed, strata may create no
/// file at all, so every run shares the one file, each read back from its own offset.
pub struct Sorter {
    run: Vec<Row>,
    /// Where the runs go.
    file: std::fs::File,
    /// Each spilled run's byte range in `file`.
    spilled: Vec<(u64, u64)>,
    end: u64,
    run_rows: usize,
}

impl Sorter {
    /// Rows held in memory before a run is spilled: a few hundred bytes each, so a
    /// run stays in the tens of MiB.
    pub const RUN_ROWS: usize = 50_000;

    /// An anonymous temporary file in `dir` for the runs, with a message that says what
    /// to do when it cannot be made.
    pub fn spill_file(dir: &Path) -> io::Result<std::fs::File> {
        tempfile::tempfile_in(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot make a temporary file in {} to sort the timeline: {e} (set TMPDIR)",
                    dir.display()
                ),
            )
        })
    }

    /// A sorter spilling into `file` (see [`Sorter::spill_file`]).
    pub fn new(file: std::fs::File) -> Self {
        Self::with_run_rows(file, Self::RUN_ROWS)
    }

    /// A sorter with runs of `run_rows` rows (small in tests, to exercise the merge).
    pub fn with_run_rows(file: std::fs::File, run_rows: usize) -> Self {
        Self { run: Vec::new(), file, spilled: Vec::new(), end: 0, run_rows: run_rows.max(1) }
    }

    /// Adds a row, spilling the run when it is full.
    pub fn push(&mut self, row: Row) -> io::Result<()> {
        self.run.push(row);
        if self.run.len() >= self.run_rows {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        let file = &self.file;
        self.run.sort_unstable();
        let start = self.end;
        let mut w = BufWriter::new(file);
        let mut len = 0u64;
        for row in self.run.drain(..) {
            let mut line = serde_json::to_vec(&row).map_err(io::Error::other)?;
            line.push(b'\n');
            w.write_all(&line)?;
            len += line.len() as u64;
        }
        w.flush()?;
        self.spilled.push((start, len));
        self.end = start + len;
        Ok(())
    }

    /// How many runs went to disk.
    pub fn spilled_runs(&self) -> usize {
        self.spilled.len()
    }

    /// Hands every row to `each`, in time order.
    pub fn finish(mut self, each: &mut dyn FnMut(Row) -> io::Result<()>) -> io::Result<()> {
        if self.spilled.is_empty() {
            self.run.sort_unstable();
            for row in self.run {
                each(row)?;
            }
            return Ok(());
        }
        if !self.run.is_empty() {
            self.spill()?;
        }
        let file = &self.file;
        let mut readers: Vec<BufReader<RunReader<'_>>> = self
            .spilled
            .iter()
            .map(|&(pos, left)| BufReader::new(RunReader { file, pos, left }))
            .collect();
        let mut heap = BinaryHeap::new();
        let next = |r: &mut BufReader<RunReader<'_>>| -> io::Result<Option<Row>> {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            serde_json::from_str(&line).map(Some).map_err(io::Error::other)
        };
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(row) = next(r)? {
                heap.push(std::cmp::Reverse((row, i)));
            }
        }
        while let Some(std::cmp::Reverse((row, i))) = heap.pop() {
            each(row)?;
            if let Some(row) = next(&mut readers[i])? {
                heap.push(std::cmp::Reverse((row, i)));
            }
        }
        Ok(())
    }
}

/// One spilled run: a byte range of the shared spill file, read with `pread` so the
/// runs' readers do not move each other's position.
struct RunReader<'a> {
    file: &'a std::fs::File,
    pos: u64,
    left: u64,
}

impl io::Read for RunReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

/// An RFC 3339 time as nanoseconds since the epoch; `None` for Go's zero time
/// (year 1, "never"), an empty string, or anything unparsable.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    if t.timestamp() <= -62_135_596_800 {
        return None;
    }
    t.timestamp_nanos_opt()
}

fn event(kind: OwnerKind, owner: String, name: Option<String>, what: String, t: i64) -> Entry {
    Entry {
        source: Source::Metadata,
        owner_kind: kind,
        owner,
        owner_name: name,
        path: what,
        inode: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 0,
        atime: Some(t),
        mtime: Some(t),
        ctime: Some(t),
        crtime: Some(t),
    }
}

/// Every event the metadata of `g` records, in no particular order.
pub fn events(g: &Graph, each: &mut dyn FnMut(Entry) -> io::Result<()>) -> io::Result<()> {
    for img in g.images.values() {
        let id = img.id().to_string();
        let name = img.repo_tags.first().or(img.repo_digests.first()).cloned();
        let mut ev = |what: String, t: Option<&str>| match t.and_then(parse_time) {
            Some(t) => each(event(OwnerKind::Image, id.clone(), name.clone(), what, t)),
            None => Ok(()),
        };
        if let Some(c) = &img.record.config {
            ev("created (config)".to_owned(), c.created.as_deref())?;
            let history = img.record.history();
            let n = history.len();
            for (i, h) in history.iter().enumerate() {
                let by = h.created_by.as_deref().unwrap_or("");
                let what = match (&h.comment, by.is_empty()) {
                    (Some(c), true) if !c.is_empty() => format!("build step {}/{n}: ({c})", i + 1),
                    _ => format!("build step {}/{n}: {by}", i + 1),
                };
                ev(what, h.created.as_deref())?;
            }
        }
        ev("last tagged (LastTagTime)".to_owned(), img.record.last_updated.as_deref())?;
    }
    for c in g.containers.values() {
        let id = c.record.id.to_string();
        let name = c.record.name.clone();
        let mut ev = |what: String, t: Option<&str>| match t.and_then(parse_time) {
            Some(t) => each(event(OwnerKind::Container, id.clone(), name.clone(), what, t)),
            None => Ok(()),
        };
        ev("created".to_owned(), c.record.created.as_deref())?;
        ev("started".to_owned(), c.record.state.started_at.as_deref())?;
        let finished = format!("finished (exit code {})", c.record.state.exit_code);
        ev(finished, c.record.state.finished_at.as_deref())?;
    }
    let Some(ctd) = &g.containerd else { return Ok(()) };
    let s = &ctd.store;
    let mut ev =
        |kind: OwnerKind, owner: &str, name: Option<&str>, what: &str, t: Option<&str>| match t
            .and_then(parse_time)
        {
            Some(t) => {
                each(event(kind, owner.to_owned(), name.map(str::to_owned), what.to_owned(), t))
            }
            None => Ok(()),
        };
    for i in &s.images {
        let owner = i.target.digest.to_string();
        let created = format!("containerd image record {} created (tagged or pulled)", i.name);
        ev(OwnerKind::Image, &owner, Some(&i.name), &created, i.created_at.as_deref())?;
        let updated = format!("containerd image record {} updated", i.name);
        ev(OwnerKind::Image, &owner, Some(&i.name), &updated, i.updated_at.as_deref())?;
    }
    for b in s.blobs.values() {
        let d = b.digest.to_string();
        ev(OwnerKind::Content, &d, None, "content blob created", b.created_at.as_deref())?;
        ev(OwnerKind::Content, &d, None, "content blob updated", b.updated_at.as_deref())?;
    }
    for sn in s.snapshots.values() {
        ev(OwnerKind::Snapshot, &sn.key, None, "snapshot created", sn.created_at.as_deref())?;
        ev(OwnerKind::Snapshot, &sn.key, None, "snapshot updated", sn.updated_at.as_deref())?;
        // The snapshotter's own record (its metadata.db) has times of its own.
        if let Some(b) = &sn.backend {
            let created = format!("snapshotter record {} created", b.key);
            ev(OwnerKind::Snapshot, &sn.key, None, &created, b.created_at.as_deref())?;
            let updated = format!("snapshotter record {} updated", b.key);
            ev(OwnerKind::Snapshot, &sn.key, None, &updated, b.updated_at.as_deref())?;
        }
    }
    for c in &s.containers {
        let created = "containerd container record created";
        ev(OwnerKind::Container, &c.id, None, created, c.created_at.as_deref())?;
        let updated = "containerd container record updated";
        ev(OwnerKind::Container, &c.id, None, updated, c.updated_at.as_deref())?;
    }
    for l in &s.leases {
        ev(OwnerKind::Lease, &l.id, None, "lease created", l.created_at.as_deref())?;
    }
    Ok(())
}

/// `st_mode` type bits for a tar member type.
fn tar_type_bits(kind: crate::analysis::files::FileType) -> u32 {
    use crate::analysis::files::FileType as T;
    match kind {
        T::File | T::HardLink => 0o100_000,
        T::Dir => 0o040_000,
        T::Symlink => 0o120_000,
        T::Char => 0o020_000,
        T::Block => 0o060_000,
        T::Fifo => 0o010_000,
        T::Meta | T::Unknown => 0,
    }
}

/// The path as the timeline shows it: absolute inside its layer.
fn rooted(p: &str) -> String {
    if p == "." || p.is_empty() {
        "/".to_owned()
    } else {
        format!("/{p}")
    }
}

/// Every member of layer `chain`'s tar, with its tar mtime (seconds).
pub fn tar_entries(
    g: &Graph,
    root: &SafeDir,
    chain: &ChainId,
    limits: Limits,
    findings: &mut Vec<Finding>,
    each: &mut dyn FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    let owner = chain.to_string();
    crate::analysis::files::for_each_file(g, root, chain, limits, findings, &mut |f| {
        let mtime = f.mtime.checked_mul(1_000_000_000);
        each(Entry {
            source: Source::Tar,
            owner_kind: OwnerKind::Layer,
            owner: owner.clone(),
            owner_name: None,
            path: rooted(&f.path),
            inode: 0,
            mode: tar_type_bits(f.kind) | (f.mode & 0o7777),
            uid: f.uid,
            gid: f.gid,
            size: f.size,
            atime: None,
            mtime,
            ctime: None,
            crtime: None,
        })
    })
}

/// A file the walk cannot read: a warning (the timeline goes on without it).
fn warn(e: &crate::fsread::ReadError, rel: &Path, root: &SafeDir) -> Finding {
    let f = read_error_finding(e, rel, root.path());
    Finding { severity: crate::finding::Severity::Warning, ..f }
}

/// Every inode under `dir` (relative to `root`), the directory itself as `/`, with
/// the times statx gives. Walked depth first, holding only the paths of directories
/// still to visit; nothing is followed and nothing is opened but directories.
pub fn inode_entries(
    root: &SafeDir,
    dir: &Path,
    (kind, owner, owner_name): (OwnerKind, &str, Option<&str>),
    findings: &mut Vec<Finding>,
    each: &mut dyn FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    let base = match root.open_dir(dir) {
        Ok(d) => d,
        Err(e) => {
            findings.push(warn(&e, dir, root));
            return Ok(());
        }
    };
    let entry = |path: String, st: crate::fsread::InodeStat| Entry {
        source: Source::Inode,
        owner_kind: kind,
        owner: owner.to_owned(),
        owner_name: owner_name.map(str::to_owned),
        path,
        inode: st.ino,
        mode: st.mode,
        uid: u64::from(st.uid),
        gid: u64::from(st.gid),
        size: st.size,
        atime: st.atime,
        mtime: st.mtime,
        ctime: st.ctime,
        crtime: st.btime,
    };
    match base.statx(std::ffi::OsStr::new("")) {
        Ok(st) => each(entry("/".to_owned(), st))?,
        Err(e) => findings.push(warn(&e, dir, root)),
    }
    let mut pending: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let opened = if rel.as_os_str().is_empty() {
            base.open_dir(Path::new("."))
        } else {
            base.open_dir(&rel)
        };
        let listed = opened.and_then(|d| d.list().map(|l| (d, l)));
        let (d, list) = match listed {
            Ok(x) => x,
            Err(e) => {
                findings.push(warn(&e, &dir.join(&rel), root));
                continue;
            }
        };
        for child in list {
            let rel_child = rel.join(&child.name);
            let st = match d.statx(&child.name) {
                Ok(st) => st,
                Err(e) => {
                    findings.push(warn(&e, &dir.join(&rel_child), root));
                    continue;
                }
            };
            if crate::fsread::FileKind::from_mode(st.mode) == crate::fsread::FileKind::Dir {
                pending.push(rel_child.clone());
            }
            each(entry(format!("/{}", display_bytes(rel_child.as_os_str().as_bytes())), st))?;
        }
    }
    Ok(())
}

/// Everything: events, then each layer's tar members and inodes, then each
/// container's RW and init layer inodes, streamed to `each` unsorted. What cannot be
/// read becomes a finding and the walk goes on; an error from `each` stops it.
pub fn collect(
    g: &Graph,
    root: &SafeDir,
    limits: Limits,
    findings: &mut Vec<Finding>,
    each: &mut dyn FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    events(g, each)?;
    let files_root = g.content_root(root);
    for (chain, layer) in &g.layers {
        tar_entries(g, root, chain, limits, findings, each)?;
        if let Some(dir) = &layer.content_dir {
            let owner = chain.to_string();
            inode_entries(files_root, dir, (OwnerKind::Layer, &owner, None), findings, each)?;
        }
    }
    for c in g.containers.values() {
        let id = c.record.id.to_string();
        let name = c.record.name.as_deref();
        if let Some(dir) = &c.rw_dir {
            inode_entries(files_root, dir, (OwnerKind::ContainerRw, &id, name), findings, each)?;
        }
        if let Some(dir) = &c.init_dir {
            inode_entries(files_root, dir, (OwnerKind::ContainerInit, &id, name), findings, each)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, m: Option<i64>, a: Option<i64>, c: Option<i64>, b: Option<i64>) -> Entry {
        Entry { path: path.to_owned(), mtime: m, atime: a, ctime: c, crtime: b, ..empty_entry() }
    }

    #[test]
    fn rows_spread_like_mactime_and_honour_the_window() {
        let e = entry("x", Some(5), Some(9), Some(5), None);
        let r = rows(e.clone(), Window::default(), false);
        assert_eq!(
            r.iter().map(|r| (r.time, r.macb.as_str())).collect::<Vec<_>>(),
            [(5, "m.c."), (9, ".a..")]
        );
        let r = rows(e.clone(), Window { since: Some(6), until: None }, false);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].time, r[0].macb.as_str(), r[0].entry.mtime), (9, ".a..", Some(5)));
        let r = rows(e.clone(), Window::default(), true);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].time, 5);
        assert!(rows(e, Window { since: Some(10), until: None }, true).is_empty());
    }

    #[test]
    fn spilled_runs_merge_in_order() {
        let mut s = Sorter::with_run_rows(tempfile::tempfile().unwrap(), 3);
        let times = [7, 3, 9, 1, 8, 2, 2, 6, 5, 4];
        for (i, t) in times.iter().enumerate() {
            for r in
                rows(entry(&format!("f{i}"), Some(*t), None, None, None), Window::default(), false)
            {
                s.push(r).unwrap();
            }
        }
        assert_eq!(s.spilled_runs(), 3);
        let mut got = Vec::new();
        s.finish(&mut |r| {
            got.push(r.time);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [1, 2, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn go_zero_time_is_no_time() {
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(parse_time("2026-11-29T02:12:45+01:00"), parse_time("2026-11-29T01:12:45Z"));
    }
}
