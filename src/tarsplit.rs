//! Native reader for moby's `tar-split.json.gz`, and a parser for the tar headers
//! it carries.
//!
//! tar-split is how a graphdriver store can hand back a layer's original tar byte
//! for byte: every byte that is not file content (headers, PAX records, padding,
//! end-of-archive blocks) is stored verbatim in "segment" entries, and each file's
//! content is replaced by its CRC-64. Reassembling it against the unpacked layer
//! directory and hashing the result recomputes the DiffID from what is on disk now.
//!
//! The input is attacker-shaped, so the reader streams (one JSON line at a time),
//! caps the decompressed size, the entry count and the length of a single line (a
//! gzip bomb that is one endless line must not be buffered whole), and reports every
//! oddity as a [`TarSplitError`] instead of panicking.

use crate::fsread::Limits;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

/// CRC-64 as tar-split computes it: Go's `crc64.MakeTable(crc64.ISO)`, i.e.
/// CRC-64/GO-ISO. Computed with carry-less multiplication where the CPU has it,
/// since it runs over every byte of every layer.
#[derive(Clone, Copy, Debug)]
pub struct Crc64(crc_fast::Digest);

impl Crc64 {
    pub fn new() -> Self {
        Self(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64GoIso))
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(&self) -> u64 {
        self.0.finalize()
    }

    /// The CRC of `data` in one call.
    pub fn of(data: &[u8]) -> u64 {
        let mut c = Self::new();
        c.update(data);
        c.finish()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

/// Longest single JSON line accepted. Segments are at most 1 MiB (1.4 MiB in
/// base64) and names are bounded by PATH_MAX in practice; a line past this is a
/// bomb or garbage.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// One record of the stream, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Raw tar bytes to emit as they are.
    Segment(Vec<u8>),
    /// A tar member. Its content (when `size > 0`) lives on disk under `name`.
    File {
        /// Header name as tar-split recorded it (`name_raw` when present), not cleaned.
        name: Vec<u8>,
        size: u64,
        /// CRC-64 of the content; `None` for `size == 0`, where nothing is read.
        crc: Option<u64>,
    },
}

/// Which limit a stream broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    DecompressedBytes,
    Entries,
    LineBytes,
}

/// Why a tar-split stream cannot be read further.
#[derive(Debug, thiserror::Error)]
pub enum TarSplitError {
    /// gzip or read failure (truncated file, bad CRC in the gzip trailer, I/O).
    #[error("cannot decompress: {0}")]
    Io(#[from] std::io::Error),
    /// A line that is not a valid tar-split entry.
    #[error("entry {entry}: {reason}")]
    Malformed { entry: u64, reason: String },
    /// Two file entries with the same cleaned name, which moby's unpacker refuses
    /// (`ErrDuplicatePath`): such a stream was not written by Docker.
    #[error("entry {entry}: duplicate path {name:?}")]
    DuplicatePath { entry: u64, name: String },
    #[error("{kind:?} limit of {limit} exceeded")]
    LimitExceeded { kind: LimitKind, limit: u64 },
}

impl TarSplitError {
    pub fn is_limit(&self) -> bool {
        matches!(self, TarSplitError::LimitExceeded { .. })
    }
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name_raw: Option<Cow<'a, str>>,
    #[serde(default)]
    size: i64,
    #[serde(default, borrow)]
    payload: Option<Cow<'a, str>>,
}

/// Streams entries out of a gzip-compressed tar-split file.
pub struct TarSplitReader<R: Read> {
    input: BufReader<flate2::read::MultiGzDecoder<R>>,
    line: Vec<u8>,
    consumed: u64,
    entries: u64,
    limits: Limits,
    max_line: usize,
    /// Go's unpacker tracks `filepath.Clean(name)` of every file entry.
    seen: HashSet<Vec<u8>>,
}

impl<R: Read> TarSplitReader<R> {
    /// `input` is the compressed file.
    pub fn new(input: R, limits: Limits) -> Self {
        Self::with_max_line(input, limits, MAX_LINE_BYTES)
    }

