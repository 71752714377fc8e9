//! Inputs the fuzzers found, kept as plain tests: each file under
//! `tests/regressions/<target>/` is fed to the parser its fuzz target drives (the same
//! code as `fuzz/fuzz_targets/<target>.rs`), which must not panic; named cases also
//! check the outcome.

use std::path::{Path, PathBuf};
use strata::digest::{chain_ids, DiffId, Digest};
use strata::reference::Reference;
use strata::store::containers::parse_container_config;
use strata::store::distribution::V2Metadata;
use strata::store::graphdriver::{parse_link, parse_lower};
use strata::store::imagedb::parse_config;
use strata::store::layerdb::{
    is_safe_dir_name, parse_cache_id, parse_diff, parse_mount_id, parse_parent, parse_size,
};
use strata::store::repositories::parse_repositories;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions").join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_else(|_| Vec::new());
    out.sort();
    out.into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn one(target: &str, data: &[u8]) {
    match target {
        "image_config" => {
            if let Ok(c) = parse_config(data) {
                if let Some(ids) = &c.diff_ids {
                    assert_eq!(chain_ids(ids).len(), ids.len());
                }
                serde_json::to_vec(&c).unwrap();
            }
        }
        "repositories" => {
            if let Ok(records) = parse_repositories(data) {
                for r in records.into_iter().filter_map(|r| r.parsed) {
                    assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
                    let _ = r.familiar();
                }
            }
        }
        "v2metadata" => {
            let Some((&which, rest)) = data.split_first() else { return };
            if which & 1 == 0 {
                if let Ok(v) = serde_json::from_slice::<Vec<V2Metadata>>(rest) {
                    let back: Vec<V2Metadata> =
                        serde_json::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap();
                    assert_eq!(back, v);
                }
            } else if let Ok(s) = std::str::from_utf8(rest) {
                if let Ok(d) = DiffId::parse(s) {
                    assert_eq!(d.to_string(), s);
                }
            }
        }
        "layerdb_files" => {
            let Some((&which, rest)) = data.split_first() else { return };
            let Ok(text) = std::str::from_utf8(rest) else { return };
            match which % 7 {
                0 => drop(parse_diff(text)),
                1 => drop(parse_size(text)),
                2 => {
                    if let Ok(c) = parse_cache_id(text) {
                        assert!(is_safe_dir_name(&c));
                    }
                }
                3 => drop(parse_parent(text)),
                4 => drop(parse_mount_id(text)),
                5 => drop(parse_link(text)),
                _ => drop(parse_lower(text)),
            }
        }
        "container_config" => {
            if let Ok(c) = parse_container_config(data) {
                if let Some(s) = c.state {
                    let _ = (s.status(), s.is_active());
                }
            }
        }
        "reference" => {
            let Ok(s) = std::str::from_utf8(data) else { return };
            if let Ok(r) = Reference::parse(s) {
                assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
                let _ = r.familiar();
            }
        }
        "digest" => {
            let Ok(s) = std::str::from_utf8(data) else { return };
            if let Ok(d) = Digest::parse(s) {
                assert_eq!(d.to_string(), s);
            }
        }
        "registry_manifest" => {
            let d = Digest::of(data);
            let m = strata::store::registry::parse_manifest(d, data);
            assert_eq!(m.digest, d);
            serde_json::to_vec(&m).unwrap();
        }
        "tar_split" => {
            use std::io::Write;
            use strata::tarsplit::{clean_layer_path, Entry, HeaderTracker, TarSplitReader};
            let Some((&mode, rest)) = data.split_first() else { return };
            let gz = if mode & 1 == 0 {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(rest).unwrap();
                e.finish().unwrap()
            } else {
                rest.to_vec()
            };
            let limits = strata::fsread::Limits {
                max_metadata_bytes: 1 << 20,
                max_tar_split_bytes: 8 << 20,
                max_tar_split_entries: 20_000,
            };
            let mut reader = TarSplitReader::new(&gz[..], limits);
            let mut headers = HeaderTracker::new(1 << 20);
            let mut n = 0u64;
            loop {
                match reader.next_entry() {
                    Ok(Some(Entry::Segment(b))) => headers.push_segment(&b),
                    Ok(Some(Entry::File { name, size, .. })) => {
                        let _ = headers.take(size);
                        let _ = clean_layer_path(&name);
                    }
                    Ok(None) | Err(_) => break,
                }
                n += 1;
                assert!(n <= limits.max_tar_split_entries);
            }
        }
        other => panic!("no regression driver for fuzz target {other}"),
    }
}

/// Every kept input of every target goes through its parser without a panic.
#[test]
fn every_kept_input_parses_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if !entry.path().is_dir() {
            continue;
        }
        let target = entry.file_name().into_string().unwrap();
        for (path, data) in inputs(&target) {
            let r = std::panic::catch_unwind(|| one(&target, &data));
            assert!(r.is_ok(), "{} panicked", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs found under {}", dir.display());
}

/// Found by the `reference` target: Docker's familiar form of
/// `docker.io/ucker.io/user/apser/app` is `ucker.io/user/apser/app`, whose first
/// component then reads as a registry host. strata prints what Docker prints (the
/// ambiguity is distribution/reference's); the normal form stays exact.
#[test]
fn familiar_form_of_a_dotted_docker_hub_path_is_dockers() {
    let data = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/regressions/reference/familiar-ambiguous-docker-io-host"),
    )
    .unwrap();
    let r = Reference::parse(std::str::from_utf8(&data).unwrap()).unwrap();
    assert_eq!(r.name, "docker.io/ucker.io/user/apser/app");
    assert_eq!(r.familiar(), "ucker.io/user/apser/app");
    assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
}
