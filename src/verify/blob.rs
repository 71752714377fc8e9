//! A compressed layer blob (the containerd image store's content) seen as the same
//! stream of segments and members that a tar-split gives for a graphdriver layer.
//!
//! The graphdriver store keeps a tar-split beside each layer: raw header bytes plus,
//! for each file, its size and CRC-64. The containerd store keeps the layer blob
//! itself. Framing the decompressed blob the way tar-split frames a tar (header
//! bytes as segments, each member's content replaced by its CRC) lets one verifying
//! pass serve both stores: it reads each file from the snapshot directory where the
//! tar-split pass reads it from the driver directory, and the stream it rebuilds
//! from the disk hashes to the DiffID exactly when the snapshot still holds what
//! the blob holds.
//!
//! Alongside, the adapter hashes the compressed bytes (the blob's own digest) and
//! the decompressed bytes (what the DiffID names), so the blob is checked too.
//!
//! The framing is ours rather than the `tar` crate's: a tar-split segment is the
//! exact header bytes, including PAX and GNU long-name blocks, which a general tar
//! reader consumes and normalises away.

use super::members::{Event, Member};
use crate::digest::{Digest, Hasher};
use crate::fsread::Limits;
use crate::tarsplit::{self, padding_after, parse_member_header, Crc64, HeaderError, MemberKind};
use std::io::{self, Read};

const BLOCK: usize = 512;
/// Bytes of PAX and GNU long-name records accepted before one member header: far
/// beyond anything a real image has, small enough to hold in memory.
const MAX_EXTENDED: u64 = 16 << 20;
/// Read size for member content.
const CHUNK: usize = 1 << 20;

/// How a layer blob is compressed, from its media type.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// An uncompressed tar.
    None,
    /// gzip (`+gzip`, and Docker's legacy `x-gtar`).
    Gzip,
    /// zstd (`+zstd`).
    Zstd,
}

impl Compression {
    /// The compression a layer media type names; `None` for a type that is not a
    /// layer at all (foreign layers and non-distributable ones included: they are
    /// tars too).
    pub fn of_media_type(media_type: &str) -> Option<Self> {
        let m = media_type;
        let layer = m.starts_with("application/vnd.oci.image.layer.")
            || m.starts_with("application/vnd.docker.image.rootfs.")
            || m == "application/vnd.docker.container.image.rootfs.diff+x-gtar";
        if !layer {
            return None;
        }
        Some(if m.ends_with("gzip") || m.ends_with("x-gtar") {
            Compression::Gzip
        } else if m.ends_with("zstd") {
            Compression::Zstd
        } else {
            Compression::None
        })
    }
}

/// Why a blob could not be read as a layer tar.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Reading or decompressing the blob failed.
    #[error("reading or decompressing the blob failed after {at} bytes of tar: {source}")]
    Io {
        /// Bytes of decompressed tar read before the failure.
        at: u64,
        /// The I/O or decompression error.
        #[source]
        source: io::Error,
    },
    /// A tar header cannot be parsed.
    #[error("tar header at byte {at} is unusable: {source}")]
    Header {
        /// Offset of the header in the decompressed tar.
        at: u64,
        /// Why it cannot be parsed.
        #[source]
        source: HeaderError,
    },
    /// The tar ends inside a member (byte offset into the tar).
    #[error("the tar ends inside a member at byte {0}")]
    Truncated(u64),
    /// PAX or GNU long-name headers past the size strata accepts (byte offset).
    #[error("extended headers at byte {0} exceed {MAX_EXTENDED} bytes")]
    Extended(u64),
    /// The decompressed tar passes the tar-split byte limit (the limit).
    #[error("decompressed stream exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// The tar has more members than the entry limit (the limit).
    #[error("more than {0} entries")]
    TooManyEntries(u64),
}

impl BlobError {
    /// A limit was reached, rather than the blob being damaged.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            BlobError::TooLarge(_) | BlobError::TooManyEntries(_) | BlobError::Extended(_)
        )
    }
}

