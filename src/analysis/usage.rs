//! Disk usage of a directory tree, counted the way the Docker engine counts it.
//!
//! moby's `directory.Size` walks a tree with lstat, skips directories and zero-size
//! entries (so whiteout devices count nothing), counts each inode once (so hard links
//! count once) and counts a symlink at the length of its target. Matching that rule
//! is what makes strata's numbers equal `docker system df`'s.

use crate::fsread::{FileKind, Meta, ReadError, SafeDir};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Visits every entry below the top of `top`, depth first, with its lstat; nothing is
/// followed. Entries that cannot be read are pushed to `problems` and skipped.
pub(crate) fn walk(
    top: &SafeDir,
    problems: &mut Vec<ReadError>,
    mut visit: impl FnMut(&Path, &Meta),
) {
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let entries = match top.read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for e in entries {
            let p = dir.join(&e.name);
            match top.lstat(&p) {
                Ok(m) => {
                    visit(&p, &m);
                    if m.kind == FileKind::Dir {
                        stack.push(p);
                    }
                }
                Err(err) => problems.push(err),
            }
        }
    }
}

/// Size of everything under `rel`, in bytes, by the engine's rule. Entries that
/// cannot be read are skipped and returned so the caller can report them.
pub fn dir_size(root: &SafeDir, rel: &Path) -> Result<(u64, Vec<ReadError>), ReadError> {
    let top = root.open_dir(rel)?;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut problems = Vec::new();
    walk(&top, &mut problems, |_, m| {
        if m.kind != FileKind::Dir && m.size != 0 && seen.insert((m.dev, m.ino)) {
            total = total.saturating_add(m.size);
        }
    });
    Ok((total, problems))
}

/// Usage of a tree as containerd's snapshotters measure an active snapshot
/// (continuity's `fs.DiskUsage`): allocated 512-byte blocks of every entry, the
/// top directory and directories included, each inode once.
pub fn allocated_size(root: &SafeDir, rel: &Path) -> Result<(u64, Vec<ReadError>), ReadError> {
    let top = root.open_dir(rel)?;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut problems = Vec::new();
    let mut total = root.lstat(rel).map(|m| m.blocks * 512).unwrap_or(0);
    walk(&top, &mut problems, |_, m| {
        if seen.insert((m.dev, m.ino)) {
            total = total.saturating_add(m.blocks.saturating_mul(512));
        }
    });
    Ok((total, problems))
}

/// SizeRw as the naive graphdrivers (vfs, btrfs, zfs) compute it: moby's
/// `ChangesDirs(new, old)` then `ChangesSize`. A non-directory counts when it is new,
/// or when its type, mode, owner, rdev, size, mtime (a zero nanosecond part matches
/// any) or `security.capability` differ from the old tree's; its lstat size is
/// added, each hard-linked inode once. Deletions count nothing. `old` of `None`
/// means every file is new.
pub fn changes_size(
    root: &SafeDir,
    new: &Path,
    old: Option<&Path>,
) -> Result<(u64, Vec<ReadError>), ReadError> {
    let new_top = root.open_dir(new)?;
    let old_top = match old {
        Some(o) => Some(root.open_dir(o)?),
        None => None,
    };
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut problems = Vec::new();
    walk(&new_top, &mut problems, |p, m| {
        if m.kind == FileKind::Dir {
            return;
        }
        let changed = match old_top.as_ref().and_then(|o| o.lstat(p).ok().map(|om| (o, om))) {
            Some((o, om)) => stat_different(&om, m) || capability(o, p) != capability(&new_top, p),
            None => true,
        };
        if changed && (m.nlink <= 1 || seen.insert((m.dev, m.ino))) {
            total = total.saturating_add(m.size);
        }
    });
    Ok((total, problems))
}

/// The engine's `statDifferent`: type and permission bits, owner, device number, and
/// for non-directories size and mtime (a zero nanosecond part matches any).
pub(crate) fn stat_different(old: &Meta, new: &Meta) -> bool {
    if old.kind != new.kind
        || old.mode != new.mode
        || old.uid != new.uid
        || old.gid != new.gid
        || old.rdev != new.rdev
    {
        return true;
    }
    if new.kind == FileKind::Dir {
        return false;
    }
    let same_time = old.mtime == new.mtime
        && (old.mtime_nsec == new.mtime_nsec || old.mtime_nsec == 0 || new.mtime_nsec == 0);
    !same_time || old.size != new.size
}

/// The `security.capability` xattr, which the engine's change detection compares too.
/// Only directories and regular files are opened for it (see [`SafeDir::xattrs`]).
pub(crate) fn capability(dir: &SafeDir, rel: &Path) -> Option<Vec<u8>> {
    dir.xattrs(rel).ok()?.into_iter().find(|(k, _)| k == "security.capability").map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hardlinks_once_and_symlinks_by_target_length() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a"), vec![0u8; 100]).unwrap();
        std::fs::hard_link(d.join("sub/a"), d.join("b")).unwrap();
        std::os::unix::fs::symlink("sub/a", d.join("l")).unwrap();
        std::fs::write(d.join("empty"), b"").unwrap();
        let root = SafeDir::open_root(d).unwrap();
        let (size, problems) = dir_size(&root, Path::new("")).unwrap();
        assert!(problems.is_empty());
        assert_eq!(size, 100 + 5);
    }

    #[test]
    fn changes_count_new_and_modified_files_once() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for tree in ["old", "new"] {
            std::fs::create_dir_all(d.join(tree).join("etc")).unwrap();
            std::fs::write(d.join(tree).join("etc/same"), b"same").unwrap();
        }
        // Same content and times: unchanged.
        let m = std::fs::metadata(d.join("old/etc/same")).unwrap();
        let times = std::fs::FileTimes::new()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(m.mtime() as u64, 0));
        for tree in ["old", "new"] {
            std::fs::File::options()
                .write(true)
                .open(d.join(tree).join("etc/same"))
                .unwrap()
                .set_times(times)
                .unwrap();
        }
        std::fs::write(d.join("old/etc/changed"), b"a").unwrap();
        std::fs::write(d.join("new/etc/changed"), b"abc").unwrap();
        std::fs::write(d.join("new/added"), vec![0u8; 10]).unwrap();
        std::fs::hard_link(d.join("new/added"), d.join("new/added-link")).unwrap();
        std::fs::write(d.join("old/deleted"), b"gone").unwrap();
        let root = SafeDir::open_root(d).unwrap();
        let (size, problems) =
            changes_size(&root, Path::new("new"), Some(Path::new("old"))).unwrap();
        assert!(problems.is_empty());
        assert_eq!(size, 3 + 10);
        let (all, _) = changes_size(&root, Path::new("new"), None).unwrap();
        assert_eq!(all, 4 + 3 + 10);
    }
}
