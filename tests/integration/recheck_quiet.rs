//! The audit's second read is skipped only for a graphdriver store that has not changed since
//! before the scan (`audit::recheck::quiet_since`). Every change the engine makes (a new
//! entry renamed into place, a directory created or removed) moves the ctime of a directory it
//! looks at; a file rewritten in place is seen when a finding names it.

use crate::support::*;
use std::path::{Path, PathBuf};
use strata::audit::recheck::quiet_since;
use strata::finding::{Code, Finding};
use strata::graph::{Graph, LoadOptions};

fn now_ns() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(d.as_nanos()).unwrap()
}

/// `rel` under `root`, with `*` replaced by the first entry of the directory before it.
fn resolve(root: &Path, rel: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        if part == "*" {
            let mut names: Vec<_> =
                std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().file_name()).collect();
            names.sort();
            p.push(&names[0]);
        } else {
            p.push(part);
        }
    }
    p
}

/// Writes a new file beside `target` and renames it into `target`'s directory, as the
/// engine's atomic writes do (over `target` itself when it is a file).
fn write_as_the_engine_does(target: &Path) {
    let (dir, name) = if target.is_dir() {
        (target.to_path_buf(), "strata-test-new".into())
    } else {
        (target.parent().unwrap().to_path_buf(), target.file_name().unwrap().to_owned())
    };
    let tmp = dir.join(".strata-test-tmp");
    std::fs::write(&tmp, b"{}").unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn a_change_where_the_engine_writes_is_seen_and_an_untouched_copy_is_quiet() {
    let pristine = data_root("basic");
    let places = [
        "image/overlay2/imagedb/content/sha256",
        "image/overlay2/layerdb/sha256",
        "image/overlay2/layerdb/mounts/*",
        "image/overlay2/repositories.json",
        "containers/*",
        "containers/*/config.v2.json",
        "overlay2",
    ];
    let copies: Vec<_> = places.iter().map(|_| copy_tree(&pristine)).collect();
    let named_copy = copy_tree(&pristine);
    // A copy's ctimes are the moment it was made: let them age past the margin.
    std::thread::sleep(std::time::Duration::from_millis(2300));
    let started = now_ns();
    for (place, copy) in places.iter().zip(&copies) {
        let (g, root) = Graph::load(copy.path(), &LoadOptions::default()).unwrap();
        assert!(quiet_since(&g, &root, &[], started), "{place}: an untouched copy is quiet");
        write_as_the_engine_does(&resolve(copy.path(), place));
        assert!(!quiet_since(&g, &root, &[], started), "{place}: the change is not seen");
    }

    // A file rewritten in place (not the engine's way) is seen when a finding names it.
    let (g, root) = Graph::load(named_copy.path(), &LoadOptions::default()).unwrap();
    let rel = "image/overlay2/layerdb/sha256/*/cache-id";
    let file = resolve(named_copy.path(), rel);
    let named = file.strip_prefix(named_copy.path()).unwrap().to_path_buf();
    let finding = vec![Finding::warning(Code::MetadataCorrupt, "test").with_file(&named)];
    assert!(quiet_since(&g, &root, &finding, started));
    let text = std::fs::read(&file).unwrap();
    std::fs::write(&file, text).unwrap();
    assert!(!quiet_since(&g, &root, &finding, started), "{rel} rewritten in place");
    // An info finding's file is not looked at: only warnings and errors are read again.
    let info = vec![Finding::info(Code::MetadataCorrupt, "test").with_file(&named)];
    assert!(quiet_since(&g, &root, &info, started));
}
