//! Writing the archives strata hands over: `save` (images as `docker save` writes
//! them, for `docker load`) and `export` (a container's or image's flattened
//! filesystem, as `docker export` writes it).
//!
//! Both stream: each entry's header is written, then its content straight from
//! disk, so memory stays bounded whatever the layer size. [`TarWriter`] is the one
//! tar writer both use; headers come from the `tar` crate, and names or xattrs that
//! do not fit a ustar header go in a PAX record, as Go's `archive/tar` does.

pub mod export;
pub mod save;

use std::io::{self, Write};

/// Tar block size.
const BLOCK: u64 = 512;

/// What kind of entry a header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file with content.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier entry.
    HardLink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A FIFO.
    Fifo,
}

/// One entry's header fields.
#[derive(Debug, Clone)]
pub struct EntryHeader<'a> {
    /// Path inside the archive (no leading `/`; directories without a trailing `/`).
    pub path: &'a [u8],
    /// Entry type.
    pub kind: EntryKind,
    /// Content size (regular files only).
    pub size: u64,
    /// Permission bits, set-id and sticky bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Link target (symbolic and hard links).
    pub link: &'a [u8],
    /// Device numbers (devices only).
    pub device: (u32, u32),
    /// Extended attributes, written as `SCHILY.xattr.` PAX records.
    pub xattrs: &'a [(String, Vec<u8>)],
}

impl<'a> EntryHeader<'a> {
    /// A root-owned entry of `kind` with `mode`, no link, device or xattrs: what the
    /// archive's own files (blobs, JSON, directories) are written as.
    pub fn plain(path: &'a [u8], kind: EntryKind, size: u64, mode: u32, mtime: i64) -> Self {
        EntryHeader {
            path,
            kind,
            size,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            link: b"",
            device: (0, 0),
            xattrs: &[],
        }
    }
}

/// A streaming tar writer that counts what it wrote.
pub struct TarWriter<W: Write> {
    out: W,
    written: u64,
    /// Content bytes still owed by the current entry.
    owed: u64,
    /// Content bytes of the current entry, for its padding.
    entry_size: u64,
}

impl<W: Write> TarWriter<W> {
    /// A writer putting the archive into `out`.
    pub fn new(out: W) -> Self {
        Self { out, written: 0, owed: 0, entry_size: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes an entry's header (and a PAX record first when needed). Its content,
    /// `h.size` bytes for a file, follows through [`Self::content`], then
    /// [`Self::end_entry`].
    pub fn begin_entry(&mut self, h: &EntryHeader<'_>) -> io::Result<()> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let needs_pax = |b: &[u8]| b.len() > 100 || !b.is_ascii();
        if needs_pax(h.path) {
            pax.push(("path".to_owned(), h.path.to_vec()));
        }
        if needs_pax(h.link) {
            pax.push(("linkpath".to_owned(), h.link.to_vec()));
        }
        for (k, v) in h.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            let mut records = Vec::new();
            for (k, v) in &pax {
                records.extend_from_slice(&pax_record(k, v));
            }
            let mut ph = tar::Header::new_ustar();
            set_name(&mut ph, &pax_name(h.path));
            ph.set_entry_type(tar::EntryType::XHeader);
            ph.set_size(records.len() as u64);
            ph.set_mode(0o644);
            ph.set_mtime(h.mtime.max(0) as u64);
            ph.set_cksum();
            self.raw(ph.as_bytes())?;
            self.raw(&records)?;
            self.raw(&padding(records.len() as u64))?;
        }
        let mut th = tar::Header::new_ustar();
        set_name(&mut th, h.path);
        let (ty, size) = match h.kind {
            EntryKind::File => (tar::EntryType::Regular, h.size),
            EntryKind::Dir => (tar::EntryType::Directory, 0),
            EntryKind::Symlink => (tar::EntryType::Symlink, 0),
            EntryKind::HardLink => (tar::EntryType::Link, 0),
            EntryKind::CharDevice => (tar::EntryType::Char, 0),
            EntryKind::BlockDevice => (tar::EntryType::Block, 0),
            EntryKind::Fifo => (tar::EntryType::Fifo, 0),
        };
        th.set_entry_type(ty);
        th.set_size(size);
        th.set_mode(h.mode & 0o7777);
        // Beyond the octal fields' range, the tar crate switches to base-256 itself.
        th.set_uid(h.uid);
        th.set_gid(h.gid);
        th.set_mtime(h.mtime.max(0) as u64);
        if !h.link.is_empty() {
            let field = &mut th.as_old_mut().linkname;
            let n = h.link.len().min(field.len());
            field[..n].copy_from_slice(&h.link[..n]);
        }
        if matches!(h.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            let _ = th.set_device_major(h.device.0);
            let _ = th.set_device_minor(h.device.1);
        }
        th.set_cksum();
        self.raw(th.as_bytes())?;
        self.owed = size;
        self.entry_size = size;
        Ok(())
    }

    /// Writes content of the current entry; never more than its header promised.
    pub fn content(&mut self, bytes: &[u8]) -> io::Result<()> {
        let n = (bytes.len() as u64).min(self.owed) as usize;
        self.raw(&bytes[..n])?;
        self.owed -= n as u64;
        Ok(())
    }

    /// Content bytes the current entry still owes.
    pub fn owed(&self) -> u64 {
        self.owed
    }

    /// Ends the current entry: zeros for any content it still owes (a file that
    /// shrank while read), then the block padding.
    pub fn end_entry(&mut self) -> io::Result<()> {
        let zeros = [0u8; 64 << 10];
        while self.owed > 0 {
            let n = self.owed.min(zeros.len() as u64) as usize;
            self.raw(&zeros[..n])?;
            self.owed -= n as u64;
        }
        self.raw(&padding(self.entry_size))?;
        self.entry_size = 0;
        Ok(())
    }

    /// A whole small file entry.
    pub fn file(&mut self, path: &str, data: &[u8], mtime: i64) -> io::Result<()> {
        let size = data.len() as u64;
        self.begin_entry(&EntryHeader::plain(
            path.as_bytes(),
            EntryKind::File,
            size,
            0o644,
            mtime,
        ))?;
        self.content(data)?;
        self.end_entry()
    }

    /// A directory entry.
    pub fn dir(&mut self, path: &str, mtime: i64) -> io::Result<()> {
        self.begin_entry(&EntryHeader::plain(path.as_bytes(), EntryKind::Dir, 0, 0o755, mtime))
    }

    /// Writes the end-of-archive marker and flushes; gives the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.raw(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write + io::Seek> TarWriter<W> {
    /// Leaves the current entry's content and its padding to be written later, at
    /// the offset returned, by a [`TarWriter::entry_at`] writer: seeks past them.
    pub fn defer_entry(&mut self) -> io::Result<u64> {
        let at = self.written;
        let n = self.owed + padding(self.entry_size).len() as u64;
        let skip = i64::try_from(n).map_err(io::Error::other)?;
        self.out.seek(io::SeekFrom::Current(skip))?;
        self.written += n;
        self.owed = 0;
        self.entry_size = 0;
        Ok(at)
    }
}

impl<W: Write> TarWriter<W> {
    /// A writer for the content of one entry of `size` bytes whose header is
    /// already written (see [`TarWriter::defer_entry`]): [`Self::content`], then
    /// [`Self::end_entry`].
    pub fn entry_at(out: W, size: u64) -> Self {
        Self { out, written: 0, owed: size, entry_size: size }
    }

