//! Verifying one layer: reassemble its tar stream exactly as moby does, hash it,
//! and compare every member with what its graphdriver directory holds.
//!
//! moby's reassembly (`asm.WriteOutputTarStream`) emits segments verbatim and, for
//! each file entry with a size, copies the named file whole until EOF while
//! computing its CRC-64. Doing the same over the same bytes gives the same SHA-256,
//! so a match proves the layer directory still yields the DiffID. Where it does
//! not, the per-file CRC and size say which file broke it; the walk afterwards
//! finds what was added, which the DiffID alone cannot see.

use super::blob::BlobDigests;
use super::expect::{self, file_kind_of, walk, ExpectedTree, Placement};
use super::members::{open_tar_split, Event, LayerStream, Member, MemberStream, OpenError};
use super::prefetch::{self, FileAhead};
use super::{
    Drift, LayerBlob, LayerJob, LayerResult, Progress, Reporter, VerifyOptions, VerifyStatus,
    WhiteoutStyle,
};
use crate::digest::{DiffId, Hasher};
use crate::finding::{display_bytes, Code, Finding, Severity};
use crate::fsread::{file_xattrs, FileKind, Meta, ReadErrorKind, SafeDir};
use crate::store::graphdriver::DriverKind;
use crate::tarsplit::{self, BadName, Crc64, MemberKind, TarHeader};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Read size for file content: large reads keep syscalls off the profile.
const CHUNK: usize = 1 << 20;
/// The smallest read buffer; buffers grow from here to [`CHUNK`] as a layer's files need.
const MIN_BUF: usize = 64 << 10;

thread_local! {
    /// Each verifying thread's two read buffers, kept from one layer to the next.
    ///
    /// Why: made afresh for every layer, the two 1 MiB buffers were zeroed for every layer,
    /// and on a host of 10,000 small layers that memset was a fifth of a full `audit`'s
    /// time (perf). Kept, they are zeroed once per thread, and only as far as the largest
    /// file read so far needs.
    static READ_BUFS: std::cell::RefCell<[Vec<u8>; 2]> = const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
}

/// Makes `buf` at least `want` bytes long (never shorter than it is).
fn grow(buf: &mut Vec<u8>, want: usize) {
    if buf.len() < want {
        buf.resize(want, 0);
    }
}
/// How far past its recorded size a file is read. moby copies each file to EOF;
/// so does strata, within reason: a file swapped for a huge sparse one must not
/// stall the scan, and any overrun already means the layer does not verify.
const MAX_OVERRUN: u64 = 64 << 20;
/// Below this, hashing and CRC are not worth running on two threads.
const PARALLEL_MIN: usize = 256 << 10;

fn path_of(rel: &[u8]) -> &Path {
    if rel.is_empty() {
        Path::new("")
    } else {
        Path::new(OsStr::from_bytes(rel))
    }
}

/// Verifies one layer. Never fails: every problem is a finding on the result.
pub fn verify_layer(
    root: &SafeDir,
    job: &LayerJob,
    opts: &VerifyOptions,
    progress: Option<Progress<'_>>,
) -> LayerResult {
    run(root, job, opts, progress, None).0
}

/// Verifies one layer in full (`opts.quick` is ignored) while writing the
/// reassembled tar stream to `out`: the layer as `docker save` would export it, or
/// as far as the files on disk allow. Fails only when writing to `out` fails.
pub fn reassemble_layer(
    root: &SafeDir,
    job: &LayerJob,
    opts: &VerifyOptions,
    progress: Option<Progress<'_>>,
    out: &mut dyn Write,
) -> std::io::Result<LayerResult> {
    let opts = VerifyOptions { quick: false, ..*opts };
    match run(root, job, &opts, progress, Some(out)) {
        (_, Some(e)) => Err(e),
        (r, None) => Ok(r),
    }
}

