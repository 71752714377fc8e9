//! `strata df`: disk usage with the engine's `/system/df` semantics, plus what
//! `docker system prune` never frees.
//!
//! Image sizes and shared sizes come from the graph (which already counts them the
//! way the engine generation that wrote the data-root does); this module adds the
//! totals the engine derives from them, walks container RW layers with the engine's
//! `directory.Size` rule, and accounts for orphans: layers nothing needs, driver
//! directories no layer names, `-removing` leftovers of interrupted deletes and
//! abandoned layerdb transactions. The orphan sets are also what the audit's
//! consistency checks report, so both commands agree by construction.

use crate::analysis::usage::{changes_size, dir_size};
use crate::digest::{ChainId, ImageId};
use crate::finding::Finding;
use crate::fsread::{FileKind, ReadError, SafeDir};
use crate::graph::{ContainerNode, Graph, ImageNode};
use crate::id::ContainerId;
use crate::store::read_error_finding;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One image as `/system/df` lists it.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct DfImage {
    /// The image ID.
    pub id: ImageId,
    /// Familiar `name:tag` strings.
    pub repo_tags: Vec<String>,
    /// Familiar `name@sha256:...` strings.
    pub repo_digests: Vec<String>,
    /// Σ layer sizes over the chain; null when a layer is missing.
    pub size: Option<i64>,
    /// Bytes of its layers other images use too (`SharedSize`).
    pub shared_size: Option<i64>,
    /// `size - shared_size`: bytes only this image uses.
    pub unique_size: Option<i64>,
    /// Number of containers using the image.
    pub containers: usize,
    /// Untagged, undigested and without children.
    pub dangling: bool,
}

/// One container as `/system/df` lists it.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct DfContainer {
    /// The container ID.
    pub id: ContainerId,
    /// Its name, without the leading `/`.
    pub name: Option<String>,
    /// The image it was created from, if resolved.
    pub image: Option<ImageId>,
    /// Docker's one-word state.
    pub state: String,
    /// Running, paused or restarting: its RW layer is not reclaimable.
    pub active: bool,
    /// Bytes in the RW layer (`SizeRw`); null when it cannot be measured.
    pub rw_size: Option<i64>,
    /// Image size + `rw_size` (`SizeRootFs`; the init layer is not counted).
    pub rootfs_size: Option<i64>,
}

/// What kind of leftover an orphan is.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrphanKind {
    /// A layerdb layer no image, container or needed child uses.
    Layer,
    /// A read-write layer (`layerdb/mounts/<name>`) with no container.
    Mount,
    /// A graphdriver directory no layer, mount or init layer names.
    DriverDir,
    /// A `<chainID>-<rand>-removing` layerdb dir (and its driver dir): a delete a crash interrupted.
    Removing,
    /// A `layerdb/tmp/write-set-*` transaction a crash left behind.
    Tmp,
}

/// Something on disk that holds space no Docker command will free.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct Orphan {
    /// Which kind of leftover.
    pub kind: OrphanKind,
    /// Where it is, relative to the data-root (the layerdb dir for layers and removals).
    pub path: String,
    /// Driver directory that goes with it, relative to the data-root, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_dir: Option<String>,
    /// The layer's ChainID, for layer and removal orphans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<ChainId>,
    /// Bytes it holds by the engine's `directory.Size` rule (layerdb + driver dirs);
    /// null when nothing could be measured.
    pub size: Option<i64>,
}

/// Counts for one row of `docker system df`.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, Default, Serialize)]
pub struct DfTotals {
    /// `TOTAL`: how many there are.
    pub total_count: usize,
    /// `ACTIVE`: how many are in use (images with containers, running containers).
    pub active: usize,
    /// `SIZE` in bytes.
    pub size: i64,
    /// `RECLAIMABLE` in bytes: what a prune would free.
    pub reclaimable: i64,
}

