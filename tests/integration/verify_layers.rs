//! End-to-end checks of `strata::verify` on layers built with GNU tar and
//! Debian's tar-split, then tampered with the way an intruder would.

use crate::support::layers::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use strata::finding::Severity;
use strata::store::graphdriver::DriverKind;
use strata::verify::{VerifyOptions, VerifyStatus};

fn full() -> VerifyOptions {
    VerifyOptions::default()
}

fn has(r: &strata::verify::LayerResult, code: &str, path: &str) -> bool {
    summary(r).iter().any(|(c, p, _)| c == code && p == path)
}

#[test]
fn clean_layer_verifies_and_matches_tar_split_asm() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let r = fx.verify(&full());
    assert_eq!(summary(&r), vec![], "{:#?}", r.findings);
    assert_eq!(r.status, VerifyStatus::Verified);
    assert_eq!(r.computed_diff_id, Some(fx.job.diff_id));
    assert_eq!(r.bytes, std::fs::metadata(&fx.tar).unwrap().len());

    // The peer implementation rebuilds the same bytes from the same inputs.
    let out = Command::new("tar-split")
        .args(["asm", "--output", "-", "--input"])
        .arg(fx.tar_split())
        .arg("--path")
        .arg(fx.content())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len() as u64, r.bytes);
    assert_eq!(strata::digest::Digest::of(&out.stdout), fx.job.diff_id.0);

    // Byte for byte: ours, the peer's, and the original tar.
    let mut ours = Vec::new();
    let dir = strata::fsread::SafeDir::open_root(&fx.root).unwrap();
    let again = strata::verify::reassemble_layer(&dir, &fx.job, &full(), None, &mut ours).unwrap();
    assert_eq!(again.status, VerifyStatus::Verified);
    assert!(ours == out.stdout, "reassembled stream differs from tar-split asm");
    assert!(
        ours == std::fs::read(&fx.tar).unwrap(),
        "reassembled stream differs from the original tar"
    );
}

#[test]
fn reassembly_reports_a_failing_sink() {
    if !tools_present() {
        return;
    }
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let fx = overlay_fixture();
    let dir = strata::fsread::SafeDir::open_root(&fx.root).unwrap();
    assert!(strata::verify::reassemble_layer(&dir, &fx.job, &full(), None, &mut Full).is_err());
}

#[test]
fn gnu_format_with_long_names_verifies() {
    if !tools_present() {
        return;
    }
    let fx = fixture_with(&["--format=gnu"], populate);
    let r = fx.verify(&full());
    assert_eq!(summary(&r), vec![], "{:#?}", r.findings);
    assert_eq!(r.status, VerifyStatus::Verified);
}

#[test]
fn same_size_edit_is_pinpointed() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let p = fx.content().join("bin/big");
    let mut data = std::fs::read(&p).unwrap();
    data[2 << 20] ^= 1;
    std::fs::write(&p, &data).unwrap();
    let r = fx.verify(&full());
    assert_eq!(r.status, VerifyStatus::Mismatch);
    assert!(has(&r, "layer-file-modified", "bin/big"), "{:#?}", r.findings);
    assert!(has(&r, "diff-id-mismatch", ""), "{:#?}", r.findings);
    let errors: Vec<_> = r.findings.iter().filter(|f| f.severity == Severity::Error).collect();
    assert_eq!(errors.len(), 2, "only the edited file and the DiffID: {errors:#?}");
    assert_ne!(r.computed_diff_id, Some(fx.job.diff_id));
}

