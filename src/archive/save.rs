//! `strata save`: images as `docker save` (Docker 25 and later) writes them, so that
//! `docker load` accepts the archive: `manifest.json`, `repositories`, and the OCI
//! layout `oci-layout` + `index.json` + `blobs/sha256/`.
//!
//! Layers come from the store read, each checked against its DiffID as it streams:
//! - graphdriver store: the tar rebuilt from tar-split and the files on disk, by the
//!   same reassembly `verify` uses ([`crate::verify::reassemble_layer`]); the saved
//!   layer is the uncompressed tar, named by its DiffID, as `docker save` names it;
//! - containerd store: the content blob copied as it is (compressed, with its media
//!   type), hashed and decompressed on the way to check both its name and the DiffID.
//!   Keeping the blob keeps the original bytes (evidence), needs no second pass to
//!   learn the size for the tar header, and `docker load` (20.10 too) decompresses it.
//!
//! A layer whose bytes do not give its DiffID stops the save with the findings,
//! unless `allow_mismatch`: then the bytes on disk are written, named by what they
//! hash to, and `index.json` says so in `dev.strata.diffid-mismatch.<n>` annotations.

use super::{EntryHeader, EntryKind, TarWriter};
use crate::digest::{DiffId, Digest, ImageId};
use crate::finding::{Code, Finding, Severity};
use crate::fsread::{Limits, SafeDir};
use crate::graph::Graph;
use crate::verify::blob::{BlobMembers, Compression};
use crate::verify::{self, LayerJob, Progress, VerifyOptions, VerifyStatus};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::FileExt;

/// One image to save, with the tags to record for it (familiar `name:tag`).
#[derive(Debug, Clone)]
pub struct SaveImage {
    /// The image.
    pub id: ImageId,
    /// Tags written to `manifest.json`, `repositories` and `index.json`; empty for an
    /// image saved by ID, as `docker save` does.
    pub tags: Vec<String>,
}

/// How to save.
#[derive(Debug, Clone, Copy, Default)]
pub struct SaveOptions {
    /// Write a layer that does not match its DiffID as it is on disk, and record the
    /// mismatch in `index.json`, instead of stopping.
    pub allow_mismatch: bool,
    /// Read limits.
    pub limits: Limits,
}

/// One layer written.
#[derive(Debug, Clone)]
pub struct SavedLayer {
    /// The DiffID the store records.
    pub diff_id: DiffId,
    /// The blob's name in the archive (the DiffID, the content blob's digest, or,
    /// for a mismatching layer, what its bytes hash to).
    pub digest: Digest,
    /// Bytes written.
    pub size: u64,
    /// Whether its bytes matched.
    pub matched: bool,
}

/// What a save wrote and found.
#[derive(Debug, Default)]
pub struct SaveOutcome {
    /// Layers written, once each, in the order written.
    pub layers: Vec<SavedLayer>,
    /// Problems met that did not stop the save (metadata drift, recorded mismatches).
    pub findings: Vec<Finding>,
}

/// Why a save stopped. The archive is incomplete and must be discarded.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// A layer's bytes do not give its DiffID.
    #[error("layer {layer} does not match its DiffID; the save stopped (--allow-mismatch writes it as it is on disk and records the mismatch)")]
    Mismatch {
        /// The layer (ChainID, short).
        layer: String,
        /// What verifying it found.
        findings: Vec<Finding>,
    },
    /// A layer or config cannot be read or rebuilt at all.
    #[error("{what}; the save stopped")]
    Unsavable {
        /// What cannot be saved.
        what: String,
        /// Why.
        findings: Vec<Finding>,
    },
    /// Writing the archive failed.
    #[error("writing the archive: {0}")]
    Io(#[from] io::Error),
}

impl SaveError {
    /// The findings that explain the stop.
    pub fn findings(&self) -> &[Finding] {
        match self {
            SaveError::Mismatch { findings, .. } | SaveError::Unsavable { findings, .. } => {
                findings
            }
            SaveError::Io(_) => &[],
        }
    }
}

#[derive(Serialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// A `LayerSources` value: moby's `distribution.Descriptor`, in its field order.
#[derive(Serialize)]
struct LayerSource {
    #[serde(rename = "mediaType")]
    media_type: String,
    size: u64,
    digest: Digest,
}

