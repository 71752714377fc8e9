//! The tar header parser: the member headers carried inside tar-split segments.
//!
//! Why our own and not a tar crate: tar-split stores the raw 512-byte header blocks
//! exactly as they were in the original archive, and verification must compare and
//! re-emit them bit for bit, including old-style, GNU (`L`/`K` long names, base-256
//! numbers) and PAX forms. A general-purpose tar reader normalises those (it merges
//! extensions, rewrites names, accepts and repairs sloppy fields), which hides exactly
//! the differences strata has to see. The input is attacker-shaped, so every field is
//! bounds-checked and a malformed header is a [`HeaderError`]: this parser must never
//! panic, whatever the bytes.

/// The fields of one tar member that can be compared with the file on disk, after
/// PAX and GNU long-name overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarHeader {
    /// Type flag byte (`b'0'`, `b'5'`, `b'2'`, ...; `0` for old regular files).
    pub typeflag: u8,
    /// The member's path as the archive records it (after PAX `path` or GNU `L`).
    pub name: Vec<u8>,
    /// The link target of a symlink or hard link (after PAX `linkpath` or GNU `K`).
    pub linkname: Vec<u8>,
    /// Permission, set-id and sticky bits.
    pub mode: u32,
    /// Owner user ID.
    pub uid: u64,
    /// Owner group ID.
    pub gid: u64,
    /// Content size in bytes.
    pub size: u64,
    /// Modification time, whole seconds since the epoch.
    pub mtime: i64,
    /// Device major number (character and block devices).
    pub devmajor: u64,
    /// Device minor number (character and block devices).
    pub devminor: u64,
    /// `SCHILY.xattr.*` records, in record order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What kind of member a header describes, folded the way a filesystem sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// A regular file (type `0`, NUL or `7`, and unknown types, as Go reads them).
    File,
    /// A hard link to an earlier member (type `1`).
    HardLink,
    /// A symbolic link (type `2`).
    Symlink,
    /// A character device (type `3`); an overlay whiteout on disk is one, 0/0.
    CharDevice,
    /// A block device (type `4`).
    BlockDevice,
    /// A directory (type `5`, or an old-style name ending in `/`).
    Dir,
    /// A FIFO (type `6`).
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

    /// The kind of member the type flag names.
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
    /// The segments before the entry hold no complete 512-byte header.
    #[error("no complete 512-byte header before the entry")]
    Short,
    /// The header's checksum field does not match its bytes.
    #[error("header checksum does not match")]
    Checksum,
    /// A numeric field (named) is neither octal nor base-256.
    #[error("bad numeric field {0}")]
    Number(&'static str),
    /// A PAX extended header record is malformed.
    #[error("malformed PAX record")]
    Pax,
    /// The extended headers (PAX, GNU long names) do not end exactly where the member header starts.
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
    let num = |range: std::ops::Range<usize>, what: &'static str| {
        numeric(&b[range]).ok_or(HeaderError::Number(what))
    };
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
    let dev =
        |range, what| if ustar || &b[257..263] == b"ustar " { num(range, what) } else { Ok(0) };
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
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(HeaderError::Pax)?;
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
    /// A tracker that keeps at most `cap` bytes of pending segments.
    pub fn new(cap: usize) -> Self {
        Self { pending: Vec::new(), overflowed: false, skip: 0, cap }
    }

    /// Adds the bytes of one segment entry.
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
        let result = if self.overflowed {
            Err(HeaderError::Misaligned)
        } else {
            parse_member_header(&self.pending, self.skip)
        };
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

    #[test]
    fn pax_times_floor_like_go() {
        assert_eq!(pax_seconds(b"1700000000.999"), Some(1_700_000_000));
        assert_eq!(pax_seconds(b"-1.5"), Some(-2));
        assert_eq!(pax_seconds(b"-1.000"), Some(-1));
        assert_eq!(pax_seconds(b"-9223372036854775808.5"), None);
        assert_eq!(pax_seconds(b"x"), None);
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
        assert_eq!(
            (h.mode, h.uid, h.gid, h.size, h.kind()),
            (0o644, 1000, 10, 42, MemberKind::File)
        );
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