/// The rows of `docker system df`, plus a row for orphans.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct DfSummary {
    /// The `Images` row.
    pub images: DfTotals,
    /// The `Containers` row.
    pub containers: DfTotals,
    /// Local volumes: active ones are mounted by a container.
    pub volumes: DfTotals,
    /// BuildKit records: size and reclaimable leave out shared ones, as the docker CLI does.
    pub build_cache: DfTotals,
    /// Container log files (Docker's df has no such row): those of stopped containers are reclaimable.
    pub logs: DfTotals,
    /// Orphans: all of it is reclaimable, none of it by Docker.
    pub orphaned: DfTotals,
}

/// The whole disk-usage account.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct DiskUsage {
    /// `LayersSize`: Σ size of every layer some image's chain uses, each once.
    pub layers_size: i64,
    /// Every image, as `/system/df` lists them.
    pub images: Vec<DfImage>,
    /// Every container, with its measured sizes.
    pub containers: Vec<DfContainer>,
    /// Volumes of the `local` driver, as `/system/df` `Volumes` lists them.
    pub volumes: Vec<crate::store::volumes::Volume>,
    /// BuildKit's records, as `/system/df` `BuildCache` lists them.
    pub build_cache: Vec<crate::store::buildkit::CacheRecord>,
    /// Each container's log files.
    pub logs: Vec<crate::store::logs::ContainerLogs>,
    /// Everything holding space that no Docker command frees.
    pub orphaned: Vec<Orphan>,
    /// The `docker system df` rows.
    pub summary: DfSummary,
}

/// Which parts of the stores nothing needs. Pure graph logic, no disk access.
#[derive(Debug, Clone, Default)]
pub struct Orphans {
    /// Layers not reachable (through `parent`) from any image chain or container mount.
    pub layers: Vec<ChainId>,
    /// `layerdb/mounts/<name>` entries with no container of that ID.
    pub mounts: Vec<String>,
    /// Names of driver-home directories nothing refers to.
    pub driver_dirs: Vec<String>,
}

/// Images the engine lists: tagged, digested, or dangling heads. Untagged images with
/// children (classic-builder intermediates) are hidden but still count elsewhere.
pub fn is_listed(img: &ImageNode) -> bool {
    !img.is_intermediate()
}

/// Finds what nothing needs.
pub fn find_orphans(g: &Graph) -> Orphans {
    let mut needed: BTreeSet<ChainId> = BTreeSet::new();
    let mut tops: Vec<ChainId> =
        g.images.values().flat_map(|i| i.chain_ids.iter().copied()).collect();
    tops.extend(g.layerdb.mounts.values().filter_map(|m| m.parent));
    // Walk down from each top until a layer already known to be needed: its chain is
    // in already. Linear in the layers, however deep a (hostile) chain is; walking
    // each prefix's whole chain was quadratic.
    for top in tops {
        let mut cur = Some(top);
        while let Some(c) = cur {
            if !needed.insert(c) {
                break;
            }
            cur = g.layers.get(&c).and_then(|l| l.record.parent);
        }
    }
    let layers = g.layers.keys().filter(|c| !needed.contains(c)).copied().collect();
    let mounts = g
        .layerdb
        .mounts
        .keys()
        .filter(|n| !g.containers.contains_key(n.as_str()))
        .cloned()
        .collect();

    let mut referenced: BTreeSet<&str> = BTreeSet::new();
    for l in g.layers.values() {
        if let Some(c) = &l.record.cache_id {
            referenced.insert(c);
        }
    }
    for m in g.layerdb.mounts.values() {
        referenced.extend(m.mount_id.as_deref());
        referenced.extend(m.init_id.as_deref());
    }
    for r in &g.layerdb.removing {
        referenced.extend(r.cache_id.as_deref());
    }
    // BuildKit's snapshots are build cache, never orphans.
    if let Some(bk) = &g.buildkit {
        referenced.extend(bk.owned_dirs.iter().map(String::as_str));
    }
    let driver_dirs = g
        .driver_home
        .as_ref()
        .map(|h| h.dirs.keys().filter(|n| !referenced.contains(n.as_str())).cloned().collect())
        .unwrap_or_default();
    Orphans { layers, mounts, driver_dirs }
}