#[test]
fn planted_file_is_reported_added() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    std::fs::write(fx.content().join("etc/cron.evil"), b"* * * * * root sh\n").unwrap();
    std::fs::create_dir_all(fx.content().join("dir/sub/.hidden/x")).unwrap();
    let r = fx.verify(&full());
    // The tar stream itself is intact: the DiffID still matches, which is why the walk matters.
    assert_eq!(r.computed_diff_id, Some(fx.job.diff_id));
    assert_eq!(r.status, VerifyStatus::Mismatch);
    assert!(has(&r, "layer-file-added", "etc/cron.evil"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-added", "dir/sub/.hidden"), "{:#?}", r.findings);
    // A planted directory hides nothing: every entry in it is named too.
    assert!(has(&r, "layer-file-added", "dir/sub/.hidden/x"), "{:#?}", r.findings);
}

#[test]
fn removed_file_is_reported_missing() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    std::fs::remove_file(fx.content().join("dir/sub/file")).unwrap();
    std::fs::remove_file(fx.content().join("empty")).unwrap();
    let r = fx.verify(&full());
    assert_eq!(r.status, VerifyStatus::Mismatch);
    assert!(has(&r, "layer-file-missing", "dir/sub/file"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-missing", "empty"), "{:#?}", r.findings);
    assert!(has(&r, "diff-id-mismatch", ""));
}

#[test]
fn file_swapped_for_symlink_to_outside_fifo_finishes() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let fifo = fx.tmp.path().join("outside-fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let victim = fx.content().join("bin/hello");
    std::fs::remove_file(&victim).unwrap();
    std::os::unix::fs::symlink(&fifo, &victim).unwrap();
    // A FIFO inside the layer where a file belongs, too.
    let big = fx.content().join("bin/big");
    std::fs::remove_file(&big).unwrap();
    nix::unistd::mkfifo(&big, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    let root = fx.root.clone();
    let job = fx.job.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(verify_all(&root, &[job], &VerifyOptions::default()).remove(0));
    });
    let r = rx.recv_timeout(Duration::from_secs(30)).expect("verify hung on a FIFO");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(has(&r, "layer-file-modified", "bin/hello"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-modified", "bin/big"), "{:#?}", r.findings);
    assert_eq!(r.status, VerifyStatus::Mismatch);
}

#[test]
fn escaping_name_is_refused_and_never_opened() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let mut entries = read_tar_split(&fx.tar_split());
    let e = entries.iter_mut().find(|e| e["name"] == "./etc/passwd").unwrap();
    e["name"] = "../../../../../../etc/shadow".into();
    write_tar_split(&fx.tar_split(), &entries);
    let r = fx.verify(&full());
    assert!(has(&r, "path-escape", "../../../../../../etc/shadow"), "{:#?}", r.findings);
    assert_eq!(r.status, VerifyStatus::Mismatch);
}

#[test]
fn tar_split_disagreeing_with_its_own_headers_is_corrupt() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let mut entries = read_tar_split(&fx.tar_split());
    let e = entries.iter_mut().find(|e| e["name"] == "./bin/hello").unwrap();
    e["size"] = 7.into();
    let e = entries.iter_mut().find(|e| e["name"] == "./empty").unwrap();
    e["name"] = "./etc/passwd.bak".into();
    write_tar_split(&fx.tar_split(), &entries);
    let r = fx.verify(&full());
    assert!(has(&r, "tar-split-corrupt", "bin/hello"), "{:#?}", r.findings);
    assert!(has(&r, "tar-split-corrupt", "etc/passwd.bak"), "{:#?}", r.findings);
    assert_eq!(r.status, VerifyStatus::Mismatch);
}

#[test]
fn truncated_or_missing_tar_split_is_unverifiable() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let bytes = std::fs::read(fx.tar_split()).unwrap();
    std::fs::write(fx.tar_split(), &bytes[..bytes.len() / 2]).unwrap();
    let r = fx.verify(&full());
    assert_eq!(r.status, VerifyStatus::Unverifiable);
    assert_eq!(r.computed_diff_id, None);
    assert_eq!(
        summary(&r).iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        vec!["tar-split-corrupt"]
    );

    std::fs::remove_file(fx.tar_split()).unwrap();
    let r = fx.verify(&full());
    assert_eq!(r.status, VerifyStatus::Unverifiable);
    assert_eq!(summary(&r)[0].0, "tar-split-missing");

    std::fs::remove_dir_all(fx.content()).unwrap();
    let r = fx.verify(&full());
    assert_eq!(r.status, VerifyStatus::Unverifiable);
    assert_eq!(summary(&r)[0].0, "layer-content-missing");
}

#[test]
fn tar_split_limits_become_findings() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let mut opts = full();
    opts.limits.max_tar_split_entries = 5;
    let r = fx.verify(&opts);
    assert_eq!(r.status, VerifyStatus::Unverifiable);
    assert!(has(&r, "limit-exceeded", ""), "{:#?}", r.findings);
}

#[test]
fn chmod_and_chown_are_warnings_not_errors() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    std::fs::set_permissions(
        fx.content().join("etc/passwd"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    std::fs::set_permissions(
        fx.content().join("bin/hello"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    let r = fx.verify(&full());
    assert_eq!(r.status, VerifyStatus::Verified, "{:#?}", r.findings);
    assert!(has(&r, "layer-metadata-modified", "etc/passwd"));
    assert!(has(&r, "layer-metadata-modified", "bin/hello"));
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning), "{:#?}", r.findings);
}

#[test]
fn retargeted_symlink_and_broken_hardlink_are_metadata_drift() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let link = fx.content().join("link");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", &link).unwrap();
    let hard = fx.content().join("hard");
    let data = std::fs::read(&hard).unwrap();
    std::fs::remove_file(&hard).unwrap();
    std::fs::write(&hard, data).unwrap();
    let r = fx.verify(&full());
    assert!(has(&r, "layer-metadata-modified", "link"), "{:#?}", r.findings);
    assert!(has(&r, "layer-metadata-modified", "hard"), "{:#?}", r.findings);
}

#[test]
fn directory_mtime_is_info_file_mtime_is_warning() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let t = nix::sys::time::TimeSpec::new(1_000_000_000, 0);
    for p in ["dir/sub", "etc/passwd"] {
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &fx.content().join(p),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
    let r = fx.verify(&full());
    let s = summary(&r);
    assert!(
        s.contains(&("layer-metadata-modified".into(), "dir/sub".into(), "info".into())),
        "{s:#?}"
    );
    assert!(
        s.contains(&("layer-metadata-modified".into(), "etc/passwd".into(), "warning".into())),
        "{s:#?}"
    );
    assert_eq!(r.status, VerifyStatus::Verified);
}

#[test]
fn xattr_changes_are_reported() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let passwd = fx.content().join("etc/passwd");
    if xattr::get(&passwd, "user.note").ok().flatten().is_none() {
        skip!("the filesystem does not keep user xattrs");
    }
    xattr::set(&passwd, "user.note", b"changed").unwrap();
    xattr::set(fx.content().join("bin/hello"), "user.planted", b"1").unwrap();
    let r = fx.verify(&full());
    assert!(has(&r, "layer-metadata-modified", "etc/passwd"), "{:#?}", r.findings);
    assert!(has(&r, "layer-metadata-modified", "bin/hello"), "{:#?}", r.findings);
    assert_eq!(r.status, VerifyStatus::Verified);
}

#[test]
fn quick_mode_checks_sizes_and_types_only() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let quick = VerifyOptions { quick: true, ..VerifyOptions::default() };
    let r = fx.verify(&quick);
    assert_eq!((r.status, r.computed_diff_id, summary(&r)), (VerifyStatus::Checked, None, vec![]));
    assert_eq!(r.bytes, std::fs::metadata(&fx.tar).unwrap().len());

    let p = fx.content().join("bin/hello");
    let mut data = std::fs::read(&p).unwrap();
    data[7] ^= 0xff;
    std::fs::write(&p, &data).unwrap();
    assert_eq!(fx.verify(&quick).status, VerifyStatus::Checked, "same-size edits need hashing");
    data.push(0);
    std::fs::write(&p, &data).unwrap();
    let r = fx.verify(&quick);
    assert_eq!(r.status, VerifyStatus::Mismatch);
    assert!(has(&r, "layer-file-modified", "bin/hello"));
}