    /// As [`new`](Self::new) with a custom single-line cap (tests, tight budgets).
    pub fn with_max_line(input: R, limits: Limits, max_line: usize) -> Self {
        Self {
            input: BufReader::with_capacity(256 << 10, flate2::read::MultiGzDecoder::new(input)),
            line: Vec::new(),
            consumed: 0,
            entries: 0,
            limits,
            max_line,
            seen: HashSet::new(),
        }
    }

    /// Decompressed bytes consumed so far.
    pub fn decompressed_bytes(&self) -> u64 {
        self.consumed
    }

    /// Reads one line into `self.line` (without the newline), enforcing the byte
    /// limits as it goes. Returns false at a clean end of stream.
    fn read_line(&mut self) -> Result<bool, TarSplitError> {
        self.line.clear();
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return Ok(!self.line.is_empty());
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let body = if done { &buf[..take - 1] } else { &buf[..take] };
            if self.line.len() + body.len() > self.max_line {
                return Err(TarSplitError::LimitExceeded { kind: LimitKind::LineBytes, limit: self.max_line as u64 });
            }
            self.line.extend_from_slice(body);
            self.input.consume(take);
            self.consumed += take as u64;
            if self.consumed > self.limits.max_tar_split_bytes {
                return Err(TarSplitError::LimitExceeded { kind: LimitKind::DecompressedBytes, limit: self.limits.max_tar_split_bytes });
            }
            if done {
                return Ok(true);
            }
        }
    }

    /// The next entry, `Ok(None)` at the end of the stream.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, TarSplitError> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            // Go's decoder skips whitespace between values; a blank line is harmless.
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            break;
        }
        let index = self.entries;
        self.entries += 1;
        if self.entries > self.limits.max_tar_split_entries {
            return Err(TarSplitError::LimitExceeded { kind: LimitKind::Entries, limit: self.limits.max_tar_split_entries });
        }
        let bad = |reason: String| TarSplitError::Malformed { entry: index, reason };
        let raw: RawEntry<'_> = serde_json::from_slice(&self.line).map_err(|e| bad(e.to_string()))?;
        let payload = match raw.payload.as_deref() {
            Some(p) => BASE64.decode(p).map_err(|e| bad(format!("payload: {e}")))?,
            None => Vec::new(),
        };
        match raw.kind {
            2 => {
                if raw.size != 0 {
                    return Err(bad("segment with a size".into()));
                }
                Ok(Some(Entry::Segment(payload)))
            }
            1 => {
                let name = match raw.name_raw.as_deref().filter(|s| !s.is_empty()) {
                    Some(b64) => BASE64.decode(b64).map_err(|e| bad(format!("name_raw: {e}")))?,
                    None => raw.name.as_deref().unwrap_or("").as_bytes().to_vec(),
                };
                let size = u64::try_from(raw.size).map_err(|_| bad(format!("negative size {}", raw.size)))?;
                let crc = if size == 0 {
                    None
                } else {
                    let bytes: [u8; 8] = payload
                        .as_slice()
                        .try_into()
                        .map_err(|_| bad(format!("file payload is {} bytes, not an 8-byte CRC-64", payload.len())))?;
                    Some(u64::from_be_bytes(bytes))
                };
                if !self.seen.insert(go_clean(&name)) {
                    return Err(TarSplitError::DuplicatePath { entry: index, name: crate::finding::display_bytes(&name) });
                }
                Ok(Some(Entry::File { name, size, crc }))
            }
            other => Err(bad(format!("unknown entry type {other}"))),
        }
    }
}