/// Size by the engine's rule of each existing path, summed; unreadable parts become
/// findings. `None` when none of the paths could be measured.
fn measure(root: &SafeDir, paths: &[&Path], findings: &mut Vec<Finding>) -> Option<i64> {
    let mut total: Option<i64> = None;
    for p in paths {
        // A planted file where a directory belongs holds its own size; anything
        // else that is not a directory (device, FIFO) holds nothing worth counting.
        let size = match root.lstat(p) {
            Ok(m) if m.kind == FileKind::Dir => match dir_size(root, p) {
                Ok((n, problems)) => {
                    findings.extend(
                        problems
                            .iter()
                            .map(|e| read_error_finding(e, &rel_to(root, &e.path), root.path())),
                    );
                    n
                }
                Err(e) => {
                    findings.push(read_error_finding(&e, p, root.path()));
                    continue;
                }
            },
            Ok(m) if m.kind == FileKind::File || m.kind == FileKind::Symlink => m.size,
            Ok(_) => 0,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                findings.push(read_error_finding(&e, p, root.path()));
                continue;
            }
        };
        total = Some(total.unwrap_or(0) + i64::try_from(size).unwrap_or(i64::MAX));
    }
    total
}

/// A container's sizes as `docker ps -s` shows them; `None` where the disk could
/// not tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerSizes {
    /// Bytes in the RW layer by the engine's rule (Docker's `SizeRw`).
    pub rw: Option<i64>,
    /// Image size plus `rw` (Docker's `SizeRootFs`; the init layer is not counted).
    pub rootfs: Option<i64>,
}

/// Measures one container's sizes on disk: `rw` with [`measure_rw`], `rootfs` as the
/// image's size on top of it.
pub fn container_sizes(g: &Graph, root: &SafeDir, c: &ContainerNode) -> ContainerSizes {
    let rw = match measure_rw(g, root, c) {
        Some(Ok((n, _problems))) => Some(i64::try_from(n).unwrap_or(i64::MAX)),
        _ => None,
    };
    let image_size = below_rw_size(g, c);
    ContainerSizes { rw, rootfs: rw.zip(image_size).and_then(|(rw, img)| rw.checked_add(img)) }
}

/// [`container_sizes`] for every container, keyed by container ID.
pub fn all_container_sizes(
    g: &Graph,
    root: &SafeDir,
) -> std::collections::BTreeMap<ContainerId, ContainerSizes> {
    g.containers.iter().map(|(id, c)| (id.clone(), container_sizes(g, root, c))).collect()
}

/// Makes an absolute path from a [`crate::fsread::ReadError`] relative to the root again.
fn rel_to(root: &SafeDir, abs: &Path) -> PathBuf {
    abs.strip_prefix(root.path()).map(Path::to_path_buf).unwrap_or_else(|_| abs.to_path_buf())
}

fn path_string(p: &Path) -> String {
    crate::finding::display_bytes(p.as_os_str().as_encoded_bytes())
}

