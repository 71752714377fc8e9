//! containerd's metadata database, `io.containerd.metadata.v1.bolt/meta.db`: images,
//! content records, snapshot references, containers and leases, per namespace.
//!
//! Layout (containerd `core/metadata/buckets.go`, schema `v1`):
//! `v1/<ns>/{images,containers,snapshots/<snapshotter>,content/{blob,ingests},leases}/<key>/`.
//! Sizes are Go `binary.PutVarint` (zigzag) varints, times Go `time.MarshalBinary`,
//! strings raw bytes, and labels a `labels` sub-bucket of string values.

use super::bbolt::{BoltError, Bucket, Value};
use crate::digest::Digest;
use crate::finding::{display_bytes, Code, Finding};
use serde::Serialize;
use std::collections::BTreeMap;

/// Path of meta.db relative to the containerd root.
pub const META_DB: &str = "io.containerd.metadata.v1.bolt/meta.db";

/// One namespace of meta.db with how much it holds.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceSummary {
    /// The namespace (`moby` for Docker, `k8s.io` for the CRI plugin).
    pub name: String,
    /// Image records.
    pub images: usize,
    /// Container records.
    pub containers: usize,
    /// Content blob records.
    pub content: usize,
    /// Snapshot records, all snapshotters together.
    pub snapshots: usize,
}

/// An OCI descriptor as containerd stores an image target.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    /// The digest of the blob it points at.
    pub digest: Digest,
    /// The blob's media type (an OCI or Docker index or manifest).
    pub media_type: String,
    /// The blob's size in bytes, as recorded.
    pub size: i64,
}

/// One image record: a name pointing at a target (an index or a manifest).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtdImage {
    /// Normalised reference (`docker.io/library/alpine:latest`, `moby-dangling@sha256:...`).
    pub name: String,
    /// The index or manifest the name points at; the image's ID is its digest.
    pub target: Descriptor,
    /// The record's `labels` sub-bucket (moby keeps the classic builder's parent here).
    pub labels: BTreeMap<String, String>,
    /// `createdat`, as RFC 3339.
    pub created_at: Option<String>,
    /// `updatedat`, as RFC 3339.
    pub updated_at: Option<String>,
}

/// One content record, plus whether its blob file is on disk.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtdBlob {
    /// The blob's digest (its key under `content/blob`).
    pub digest: Digest,
    /// The `size` varint, when readable.
    pub size: Option<i64>,
    /// The record's labels (`containerd.io/gc.ref.*`, `containerd.io/uncompressed`...).
    pub labels: BTreeMap<String, String>,
    /// `createdat`, as RFC 3339.
    pub created_at: Option<String>,
    /// `updatedat`, as RFC 3339.
    pub updated_at: Option<String>,
    /// The blob file exists under `io.containerd.content.v1.content/blobs/sha256/`.
    pub present: bool,
    /// Size of the blob file on disk, when present.
    pub file_size: Option<u64>,
}

/// A container record of containerd's own (dockerd writes one only when it starts a
/// container; `config.v2.json` stays authoritative for Docker's containers).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtdContainer {
    /// The container ID (the bucket key).
    pub id: String,
    /// The image reference the container was created from.
    pub image: Option<String>,
    /// The snapshotter holding its root filesystem (`overlayfs`, `native`...).
    pub snapshotter: Option<String>,
    /// The key of its RW snapshot.
    pub snapshot_key: Option<String>,
    /// The runtime name (`io.containerd.runc.v2`).
    pub runtime: Option<String>,
    /// The record's labels.
    pub labels: BTreeMap<String, String>,
    /// `createdat`, as RFC 3339.
    pub created_at: Option<String>,
    /// `updatedat`, as RFC 3339.
    pub updated_at: Option<String>,
}

/// A lease and the resources it keeps from garbage collection.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtdLease {
    /// The lease ID (the bucket key).
    pub id: String,
    /// `createdat`, as RFC 3339.
    pub created_at: Option<String>,
    /// The lease's labels (`containerd.io/gc.expire` says when it lapses).
    pub labels: BTreeMap<String, String>,
    /// (snapshotter, key).
    pub snapshots: Vec<(String, String)>,
    /// Content blobs the lease holds.
    pub content: Vec<Digest>,
    /// Ingest references (uploads in progress) the lease holds.
    pub ingests: Vec<String>,
}

