//! Contained, read-only, bounded access to the data-root.
//!
//! strata runs as root over trees an attacker may have shaped. Every open here is
//! relative to a directory descriptor and resolved by the kernel with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so no symlink and no `..` can lead a read
//! outside the tree; final components are opened `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`
//! and checked with fstat of the opened descriptor, so a FIFO never blocks, a device
//! or FIFO is never read and no stat-then-open race exists; nothing is ever opened for
//! writing; and every whole-file read has a byte limit.

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Limits on what strata will read into memory. A breach is a finding, not an abort.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Small metadata files: layerdb entries, distribution entries, image configs,
    /// container configs, repositories.json.
    pub max_metadata_bytes: u64,
    /// Decompressed size of one tar-split stream.
    pub max_tar_split_bytes: u64,
    /// Entries in one tar-split stream.
    pub max_tar_split_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_metadata_bytes: 64 << 20,
            max_tar_split_bytes: 4 << 30,
            max_tar_split_entries: 50_000_000,
        }
    }
}

/// What went wrong reading one path. Carries the path so messages can name it.
#[derive(Debug)]
pub struct ReadError {
    /// The path that failed, absolute where known.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: ReadErrorKind,
}

/// The ways a read can fail, each turned into its own finding code by the stores.
#[derive(Debug)]
pub enum ReadErrorKind {
    /// The path does not exist.
    NotFound,
    /// The kernel refused access (strata needs root for a real data-root).
    PermissionDenied,
    /// A symlink where strata expected a file or directory; never followed.
    Symlink,
    /// Not a regular file (a FIFO, device, socket or directory where a file belongs).
    NotRegular(FileKind),
    /// A directory was expected.
    NotADirectory,
    /// The file is larger than the limit for its kind; it was not read.
    TooLarge {
        /// The limit in bytes that was passed.
        limit: u64,
    },
    /// The name leaves the tree (`..`, an absolute path, or a link out).
    Escape,
    /// Any other I/O error.
    Io(std::io::Error),
}

impl ReadError {
    fn new(path: PathBuf, kind: ReadErrorKind) -> Self {
        Self { path, kind }
    }

    fn from_errno(path: PathBuf, e: Errno) -> Self {
        let kind = match e {
            Errno::ENOENT => ReadErrorKind::NotFound,
            Errno::EACCES | Errno::EPERM => ReadErrorKind::PermissionDenied,
            Errno::ELOOP => ReadErrorKind::Symlink,
            Errno::ENOTDIR => ReadErrorKind::NotADirectory,
            Errno::EXDEV => ReadErrorKind::Escape,
            other => ReadErrorKind::Io(std::io::Error::from(other)),
        };
        Self { path, kind }
    }

    fn from_io(path: PathBuf, e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => Self::from_errno(path, Errno::from_raw(code)),
            None => Self::new(path, ReadErrorKind::Io(e)),
        }
    }

    /// Whether the path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, ReadErrorKind::NotFound)
    }

    /// Whether the kernel refused access.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.kind, ReadErrorKind::PermissionDenied)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = crate::finding::display_bytes(self.path.as_os_str().as_bytes());
        match &self.kind {
            ReadErrorKind::NotFound => write!(f, "{p}: not found"),
            ReadErrorKind::PermissionDenied => write!(f, "{p}: permission denied: run with sudo, or point --root at a copy you can read"),
            ReadErrorKind::Symlink => write!(f, "{p}: is a symbolic link (strata never follows links inside the data-root)"),
            ReadErrorKind::NotRegular(kind) => write!(f, "{p}: is a {kind}, not a regular file"),
            ReadErrorKind::NotADirectory => write!(f, "{p}: not a directory"),
            ReadErrorKind::TooLarge { limit } => write!(
                f,
                "{p}: larger than the {limit}-byte limit for this kind of file (raise it with --max-metadata-bytes if this is genuine)"
            ),
            ReadErrorKind::Escape => write!(f, "{p}: path leaves the data-root; refused"),
            ReadErrorKind::Io(e) => write!(f, "{p}: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// File types as lstat sees them.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device (an overlay whiteout is one, 0/0).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A FIFO (named pipe).
    Fifo,
    /// A Unix socket.
    Socket,
    /// A type bit pattern lstat does not define.
    Unknown,
}

impl FileKind {
    /// The kind named by the type bits of a `st_mode`.
    pub fn from_mode(mode: u32) -> Self {
        match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFREG => FileKind::File,
            SFlag::S_IFDIR => FileKind::Dir,
            SFlag::S_IFLNK => FileKind::Symlink,
            SFlag::S_IFCHR => FileKind::CharDevice,
            SFlag::S_IFBLK => FileKind::BlockDevice,
            SFlag::S_IFIFO => FileKind::Fifo,
            SFlag::S_IFSOCK => FileKind::Socket,
            _ => FileKind::Unknown,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::File => "regular file",
            FileKind::Dir => "directory",
            FileKind::Symlink => "symbolic link",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Fifo => "FIFO",
            FileKind::Socket => "socket",
            FileKind::Unknown => "file of unknown type",
        })
    }
}