#[derive(Serialize)]
struct OciManifest<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
struct OciIndex {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
    #[serde(rename = "LayerSources", skip_serializing_if = "BTreeMap::is_empty")]
    layer_sources: BTreeMap<String, LayerSource>,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// A layer as written: its descriptor, and a mismatch to record.
struct Written {
    desc: Descriptor,
    mismatch: Option<String>,
}

/// Where the archive goes: a stream, written in order, or a file, whose rebuilt
/// layers are written at their offsets, several at once.
enum Out<'a> {
    Stream(&'a mut dyn Write),
    File(io::BufWriter<&'a File>),
}

impl Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Stream(w) => w.write(buf),
            Out::File(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::Stream(w) => w.write_all(buf),
            Out::File(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stream(w) => w.flush(),
            Out::File(w) => w.flush(),
        }
    }
}

impl Seek for Out<'_> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        match self {
            Out::Stream(_) => Err(io::Error::from(io::ErrorKind::Unsupported)),
            Out::File(w) => w.seek(pos),
        }
    }
}

/// Writes at an offset of a file, moving on as it writes (`pwrite`): one per layer
/// written in parallel.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Write for At<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Buffer of each layer's writer into the archive file.
const WRITE_BUF: usize = 1 << 20;

/// A graphdriver layer whose header is written and whose content is left for later:
/// rebuilt at its offset, alongside the others, once the rest is written.
struct Deferred {
    /// Offset of its content in the archive.
    at: u64,
    job: LayerJob,
    size: u64,
}

/// Writes the archive of `images` to `out`. On `Err` what was written is incomplete.
pub fn save(
    g: &Graph,
    root: &SafeDir,
    images: &[SaveImage],
    opts: &SaveOptions,
    progress: Option<Progress<'_>>,
    out: &mut dyn Write,
) -> Result<SaveOutcome, SaveError> {
    save_to(g, root, images, opts, progress, Out::Stream(out))
}

/// Writes the archive of `images` into `file`, a new empty regular file, from its
/// start. Unlike [`save`], graphdriver layers are rebuilt at once on the cores there
/// are, each written at its place in the archive (their sizes are known from their
/// tar-splits beforehand); with `allow_mismatch` they are written one after another.
/// On `Err` what was written is incomplete.
pub fn save_file(
    g: &Graph,
    root: &SafeDir,
    images: &[SaveImage],
    opts: &SaveOptions,
    progress: Option<Progress<'_>>,
    file: &File,
) -> Result<SaveOutcome, SaveError> {
    save_to(
        g,
        root,
        images,
        opts,
        progress,
        Out::File(io::BufWriter::with_capacity(WRITE_BUF, file)),
    )
}

