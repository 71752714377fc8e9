//! `strata images`, `strata layers`, `strata containers`: the graph as lists.

use super::{human_size, new_table, opt_size, write_json, write_table, Format, Layout, Views};
use crate::analysis::df::ContainerSizes;
use crate::digest::{ChainId, DiffId, ImageId};
use crate::finding::terminal_safe;
use crate::graph::{ContainerNode, Graph, ImageNode, LayerNode};
use crate::id::{CacheId, ContainerId, MountId};
use crate::reference::Reference;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// One image, as `strata images --format json` prints it.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct ImageView {
    /// The image ID.
    pub id: ImageId,
    /// Familiar `name:tag` strings, in Docker's order.
    pub repo_tags: Vec<String>,
    /// Familiar `name@sha256:...` strings, in Docker's order.
    pub repo_digests: Vec<String>,
    /// The parent image (classic builder, `docker commit`), if recorded.
    pub parent: Option<ImageId>,
    /// `created` from the config (RFC 3339).
    pub created: Option<String>,
    /// `os` from the config.
    pub os: Option<String>,
    /// `architecture` from the config.
    pub architecture: Option<String>,
    /// `variant` from the config.
    pub variant: Option<String>,
    /// `rootfs.diff_ids` from the config, bottom layer first.
    pub diff_ids: Vec<DiffId>,
    /// ChainID of every prefix of `diff_ids`.
    pub chain_ids: Vec<ChainId>,
    /// ChainID of the top layer; null for an image without layers.
    pub top_layer: Option<ChainId>,
    /// Σ layer sizes over the chain; null when a layer is missing.
    pub size: Option<i64>,
    /// Bytes of its layers other images use too, as `/system/df` counts them.
    pub shared_size: Option<i64>,
    /// `size - shared_size`: bytes only this image uses.
    pub unique_size: Option<i64>,
    /// Number of containers using the image.
    pub containers: usize,
    /// Untagged, undigested and without children (`<none>:<none>`).
    pub dangling: bool,
    /// When it was last tagged or pulled (imagedb `lastUpdated`).
    pub last_tag_time: Option<String>,
    /// Built on this host rather than pulled (imagedb `builtLocally`).
    pub built_locally: bool,
    /// The image store it is in.
    pub store: crate::graph::StoreKind,
    /// Containerd image store only: target, manifest, config, platform, names, sizes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containerd: Option<Box<crate::graph::containerd::CtdImageInfo>>,
}

impl ImageView {
    /// The view of one graph image.
    pub fn new(img: &ImageNode) -> Self {
        let cfg = img.record.config.as_ref();
        Self {
            id: img.id(),
            repo_tags: img.repo_tags.clone(),
            repo_digests: img.repo_digests.clone(),
            parent: img.record.parent,
            created: cfg.and_then(|c| c.created.clone()),
            os: cfg.and_then(|c| c.os.clone()),
            architecture: cfg.and_then(|c| c.architecture.clone()),
            variant: cfg.and_then(|c| c.variant.clone()),
            diff_ids: cfg.and_then(|c| c.diff_ids.clone()).unwrap_or_default(),
            chain_ids: img.chain_ids.clone(),
            top_layer: img.top_layer(),
            size: img.size,
            shared_size: img.shared_size,
            unique_size: img.unique_size(),
            containers: img.containers.len(),
            dangling: img.is_dangling(),
            last_tag_time: img.record.last_updated.clone(),
            built_locally: img.record.built_locally,
            store: if img.containerd.is_some() {
                crate::graph::StoreKind::Containerd
            } else {
                crate::graph::StoreKind::Graphdriver
            },
            containerd: img.containerd.clone(),
        }
    }
}

/// A registry blob a layer is known by.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct BlobView {
    /// The compressed blob's digest.
    pub digest: crate::digest::Digest,
    /// The repository it was pulled from or pushed to.
    pub source_repository: String,
    /// Whether the entry was recorded by a push (pulls leave the HMAC empty).
    pub pushed: bool,
}