    /// Flushes and gives the writer back.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for TarWriter<W> {
    /// Content of the current entry (see [`TarWriter::content`]).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.content(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Zeros up to the next block boundary after `size` bytes.
fn padding(size: u64) -> Vec<u8> {
    vec![0u8; ((BLOCK - size % BLOCK) % BLOCK) as usize]
}

/// Sets the ustar name field, splitting into prefix and name when that fits, else
/// truncating (the PAX `path` record before it carries the whole name).
fn set_name(h: &mut tar::Header, path: &[u8]) {
    if path.len() <= 100 {
        let f = &mut h.as_old_mut().name;
        f[..path.len()].copy_from_slice(path);
        return;
    }
    if let Some(u) = h.as_ustar_mut() {
        // Split at a `/` so that prefix <= 155 and name <= 100.
        let split = path
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'/' && i <= 155 && path.len() - i - 1 <= 100)
            .map(|(i, _)| i)
            .next_back();
        if let Some(i) = split.filter(|&i| i > 0 && i < path.len() - 1) {
            u.prefix[..i].copy_from_slice(&path[..i]);
            let rest = &path[i + 1..];
            u.name[..rest.len()].copy_from_slice(rest);
            return;
        }
        u.name.copy_from_slice(&path[..100]);
    }
}

/// Name of a PAX header entry, as Go writes it (`PaxHeaders.0/<base>`), kept short.
fn pax_name(path: &[u8]) -> Vec<u8> {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let mut n = b"PaxHeaders.0/".to_vec();
    n.extend_from_slice(&base[..base.len().min(80)]);
    n
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + body.to_string().len();
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        for v in [&b"x"[..], &[b'a'; 95][..], &[b'a'; 994][..]] {
            let r = pax_record("path", v);
            let sp = r.iter().position(|&b| b == b' ').unwrap();
            let n: usize = std::str::from_utf8(&r[..sp]).unwrap().parse().unwrap();
            assert_eq!(n, r.len());
        }
    }

    #[test]
    fn the_tar_crate_reads_back_long_names_links_and_xattrs() {
        let long = format!("a/{}/file", "d".repeat(150));
        let xattrs = vec![("security.capability".to_owned(), vec![1, 0, 0, 2])];
        let mut w = TarWriter::new(Vec::new());
        w.begin_entry(&EntryHeader {
            path: long.as_bytes(),
            kind: EntryKind::File,
            size: 3,
            mode: 0o4755,
            uid: 1000,
            gid: 65534,
            mtime: 1_700_000_000,
            link: b"",
            device: (0, 0),
            xattrs: &xattrs,
        })
        .unwrap();
        w.content(b"abcdef").unwrap();
        w.end_entry().unwrap();
        w.begin_entry(&EntryHeader {
            path: b"caf\xe9",
            kind: EntryKind::HardLink,
            size: 0,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            link: long.as_bytes(),
            device: (0, 0),
            xattrs: &[],
        })
        .unwrap();
        w.end_entry().unwrap();
        let bytes = w.finish().unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut entries = ar.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(e.path_bytes().as_ref(), long.as_bytes());
        assert_eq!(e.header().mode().unwrap(), 0o4755);
        assert_eq!(e.header().gid().unwrap(), 65534);
        let pax: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|x| x.unwrap())
            .map(|x| (x.key().unwrap().to_owned(), x.value_bytes().to_vec()))
            .collect();
        assert!(pax.contains(&("SCHILY.xattr.security.capability".to_owned(), vec![1, 0, 0, 2])));
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        assert_eq!(s, "abc");
        let e = entries.next().unwrap().unwrap();
        assert_eq!(e.path_bytes().as_ref(), b"caf\xe9");
        assert_eq!(e.link_name_bytes().unwrap().as_ref(), long.as_bytes());
        assert!(entries.next().is_none());
    }
}