#[test]
fn overlay_whiteouts_and_opaque_dirs() {
    if !tools_present() {
        return;
    }
    require_root!();
    let fx = fixture_with(&["--format=posix"], |src| {
        std::fs::create_dir_all(src.join("etc")).unwrap();
        std::fs::write(src.join("etc/.wh.gone"), b"").unwrap();
        std::fs::create_dir_all(src.join("opq")).unwrap();
        std::fs::write(src.join("opq/.wh..wh..opq"), b"").unwrap();
        std::fs::write(src.join("opq/kept"), b"k").unwrap();
    });
    // What overlay2's ApplyDiff leaves instead of the literal markers.
    let diff = fx.content();
    std::fs::remove_file(diff.join("etc/.wh.gone")).unwrap();
    run(Command::new("mknod").arg(diff.join("etc/gone")).args(["c", "0", "0"]));
    std::fs::remove_file(diff.join("opq/.wh..wh..opq")).unwrap();
    xattr::set(diff.join("opq"), "trusted.overlay.opaque", b"y").unwrap();
    let r = fx.verify(&full());
    assert_eq!(r.status, VerifyStatus::Verified, "{:#?}", r.findings);
    assert!(r.findings.iter().all(|f| f.severity == Severity::Info), "{:#?}", r.findings);

    // Tampered: whiteout removed, opaque marker dropped, a whiteout planted.
    std::fs::remove_file(diff.join("etc/gone")).unwrap();
    xattr::remove(diff.join("opq"), "trusted.overlay.opaque").unwrap();
    run(Command::new("mknod").arg(diff.join("etc/shadow")).args(["c", "0", "0"]));
    xattr::set(diff.join("etc"), "trusted.overlay.opaque", b"y").unwrap();
    let r = fx.verify(&full());
    assert!(has(&r, "layer-file-missing", "etc/gone"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-missing", "opq/.wh..wh..opq"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-added", "etc/shadow"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-added", "etc/.wh..wh..opq"), "{:#?}", r.findings);
    assert_eq!(r.status, VerifyStatus::Mismatch);
}

#[test]
fn literal_whiteouts_for_fuse_overlayfs() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/.wh.gone"), b"").unwrap();
    std::fs::write(src.join("etc/keep"), b"x").unwrap();
    let root = tmp.path().join("root");
    let (job, _) = add_layer(
        &root,
        tmp.path(),
        &src,
        &["--format=posix"],
        DriverKind::FuseOverlayfs,
        &"f".repeat(64),
        None,
    );
    let r = verify_all(&root, std::slice::from_ref(&job), &full()).remove(0);
    assert_eq!((r.status, summary(&r)), (VerifyStatus::Verified, vec![]));
    std::fs::remove_file(root.join(&job.content_dir).join("etc/.wh.gone")).unwrap();
    let r = verify_all(&root, &[job], &full()).remove(0);
    assert!(has(&r, "layer-file-missing", "etc/.wh.gone"), "{:#?}", r.findings);
}

/// vfs keeps the whole filesystem per layer: drift is judged against the chain.
#[test]
fn vfs_drift_is_computed_against_the_chain() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let base = tmp.path().join("base");
    std::fs::create_dir_all(base.join("etc")).unwrap();
    std::fs::write(base.join("etc/a"), b"a").unwrap();
    std::fs::write(base.join("etc/doomed"), b"d").unwrap();
    std::fs::write(base.join("etc/grow"), b"g").unwrap();
    let (lower, _) = add_layer(
        &root,
        tmp.path(),
        &base,
        &["--format=posix"],
        DriverKind::Vfs,
        &"1".repeat(64),
        None,
    );

    let top = tmp.path().join("top");
    std::fs::create_dir_all(top.join("etc")).unwrap();
    std::fs::write(top.join("etc/.wh.doomed"), b"").unwrap();
    std::fs::write(top.join("etc/b"), b"b").unwrap();
    // Like Docker's own layer tars, the top one has no `./` member: the root is inherited.
    let (mut job, top_tar) = add_layer_of(
        &root,
        tmp.path(),
        &top,
        &["etc"],
        &["--format=posix"],
        DriverKind::Vfs,
        &"2".repeat(64),
        Some(&lower.chain_id),
    );
    // vfs: the top directory is a copy of the lower one with the diff applied.
    let dir = root.join(&job.content_dir);
    std::fs::remove_dir_all(&dir).unwrap();
    run(Command::new("cp").arg("-a").arg(root.join(&lower.content_dir)).arg(&dir));
    run(Command::new("tar").arg("-xpf").arg(&top_tar).arg("-C").arg(&dir).arg("--exclude=*.wh.*"));
    std::fs::remove_file(dir.join("etc/doomed")).unwrap();
    // Applying a layer ends by restoring directory times from the tar; do the same, or
    // the removal above moves `etc`'s mtime whenever it lands in a later second.
    run(Command::new("touch").arg("-r").arg(top.join("etc")).arg(dir.join("etc")));
    job.lower_tar_splits = Some(vec![lower.tar_split.clone()]);

    let r = verify_all(&root, &[lower.clone(), job.clone()], &full());
    assert_eq!(summary(&r[0]), vec![]);
    assert_eq!(
        (r[1].status, summary(&r[1])),
        (VerifyStatus::Verified, vec![]),
        "{:#?}",
        r[1].findings
    );

    std::fs::write(dir.join("etc/doomed"), b"back from the dead").unwrap();
    std::fs::remove_file(dir.join("etc/a")).unwrap();
    std::fs::write(dir.join("planted"), b"x").unwrap();
    std::fs::write(dir.join("etc/grow"), b"grown").unwrap();
    let r = verify_all(&root, std::slice::from_ref(&job), &full()).remove(0);
    assert!(has(&r, "layer-file-added", "etc/doomed"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-added", "planted"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-missing", "etc/a"), "{:#?}", r.findings);
    assert!(has(&r, "layer-file-modified", "etc/grow"), "{:#?}", r.findings);
    assert_eq!(r.computed_diff_id, Some(job.diff_id));

    job.lower_tar_splits = None;
    // The writes above moved `etc`'s time unless they landed in the tar's second.
    run(Command::new("touch").arg("-r").arg(top.join("etc")).arg(dir.join("etc")));
    let r = verify_all(&root, &[job], &full()).remove(0);
    assert_eq!(summary(&r), vec![("layer-file-added".into(), "".into(), "info".into())]);
}

#[test]
fn many_layers_in_parallel_keep_job_order_and_report_progress() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let mut jobs = Vec::new();
    for i in 0..6 {
        let mut j = fx.job.clone();
        if i % 2 == 1 {
            j.content_dir = Path::new("overlay2/nope/diff").into();
        }
        jobs.push(j);
    }
    let done = std::sync::atomic::AtomicU64::new(0);
    let dir = strata::fsread::SafeDir::open_root(&fx.root).unwrap();
    let opts = VerifyOptions { jobs: 2, ..VerifyOptions::default() };
    let hook = |n: u64| {
        done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    };
    let r = strata::verify::verify_layers(&dir, &jobs, &opts, Some(&hook));
    let statuses: Vec<_> = r.iter().map(|r| r.status).collect();
    use VerifyStatus::*;
    assert_eq!(
        statuses,
        vec![Verified, Unverifiable, Verified, Unverifiable, Verified, Unverifiable]
    );
    assert_eq!(done.into_inner(), 3 * r[0].bytes);
}