/// Computes the disk-usage account. Problems met while measuring are returned as
/// findings; the numbers skip what could not be read.
pub fn disk_usage(g: &Graph, root: &SafeDir) -> (DiskUsage, Vec<Finding>) {
    let mut findings = Vec::new();

    // LayersSize: every layer of every image chain, once. Intermediate images add
    // nothing their children do not already reach.
    let used: BTreeSet<ChainId> =
        g.images.values().flat_map(|i| i.chain_ids.iter().copied()).collect();
    let layers_size: i64 = match &g.containerd {
        Some(ctd) => containerd_layers_size(ctd, &mut findings),
        None => {
            used.iter().filter_map(|c| g.layers.get(c)?.record.size).fold(0, i64::saturating_add)
        }
    };

    let images: Vec<DfImage> = g
        .images_newest_first()
        .into_iter()
        .filter(|i| is_listed(i))
        .map(|i| DfImage {
            id: i.id(),
            repo_tags: i.repo_tags.clone(),
            repo_digests: i.repo_digests.clone(),
            size: i.size,
            shared_size: i.shared_size,
            unique_size: i.unique_size(),
            containers: i.containers.len(),
            dangling: i.is_dangling(),
        })
        .collect();

    // The RW layers, leftovers, volumes and logs are all read from disk, and none needs
    // another: they are read at once on the reader pool (on a cold disk, one container
    // directory after another waits on a seek each). Findings keep the order of a
    // one-at-a-time read.
    let list = g.containers_newest_first();
    let ((measured, (orphaned, orphan_findings)), ((volumes, volume_findings), logs)) =
        crate::store::together(
            || {
                crate::store::together(
                    || crate::store::par_read(list.clone(), |c, _| Some(measure_rw(g, root, c))).0,
                    || {
                        let mut found = Vec::new();
                        (measure_orphans(g, root, &find_orphans(g), &mut found), found)
                    },
                )
            },
            || {
                crate::store::together(
                    || {
                        let mut found = Vec::new();
                        let v = crate::store::volumes::read_volumes(
                            root,
                            &crate::fsread::Limits::default(),
                            &mut found,
                        );
                        (v, found)
                    },
                    || crate::store::logs::read_logs(root),
                )
            },
        );
    let mut containers = Vec::new();
    for (c, measured) in list.into_iter().zip(measured) {
        let rw_size = match (measured, &c.rw_dir) {
            (Some(m), Some(dir)) => match m {
                Ok((n, problems)) => {
                    findings.extend(
                        problems
                            .iter()
                            .map(|e| read_error_finding(e, &rel_to(root, &e.path), root.path())),
                    );
                    Some(i64::try_from(n).unwrap_or(i64::MAX))
                }
                // A missing RW dir is the audit's mount-broken; here it is just unknown.
                Err(e) if e.is_not_found() => None,
                Err(e) => {
                    findings.push(read_error_finding(&e, dir, root.path()));
                    None
                }
            },
            _ => None,
        };
        let image_size = below_rw_size(g, c);
        containers.push(DfContainer {
            id: c.record.id.clone(),
            name: c.record.name.clone(),
            image: c.record.image,
            state: c.record.state.status().to_owned(),
            active: c.record.state.is_active(),
            rw_size,
            rootfs_size: image_size.and_then(|s| s.checked_add(rw_size?)),
        });
    }

    findings.extend(orphan_findings);
    findings.extend(volume_findings);
    let volumes: Vec<_> = volumes.into_iter().filter(|v| v.driver == "local").collect();
    let build_cache = g.buildkit.as_ref().map(|b| b.records.clone()).unwrap_or_default();
    let active_ids: BTreeSet<&str> =
        containers.iter().filter(|c| c.active).map(|c| c.id.as_str()).collect();
    let sum = |it: &mut dyn Iterator<Item = i64>| it.fold(0i64, i64::saturating_add);
    let log_size =
        |l: &crate::store::logs::ContainerLogs| i64::try_from(l.size).unwrap_or(i64::MAX);

    // Reclaimable images, as the docker CLI (and engines up to v28) compute it: all
    // layers minus what images in use hold on their own.
    let in_use: i64 = images
        .iter()
        .filter(|i| i.containers > 0)
        .filter_map(|i| i.size?.checked_sub(i.shared_size?))
        .fold(0, i64::saturating_add);
    let summary = DfSummary {
        images: DfTotals {
            total_count: images.len(),
            active: images.iter().filter(|i| i.containers > 0).count(),
            size: layers_size,
            reclaimable: layers_size.saturating_sub(in_use).max(0),
        },
        containers: DfTotals {
            total_count: containers.len(),
            active: containers.iter().filter(|c| c.active).count(),
            size: containers.iter().filter_map(|c| c.rw_size).fold(0, i64::saturating_add),
            reclaimable: containers
                .iter()
                .filter(|c| !c.active)
                .filter_map(|c| c.rw_size)
                .fold(0, i64::saturating_add),
        },
        volumes: DfTotals {
            total_count: volumes.len(),
            active: volumes.iter().filter(|v| v.ref_count > 0).count(),
            size: sum(&mut volumes.iter().filter_map(|v| v.size)),
            reclaimable: sum(&mut volumes
                .iter()
                .filter(|v| v.ref_count == 0)
                .filter_map(|v| v.size)),
        },
        build_cache: DfTotals {
            total_count: build_cache.len(),
            active: build_cache.iter().filter(|r| r.in_use).count(),
            size: sum(&mut build_cache.iter().filter(|r| !r.shared).filter_map(|r| r.size)),
            reclaimable: sum(&mut build_cache
                .iter()
                .filter(|r| !r.shared && !r.in_use)
                .filter_map(|r| r.size)),
        },
        logs: DfTotals {
            total_count: logs.len(),
            active: logs.iter().filter(|l| active_ids.contains(l.container.as_str())).count(),
            size: sum(&mut logs.iter().map(log_size)),
            reclaimable: sum(&mut logs
                .iter()
                .filter(|l| !active_ids.contains(l.container.as_str()))
                .map(log_size)),
        },
        orphaned: DfTotals {
            total_count: orphaned.len(),
            active: 0,
            size: orphaned.iter().filter_map(|o| o.size).fold(0, i64::saturating_add),
            reclaimable: orphaned.iter().filter_map(|o| o.size).fold(0, i64::saturating_add),
        },
    };
    (
        DiskUsage {
            layers_size,
            images,
            containers,
            volumes,
            build_cache,
            logs,
            orphaned,
            summary,
        },
        findings,
    )
}