fn run(
    root: &SafeDir,
    job: &LayerJob,
    opts: &VerifyOptions,
    progress: Option<Progress<'_>>,
    sink: Option<&mut dyn Write>,
) -> (LayerResult, Option<std::io::Error>) {
    let mut out = Reporter::new(job.chain_id, opts.findings);
    let mut result = LayerResult {
        chain_id: job.chain_id,
        diff_id: job.diff_id,
        computed_diff_id: None,
        status: VerifyStatus::Unverifiable,
        bytes: 0,
        findings: Vec::new(),
    };
    let layer = match root.open_dir(&job.content_dir) {
        Ok(d) => d,
        Err(e) => {
            out.push(
                Finding::error(
                    Code::LayerContentMissing,
                    format!("layer content directory unavailable: {e}"),
                )
                .with_file(&job.content_dir),
            );
            result.findings = out.finish();
            return (result, None);
        }
    };
    if job.driver == DriverKind::Zfs && !is_mount_point(root, &job.content_dir) {
        // An unmounted dataset leaves an empty directory: every file would look
        // missing, which is not what happened.
        out.push(
            Finding::error(
                Code::LayerContentMissing,
                "zfs dataset not mounted here, its files cannot be read (mount it, or verify a copy)",
            )
            .with_file(&job.content_dir),
        );
        result.findings = out.finish();
        return (result, None);
    }
    let mut source = match LayerStream::open(root, &job.tar_split, job.blob.as_ref(), opts.limits) {
        Ok(s) => s,
        Err(f) => {
            out.push(*f);
            result.findings = out.finish();
            return (result, None);
        }
    };
    let style = WhiteoutStyle::of(job.driver);
    let mut tree = ExpectedTree::default();
    let mut drift = true;
    if style == WhiteoutStyle::Absent {
        drift = lower_chain(root, job, opts, &mut tree, &mut out);
    }

    let mut pass = Pass {
        layer: &layer,
        style,
        quick: opts.quick,
        out: &mut out,
        tree: &mut tree,
        sha: Hasher::new(),
        bytes: 0,
        // A quick pass reads no file content: it never grows them.
        bufs: READ_BUFS.with(|b| std::mem::take(&mut *b.borrow_mut())),
        progress,
        sink,
        sink_error: None,
        ids: opts.id_map,
    };
    // A helper reads ahead of this pass (see `prefetch`); it runs only while the pass
    // does, and only for a tar-split with more than a handful of members.
    let ahead = match (&source, opts.quick) {
        (LayerStream::TarSplit { .. }, false) => root
            .lstat(&job.tar_split)
            .ok()
            .filter(|m| m.size >= prefetch::MIN_TAR_SPLIT_BYTES)
            .and_then(|_| open_tar_split(root, &job.tar_split).ok()),
        _ => None,
    };
    let window = prefetch::Window::default();
    let mut complete = std::thread::scope(|s| {
        let _over = window.finish_on_drop();
        let helper = ahead.and_then(|input| {
            let (layer, window, limits) = (&layer, &window, opts.limits);
            std::thread::Builder::new()
                .name("strata-read-ahead".into())
                .spawn_scoped(s, move || prefetch::read_ahead(layer, input, limits, window))
                .ok()
        });
        let window = helper.as_ref().map(|_| &window);
        while pass.sink_error.is_none() {
            match source.next_event() {
                Ok(None) => break,
                Ok(Some(Event::Segment(bytes))) => pass.emit(&bytes),
                Ok(Some(Event::Member(m))) => {
                    let size = m.size;
                    pass.member(m);
                    if let Some(w) = window {
                        w.consumed(size);
                    }
                }
                Err(f) => {
                    pass.out.push(*f);
                    return false;
                }
            }
        }
        true
    });
    if complete && pass.sink_error.is_none() {
        match source.finish() {
            Ok(Some((blob, d))) => compare_blob(&blob, &d, job, pass.out),
            Ok(None) => {}
            Err(f) => {
                pass.out.push(*f);
                complete = false;
            }
        }
    }
    let Pass { sha, bytes, sink_error, bufs, .. } = pass;
    READ_BUFS.with(|b| *b.borrow_mut() = bufs);
    result.bytes = bytes;
    if sink_error.is_some() {
        result.findings = out.finish();
        return (result, sink_error);
    }

    if complete && drift {
        let check_opaque =
            style == WhiteoutStyle::Overlay && !opts.quick && nix::unistd::geteuid().is_root();
        walk(&layer, &mut tree, job.driver, check_opaque, &mut out);
    }

    result.status = if !complete {
        VerifyStatus::Unverifiable
    } else if opts.quick {
        if out.has_errors() {
            VerifyStatus::Mismatch
        } else {
            VerifyStatus::Checked
        }
    } else {
        let computed = DiffId(sha.finish());
        result.computed_diff_id = Some(computed);
        if computed != job.diff_id {
            out.push(Finding::error(
                Code::DiffIdMismatch,
                format!(
                    "layer content hashes to {computed}, but the layer store records DiffID {}",
                    job.diff_id
                ),
            ));
        }
        if out.has_errors() {
            VerifyStatus::Mismatch
        } else {
            VerifyStatus::Verified
        }
    };
    result.findings = out.finish();
    (result, None)
}

