//! The entries of a layer, read from the tar headers its tar-split file keeps.
//!
//! tar-split stores every header of the layer's original tar verbatim, so the
//! listing is what the image author shipped (names, modes, owners, times, link
//! targets, whiteouts), not what the unpacked directory looks like now. Entries are
//! streamed to a callback one at a time, so a layer of millions of files is never
//! held in memory; the reader's limits bound the rest.

use crate::digest::{ChainId, DiffId};
use crate::finding::{display_bytes, normalize_layer_path, Code, Finding};
use crate::fsread::{Limits, SafeDir};
use crate::graph::Graph;
use crate::tarsplit::{MemberKind, TarHeader};
use crate::verify::{Event, LayerStream};
use serde::Serialize;

/// One tar member of a layer.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct LayerFile {
    /// Path inside the layer, without `./` or `/` prefixes; non-UTF-8 bytes as `\xNN`.
    pub path: String,
    /// `file`, `hardlink`, `symlink`, `char`, `block`, `dir`, `fifo`, `meta` (PAX
    /// global header and the like), or `unknown` when the header is unreadable.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// Size in bytes, as the tar header records it.
    pub size: u64,
    /// Permission, set-id and sticky bits.
    pub mode: u32,
    /// Owner user ID.
    pub uid: u64,
    /// Owner group ID.
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// Target of a symlink or hard link.
    pub link_target: Option<String>,
    /// An AUFS-style whiteout (`.wh.<name>`) or opaque marker (`.wh..wh..opq`).
    pub whiteout: bool,
}

/// The type of a layer entry, as its tar header gives it.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// A regular file.
    File,
    /// A hard link to an earlier member.
    HardLink,
    /// A symbolic link.
    Symlink,
    /// A character device (an overlay whiteout is one, 0/0).
    Char,
    /// A block device.
    Block,
    /// A directory.
    Dir,
    /// A named pipe.
    Fifo,
    /// A PAX global header and the like.
    Meta,
    /// The header is unreadable.
    Unknown,
}

impl From<MemberKind> for FileType {
    fn from(k: MemberKind) -> Self {
        match k {
            MemberKind::File => FileType::File,
            MemberKind::HardLink => FileType::HardLink,
            MemberKind::Symlink => FileType::Symlink,
            MemberKind::CharDevice => FileType::Char,
            MemberKind::BlockDevice => FileType::Block,
            MemberKind::Dir => FileType::Dir,
            MemberKind::Fifo => FileType::Fifo,
            MemberKind::Meta => FileType::Meta,
        }
    }
}

fn is_whiteout(name: &[u8]) -> bool {
    let base = normalize_layer_path(name).rsplit(|&b| b == b'/').next().unwrap_or_default();
    base.starts_with(b".wh.")
}

/// The path as shown: normalised, and `.` for the layer root (`./` in the tar).
fn shown_path(name: &[u8]) -> String {
    let p = normalize_layer_path(name);
    if p.is_empty() || p == b"." {
        ".".to_owned()
    } else {
        display_bytes(p)
    }
}

fn from_header(name: &[u8], size: u64, h: &TarHeader) -> LayerFile {
    let kind = h.kind();
    LayerFile {
        path: shown_path(name),
        kind: kind.into(),
        size,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        mtime: h.mtime,
        link_target: matches!(kind, MemberKind::Symlink | MemberKind::HardLink)
            .then(|| display_bytes(&h.linkname)),
        whiteout: is_whiteout(name),
    }
}

/// The layer a listing is of.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct LayerId {
    /// The layer's ChainID.
    pub chain_id: ChainId,
    /// The layer's DiffID, when layerdb records one.
    pub diff_id: Option<DiffId>,
}

/// Streams every member of layer `chain` to `each`, in tar order. Problems with the
/// tar-split file become findings; an error from `each` (a closed pipe) stops the
/// walk and is returned.
pub fn for_each_file(
    g: &Graph,
    root: &SafeDir,
    chain: &ChainId,
    limits: Limits,
    findings: &mut Vec<Finding>,
    each: &mut dyn FnMut(LayerFile) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let Some(layer) = g.layers.get(chain) else {
        findings.push(
            Finding::error(
                Code::LayerMissing,
                format!("layer {} is not in layerdb", chain.short()),
            )
            .with_layer(*chain),
        );
        return Ok(());
    };
    // The containerd store keeps the layer blob instead of a tar-split.
    let blob = layer.containerd.as_ref().and_then(|c| c.blob.as_ref()).and_then(|b| {
        Some(crate::verify::LayerBlob {
            digest: b.digest,
            path: crate::store::containerd::blob_path(&b.digest),
            compression: b.compression?,
        })
    });
    let root = g.content_root(root);
    let mut stream =
        match LayerStream::open(root, &layer.record.tar_split_path(), blob.as_ref(), limits) {
            Ok(s) => s,
            Err(f) => {
                findings.push(f.with_layer(*chain));
                return Ok(());
            }
        };
    loop {
        match stream.next_event() {
            Ok(None) => break,
            Ok(Some(Event::Segment(_))) => {}
            Ok(Some(Event::Member(m))) => {
                let f = match &m.header {
                    Ok(h) => from_header(&m.name, m.size, h),
                    Err(e) => {
                        findings.push(
                            Finding::warning(
                                Code::TarSplitCorrupt,
                                format!(
                                    "layer {}: header of {:?} unreadable: {e}",
                                    chain.short(),
                                    display_bytes(&m.name)
                                ),
                            )
                            .with_layer(*chain)
                            .with_path(&m.name),
                        );
                        LayerFile {
                            path: shown_path(&m.name),
                            kind: FileType::Unknown,
                            size: m.size,
                            mode: 0,
                            uid: 0,
                            gid: 0,
                            mtime: 0,
                            link_target: None,
                            whiteout: is_whiteout(&m.name),
                        }
                    }
                };
                each(f)?;
            }
            Err(f) => {
                let f = f.with_layer(*chain);
                findings
                    .push(Finding { message: format!("{}; listing stops here", f.message), ..f });
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_whiteout;

    #[test]
    fn recognises_whiteouts_and_opaque_markers() {
        assert!(is_whiteout(b"etc/.wh.motd"));
        assert!(is_whiteout(b"./data/old/.wh..wh..opq"));
        assert!(!is_whiteout(b"etc/motd.wh."));
    }
}