fn measure_orphans(
    g: &Graph,
    root: &SafeDir,
    o: &Orphans,
    findings: &mut Vec<Finding>,
) -> Vec<Orphan> {
    let mut out = Vec::new();
    for c in &o.layers {
        let Some(l) = g.layers.get(c) else { continue };
        let mut paths: Vec<&Path> = vec![&l.record.dir];
        paths.extend(l.driver_dir.as_deref());
        out.push(Orphan {
            kind: OrphanKind::Layer,
            path: path_string(&l.record.dir),
            driver_dir: l.driver_dir.as_deref().map(path_string),
            layer: Some(*c),
            size: measure(root, &paths, findings),
        });
    }
    let kind = g.driver;
    for name in &o.mounts {
        let Some(m) = g.layerdb.mounts.get(name) else { continue };
        let dirs: Vec<PathBuf> = match kind {
            Some(k) => m.mount_id.iter().chain(m.init_id.iter()).map(|i| k.layer_dir(i)).collect(),
            None => Vec::new(),
        };
        let mut paths: Vec<&Path> = vec![&m.dir];
        paths.extend(dirs.iter().map(PathBuf::as_path));
        out.push(Orphan {
            kind: OrphanKind::Mount,
            path: path_string(&m.dir),
            driver_dir: dirs.first().map(|d| path_string(d)),
            layer: m.parent,
            size: measure(root, &paths, findings),
        });
    }
    if let Some(home) = &g.driver_home {
        for name in &o.driver_dirs {
            let Some(d) = home.dirs.get(name) else { continue };
            out.push(Orphan {
                kind: OrphanKind::DriverDir,
                path: path_string(&d.path),
                driver_dir: None,
                layer: None,
                size: measure(root, &[&d.path], findings),
            });
        }
    }
    for r in &g.layerdb.removing {
        let driver_dir = match (kind, &r.cache_id) {
            (Some(k), Some(c)) => Some(k.layer_dir(c)),
            _ => None,
        };
        let mut paths: Vec<&Path> = vec![&r.dir];
        paths.extend(driver_dir.as_deref());
        out.push(Orphan {
            kind: OrphanKind::Removing,
            path: path_string(&r.dir),
            driver_dir: driver_dir.as_deref().map(path_string),
            layer: None,
            size: measure(root, &paths, findings),
        });
    }
    for t in &g.layerdb.tmp_leftovers {
        out.push(Orphan {
            kind: OrphanKind::Tmp,
            path: path_string(t),
            driver_dir: None,
            layer: None,
            size: measure(root, &[t], findings),
        });
    }
    out
}