/// A layer blob must hash to its name, and its tar to the DiffID.
fn compare_blob(blob: &LayerBlob, d: &BlobDigests, job: &LayerJob, out: &mut Reporter) {
    if d.compressed != blob.digest {
        out.push(
            Finding::error(
                Code::ContentBlobMismatch,
                format!(
                    "the layer blob {} hashes to {} ({} bytes): its content is not what its name says",
                    blob.digest, d.compressed, d.compressed_bytes
                ),
            )
            .with_file(&blob.path),
        );
    }
    if d.uncompressed != *job.diff_id.digest() {
        out.push(
            Finding::error(
                Code::DiffIdMismatch,
                format!(
                    "the layer blob decompresses to a tar that hashes to {}, but the image config records DiffID {}",
                    d.uncompressed, job.diff_id
                ),
            )
            .with_file(&blob.path),
        );
    }
}

/// Whether `rel` is on another filesystem than its parent directory.
fn is_mount_point(root: &SafeDir, rel: &Path) -> bool {
    let parent = rel.parent().unwrap_or(Path::new(""));
    match (root.lstat(rel), root.lstat(parent)) {
        (Ok(a), Ok(b)) => a.dev != b.dev,
        _ => false,
    }
}

/// Folds the members of every lower layer into `tree`, for full-filesystem drivers.
/// Returns whether drift can be judged.
fn lower_chain(
    root: &SafeDir,
    job: &LayerJob,
    opts: &VerifyOptions,
    tree: &mut ExpectedTree,
    out: &mut Reporter,
) -> bool {
    let Some(lowers) = &job.lower_tar_splits else {
        out.push(Finding::info(
            Code::LayerFileAdded,
            format!(
                "{} keeps a whole filesystem per layer and the lower layers were not given: added files not checked",
                job.driver.name()
            ),
        ));
        return false;
    };
    for rel in lowers {
        let skip = |why: String| {
            Finding::warning(
                Code::TarSplitCorrupt,
                format!("a lower layer's tar-split is unusable ({why}): added files not checked"),
            )
            .with_file(rel)
        };
        let input = match open_tar_split(root, rel) {
            Ok(f) => f,
            Err(OpenError::Missing(m) | OpenError::Unreadable(m)) => {
                out.push(skip(m));
                return false;
            }
        };
        let mut stream = MemberStream::new(input, opts.limits);
        loop {
            match stream.next_event() {
                Ok(None) => break,
                Ok(Some(Event::Segment(_))) => {}
                Ok(Some(Event::Member(m))) => {
                    if let (Ok(rel), Some(kind)) = (&m.rel, header_kind(&m)) {
                        tree.add(rel, kind, m.size, false, WhiteoutStyle::Absent);
                    }
                }
                Err(e) => {
                    out.push(skip(e.to_string()));
                    return false;
                }
            }
        }
    }
    true
}

/// The member's kind per its header; a sized member without a readable header can
/// only be a regular file.
fn header_kind(m: &Member) -> Option<MemberKind> {
    match &m.header {
        Ok(h) => Some(h.kind()),
        Err(_) if m.size > 0 => Some(MemberKind::File),
        Err(_) => None,
    }
}

