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
//!
//! The module is in three parts: [`reader`] streams the JSON lines, [`header`]
//! parses the tar member headers the segments carry, and [`crc`] is the per-file
//! content checksum. Everything callers need is re-exported here.

pub mod crc;
pub mod header;
pub mod reader;

pub use crc::Crc64;
pub use header::{
    padding_after, parse_member_header, HeaderError, HeaderTracker, MemberKind, TarHeader,
};
pub use reader::{
    clean_layer_path, BadName, Entry, LimitKind, TarSplitError, TarSplitReader, MAX_LINE_BYTES,
};