fn save_to(
    g: &Graph,
    root: &SafeDir,
    images: &[SaveImage],
    opts: &SaveOptions,
    progress: Option<Progress<'_>>,
    out: Out<'_>,
) -> Result<SaveOutcome, SaveError> {
    let content = g.content_root(root);
    let file = match &out {
        Out::File(w) => Some(*w.get_ref()),
        Out::Stream(_) => None,
    };
    // Layers named by their DiffID have a size known from the tar-split alone.
    let defer = file.is_some() && !opts.allow_mismatch;
    let mut deferred: Vec<Deferred> = Vec::new();
    let mut tw = TarWriter::new(out);
    let mut outcome = SaveOutcome::default();
    let mut written: BTreeMap<DiffId, Written> = BTreeMap::new();
    let mut blobs: BTreeSet<Digest> = BTreeSet::new();
    let mut index = Vec::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    tw.file("oci-layout", br#"{"imageLayoutVersion": "1.0.0"}"#, 0)?;
    tw.dir("blobs/", 0)?;
    tw.dir("blobs/sha256/", 0)?;
    for want in images {
        let Some(img) = g.images.get(&want.id) else {
            return Err(SaveError::Unsavable {
                what: format!("image {} is not in the store", want.id),
                findings: Vec::new(),
            });
        };
        let raw = &img.record.raw;
        let Some(config) = img.record.config.as_ref().filter(|_| !raw.is_empty()) else {
            return Err(SaveError::Unsavable {
                what: format!("image {}: its config cannot be read", want.id.short()),
                findings: Vec::new(),
            });
        };
        let mtime = config
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let config_digest = Digest::of(raw);
        if blobs.insert(config_digest) {
            tw.file(&blob_name(&config_digest), raw, mtime)?;
        }
        let diff_ids = config.diff_ids.clone().unwrap_or_default();
        if diff_ids.len() != img.chain_ids.len() {
            return Err(SaveError::Unsavable {
                what: format!("image {}: its layers are not all in the store", want.id.short()),
                findings: Vec::new(),
            });
        }
        let mut layers = Vec::new();
        let mut annotations = BTreeMap::new();
        for (n, (chain, diff)) in img.chain_ids.iter().zip(&diff_ids).enumerate() {
            if !written.contains_key(diff) {
                let job = match g.layers.get(chain) {
                    Some(_) => {
                        verify::run::job_for(g, chain).map_err(|f| SaveError::Unsavable {
                            what: format!("layer {} cannot be rebuilt", chain.short()),
                            findings: vec![*f],
                        })?
                    }
                    None => {
                        return Err(SaveError::Unsavable {
                            what: format!("layer {} is not in the store", chain.short()),
                            findings: Vec::new(),
                        })
                    }
                };
                let w = if defer && job.blob.is_none() {
                    let name = *job.diff_id.digest();
                    let size = tar_size(content, &job, opts.limits)?;
                    tw.begin_entry(&blob_header(blob_name(&name).as_bytes(), size, mtime))?;
                    let at = tw.defer_entry()?;
                    deferred.push(Deferred { at, job, size });
                    Written {
                        desc: Descriptor {
                            media_type: OCI_LAYER.to_owned(),
                            digest: name,
                            size,
                            annotations: BTreeMap::new(),
                        },
                        mismatch: None,
                    }
                } else {
                    write_layer(content, &job, opts, mtime, progress, &mut tw, &mut outcome)?
                };
                blobs.insert(w.desc.digest);
                written.insert(*diff, w);
            }
            let w = &written[diff];
            if let Some(m) = &w.mismatch {
                annotations.insert(format!("dev.strata.diffid-mismatch.{n}"), m.clone());
            }
            layers.push(w.desc.clone());
        }
        let m = OciManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: Descriptor {
                media_type: OCI_CONFIG.to_owned(),
                digest: config_digest,
                size: raw.len() as u64,
                annotations: BTreeMap::new(),
            },
            layers: layers.clone(),
        };
        let bytes = serde_json::to_vec(&m).map_err(io::Error::other)?;
        let manifest_digest = Digest::of(&bytes);
        if blobs.insert(manifest_digest) {
            tw.file(&blob_name(&manifest_digest), &bytes, 0)?;
        }
        let desc = |extra: &[(&str, String)]| {
            let mut a = annotations.clone();
            a.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            Descriptor {
                media_type: OCI_MANIFEST.to_owned(),
                digest: manifest_digest,
                size: bytes.len() as u64,
                annotations: a,
            }
        };
        if want.tags.is_empty() {
            index.push(desc(&[]));
        }
        for tag in &want.tags {
            let parsed = crate::reference::Reference::parse(tag).ok();
            let full = parsed.as_ref().map(|r| r.to_string()).unwrap_or_else(|| tag.clone());
            let short_tag = parsed.as_ref().and_then(|r| r.tag.clone()).unwrap_or_default();
            index.push(desc(&[
                ("io.containerd.image.name", full),
                ("org.opencontainers.image.ref.name", short_tag.clone()),
            ]));
            if let (Some(r), Some(top)) = (&parsed, layers.last()) {
                repositories
                    .entry(r.familiar_name())
                    .or_default()
                    .insert(short_tag, top.digest.hex());
            }
        }
        manifest.push(ManifestItem {
            config: blob_name(&config_digest),
            repo_tags: (!want.tags.is_empty()).then(|| want.tags.clone()),
            layers: layers.iter().map(|l| blob_name(&l.digest)).collect(),
            // Docker writes these for graphdriver layers only; its containerd-store
            // save, whose layers are the compressed blobs, has none.
            layer_sources: if g.containerd.is_some() {
                BTreeMap::new()
            } else {
                diff_ids
                    .iter()
                    .zip(&layers)
                    .map(|(d, l)| {
                        let source = LayerSource {
                            media_type: l.media_type.clone(),
                            size: l.size,
                            digest: l.digest,
                        };
                        (d.to_string(), source)
                    })
                    .collect()
            },
        });
    }
    let idx = OciIndex {
        schema_version: 2,
        media_type: "application/vnd.oci.image.index.v1+json",
        manifests: index,
    };
    tw.file("index.json", &serde_json::to_vec(&idx).map_err(io::Error::other)?, 0)?;
    let mut bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    bytes.push(b'\n');
    tw.file("manifest.json", &bytes, 0)?;
    if !repositories.is_empty() {
        // Docker ends manifest.json and repositories (not index.json) with a newline.
        let mut bytes = serde_json::to_vec(&repositories).map_err(io::Error::other)?;
        bytes.push(b'\n');
        tw.file("repositories", &bytes, 0)?;
    }
    tw.finish()?;
    if let Some(file) = file {
        write_deferred(content, file, deferred, opts, progress, &mut outcome)?;
    }
    Ok(outcome)
}