/// Hostile tar-split files: random damage to the JSON, the base64 and the tar
/// headers inside it must end in findings, never a panic or a hang.
#[test]
fn mutated_tar_splits_never_panic() {
    if !tools_present() {
        return;
    }
    let fx = fixture_with(&["--format=posix"], |src| {
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::write(src.join("d/f"), noise(5000, 3)).unwrap();
        std::os::unix::fs::symlink("d/f", src.join("l")).unwrap();
        std::fs::write(src.join("x".repeat(120)), b"long").unwrap();
    });
    let pristine = read_tar_split(&fx.tar_split());
    let text: String = pristine.iter().map(|v| format!("{v}\n")).collect();
    let mut seed = 0x9e37_79b9_u32;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as usize % n.max(1)
    };
    let alphabet = b"{}[]\":,0123456789-+eE.nulltrue AZaz/=\\\n\x00\xff";
    let started = Instant::now();
    let mut outcomes = std::collections::BTreeMap::new();
    // STRATA_FUZZ_ROUNDS=20000 for a longer soak.
    let rounds: usize =
        std::env::var("STRATA_FUZZ_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    for round in 0..rounds {
        let mut bytes = text.clone().into_bytes();
        if round % 3 == 0 {
            // Damage a decoded segment (tar header bytes) and re-encode it validly.
            let mut entries = pristine.clone();
            let segs: Vec<usize> = (0..entries.len())
                .filter(|&i| entries[i]["type"] == 2 && entries[i]["payload"] != "")
                .collect();
            let i = segs[rnd(segs.len())];
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut raw = b64.decode(entries[i]["payload"].as_str().unwrap()).unwrap();
            for _ in 0..1 + rnd(8) {
                let at = rnd(raw.len());
                raw[at] = rnd(256) as u8;
            }
            entries[i]["payload"] = b64.encode(&raw).into();
            bytes = entries.iter().map(|v| format!("{v}\n")).collect::<String>().into_bytes();
        } else {
            for _ in 0..1 + rnd(4) {
                let at = rnd(bytes.len());
                match rnd(3) {
                    0 => bytes[at] = alphabet[rnd(alphabet.len())],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, alphabet[rnd(alphabet.len())]),
                }
            }
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, &bytes).unwrap();
        std::fs::write(fx.tar_split(), e.finish().unwrap()).unwrap();
        let r = fx.verify(&full());
        *outcomes.entry(format!("{:?}", r.status)).or_insert(0) += 1;
        if r.status == VerifyStatus::Verified {
            // Only harmless damage may still verify (e.g. whitespace, a changed "position").
            assert_eq!(r.computed_diff_id, Some(fx.job.diff_id));
        }
    }
    assert!(started.elapsed() < Duration::from_secs(120 + rounds as u64 / 10));
    // The damage reached both the JSON layer and the tar layer.
    assert!(outcomes.get("Unverifiable").copied().unwrap_or(0) > 20, "{outcomes:?}");
    assert!(outcomes.get("Mismatch").copied().unwrap_or(0) > 20, "{outcomes:?}");
}

