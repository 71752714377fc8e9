//! A tar-split stream seen as tar members: each file entry paired with the header
//! that precedes it and the path it names inside the layer.
//!
//! Both the verifying pass over a layer and the name-only passes over lower layers
//! (for full-filesystem drivers) read streams this way, so the pairing lives here once.

use crate::fsread::{Limits, ReadErrorKind, SafeDir};
use crate::tarsplit::{self, BadName, Entry, HeaderError, HeaderTracker, TarHeader, TarSplitError, TarSplitReader};
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
    pub size: u64,
    pub crc: Option<u64>,
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

#[derive(Debug)]
pub enum Event {
    Segment(Vec<u8>),
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
        Err(e) if matches!(e.kind, ReadErrorKind::NotFound) => Err(OpenError::Missing(e.to_string())),
        Err(e) => Err(OpenError::Unreadable(e.to_string())),
    }
}

/// Iterates over the segments and members of a tar-split stream.
pub struct MemberStream<R: std::io::Read> {
    reader: TarSplitReader<R>,
    headers: HeaderTracker,
}

impl<R: std::io::Read> MemberStream<R> {
    pub fn new(input: R, limits: Limits) -> Self {
        Self { reader: TarSplitReader::new(input, limits), headers: HeaderTracker::new(HEADER_BYTES_CAP) }
    }

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
