//! BuildKit's build cache as moby's built-in BuildKit keeps it: `<data-root>/buildkit/`.
//!
//! - `metadata_v2.db` (bbolt, buildkit `cache/metadata`): bucket `_main` holds one
//!   bucket per cache record; each key is a metadata field whose value is JSON
//!   `{"value": ..., "index": ...}`: `cache.description`, `cache.createdAt` and
//!   `cache.lastUsedAt` (Unix nanoseconds), `cache.usageCount`, `cache.recordType`,
//!   `cache.parent`, `cache.snapshot`, `cache.chainID`, `snapshot.committed`,
//!   `snapshot.size`, and `cache.equalMutable` on an immutable record that is the
//!   committed twin of a mutable one (the engine lists only the mutable one).
//! - `snapshots.db` (bbolt, moby `builder-next/adapters/snapshot`): one bucket per
//!   snapshot key. A key with `chainid` is a layer of the image store; `committed`
//!   names the graphdriver directory its data was committed from; any other key is a
//!   graphdriver directory of its own (`<driver>/<key>`), with `size` for mutable ones.
//! - `cache.db` (the solver's cache keys) and `containerdmeta.db` (leases, content)
//!   hold no bytes of their own beyond the files themselves.
//!
//! Every graphdriver directory BuildKit's snapshots name is build cache: never an orphan.

use crate::finding::{Code, Finding};
use crate::fsread::{FileKind, Limits, SafeDir};
use crate::store::containerd::bbolt::{Bucket, Value};
use crate::store::containerd::open_bolt;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// BuildKit's state directory, relative to the data-root.
pub const BUILDKIT_DIR: &str = "buildkit";

/// One build-cache record, as `/system/df` `BuildCache` lists it.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CacheRecord {
    /// The record ID.
    pub id: String,
    /// First parent record (`cache.parent`), if any.
    pub parent: Option<String>,
    /// `regular`, `source.local`, `exec.cachemount`, `frontend`, ...
    #[serde(rename = "type")]
    pub record_type: String,
    /// What built it (`cache.description`).
    pub description: String,
    /// Held by a running build: never, on a data-root read offline.
    pub in_use: bool,
    /// Its layers are also an image's (or it is the parent of such a record).
    pub shared: bool,
    /// A mutable (uncommitted) record.
    pub mutable: bool,
    /// Bytes as BuildKit recorded them; null when no size is recorded.
    pub size: Option<i64>,
    /// RFC 3339 with nanoseconds, as the engine prints it.
    pub created_at: Option<String>,
    /// When a build last used it (RFC 3339), if recorded.
    pub last_used_at: Option<String>,
    /// How many times builds used it.
    pub usage_count: i64,
    /// The snapshot key (`cache.snapshot`, else the record ID).
    pub snapshot: String,
    /// Layer chain ID when the snapshot lives in the image store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    /// Graphdriver directories holding its data, relative to the data-root.
    pub dirs: Vec<String>,
}

/// One snapshot of `snapshots.db`.
#[derive(Debug, Clone, Default)]
pub struct BkSnapshot {
    /// Layer chain ID, when the snapshot is an image layer.
    pub chain_id: Option<String>,
    /// The committed snapshot's key, if committed.
    pub committed: Option<String>,
    /// The parent snapshot's key.
    pub parent: Option<String>,
    /// Recorded size in bytes, if any.
    pub size: Option<i64>,
}

/// What strata read of `<data-root>/buildkit/`.
#[derive(Debug, Clone, Default)]
pub struct BuildkitStore {
    /// Records the engine lists, sorted by ID.
    pub records: Vec<CacheRecord>,
    /// The snapshots of `snapshots.db`, by key.
    pub snapshots: BTreeMap<String, BkSnapshot>,
    /// Names of graphdriver directories BuildKit owns (snapshot keys and committed targets).
    pub owned_dirs: BTreeSet<String>,
    /// BuildKit's own files (the bbolt databases, executor and content dirs), relative to the data-root.
    pub state_dir: PathBuf,
}

/// Field `key` of a record bucket: the JSON `value`.
fn field(b: &Bucket, key: &str) -> Option<serde_json::Value> {
    let raw = b.get(key.as_bytes()).ok()??;
    if raw.is_empty() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    v.get("value").cloned()
}

fn field_str(b: &Bucket, key: &str) -> Option<String> {
    field(b, key)?.as_str().map(str::to_owned).filter(|s| !s.is_empty())
}

fn field_i64(b: &Bucket, key: &str) -> Option<i64> {
    field(b, key)?.as_i64()
}

/// Unix nanoseconds as Go's `time.RFC3339Nano` in UTC (trailing zeros trimmed).
pub fn rfc3339_nanos(ns: i64) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = format!("{:09}", t.timestamp_subsec_nanos());
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{base}Z")
    } else {
        format!("{base}.{frac}Z")
    }
}

/// A snapshot key or directory name strata will join to a path: plain ASCII, no separators.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