/// A snapshot reference in meta.db, before joining with the snapshotter's own record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaSnapshot {
    /// The snapshot key (a ChainID for an image layer, the container ID for a RW snapshot).
    pub key: String,
    /// Backend key, `<ns>/<seq>/<key>`.
    pub name: String,
    /// The parent snapshot's key; `None` for a base layer.
    pub parent: Option<String>,
    /// The record's labels.
    pub labels: BTreeMap<String, String>,
    /// `createdat`, as RFC 3339.
    pub created_at: Option<String>,
    /// `updatedat`, as RFC 3339.
    pub updated_at: Option<String>,
}

/// A `content/ingests/<ref>` record (an upload in progress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaIngest {
    /// The ingest reference (the bucket key).
    pub key: String,
    /// The content store's reference for it (the text of the ingest dir's `ref` file).
    pub backend_ref: Option<String>,
    /// The digest the finished upload should have, when known.
    pub expected: Option<Digest>,
    /// When the ingest expires, as RFC 3339.
    pub expire_at: Option<String>,
}

/// Decodes a Go `binary.Varint` (zigzag), requiring the value to be exactly one varint.
pub fn varint(b: &[u8]) -> Option<i64> {
    let u = uvarint(b)?;
    let x = (u >> 1) as i64;
    Some(if u & 1 != 0 { !x } else { x })
}

/// Decodes a Go `binary.Uvarint`, requiring the value to be exactly one uvarint.
pub fn uvarint(b: &[u8]) -> Option<u64> {
    let mut x: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        // The tenth byte may only carry the top bit of a u64 (Go reports overflow).
        if i == 9 && byte > 1 {
            return None;
        }
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (i + 1 == b.len()).then_some(x);
        }
    }
    None
}

/// Seconds from 0001-01-01 (Go's internal epoch) to 1970-01-01.
const GO_UNIX_OFFSET: i64 = 62_135_596_800;

/// Decodes Go's `time.MarshalBinary` and renders it as Go's `time.RFC3339Nano`, the
/// way Docker prints times (`2026-11-29T01:12:31.461548704Z`: trailing zeros of the
/// fraction dropped, `Z` for UTC, `+hh:mm` otherwise).
///
/// Layout: version byte (1, or 2 with a seconds-of-offset byte), big-endian i64
/// seconds since year 1, i32 nanoseconds, i16 zone offset in minutes (-1 = UTC).
pub fn go_time(b: &[u8]) -> Option<String> {
    let (version, rest) = b.split_first()?;
    let want = match version {
        1 => 14,
        2 => 15,
        _ => return None,
    };
    if rest.len() != want {
        return None;
    }
    let sec = i64::from_be_bytes(rest[0..8].try_into().ok()?);
    let nsec = i32::from_be_bytes(rest[8..12].try_into().ok()?);
    let offset_min = i16::from_be_bytes(rest[12..14].try_into().ok()?);
    let offset_sec = if *version == 2 { i32::from(rest[14] as i8) } else { 0 };
    if !(0..1_000_000_000).contains(&nsec) {
        return None;
    }
    let utc = chrono::DateTime::from_timestamp(sec.checked_sub(GO_UNIX_OFFSET)?, nsec as u32)?;
    let offset = if offset_min == -1 { 0 } else { i32::from(offset_min) * 60 + offset_sec };
    let zone = chrono::FixedOffset::east_opt(offset)?;
    let local = utc.with_timezone(&zone);
    // Go refuses to format years outside 0000-9999 as RFC 3339; so do we.
    if !(0..=9999).contains(&chrono::Datelike::year(&local)) {
        return None;
    }
    let mut out = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nsec != 0 {
        let frac = format!("{nsec:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    if offset_min == -1 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let a = offset.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a / 60) % 60));
    }
    Some(out)
}

/// Reads meta.db-style buckets, collecting findings: the first structural bbolt error
/// is kept apart (a damaged file is reported once, by the caller), value problems
/// become findings naming the bucket path.
pub struct Walker<'f> {
    /// File the buckets come from, relative to the containerd root.
    pub file: String,
    /// The first structural error met; later ones are only counted.
    pub damage: Option<BoltError>,
    /// How many structural errors were met after the first.
    pub more_damage: usize,
    /// Where value problems go, as findings.
    pub findings: &'f mut Vec<Finding>,
}