/// One layer, as `strata layers --format json` prints it.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct LayerView {
    /// The layer's ChainID (its layerdb directory name).
    pub chain_id: ChainId,
    /// The DiffID from layerdb's `diff` file; null when unreadable.
    pub diff_id: Option<DiffId>,
    /// ChainID of the layer beneath; null for a base layer.
    pub parent: Option<ChainId>,
    /// Docker's layer size (layerdb `size`), null when unreadable.
    pub size: Option<i64>,
    /// The graphdriver directory name (layerdb `cache-id`).
    pub cache_id: Option<CacheId>,
    /// Graphdriver directory, relative to the data-root.
    pub driver_dir: Option<String>,
    /// Whether the graphdriver directory exists.
    pub driver_dir_present: bool,
    /// Whether layerdb holds a `tar-split.json.gz` for it.
    pub tar_split: bool,
    /// Layers directly on top of this one.
    pub children: Vec<ChainId>,
    /// Images whose chain includes it.
    pub images: Vec<ImageId>,
    /// Containers whose RW layer sits on it.
    pub containers: Vec<ContainerId>,
    /// Registry blobs it was pulled or pushed as (`distribution/v2metadata-by-diffid`).
    pub blob_digests: Vec<BlobView>,
    /// Containerd image store only: snapshot key and id, layer blob and its media type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containerd: Option<Box<crate::graph::containerd::CtdLayerInfo>>,
}

impl LayerView {
    /// The view of one graph layer.
    pub fn new(l: &LayerNode) -> Self {
        Self {
            chain_id: l.chain_id(),
            diff_id: l.record.diff_id,
            parent: l.record.parent,
            size: l.record.size,
            cache_id: l.record.cache_id.clone(),
            driver_dir: l.driver_dir.as_ref().map(|p| p.display().to_string()),
            driver_dir_present: l.driver_dir_present,
            tar_split: l.record.has_tar_split,
            children: l.children.clone(),
            images: l.images.clone(),
            containers: l.containers.clone(),
            blob_digests: l
                .blobs
                .iter()
                .map(|b| BlobView {
                    digest: b.digest,
                    source_repository: b.source_repository.clone(),
                    pushed: !b.hmac.is_empty(),
                })
                .collect(),
            containerd: l.containerd.clone(),
        }
    }
}

/// One container, as `strata containers --format json` prints it.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct ContainerView {
    /// The container ID.
    pub id: ContainerId,
    /// Its name, without the leading `/`.
    pub name: Option<String>,
    /// Resolved image ID.
    pub image: Option<ImageId>,
    /// What the container was created from, as typed (`Config.Image`).
    pub image_ref: Option<String>,
    /// Docker's one-word state (`running`, `exited`, `created`...).
    pub state: String,
    /// Exit status of the last run.
    pub exit_code: i64,
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// The storage driver it was created on.
    pub driver: Option<String>,
    /// The RW layer's graphdriver directory name (layerdb `mount-id`).
    pub mount_id: Option<MountId>,
    /// The init layer's graphdriver directory name (layerdb `init-id`).
    pub init_id: Option<MountId>,
    /// ChainID of the image layer the RW layer sits on.
    pub parent_layer: Option<ChainId>,
    /// RW layer directory, relative to the data-root.
    pub rw_dir: Option<String>,
    /// Bytes in the RW layer by the engine's rule (Docker's `SizeRw`); null when it
    /// cannot be read.
    pub rw_size: Option<i64>,
    /// Image size plus `rw_size` (Docker's `SizeRootFs`; the init layer is not counted).
    pub rootfs_size: Option<i64>,
}

impl ContainerView {
    /// The view of one graph container, sizes not yet measured (see [`ContainerView::with_sizes`]).
    pub fn new(c: &ContainerNode) -> Self {
        let m = c.mount.as_ref();
        Self {
            id: c.record.id.clone(),
            name: c.record.name.clone(),
            image: c.record.image,
            image_ref: c.record.image_ref.clone(),
            state: c.record.state.status().to_owned(),
            exit_code: c.record.state.exit_code,
            created: c.record.created.clone(),
            driver: c.record.driver.clone(),
            mount_id: m.and_then(|m| m.mount_id.clone()),
            init_id: m.and_then(|m| m.init_id.clone()),
            parent_layer: m.and_then(|m| m.parent),
            rw_dir: c.rw_dir.as_ref().map(|p| p.display().to_string()),
            rw_size: None,
            rootfs_size: None,
        }
    }

    /// Fills in the sizes measured by [`crate::analysis::df::container_sizes`].
    pub fn with_sizes(mut self, sizes: ContainerSizes) -> Self {
        self.set_sizes(sizes);
        self
    }

