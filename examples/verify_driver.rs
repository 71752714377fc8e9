//! Benchmark driver until `strata verify` is wired: verifies every layer of one
//! graphdriver store and prints one JSON line per layer (plus wall time on stderr).
//!
//! usage: verify_driver ROOT [--quick] [--jobs N] [--driver overlay2]

#[path = "../tests/verify_support/layerdb.rs"]
mod layerdb;

use std::path::PathBuf;
use std::time::Instant;
use strata::fsread::SafeDir;
use strata::store::graphdriver::DriverKind;
use strata::verify::{verify_layers, VerifyOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut root: Option<PathBuf> = None;
    let mut opts = VerifyOptions::default();
    let mut driver = DriverKind::Overlay2;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--jobs" => opts.jobs = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--driver" => driver = args.next().as_deref().and_then(DriverKind::from_name).ok_or_else(|| anyhow::anyhow!("bad --driver"))?,
            _ => root = Some(a.into()),
        }
    }
    let root = root.ok_or_else(|| anyhow::anyhow!("usage: verify_driver ROOT [--quick] [--jobs N] [--driver D]"))?;
    let jobs = layerdb::layer_jobs(&root, driver);
    let dir = SafeDir::open_root(&root)?;
    let start = Instant::now();
    let results = verify_layers(&dir, &jobs, &opts, None);
    let secs = start.elapsed().as_secs_f64();
    for r in &results {
        println!("{}", serde_json::to_string(r)?);
    }
    let bytes: u64 = results.iter().map(|r| r.bytes).sum();
    eprintln!("{} layers, {bytes} bytes in {secs:.3}s", results.len());
    Ok(())
}