/// Rebuilds the deferred layers in parallel, each into its place in `file`, the
/// largest first; then checks each against its DiffID, in archive order.
fn write_deferred(
    content: &SafeDir,
    file: &File,
    deferred: Vec<Deferred>,
    opts: &SaveOptions,
    progress: Option<Progress<'_>>,
    outcome: &mut SaveOutcome,
) -> Result<(), SaveError> {
    use rayon::prelude::*;
    let vopts =
        VerifyOptions { quick: false, jobs: 1, limits: opts.limits, ..VerifyOptions::default() };
    let mut order: Vec<usize> = (0..deferred.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(deferred[i].size));
    let one = |d: &Deferred| -> io::Result<verify::LayerResult> {
        let at = io::BufWriter::with_capacity(WRITE_BUF, At { file, pos: d.at });
        let mut w = TarWriter::entry_at(at, d.size);
        let r = verify::reassemble_layer(content, &d.job, &vopts, progress, &mut w)?;
        w.end_entry()?;
        w.into_inner()?;
        Ok(r)
    };
    let mut results: Vec<(usize, io::Result<verify::LayerResult>)> =
        order.par_iter().with_max_len(1).map(|&i| (i, one(&deferred[i]))).collect();
    results.sort_by_key(|(i, _)| *i);
    for ((_, r), d) in results.into_iter().zip(&deferred) {
        let r = r?;
        let chain = d.job.chain_id;
        if r.status == VerifyStatus::Unverifiable {
            return Err(SaveError::Unsavable {
                what: format!("layer {} cannot be rebuilt", chain.short()),
                findings: r.findings,
            });
        }
        if r.computed_diff_id != Some(d.job.diff_id) {
            return Err(SaveError::Mismatch {
                layer: chain.short().to_owned(),
                findings: r.findings,
            });
        }
        keep_findings(outcome, r.findings, true);
        outcome.layers.push(SavedLayer {
            diff_id: d.job.diff_id,
            digest: *d.job.diff_id.digest(),
            size: d.size,
            matched: true,
        });
    }
    Ok(())
}

