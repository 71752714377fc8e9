//! Readers, one per on-disk database of the graphdriver image store.
//!
//! Each reader returns typed records and pushes a [`Finding`] for every file it could
//! not use; none of them stops because one file is bad.

pub mod buildkit;
pub mod containerd;
pub mod containers;
pub mod distribution;
pub mod graphdriver;
pub mod imagedb;
pub mod layerdb;
pub mod layout;
pub mod legacy;
pub mod logs;
pub mod registry;
pub mod repositories;
pub mod userns;
pub mod volumes;

use crate::finding::{Code, Finding};
use crate::fsread::{DirEntry, Limits, ReadError, ReadErrorKind, SafeDir};
use std::path::{Path, PathBuf};

/// Why the bytes of one small store file are not what the store writes there. The
/// text is the message of a `metadata-corrupt` finding; quoted values are cut short.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A digest (`diff`, `parent`) that does not parse.
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
    /// `size` is not a decimal int64.
    #[error("{0:?} is not a decimal integer")]
    NotAnInteger(String),
    /// `cache-id` names no usable directory.
    #[error("{0:?} is not a usable directory name")]
    BadDirName(String),
    /// `mount-id` / `init-id` is not 64 hex with an optional `-init`.
    #[error("{0:?} is not a valid layer id")]
    BadMountId(String),
    /// An overlay2 `link` file that holds no short link name.
    #[error("{0:?} is not a valid short link name")]
    BadLinkName(String),
    /// An overlay2 `lower` entry that is not `l/<short link>`.
    #[error("{0:?} is not an l/<short link> entry")]
    BadLowerEntry(String),
    /// An image config that is not JSON of the expected shape.
    #[error("not a valid image config: {0}")]
    Config(#[source] serde_json::Error),
    /// An image config's `rootfs.diff_ids` entry that is not a digest.
    #[error("rootfs.diff_ids[{index}]: {source}")]
    DiffId {
        /// Position in `rootfs.diff_ids`.
        index: usize,
        /// Why it is not a digest.
        #[source]
        source: crate::digest::DigestError,
    },
}

/// The first `n` characters of `s`, for quoting a bad value in a [`ParseError`].
fn quoted(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Reads `items` in parallel with `read` (each call gets its own finding list), keeping the
/// input order for both the records and the findings, so a report is the same whatever the
/// thread count.
///
/// Why: the metadata of a big host is tens of thousands of small files (about six per image);
/// read one at a time, every read waits for the one before it, on a cold disk for a seek.
/// A dedicated pool wider than the cores keeps several reads in flight (they block in the
/// kernel, not on the CPU), which a cold disk needs and a warm page cache does not mind.
pub(crate) fn par_read<I, T, F>(items: Vec<I>, read: F) -> (Vec<T>, Vec<Finding>)
where
    I: Send,
    T: Send,
    F: Fn(I, &mut Vec<Finding>) -> Option<T> + Sync + Send,
{
    use rayon::prelude::*;
    let each = || -> Vec<(Option<T>, Vec<Finding>)> {
        items
            .into_par_iter()
            .with_min_len(32)
            .map(|item| {
                let mut found = Vec::new();
                let t = read(item, &mut found);
                (t, found)
            })
            .collect()
    };
    let done = match io_pool() {
        Some(pool) => pool.install(each),
        None => each(),
    };
    let mut out = Vec::with_capacity(done.len());
    let mut findings = Vec::new();
    for (t, found) in done {
        out.extend(t);
        findings.extend(found);
    }
    (out, findings)
}

/// `base` joined with each of `names`, in a buffer of exactly the length needed.
///
/// Why not `Path::join`: it copies `base` at its length and then grows the copy, doubling
/// it, to fit the name; a path kept for every layer and image of a big host (10,000 of
/// each, several paths apiece) then holds about twice the bytes it uses, some megabytes
/// of the peak (heaptrack, issue 15).
pub(crate) fn join_exact(base: &Path, names: &[&str]) -> PathBuf {
    let len = base.as_os_str().len() + names.iter().map(|n| n.len() + 1).sum::<usize>();
    let mut p = PathBuf::with_capacity(len);
    p.push(base);
    for n in names {
        p.push(n);
    }
    p
}

/// Runs `a` and `b` at the same time on the reader pool (one after the other when it cannot
/// be made). Whole stores are read this way so the pool never idles at the end of one
/// store's listing while another's has not begun; each reader keeps its own findings.
pub(crate) fn together<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match io_pool() {
        Some(pool) => pool.join(a, b),
        None => (a(), b()),
    }
}

