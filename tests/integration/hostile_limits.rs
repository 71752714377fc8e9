//! Limits: no metadata file is read past `--max-metadata-bytes`; a file over it is a
//! `limit-exceeded` finding naming it, found fast (from its size, without reading
//! it), never an abort and never an out-of-memory.

use crate::support::hostile::*;
use crate::support::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use strata::finding::Code;
use strata::fsread::Limits;
use strata::graph::{Graph, LoadOptions};

/// Makes `rel` a sparse file of `len` bytes (its old content first, so it is still
/// the same file but for its size).
fn inflate(root: &Path, rel: &Path, len: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(root.join(rel)).unwrap();
    f.set_len(len).unwrap();
}

fn load(root: &Path, max: u64) -> Graph {
    let opts = LoadOptions {
        driver: None,
        limits: Limits { max_metadata_bytes: max, ..Limits::default() },
        ..Default::default()
    };
    Graph::load(root, &opts).unwrap().0
}

/// Every kind of metadata file, one at a time, just over a 1 MiB limit: a
/// limit-exceeded finding naming that very file.
#[test]
fn every_metadata_file_is_capped() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    // Files strata does not read as metadata: the layer tar-split (streamed, with its
    // own limits) and files inside layers (hashed, not loaded).
    let picked: Vec<_> = pick_files(root)
        .into_iter()
        .filter(|(label, _)| !matches!(*label, "tar-split" | "file in a layer diff"))
        .collect();
    assert!(picked.len() >= 14, "{picked:?}");
    let limit = 1 << 20;
    let clean = load(root, limit);
    assert!(clean.findings.iter().all(|f| f.code != Code::LimitExceeded), "{:?}", clean.findings);
    for (label, rel) in picked {
        let saved = std::fs::read(root.join(&rel)).unwrap();
        inflate(root, &rel, limit + 1);
        let g = load(root, limit);
        let hit = g.findings.iter().find(|f| f.code == Code::LimitExceeded);
        let hit = hit.unwrap_or_else(|| {
            panic!(
                "{label} {} over the limit: no limit-exceeded finding in {:#?}",
                rel.display(),
                g.findings
            )
        });
        assert_eq!(hit.file.as_deref(), Some(rel.to_str().unwrap()), "{label}: {hit:?}");
        assert!(
            hit.message.contains("--max-metadata-bytes"),
            "{label}: says how to raise it: {}",
            hit.message
        );
        // At the limit exactly, the file is read (and no limit finding).
        inflate(root, &rel, limit);
        let g = load(root, limit);
        assert!(
            g.findings.iter().all(|f| f.code != Code::LimitExceeded),
            "{label} at the limit: {:?}",
            g.findings
        );
        std::fs::write(root.join(&rel), saved).unwrap();
    }
}

/// A 100 MB image config with a 1 MiB limit, through the binary: the run is quick,
/// says which file and why on stderr, and still lists the other images.
#[test]
fn a_huge_image_config_is_a_finding_not_a_stall() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let (_, config) = pick_files(root).into_iter().find(|(l, _)| *l == "image config").unwrap();
    inflate(root, &config, 100_000_000);
    let args: Vec<String> = ["images", "--format", "json", "--max-metadata-bytes", "1048576"]
        .map(String::from)
        .to_vec();
    let o = run_bounded(root, &args, Duration::from_secs(60));
    assert!(!o.timed_out && o.elapsed < Duration::from_secs(10), "took {:?}", o.elapsed);
    assert!(matches!(o.code, Some(0 | 1)), "exit {:?}: {}", o.code, o.stderr);
    assert!(
        o.stderr.contains(config.to_str().unwrap()) && o.stderr.contains("limit"),
        "stderr: {}",
        o.stderr
    );
    let listed: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let n = listed.as_array().map(Vec::len).unwrap_or(0);
    let all = run_json(&data_root("basic"), &["images"]).as_array().unwrap().len();
    assert_eq!(n, all - 1, "the other images are still listed");
}