impl<'f> Walker<'f> {
    /// A walker over `file` (relative to the containerd root) that adds findings to `findings`.
    pub fn new(file: impl Into<String>, findings: &'f mut Vec<Finding>) -> Self {
        Self { file: file.into(), damage: None, more_damage: 0, findings }
    }

    /// Records a structural error: the first is kept, later ones are counted.
    pub fn damaged(&mut self, e: BoltError) {
        if self.damage.is_none() {
            self.damage = Some(e);
        } else {
            self.more_damage += 1;
        }
    }

    /// The one finding for a damaged file, if it was.
    pub fn damage_finding(&self) -> Option<Finding> {
        let e = self.damage.as_ref()?;
        let more = if self.more_damage > 0 {
            format!(" ({} more damaged places)", self.more_damage)
        } else {
            String::new()
        };
        Some(
            Finding::error(
                Code::MetadataCorrupt,
                format!(
                    "{}: damaged bbolt database: {e}{more}; records that could be read are kept",
                    self.file
                ),
            )
            .with_file(&self.file),
        )
    }

    /// Records a value problem at bucket path `path` as a warning finding.
    pub fn odd(&mut self, path: &str, what: impl std::fmt::Display) {
        self.findings.push(
            Finding::warning(Code::MetadataCorrupt, format!("{}: {path}: {what}", self.file))
                .with_file(&self.file),
        );
    }

