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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // Identity checks.
    ImageIdMismatch,
    ChainIdMismatch,
    DiffIdMismatch,
    // Layer content.
    LayerFileModified,
    LayerFileMissing,
    LayerFileAdded,
    LayerMetadataModified,
    LayerMissing,
    LayerContentMissing,
    TarSplitMissing,
    TarSplitCorrupt,
    PathEscape,
    // Store-level problems.
    MetadataCorrupt,
    StoreMissing,
    StoreUnreadable,
    LimitExceeded,
    // Graph consistency.
    ReferenceBroken,
    ParentMissing,
    LayerOrphaned,
    GraphdriverDirOrphaned,
    MountBroken,
    ContainerImageMissing,
    ContainerLayerMissing,
    ImageDangling,
    LayerdbTmpLeftover,
    LayerRemovingLeftover,
    DistributionMapInconsistent,
    DistributionStale,
    // Registry storage.
    RegistryManifestMismatch,
    RegistryBlobMismatch,
    RegistryBlobMissing,
    RegistryBlobUnreferenced,
    /// A registry manifest's layer blob that local v2metadata does not know for that DiffID.
    RegistryLayerMismatch,
    RegistryLegacyManifest,
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
    // Things strata sees but does not analyse yet.
    UnsupportedStore,
}

impl Code {
    /// The kebab-case name used in JSON and tables.
    pub fn as_str(&self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// One thing found wrong (or worth knowing) about the data-root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
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
    /// File under the data-root, relative to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Finding {
    /// Sorts findings worst first, then by code, image, layer, path, so reports are
    /// stable from run to run.
    pub fn sort_worst_first(findings: &mut [Finding]) {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.code.cmp(&b.code))
                .then_with(|| a.image.cmp(&b.image))
                .then_with(|| a.layer.cmp(&b.layer))
                .then_with(|| a.path.cmp(&b.path))
                .then_with(|| a.file.cmp(&b.file))
                .then_with(|| a.message.cmp(&b.message))
        });
    }

    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Self { code, severity, message: message.into(), image: None, layer: None, path: None, file: None }
    }

    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    pub fn info(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Info, message)
    }

    pub fn with_image(mut self, id: ImageId) -> Self {
        self.image = Some(id);
        self
    }

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

    /// File relative to the data-root.
    /// Names what the finding is about when that is not a path inside a layer:
    /// a container ID, a snapshot key, a lease. Kept in `path`, escaped like one.
    pub fn with_subject_text(self, subject: &str) -> Self {
        self.with_path(subject.as_bytes())
    }

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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl SeverityCounts {
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