/// State of the single pass over a layer's own stream.
struct Pass<'a, 'w> {
    layer: &'a SafeDir,
    style: WhiteoutStyle,
    quick: bool,
    out: &'a mut Reporter,
    tree: &'a mut ExpectedTree,
    sha: Hasher,
    bytes: u64,
    bufs: [Vec<u8>; 2],
    progress: Option<Progress<'a>>,
    /// Where the reassembled stream goes, if anywhere.
    sink: Option<&'w mut dyn Write>,
    sink_error: Option<std::io::Error>,
    /// The user namespace shift of owners on disk.
    ids: crate::store::userns::IdMap,
}

/// A member's regular file as found on disk, kept open for the xattr read.
struct OnDisk {
    meta: Meta,
    file: Option<File>,
}

impl Pass<'_, '_> {
    fn emit(&mut self, bytes: &[u8]) {
        if !self.quick {
            self.sha.update(bytes);
        }
        self.write_out(bytes);
        self.advance(bytes.len() as u64);
    }

    fn write_out(&mut self, bytes: &[u8]) {
        if let (Some(sink), None) = (self.sink.as_mut(), &self.sink_error) {
            if let Err(e) = sink.write_all(bytes) {
                self.sink_error = Some(e);
            }
        }
    }

    fn advance(&mut self, n: u64) {
        self.bytes += n;
        if let Some(p) = self.progress {
            p(n);
        }
    }

    fn member(&mut self, m: Member) {
        let header = match &m.header {
            Ok(h) => Some(h),
            Err(e) => {
                self.out.push(
                    Finding::warning(
                        Code::TarSplitCorrupt,
                        format!("cannot parse the tar header of this entry ({e}); its metadata is not compared"),
                    )
                    .with_path(&m.name),
                );
                None
            }
        };
        if let Some(h) = header {
            // tar-split records the header's own name and size; if they disagree,
            // the file reassembly reads is not the one the tar describes.
            if tarsplit::clean_layer_path(&h.name) != m.rel {
                self.out.push(
                    Finding::error(
                        Code::TarSplitCorrupt,
                        format!(
                            "tar-split names this entry, but its tar header names {:?}",
                            display_bytes(&h.name)
                        ),
                    )
                    .with_path(&m.name),
                );
            }
            if h.kind() == MemberKind::File && h.size != m.size {
                self.out.push(
                    Finding::error(
                        Code::TarSplitCorrupt,
                        format!(
                            "tar-split records {} bytes for this entry, its tar header {}",
                            m.size, h.size
                        ),
                    )
                    .with_path(&m.name),
                );
            }
        }
        let rel = match &m.rel {
            Ok(r) => r.clone(),
            Err(BadName::Escape) => {
                self.out.push(
                    Finding::error(
                        Code::PathEscape,
                        "entry name climbs out of the layer directory; not opened",
                    )
                    .with_path(&m.name),
                );
                return;
            }
            Err(BadName::Nul) => {
                self.out.push(
                    Finding::error(Code::TarSplitCorrupt, "entry name contains a NUL byte")
                        .with_path(&m.name),
                );
                return;
            }
        };
        // Like moby, read content by the entry's name whatever the driver did with it.
        let on_disk = if m.size > 0 { self.content(&rel, m.size, m.crc) } else { None };
        let kind = header_kind(&m);
        if let Some(kind) = kind {
            self.tree.add(&rel, kind, m.size, true, self.style);
        }
        match expect::placement(&rel, self.style) {
            Placement::Plain => {}
            Placement::Whiteout(target) => return self.whiteout(&target),
            // Checked by the walk, or nothing on disk to check.
            Placement::Opaque(_) | Placement::Deletion => return,
        }
        if m.size > 0 {
            if let (Some(disk), Some(h)) = (on_disk, header) {
                if !self.quick {
                    self.compare_metadata(&rel, h, &disk);
                }
            }
            return;
        }
        let Some(kind) = kind else { return };
        match kind {
            MemberKind::Meta => {}
            MemberKind::HardLink => {
                if let Some(h) = header {
                    self.hard_link(&rel, &h.linkname);
                }
            }
            _ => {
                if let Some(meta) = self.presence(&rel, kind) {
                    if let (Some(h), false) = (header, self.quick) {
                        self.compare_metadata(&rel, h, &OnDisk { meta, file: None });
                    }
                }
            }
        }
    }