/// `LayersSize` on the containerd store: the usage of every snapshot in the
/// namespace (committed ones as stored, active ones measured as containerd
/// measures them), plus, from 28.2, the image content present.
fn containerd_layers_size(ctd: &crate::graph::ContainerdPart, findings: &mut Vec<Finding>) -> i64 {
    use crate::store::containerd::SnapshotKind;
    let mut total: i64 = 0;
    for s in ctd.store.snapshots.values() {
        let Some(b) = &s.backend else { continue };
        // containerd measures only active snapshots; views and committed ones
        // report what is stored (nothing, for a view).
        let size = match (b.kind, &s.dir) {
            (SnapshotKind::Active, Some(dir)) => {
                match crate::analysis::usage::allocated_size(&ctd.root, dir) {
                    Ok((n, problems)) => {
                        findings.extend(problems.iter().map(|e| {
                            read_error_finding(e, &rel_to(&ctd.root, &e.path), ctd.root.path())
                        }));
                        i64::try_from(n).unwrap_or(i64::MAX)
                    }
                    Err(e) => {
                        if !e.is_not_found() {
                            findings.push(read_error_finding(&e, dir, ctd.root.path()));
                        }
                        0
                    }
                }
            }
            _ => b.size.unwrap_or(0),
        };
        total = total.saturating_add(size);
    }
    if ctd.df_counts_content {
        total = ctd.image_content.values().fold(total, |t, s| t.saturating_add(*s));
    }
    total
}

/// What `SizeRootFs` adds to `SizeRw`: the image's size on a graphdriver store; on
/// the containerd store the stored usage of the snapshots beneath (the init layer
/// and the image's chain), not the image's packed content.
pub fn below_rw_size(g: &Graph, c: &ContainerNode) -> Option<i64> {
    match &g.containerd {
        Some(ctd) => {
            let rw = ctd.store.snapshots.get(&c.mount.as_ref()?.name)?;
            Some(
                rw.parent
                    .as_deref()
                    .map_or(0, |p| crate::graph::containerd::chain_usage(&ctd.store, p)),
            )
        }
        None => c.record.image.and_then(|i| g.images.get(&i)).and_then(|i| i.size),
    }
}

/// Measures a container's RW layer as the engine computes `SizeRw`. Drivers whose
/// RW directory holds just the changes walk it (`directory.Size`); the full-tree
/// drivers compare it with the tree beneath (the init layer, else the image's top
/// layer), as the engine's naive differ does. `None` when it has no RW directory.
pub fn measure_rw(
    g: &Graph,
    root: &SafeDir,
    c: &ContainerNode,
) -> Option<Result<(u64, Vec<ReadError>), ReadError>> {
    let dir = c.rw_dir.as_ref()?;
    if let Some(ctd) = &g.containerd {
        // containerd measures an active snapshot in allocated blocks.
        return Some(crate::analysis::usage::allocated_size(&ctd.root, dir));
    }
    if g.driver.is_none_or(|k| k.stores_diffs()) {
        return Some(dir_size(root, dir));
    }
    let below = c.init_dir.clone().or_else(|| {
        let top = c.mount.as_ref()?.parent?;
        g.layers.get(&top)?.content_dir.clone()
    });
    Some(changes_size(root, dir, below.as_deref()))
}