struct RawRecord {
    id: String,
    parent: Option<String>,
    record_type: Option<String>,
    description: String,
    committed: bool,
    size: Option<i64>,
    created: Option<i64>,
    last_used: Option<i64>,
    usage_count: i64,
    snapshot: Option<String>,
    chain_id: Option<String>,
    equal_mutable: Option<String>,
    deleted: bool,
}

fn read_record(id: String, b: &Bucket) -> RawRecord {
    RawRecord {
        parent: field_str(b, "cache.parent"),
        record_type: field_str(b, "cache.recordType"),
        description: field_str(b, "cache.description").unwrap_or_default(),
        committed: field(b, "snapshot.committed").and_then(|v| v.as_bool()).unwrap_or(false),
        size: field_i64(b, "snapshot.size"),
        created: field_i64(b, "cache.createdAt"),
        last_used: field_i64(b, "cache.lastUsedAt"),
        usage_count: field_i64(b, "cache.usageCount").unwrap_or(0),
        snapshot: field_str(b, "cache.snapshot"),
        chain_id: field_str(b, "cache.chainID"),
        equal_mutable: field_str(b, "cache.equalMutable"),
        deleted: field(b, "cache.deleted").and_then(|v| v.as_bool()).unwrap_or(false),
        id,
    }
}

fn read_snapshots(
    root: &SafeDir,
    limits: &Limits,
    findings: &mut Vec<Finding>,
) -> BTreeMap<String, BkSnapshot> {
    let rel = format!("{BUILDKIT_DIR}/snapshots.db");
    let mut out = BTreeMap::new();
    let Some(db) = open_bolt(root, &rel, limits, false, findings) else { return out };
    for item in db.root().iter() {
        let (key, value) = match item {
            Ok(e) => e,
            Err(e) => {
                findings.push(
                    Finding::error(Code::MetadataCorrupt, format!("{rel}: {e}")).with_file(&rel),
                );
                break;
            }
        };
        let Value::Bucket(b) = value else { continue };
        let Ok(key) = std::str::from_utf8(key) else { continue };
        let text = |k: &str| {
            b.get(k.as_bytes())
                .ok()
                .flatten()
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned)
        };
        let s = BkSnapshot {
            chain_id: text("chainid").filter(|s| !s.is_empty()),
            committed: text("committed").filter(|s| !s.is_empty()),
            parent: text("parent").filter(|s| !s.is_empty()),
            size: text("size").and_then(|s| s.trim().parse().ok()),
        };
        out.insert(key.to_owned(), s);
    }
    out
}