    /// Streams one file's content into the hash (or, quick, checks its size).
    /// Returns what was found when it was a regular file.
    fn content(&mut self, rel: &[u8], size: u64, crc: Option<u64>) -> Option<OnDisk> {
        let path = path_of(rel);
        if self.quick {
            let meta = match self.layer.lstat(path) {
                Ok(m) => m,
                Err(e) => {
                    self.missing(rel, &e);
                    return None;
                }
            };
            if meta.kind != FileKind::File {
                self.modified(
                    rel,
                    format!("is a {} on disk, the layer tar has a regular file here", meta.kind),
                );
                return None;
            }
            if meta.size != size {
                self.modified(
                    rel,
                    format!("size is {} bytes on disk, the layer tar says {size}", meta.size),
                );
            }
            self.advance(size);
            return Some(OnDisk { meta, file: None });
        }
        let (file, meta) = match self.layer.open_file(path) {
            Ok(x) => x,
            Err(e) => {
                match e.kind {
                    ReadErrorKind::Symlink | ReadErrorKind::NotRegular(_) | ReadErrorKind::NotADirectory | ReadErrorKind::Escape => self
                        .modified(
                            rel,
                            format!("not a regular file inside the layer any more, not read ({e}); the layer tar has a regular file here"),
                        ),
                    _ => self.missing(rel, &e),
                }
                return None;
            }
        };
        let limit = size.saturating_add(MAX_OVERRUN);
        let (read, got_crc, err) = self.hash_file(&file, meta.size, limit);
        if let Some(e) = err {
            self.modified(rel, format!("read failed after {read} bytes: {e}"));
        } else if read == limit && read_full(&mut &file, &mut [0u8; 1]).unwrap_or(0) > 0 {
            self.modified(
                rel,
                format!("larger than the {size} bytes the layer tar says; only the first {read} bytes were read and hashed"),
            );
        } else if read != size {
            self.modified(rel, format!("size is {read} bytes on disk, the layer tar says {size}"));
        } else if Some(got_crc) != crc {
            let msg = self.metacopy_note(rel).unwrap_or_else(|| {
                "content differs from the layer tar (CRC-64 mismatch, same size)".to_string()
            });
            self.modified(rel, msg);
        }
        Some(OnDisk { meta, file: Some(file) })
    }

    /// Copies a file into the hash until EOF, as moby does, computing its CRC-64,
    /// but no further than `limit` bytes. The SHA-256 of one chunk runs alongside
    /// the CRC and the read of the next.
    /// `on_disk` is the file's size when opened, how far ahead reading is advised.
    fn hash_file(
        &mut self,
        file: &File,
        on_disk: u64,
        limit: u64,
    ) -> (u64, u64, Option<std::io::Error>) {
        let mut ahead = FileAhead::new(file, on_disk.min(limit), CHUNK as u64);
        let mut file = file.take(limit);
        let mut crc = Crc64::new();
        let [mut cur, mut next] = std::mem::take(&mut self.bufs);
        // Room for the whole file and the one byte that shows its end, up to CHUNK.
        let want = usize::try_from(on_disk.min(limit).saturating_add(1))
            .unwrap_or(CHUNK)
            .clamp(MIN_BUF, CHUNK);
        grow(&mut cur, want);
        grow(&mut next, want);
        let mut total = 0u64;
        let mut err = None;
        ahead.before_read(0);
        let mut n = match read_full(&mut file, &mut cur) {
            Ok(n) => n,
            Err(e) => {
                err = Some(e);
                0
            }
        };
        while n > 0 {
            let data = &cur[..n];
            let sha = &mut self.sha;
            let pos = total + n as u64;
            let following = if n < PARALLEL_MIN {
                sha.update(data);
                crc.update(data);
                ahead.before_read(pos);
                read_full(&mut file, &mut next)
            } else {
                rayon::join(
                    || sha.update(data),
                    || {
                        crc.update(data);
                        ahead.before_read(pos);
                        read_full(&mut file, &mut next)
                    },
                )
                .1
            };
            total += n as u64;
            self.write_out(data);
            self.advance(n as u64);
            std::mem::swap(&mut cur, &mut next);
            n = match following {
                Ok(n) => n,
                Err(e) => {
                    err = Some(e);
                    0
                }
            };
        }
        self.bufs = [cur, next];
        (total, crc.finish(), err)
    }

