//! The content store on disk, `io.containerd.content.v1.content/`: finished blobs in
//! `blobs/sha256/<hex>` and uploads in progress in `ingest/<sha256 of ref>/` (holding
//! `ref`, `data`, `startedat`, `updatedat`, `total`) [containerd plugins/content/local].

use crate::digest::Digest;
use crate::finding::{display_bytes, Code, Finding};
use crate::fsread::{FileKind, SafeDir};
use crate::store::read_error_finding;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The content store's directory, relative to the containerd root.
pub const CONTENT_ROOT: &str = "io.containerd.content.v1.content";

/// Path of a content blob relative to the containerd root.
pub fn blob_path(d: &Digest) -> PathBuf {
    Path::new(CONTENT_ROOT).join("blobs/sha256").join(d.hex())
}

/// An upload in progress: an ingest directory, a meta.db `content/ingests` record, or
/// both (matched by the backend reference).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ingest {
    /// Directory name under `ingest/`; empty when only meta.db records the ingest.
    pub dir: String,
    /// The backend reference: the text of the dir's `ref` file, else meta.db's `ref`.
    pub reference: Option<String>,
    /// Bytes already written (size of the dir's `data` file).
    pub bytes: Option<u64>,
    /// The meta.db record's key (`content/ingests/<key>`) in the namespace read.
    pub record: Option<String>,
    /// The digest the upload is expected to have (meta.db `expected`).
    pub expected: Option<Digest>,
    /// When containerd will drop it (meta.db `expireat`).
    pub expire_at: Option<String>,
}

/// Blob files on disk: digest -> size. Odd entries (not a file, not a digest name)
/// are findings.
pub fn list_blobs(root: &SafeDir, findings: &mut Vec<Finding>) -> Vec<(Digest, u64)> {
    let rel = Path::new(CONTENT_ROOT).join("blobs/sha256");
    let Some(entries) = crate::store::list_dir_or_finding(root, &rel, findings) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let name = display_bytes(e.name.as_encoded_bytes());
        let file = rel.join(&e.name);
        let Ok(d) = Digest::from_hex(&name) else {
            findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    "entry in the content store whose name is not a sha256 digest",
                )
                .with_file(&file),
            );
            continue;
        };
        match root.lstat(&file) {
            Ok(m) if m.kind == FileKind::File => out.push((d, m.size)),
            Ok(m) => findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    format!("content blob is a {}, not a regular file", m.kind),
                )
                .with_file(&file),
            ),
            Err(err) => findings.push(read_error_finding(&err, &file, root.path())),
        }
    }
    out
}

/// Ingest directories with their `ref` text and `data` size.
pub fn list_ingests(
    root: &SafeDir,
    max_ref_bytes: u64,
    findings: &mut Vec<Finding>,
) -> Vec<Ingest> {
    let rel = Path::new(CONTENT_ROOT).join("ingest");
    let Some(entries) = crate::store::list_dir_or_finding(root, &rel, findings) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let dir = rel.join(&e.name);
        if e.kind != FileKind::Dir {
            findings.push(
                Finding::warning(
                    Code::MetadataCorrupt,
                    format!("entry in the ingest directory is a {}", e.kind),
                )
                .with_file(&dir),
            );
            continue;
        }
        let reference = match root.read_file(&dir.join("ref"), max_ref_bytes) {
            Ok(b) => Some(display_bytes(&b)),
            Err(err) if err.is_not_found() => None,
            Err(err) => {
                findings.push(read_error_finding(&err, &dir.join("ref"), root.path()));
                None
            }
        };
        let bytes =
            root.lstat(&dir.join("data")).ok().filter(|m| m.kind == FileKind::File).map(|m| m.size);
        out.push(Ingest {
            dir: display_bytes(e.name.as_encoded_bytes()),
            reference,
            bytes,
            record: None,
            expected: None,
            expire_at: None,
        });
    }
    out
}
