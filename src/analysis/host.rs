//! Which host a data-root belongs to, for reports shipped off the machine (NDJSON
//! lines, the HTML page): the engine's `engine-id`, and the hostname when the host is
//! known.

use crate::fsread::SafeDir;
use serde::Serialize;
use std::path::Path;

/// The host a scan speaks of.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HostId {
    /// Content of `<data-root>/engine-id` (Docker 23+ writes one per engine); null when
    /// absent or unreadable.
    pub engine_id: Option<String>,
    /// `/etc/hostname` of the data-root's host: under `--host-root` when given, this
    /// machine's when the data-root is its own; null for a data-root copied elsewhere,
    /// whose host is not known (the analyst's own name must not be mixed in).
    pub hostname: Option<String>,
}

/// Longest `engine-id` or `hostname` file read.
const MAX_ID_BYTES: u64 = 4096;

/// Reads the host's identity: `engine-id` from the data-root, the hostname from
/// `host_root/etc/hostname`, or from this machine's `/etc/hostname` when `local`.
pub fn host_id(root: &SafeDir, host_root: Option<&Path>, local: bool) -> HostId {
    let engine_id =
        root.read_file(Path::new("engine-id"), MAX_ID_BYTES).ok().and_then(|b| one_line(&b));
    let hostname = match (host_root, local) {
        (Some(h), _) => SafeDir::open_root(h)
            .ok()
            .and_then(|d| d.read_file(Path::new("etc/hostname"), MAX_ID_BYTES).ok()),
        (None, true) => SafeDir::open_root(Path::new("/etc"))
            .ok()
            .and_then(|d| d.read_file(Path::new("hostname"), MAX_ID_BYTES).ok()),
        (None, false) => None,
    }
    .and_then(|b| one_line(&b));
    HostId { engine_id, hostname }
}

/// The first line, trimmed, as text (bytes that are not UTF-8 written `\xNN`); `None`
/// when empty.
fn one_line(bytes: &[u8]) -> Option<String> {
    let text = crate::finding::display_bytes(bytes);
    let line = text.lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn first_line_trimmed() {
        assert_eq!(one_line(b"  abc-123\n"), Some("abc-123".to_owned()));
        assert_eq!(one_line(b"\n"), None);
        assert_eq!(one_line(b"a\xffb"), Some("a\\xffb".to_owned()));
    }
}