/// What the blob hashed to, once read to the end.
#[derive(Debug, Clone, Copy)]
pub struct BlobDigests {
    /// SHA-256 of the bytes as stored: the blob's name.
    pub compressed: Digest,
    /// Size of the blob as stored, in bytes.
    pub compressed_bytes: u64,
    /// SHA-256 of the decompressed tar: the DiffID.
    pub uncompressed: Digest,
    /// Size of the decompressed tar, in bytes.
    pub uncompressed_bytes: u64,
}

/// Counts and hashes what passes through it.
struct Hashing<R> {
    inner: R,
    sha: Hasher,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

type Raw<R> = Hashing<R>;

/// Each decoder boxed, the plain one too: a hashing reader carries a SHA-256 state of a
/// few hundred bytes, and the variants stay the size of a pointer.
enum Decoder<R: Read> {
    Plain(Box<Raw<R>>),
    Gzip(Box<flate2::read::MultiGzDecoder<Raw<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, io::BufReader<Raw<R>>>>),
}

impl<R: Read> Decoder<R> {
    fn new(raw: Raw<R>, c: Compression) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Decoder::Plain(Box::new(raw)),
            Compression::Gzip => Decoder::Gzip(Box::new(flate2::read::MultiGzDecoder::new(raw))),
            Compression::Zstd => Decoder::Zstd(Box::new(zstd::stream::read::Decoder::new(raw)?)),
        })
    }

    /// The raw reader, with whatever the decoder did not consume still unread.
    fn into_raw(self) -> Raw<R> {
        match self {
            Decoder::Plain(r) => *r,
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish().into_inner(),
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

/// Reads a layer blob as segments and members.
pub struct BlobMembers<R: Read> {
    tar: Hashing<Decoder<R>>,
    limits: Limits,
    /// Padding left over from the previous member, opening the next segment.
    carry: Vec<u8>,
    /// A member whose header segment was just returned.
    queued: Option<Member>,
    entries: u64,
    state: State,
    buf: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Members,
    /// Past the end-of-archive marker: the rest is passed on as it comes.
    Tail,
    Done,
}

impl<R: Read> BlobMembers<R> {
    /// Reads the blob `raw`, decompressing it as `compression` says, within `limits`.
    pub fn new(raw: R, compression: Compression, limits: Limits) -> io::Result<Self> {
        let raw = Hashing { inner: raw, sha: Hasher::new(), bytes: 0 };
        let tar = Hashing { inner: Decoder::new(raw, compression)?, sha: Hasher::new(), bytes: 0 };
        Ok(Self {
            tar,
            limits,
            carry: Vec::new(),
            queued: None,
            entries: 0,
            state: State::Members,
            buf: vec![0; CHUNK],
        })
    }

    /// Bytes of decompressed tar read so far.
    pub fn tar_bytes(&self) -> u64 {
        self.tar.bytes
    }

    /// Fills `buf` unless the stream ends first; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, BlobError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.tar.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(BlobError::Io { at: self.tar.bytes, source }),
            }
            if self.tar.bytes > self.limits.max_tar_split_bytes {
                return Err(BlobError::TooLarge(self.limits.max_tar_split_bytes));
            }
        }
        Ok(filled)
    }

    fn read_exact_into(&mut self, out: &mut Vec<u8>, n: usize) -> Result<(), BlobError> {
        let start = out.len();
        out.resize(start + n, 0);
        let got = self.fill(&mut out[start..])?;
        if got < n {
            return Err(BlobError::Truncated(self.tar.bytes));
        }
        Ok(())
    }

    /// The next segment or member. A member comes right after the segment holding
    /// its header, with its content already read for the CRC.
    pub fn next_event(&mut self) -> Result<Option<Event>, BlobError> {
        if let Some(m) = self.queued.take() {
            return Ok(Some(Event::Member(m)));
        }
        match self.state {
            State::Done => Ok(None),
            State::Tail => {
                let mut buf = std::mem::take(&mut self.buf);
                let n = self.fill(&mut buf);
                let out = n.map(|n| {
                    if n == 0 {
                        self.state = State::Done;
                        None
                    } else {
                        Some(Event::Segment(buf[..n].to_vec()))
                    }
                });
                self.buf = buf;
                out
            }
            State::Members => self.next_member(),
        }
    }

    fn next_member(&mut self) -> Result<Option<Event>, BlobError> {
        let mut seg = std::mem::take(&mut self.carry);
        let header_start = seg.len();
        loop {
            let mut block = [0u8; BLOCK];
            let got = self.fill(&mut block)?;
            seg.extend_from_slice(&block[..got]);
            if got == 0 {
                // No end-of-archive marker; Go's reader accepts that too.
                self.state = State::Done;
                return Ok((!seg.is_empty()).then_some(Event::Segment(seg)));
            }
            if got < BLOCK {
                return Err(BlobError::Truncated(self.tar.bytes));
            }
            if block.iter().all(|&b| b == 0) {
                // End of archive: tar-split keeps everything after it as segments.
                self.state = State::Tail;
                return Ok(Some(Event::Segment(seg)));
            }
            if matches!(block[156], b'x' | b'L' | b'K') {
                let at = self.tar.bytes;
                let size = header_size(&block)
                    .ok_or(BlobError::Header { at, source: HeaderError::Number("size") })?;
                if (seg.len() - header_start) as u64 + size > MAX_EXTENDED {
                    return Err(BlobError::Extended(at));
                }
                self.read_exact_into(&mut seg, size as usize + padding_after(size))?;
                continue;
            }
            let at = self.tar.bytes;
            let header = parse_member_header(&seg[header_start..], 0)
                .map_err(|source| BlobError::Header { at, source })?;
            self.entries += 1;
            if self.entries > self.limits.max_tar_split_entries {
                return Err(BlobError::TooManyEntries(self.limits.max_tar_split_entries));
            }
            // Go's reader gives header-only types no content whatever their size says.
            let size = match header.kind() {
                MemberKind::File | MemberKind::Meta => header.size,
                _ => 0,
            };
            let crc = self.skip_content(size)?;
            let padding = padding_after(size);
            let mut pad = vec![0u8; padding];
            let n = self.fill(&mut pad)?;
            pad.truncate(n);
            self.carry = pad;
            let name = header.name.clone();
            let rel = tarsplit::clean_layer_path(&name);
            self.queued = Some(Member {
                name,
                rel,
                size,
                crc: (size > 0).then_some(crc),
                header: Ok(header),
            });
            return Ok(Some(Event::Segment(seg)));
        }
    }

    /// Reads a member's content, returning its CRC-64; nothing is kept.
    fn skip_content(&mut self, size: u64) -> Result<u64, BlobError> {
        let mut crc = Crc64::new();
        let mut left = size;
        let mut buf = std::mem::take(&mut self.buf);
        let mut result = Ok(());
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            match self.fill(&mut buf[..want]) {
                Ok(0) => {
                    result = Err(BlobError::Truncated(self.tar.bytes));
                    break;
                }
                Ok(n) => {
                    crc.update(&buf[..n]);
                    left -= n as u64;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.buf = buf;
        result.map(|()| crc.finish())
    }

    /// Reads whatever is left (decompressed and raw) and returns the digests.
    pub fn finish(mut self) -> Result<BlobDigests, BlobError> {
        let mut buf = std::mem::take(&mut self.buf);
        while self.fill(&mut buf)? > 0 {}
        let Hashing { inner, sha, bytes } = self.tar;
        let uncompressed = sha.finish();
        let mut raw = inner.into_raw();
        loop {
            match raw.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(BlobError::Io { at: bytes, source }),
            }
        }
        Ok(BlobDigests {
            compressed: raw.sha.finish(),
            compressed_bytes: raw.bytes,
            uncompressed,
            uncompressed_bytes: bytes,
        })
    }
}