#[test]
fn unmounted_zfs_dataset_is_content_missing_not_every_file_missing() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let mut job = fx.job.clone();
    job.driver = DriverKind::Zfs;
    let r = verify_all(&fx.root, &[job], &full()).remove(0);
    assert_eq!(r.status, VerifyStatus::Unverifiable);
    assert_eq!(
        summary(&r).iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        vec!["layer-content-missing"]
    );
}

#[test]
fn huge_sparse_replacement_is_not_read_to_the_end() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let f = std::fs::OpenOptions::new().write(true).open(fx.content().join("bin/hello")).unwrap();
    f.set_len(1 << 40).unwrap(); // 1 TiB, sparse
    let started = Instant::now();
    let r = fx.verify(&full());
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    assert!(has(&r, "layer-file-modified", "bin/hello"), "{:#?}", r.findings);
    let msg = &r.findings.iter().find(|f| f.path.as_deref() == Some("bin/hello")).unwrap().message;
    assert!(msg.contains("larger than"), "{msg}");
    assert_eq!(r.status, VerifyStatus::Mismatch);

    // A small append keeps moby's exact semantics: the whole file is hashed.
    f.set_len((600 << 10) + 10).unwrap();
    let r = fx.verify(&full());
    let msg = &r.findings.iter().find(|f| f.path.as_deref() == Some("bin/hello")).unwrap().message;
    assert!(msg.contains("size is 614410 bytes on disk"), "{msg}");
}