/// Writes one layer blob; stops on a mismatch unless it is allowed.
#[allow(clippy::too_many_arguments)]
fn write_layer(
    content: &SafeDir,
    job: &LayerJob,
    opts: &SaveOptions,
    mtime: i64,
    progress: Option<Progress<'_>>,
    tw: &mut TarWriter<Out<'_>>,
    outcome: &mut SaveOutcome,
) -> Result<Written, SaveError> {
    let chain = job.chain_id;
    let vopts =
        VerifyOptions { quick: false, jobs: 1, limits: opts.limits, ..VerifyOptions::default() };
    if let Some(blob) = &job.blob {
        return write_blob_layer(content, job, blob, opts, mtime, progress, tw, outcome);
    }
    let stop =
        |findings: Vec<Finding>| SaveError::Mismatch { layer: chain.short().to_owned(), findings };
    // The name and size go in the header before the content: from a first pass when
    // a mismatch may be written (its bytes are then named by their own hash), else
    // from the tar-split alone (the DiffID is the name; any difference stops the save).
    let (name, size, first) = if opts.allow_mismatch {
        let r = verify::verify_layer(content, job, &vopts, None);
        match (r.status, r.computed_diff_id) {
            (VerifyStatus::Unverifiable, _) | (_, None) => {
                return Err(SaveError::Unsavable {
                    what: format!("layer {} cannot be rebuilt", chain.short()),
                    findings: r.findings,
                })
            }
            (_, Some(c)) => (*c.digest(), r.bytes, Some(c)),
        }
    } else {
        (*job.diff_id.digest(), tar_size(content, job, opts.limits)?, None)
    };
    tw.begin_entry(&blob_header(blob_name(&name).as_bytes(), size, mtime))?;
    let r = verify::reassemble_layer(content, job, &vopts, progress, tw)?;
    if r.status == VerifyStatus::Unverifiable {
        return Err(SaveError::Unsavable {
            what: format!("layer {} cannot be rebuilt", chain.short()),
            findings: r.findings,
        });
    }
    let computed = r.computed_diff_id;
    if computed != Some(job.diff_id) && !opts.allow_mismatch {
        return Err(stop(r.findings));
    }
    if first.is_some() && (computed != first || r.bytes != size) {
        return Err(SaveError::Io(io::Error::other(format!(
            "layer {} changed while it was being saved (its files are being written to?)",
            chain.short()
        ))));
    }
    tw.end_entry()?;
    let matched = computed == Some(job.diff_id);
    let mismatch = (!matched).then(|| {
        format!(
            "recorded {}, on disk {}",
            job.diff_id,
            computed.map(|c| c.to_string()).unwrap_or_default()
        )
    });
    keep_findings(outcome, r.findings, matched);
    outcome.layers.push(SavedLayer { diff_id: job.diff_id, digest: name, size, matched });
    Ok(Written {
        desc: Descriptor {
            media_type: OCI_LAYER.to_owned(),
            digest: name,
            size,
            annotations: BTreeMap::new(),
        },
        mismatch,
    })
}

/// Findings worth passing on from a layer that was written: warnings and errors
/// (metadata drift, files added beside the layer), and the mismatch itself.
fn keep_findings(outcome: &mut SaveOutcome, findings: Vec<Finding>, matched: bool) {
    outcome
        .findings
        .extend(findings.into_iter().filter(|f| f.severity >= Severity::Warning || !matched));
}

fn blob_header(path: &[u8], size: u64, mtime: i64) -> EntryHeader<'_> {
    EntryHeader::plain(path, EntryKind::File, size, 0o644, mtime)
}

/// The length of the layer tar its tar-split describes: segments plus file sizes.
fn tar_size(content: &SafeDir, job: &LayerJob, limits: Limits) -> Result<u64, SaveError> {
    let unsavable = |f: Box<Finding>| SaveError::Unsavable {
        what: format!("layer {} cannot be rebuilt", job.chain_id.short()),
        findings: vec![(*f).with_layer(job.chain_id)],
    };
    let mut s =
        verify::LayerStream::open(content, &job.tar_split, None, limits).map_err(unsavable)?;
    let mut total = 0u64;
    while let Some(e) = s.next_event().map_err(unsavable)? {
        total = total.saturating_add(match e {
            verify::Event::Segment(b) => b.len() as u64,
            verify::Event::Member(m) => m.size,
        });
    }
    Ok(total)
}

/// Copies what it reads into the archive entry, and counts it.
struct Tee<'a, 'w> {
    file: std::fs::File,
    tw: &'a mut TarWriter<Out<'w>>,
    progress: Option<Progress<'a>>,
    error: Option<io::Error>,
}

impl Read for Tee<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if let Err(e) = self.tw.content(&buf[..n]) {
            // Reported after the read loop: the decoder would turn it into a
            // "corrupt blob" message otherwise.
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
            return Err(e);
        }
        if let Some(p) = self.progress {
            p(n as u64);
        }
        Ok(n)
    }
}