/// What lstat says of one entry, in the fields strata compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// File type.
    pub kind: FileKind,
    /// Permission bits and set-id/sticky bits (no type bits).
    pub mode: u32,
    /// Owner user ID.
    pub uid: u32,
    /// Owner group ID.
    pub gid: u32,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_nsec: i64,
    /// Hard-link count.
    pub nlink: u64,
    /// Inode number.
    pub ino: u64,
    /// Device the entry lives on.
    pub dev: u64,
    /// Device number, for character and block devices.
    pub rdev: u64,
    /// 512-byte blocks allocated: containerd counts snapshot usage in these.
    pub blocks: u64,
}

impl Meta {
    fn from_stat(st: &FileStat) -> Self {
        Self {
            kind: FileKind::from_mode(st.st_mode),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size.max(0) as u64,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec,
            nlink: st.st_nlink,
            ino: st.st_ino,
            dev: st.st_dev,
            rdev: st.st_rdev,
            blocks: st.st_blocks.max(0) as u64,
        }
    }

    /// An overlay whiteout: a character device 0/0.
    pub fn is_whiteout(&self) -> bool {
        self.kind == FileKind::CharDevice && self.rdev == 0
    }
}

/// What statx says of one inode: owner, mode, size and its four times, in
/// nanoseconds since the epoch (`None` where the filesystem keeps no such time, as
/// for the birth time on many filesystems, or the time does not fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InodeStat {
    /// Inode number.
    pub ino: u64,
    /// The whole `st_mode`: type bits and permission bits.
    pub mode: u32,
    /// Owner user ID.
    pub uid: u32,
    /// Owner group ID.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Last access.
    pub atime: Option<i64>,
    /// Last content change.
    pub mtime: Option<i64>,
    /// Last inode change.
    pub ctime: Option<i64>,
    /// Birth (creation) of the inode.
    pub btime: Option<i64>,
}

/// One directory entry, as listed.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// The entry's name, as raw bytes from disk.
    pub name: OsString,
    /// The entry's type, as the directory listing reports it.
    pub kind: FileKind,
}

/// A directory inside the data-root, held open. All access goes through it.
#[derive(Debug)]
pub struct SafeDir {
    fd: OwnedFd,
    /// Absolute path, for messages only; never used to open anything.
    path: PathBuf,
}

/// Whether `rel` stays inside the directory it is relative to, judged lexically
/// before the kernel sees it, so a refusal can say "escape" rather than a generic error.
pub fn is_contained(rel: &Path) -> bool {
    rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn beneath(flags: OFlag) -> OpenHow {
    OpenHow::new().flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    )
}

/// An `O_PATH` handle on what `rel` names, itself (a symlink is not followed), resolved as
/// [`beneath`] does. `O_PATH` takes no other flags: openat2 refuses `O_NOCTTY` with it.
fn path_only() -> OpenHow {
    OpenHow::new().flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    )
}

impl SafeDir {
    /// Opens the top of a tree. The top itself may be reached through symlinks (a
    /// data-root at `/var/lib/docker -> /srv/docker` is common); nothing below it is.
    pub fn open_root(path: &Path) -> Result<Self, ReadError> {
        let abs =
            std::fs::canonicalize(path).map_err(|e| ReadError::from_io(path.to_path_buf(), e))?;
        let fd = nix::fcntl::open(
            &abs,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ReadError::from_errno(abs.clone(), e))?;
        Ok(Self { fd, path: abs })
    }

