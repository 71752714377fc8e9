//! The JSON-line reader: one `tar-split.json.gz` stream in, [`Entry`] records out.
//!
//! Streams one line at a time and enforces the decompressed-size, entry-count and
//! line-length limits, so a hostile or corrupt stream ends in a [`TarSplitError`],
//! never a panic or an unbounded buffer.

use crate::fsread::Limits;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

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
        /// Content size in bytes.
        size: u64,
        /// CRC-64 of the content; `None` for `size == 0`, where nothing is read.
        crc: Option<u64>,
    },
}

/// Which limit a stream broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The decompressed stream passed `max_tar_split_bytes`.
    DecompressedBytes,
    /// The stream has more entries than `max_tar_split_entries`.
    Entries,
    /// One JSON line passed [`MAX_LINE_BYTES`].
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
    Malformed {
        /// Index of the entry in the stream, from 0 (blank lines not counted).
        entry: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Two file entries with the same cleaned name, which moby's unpacker refuses
    /// (`ErrDuplicatePath`): such a stream was not written by Docker.
    #[error("entry {entry}: duplicate path {name:?}")]
    DuplicatePath {
        /// Index of the second entry in the stream, from 0.
        entry: u64,
        /// The cleaned name, escaped for display.
        name: String,
    },
    /// A limit was passed; the stream was read no further.
    #[error("{kind:?} limit of {limit} exceeded")]
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// Its value.
        limit: u64,
    },
}

impl TarSplitError {
    /// Whether a limit was passed, rather than the stream being damaged.
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
                return Err(TarSplitError::LimitExceeded {
                    kind: LimitKind::LineBytes,
                    limit: self.max_line as u64,
                });
            }
            self.line.extend_from_slice(body);
            self.input.consume(take);
            self.consumed += take as u64;
            if self.consumed > self.limits.max_tar_split_bytes {
                return Err(TarSplitError::LimitExceeded {
                    kind: LimitKind::DecompressedBytes,
                    limit: self.limits.max_tar_split_bytes,
                });
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
            return Err(TarSplitError::LimitExceeded {
                kind: LimitKind::Entries,
                limit: self.limits.max_tar_split_entries,
            });
        }
        let bad = |reason: String| TarSplitError::Malformed { entry: index, reason };
        let raw: RawEntry<'_> =
            serde_json::from_slice(&self.line).map_err(|e| bad(e.to_string()))?;
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
                let size = u64::try_from(raw.size)
                    .map_err(|_| bad(format!("negative size {}", raw.size)))?;
                let crc = if size == 0 {
                    None
                } else {
                    let bytes: [u8; 8] = payload.as_slice().try_into().map_err(|_| {
                        bad(format!(
                            "file payload is {} bytes, not an 8-byte CRC-64",
                            payload.len()
                        ))
                    })?;
                    Some(u64::from_be_bytes(bytes))
                };
                if !self.seen.insert(go_clean(&name)) {
                    return Err(TarSplitError::DuplicatePath {
                        entry: index,
                        name: crate::finding::display_bytes(&name),
                    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tarsplit::parse_member_header;
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
                Entry::File {
                    name: b"./etc/passwd".to_vec(),
                    size: 9,
                    crc: Some(0xB909_56C7_75A4_1001)
                },
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
        assert!(
            matches!(e, TarSplitError::LimitExceeded { kind: LimitKind::Entries, limit: 3 }),
            "{e:?}"
        );
        let small = Limits { max_tar_split_bytes: 100, ..Limits::default() };
        assert!(matches!(
            read_all(&text, small).unwrap_err(),
            TarSplitError::LimitExceeded { kind: LimitKind::DecompressedBytes, .. }
        ));
        // One endless line: refused at the line cap, without buffering the rest.
        let bomb = gz(&vec![b' '; 4 << 20]);
        let mut r = TarSplitReader::with_max_line(&bomb[..], Limits::default(), 1 << 20);
        assert!(matches!(
            r.next_entry().unwrap_err(),
            TarSplitError::LimitExceeded { kind: LimitKind::LineBytes, .. }
        ));
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
            assert!(
                read_all(text, Limits::default()).is_err(),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        // Not gzip at all, and a truncated gzip stream.
        assert!(TarSplitReader::new(&b"plain text"[..], Limits::default()).next_entry().is_err());
        let z = gz(b"{\"type\":2,\"payload\":\"AAAA\"}\n".repeat(1000).as_slice());
        let cut: Result<Vec<_>, _> =
            TarSplitReader::new(&z[..z.len() / 2], Limits::default()).collect();
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
    fn duplicate_check_mirrors_go_clean() {
        assert_eq!(go_clean(b"./a/"), b"a");
        assert_eq!(go_clean(b"/a/../b"), b"/b");
        assert_eq!(go_clean(b"../x"), b"../x");
        assert_eq!(go_clean(b"./"), b".");
        // "/a" and "a" are distinct to Go.
        assert!(read_all(
            b"{\"type\":1,\"name\":\"a\"}\n{\"type\":1,\"name\":\"/a\"}\n",
            Limits::default()
        )
        .is_ok());
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
}