/// Copies a containerd layer blob into the archive as it is, checking its name and
/// its DiffID on the way.
#[allow(clippy::too_many_arguments)]
fn write_blob_layer(
    content: &SafeDir,
    job: &LayerJob,
    blob: &verify::LayerBlob,
    opts: &SaveOptions,
    mtime: i64,
    progress: Option<Progress<'_>>,
    tw: &mut TarWriter<Out<'_>>,
    outcome: &mut SaveOutcome,
) -> Result<Written, SaveError> {
    let chain = job.chain_id;
    let open = || {
        content.open_file(&blob.path).map_err(|e| SaveError::Unsavable {
            what: format!("layer {}: its blob {} cannot be read", chain.short(), blob.digest),
            findings: vec![Finding::error(
                if e.is_not_found() { Code::ContentBlobMissing } else { Code::ContentBlobCorrupt },
                format!("the layer blob cannot be read: {e}"),
            )
            .with_layer(chain)
            .with_file(&blob.path)],
        })
    };
    let corrupt = |e: String| SaveError::Unsavable {
        what: format!("layer {}: its blob {} is not a readable layer", chain.short(), blob.digest),
        findings: vec![Finding::error(Code::ContentBlobCorrupt, e)
            .with_layer(chain)
            .with_file(&blob.path)],
    };
    let digests_of = |r: &mut dyn Read| -> Result<verify::blob::BlobDigests, String> {
        let mut m =
            BlobMembers::new(r, blob.compression, opts.limits).map_err(|e| e.to_string())?;
        while m.next_event().map_err(|e| e.to_string())?.is_some() {}
        m.finish().map_err(|e| e.to_string())
    };
    let name = if opts.allow_mismatch {
        let (mut f, _) = open()?;
        digests_of(&mut f).map_err(corrupt)?.compressed
    } else {
        blob.digest
    };
    let (file, meta) = open()?;
    tw.begin_entry(&blob_header(blob_name(&name).as_bytes(), meta.size, mtime))?;
    let mut tee = Tee { file, tw: &mut *tw, progress, error: None };
    let got = digests_of(&mut tee);
    if let Some(e) = tee.error.take() {
        return Err(SaveError::Io(e));
    }
    let d = got.map_err(corrupt)?;
    let mut findings = Vec::new();
    if d.compressed != blob.digest {
        findings.push(
            Finding::error(
                Code::ContentBlobMismatch,
                format!(
                    "the layer blob {} hashes to {}: its content is not what its name says",
                    blob.digest, d.compressed
                ),
            )
            .with_layer(chain)
            .with_file(&blob.path),
        );
    }
    if d.uncompressed != *job.diff_id.digest() {
        findings.push(
            Finding::error(
                Code::DiffIdMismatch,
                format!(
                    "the layer blob decompresses to a tar that hashes to {}, but the image config records DiffID {}",
                    d.uncompressed, job.diff_id
                ),
            )
            .with_layer(chain)
            .with_file(&blob.path),
        );
    }
    let matched = findings.is_empty();
    if !matched && !opts.allow_mismatch {
        return Err(SaveError::Mismatch { layer: chain.short().to_owned(), findings });
    }
    if d.compressed != name || d.compressed_bytes != meta.size {
        return Err(SaveError::Io(io::Error::other(format!(
            "layer {}: its blob changed while it was being saved",
            chain.short()
        ))));
    }
    tw.end_entry()?;
    let mismatch = (!matched).then(|| {
        format!("recorded {}, on disk {} (blob {})", job.diff_id, d.uncompressed, d.compressed)
    });
    outcome.findings.extend(findings);
    outcome.layers.push(SavedLayer {
        diff_id: job.diff_id,
        digest: name,
        size: meta.size,
        matched,
    });
    // The OCI name of the blob's compression: the manifest written is an OCI one.
    let media_type = match blob.compression {
        Compression::None => OCI_LAYER.to_owned(),
        Compression::Gzip => format!("{OCI_LAYER}+gzip"),
        Compression::Zstd => format!("{OCI_LAYER}+zstd"),
    };
    Ok(Written {
        desc: Descriptor {
            media_type,
            digest: name,
            size: meta.size,
            annotations: BTreeMap::new(),
        },
        mismatch,
    })
}