    /// Absolute path of this directory, for messages only.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Absolute path of `rel`, for messages.
    pub fn display_path(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    fn open_how(&self, rel: &Path, how: OpenHow) -> Result<OwnedFd, ReadError> {
        if !is_contained(rel) {
            return Err(ReadError::new(self.display_path(rel), ReadErrorKind::Escape));
        }
        let target: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        loop {
            match openat2(self.fd.as_fd(), target, how) {
                Ok(fd) => return Ok(fd),
                Err(Errno::EINTR | Errno::EAGAIN) => continue,
                Err(e) => return Err(ReadError::from_errno(self.display_path(rel), e)),
            }
        }
    }

    /// Opens a subdirectory, refusing symlinks anywhere on the way.
    pub fn open_dir(&self, rel: &Path) -> Result<SafeDir, ReadError> {
        let base = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
        // As for files: listing a directory moves its access time, which a timeline
        // of the evidence reports; O_NOATIME (owner or privileged only) keeps it.
        let fd = match self.open_how(rel, beneath(base | OFlag::O_NOATIME)) {
            Ok(fd) => fd,
            Err(e) if e.is_permission_denied() => self.open_how(rel, beneath(base))?,
            Err(e) => return Err(e),
        };
        Ok(SafeDir { fd, path: self.display_path(rel) })
    }

    /// lstat of `rel` (the final component is not followed).
    pub fn lstat(&self, rel: &Path) -> Result<Meta, ReadError> {
        if rel.as_os_str().is_empty() {
            return fstat(self.fd.as_fd())
                .map(|st| Meta::from_stat(&st))
                .map_err(|e| ReadError::from_errno(self.path.clone(), e));
        }
        let (parent, name) = self.split(rel)?;
        let st = fstatat(parent.fd.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| ReadError::from_errno(self.display_path(rel), e))?;
        Ok(Meta::from_stat(&st))
    }

    /// Opens the parent directory of `rel` and returns it with the final name.
    fn split<'a>(&self, rel: &'a Path) -> Result<(SafeDirRef<'_>, &'a OsStr), ReadError> {
        let name = match rel.file_name() {
            Some(n) => n,
            None => return Err(ReadError::new(self.display_path(rel), ReadErrorKind::Escape)),
        };
        match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => {
                let d = self.open_dir(p)?;
                Ok((SafeDirRef::Owned(d), name))
            }
            _ => Ok((SafeDirRef::Borrowed(self), name)),
        }
    }

    /// Opens a regular file for reading. Anything else (symlink, FIFO, device,
    /// directory, socket) is refused and never read.
    ///
    /// One `openat2` and one `fstat` of the opened descriptor: the final component is
    /// opened `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY` beneath this directory, so a symlink
    /// fails to open, a FIFO opens without blocking and a terminal is never acquired;
    /// the fstat of what was opened then decides, with no window between a stat and
    /// the open. When the open fails, the path is looked at again with lstat so the
    /// error names what is there (a socket, a link) as before.
    pub fn open_file(&self, rel: &Path) -> Result<(File, Meta), ReadError> {
        let base = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
        // O_NOATIME keeps a forensic read from touching access times; only the owner
        // or a privileged process may ask for it, so fall back without it.
        let opened = match self.open_how(rel, beneath(base | OFlag::O_NOATIME)) {
            Err(e) if e.is_permission_denied() => self.open_how(rel, beneath(base)),
            other => other,
        };
        let fd = match opened {
            Ok(fd) => fd,
            // Nothing is there (or a directory on the way is missing): an lstat would
            // only say the same again, at the cost of two more path walks. Absent files
            // are common (a base layer has no `parent`), so this is most failed opens.
            Err(e) if e.is_not_found() => return Err(e),
            Err(e) => return Err(self.classify_open_error(rel, e)),
        };
        let st = fstat(fd.as_fd()).map_err(|e| ReadError::from_errno(self.display_path(rel), e))?;
        let meta = Meta::from_stat(&st);
        if meta.kind != FileKind::File {
            return Err(ReadError::new(
                self.display_path(rel),
                ReadErrorKind::NotRegular(meta.kind),
            ));
        }
        Ok((File::from(fd), meta))
    }

    /// The error for a file that would not open: what lstat shows is there (a
    /// symlink, a socket, a missing parent) when it says more than the open did.
    fn classify_open_error(&self, rel: &Path, open_err: ReadError) -> ReadError {
        let before = match self.lstat(rel) {
            Ok(m) => m,
            Err(e) => return e,
        };
        match before.kind {
            FileKind::Symlink => ReadError::new(self.display_path(rel), ReadErrorKind::Symlink),
            FileKind::File => open_err,
            kind => ReadError::new(self.display_path(rel), ReadErrorKind::NotRegular(kind)),
        }
    }

    /// Reads a whole regular file, refusing more than `limit` bytes.
    pub fn read_file(&self, rel: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
        let (file, meta) = self.open_file(rel)?;
        if meta.size > limit {
            return Err(ReadError::new(self.display_path(rel), ReadErrorKind::TooLarge { limit }));
        }
        let buf = read_whole(file, meta.size, limit)
            .map_err(|e| ReadError::from_io(self.display_path(rel), e))?;
        if buf.len() as u64 > limit {
            return Err(ReadError::new(self.display_path(rel), ReadErrorKind::TooLarge { limit }));
        }
        Ok(buf)
    }

    /// Lists a directory, sorted by name, without following anything.
    pub fn read_dir(&self, rel: &Path) -> Result<Vec<DirEntry>, ReadError> {
        self.open_dir(rel)?.list()
    }

    /// Lists this directory itself, sorted by name (a walk that already holds each
    /// directory open lists it without resolving its path again).
    pub fn list(&self) -> Result<Vec<DirEntry>, ReadError> {
        let d = self;
        let dup = d.fd.try_clone().map_err(|e| ReadError::from_io(d.path.clone(), e))?;
        let mut dir =
            nix::dir::Dir::from_fd(dup).map_err(|e| ReadError::from_errno(d.path.clone(), e))?;
        let mut out = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(|e| ReadError::from_errno(d.path.clone(), e))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                Some(nix::dir::Type::File) => FileKind::File,
                Some(nix::dir::Type::Directory) => FileKind::Dir,
                Some(nix::dir::Type::Symlink) => FileKind::Symlink,
                Some(nix::dir::Type::CharacterDevice) => FileKind::CharDevice,
                Some(nix::dir::Type::BlockDevice) => FileKind::BlockDevice,
                Some(nix::dir::Type::Fifo) => FileKind::Fifo,
                Some(nix::dir::Type::Socket) => FileKind::Socket,
                None => d.lstat(Path::new(name)).map(|m| m.kind).unwrap_or(FileKind::Unknown),
            };
            out.push(DirEntry { name: name.to_owned(), kind });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The target of a symlink, as raw bytes.
    pub fn read_link(&self, rel: &Path) -> Result<Vec<u8>, ReadError> {
        let (parent, name) = self.split(rel)?;
        nix::fcntl::readlinkat(parent.fd.as_fd(), name)
            .map(|s| s.as_bytes().to_vec())
            .map_err(|e| ReadError::from_errno(self.display_path(rel), e))
    }

    /// Extended attributes of a directory or regular file, sorted by name. Other kinds
    /// are not opened (opening a device can have side effects), so give none.
    pub fn xattrs(&self, rel: &Path) -> Result<Vec<(String, Vec<u8>)>, ReadError> {
        let meta = self.lstat(rel)?;
        let file = match meta.kind {
            FileKind::Dir => File::from(self.open_dir(rel)?.fd),
            FileKind::File => self.open_file(rel)?.0,
            _ => return Ok(Vec::new()),
        };
        file_xattrs(&file).map_err(|e| ReadError::from_io(self.display_path(rel), e))
    }

    /// Whether directory `rel` carries overlay's opaque mark (`trusted.overlay.opaque`,
    /// or `user.overlay.opaque` under the userxattr mount option) set to `y`.
    pub fn is_overlay_opaque(&self, rel: &Path) -> bool {
        self.xattrs(rel)
            .map(|xs| {
                xs.iter().any(|(k, v)| {
                    (k == "trusted.overlay.opaque" || k == "user.overlay.opaque")
                        && v.as_slice() == b"y"
                })
            })
            .unwrap_or(false)
    }

    /// The value of overlay's own xattr `name` (`redirect`, `metacopy`, `origin`,
    /// `whiteout`...) on `rel`, as the kernel writes it: `trusted.overlay.NAME`, or
    /// `user.overlay.NAME` under the userxattr mount option (rootless).
    pub fn overlay_xattr(&self, rel: &Path, name: &str) -> Option<Vec<u8>> {
        let xs = self.xattrs(rel).ok()?;
        xs.into_iter().find_map(|(k, v)| {
            let n = k.strip_prefix("trusted.overlay.").or(k.strip_prefix("user.overlay."))?;
            (n == name).then_some(v)
        })
    }

    /// Whether `rel` (whose lstat is `meta`) is an overlay whiteout: a 0/0 character
    /// device, or an empty regular file carrying `overlay.whiteout` (the "xwhiteout"
    /// form of Linux 6.7+, usable where mknod is not, as in a user namespace).
    pub fn is_overlay_whiteout(&self, rel: &Path, meta: &Meta) -> bool {
        meta.is_whiteout()
            || (meta.kind == FileKind::File
                && meta.size == 0
                && self.overlay_xattr(rel, "whiteout").is_some())
    }

    /// statx of `name`, an entry of this directory (or of the directory itself when
    /// `name` is empty), not followed: every time the inode keeps, the birth time
    /// only where the filesystem records it.
    pub fn statx(&self, name: &OsStr) -> Result<InodeStat, ReadError> {
        use rustix::fs::{AtFlags, StatxFlags};
        let shown = self.display_path(Path::new(name));
        if name.as_bytes().contains(&b'/') || name == ".." {
            return Err(ReadError::new(shown, ReadErrorKind::Escape));
        }
        let flags = if name.is_empty() {
            AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        let st = rustix::fs::statx(
            self.fd.as_fd(),
            name,
            flags | AtFlags::STATX_DONT_SYNC,
            StatxFlags::BASIC_STATS | StatxFlags::BTIME,
        )
        .map_err(|e| ReadError::from_io(shown, e.into()))?;
        let ns = |t: rustix::fs::StatxTimestamp| {
            t.tv_sec.checked_mul(1_000_000_000)?.checked_add(i64::from(t.tv_nsec))
        };
        let has = |f: StatxFlags| st.stx_mask & f.bits() != 0;
        Ok(InodeStat {
            ino: st.stx_ino,
            mode: u32::from(st.stx_mode),
            uid: st.stx_uid,
            gid: st.stx_gid,
            size: st.stx_size,
            atime: has(StatxFlags::ATIME).then(|| ns(st.stx_atime)).flatten(),
            mtime: has(StatxFlags::MTIME).then(|| ns(st.stx_mtime)).flatten(),
            ctime: has(StatxFlags::CTIME).then(|| ns(st.stx_ctime)).flatten(),
            btime: has(StatxFlags::BTIME).then(|| ns(st.stx_btime)).flatten(),
        })
    }

    /// When `rel` (not followed) last changed, in nanoseconds since the epoch: its ctime,
    /// which no user call can set back. `None` when it is absent or the kernel keeps none.
    pub fn changed_at(&self, rel: &Path) -> Option<i64> {
        use rustix::fs::{AtFlags, StatxFlags};
        let fd = self.open_how(rel, path_only()).ok()?;
        let st = rustix::fs::statx(
            fd.as_fd(),
            "",
            AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_DONT_SYNC,
            StatxFlags::CTIME,
        )
        .ok()?;
        if st.stx_mask & StatxFlags::CTIME.bits() == 0 {
            return None;
        }
        st.stx_ctime.tv_sec.checked_mul(1_000_000_000)?.checked_add(i64::from(st.stx_ctime.tv_nsec))
    }

    /// Whether `rel` exists (as anything, links included).
    ///
    /// One `openat2(O_PATH | O_NOFOLLOW)` beneath this directory and a close: an `O_PATH`
    /// descriptor reads nothing and may name a symlink, a FIFO or a device without
    /// touching it, and the walk is the kernel's contained one. (An lstat would open the
    /// parent directory first: three calls and two walks, for every layer on a big host.)
    pub fn exists(&self, rel: &Path) -> bool {
        self.open_how(rel, path_only()).is_ok()
    }
}

