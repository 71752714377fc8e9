//! Reader for `image/<driver>/layerdb`: read-only layers and read-write mounts.
//!
//! Docker silently skips a layer whose `diff`, `size` or `cache-id` it cannot parse
//! (and with it every descendant); strata keeps such a layer in view with what it
//! could read, so the report can say exactly what is broken.

use super::{quoted, read_error_finding, ParseError, StoreCtx};
use crate::digest::{ChainId, DiffId};
use crate::finding::{Code, Finding};
use crate::id::{CacheId, MountId};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One `layerdb/sha256/<chainID>/` directory.
#[derive(Debug, Clone)]
pub struct LayerRecord {
    /// The directory name (not yet checked against `parent` + `diff`).
    pub chain_id: ChainId,
    /// The `diff` file: the layer's DiffID; `None` when missing or unparsable.
    pub diff_id: Option<DiffId>,
    /// The `parent` file: ChainID of the layer beneath; `None` for a base layer.
    pub parent: Option<ChainId>,
    /// Bytes the graphdriver reported when the layer was applied (Docker's layer size).
    pub size: Option<i64>,
    /// Name of the layer's graphdriver directory.
    pub cache_id: Option<CacheId>,
    /// Whether `tar-split.json.gz` exists (without it the layer tar cannot be rebuilt).
    pub has_tar_split: bool,
    /// The layer directory, relative to the data-root.
    pub dir: PathBuf,
}

impl LayerRecord {
    /// `tar-split.json.gz` in the layer directory, relative to the data-root.
    pub fn tar_split_path(&self) -> PathBuf {
        super::join_exact(&self.dir, &["tar-split.json.gz"])
    }
}

/// Which files of each `layerdb/sha256/<chainID>/` are read (`size` always is), and whether
/// `layerdb/mounts/` is.
///
/// A listing needs few of them: `images` shows each image's size (the sum of its layers'
/// `size`), `df` also which driver directories the layers own (`cache-id`). On a
/// 10,000-image host each field left out is 10,000 files not opened. Every other command,
/// and anything that checks the store, reads them [`ALL`](Self::ALL); a field not read is
/// `None` (`has_tar_split` false), never a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerFiles {
    /// `diff`: the layer's DiffID.
    pub diff: bool,
    /// `cache-id`: the layer's graphdriver directory.
    pub cache_id: bool,
    /// `parent`: the layer beneath.
    pub parent: bool,
    /// Whether `tar-split.json.gz` is there.
    pub tar_split: bool,
    /// `layerdb/mounts/`: the containers' RW layers.
    pub mounts: bool,
}

impl LayerFiles {
    /// Every file: what verify, audit and the graph views need.
    pub const ALL: Self =
        Self { diff: true, cache_id: true, parent: true, tar_split: true, mounts: true };
    /// `size` alone, and no mounts: image sizes (`strata images`).
    pub const SIZE: Self =
        Self { diff: false, cache_id: false, parent: false, tar_split: false, mounts: false };
    /// `size` and `cache-id`: sizes and which driver directories are owned (`strata df`).
    pub const SIZE_AND_CACHE_ID: Self = Self { cache_id: true, mounts: true, ..Self::SIZE };
}

impl Default for LayerFiles {
    fn default() -> Self {
        Self::ALL
    }
}

/// One `layerdb/mounts/<name>/` directory: a container's (or a build step's) RW layer.
#[derive(Debug, Clone)]
pub struct MountRecord {
    /// Usually the container ID.
    pub name: String,
    /// `mount-id`: the RW layer's graphdriver directory name.
    pub mount_id: Option<MountId>,
    /// `init-id`: the `-init` layer's graphdriver directory name.
    pub init_id: Option<MountId>,
    /// ChainID of the image's top layer.
    pub parent: Option<ChainId>,
    /// The mount directory, relative to the data-root.
    pub dir: PathBuf,
}

/// Everything under `layerdb/`.
#[derive(Debug, Clone, Default)]
pub struct LayerDb {
    /// Every `sha256/<chainID>` directory, by its ChainID.
    pub layers: BTreeMap<ChainId, LayerRecord>,
    /// Every `mounts/<name>` directory, by name.
    pub mounts: BTreeMap<String, MountRecord>,
    /// `<chainID>-<random>-removing` directories: deletions a crash interrupted.
    pub removing: Vec<RemovingLayer>,
    /// Leftover transaction directories under `layerdb/tmp/`.
    pub tmp_leftovers: Vec<PathBuf>,
}

