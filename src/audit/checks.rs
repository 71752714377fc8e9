//! Consistency checks over the linked graph: does everything that names something
//! find it, and is there anything nothing names? (IDs recomputed from bytes, missing
//! chain layers and parent links are [`crate::verify::identity`]'s.)
//!
//! Each check has a stable code and one severity, chosen by what Docker itself would
//! do: what makes the engine skip an image, a layer or a container is an error; what
//! wastes space or hints at a crash is a warning; what is normal but worth knowing
//! (a dangling image) is info.

use crate::analysis::df::find_orphans;
use crate::finding::{display_bytes, Code, Finding};
use crate::fsread::SafeDir;
use crate::graph::Graph;
use std::path::{Path, PathBuf};

/// Runs every metadata-level check and appends its findings.
pub fn run_all(g: &Graph, root: &SafeDir, out: &mut Vec<Finding>) {
    references(g, out);
    layer_content(g, out);
    mounts(g, root, out);
    containers(g, out);
    orphans(g, out);
    leftovers(g, out);
    dangling(g, out);
}

fn image_root(g: &Graph) -> PathBuf {
    Path::new("image").join(&g.driver_name)
}

/// The last component of a relative path, as the finding's `path`.
fn name_of(p: &Path) -> String {
    display_bytes(p.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default())
}

/// reference-broken: every tag and digest reference in repositories.json must name
/// an image that exists.
pub fn references(g: &Graph, out: &mut Vec<Finding>) {
    let file = image_root(g).join("repositories.json");
    for r in &g.references {
        let f = match r.image {
            None => Finding::error(
                Code::ReferenceBroken,
                format!(
                    "repositories.json: {:?} points to {:?}, which is not an image ID",
                    r.raw, r.raw_target
                ),
            ),
            Some(id) if !g.images.contains_key(&id) => Finding::error(
                Code::ReferenceBroken,
                format!(
                    "repositories.json: {:?} points to image {}, which is not in imagedb",
                    r.raw,
                    id.short()
                ),
            )
            .with_image(id),
            Some(_) => continue,
        };
        out.push(f.with_subject(r.raw.as_str()).with_file(&file));
    }
}

/// layer-content-missing: a layer whose graphdriver directory is gone.
pub fn layer_content(g: &Graph, out: &mut Vec<Finding>) {
    for l in g.layers.values() {
        if let (Some(dir), false) = (&l.driver_dir, l.driver_dir_present) {
            out.push(
                Finding::error(
                    Code::LayerContentMissing,
                    format!(
                        "layer {}: its driver directory {} is missing",
                        l.chain_id().short(),
                        dir.display()
                    ),
                )
                .with_layer(l.chain_id())
                .with_file(dir),
            );
        }
    }
}

/// mount-broken and container-layer-missing, from the RW layer side: each mount's
/// mount-id and init-id must name driver directories, and its parent a layer.
pub fn mounts(g: &Graph, root: &SafeDir, out: &mut Vec<Finding>) {
    let Some(kind) = g.driver else { return };
    for m in g.layerdb.mounts.values() {
        let is_container = g.containers.contains_key(m.name.as_str());
        match &m.mount_id {
            None => out.push(
                Finding::error(
                    Code::MountBroken,
                    format!("RW layer {}: no valid mount-id", m.name),
                )
                .with_subject(m.name.as_str())
                .with_file(m.dir.join("mount-id")),
            ),
            Some(id) => {
                let dir = kind.layer_dir(id);
                if !root.exists(&dir) {
                    out.push(
                        Finding::error(
                            Code::MountBroken,
                            format!(
                                "RW layer {}: mount-id names {}, which does not exist",
                                m.name,
                                dir.display()
                            ),
                        )
                        .with_subject(m.name.as_str())
                        .with_file(m.dir.join("mount-id")),
                    );
                }
            }
        }
        if let Some(id) = &m.init_id {
            let dir = kind.layer_dir(id);
            if !root.exists(&dir) {
                out.push(
                    Finding::error(
                        Code::MountBroken,
                        format!(
                            "RW layer {}: init-id names {}, which does not exist",
                            m.name,
                            dir.display()
                        ),
                    )
                    .with_subject(m.name.as_str())
                    .with_file(m.dir.join("init-id")),
                );
            }
        }
        if let Some(p) = m.parent {
            if !g.layers.contains_key(&p) {
                let code =
                    if is_container { Code::ContainerLayerMissing } else { Code::MountBroken };
                out.push(
                    Finding::error(
                        code,
                        format!(
                            "RW layer {}: sits on layer {}, which is not in layerdb",
                            m.name,
                            p.short()
                        ),
                    )
                    .with_layer(p)
                    .with_subject(m.name.as_str())
                    .with_file(m.dir.join("parent")),
                );
            }
        }
    }
}

/// A container whose RW layer (or a part of it) is gone: an error, unless its
/// config.v2.json marks it dead or being removed. Docker writes that mark before it lets
/// go of the RW layer and removes the container's directory last, so such a container
/// is a removal under way, or one that failed part way (the engine removes a dead
/// container at its next start): worth a warning, not a lost layer.
pub(crate) fn rw_layer_gone(c: &crate::graph::ContainerNode, message: String) -> Finding {
    let state = &c.record.state;
    let f = if state.dead || state.removal_in_progress {
        Finding::warning(
            Code::ContainerLayerMissing,
            format!(
                "{message}; the container is marked {}: a removal under way or one that did not finish (Docker removes a dead container when it starts)",
                state.status()
            ),
        )
    } else {
        Finding::error(Code::ContainerLayerMissing, message)
    };
    f.with_subject(c.record.id.as_str())
}