/// Reads `file` to its end, taking at most `limit + 1` bytes (one past the limit, so a file
/// that grew since its fstat is still caught as too large).
///
/// `size` is what fstat said: the buffer holds one byte more, so a file that has not
/// changed is read by one `read` call that comes back short, which for a regular file
/// means its end. `read_to_end` would ask once more to see the end (two calls a file,
/// and the store of a big host is tens of thousands of small files). Only a read that
/// fills the buffer goes on reading.
fn read_whole(mut file: File, size: u64, limit: u64) -> std::io::Result<Vec<u8>> {
    let cap = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; cap(size.saturating_add(1).min(limit.saturating_add(1)))];
    let mut got = 0;
    // Set once the file proved larger than fstat said: from then on only a zero-length
    // read ends it.
    let mut grew = false;
    loop {
        if got == buf.len() {
            if got as u64 > limit {
                break;
            }
            grew = true;
            let next = buf.len().saturating_mul(2).max(4096).min(cap(limit.saturating_add(1)));
            buf.resize(next, 0);
        }
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // Short of the one byte past fstat's size: the end (a regular file's read comes
        // back short only there). Short of the size itself (a file that shrank, a network
        // filesystem's partial read): ask again.
        if !grew && got < buf.len() && got as u64 >= size {
            break;
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Extended attributes of a file already opened through [`SafeDir`], sorted by name;
/// saves reopening a file that is being read anyway.
pub fn file_xattrs(file: &File) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    use xattr::FileExt;
    let mut out = Vec::new();
    for name in file.list_xattr()? {
        let value = file.get_xattr(&name)?.unwrap_or_default();
        out.push((name.to_string_lossy().into_owned(), value));
    }
    out.sort();
    Ok(out)
}

enum SafeDirRef<'a> {
    Borrowed(&'a SafeDir),
    Owned(SafeDir),
}

impl std::ops::Deref for SafeDirRef<'_> {
    type Target = SafeDir;
    fn deref(&self) -> &SafeDir {
        match self {
            SafeDirRef::Borrowed(d) => d,
            SafeDirRef::Owned(d) => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn refuses_symlinks_escapes_and_fifos() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/ok"), b"hello").unwrap();
        std::fs::write(t.path().join("secret"), b"outside").unwrap();
        symlink("../../secret", root.join("sub/link")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), Mode::S_IRUSR).unwrap();

        let d = SafeDir::open_root(&root).unwrap();
        assert_eq!(d.read_file(Path::new("sub/ok"), 100).unwrap(), b"hello");
        assert!(matches!(
            d.read_file(Path::new("sub/ok"), 4).unwrap_err().kind,
            ReadErrorKind::TooLarge { .. }
        ));
        assert!(matches!(
            d.read_file(Path::new("sub/link"), 100).unwrap_err().kind,
            ReadErrorKind::Symlink
        ));
        assert!(matches!(
            d.read_file(Path::new("../secret"), 100).unwrap_err().kind,
            ReadErrorKind::Escape
        ));
        assert!(d.read_file(Path::new("slash/etc/passwd"), 1 << 20).is_err());
        assert!(matches!(
            d.read_file(Path::new("fifo"), 100).unwrap_err().kind,
            ReadErrorKind::NotRegular(FileKind::Fifo)
        ));
        assert_eq!(d.read_link(Path::new("sub/link")).unwrap(), b"../../secret");
        let names: Vec<_> =
            d.read_dir(Path::new("")).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["fifo", "slash", "sub"]);
    }

    #[test]
    fn exists_and_changed_at_name_anything_beneath_and_nothing_outside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/ok"), b"x").unwrap();
        std::fs::write(t.path().join("secret"), b"outside").unwrap();
        symlink("../secret", root.join("link")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), Mode::S_IRUSR).unwrap();
        let d = SafeDir::open_root(&root).unwrap();
        for present in ["", "sub", "sub/ok", "link", "slash", "fifo"] {
            assert!(d.exists(Path::new(present)), "{present}");
            assert!(d.changed_at(Path::new(present)).is_some(), "{present}");
        }
        // Absent, through a symlink, or outside: not there for strata.
        for absent in ["nope", "sub/nope", "slash/etc/passwd", "../secret", "link/x"] {
            assert!(!d.exists(Path::new(absent)), "{absent}");
            assert!(d.changed_at(Path::new(absent)).is_none(), "{absent}");
        }
        let before = d.changed_at(Path::new("sub")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("sub/new"), b"y").unwrap();
        assert!(d.changed_at(Path::new("sub")).unwrap() > before);
    }

    #[test]
    fn whole_files_read_at_every_size_and_limit() {
        let t = tempfile::tempdir().unwrap();
        let d = SafeDir::open_root(t.path()).unwrap();
        for size in [0usize, 1, 4095, 4096, 4097, (1 << 20) + 3, (3 << 20) + 1] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(t.path().join("f"), &bytes).unwrap();
            assert_eq!(d.read_file(Path::new("f"), 64 << 20).unwrap(), bytes, "{size}");
            if size > 0 {
                let limit = size as u64 - 1;
                assert!(matches!(
                    d.read_file(Path::new("f"), limit).unwrap_err().kind,
                    ReadErrorKind::TooLarge { .. }
                ));
            }
        }
        // A file larger than its fstat said (grown in between) is read on to its end,
        // and still refused past the limit.
        let bytes = vec![5u8; 10_000];
        std::fs::write(t.path().join("g"), &bytes).unwrap();
        let open = |_| std::fs::File::open(t.path().join("g")).unwrap();
        assert_eq!(read_whole(open(()), 100, 1 << 20).unwrap(), bytes);
        assert_eq!(read_whole(open(()), 100, 5000).unwrap().len(), 5001);
    }
}