/// The size field of a raw header block: octal, or base-256 when the top bit is set.
fn header_size(block: &[u8; BLOCK]) -> Option<u64> {
    let field = &block[124..136];
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s: Vec<u8> = field.iter().copied().filter(|&b| b != 0 && b != b' ').collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Write;

    /// A tar with the awkward members: GNU and PAX long names, xattrs, a hard link,
    /// a symlink, a directory, an empty file, and trailing bytes after the end.
    fn sample_tar() -> (Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>) {
        let mut b = tar::Builder::new(Vec::new());
        let mut contents = BTreeMap::new();
        let mut add =
            |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], kind: tar::EntryType| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(kind);
                h.set_size(if kind == tar::EntryType::Regular { data.len() as u64 } else { 0 });
                h.set_mode(0o644);
                h.set_mtime(1_700_000_000);
                if kind == tar::EntryType::Symlink || kind == tar::EntryType::Link {
                    b.append_link(&mut h, name, std::str::from_utf8(data).unwrap()).unwrap();
                } else {
                    b.append_data(&mut h, name, data).unwrap();
                }
                if kind == tar::EntryType::Regular {
                    contents.insert(name.as_bytes().to_vec(), data.to_vec());
                }
            };
        add(&mut b, "etc/", b"", tar::EntryType::Directory);
        add(&mut b, "etc/motd", b"hello\n", tar::EntryType::Regular);
        add(&mut b, "etc/empty", b"", tar::EntryType::Regular);
        let long = format!("opt/{}/file.txt", "d".repeat(150));
        add(&mut b, &long, &vec![7u8; 70_000], tar::EntryType::Regular);
        add(&mut b, "etc/link", b"etc/motd", tar::EntryType::Link);
        add(&mut b, "etc/sym", b"/etc/motd", tar::EntryType::Symlink);
        b.append_pax_extensions([("SCHILY.xattr.user.k", b"v".as_slice())]).unwrap();
        add(&mut b, "etc/xattr", b"x", tar::EntryType::Regular);
        let mut tar = b.into_inner().unwrap();
        tar.extend_from_slice(&[0u8; 1024]);
        tar.extend_from_slice(b"trailing");
        (tar, contents)
    }

    fn rebuild(
        blob: &[u8],
        c: Compression,
        contents: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> (Vec<u8>, Vec<Member>, BlobDigests) {
        let mut m = BlobMembers::new(blob, c, Limits::default()).unwrap();
        let mut out = Vec::new();
        let mut members = Vec::new();
        while let Some(ev) = m.next_event().unwrap() {
            match ev {
                Event::Segment(s) => out.extend_from_slice(&s),
                Event::Member(mem) => {
                    if mem.size > 0 {
                        let data = &contents[&mem.name];
                        assert_eq!(mem.crc, Some(Crc64::of(data)));
                        out.extend_from_slice(data);
                    }
                    members.push(mem);
                }
            }
        }
        (out, members, m.finish().unwrap())
    }

    #[test]
    fn segments_and_contents_rebuild_the_tar_bit_for_bit() {
        let (tar, contents) = sample_tar();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::stream::encode_all(&tar[..], 3).unwrap();
        for (blob, c) in
            [(&tar, Compression::None), (&gz, Compression::Gzip), (&zst, Compression::Zstd)]
        {
            let (out, members, d) = rebuild(blob, c, &contents);
            assert_eq!(out, tar, "{c:?}");
            assert_eq!(d.uncompressed, Digest::of(&tar));
            assert_eq!(d.compressed, Digest::of(blob));
            assert_eq!(d.compressed_bytes, blob.len() as u64);
            let names: Vec<String> =
                members.iter().map(|m| String::from_utf8_lossy(&m.name).into_owned()).collect();
            assert_eq!(names.len(), 7, "{names:?}");
            assert!(names.iter().any(|n| n.len() > 150), "long name resolved: {names:?}");
            let x = members.iter().find(|m| m.name == b"etc/xattr").unwrap();
            assert_eq!(
                x.header.as_ref().unwrap().xattrs,
                vec![(b"user.k".to_vec(), b"v".to_vec())]
            );
        }
    }

    #[test]
    fn a_cut_blob_is_an_error_not_a_panic() {
        let (tar, contents) = sample_tar();
        for cut in [100, 600, 5000, 70_000] {
            let mut m =
                BlobMembers::new(&tar[..cut], Compression::None, Limits::default()).unwrap();
            let mut failed = false;
            loop {
                match m.next_event() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "cut at {cut} must fail");
        }
        let _ = contents;
    }

    #[test]
    fn media_types() {
        assert_eq!(
            Compression::of_media_type("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::of_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::of_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::of_media_type("application/vnd.oci.image.layer.v1.tar"),
            Some(Compression::None)
        );
        assert_eq!(Compression::of_media_type("application/vnd.oci.image.config.v1+json"), None);
    }
}