    /// The value under `key`; `None` when absent or unreadable (the error is recorded).
    pub fn get<'a>(&mut self, b: &Bucket<'a>, key: &[u8]) -> Option<&'a [u8]> {
        b.get(key).unwrap_or_else(|e| {
            self.damaged(e);
            None
        })
    }

    /// The nested bucket under `key`; `None` when absent or unreadable (the error is recorded).
    pub fn bucket<'a>(&mut self, b: &Bucket<'a>, key: &[u8]) -> Option<Bucket<'a>> {
        b.bucket(key).unwrap_or_else(|e| {
            self.damaged(e);
            None
        })
    }

    /// Every entry of a bucket; stops at the first structural error.
    pub fn entries<'a>(&mut self, b: &Bucket<'a>) -> Vec<(&'a [u8], Value<'a>)> {
        let mut out = Vec::new();
        for item in b.iter() {
            match item {
                Ok(e) => out.push(e),
                Err(e) => self.damaged(e),
            }
        }
        out
    }

    /// Sub-buckets of a bucket by name (plain values skipped).
    pub fn sub_buckets<'a>(&mut self, b: &Bucket<'a>) -> Vec<(&'a [u8], Bucket<'a>)> {
        self.entries(b)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Bucket(b) => Some((k, b)),
                Value::Data(_) => None,
            })
            .collect()
    }

    /// A key as text; a non-UTF-8 one is a finding and is kept in escaped form.
    pub fn key_text(&mut self, path: &str, k: &[u8]) -> String {
        match std::str::from_utf8(k) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                let shown = display_bytes(k);
                self.odd(&format!("{path}/{shown}"), "key is not UTF-8");
                shown
            }
        }
    }

    /// An optional string field; absent or empty gives `None`.
    pub fn text(&mut self, b: &Bucket<'_>, path: &str, key: &str) -> Option<String> {
        let v = self.get(b, key.as_bytes())?;
        if v.is_empty() {
            return None;
        }
        match std::str::from_utf8(v) {
            Ok(s) => Some(s.to_owned()),
            Err(_) => {
                self.odd(&format!("{path}/{key}"), "value is not UTF-8");
                None
            }
        }
    }

    /// A Go zigzag varint field; a value that is not one is a finding.
    pub fn varint(&mut self, b: &Bucket<'_>, path: &str, key: &str) -> Option<i64> {
        let v = self.get(b, key.as_bytes())?;
        let out = varint(v);
        if out.is_none() {
            self.odd(
                &format!("{path}/{key}"),
                format!("not a varint: {}", hex::encode(&v[..v.len().min(16)])),
            );
        }
        out
    }

    /// A Go `time.MarshalBinary` field as RFC 3339; a value that is not one is a finding.
    pub fn time(&mut self, b: &Bucket<'_>, path: &str, key: &str) -> Option<String> {
        let v = self.get(b, key.as_bytes())?;
        let out = go_time(v);
        if out.is_none() {
            self.odd(
                &format!("{path}/{key}"),
                format!("not a Go binary time: {}", hex::encode(&v[..v.len().min(16)])),
            );
        }
        out
    }

    /// Parses a `sha256:` digest found at `path`; a bad one is a finding.
    pub fn digest(&mut self, path: &str, s: &str) -> Option<Digest> {
        match Digest::parse(s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.odd(path, format!("not a digest: {e}"));
                None
            }
        }
    }

    /// The `labels` sub-bucket as a map; non-UTF-8 labels are findings and skipped.
    pub fn labels(&mut self, b: &Bucket<'_>, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(lb) = self.bucket(b, b"labels") else { return out };
        for (k, v) in self.entries(&lb) {
            let Value::Data(v) = v else { continue };
            match (std::str::from_utf8(k), std::str::from_utf8(v)) {
                (Ok(k), Ok(v)) => {
                    out.insert(k.to_owned(), v.to_owned());
                }
                _ => self.odd(&format!("{path}/labels/{}", display_bytes(k)), "label is not UTF-8"),
            }
        }
        out
    }

    /// Names of the plain (nil-valued) keys or sub-buckets of `b[key]`, as text.
    fn key_list(&mut self, b: &Bucket<'_>, path: &str, key: &str) -> Vec<String> {
        let Some(sub) = self.bucket(b, key.as_bytes()) else { return Vec::new() };
        let entries = self.entries(&sub);
        entries.into_iter().map(|(k, _)| self.key_text(&format!("{path}/{key}"), k)).collect()
    }
}

/// What one namespace of meta.db holds.
#[derive(Debug, Default)]
pub struct Namespace {
    /// Every image record (`images/<name>`).
    pub images: Vec<CtdImage>,
    /// Every content record (`content/blob/<digest>`), by digest.
    pub blobs: BTreeMap<Digest, CtdBlob>,
    /// snapshotter -> key -> record.
    pub snapshots: BTreeMap<String, BTreeMap<String, MetaSnapshot>>,
    /// Every container record (`containers/<id>`).
    pub containers: Vec<CtdContainer>,
    /// Every lease (`leases/<id>`).
    pub leases: Vec<CtdLease>,
    /// Every upload in progress (`content/ingests/<ref>`).
    pub ingests: Vec<MetaIngest>,
}

/// Names of the namespaces (sub-buckets of `v1`).
pub fn namespaces(w: &mut Walker<'_>, v1: &Bucket<'_>) -> Vec<(String, bool)> {
    let subs = w.sub_buckets(v1);
    subs.into_iter().map(|(k, _)| (w.key_text("v1", k), std::str::from_utf8(k).is_ok())).collect()
}

