//! Findings: the one currency every reader and checker pays in.
//!
//! A bad file never aborts a scan. It becomes a `Finding` with a stable code that
//! scripts can match on, a severity that drives the exit status, and the place it
//! concerns (image, layer, path inside the layer, file under the data-root).

use crate::digest::{ChainId, ImageId};
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// How bad a finding is. Ordered so that `max()` gives the worst.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, nothing wrong (a legacy manifest, a dangling image).
    Info,
    /// Something is off but the data is still usable (a leftover, stale metadata, an unreadable file).
    Warning,
    /// Data is wrong or lost: an ID does not match its bytes, a layer is missing or modified.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Stable finding codes. The kebab-case spelling is part of the JSON schema.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // Identity checks.
    /// An image's config bytes no longer hash to the image ID (its imagedb file name).
    ImageIdMismatch,
    /// A layer's ChainID, recomputed from its parent and DiffID, differs from its layerdb directory name.
    ChainIdMismatch,
    /// A layer's content, rebuilt as a tar from its tar-split and files, hashes to another DiffID.
    DiffIdMismatch,
    // Layer content.
    /// A file in the layer's directory differs in content from the one in the layer tar.
    LayerFileModified,
    /// A file the layer tar holds is missing from the layer's directory.
    LayerFileMissing,
    /// A file is in the layer's directory but not in the layer tar (planted).
    LayerFileAdded,
    /// A file's metadata (mode, owner, times, xattrs, link target) differs from its tar header.
    LayerMetadataModified,
    /// An image's rootfs names a layer (ChainID) that the layer store does not hold.
    LayerMissing,
    /// A layer's (or snapshot's) content directory on disk is missing or unreadable.
    LayerContentMissing,
    /// A layer has no tar-split file, so its tar stream cannot be rebuilt and verified.
    TarSplitMissing,
    /// A layer's tar-split file cannot be decompressed or parsed.
    TarSplitCorrupt,
    /// A path leads out of the data-root or the layer (`..`, an absolute link); it is never opened.
    PathEscape,
    // Store-level problems.
    /// A metadata file (JSON, digest file, database) cannot be parsed.
    MetadataCorrupt,
    /// A store, or a part of it the scan needs, is not there.
    StoreMissing,
    /// A store or file exists but cannot be read (permissions, I/O).
    StoreUnreadable,
    /// A file or a count is past one of strata's limits; the rest of the scan goes on.
    LimitExceeded,
    // Graph consistency.
    /// A tag or digest reference names no image that exists.
    ReferenceBroken,
    /// A layer's (or snapshot's) parent is not in the store.
    ParentMissing,
    /// A layer that no image and no container uses.
    LayerOrphaned,
    /// A graphdriver (or snapshot) directory that no layer or mount refers to.
    GraphdriverDirOrphaned,
    /// A mount (container RW layer) with no valid mount-id, or whose driver directory is gone.
    MountBroken,
    /// A container whose image is not in the store.
    ContainerImageMissing,
    /// A container whose RW layer is missing.
    ContainerLayerMissing,
    /// An image with no tag and no child image (`<none>:<none>`).
    ImageDangling,
    /// A leftover in `layerdb/tmp` from an interrupted layer registration.
    LayerdbTmpLeftover,
    /// A `-removing` directory left by an interrupted delete.
    LayerRemovingLeftover,
    /// The two distribution maps (`diffid-by-digest`, `v2metadata-by-diffid`) disagree.
    DistributionMapInconsistent,
    /// Distribution metadata for a DiffID that no present layer has.
    DistributionStale,
    // Registry storage.
    /// A registry manifest does not hash to its digest, or disagrees with the local image.
    RegistryManifestMismatch,
    /// A registry blob does not hash to the digest it is stored under.
    RegistryBlobMismatch,
    /// A blob that a registry manifest names is not in the registry storage.
    RegistryBlobMissing,
    /// A registry blob that no manifest references.
    RegistryBlobUnreferenced,
    /// A registry manifest's layer blob that local v2metadata does not know for that DiffID.
    RegistryLayerMismatch,
    /// A Docker schema1 manifest (legacy, no config blob): not cross-checked.
    RegistryLegacyManifest,
    // Live registries (`audit --online`, `registry-check`).
    /// A tag in the registry now points at another manifest than the one this host pulled.
    RegistryTagMoved,
    /// The registry no longer serves a manifest this host pulled (or the tag is gone).
    RegistryManifestGone,
    /// What the registry served does not hash to the digest it was asked for or named.
    RegistryContentMismatch,
    /// The registry's manifest names another config than the local image's.
    RegistryConfigMismatch,
    /// The registry's manifest names layer blobs the local distribution metadata maps to other DiffIDs.
    RegistryLayersDiffer,
    /// A blob the registry's manifest names is not served.
    RegistryBlobGone,
    /// A registry could not be asked: unreachable, unauthorized, too slow, or its answer refused.
    RegistryUnreachable,
    // The containerd image store's content.
    /// A content blob that metadata or a manifest names is not in the content store.
    ContentBlobMissing,
    /// A content blob cannot be read or decompressed as what it should be.
    ContentBlobCorrupt,
    /// A content blob does not hash to the digest it is named by.
    ContentBlobMismatch,
    // BuildKit's build cache.
    /// A BuildKit record names a snapshot that is not there, or a snapshot's directory is missing.
    BuildCacheBroken,
    // A live engine.
    /// Something changed or disappeared between two reads of the scan (the engine was at
    /// work): a problem the first read saw that the second read explains, not damage.
    ChangedDuringScan,
    // Things strata sees but does not analyse yet.
    /// A store strata sees but does not analyse (another graphdriver store, a store it cannot read yet).
    UnsupportedStore,
}

