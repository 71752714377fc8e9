//! Every layer of the real Docker data-roots in `fixtures/` verifies clean, and our
//! reassembly agrees with the peer `tar-split asm` byte for byte.

use crate::support::layers::{tools_present, verify_all};
use std::path::PathBuf;
use std::process::Command;
use strata::graph::{Graph, LoadOptions};
use strata::store::graphdriver::DriverKind;
use strata::verify::LayerJob;
use strata::verify::{VerifyOptions, VerifyStatus};

/// Every layer of `driver`'s store as strata's own reader finds it (the graph),
/// base layers first.
fn layer_jobs(root: &std::path::Path, driver: DriverKind) -> Vec<LayerJob> {
    let opts = LoadOptions { driver: Some(driver.name().to_owned()), ..LoadOptions::default() };
    let g = Graph::load(root, &opts).expect("load the data-root").0;
    let mut jobs: Vec<(usize, LayerJob)> = g
        .layers
        .values()
        .map(|l| {
            let r = &l.record;
            let below: Vec<_> = r.parent.map(|p| g.layer_chain(&p)).unwrap_or_default();
            let job = LayerJob {
                chain_id: l.chain_id(),
                diff_id: r.diff_id.expect("layer diff"),
                tar_split: r.tar_split_path(),
                content_dir: driver.content_dir(r.cache_id.as_deref().expect("layer cache-id")),
                driver,
                lower_tar_splits: Some(
                    below.iter().map(|c| g.layers[c].record.tar_split_path()).collect(),
                ),
                blob: None,
            };
            (below.len(), job)
        })
        .collect();
    jobs.sort_by_key(|(depth, j)| (*depth, j.chain_id));
    jobs.into_iter().map(|(_, j)| j).collect()
}

/// Fixture scenario dirs holding a graphdriver data-root archive.
fn scenarios() -> Vec<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("STRATA_FIXTURES").map(PathBuf::from),
        Some(manifest.join("fixtures")),
        // Where the fixtures are made before they reach main.
        Some(PathBuf::from("/work/wt-fixtures/fixtures")),
    ];
    let Some(base) = candidates.into_iter().flatten().find(|p| p.join("extract.sh").is_file())
    else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&base)
        .map(|d| {
            d.flatten().map(|e| e.path()).filter(|p| p.join("data-root.tar.gz").is_file()).collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `etc/{subuid,subgid,passwd}` of the host a fixture was made on, from its recorded
/// answers, when its engine ran in a user namespace.
fn user_namespace_host(scenario: &std::path::Path) -> Option<tempfile::TempDir> {
    let ans = scenario.join("docker");
    if !ans.join("subuid.txt").is_file() {
        return None;
    }
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir(host.path().join("etc")).unwrap();
    for (from, to) in [
        ("subuid.txt", "subuid"),
        ("subgid.txt", "subgid"),
        ("rootless-passwd.txt", "passwd"),
        ("dockremap-passwd.txt", "passwd"),
    ] {
        if ans.join(from).is_file() {
            std::fs::copy(ans.join(from), host.path().join("etc").join(to)).unwrap();
        }
    }
    Some(host)
}

#[test]
fn every_fixture_layer_verifies_clean() {
    if !tools_present() {
        return;
    }
    let scenarios = scenarios();
    if scenarios.is_empty() {
        skip!("no fixtures/ with data-root archives");
    }
    let mut checked = 0;
    for scenario in scenarios {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let status = Command::new(scenario.parent().unwrap().join("extract.sh"))
            .arg(scenario.join("data-root.tar.gz"))
            .arg(&root)
            .status()
            .unwrap();
        // 77: extract.sh's "cannot unpack faithfully here".
        if status.code() == Some(77) {
            crate::support::skip(&format!(
                "{}: extract.sh cannot unpack faithfully here (needs root)",
                scenario.display()
            ));
            continue;
        }
        assert!(status.success(), "extract {}", scenario.display());
        // A store written in a user namespace (userns-remap, rootless): the host's id
        // ranges as the fixture recorded them, and the store the graph enters.
        let host = user_namespace_host(&scenario);
        let load = LoadOptions {
            host_root: host.as_ref().map(|h| h.path().to_path_buf()),
            ..LoadOptions::default()
        };
        let (g, safe) = Graph::load(&root, &load).expect("load the data-root");
        let id_map = g.userns.as_ref().map(|n| n.id_map()).unwrap_or_default();
        let root = safe.path().to_path_buf();
        let Some(driver) = ["overlay2", "vfs", "fuse-overlayfs", "btrfs"]
            .into_iter()
            .find(|d| root.join("image").join(d).is_dir())
            .and_then(DriverKind::from_name)
        else {
            eprintln!(
                "{}: no graphdriver image store (containerd store?), nothing to verify",
                scenario.display()
            );
            continue;
        };
        let jobs = layer_jobs(&root, driver);
        assert!(!jobs.is_empty());
        let quick = VerifyOptions { quick: true, id_map, ..VerifyOptions::default() };
        let full = VerifyOptions { id_map, ..VerifyOptions::default() };
        for r in verify_all(&root, &jobs, &quick) {
            assert_eq!(
                (r.status, r.findings.len()),
                (VerifyStatus::Checked, 0),
                "{:#?}",
                r.findings
            );
        }
        for (job, r) in jobs.iter().zip(verify_all(&root, &jobs, &full)) {
            assert_eq!(
                r.status,
                VerifyStatus::Verified,
                "{} {}: {:#?}",
                scenario.display(),
                job.chain_id,
                r.findings
            );
            // Not even info: a clean layer written by Docker has nothing to say.
            assert!(
                r.findings.is_empty(),
                "{} {}: {:#?}",
                scenario.display(),
                job.chain_id,
                r.findings
            );
            assert_eq!(r.computed_diff_id, Some(job.diff_id));
            let out = Command::new("tar-split")
                .args(["asm", "--output", "-", "--input"])
                .arg(root.join(&job.tar_split))
                .arg("--path")
                .arg(root.join(&job.content_dir))
                .output()
                .unwrap();
            // tar-split asm cannot read through overlay whiteout devices, so only
            // compare where it succeeds.
            if out.status.success() {
                assert_eq!(out.stdout.len() as u64, r.bytes, "{}", job.chain_id);
                assert_eq!(strata::digest::Digest::of(&out.stdout), job.diff_id.0);
            }
            checked += 1;
        }
    }
    eprintln!("verified {checked} fixture layers");
}