/// A 4 GiB metadata file under the default limit, with the address space capped at
/// 1 GiB: strata must not try to read it into memory.
#[test]
fn default_limit_keeps_memory_bounded() {
    require_root!();
    require_tool!("prlimit", "--version", "apt-get install util-linux");
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let files = pick_files(root);
    for label in ["image config", "repositories.json", "container config", "layer diff"] {
        let (_, rel) = files.iter().find(|(l, _)| *l == label).unwrap();
        inflate(root, rel, 4 << 30);
    }
    for cmd in all_commands(&["strata/app:1"]) {
        let start = Instant::now();
        let out = Command::new("prlimit")
            .arg(format!("--as={}", 1u64 << 30))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_strata"))
            .arg("--root")
            .arg(root)
            .args(&cmd)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(start.elapsed() < Duration::from_secs(60), "{cmd:?} took {:?}", start.elapsed());
        assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{cmd:?}: {err}");
        assert!(matches!(out.status.code(), Some(0..=2)), "{cmd:?} exited {:?}: {err}", out.status);
    }
    let g = load(root, Limits::default().max_metadata_bytes);
    let over: Vec<_> = g.findings.iter().filter(|f| f.code == Code::LimitExceeded).collect();
    assert_eq!(over.len(), 4, "{over:#?}");
}

/// Writes `lines` (or raw bytes) gzip-compressed over a layer's tar-split.
fn plant_tar_split(path: &Path, body: &mut dyn FnMut(&mut dyn std::io::Write)) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    body(&mut gz);
    gz.finish().unwrap();
}

/// Findings (anything with a code and a message) anywhere in a JSON document.
fn findings_in(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            if m.contains_key("code") && m.contains_key("message") {
                out.push(v.clone());
            }
            m.values().for_each(|x| findings_in(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| findings_in(x, out)),
        _ => {}
    }
}

/// A tar-split that decompresses past `--max-tar-split-bytes` (a gzip bomb of zeros,
/// and one of blank lines, which the JSON reader skips) or holds more entries than
/// `--max-tar-split-entries`: `verify` and `audit` report limit-exceeded naming the
/// file, promptly, and go on with the other layers.
#[test]
fn tar_split_limits_are_findings() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let (_, ts) = pick_files(root).into_iter().find(|(l, _)| *l == "tar-split").unwrap();
    let ts_s = ts.to_str().unwrap().to_owned();
    let saved = std::fs::read(root.join(&ts)).unwrap();
    let zeros = |w: &mut dyn std::io::Write| {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..200 {
            w.write_all(&chunk).unwrap();
        }
    };
    let blank = |w: &mut dyn std::io::Write| {
        let chunk = vec![b'\n'; 1 << 20];
        for _ in 0..200 {
            w.write_all(&chunk).unwrap();
        }
    };
    let many = |w: &mut dyn std::io::Write| {
        for i in 0..50_000 {
            writeln!(w, r#"{{"type":2,"payload":"AA==","position":{i}}}"#).unwrap();
        }
    };
    type Case = (&'static str, Box<dyn Fn(&mut dyn std::io::Write)>, [&'static str; 2]);
    let cases: Vec<Case> = vec![
        ("200 MB of zeros", Box::new(zeros), ["--max-tar-split-bytes", "1000000"]),
        ("200 MB of blank lines", Box::new(blank), ["--max-tar-split-bytes", "10000000"]),
        ("50000 entries", Box::new(many), ["--max-tar-split-entries", "1000"]),
    ];
    for (what, body, flag) in cases {
        plant_tar_split(&root.join(&ts), &mut |w| body(w));
        for cmd in ["verify", "audit"] {
            let args: Vec<String> =
                [cmd, "--format", "json", flag[0], flag[1]].map(String::from).to_vec();
            let o = run_bounded(root, &args, Duration::from_secs(60));
            assert!(
                !o.timed_out && o.elapsed < Duration::from_secs(20),
                "{what}: {cmd} took {:?}",
                o.elapsed
            );
            assert!(!o.stderr.contains("panicked"), "{what}: {cmd}: {}", o.stderr);
            assert!(
                matches!(o.code, Some(0 | 1)),
                "{what}: {cmd} exited {:?}: {}",
                o.code,
                o.stderr
            );
            let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
            let mut fs = Vec::new();
            findings_in(&v, &mut fs);
            assert!(
                fs.iter().any(|f| f["code"] == "limit-exceeded" && f.to_string().contains(&ts_s)),
                "{what}: {cmd}: no limit-exceeded finding naming {ts_s}: {fs:#?}"
            );
        }
    }
    std::fs::write(root.join(&ts), saved).unwrap();
}
