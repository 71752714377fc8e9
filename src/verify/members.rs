//! A tar-split stream seen as tar members: each file entry paired with the header
//! that precedes it and the path it names inside the layer.
//!
//! Both the verifying pass over a layer and the name-only passes over lower layers
//! (for full-filesystem drivers) read streams this way, so the pairing lives here once.

use super::blob::{BlobDigests, BlobError, BlobMembers};
use super::LayerBlob;
use crate::finding::{Code, Finding};
use crate::fsread::{Limits, ReadErrorKind, SafeDir};
use crate::tarsplit::{
    self, BadName, Entry, HeaderError, HeaderTracker, TarHeader, TarSplitError, TarSplitReader,
};
use std::fs::File;
use std::path::Path;

/// Segment bytes kept for header parsing. PAX records carrying xattrs can be large,
/// but not this large in anything Docker wrote.
const HEADER_BYTES_CAP: usize = 16 << 20;

/// One tar member described by a file entry.
#[derive(Debug)]
pub struct Member {
    /// The name as recorded, uncleaned.
    pub name: Vec<u8>,
    /// Where the name lands inside the layer, or why it cannot be opened.
    pub rel: Result<Vec<u8>, BadName>,
    /// Content size in bytes, from the tar-split entry.
    pub size: u64,
    /// CRC-64 (ISO) of the content, as tar-split records it; `None` for members without content.
    pub crc: Option<u64>,
    /// The member's tar header, parsed from the segments before it.
    pub header: Result<TarHeader, HeaderError>,
}

impl Member {
    /// The last path component of the cleaned name (empty for the layer root).
    pub fn base_name(&self) -> &[u8] {
        match &self.rel {
            Ok(rel) => rel.rsplit(|&b| b == b'/').next().unwrap_or(rel),
            Err(_) => b"",
        }
    }
}

/// One step of a layer's tar stream.
#[derive(Debug)]
pub enum Event {
    /// Raw tar bytes (headers, padding, end-of-archive), as stored.
    Segment(Vec<u8>),
    /// A member whose content comes from the layer directory (or the blob).
    Member(Member),
}

/// Why a tar-split file could not be opened at all.
#[derive(Debug)]
pub enum OpenError {
    Missing(String),
    Unreadable(String),
}

/// Opens a tar-split file under the data-root, refusing links and special files.
pub fn open_tar_split(root: &SafeDir, rel: &Path) -> Result<File, OpenError> {
    match root.open_file(rel) {
        Ok((f, _)) => Ok(f),
        Err(e) if matches!(e.kind, ReadErrorKind::NotFound) => {
            Err(OpenError::Missing(e.to_string()))
        }
        Err(e) => Err(OpenError::Unreadable(e.to_string())),
    }
}

/// Iterates over the segments and members of a tar-split stream.
pub struct MemberStream<R: std::io::Read> {
    reader: TarSplitReader<R>,
    headers: HeaderTracker,
}

impl<R: std::io::Read> MemberStream<R> {
    /// Reads the tar-split stream `input` (already decompressed) within `limits`.
    pub fn new(input: R, limits: Limits) -> Self {
        Self {
            reader: TarSplitReader::new(input, limits),
            headers: HeaderTracker::new(HEADER_BYTES_CAP),
        }
    }

    /// The next segment or member; `None` at the end of the stream.
    pub fn next_event(&mut self) -> Result<Option<Event>, TarSplitError> {
        Ok(match self.reader.next_entry()? {
            None => None,
            Some(Entry::Segment(bytes)) => {
                self.headers.push_segment(&bytes);
                Some(Event::Segment(bytes))
            }
            Some(Entry::File { name, size, crc }) => {
                let header = self.headers.take(size);
                let rel = tarsplit::clean_layer_path(&name);
                Some(Event::Member(Member { name, rel, size, crc, header }))
            }
        })
    }
}

