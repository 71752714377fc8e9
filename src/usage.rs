//! Disk usage of a directory tree, counted the way the Docker engine counts it.
//!
//! moby's `directory.Size` walks a tree with lstat, skips directories and zero-size
//! entries (so whiteout devices count nothing), counts each inode once (so hard links
//! count once) and counts a symlink at the length of its target. Matching that rule
//! is what makes strata's numbers equal `docker system df`'s.

use crate::fsread::{FileKind, ReadError, SafeDir};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Size of everything under `rel`, in bytes, by the engine's rule. Entries that
/// cannot be read are skipped and returned so the caller can report them.
pub fn dir_size(root: &SafeDir, rel: &Path) -> Result<(u64, Vec<ReadError>), ReadError> {
    let top = root.open_dir(rel)?;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut problems = Vec::new();
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
            if e.kind == FileKind::Dir {
                stack.push(p);
                continue;
            }
            match top.lstat(&p) {
                Ok(m) => {
                    if m.size == 0 || !seen.insert((m.dev, m.ino)) {
                        continue;
                    }
                    total += m.size;
                }
                Err(err) => problems.push(err),
            }
        }
    }
    Ok((total, problems))
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
}