    /// Fills in the sizes in place (see [`ContainerView::with_sizes`]).
    pub fn set_sizes(&mut self, sizes: ContainerSizes) {
        self.rw_size = sizes.rw;
        self.rootfs_size = sizes.rootfs;
    }
}

fn short_time(t: &Option<String>) -> String {
    t.as_deref().map(super::layout::short_time).unwrap_or_default()
}

/// Images of every store given, each labelled with its store: one JSON array, or
/// one table per store under a line naming it.
pub fn write_images_of_stores(
    out: &mut dyn Write,
    graphs: &[&Graph],
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        let images: Vec<&ImageNode> = graphs.iter().flat_map(|g| g.images_newest_first()).collect();
        return write_json(out, &Views::new(images, ImageView::new));
    }
    for (i, g) in graphs.iter().enumerate() {
        if graphs.len() > 1 {
            let what = match &g.containerd {
                Some(c) => format!("containerd image store at {}", c.location.path.display()),
                None => format!("graphdriver image store image/{}", g.driver_name),
            };
            writeln!(out, "{}{}:", if i > 0 { "\n" } else { "" }, terminal_safe(&what))?;
        }
        write_images(out, g, format, layout)?;
    }
    Ok(())
}

/// The images of one store: one row per name (or one `<none>` row), newest image first; or
/// every image as JSON. The DIGEST column only when the layout
/// [shows digests](Layout::shows_digests), as `docker images --digests`.
pub fn write_images(
    out: &mut dyn Write,
    g: &Graph,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    let images = g.images_newest_first();
    if format == Format::Json {
        return write_json(out, &Views::new(images, ImageView::new));
    }
    let digests = layout.shows_digests();
    let header: &[&str] = if digests {
        &[
            "REPOSITORY",
            "TAG",
            "DIGEST",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED",
            "UNIQUE",
            "CONTAINERS",
        ]
    } else {
        &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED", "UNIQUE", "CONTAINERS"]
    };
    let mut t = new_table(header);
    for img in images {
        let created = short_time(&img.record.config.as_ref().and_then(|c| c.created.clone()));
        let mut row = |repo: &str, tag: &str, digest: &str| {
            let mut cells = vec![terminal_safe(repo), terminal_safe(tag)];
            if digests {
                cells.push(digest.to_owned());
            }
            cells.extend([
                img.id().short(),
                created.clone(),
                opt_size(img.size),
                opt_size(img.shared_size),
                opt_size(img.unique_size()),
                img.containers.len().to_string(),
            ]);
            t.add_row(cells);
        };
        // One row per tag, as `docker image ls --digests` does, with the digest of the
        // same repository beside it; digest-only repositories get a `<none>` tag row.
        let parsed_digests: Vec<Reference> =
            img.repo_digests.iter().filter_map(|d| Reference::parse(d).ok()).collect();
        let digest_for = |name: &str| {
            parsed_digests
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.digest)
                .map_or("<none>".to_owned(), |d| d.to_string())
        };
        let mut named = Vec::new();
        for tag in &img.repo_tags {
            if let Ok(r) = Reference::parse(tag) {
                row(&r.familiar_name(), r.tag.as_deref().unwrap_or("<none>"), &digest_for(&r.name));
                named.push(r.name);
            }
        }
        for d in &parsed_digests {
            if !named.contains(&d.name) {
                row(
                    &d.familiar_name(),
                    "<none>",
                    &d.digest.map(|x| x.to_string()).unwrap_or_default(),
                );
                named.push(d.name.clone());
            }
        }
        if named.is_empty() {
            row("<none>", "<none>", "<none>");
        }
    }
    write_table(out, t, layout)
}

/// `strata layers`: every layer by ChainID.
pub fn write_layers(
    out: &mut dyn Write,
    g: &Graph,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, &Views::new(g.layers.values().collect(), LayerView::new));
    }
    let mut t = new_table(&[
        "CHAIN ID",
        "DIFF ID",
        "PARENT",
        "SIZE",
        "CACHE ID",
        "IMAGES",
        "CONTAINERS",
        "BLOBS",
    ]);
    for l in g.layers.values() {
        t.add_row(vec![
            l.chain_id().short(),
            l.record.diff_id.map(|d| d.short()).unwrap_or_else(|| "?".into()),
            l.record.parent.map(|p| p.short()).unwrap_or_else(|| "-".into()),
            l.record.size.map(human_size).unwrap_or_else(|| "?".into()),
            l.record.cache_id.as_ref().map(|c| c.short().to_owned()).unwrap_or_else(|| "?".into()),
            l.images.len().to_string(),
            l.containers.len().to_string(),
            l.blobs.len().to_string(),
        ]);
    }
    write_table(out, t, layout)
}