/// `buildkit/metadata_v2.db`, or with the containerd store `buildkit/containerd-<snapshotter>/metadata_v2.db`.
fn metadata_path(root: &SafeDir) -> String {
    let plain = format!("{BUILDKIT_DIR}/metadata_v2.db");
    if root.exists(Path::new(&plain)) {
        return plain;
    }
    let mut dirs: Vec<String> = root
        .read_dir(Path::new(BUILDKIT_DIR))
        .map(|v| {
            v.into_iter()
                .filter(|e| e.kind == FileKind::Dir)
                .filter_map(|e| e.name.into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .filter(|d| d.starts_with("containerd-") && is_plain_name(d))
        .map(|d| format!("{BUILDKIT_DIR}/{d}/metadata_v2.db"))
        .find(|p| root.exists(Path::new(p)))
        .unwrap_or(plain)
}

/// Reads `<data-root>/buildkit/`. `driver` is the graphdriver home (`overlay2`) in which
/// BuildKit's snapshots are directories; `None` when there is no graphdriver store.
/// An absent `buildkit/` gives `None`.
pub fn read_buildkit(
    root: &SafeDir,
    driver: Option<&str>,
    limits: &Limits,
    findings: &mut Vec<Finding>,
) -> Option<BuildkitStore> {
    if !root.lstat(Path::new(BUILDKIT_DIR)).is_ok_and(|m| m.kind == FileKind::Dir) {
        return None;
    }
    let snapshots = read_snapshots(root, limits, findings);
    // With the graphdriver store BuildKit's snapshots are in `snapshots.db`; with the
    // containerd store they are containerd's (leased), and the metadata is under
    // `containerd-<snapshotter>/`.
    let graphdriver_snapshots = root.exists(Path::new(&format!("{BUILDKIT_DIR}/snapshots.db")));
    let rel = metadata_path(root);
    let mut raw: Vec<RawRecord> = Vec::new();
    if let Some(db) = open_bolt(root, &rel, limits, false, findings) {
        match db.root().bucket(b"_main") {
            Ok(Some(main)) => {
                for item in main.iter() {
                    match item {
                        Ok((k, Value::Bucket(b))) => {
                            if let Ok(id) = std::str::from_utf8(k) {
                                raw.push(read_record(id.to_owned(), &b));
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            findings.push(
                                Finding::error(Code::MetadataCorrupt, format!("{rel}: {e}"))
                                    .with_file(&rel),
                            );
                            break;
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) => findings
                .push(Finding::error(Code::MetadataCorrupt, format!("{rel}: {e}")).with_file(&rel)),
        }
    }

    // Directories BuildKit owns in the driver home.
    let mut owned_dirs = BTreeSet::new();
    for (key, s) in &snapshots {
        if s.chain_id.is_none() && !key.starts_with("sha256:") && is_plain_name(key) {
            owned_dirs.insert(key.clone());
        }
        if let Some(c) = s.committed.as_deref().filter(|c| is_plain_name(c)) {
            owned_dirs.insert(c.to_owned());
        }
    }
    if let Some(d) = driver {
        for name in &owned_dirs {
            let p = Path::new(d).join(name);
            match root.lstat(&p) {
                Ok(m) if m.kind == FileKind::Dir => {}
                Ok(_) => findings.push(
                    Finding::warning(
                        Code::BuildCacheBroken,
                        format!("{}: BuildKit snapshot {name} is not a directory", p.display()),
                    )
                    .with_file(&p),
                ),
                Err(e) if e.is_not_found() => findings.push(
                    Finding::warning(
                        Code::BuildCacheBroken,
                        format!("{}: BuildKit snapshot {name} has no directory", p.display()),
                    )
                    .with_file(&p),
                ),
                Err(_) => {}
            }
        }
    }

    // The committed twin of a mutable record carries its size; the engine lists the mutable one.
    let twins: BTreeMap<String, Option<i64>> =
        raw.iter().filter_map(|r| Some((r.equal_mutable.clone()?, r.size))).collect();
    let mut records = Vec::new();
    for r in &raw {
        if r.deleted || r.equal_mutable.as_ref().is_some_and(|m| raw.iter().any(|o| &o.id == m)) {
            continue;
        }
        let snapshot = r.snapshot.clone().unwrap_or_else(|| r.id.clone());
        let snap = snapshots.get(&snapshot);
        let size = if r.committed {
            r.size
        } else {
            twins.get(&r.id).copied().flatten().or(r.size).or(snap.and_then(|s| s.size))
        };
        let chain_id = r
            .chain_id
            .clone()
            .or_else(|| snap.and_then(|s| s.chain_id.clone()))
            .or_else(|| snapshot.starts_with("sha256:").then(|| snapshot.clone()));
        let mut dirs = Vec::new();
        if let (Some(d), Some(s)) = (driver, snap) {
            if s.chain_id.is_none() && !snapshot.starts_with("sha256:") && is_plain_name(&snapshot)
            {
                dirs.push(format!("{d}/{snapshot}"));
            }
            if let Some(c) = s.committed.as_deref().filter(|c| is_plain_name(c)) {
                dirs.push(format!("{d}/{c}"));
            }
        }
        if graphdriver_snapshots && snap.is_none() && chain_id.is_none() {
            findings.push(
                Finding::warning(
                    Code::BuildCacheBroken,
                    format!("build cache record {} names snapshot {snapshot}, which {BUILDKIT_DIR}/snapshots.db does not hold", r.id),
                )
                .with_file(&rel),
            );
        }
        records.push(CacheRecord {
            id: r.id.clone(),
            parent: r.parent.clone(),
            record_type: r.record_type.clone().unwrap_or_else(|| "regular".to_owned()),
            description: r.description.clone(),
            in_use: false,
            shared: false,
            mutable: !r.committed,
            size,
            created_at: r.created.map(rfc3339_nanos),
            last_used_at: r.last_used.map(rfc3339_nanos),
            usage_count: r.usage_count,
            snapshot,
            chain_id,
            dirs,
        });
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    Some(BuildkitStore { records, snapshots, owned_dirs, state_dir: PathBuf::from(BUILDKIT_DIR) })
}

impl BuildkitStore {
    /// Marks as shared each record whose layer chain the image store holds, and its
    /// parents (the engine's prune ref checker).
    pub fn mark_shared(&mut self, layer_exists: impl Fn(&str) -> bool) {
        let index: BTreeMap<String, usize> =
            self.records.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        let starts: Vec<usize> = self
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.chain_id.as_deref().is_some_and(&layer_exists))
            .map(|(i, _)| i)
            .collect();
        for s in starts {
            let mut cur = Some(s);
            let mut steps = 0;
            while let Some(i) = cur {
                if steps > self.records.len() {
                    break;
                }
                steps += 1;
                self.records[i].shared = true;
                cur = self.records[i].parent.as_ref().and_then(|p| index.get(p).copied());
            }
        }
    }

    /// Σ sizes of the records the engine counts in `docker system df` (shared ones are not).
    pub fn total_size(&self) -> i64 {
        self.records
            .iter()
            .filter(|r| !r.shared)
            .filter_map(|r| r.size)
            .fold(0, i64::saturating_add)
    }
}