    /// lstat of a size-0 member, checking it exists as the kind the tar says.
    fn presence(&mut self, rel: &[u8], kind: MemberKind) -> Option<Meta> {
        let meta = match self.layer.lstat(path_of(rel)) {
            Ok(m) => m,
            Err(e) => {
                self.missing(rel, &e);
                return None;
            }
        };
        let want = file_kind_of(kind)?;
        if meta.kind != want {
            self.modified(
                rel,
                format!("is a {} on disk, the layer tar has a {want} here", meta.kind),
            );
            return None;
        }
        if want == FileKind::File && meta.size != 0 {
            self.modified(
                rel,
                format!("size is {} bytes on disk, the layer tar has an empty file", meta.size),
            );
        }
        Some(meta)
    }

    fn whiteout(&mut self, target: &[u8]) {
        match self.layer.lstat(path_of(target)) {
            Ok(m) if self.layer.is_overlay_whiteout(path_of(target), &m) => {}
            Ok(m) => self.modified(
                target,
                format!("the layer tar deletes this path (whiteout), but on disk it is a {} rather than a 0/0 whiteout device", m.kind),
            ),
            Err(e) if e.is_not_found() => self.out.push(
                Finding::error(
                    Code::LayerFileMissing,
                    "the whiteout the layer tar puts here is gone: the lower-layer file would show through",
                )
                .with_path(target),
            ),
            Err(e) => self.missing(target, &e),
        }
    }

    fn hard_link(&mut self, rel: &[u8], linkname: &[u8]) {
        let target = match tarsplit::clean_layer_path(linkname) {
            Ok(t) => t,
            Err(_) => {
                self.out.push(
                    Finding::error(
                        Code::PathEscape,
                        format!(
                            "hard link target {:?} climbs out of the layer",
                            display_bytes(linkname)
                        ),
                    )
                    .with_path(rel),
                );
                return;
            }
        };
        let this = match self.layer.lstat(path_of(rel)) {
            Ok(m) => m,
            Err(e) => return self.missing(rel, &e),
        };
        if this.kind != FileKind::File {
            // Whatever the link pointed at, a symlink, FIFO or device in its place
            // gives this path other content: that is a modification, not metadata.
            self.out.push(
                Finding::error(
                    Code::LayerFileModified,
                    format!(
                        "the layer tar has a hard link to {:?} here, but on disk it is a {}",
                        display_bytes(&target),
                        this.kind
                    ),
                )
                .with_path(rel),
            );
            return;
        }
        let same = self
            .layer
            .lstat(path_of(&target))
            .map(|t| (t.dev, t.ino) == (this.dev, this.ino))
            .unwrap_or(false);
        self.out.compared(Drift::HardLink);
        if !same {
            let msg = format!(
                "no longer a hard link to {:?} as the layer tar says",
                display_bytes(&target)
            );
            self.out.drift(rel, Severity::Warning, false, vec![(Drift::HardLink, msg)]);
        }
    }

