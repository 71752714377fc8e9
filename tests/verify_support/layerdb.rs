//! Minimal layerdb discovery for tests and the benchmark driver, until the store
//! readers on main feed `verify` from the graph: every committed layer of one
//! graphdriver as a `LayerJob`, base layers first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata::digest::{ChainId, DiffId};
use strata::fsread::SafeDir;
use strata::store::graphdriver::DriverKind;
use strata::verify::LayerJob;

pub fn layer_jobs(root: &Path, driver: DriverKind) -> Vec<LayerJob> {
    let dir = SafeDir::open_root(root).expect("data-root");
    let db = PathBuf::from(format!("image/{}/layerdb/sha256", driver.name()));
    let read = |rel: PathBuf| String::from_utf8(dir.read_file(&rel, 4096).expect("layerdb file")).unwrap().trim().to_string();
    let mut by_chain: BTreeMap<ChainId, (LayerJob, Option<ChainId>)> = BTreeMap::new();
    for e in dir.read_dir(&db).expect("layerdb") {
        let Some(name) = e.name.to_str() else { continue };
        let Ok(chain) = ChainId::from_hex(name) else { continue };
        let l = db.join(name);
        let parent = dir.exists(&l.join("parent")).then(|| ChainId::parse(&read(l.join("parent"))).unwrap());
        let job = LayerJob {
            chain_id: chain,
            diff_id: DiffId::parse(&read(l.join("diff"))).unwrap(),
            tar_split: l.join("tar-split.json.gz"),
            content_dir: driver.content_dir(&read(l.join("cache-id"))),
            driver,
            lower_tar_splits: None,
            blob: None,
        };
        by_chain.insert(chain, (job, parent));
    }
    // Depth-first from the bases, so parents precede children and lowers are known.
    let lowers = |mut c: Option<ChainId>| {
        let mut out = Vec::new();
        while let Some(id) = c {
            let (job, parent) = &by_chain[&id];
            out.push(job.tar_split.clone());
            c = *parent;
        }
        out.reverse();
        out
    };
    let mut jobs: Vec<(usize, LayerJob)> = by_chain
        .values()
        .map(|(job, parent)| {
            let l = lowers(*parent);
            let mut job = job.clone();
            job.lower_tar_splits = Some(l.clone());
            (l.len(), job)
        })
        .collect();
    jobs.sort_by_key(|(depth, j)| (*depth, j.chain_id));
    jobs.into_iter().map(|(_, j)| j).collect()
}