#[test]
fn findings_per_layer_are_capped() {
    if !tools_present() {
        return;
    }
    let fx = overlay_fixture();
    let dir = fx.content().join("dir/sub");
    let n = strata::verify::MAX_FINDINGS_PER_LAYER + 25;
    for i in 0..n {
        std::fs::write(dir.join(format!("planted-{i:06}")), b"").unwrap();
    }
    // Break the stream too: the DiffID verdict comes last and must survive the cap.
    std::fs::write(fx.content().join("etc/passwd"), b"root::0:0:root:/root:/bin/sh\n").unwrap();
    let r = fx.verify(&full());
    assert!(has(&r, "diff-id-mismatch", ""), "the verdict was dropped");
    assert_eq!(r.findings.len(), strata::verify::MAX_FINDINGS_PER_LAYER + 2);
    let last = r.findings.last().unwrap();
    assert_eq!(last.code.to_string(), "limit-exceeded");
    // At least the 25 planted files over the cap (mtime findings come on top).
    let dropped: usize = last.message.split(' ').next().unwrap().parse().unwrap();
    assert!((25..40).contains(&dropped), "{}", last.message);
    assert_eq!(r.status, VerifyStatus::Mismatch);
}

/// A PAX global header is its own tar-split entry, and its padding lands in the
/// next entry's segment (Go's reader defers it): neither may confuse the headers.
#[test]
fn pax_global_header_verifies_clean() {
    if !tools_present() {
        return;
    }
    let fx = fixture_with(&["--format=posix", "--pax-option=comment=a global record"], |src| {
        std::fs::write(src.join("f"), b"after the global header\n").unwrap();
        std::fs::create_dir(src.join("d")).unwrap();
    });
    let r = fx.verify(&full());
    assert_eq!((r.status, summary(&r)), (VerifyStatus::Verified, vec![]), "{:#?}", r.findings);
    std::fs::set_permissions(fx.content().join("f"), std::fs::Permissions::from_mode(0o600))
        .unwrap();
    assert!(
        has(&fx.verify(&full()), "layer-metadata-modified", "f"),
        "headers after the global one are still read"
    );
}