    /// Compares what lstat and the xattrs say with the member's header. Content
    /// and type are checked elsewhere; these are the things the DiffID covers but
    /// the CRC of the content does not.
    fn compare_metadata(&mut self, rel: &[u8], h: &TarHeader, on_disk: &OnDisk) {
        let disk = &on_disk.meta;
        let mut diffs: Vec<(Drift, String)> = Vec::new();
        let kind = h.kind();
        let opts = self.out.options();
        if kind == MemberKind::Symlink {
            match self.layer.read_link(path_of(rel)) {
                Ok(t) if t == h.linkname => {}
                Ok(t) => diffs.push((
                    Drift::LinkTarget,
                    format!(
                        "link target {:?} (tar: {:?})",
                        display_bytes(&t),
                        display_bytes(&h.linkname)
                    ),
                )),
                Err(e) => diffs.push((Drift::LinkTarget, format!("link target unreadable: {e}"))),
            }
        } else {
            // Symlink permission bits are meaningless on Linux.
            self.out.compared(Drift::Mode);
            if disk.mode != h.mode {
                diffs.push((Drift::Mode, format!("mode {:04o} (tar: {:04o})", disk.mode, h.mode)));
            }
        }
        if !opts.ignore_owners {
            self.out.compared(Drift::Owner);
            // Under a user namespace the owner on disk is the container's shifted into the
            // host's range: compare the container's id, and show both.
            let inside =
                (self.ids.uids.to_container(disk.uid), self.ids.gids.to_container(disk.gid));
            if inside.0.map(u64::from) != Some(h.uid) || inside.1.map(u64::from) != Some(h.gid) {
                let text = if self.ids.is_identity() {
                    format!("owner {}:{} (tar: {}:{})", disk.uid, disk.gid, h.uid, h.gid)
                } else {
                    let show = |v: Option<u32>| v.map_or("unmapped".to_string(), |v| v.to_string());
                    format!(
                        "owner {}:{} on disk, {}:{} in the container's user namespace (tar: {}:{})",
                        disk.uid,
                        disk.gid,
                        show(inside.0),
                        show(inside.1),
                        h.uid,
                        h.gid
                    )
                };
                diffs.push((Drift::Owner, text));
            }
        }
        if kind == MemberKind::Dir {
            self.overlay_rename(rel);
        }
        if matches!(kind, MemberKind::CharDevice | MemberKind::BlockDevice) {
            let (major, minor) =
                (nix::sys::stat::major(disk.rdev), nix::sys::stat::minor(disk.rdev));
            if (major, minor) != (h.devmajor, h.devminor) {
                self.modified(
                    rel,
                    format!(
                        "device {major}:{minor} on disk, the layer tar says {}:{}",
                        h.devmajor, h.devminor
                    ),
                );
            }
        }
        if matches!(kind, MemberKind::File | MemberKind::Dir) {
            self.out.compared(Drift::Xattrs);
            let mut xattrs = Vec::new();
            self.compare_xattrs(rel, h, on_disk.file.as_ref(), &mut xattrs);
            diffs.extend(xattrs.into_iter().map(|m| (Drift::Xattrs, m)));
        }
        if !diffs.is_empty() {
            self.out.drift(rel, Severity::Warning, true, diffs);
        }
        // The driver itself touches the layer root after unpacking (seen on every
        // overlay2 layer with a `./` member), so its time says nothing.
        if !opts.ignore_times && !rel.is_empty() {
            self.out.compared(Drift::Times);
            if disk.mtime != h.mtime {
                let msg = format!("modification time {} on disk (tar: {})", disk.mtime, h.mtime);
                // Directory times move for harmless reasons (an entry added and removed).
                let severity =
                    if kind == MemberKind::Dir { Severity::Info } else { Severity::Warning };
                self.out.drift(rel, severity, false, vec![(Drift::Times, msg)]);
            }
        }
    }

    fn compare_xattrs(
        &mut self,
        rel: &[u8],
        h: &TarHeader,
        file: Option<&File>,
        diffs: &mut Vec<String>,
    ) {
        let listed = match file {
            Some(f) => file_xattrs(f).map_err(|e| e.to_string()),
            None => self.layer.xattrs(path_of(rel)).map_err(|e| e.to_string()),
        };
        let on_disk = match listed {
            Ok(x) => x,
            Err(e) => {
                diffs.push(format!("xattrs unreadable: {e}"));
                return;
            }
        };
        // overlay keeps its own bookkeeping in these; SELinux labels files itself.
        let ours =
            |name: &str| name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
        let in_tar = |name: &str| h.xattrs.iter().any(|(k, _)| k.as_slice() == name.as_bytes());
        for (name, value) in &on_disk {
            if ours(name) || (name == "security.selinux" && !in_tar(name)) {
                continue;
            }
            match h.xattrs.iter().find(|(k, _)| k.as_slice() == name.as_bytes()) {
                Some((_, v)) if v == value => {}
                // Set inside a user namespace, a file capability is stored as
                // revision 3 with the namespace's root on disk; the tar has it as
                // the container sees it.
                Some((_, v))
                    if name == "security.capability"
                        && same_capability(v, value, &self.ids.uids) => {}
                Some(_) => diffs.push(format!("xattr {name} has another value")),
                None => diffs.push(format!("xattr {name} added")),
            }
        }
        for (name, _) in &h.xattrs {
            let name = String::from_utf8_lossy(name);
            if !on_disk.iter().any(|(k, _)| *k == name) {
                diffs.push(format!("xattr {name} removed"));
            }
        }
    }

