//! Reader for `image/<driver>/imagedb`: image configs and their local metadata.
//!
//! The config bytes are kept exactly as found, because the image ID is the digest of
//! those bytes and nothing else; the parsed view is a convenience beside them.

use super::{read_error_finding, ParseError, StoreCtx};
use crate::digest::{DiffId, ImageId};
use crate::finding::{Code, Finding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One image as found in imagedb.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// The ID the file is named by (not yet checked against its bytes).
    pub id: ImageId,
    /// Exact config bytes.
    pub raw: Vec<u8>,
    /// Parsed config, or `None` when the bytes are not a valid config. Boxed: it is most
    /// of a record's size, and records are moved from reader to graph (see `fill_map`).
    pub config: Option<Box<ImageConfig>>,
    /// `imagedb/metadata/sha256/<id>/parent`: the image it was built on (classic builder, `docker
    /// commit`).
    pub parent: Option<ImageId>,
    /// `imagedb/metadata/sha256/<id>/lastUpdated`: when it was last tagged or pulled.
    pub last_updated: Option<String>,
    /// Whether `imagedb/metadata/sha256/<id>/builtLocally` exists (built here, not pulled).
    pub built_locally: bool,
    /// Path of the content file relative to the data-root.
    pub content_file: PathBuf,
}

/// The parts of an image config every command may need, kept for every image of the graph.
/// Unknown keys are ignored here but kept in [`ImageRecord::raw`].
///
/// The history is not kept: [`ImageRecord::history`] parses it again from the bytes for
/// the few commands that show it. Nor is the run config (`Cmd`, `Env`, `Labels`...), which
/// no command shows apart from `inspect`'s raw config. Kept, on a host of 10,000 small
/// images, they were about 10 MB of the heap's peak (heaptrack), in every command.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize)]
pub struct ImageConfig {
    /// `created`, as written (RFC 3339).
    pub created: Option<String>,
    /// `os` (`linux`, `windows`).
    pub os: Option<String>,
    /// `architecture` (`amd64`, `arm64`...).
    pub architecture: Option<String>,
    /// `variant` (`v8` for arm64...).
    pub variant: Option<String>,
    /// `None` when the config has no `rootfs` (Docker refuses to load such an image).
    pub diff_ids: Option<Vec<DiffId>>,
}

/// `config` (and the legacy `container_config`) of an image: how a container starts.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    /// `Cmd`.
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    /// `Entrypoint`.
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    /// `Env`, as `KEY=value` strings.
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    /// `Labels`.
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `WorkingDir`.
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    /// `User`.
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    /// `Image`: the parent image the classic builder ran this step on.
    #[serde(rename = "Image", default)]
    pub image: Option<String>,
}

/// One `history` step.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// When the step ran.
    #[serde(default)]
    pub created: Option<String>,
    /// The Dockerfile instruction or command that made the step.
    #[serde(default)]
    pub created_by: Option<String>,
    /// `author`.
    #[serde(default)]
    pub author: Option<String>,
    /// `comment`.
    #[serde(default)]
    pub comment: Option<String>,
    /// The step made no layer (`ENV`, `CMD`...): it has no DiffID in `rootfs`.
    #[serde(default)]
    pub empty_layer: bool,
}

/// The JSON as written, with every field optional so that one odd image (no
/// `container_config`, no `config.Image`, a `null` where a list belongs) still parses.
/// Every field strata knows is parsed, kept or not, so a config whose `history` or `config`
/// Docker could not read either is a finding, as it always was.
#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default, rename = "author")]
    _author: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default, rename = "docker_version")]
    _docker_version: Option<String>,
    #[serde(default, rename = "comment")]
    _comment: Option<String>,
    #[serde(default, rename = "config")]
    _config: Option<RunConfig>,
    #[serde(default, rename = "history")]
    _history: Option<Vec<HistoryEntry>>,
    #[serde(default)]
    rootfs: Option<RawRootFs>,
}

#[derive(Deserialize)]
struct RawRootFs {
    #[serde(default)]
    diff_ids: Option<Vec<String>>,
}

/// Parses config bytes. Errors name what is wrong, for a `metadata-corrupt` finding.
pub fn parse_config(raw: &[u8]) -> Result<ImageConfig, ParseError> {
    let rc: RawConfig = serde_json::from_slice(raw).map_err(ParseError::Config)?;
    let diff_ids = match rc.rootfs {
        None => None,
        Some(r) => {
            let mut ids = Vec::new();
            for (i, s) in r.diff_ids.unwrap_or_default().iter().enumerate() {
                ids.push(
                    DiffId::parse(s).map_err(|source| ParseError::DiffId { index: i, source })?,
                );
            }
            Some(ids)
        }
    };
    Ok(ImageConfig {
        created: rc.created,
        os: rc.os,
        architecture: rc.architecture,
        variant: rc.variant,
        diff_ids,
    })
}

/// Only the `history` of a config.
#[derive(Deserialize)]
struct HistoryOnly {
    #[serde(default)]
    history: Option<Vec<HistoryEntry>>,
}

impl ImageRecord {
    /// The config's `history`, one entry per build step, parsed from [`ImageRecord::raw`].
    /// Empty when the config does not parse (its [`ImageRecord::config`] is `None` then, and
    /// loading reported why) or has no history.
    pub fn history(&self) -> Vec<HistoryEntry> {
        if self.config.is_none() {
            return Vec::new();
        }
        serde_json::from_slice::<HistoryOnly>(&self.raw)
            .ok()
            .and_then(|h| h.history)
            .unwrap_or_default()
    }
}