impl<R: Read> Iterator for TarSplitReader<R> {
    type Item = Result<Entry, TarSplitError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

/// Go's `filepath.Clean`, used only to mirror the unpacker's duplicate check: unlike
/// [`clean_layer_path`] it keeps a leading `/` and lets `..` climb.
fn go_clean(path: &[u8]) -> Vec<u8> {
    let rooted = path.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut dotdots = 0usize;
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.len() > dotdots {
                    parts.pop();
                } else if !rooted {
                    parts.push(b"..");
                    dotdots += 1;
                }
            }
            p => parts.push(p),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    if rooted {
        out.push(b'/');
    }
    out.extend_from_slice(&parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Why a tar name cannot be used to open a file in the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadName {
    /// `..` climbs above the layer root.
    Escape,
    /// A NUL byte: no file can have this name.
    Nul,
}

/// The path, relative to the layer root, that moby's path getter opens for a tar
/// name (`filepath.Join(root, name)`): `.` and empty components dropped, `..`
/// resolved, a leading `/` meaning the layer root. A name that would climb out is
/// refused. The layer root itself is the empty path.
pub fn clean_layer_path(name: &[u8]) -> Result<Vec<u8>, BadName> {
    if name.contains(&0) {
        return Err(BadName::Nul);
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(BadName::Escape);
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join(&b'/'))
}

// ---------------------------------------------------------------------------
// Tar headers inside segments.

/// The fields of one tar member that can be compared with the file on disk, after
/// PAX and GNU long-name overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarHeader {
    /// Type flag byte (`b'0'`, `b'5'`, `b'2'`, ...; `0` for old regular files).
    pub typeflag: u8,
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    /// Permission, set-id and sticky bits.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub devmajor: u64,
    pub devminor: u64,
    /// `SCHILY.xattr.*` records, in record order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What kind of member a header describes, folded the way a filesystem sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    File,
    HardLink,
    Symlink,
    CharDevice,
    BlockDevice,
    Dir,
    Fifo,
    /// PAX global header, GNU volume label and the like: nothing on disk.
    Meta,
}

impl TarHeader {
    /// Zero bytes that follow this member's data, as Go's reader accounts them:
    /// none for header-only types whatever their size field says.
    pub fn data_padding(&self) -> usize {
        match self.kind() {
            MemberKind::HardLink
            | MemberKind::Symlink
            | MemberKind::CharDevice
            | MemberKind::BlockDevice
            | MemberKind::Dir
            | MemberKind::Fifo => 0,
            _ => padding_after(self.size),
        }
    }