/// A layer's segments and members from whichever store keeps them: the
/// graphdriver's tar-split, or the containerd store's layer blob framed the same
/// way ([`super::blob`]). Verify, `files` and `save` read layers through this.
pub enum LayerStream {
    /// The graphdriver store: the tar-split beside the layer.
    TarSplit {
        /// The tar-split's segments and members.
        stream: Box<MemberStream<File>>,
        /// The tar-split file, relative to the data-root.
        rel: std::path::PathBuf,
    },
    /// The containerd store: the layer blob.
    Blob {
        /// The blob's tar, split into segments and members as it is read.
        stream: Box<BlobMembers<File>>,
        /// Which blob, and how it is compressed.
        blob: LayerBlob,
    },
}

impl LayerStream {
    /// Opens the blob when there is one, else the tar-split at `tar_split`, both
    /// relative to `root`. A failure is the finding that says why.
    pub fn open(
        root: &SafeDir,
        tar_split: &Path,
        blob: Option<&LayerBlob>,
        limits: Limits,
    ) -> Result<Self, Box<Finding>> {
        if let Some(blob) = blob {
            let file = match root.open_file(&blob.path) {
                Ok((f, _)) => f,
                Err(e) => {
                    let code = if e.is_not_found() {
                        Code::ContentBlobMissing
                    } else {
                        Code::ContentBlobCorrupt
                    };
                    return Err(Box::new(
                        Finding::error(
                            code,
                            format!("the layer blob {} cannot be read, the layer tar cannot be rebuilt: {e}", blob.digest),
                        )
                        .with_file(&blob.path),
                    ));
                }
            };
            return match BlobMembers::new(file, blob.compression, limits) {
                Ok(stream) => {
                    Ok(LayerStream::Blob { stream: Box::new(stream), blob: blob.clone() })
                }
                Err(e) => Err(Box::new(
                    Finding::error(
                        Code::ContentBlobCorrupt,
                        format!("the layer blob cannot be decompressed: {e}"),
                    )
                    .with_file(&blob.path),
                )),
            };
        }
        match open_tar_split(root, tar_split) {
            Ok(f) => Ok(LayerStream::TarSplit {
                stream: Box::new(MemberStream::new(f, limits)),
                rel: tar_split.to_path_buf(),
            }),
            Err(e) => {
                let f = match e {
                    OpenError::Missing(m) => Finding::error(
                        Code::TarSplitMissing,
                        format!("no tar-split, the layer tar cannot be rebuilt: {m}"),
                    ),
                    OpenError::Unreadable(m) => Finding::error(
                        Code::TarSplitCorrupt,
                        format!("tar-split cannot be read: {m}"),
                    ),
                };
                Err(Box::new(f.with_file(tar_split)))
            }
        }
    }

    /// The next segment or member; a stream that breaks is the finding that says so.
    pub fn next_event(&mut self) -> Result<Option<Event>, Box<Finding>> {
        match self {
            LayerStream::TarSplit { stream, rel } => {
                stream.next_event().map_err(|e| Box::new(stream_error(&e).with_file(&*rel)))
            }
            LayerStream::Blob { stream, blob } => {
                stream.next_event().map_err(|e| Box::new(blob_error(&e).with_file(&blob.path)))
            }
        }
    }

    /// After the last member: for a blob, reads what is left and returns what the
    /// blob and its tar hash to.
    pub fn finish(self) -> Result<Option<(LayerBlob, BlobDigests)>, Box<Finding>> {
        let LayerStream::Blob { stream, blob } = self else { return Ok(None) };
        match stream.finish() {
            Ok(d) => Ok(Some((blob, d))),
            Err(e) => Err(Box::new(blob_error(&e).with_file(&blob.path))),
        }
    }
}

fn blob_error(e: &BlobError) -> Finding {
    if e.is_limit() {
        Finding::error(Code::LimitExceeded, format!("layer blob not read to the end: {e}"))
    } else {
        Finding::error(
            Code::ContentBlobCorrupt,
            format!("the layer blob is not a readable layer tar: {e}"),
        )
    }
}

fn stream_error(e: &TarSplitError) -> Finding {
    if e.is_limit() {
        Finding::error(Code::LimitExceeded, format!("tar-split not read to the end: {e}"))
    } else {
        Finding::error(
            Code::TarSplitCorrupt,
            format!("tar-split is corrupt, the layer tar cannot be rebuilt: {e}"),
        )
    }
}
