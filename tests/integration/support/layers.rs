//! Builds real layers for the verify tests: a directory tree, a tar of it made by
//! GNU tar, its tar-split made by Debian's `tar-split disasm`, and a fake data-root
//! with the layer unpacked where a graphdriver would keep it.

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use strata::digest::{chain_id, ChainId, DiffId, Digest};
use strata::fsread::SafeDir;
use strata::store::graphdriver::DriverKind;
use strata::verify::{verify_layers, LayerJob, LayerResult, VerifyOptions};

pub use super::is_root;

/// True when the external tools exist; otherwise [`super::skip`]s (a failure under
/// `STRATA_REQUIRE_ALL_TESTS`) and returns false.
#[track_caller]
pub fn tools_present() -> bool {
    super::tools_or_skip(
        &[("tar-split", "--version"), ("tar", "--version")],
        "apt-get install -y tar-split",
    )
}

pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A deterministic pseudo-random blob.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
        .collect()
}

/// The standard tree: long names, a non-UTF-8 name, links, an empty file, a FIFO,
/// files big enough to take the chunked hashing path.
pub fn populate(src: &Path) {
    let w = |rel: &[u8], data: &[u8]| {
        let p = src.join(std::ffi::OsStr::from_bytes(rel));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w(b"etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n");
    w(b"bin/hello", &noise(600 << 10, 1));
    w(b"bin/big", &noise((3 << 20) + 123, 2));
    w(b"empty", b"");
    let long = format!("long/{}", "n".repeat(150));
    w(long.as_bytes(), b"long name\n");
    w(b"caf\xe9", b"latin-1 name\n");
    w(b"odd/a<b>&c", b"json escapes\n");
    w(b"dir/sub/file", b"deep\n");
    std::os::unix::fs::symlink("etc/passwd", src.join("link")).unwrap();
    std::fs::hard_link(src.join("etc/passwd"), src.join("hard")).unwrap();
    nix::unistd::mkfifo(&src.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o644))
        .unwrap();
    let _ = xattr::set(src.join("etc/passwd"), "user.note", b"hello");
}

/// One layer laid out in a fake data-root.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub tar: PathBuf,
    pub job: LayerJob,
}

impl Fixture {
    pub fn content(&self) -> PathBuf {
        self.root.join(&self.job.content_dir)
    }
    pub fn tar_split(&self) -> PathBuf {
        self.root.join(&self.job.tar_split)
    }
    pub fn verify(&self, opts: &VerifyOptions) -> LayerResult {
        verify_all(&self.root, std::slice::from_ref(&self.job), opts).remove(0)
    }
}

pub fn verify_all(root: &Path, jobs: &[LayerJob], opts: &VerifyOptions) -> Vec<LayerResult> {
    let dir = SafeDir::open_root(root).unwrap();
    verify_layers(&dir, jobs, opts, None)
}

pub fn sha256_file(p: &Path) -> Digest {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Digest::from_bytes(h.finalize().into())
}

/// Tars `src` (`tar_args` picks the format), disassembles it and unpacks it as
/// layer `cache_id` of `driver` under `root`, on top of `parent`.
pub fn add_layer(
    root: &Path,
    work: &Path,
    src: &Path,
    tar_args: &[&str],
    driver: DriverKind,
    cache_id: &str,
    parent: Option<&ChainId>,
) -> (LayerJob, PathBuf) {
    add_layer_of(root, work, src, &["."], tar_args, driver, cache_id, parent)
}

/// As [`add_layer`], tarring only `members` of `src` (Docker's own layer tars have
/// no `./` entry, for instance).
#[allow(clippy::too_many_arguments)]
pub fn add_layer_of(
    root: &Path,
    work: &Path,
    src: &Path,
    members: &[&str],
    tar_args: &[&str],
    driver: DriverKind,
    cache_id: &str,
    parent: Option<&ChainId>,
) -> (LayerJob, PathBuf) {
    let tar = work.join(format!("{cache_id}.tar"));
    run(Command::new("tar").args(tar_args).arg("-C").arg(src).arg("-cf").arg(&tar).args(members));
    let diff_id = DiffId(sha256_file(&tar));
    let chain = chain_id(parent, &diff_id);
    let layerdb = PathBuf::from(format!("image/{}/layerdb/sha256/{}", driver.name(), chain.hex()));
    std::fs::create_dir_all(root.join(&layerdb)).unwrap();
    let ts = layerdb.join("tar-split.json.gz");
    run(Command::new("tar-split")
        .args(["disasm", "--no-stdout", "--output"])
        .arg(root.join(&ts))
        .arg(&tar));
    let content = driver.content_dir(cache_id);
    std::fs::create_dir_all(root.join(&content)).unwrap();
    let owner = if is_root() { "--same-owner" } else { "--no-same-owner" };
    run(Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", owner, "-xpf"])
        .arg(&tar)
        .arg("-C")
        .arg(root.join(&content)));
    let job = LayerJob {
        chain_id: chain,
        diff_id,
        tar_split: ts,
        content_dir: content,
        driver,
        lower_tar_splits: Some(Vec::new()),
        blob: None,
    };
    (job, tar)
}

/// The standard tree as one overlay2 layer, in POSIX (PAX) format.
pub fn overlay_fixture() -> Fixture {
    fixture_with(&["--format=posix", "--xattrs"], populate)
}

pub fn fixture_with(tar_args: &[&str], fill: impl FnOnce(&Path)) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    fill(&src);
    let root = tmp.path().join("root");
    let (job, tar) =
        add_layer(&root, tmp.path(), &src, tar_args, DriverKind::Overlay2, &"c".repeat(64), None);
    Fixture { tmp, root, tar, job }
}

pub fn read_tar_split(p: &Path) -> Vec<serde_json::Value> {
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(p).unwrap()).read_to_string(&mut text).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub fn write_tar_split(p: &Path, entries: &[serde_json::Value]) {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    for v in entries {
        writeln!(e, "{v}").unwrap();
    }
    std::fs::write(p, e.finish().unwrap()).unwrap();
}

/// Findings as (code, path, severity) for compact assertions.
pub fn summary(r: &LayerResult) -> Vec<(String, String, String)> {
    r.findings
        .iter()
        .map(|f| (f.code.to_string(), f.path.clone().unwrap_or_default(), f.severity.to_string()))
        .collect()
}