/// Reads everything of one namespace bucket `v1/<ns>`.
pub fn read_namespace(w: &mut Walker<'_>, ns_name: &str, ns: &Bucket<'_>) -> Namespace {
    let mut out = Namespace::default();
    let base = format!("v1/{ns_name}");

    if let Some(images) = w.bucket(ns, b"images") {
        for (k, b) in w.sub_buckets(&images) {
            let name = w.key_text(&format!("{base}/images"), k);
            let path = format!("{base}/images/{name}");
            if let Some(img) = read_image(w, &path, name, &b) {
                out.images.push(img);
            }
        }
    }

    if let Some(blobs) = w.bucket(ns, b"content").and_then(|c| w.bucket(&c, b"blob")) {
        for (k, b) in w.sub_buckets(&blobs) {
            let key = w.key_text(&format!("{base}/content/blob"), k);
            let path = format!("{base}/content/blob/{key}");
            let Some(digest) = w.digest(&path, &key) else { continue };
            let blob = CtdBlob {
                digest,
                size: w.varint(&b, &path, "size"),
                labels: w.labels(&b, &path),
                created_at: w.time(&b, &path, "createdat"),
                updated_at: w.time(&b, &path, "updatedat"),
                present: false,
                file_size: None,
            };
            out.blobs.insert(digest, blob);
        }
    }

    if let Some(ingests) = w.bucket(ns, b"content").and_then(|c| w.bucket(&c, b"ingests")) {
        for (k, b) in w.sub_buckets(&ingests) {
            let key = w.key_text(&format!("{base}/content/ingests"), k);
            let path = format!("{base}/content/ingests/{key}");
            let expected = w
                .text(&b, &path, "expected")
                .and_then(|s| w.digest(&format!("{path}/expected"), &s));
            out.ingests.push(MetaIngest {
                backend_ref: w.text(&b, &path, "ref"),
                expected,
                expire_at: w.time(&b, &path, "expireat"),
                key,
            });
        }
    }

    if let Some(snaps) = w.bucket(ns, b"snapshots") {
        for (sk, sb) in w.sub_buckets(&snaps) {
            let snapshotter = w.key_text(&format!("{base}/snapshots"), sk);
            let mut records = BTreeMap::new();
            for (k, b) in w.sub_buckets(&sb) {
                let key = w.key_text(&format!("{base}/snapshots/{snapshotter}"), k);
                let path = format!("{base}/snapshots/{snapshotter}/{key}");
                let name = w.text(&b, &path, "name").unwrap_or_else(|| {
                    w.odd(&path, "snapshot record without a backend name");
                    String::new()
                });
                let rec = MetaSnapshot {
                    name,
                    parent: w.text(&b, &path, "parent"),
                    labels: w.labels(&b, &path),
                    created_at: w.time(&b, &path, "createdat"),
                    updated_at: w.time(&b, &path, "updatedat"),
                    key: key.clone(),
                };
                records.insert(key, rec);
            }
            out.snapshots.insert(snapshotter, records);
        }
    }

    if let Some(containers) = w.bucket(ns, b"containers") {
        for (k, b) in w.sub_buckets(&containers) {
            let id = w.key_text(&format!("{base}/containers"), k);
            let path = format!("{base}/containers/{id}");
            let runtime = w
                .bucket(&b, b"runtime")
                .and_then(|r| w.text(&r, &format!("{path}/runtime"), "name"));
            out.containers.push(CtdContainer {
                image: w.text(&b, &path, "image"),
                snapshotter: w.text(&b, &path, "snapshotter"),
                snapshot_key: w.text(&b, &path, "snapshotKey"),
                runtime,
                labels: w.labels(&b, &path),
                created_at: w.time(&b, &path, "createdat"),
                updated_at: w.time(&b, &path, "updatedat"),
                id,
            });
        }
    }

    if let Some(leases) = w.bucket(ns, b"leases") {
        for (k, b) in w.sub_buckets(&leases) {
            let id = w.key_text(&format!("{base}/leases"), k);
            let path = format!("{base}/leases/{id}");
            let mut snapshots = Vec::new();
            if let Some(sb) = w.bucket(&b, b"snapshots") {
                for (sk, keys) in w.sub_buckets(&sb) {
                    let snapshotter = w.key_text(&format!("{path}/snapshots"), sk);
                    for (key, _) in w.entries(&keys) {
                        let key = w.key_text(&format!("{path}/snapshots/{snapshotter}"), key);
                        snapshots.push((snapshotter.clone(), key));
                    }
                }
            }
            let content = w
                .key_list(&b, &path, "content")
                .into_iter()
                .filter_map(|s| w.digest(&format!("{path}/content/{s}"), &s))
                .collect();
            out.leases.push(CtdLease {
                created_at: w.time(&b, &path, "createdat"),
                labels: w.labels(&b, &path),
                snapshots,
                content,
                ingests: w.key_list(&b, &path, "ingests"),
                id,
            });
        }
    }
    out
}