    pub fn kind(&self) -> MemberKind {
        match self.typeflag {
            // Pre-POSIX archives mark directories only by the trailing slash.
            0 if self.name.ends_with(b"/") => MemberKind::Dir,
            b'0' | 0 | b'7' => MemberKind::File,
            b'1' => MemberKind::HardLink,
            b'2' => MemberKind::Symlink,
            b'3' => MemberKind::CharDevice,
            b'4' => MemberKind::BlockDevice,
            b'5' => MemberKind::Dir,
            b'6' => MemberKind::Fifo,
            b'g' | b'V' => MemberKind::Meta,
            // Go's reader (and go-archive) treat unknown types as regular files.
            _ => MemberKind::File,
        }
    }
}

/// Why the header bytes before a file entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("no complete 512-byte header before the entry")]
    Short,
    #[error("header checksum does not match")]
    Checksum,
    #[error("bad numeric field {0}")]
    Number(&'static str),
    #[error("malformed PAX record")]
    Pax,
    #[error("extended headers do not end at the member header")]
    Misaligned,
}

const BLOCK: usize = 512;

fn padded(size: u64) -> Option<usize> {
    let s = usize::try_from(size).ok()?;
    s.checked_add(BLOCK - 1).map(|v| v / BLOCK * BLOCK)
}

/// Bytes of zero padding that follow a member of `size` bytes of content.
pub fn padding_after(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// Parses the member header for a file entry out of `pending`, the segment bytes
/// emitted since the previous file entry. Those begin with `skip` bytes of padding
/// ending the previous member's content ([`padding_after`]), then any PAX `x` and
/// GNU `L`/`K` blocks, and end with the member's own 512-byte header; or, for a
/// PAX global header (an entry of its own), with its header and unpadded records.
pub fn parse_member_header(pending: &[u8], skip: usize) -> Result<TarHeader, HeaderError> {
    let mut rest = pending.get(skip..).ok_or(HeaderError::Short)?;
    let mut pax: PaxRecords = Vec::new();
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    loop {
        if rest.len() < BLOCK {
            return Err(HeaderError::Short);
        }
        let (block, after) = rest.split_at(BLOCK);
        check_checksum(block)?;
        let typeflag = block[156];
        if typeflag == b'g' {
            // Go's reader returns a global header as an entry of its own once its
            // records are read; their padding is left for the next entry.
            let h = parse_block(block)?;
            if usize::try_from(h.size).ok() != Some(after.len()) {
                return Err(HeaderError::Misaligned);
            }
            parse_pax(after)?;
            return Ok(h);
        }
        if matches!(typeflag, b'x' | b'L' | b'K') {
            let size = numeric(&block[124..136]).ok_or(HeaderError::Number("size"))?;
            let size = usize::try_from(size).map_err(|_| HeaderError::Number("size"))?;
            let span = padded(size as u64).ok_or(HeaderError::Number("size"))?;
            if after.len() < span {
                return Err(HeaderError::Short);
            }
            let data = &after[..size];
            match typeflag {
                b'x' => pax.extend(parse_pax(data)?),
                b'L' => long_name = Some(cstr(data).to_vec()),
                _ => long_link = Some(cstr(data).to_vec()),
            }
            rest = &after[span..];
            continue;
        }
        if !after.is_empty() {
            // Old-GNU sparse extension blocks could follow; tar-split cannot
            // round-trip sparse files anyway.
            return Err(HeaderError::Misaligned);
        }
        let mut h = parse_block(block)?;
        if let Some(n) = long_name {
            h.name = n;
        }
        if let Some(l) = long_link {
            h.linkname = l;
        }
        apply_pax(&mut h, pax)?;
        return Ok(h);
    }
}

fn check_checksum(block: &[u8]) -> Result<(), HeaderError> {
    let stored = numeric(&block[148..156]).ok_or(HeaderError::Checksum)?;
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    // Like Go's reader, accept either sum: some historic tars used signed bytes.
    if stored as i64 == unsigned || stored as i64 == signed {
        Ok(())
    } else {
        Err(HeaderError::Checksum)
    }
}

/// Bytes up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// A tar number: octal text, or GNU base-256 when the top bit of the first byte is
/// set. `None` for anything else. Negative base-256 values are refused.
fn numeric(field: &[u8]) -> Option<u64> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            if first & 0x40 != 0 {
                return None;
            }
            let mut v: u64 = u64::from(first & 0x3f);
            for &b in &field[1..] {
                v = v.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            return Some(v);
        }
    }
    let text = cstr(field);
    let trimmed: &[u8] = {
        let start = text.iter().position(|&c| c != b' ').unwrap_or(text.len());
        let end = text.iter().rposition(|&c| c != b' ').map_or(start, |e| e + 1);
        &text[start..end.max(start)]
    };
    let mut v: u64 = 0;
    for &c in trimmed {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

fn parse_block(b: &[u8]) -> Result<TarHeader, HeaderError> {
    let num = |range: std::ops::Range<usize>, what: &'static str| numeric(&b[range]).ok_or(HeaderError::Number(what));
    let mut name = cstr(&b[0..100]).to_vec();
    let ustar = &b[257..263] == b"ustar\0";
    if ustar {
        // star archives keep a 131-byte prefix and a "tar\0" trailer.
        let prefix_end = if &b[508..512] == b"tar\0" { 476 } else { 500 };
        let prefix = cstr(&b[345..prefix_end]);
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
    }
    let dev = |range, what| if ustar || &b[257..263] == b"ustar " { num(range, what) } else { Ok(0) };
    Ok(TarHeader {
        typeflag: b[156],
        name,
        linkname: cstr(&b[157..257]).to_vec(),
        mode: (num(100..108, "mode")? & 0o7777) as u32,
        uid: num(108..116, "uid")?,
        gid: num(116..124, "gid")?,
        size: num(124..136, "size")?,
        mtime: i64::try_from(num(136..148, "mtime")?).map_err(|_| HeaderError::Number("mtime"))?,
        devmajor: dev(329..337, "devmajor")?,
        devminor: dev(337..345, "devminor")?,
        xattrs: Vec::new(),
    })
}

/// Key/value pairs from PAX records, in order.
type PaxRecords = Vec<(Vec<u8>, Vec<u8>)>;

/// PAX extended header records: `"<len> <key>=<value>\n"`, `len` counting the
/// whole record.
fn parse_pax(mut data: &[u8]) -> Result<PaxRecords, HeaderError> {
    let mut out = Vec::new();
    // GNU tar pads the data with NULs in some versions; Go stops at them too.
    while !data.is_empty() && data[0] != 0 {
        let sp = data.iter().position(|&c| c == b' ').ok_or(HeaderError::Pax)?;
        let len: usize = std::str::from_utf8(&data[..sp]).ok().and_then(|s| s.parse().ok()).ok_or(HeaderError::Pax)?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(HeaderError::Pax);
        }
        let record = &data[sp + 1..len - 1];
        let eq = record.iter().position(|&c| c == b'=').ok_or(HeaderError::Pax)?;
        out.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        data = &data[len..];
    }
    Ok(out)
}

fn apply_pax(h: &mut TarHeader, records: PaxRecords) -> Result<(), HeaderError> {
    let decimal = |v: &[u8], what| -> Result<u64, HeaderError> {
        std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).ok_or(HeaderError::Number(what))
    };
    for (key, value) in records {
        match key.as_slice() {
            b"path" => h.name = value,
            b"linkpath" => h.linkname = value,
            b"size" => h.size = decimal(&value, "size")?,
            b"uid" => h.uid = decimal(&value, "uid")?,
            b"gid" => h.gid = decimal(&value, "gid")?,
            b"mtime" => h.mtime = pax_seconds(&value).ok_or(HeaderError::Number("mtime"))?,
            k if k.starts_with(b"SCHILY.xattr.") => {
                h.xattrs.push((k[b"SCHILY.xattr.".len()..].to_vec(), value));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whole seconds of a PAX time (`"1700000000.25"`), floored as Go's `time.Unix`
/// does for negative times; only whole seconds are compared with the disk.
fn pax_seconds(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = whole.parse().ok()?;
    if whole.starts_with('-') && frac.bytes().any(|c| c != b'0') {
        return secs.checked_sub(1);
    }
    Some(secs)
}

/// Keeps the segment bytes since the last file entry, so the member header that
/// precedes each file entry can be parsed. Bounded: a run of segments past `cap`
/// bytes is not header material any real tar produces, and is dropped.
#[derive(Debug)]
pub struct HeaderTracker {
    pending: Vec<u8>,
    overflowed: bool,
    /// Padding of the previous member's data, which opens the next segment.
    skip: usize,
    cap: usize,
}

impl HeaderTracker {
    pub fn new(cap: usize) -> Self {
        Self { pending: Vec::new(), overflowed: false, skip: 0, cap }
    }

    pub fn push_segment(&mut self, bytes: &[u8]) {
        if self.overflowed {
            return;
        }
        if self.pending.len() + bytes.len() > self.cap {
            self.pending = Vec::new();
            self.overflowed = true;
            return;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// The header of the file entry now being read (of `size` bytes); resets for
    /// the next one.
    pub fn take(&mut self, size: u64) -> Result<TarHeader, HeaderError> {
        let result = if self.overflowed { Err(HeaderError::Misaligned) } else { parse_member_header(&self.pending, self.skip) };
        self.pending.clear();
        self.overflowed = false;
        self.skip = match &result {
            Ok(h) => h.data_padding(),
            Err(_) => padding_after(size),
        };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn read_all(text: &[u8], limits: Limits) -> Result<Vec<Entry>, TarSplitError> {
        TarSplitReader::new(&gz(text)[..], limits).collect()
    }

    #[test]
    fn crc_check_value_matches_go() {
        let crc = Crc64::of(b"123456789");
        assert_eq!(crc, 0xB909_56C7_75A4_1001);
        assert_eq!(BASE64.encode(crc.to_be_bytes()), "uQlWx3WkEAE=");
        assert_eq!(BASE64.encode(Crc64::of(b"hello world").to_be_bytes()), "uc8/VyrZrD4=");
    }

    /// The SIMD path agrees with the plain table method at every length and split,
    /// including the short tails and unaligned starts it handles differently.
    #[test]
    fn crc_matches_the_reference_implementation() {
        let reference = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_GO_ISO);
        let data: Vec<u8> = (0u32..(1 << 20) + 333).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for len in (0..600).chain([4095, 4096, 4097, 65_537, data.len()]) {
            for start in [0, 1, 7] {
                let d = &data[start..start + len.min(data.len() - start)];
                assert_eq!(Crc64::of(d), reference.checksum(d), "len {len} start {start}");
            }
        }
        let mut split = Crc64::new();
        for chunk in data.chunks(1000) {
            split.update(chunk);
        }
        assert_eq!(split.finish(), reference.checksum(&data));
    }

    #[test]
    fn reads_segments_files_and_raw_names() {
        let text = br#"{"type":2,"payload":"AAEC","position":0}
{"type":1,"name":"./etc/passwd","size":9,"payload":"uQlWx3WkEAE=","position":1}
{"type":1,"name_raw":"YmFk/25hbWU=","name":"bad\ufffdname","position":2}
{"type":1,"name":"dir/","payload":null,"position":3}
"#;
        let got = read_all(text, Limits::default()).unwrap();
        assert_eq!(
            got,
            vec![
                Entry::Segment(vec![0, 1, 2]),
                Entry::File { name: b"./etc/passwd".to_vec(), size: 9, crc: Some(0xB909_56C7_75A4_1001) },
                Entry::File { name: b"bad\xffname".to_vec(), size: 0, crc: None },
                Entry::File { name: b"dir/".to_vec(), size: 0, crc: None },
            ]
        );
    }

    #[test]
    fn limits_are_enforced() {
        let text = b"{\"type\":2,\"payload\":\"AAAA\"}\n".repeat(10);
        let few = Limits { max_tar_split_entries: 3, ..Limits::default() };
        let e = read_all(&text, few).unwrap_err();
        assert!(matches!(e, TarSplitError::LimitExceeded { kind: LimitKind::Entries, limit: 3 }), "{e:?}");
        let small = Limits { max_tar_split_bytes: 100, ..Limits::default() };
        assert!(matches!(read_all(&text, small).unwrap_err(), TarSplitError::LimitExceeded { kind: LimitKind::DecompressedBytes, .. }));
        // One endless line: refused at the line cap, without buffering the rest.
        let bomb = gz(&vec![b' '; 4 << 20]);
        let mut r = TarSplitReader::with_max_line(&bomb[..], Limits::default(), 1 << 20);
        assert!(matches!(r.next_entry().unwrap_err(), TarSplitError::LimitExceeded { kind: LimitKind::LineBytes, .. }));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            &b"not json\n"[..],
            b"{\"type\":3}\n",
            b"{\"type\":1,\"name\":\"a\",\"size\":5,\"payload\":\"AAA=\"}\n",
            b"{\"type\":1,\"name\":\"a\",\"size\":-5,\"payload\":null}\n",
            b"{\"type\":2,\"payload\":\"%%%\"}\n",
            b"{\"type\":1,\"name\":\"a\"}\n{\"type\":1,\"name\":\"./a/\"}\n",
            b"[1,2,3]\n",
        ] {
            assert!(read_all(text, Limits::default()).is_err(), "{:?}", String::from_utf8_lossy(text));
        }
        // Not gzip at all, and a truncated gzip stream.
        assert!(TarSplitReader::new(&b"plain text"[..], Limits::default()).next_entry().is_err());
        let z = gz(b"{\"type\":2,\"payload\":\"AAAA\"}\n".repeat(1000).as_slice());
        let cut: Result<Vec<_>, _> = TarSplitReader::new(&z[..z.len() / 2], Limits::default()).collect();
        assert!(cut.is_err());
        // Arbitrary bytes through the header parser.
        let mut seed = 0x1234_5678_u32;
        for len in [0usize, 1, 511, 512, 1024, 1536, 4096] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = parse_member_header(&bytes, 0);
            let _ = parse_member_header(&bytes, 700);
        }
    }

    #[test]
    fn pax_times_floor_like_go() {
        assert_eq!(pax_seconds(b"1700000000.999"), Some(1_700_000_000));
        assert_eq!(pax_seconds(b"-1.5"), Some(-2));
        assert_eq!(pax_seconds(b"-1.000"), Some(-1));
        assert_eq!(pax_seconds(b"-9223372036854775808.5"), None);
        assert_eq!(pax_seconds(b"x"), None);
    }

    #[test]
    fn duplicate_check_mirrors_go_clean() {
        assert_eq!(go_clean(b"./a/"), b"a");
        assert_eq!(go_clean(b"/a/../b"), b"/b");
        assert_eq!(go_clean(b"../x"), b"../x");
        assert_eq!(go_clean(b"./"), b".");
        // "/a" and "a" are distinct to Go.
        assert!(read_all(b"{\"type\":1,\"name\":\"a\"}\n{\"type\":1,\"name\":\"/a\"}\n", Limits::default()).is_ok());
    }

    #[test]
    fn layer_paths_are_cleaned_and_contained() {
        assert_eq!(clean_layer_path(b"./etc//passwd").unwrap(), b"etc/passwd");
        assert_eq!(clean_layer_path(b"/usr/bin/").unwrap(), b"usr/bin");
        assert_eq!(clean_layer_path(b"a/../b").unwrap(), b"b");
        assert_eq!(clean_layer_path(b"./").unwrap(), b"");
        assert_eq!(clean_layer_path(b"../etc/shadow"), Err(BadName::Escape));
        assert_eq!(clean_layer_path(b"/a/../../x"), Err(BadName::Escape));
        assert_eq!(clean_layer_path(b"a\0b"), Err(BadName::Nul));
    }

    fn ustar_block(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..name.len()].copy_from_slice(name);
        b[100..107].copy_from_slice(b"0000644");
        b[108..115].copy_from_slice(b"0001750");
        b[116..123].copy_from_slice(b"0000012");
        b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        b[136..147].copy_from_slice(b"14707050720");
        b[156] = typeflag;
        b[157..157 + link.len()].copy_from_slice(link);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
        b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b
    }

    #[test]
    fn parses_pax_and_gnu_long_names() {
        let records = b"28 path=very/long/name/here\n26 SCHILY.xattr.user.k=v1\n";
        let mut seg = vec![0u8; 3]; // padding of a previous 509-byte member
        seg.extend(ustar_block(b"PaxHeaders/x", b'x', records.len() as u64, b""));
        let mut data = records.to_vec();
        data.resize(512, 0);
        seg.extend(data);
        seg.extend(ustar_block(b"short", b'0', 42, b""));
        let h = parse_member_header(&seg, 3).unwrap();
        assert_eq!(h.name, b"very/long/name/here");
        assert_eq!(h.xattrs, vec![(b"user.k".to_vec(), b"v1".to_vec())]);
        assert_eq!((h.mode, h.uid, h.gid, h.size, h.kind()), (0o644, 1000, 10, 42, MemberKind::File));
        assert_eq!(h.mtime, 0o14707050720);

        let mut seg = ustar_block(b"././@LongLink", b'K', 7, b"");
        let mut d = b"target\0".to_vec();
        d.resize(512, 0);
        seg.extend(d);
        seg.extend(ustar_block(b"lnk", b'2', 0, b"trunc"));
        let h = parse_member_header(&seg, 0).unwrap();
        assert_eq!((h.kind(), h.linkname.as_slice()), (MemberKind::Symlink, &b"target"[..]));
        let old_dir = ustar_block(b"olddir/", 0, 0, b"");
        assert_eq!(parse_member_header(&old_dir, 0).unwrap().kind(), MemberKind::Dir);

        let mut broken = ustar_block(b"x", b'0', 0, b"");
        broken[0] = b'y';
        assert_eq!(parse_member_header(&broken, 0), Err(HeaderError::Checksum));
    }
}