/// Reads every image of `image/<driver>/imagedb`.
pub fn read_images(ctx: &StoreCtx, findings: &mut Vec<Finding>) -> BTreeMap<ImageId, ImageRecord> {
    let mut out = BTreeMap::new();
    let imagedb = ctx.image_root.join("imagedb");
    let content_dir = imagedb.join("content/sha256");
    let Some(entries) = ctx.list_dir_or_finding(&content_dir, findings) else {
        return out;
    };
    // One listing of `metadata/sha256` spares three failed lookups for every image that has no
    // metadata directory (all of them, on a root filled by `docker load`). A name that is
    // listed, whatever it is, is read as before; when the listing fails for another reason than
    // absence, every image is looked up as before, so findings do not change.
    let meta_names: Option<std::collections::HashSet<std::ffi::OsString>> =
        match ctx.root.read_dir(&imagedb.join("metadata/sha256")) {
            Ok(v) => Some(v.into_iter().map(|e| e.name).collect()),
            Err(e) if e.is_not_found() => Some(Default::default()),
            Err(_) => None,
        };
    let (records, found) = super::par_read(entries, |entry, findings| {
        let name = entry.name.to_str()?;
        // Temp files (`.tmp-*`) and anything else not named by a digest are not images.
        let id = ImageId::from_hex(name).ok()?;
        let content_file = super::join_exact(&content_dir, &[name]);
        let raw = match ctx.root.read_file(&content_file, ctx.limits.max_metadata_bytes) {
            Ok(b) => b,
            Err(e) => {
                findings
                    .push(read_error_finding(&e, &content_file, ctx.root.path()).with_image(id));
                return None;
            }
        };
        let config = match parse_config(&raw) {
            Ok(c) => Some(Box::new(c)),
            Err(msg) => {
                findings.push(
                    Finding::error(
                        Code::MetadataCorrupt,
                        format!("image config {}: {msg}", id.short()),
                    )
                    .with_image(id)
                    .with_file(&content_file),
                );
                None
            }
        };
        if meta_names.as_ref().is_some_and(|m| !m.contains(&entry.name)) {
            return Some(ImageRecord {
                id,
                raw,
                config,
                parent: None,
                last_updated: None,
                built_locally: false,
                content_file,
            });
        }
        let meta_dir = imagedb.join("metadata/sha256").join(name);
        let parent = ctx.read_small_text(&meta_dir.join("parent"), findings).and_then(|s| {
            match ImageId::parse(s.trim()) {
                Ok(p) => Some(p),
                Err(e) => {
                    findings.push(
                        Finding::error(Code::MetadataCorrupt, format!("image parent file: {e}"))
                            .with_image(id)
                            .with_file(meta_dir.join("parent")),
                    );
                    None
                }
            }
        });
        let last_updated =
            ctx.read_small_text(&meta_dir.join("lastUpdated"), findings).filter(|s| !s.is_empty());
        let built_locally = ctx.root.exists(&meta_dir.join("builtLocally"));
        Some(ImageRecord { id, raw, config, parent, last_updated, built_locally, content_file })
    });
    findings.extend(found);
    out.extend(records.into_iter().map(|r| (r.id, r)));
    out
}

/// Relative path of an image's content file.
pub fn content_path(image_root: &Path, id: &ImageId) -> PathBuf {
    image_root.join("imagedb/content/sha256").join(id.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_missing_and_null_fields() {
        let c = parse_config(br#"{"architecture":"amd64","config":{"Cmd":null},"rootfs":{"type":"layers","diff_ids":null}}"#).unwrap();
        assert_eq!(c.diff_ids, Some(vec![]));
        let c = parse_config(br#"{"os":"linux"}"#).unwrap();
        assert!(c.diff_ids.is_none());
    }

    fn record(raw: &[u8]) -> ImageRecord {
        ImageRecord {
            id: ImageId(crate::digest::Digest::of(raw)),
            raw: raw.to_vec(),
            config: parse_config(raw).ok().map(Box::new),
            parent: None,
            last_updated: None,
            built_locally: false,
            content_file: PathBuf::new(),
        }
    }

    #[test]
    fn history_is_parsed_again_from_the_bytes() {
        let r = record(
            br#"{"history":[{"created":"2023-01-01T00:00:00Z","created_by":"RUN x"},{"empty_layer":true,"comment":"c"}],"rootfs":{"diff_ids":[]}}"#,
        );
        let h = r.history();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].created_by.as_deref(), Some("RUN x"));
        assert!(!h[0].empty_layer);
        assert!(h[1].empty_layer);
        assert_eq!(h[1].comment.as_deref(), Some("c"));
        assert!(record(br#"{"history":null}"#).history().is_empty());
        // A config that does not parse has no config and so no history, even where its
        // `history` alone would parse.
        let bad = record(br#"{"history":[{"created_by":"RUN y"}],"os":5}"#);
        assert!(bad.config.is_none());
        assert!(bad.history().is_empty());
    }

    #[test]
    fn parts_not_kept_are_still_checked() {
        // Neither the history nor the run config is kept, but a config Docker could not
        // read because of them is refused as before.
        assert!(parse_config(br#"{"history":5}"#).is_err());
        assert!(parse_config(br#"{"history":[{"empty_layer":"yes"}]}"#).is_err());
        assert!(parse_config(br#"{"config":{"Cmd":5}}"#).is_err());
        assert!(parse_config(br#"{"author":["a"]}"#).is_err());
    }

    #[test]
    fn rejects_bad_diff_ids_with_their_index() {
        let e = parse_config(br#"{"rootfs":{"diff_ids":["sha256:zz"]}}"#).unwrap_err();
        assert!(matches!(e, ParseError::DiffId { index: 0, .. }), "{e}");
        assert!(e.to_string().contains("diff_ids[0]"), "{e}");
    }
}