/// A `layerdb/sha256/<chainID>-<random>-removing` directory: a delete a crash interrupted.
#[derive(Debug, Clone)]
pub struct RemovingLayer {
    /// The directory, relative to the data-root.
    pub dir: PathBuf,
    /// Its `cache-id`, naming the graphdriver directory it still holds on to, if readable.
    pub cache_id: Option<CacheId>,
}

/// mount-id and init-id values moby accepts: 64 hex, optionally `-init`.
pub fn is_valid_mount_id(s: &str) -> bool {
    let hex = s.strip_suffix("-init").unwrap_or(s);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Cache IDs name directories under the driver home, so anything that could climb
/// out of it or hide in it is refused.
pub fn is_safe_dir_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

// Pure parsers for the small layerdb files, one per file, on the text as read (the
// readers check UTF-8 first). Errors are the message of a `metadata-corrupt` finding.

/// `diff`: a DiffID, surrounding whitespace ignored (as moby trims it).
pub fn parse_diff(text: &str) -> Result<DiffId, ParseError> {
    Ok(DiffId::parse(text.trim())?)
}

/// `size`: a decimal int64. Docker parses it untrimmed: a trailing newline makes the
/// layer unloadable for the daemon, so say so rather than quietly accept it.
pub fn parse_size(text: &str) -> Result<i64, ParseError> {
    text.parse::<i64>().map_err(|_| ParseError::NotAnInteger(quoted(text, 40)))
}

/// `cache-id`: the name of the layer's graphdriver directory, trimmed.
pub fn parse_cache_id(text: &str) -> Result<CacheId, ParseError> {
    let t = text.trim();
    if is_safe_dir_name(t) {
        Ok(CacheId::new(t))
    } else {
        Err(ParseError::BadDirName(quoted(t, 80)))
    }
}

/// `parent` (of a layer or a mount): a ChainID, trimmed.
pub fn parse_parent(text: &str) -> Result<ChainId, ParseError> {
    Ok(ChainId::parse(text.trim())?)
}

/// `mount-id` / `init-id`: 64 hex, optionally `-init`, trimmed.
pub fn parse_mount_id(text: &str) -> Result<MountId, ParseError> {
    let t = text.trim();
    if is_valid_mount_id(t) {
        Ok(MountId::new(t))
    } else {
        Err(ParseError::BadMountId(quoted(t, 80)))
    }
}

/// Reads everything under `image/<driver>/layerdb/`: layers, mounts, `-removing` and `tmp/`
/// leftovers. Damaged entries are findings; what could be read is kept.
pub fn read_layerdb(ctx: &StoreCtx, files: LayerFiles, findings: &mut Vec<Finding>) -> LayerDb {
    let mut db = LayerDb::default();
    let base = ctx.image_root.join("layerdb");
    let sha_dir = base.join("sha256");
    enum Entry {
        Layer(LayerRecord),
        Removing(RemovingLayer),
    }
    let entries = ctx.list_dir_or_finding(&sha_dir, findings).unwrap_or_default();
    let (read, found) = super::par_read(entries, |entry, findings| {
        let name = entry.name.to_str()?;
        let dir = super::join_exact(&sha_dir, &[name]);
        if name.ends_with("-removing") {
            let cache_id = ctx
                .read_small_text(&dir.join("cache-id"), findings)
                .map(|s| CacheId::new(s.trim()))
                .filter(|s| is_safe_dir_name(s));
            return Some(Entry::Removing(RemovingLayer { dir, cache_id }));
        }
        let chain_id = ChainId::from_hex(name).ok()?;
        Some(Entry::Layer(read_layer(ctx, chain_id, dir, files, findings)))
    });
    findings.extend(found);
    for e in read {
        match e {
            Entry::Layer(l) => {
                db.layers.insert(l.chain_id, l);
            }
            Entry::Removing(r) => db.removing.push(r),
        }
    }
    let mounts_dir = base.join("mounts");
    let entries = if files.mounts {
        ctx.list_dir_or_finding(&mounts_dir, findings).unwrap_or_default()
    } else {
        Vec::new()
    };
    let (mounts, found) = super::par_read(entries, |entry, findings| {
        let name = entry.name.to_str()?;
        let dir = mounts_dir.join(name);
        Some(read_mount(ctx, name, dir, findings))
    });
    findings.extend(found);
    db.mounts = mounts.into_iter().map(|m| (m.name.clone(), m)).collect();
    let tmp_dir = base.join("tmp");
    for entry in ctx.list_dir_or_finding(&tmp_dir, findings).unwrap_or_default() {
        db.tmp_leftovers.push(tmp_dir.join(&entry.name));
    }
    db
}

fn read_layer(
    ctx: &StoreCtx,
    chain_id: ChainId,
    dir: PathBuf,
    files: LayerFiles,
    findings: &mut Vec<Finding>,
) -> LayerRecord {
    let corrupt = |findings: &mut Vec<Finding>, file: &str, msg: String| {
        findings.push(
            Finding::error(
                Code::MetadataCorrupt,
                format!("layer {}: {file}: {msg}", chain_id.short()),
            )
            .with_layer(chain_id)
            .with_file(dir.join(file)),
        );
    };
    // `diff`, `size` and `cache-id` must exist; a missing one is itself a finding.
    let required = |findings: &mut Vec<Finding>, file: &str| -> Option<String> {
        let rel = dir.join(file);
        match ctx.root.read_file(&rel, ctx.limits.max_metadata_bytes) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => Some(s),
                Err(_) => {
                    corrupt(findings, file, "not text".into());
                    None
                }
            },
            Err(e) => {
                findings.push(read_error_finding(&e, &rel, ctx.root.path()).with_layer(chain_id));
                None
            }
        }
    };
    let diff_text = if files.diff { required(findings, "diff") } else { None };
    let size_text = required(findings, "size");
    let cache_text = if files.cache_id { required(findings, "cache-id") } else { None };
    let parent_text =
        if files.parent { ctx.read_small_text(&dir.join("parent"), findings) } else { None };

    let diff_id = diff_text.and_then(|s| match parse_diff(&s) {
        Ok(d) => Some(d),
        Err(e) => {
            corrupt(findings, "diff", e.to_string());
            None
        }
    });
    let size = size_text.and_then(|s| match parse_size(&s) {
        Ok(n) => Some(n),
        Err(e) => {
            corrupt(findings, "size", e.to_string());
            None
        }
    });
    let cache_id = cache_text.and_then(|s| match parse_cache_id(&s) {
        Ok(c) => Some(c),
        Err(e) => {
            corrupt(findings, "cache-id", e.to_string());
            None
        }
    });
    let parent = parent_text.and_then(|s| match parse_parent(&s) {
        Ok(p) => Some(p),
        Err(e) => {
            corrupt(findings, "parent", e.to_string());
            None
        }
    });
    let has_tar_split = files.tar_split && ctx.root.exists(&dir.join("tar-split.json.gz"));
    LayerRecord { chain_id, diff_id, parent, size, cache_id, has_tar_split, dir }
}

fn read_mount(
    ctx: &StoreCtx,
    name: &str,
    dir: PathBuf,
    findings: &mut Vec<Finding>,
) -> MountRecord {
    let id_file = |file: &str, findings: &mut Vec<Finding>| -> Option<MountId> {
        let s = ctx.read_small_text(&dir.join(file), findings)?;
        match parse_mount_id(&s) {
            Ok(id) => Some(id),
            Err(e) => {
                findings.push(
                    Finding::error(Code::MetadataCorrupt, format!("mount {name}: {file} {e}"))
                        .with_file(dir.join(file)),
                );
                None
            }
        }
    };
    let mount_id = id_file("mount-id", findings);
    let init_id = id_file("init-id", findings);
    let parent =
        ctx.read_small_text(&dir.join("parent"), findings).and_then(|s| match parse_parent(&s) {
            Ok(p) => Some(p),
            Err(e) => {
                findings.push(
                    Finding::error(Code::MetadataCorrupt, format!("mount {name}: parent: {e}"))
                        .with_file(dir.join("parent")),
                );
                None
            }
        });
    MountRecord { name: name.to_owned(), mount_id, init_id, parent, dir }
}