impl Code {
    /// The kebab-case name used in JSON and tables.
    pub fn as_str(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// One thing found wrong (or worth knowing) about the data-root.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was found: stable, matched on by scripts.
    pub code: Code,
    /// How bad it is; the worst severity drives the exit status.
    pub severity: Severity,
    /// One human-readable sentence.
    pub message: String,
    /// Image ID (`sha256:...`) the finding concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageId>,
    /// ChainID (`sha256:...`) of the layer the finding concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<ChainId>,
    /// Path inside the layer, without a leading `./` or `/` (see [`display_bytes`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What the finding is about when that is not a path inside a layer: a container
    /// ID, a reference, a snapshot key, a lease, a driver directory or an overlay2
    /// `l/<link>` name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// File under the data-root, relative to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Finding {
    /// Sorts findings worst first, then by code, image, layer, path, subject, so reports are
    /// stable from run to run.
    pub fn sort_worst_first(findings: &mut [Finding]) {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.code.cmp(&b.code))
                .then_with(|| a.image.cmp(&b.image))
                .then_with(|| a.layer.cmp(&b.layer))
                .then_with(|| a.path.cmp(&b.path))
                .then_with(|| a.subject.cmp(&b.subject))
                .then_with(|| a.file.cmp(&b.file))
                .then_with(|| a.message.cmp(&b.message))
        });
    }

    /// A finding with no place attached yet; add one with the `with_*` methods.
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            image: None,
            layer: None,
            path: None,
            subject: None,
            file: None,
        }
    }

    /// An [`Severity::Error`] finding.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// A [`Severity::Warning`] finding.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    /// An [`Severity::Info`] finding.
    pub fn info(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Info, message)
    }

    /// Names the image the finding concerns.
    pub fn with_image(mut self, id: ImageId) -> Self {
        self.image = Some(id);
        self
    }

    /// Names the layer (by ChainID) the finding concerns.
    pub fn with_layer(mut self, id: ChainId) -> Self {
        self.layer = Some(id);
        self
    }

    /// Path inside a layer; a leading `./` or `/` is dropped so paths compare equal
    /// whatever spelling the tar header used.
    pub fn with_path(mut self, path: &[u8]) -> Self {
        self.path = Some(display_bytes(normalize_layer_path(path)));
        self
    }

    /// Names what the finding is about when that is not a path inside a layer:
    /// a container ID, a reference, a snapshot key, a lease, an `l/<link>` name.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// File relative to the data-root.
    pub fn with_file(mut self, rel: impl AsRef<Path>) -> Self {
        self.file = Some(display_bytes(rel.as_ref().as_os_str().as_encoded_bytes()));
        self
    }
}

/// Strips the `./` and `/` prefixes and a trailing `/` that tar headers may carry.
pub fn normalize_layer_path(mut p: &[u8]) -> &[u8] {
    loop {
        if let Some(rest) = p.strip_prefix(b"./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix(b"/") {
            p = rest;
        } else {
            break;
        }
    }
    while p.len() > 1 && p.ends_with(b"/") {
        p = &p[..p.len() - 1];
    }
    p
}

/// Renders bytes from disk as a string without losing anything: valid UTF-8 stays as
/// it is, each byte that is not is written `\xNN`, and a backslash is doubled so the
/// mapping can be reversed.
pub fn display_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Makes a string from disk safe to print on a terminal: control characters and the
/// bidirectional overrides (which can make text read backwards) become escapes.
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c.is_control() || bidi {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Counts findings by severity.
#[derive(schemars::JsonSchema, Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// Number of [`Severity::Error`] findings.
    pub error: usize,
    /// Number of [`Severity::Warning`] findings.
    pub warning: usize,
    /// Number of [`Severity::Info`] findings.
    pub info: usize,
}

impl SeverityCounts {
    /// Counts `findings`.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut c = Self::default();
        for f in findings {
            match f.severity {
                Severity::Error => c.error += 1,
                Severity::Warning => c.warning += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_in_kebab_case() {
        assert_eq!(Code::LayerFileAdded.as_str(), "layer-file-added");
        assert_eq!(Code::ImageIdMismatch.to_string(), "image-id-mismatch");
    }

    #[test]
    fn paths_are_normalized_and_lossless() {
        assert_eq!(normalize_layer_path(b"./etc/passwd"), b"etc/passwd");
        assert_eq!(normalize_layer_path(b"/etc/"), b"etc");
        assert_eq!(display_bytes(b"bad\xffname"), "bad\\xffname");
        assert_eq!(display_bytes(b"a\\b"), "a\\\\b");
    }

    #[test]
    fn terminal_escapes_controls_and_bidi() {
        assert_eq!(terminal_safe("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(terminal_safe("x\u{202e}y"), "x\\u{202e}y");
    }
}