/// The pool [`par_read`] reads on: 8 threads per core, at least 16, at most 64. `None` if the
/// threads cannot be made (the global pool is used then).
///
/// Why 16 on 2 cores: on the 10,000-image root with the page cache dropped, `audit
/// --metadata-only` took 4.7-4.8 s with 8 threads, 4.2-4.6 s with 16 or 32 and 5.1 s with
/// 64 (this VM's virtual disk); warm, 8 and 16 were alike and 32 slower.
fn io_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads((cores * 8).clamp(16, 64))
            .thread_name(|i| format!("strata-read-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// What every reader needs: the open data-root, which image store to read, limits.
pub struct StoreCtx<'a> {
    /// The open data-root.
    pub root: &'a SafeDir,
    /// Graphdriver name, e.g. `overlay2`.
    pub driver: String,
    /// `image/<driver>`, relative to the data-root.
    pub image_root: PathBuf,
    /// How much each reader may load.
    pub limits: Limits,
}

impl<'a> StoreCtx<'a> {
    /// A context for reading `image/<driver>` under `root` (an empty driver reads only
    /// `containers/`).
    pub fn new(root: &'a SafeDir, driver: &str, limits: Limits) -> Self {
        Self {
            root,
            driver: driver.to_owned(),
            image_root: Path::new("image").join(driver),
            limits,
        }
    }

    /// Lists a directory; a missing one gives an empty list, any other failure a finding.
    pub(crate) fn list_dir_or_finding(
        &self,
        rel: &Path,
        findings: &mut Vec<Finding>,
    ) -> Option<Vec<DirEntry>> {
        list_dir_or_finding(self.root, rel, findings)
    }

    /// Reads a small optional text file: `None` if absent, a finding if unreadable.
    pub(crate) fn read_small_text(
        &self,
        rel: &Path,
        findings: &mut Vec<Finding>,
    ) -> Option<String> {
        match self.root.read_file(rel, self.limits.max_metadata_bytes) {
            Ok(b) => match String::from_utf8(b) {
                Ok(s) => Some(s),
                Err(_) => {
                    findings.push(
                        Finding::error(Code::MetadataCorrupt, "file is not UTF-8 text")
                            .with_file(rel),
                    );
                    None
                }
            },
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                findings.push(read_error_finding(&e, rel, self.root.path()));
                None
            }
        }
    }
}

/// Lists a directory under `root`; a missing one gives `None`, any other failure a
/// finding (and `None`).
pub(crate) fn list_dir_or_finding(
    root: &SafeDir,
    rel: &Path,
    findings: &mut Vec<Finding>,
) -> Option<Vec<DirEntry>> {
    match root.read_dir(rel) {
        Ok(v) => Some(v),
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            findings.push(read_error_finding(&e, rel, root.path()));
            None
        }
    }
}

/// Turns a read failure into a finding naming the file relative to the data-root.
pub fn read_error_finding(e: &ReadError, rel: &Path, root: &Path) -> Finding {
    let code = match e.kind {
        ReadErrorKind::PermissionDenied => Code::StoreUnreadable,
        ReadErrorKind::TooLarge { .. } => Code::LimitExceeded,
        ReadErrorKind::Escape => Code::PathEscape,
        _ => Code::MetadataCorrupt,
    };
    // The message names the path relative to the data-root; the error's own text
    // carries the absolute one, which is noise in a report about one root.
    let msg = e.to_string();
    let root_prefix = format!("{}/", root.display());
    let msg = msg.strip_prefix(&root_prefix).map(str::to_owned).unwrap_or(msg);
    Finding::error(code, msg).with_file(rel)
}