/// container-image-missing and container-layer-missing, from the container side.
pub fn containers(g: &Graph, out: &mut Vec<Finding>) {
    for c in g.containers.values() {
        let id = &c.record.id;
        let config = c.record.dir.join("config.v2.json");
        let image = match c.record.image {
            None => {
                out.push(
                    Finding::error(
                        Code::ContainerImageMissing,
                        format!("container {}: config.v2.json names no image", id.short()),
                    )
                    .with_subject(id.as_str())
                    .with_file(&config),
                );
                None
            }
            Some(i) => match g.images.get(&i) {
                Some(img) => Some(img),
                None => {
                    out.push(
                        Finding::error(
                            Code::ContainerImageMissing,
                            format!(
                                "container {}: its image {} is not in imagedb",
                                id.short(),
                                i.short()
                            ),
                        )
                        .with_image(i)
                        .with_subject(id.as_str())
                        .with_file(&config),
                    );
                    None
                }
            },
        };
        match &c.mount {
            None => out.push(
                rw_layer_gone(
                    c,
                    format!(
                        "container {}: no RW layer (layerdb/mounts/{id} is missing)",
                        id.short()
                    ),
                )
                .with_file(image_root(g).join("layerdb/mounts").join(id)),
            ),
            Some(m) => {
                // The RW layer must sit on the image's top layer; otherwise the
                // container's filesystem is not the image it claims.
                if let (Some(img), Some(p)) = (image, m.parent) {
                    if img.top_layer() != Some(p) {
                        out.push(
                            Finding::error(
                                Code::ContainerLayerMissing,
                                format!(
                                    "container {}: its RW layer sits on {}, but image {}'s top layer is {}",
                                    id.short(),
                                    p.short(),
                                    img.id().short(),
                                    img.top_layer().map(|t| t.short()).unwrap_or_else(|| "none".into())
                                ),
                            )
                            .with_image(img.id())
                            .with_layer(p)
                            .with_subject(id.as_str())
                            .with_file(m.dir.join("parent")),
                        );
                    }
                }
            }
        }
    }
}

/// layer-orphaned and graphdriver-dir-orphaned: space nothing uses and no prune frees.
pub fn orphans(g: &Graph, out: &mut Vec<Finding>) {
    let o = find_orphans(g);
    for c in &o.layers {
        let Some(l) = g.layers.get(c) else { continue };
        out.push(
            Finding::warning(
                Code::LayerOrphaned,
                format!("layer {} is used by no image, container or needed child; docker image prune will not remove it", c.short()),
            )
            .with_layer(*c)
            .with_file(&l.record.dir),
        );
    }
    for name in &o.mounts {
        let Some(m) = g.layerdb.mounts.get(name) else { continue };
        out.push(
            Finding::warning(
                Code::LayerOrphaned,
                format!("RW layer {name} belongs to no container; docker container prune will not remove it"),
            )
            .with_subject(name.as_str())
            .with_file(&m.dir),
        );
    }
    if let Some(home) = &g.driver_home {
        for name in &o.driver_dirs {
            let Some(d) = home.dirs.get(name) else { continue };
            out.push(
                Finding::warning(
                    Code::GraphdriverDirOrphaned,
                    format!(
                        "{} is named by no layer cache-id, mount-id or init-id",
                        d.path.display()
                    ),
                )
                .with_subject(name.as_str())
                .with_file(&d.path),
            );
        }
        // overlay2 `l/` short links whose layer directory is gone: harmless, but the
        // trace of a delete that did not finish.
        let l_dir = Path::new(home.kind.name()).join("l");
        for link in &home.links {
            let target_dir = link
                .target
                .as_deref()
                .and_then(|t| t.strip_prefix("../"))
                .and_then(|t| t.strip_suffix("/diff"))
                .filter(|id| home.dirs.contains_key(*id));
            if target_dir.is_none() {
                out.push(
                    Finding::info(
                        Code::GraphdriverDirOrphaned,
                        format!(
                            "overlay2 short link l/{} points to {:?}, which is not a layer directory",
                            link.name,
                            link.target.as_deref().unwrap_or("?")
                        ),
                    )
                    .with_subject(format!("l/{}", link.name))
                    .with_file(l_dir.join(&link.name)),
                );
            }
        }
    }
}

/// layerdb-tmp-leftover and layer-removing-leftover: what a crash left in layerdb.
pub fn leftovers(g: &Graph, out: &mut Vec<Finding>) {
    for t in &g.layerdb.tmp_leftovers {
        out.push(
            Finding::warning(
                Code::LayerdbTmpLeftover,
                format!(
                    "{} is a layer transaction a crash left behind; Docker never cleans it up",
                    t.display()
                ),
            )
            .with_subject(name_of(t))
            .with_file(t),
        );
    }
    for r in &g.layerdb.removing {
        let driver = match (g.driver, &r.cache_id) {
            (Some(k), Some(c)) => format!(" (with driver directory {})", k.layer_dir(c).display()),
            _ => String::new(),
        };
        out.push(
            Finding::warning(
                Code::LayerRemovingLeftover,
                format!("{} is a layer delete a crash interrupted{driver}", r.dir.display()),
            )
            .with_subject(name_of(&r.dir))
            .with_file(&r.dir),
        );
    }
}

/// image-dangling: `<none>:<none>` images, what `docker image prune` removes.
pub fn dangling(g: &Graph, out: &mut Vec<Finding>) {
    for img in g.images.values().filter(|i| i.is_dangling()) {
        out.push(
            Finding::info(
                Code::ImageDangling,
                format!("image {} is dangling (<none>:<none>)", img.id().short()),
            )
            .with_image(img.id()),
        );
    }
}