    /// A directory renamed through an overlay mount with `redirect_dir=on` keeps
    /// the path of its lower copy in `overlay.redirect`: its entries come from there,
    /// which no layer tar can say. A layer directory never gets one from the engine.
    fn overlay_rename(&mut self, rel: &[u8]) {
        if let Some(to) = self.layer.overlay_xattr(path_of(rel), "redirect") {
            self.modified(
                rel,
                format!(
                    "renamed through an overlay mount with redirect_dir (overlay.redirect {:?}): the merged directory shows the lower-layer entries of that path, not what the layer tar has here",
                    display_bytes(&to)
                ),
            );
        }
    }

    /// Why a file's content differs, when an overlay mount with `metacopy=on` made
    /// it a metadata-only copy (its data stays in a lower layer).
    fn metacopy_note(&self, rel: &[u8]) -> Option<String> {
        self.layer.overlay_xattr(path_of(rel), "metacopy")?;
        let from = self
            .layer
            .overlay_xattr(path_of(rel), "redirect")
            .map(|r| format!(" at {:?}", display_bytes(&r)))
            .unwrap_or_default();
        Some(format!(
            "a metadata-only copy (overlay.metacopy, written through an overlay mount with metacopy=on): its data is in a lower layer{from}, not in this layer's directory, so the content the layer tar has here is gone"
        ))
    }

    fn modified(&mut self, rel: &[u8], msg: String) {
        self.out.push(Finding::error(Code::LayerFileModified, msg).with_path(rel));
    }

    fn missing(&mut self, rel: &[u8], e: &crate::fsread::ReadError) {
        let msg = if e.is_not_found() {
            "in the layer tar but not on disk".to_string()
        } else {
            format!("in the layer tar but cannot be read: {e}")
        };
        self.out.push(Finding::error(Code::LayerFileMissing, msg).with_path(rel));
    }
}

/// Whether two `security.capability` values grant the same: equal, or the disk's a
/// revision 3 (namespaced) one whose root id is container root under `uids` and whose
/// capability sets equal the tar's revision 2 value.
fn same_capability(tar: &[u8], disk: &[u8], uids: &crate::store::userns::IdRanges) -> bool {
    const V2: usize = 20;
    if tar == disk {
        return true;
    }
    let rev = |v: &[u8]| v.get(..4).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    let (Some(t), Some(d)) = (rev(tar), rev(disk)) else { return false };
    if t >> 24 != 2 || d >> 24 != 3 || tar.len() != V2 || disk.len() != V2 + 4 {
        return false;
    }
    let root = u32::from_le_bytes([disk[20], disk[21], disk[22], disk[23]]);
    // Same effective flag, same permitted and inheritable sets.
    t & 0xff_ffff == d & 0xff_ffff && tar[4..] == disk[4..V2] && uids.to_container(root) == Some(0)
}

/// Fills `buf` unless EOF comes first; returns the bytes read.
fn read_full(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::same_capability;
    use crate::store::userns::{Extent, IdRanges};

    /// cap_net_raw+ep as setcap writes it (revision 2), and as the rootless fixture's
    /// kernel stored it, set inside a namespace whose root is host uid 1001 (revision 3).
    #[test]
    fn namespaced_capability_equals_the_tar_value() {
        let v2 = [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let v3 = [1, 0, 0, 3, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe9, 3, 0, 0];
        let rootless = IdRanges::new(&[Extent { inside: 0, outside: 1001, count: 1 }]);
        assert!(same_capability(&v2, &v3, &rootless));
        // Another namespace's root, or another set, is another value.
        let other = IdRanges::new(&[Extent { inside: 0, outside: 2000, count: 1 }]);
        assert!(!same_capability(&v2, &v3, &other));
        let mut more = v3;
        more[5] = 0x30;
        assert!(!same_capability(&v2, &more, &rootless));
        assert!(!same_capability(&v2, &v3, &IdRanges::default()));
    }
}