/// One image record; `None` (with a finding) when it has no usable target.
fn read_image(w: &mut Walker<'_>, path: &str, name: String, b: &Bucket<'_>) -> Option<CtdImage> {
    let Some(t) = w.bucket(b, b"target") else {
        w.odd(path, "image record without a target");
        return None;
    };
    let tpath = format!("{path}/target");
    let digest = match w.text(&t, &tpath, "digest") {
        Some(s) => w.digest(&format!("{tpath}/digest"), &s)?,
        None => {
            w.odd(&tpath, "target without a digest");
            return None;
        }
    };
    let target = Descriptor {
        digest,
        media_type: w.text(&t, &tpath, "mediatype").unwrap_or_default(),
        size: w.varint(&t, &tpath, "size").unwrap_or(0),
    };
    Some(CtdImage {
        target,
        labels: w.labels(b, path),
        created_at: w.time(b, path, "createdat"),
        updated_at: w.time(b, path, "updatedat"),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        // binary.PutVarint: zigzag then uvarint.
        assert_eq!(varint(&[0x00]), Some(0));
        assert_eq!(varint(&[0x01]), Some(-1));
        assert_eq!(varint(&[0x02]), Some(1));
        assert_eq!(varint(&[0xac, 0x02]), Some(150));
        assert_eq!(uvarint(&[0xac, 0x02]), Some(300));
        assert_eq!(uvarint(&[0xff; 10]), None, "overflow");
        assert_eq!(
            uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Some(u64::MAX)
        );
        assert_eq!(
            varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Some(i64::MIN)
        );
        assert_eq!(uvarint(&[]), None);
        assert_eq!(uvarint(&[0x80]), None, "truncated");
        assert_eq!(uvarint(&[0x01, 0x00]), None, "trailing bytes");
    }

    fn enc(version: u8, unix: i64, nsec: i32, off_min: i16) -> Vec<u8> {
        let mut v = vec![version];
        v.extend((unix + GO_UNIX_OFFSET).to_be_bytes());
        v.extend(nsec.to_be_bytes());
        v.extend(off_min.to_be_bytes());
        if version == 2 {
            v.push(0);
        }
        v
    }

    #[test]
    fn go_times_render_as_rfc3339_nano() {
        // 2026-11-29T01:12:31Z is 1795914751.
        assert_eq!(
            go_time(&enc(1, 1_795_914_751, 461_548_704, -1)).unwrap(),
            "2026-11-29T01:12:31.461548704Z"
        );
        assert_eq!(
            go_time(&enc(1, 1_795_914_751, 450_000_000, -1)).unwrap(),
            "2026-11-29T01:12:31.45Z"
        );
        assert_eq!(go_time(&enc(2, 1_795_914_751, 0, -1)).unwrap(), "2026-11-29T01:12:31Z");
        assert_eq!(go_time(&enc(1, 1_795_914_751, 0, 120)).unwrap(), "2026-11-29T03:12:31+02:00");
        assert_eq!(go_time(&enc(1, 1_795_914_751, 0, -90)).unwrap(), "2026-11-28T23:42:31-01:30");
        assert_eq!(go_time(&enc(1, 0, 1_000_000_000, -1)), None);
        assert_eq!(go_time(&enc(3, 0, 0, -1)), None);
        assert_eq!(go_time(&[1, 2, 3]), None);
        // The zero time.Time (year 1) is valid Go and renders as such.
        let mut zero = vec![1u8];
        zero.extend(0i64.to_be_bytes());
        zero.extend([0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(go_time(&zero).unwrap(), "0001-01-01T00:00:00Z");
        let mut far = vec![1u8];
        far.extend(i64::MAX.to_be_bytes());
        far.extend([0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(go_time(&far), None);
    }
}