/// Writes the containers, newest first, with the sizes measured beforehand
/// ([`crate::analysis::df::all_container_sizes`]), keyed by container ID.
pub fn write_containers(
    out: &mut dyn Write,
    g: &Graph,
    sizes: &BTreeMap<ContainerId, ContainerSizes>,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    let size_of = |c: &ContainerNode| sizes.get(&c.record.id).copied().unwrap_or_default();
    let list = g.containers_newest_first();
    if format == Format::Json {
        return write_json(
            out,
            &Views::new(list, |c| ContainerView::new(c).with_sizes(size_of(c))),
        );
    }
    let mut t =
        new_table(&["CONTAINER ID", "IMAGE", "NAME", "STATE", "CREATED", "MOUNT ID", "SIZE"]);
    for c in list {
        let v = ContainerView::new(c).with_sizes(size_of(c));
        t.add_row(vec![
            v.id.short().to_owned(),
            terminal_safe(v.image_ref.as_deref().unwrap_or("?")),
            terminal_safe(v.name.as_deref().unwrap_or("")),
            if v.state == "exited" { format!("exited ({})", v.exit_code) } else { v.state.clone() },
            short_time(&v.created),
            v.mount_id.as_ref().map(|m| m.short().to_owned()).unwrap_or_else(|| "-".into()),
            // As `docker ps -s` shows it.
            format!("{} (virtual {})", opt_size(v.rw_size), opt_size(v.rootfs_size)),
        ]);
    }
    write_table(out, t, layout)
}

/// `strata images` on a pre-1.10 data-root: one row per tag (or one `<none>` row),
/// with the v1 IDs as the engine recorded them, parents and layer directories.
pub fn write_legacy_images(
    out: &mut dyn Write,
    store: &crate::store::legacy::LegacyStore,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, &store.images);
    }
    let mut t = new_table(&[
        "REPOSITORY",
        "TAG",
        "IMAGE ID (v1)",
        "PARENT",
        "CREATED",
        "SIZE",
        "LAYER DIR",
    ]);
    let short = |id: &str| id.get(..12).unwrap_or(id).to_owned();
    for img in &store.images {
        let names: Vec<(String, String)> = if img.tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.tags
                .iter()
                .map(|t| match t.rsplit_once([':', '@']).filter(|(n, _)| !n.is_empty()) {
                    Some((n, tag)) if !tag.contains('/') => (n.to_owned(), tag.to_owned()),
                    _ => (t.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in names {
            t.add_row(vec![
                terminal_safe(&repo),
                terminal_safe(&tag),
                short(&img.id),
                img.parent.as_deref().map(short).unwrap_or_default(),
                short_time(&img.created),
                opt_size(img.size),
                match (&img.layer_dir, img.layer_dir_present) {
                    (Some(d), true) => terminal_safe(d),
                    (Some(d), false) => format!("{} (missing)", terminal_safe(d)),
                    (None, _) => "?".into(),
                },
            ]);
        }
    }
    write_table(out, t, layout)
}

/// `strata containers` on a pre-1.10 data-root.
pub fn write_legacy_containers(
    out: &mut dyn Write,
    store: &crate::store::legacy::LegacyStore,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, &store.containers);
    }
    let mut t = new_table(&["CONTAINER ID", "IMAGE", "IMAGE ID (v1)", "NAME", "STATE", "CREATED"]);
    for c in &store.containers {
        t.add_row(vec![
            c.id.get(..12).unwrap_or(&c.id).to_owned(),
            terminal_safe(c.image_ref.as_deref().unwrap_or("?")),
            c.image.as_deref().map(|i| i.get(..12).unwrap_or(i).to_owned()).unwrap_or_default(),
            terminal_safe(c.name.as_deref().unwrap_or("")),
            if c.running { "running".into() } else { format!("exited ({})", c.exit_code) },
            short_time(&c.created),
        ]);
    }
    write_table(out, t, layout)
}
