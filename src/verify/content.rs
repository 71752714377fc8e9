//! The containerd store's content blobs, each hashed against the digest it is
//! named by: manifests, configs, indexes, attestations and blobs no image names
//! any more. Layer blobs are hashed by the layer pass already and are skipped here.

use crate::digest::{Digest, Hasher};
use crate::finding::{Code, Finding};
use crate::graph::ContainerdPart;
use crate::store::containerd::blob_path;
use std::collections::BTreeSet;

/// Hashes every present blob of `ctd` not in `skip`; returns how many were hashed
/// and a finding for each that does not match its name or cannot be read.
pub fn check_blobs(ctd: &ContainerdPart, skip: &BTreeSet<Digest>) -> (usize, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut hashed = 0;
    let mut buf = vec![0u8; 1 << 20];
    let names: BTreeSet<Digest> = ctd
        .store
        .blobs
        .values()
        .filter(|b| b.present)
        .map(|b| b.digest)
        .chain(ctd.store.unrecorded_blobs.iter().copied())
        .collect();
    for d in names.difference(skip) {
        let rel = blob_path(d);
        let mut file = match ctd.root.open_file(&rel) {
            Ok((f, _)) => f,
            // Listed a moment ago and gone now: the store changed under the scan
            // (containerd's garbage collector at work), which a static copy never does.
            Err(e) if e.is_not_found() => {
                findings.push(
                    Finding::info(
                        Code::ChangedDuringScan,
                        format!("content {d} was removed while strata read it: {e}"),
                    )
                    .with_file(&rel),
                );
                continue;
            }
            Err(e) => {
                findings.push(
                    Finding::error(
                        Code::ContentBlobCorrupt,
                        format!("content {d} cannot be read: {e}"),
                    )
                    .with_file(&rel),
                );
                continue;
            }
        };
        let read = Hasher::of_reader(&mut file, &mut buf);
        hashed += 1;
        let (got, bytes) = match read {
            Ok(done) => done,
            Err((e, bytes)) => {
                findings.push(
                    Finding::error(
                        Code::ContentBlobCorrupt,
                        format!("content {d}: read failed after {bytes} bytes: {e}"),
                    )
                    .with_file(&rel),
                );
                continue;
            }
        };
        if got != *d {
            findings.push(
                Finding::error(
                    Code::ContentBlobMismatch,
                    format!(
                        "content {d} hashes to {got} ({bytes} bytes): it is not what its name says"
                    ),
                )
                .with_file(&rel),
            );
        }
    }
    (hashed, findings)
}
