//! The local image graph: images, layer chains, references, containers, linked.
//!
//! Built from the store readers' records exactly as the engine would link them, but
//! without dropping what the engine would silently skip: a broken image or layer stays
//! in the graph, marked, so the report can say what is wrong with it.

pub mod containerd;

use crate::digest::{chain_ids, ChainId, ImageId};
use crate::finding::Code;
use crate::finding::Finding;
use crate::fsread::{Limits, ReadError, SafeDir};
use crate::id::ContainerId;
use crate::reference::Reference;
use crate::store::containers::{read_containers, ContainerRecord};
use crate::store::distribution::{read_distribution, Distribution, V2Metadata};
use crate::store::graphdriver::{read_driver_home, DriverHome, DriverKind};
use crate::store::imagedb::{read_images, ImageRecord};
use crate::store::layerdb::{read_layerdb, LayerDb, LayerRecord, MountRecord};
use crate::store::layout::{detect_layout, StoreLayout};
use crate::store::repositories::{read_references, RefRecord};
use crate::store::StoreCtx;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Options for loading a graph.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--driver`: read `image/<driver>` whatever else is present.
    pub driver: Option<String>,
    /// `--max-*` limits on what each reader loads into memory.
    pub limits: Limits,
    /// `--store`: which image store to read when a host has both.
    pub store: Option<StoreKind>,
    /// `--containerd-root`.
    pub containerd_root: Option<PathBuf>,
    /// `--host-root`: a mounted host filesystem the roots were found under.
    pub host_root: Option<PathBuf>,
    /// The data-root is this machine's own, so this machine's containerd may be read.
    pub data_root_is_local: bool,
    /// `--namespace`: the containerd namespace [default: moby].
    pub namespace: Option<String>,
    /// Leave out overlay2's short-link bookkeeping (each layer directory's `link` and
    /// `lower`, the `l/` symlinks): set by the commands that do not show or check it
    /// (listings, df), which then read a third of the files on a big host.
    pub skip_overlay_links: bool,
    /// Which of each layer's layerdb files are read (all unless a listing asks for less).
    pub layer_files: crate::store::layerdb::LayerFiles,
}

/// Which image store a graph was built from.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// `image/<driver>/` with imagedb, layerdb and a graphdriver directory.
    Graphdriver,
    /// containerd's metadata, content store and snapshotter (Docker 29's default).
    Containerd,
}

/// The containerd image store a graph was built from.
#[derive(Debug)]
pub struct ContainerdPart {
    /// Where the containerd root was found, and how.
    pub location: crate::store::containerd::locate::Location,
    /// The containerd root, held open: snapshots and blobs are read through it.
    pub root: SafeDir,
    /// Everything read from the containerd root for the chosen namespace.
    pub store: crate::store::containerd::ContainerdStore,
    /// Every content blob present under some image, with its size.
    pub image_content: BTreeMap<crate::digest::Digest, i64>,
    /// The engine counts image content in `/system/df`'s LayersSize (28.2 and
    /// later). Judged from `buildkit/history_c8d.db`, which 27.5 and later write:
    /// between 27.5 and 28.1 the disk cannot tell, and the newer rule is used.
    pub df_counts_content: bool,
}

/// An image with everything linked to it: names, layer chain, children, containers, sizes.
#[derive(Debug)]
pub struct ImageNode {
    /// The image as its store records it (config, parent, creation time).
    pub record: ImageRecord,
    /// Familiar `name:tag` strings, in Docker's order.
    pub repo_tags: Vec<String>,
    /// Familiar `name@sha256:...` strings, in Docker's order.
    pub repo_digests: Vec<String>,
    /// ChainID of every prefix of the config's diff_ids.
    pub chain_ids: Vec<ChainId>,
    /// Images whose parent is this one (the classic builder's parent chain).
    pub children: Vec<ImageId>,
    /// IDs of the containers created from this image.
    pub containers: Vec<ContainerId>,
    /// Σ layer sizes over the chain; `None` when a layer is missing or unreadable.
    pub size: Option<i64>,
    /// Bytes of its layers other images use too, as `/system/df` counts them.
    pub shared_size: Option<i64>,
    /// What the containerd image store adds (target, manifest, platform, names).
    /// Boxed: no image of a graphdriver store has one, and inline it was almost half of
    /// every node's bytes (264 of 568), in a map of 10,000 nodes on a big host.
    pub containerd: Option<Box<containerd::CtdImageInfo>>,
}

impl ImageNode {
    /// The image ID (the digest of the config for the graphdriver store, of the target for containerd).
    pub fn id(&self) -> ImageId {
        self.record.id
    }

    /// ChainID of the image's top layer; `None` for an image without layers.
    pub fn top_layer(&self) -> Option<ChainId> {
        self.chain_ids.last().copied()
    }

    /// Untagged, undigested and without children: what `docker image prune` removes.
    pub fn is_dangling(&self) -> bool {
        self.repo_tags.is_empty() && self.repo_digests.is_empty() && self.children.is_empty()
    }

    /// Untagged, undigested, with children: a classic builder's intermediate image,
    /// which `docker image ls` and `docker system df` leave out and the tree hides.
    pub fn is_intermediate(&self) -> bool {
        self.repo_tags.is_empty() && self.repo_digests.is_empty() && !self.children.is_empty()
    }

    /// Bytes only this image uses (`size - shared_size`); `None` when either is unknown.
    pub fn unique_size(&self) -> Option<i64> {
        self.size?.checked_sub(self.shared_size?)
    }
}

/// A layer (by ChainID) with everything linked to it: children, images, containers, directories.
#[derive(Debug)]
pub struct LayerNode {
    /// The layer as its store records it (DiffID, parent, size, cache-id).
    pub record: LayerRecord,
    /// Layers whose parent is this one.
    pub children: Vec<ChainId>,
    /// Images whose chain includes this layer.
    pub images: Vec<ImageId>,
    /// Containers whose RW layer sits on this layer.
    pub containers: Vec<ContainerId>,
    /// The layer's graphdriver directory, relative to the data-root.
    pub driver_dir: Option<PathBuf>,
    /// Where its files are, relative to the data-root.
    pub content_dir: Option<PathBuf>,
    /// Whether the driver directory exists on disk.
    pub driver_dir_present: bool,
    /// Registry blobs this layer was pulled as or pushed as.
    pub blobs: Vec<V2Metadata>,
    /// What the containerd image store adds (snapshot key and id, layer blob).
    /// Boxed, as [`ImageNode::containerd`] is, for the same reason (112 of 432 bytes).
    pub containerd: Option<Box<containerd::CtdLayerInfo>>,
}

impl LayerNode {
    /// The layer's ChainID.
    pub fn chain_id(&self) -> ChainId {
        self.record.chain_id
    }
}

/// A container with its RW layer.
#[derive(Debug)]
pub struct ContainerNode {
    /// The container as `containers/<id>/config.v2.json` records it.
    pub record: ContainerRecord,
    /// Its RW layer's `layerdb/mounts/<id>` record (mount-id, init-id, parent ChainID), when there is one.
    pub mount: Option<MountRecord>,
    /// RW layer directory, relative to the data-root.
    pub rw_dir: Option<PathBuf>,
    /// The `-init` layer directory (the files Docker writes before start), relative to the data-root.
    pub init_dir: Option<PathBuf>,
}

/// The whole linked store.
#[derive(Debug)]
pub struct Graph {
    /// The data-root read (absolute, symlinks resolved).
    pub data_root: PathBuf,
    /// Which image store the images, layers and containers come from.
    pub store: StoreKind,
    /// The containerd image store, when that is the one read.
    pub containerd: Option<ContainerdPart>,
    /// The other image store, when this host holds one beside the store read (a
    /// migration left both): `images` lists it too, `--store` picks one.
    pub also: Option<StoreKind>,
    /// Which graphdriver stores `image/` holds and which one was chosen.
    pub layout: StoreLayout,
    /// The graphdriver store read, e.g. `overlay2`; empty when none was found.
    pub driver_name: String,
    /// The storage driver, when strata knows how to read its directories.
    pub driver: Option<DriverKind>,
    /// Every image, by ID, including broken ones (marked, not dropped).
    pub images: BTreeMap<ImageId, ImageNode>,
    /// Every layer, by ChainID.
    pub layers: BTreeMap<ChainId, LayerNode>,
    /// Every container, by ID.
    pub containers: BTreeMap<ContainerId, ContainerNode>,
    /// RW layers and leftovers in layerdb that are not image layers.
    pub layerdb: LayerDbExtras,
    /// Every entry of `repositories.json`, resolved or not.
    pub references: Vec<RefRecord>,
    /// The `distribution/` maps between DiffIDs and registry blob digests.
    pub distribution: Distribution,
    /// What the graphdriver's own directory holds (`overlay2/`, `vfs/dir/`...).
    pub driver_home: Option<DriverHome>,
    /// BuildKit's build cache (`<data-root>/buildkit/`), when there is one.
    pub buildkit: Option<crate::store::buildkit::BuildkitStore>,
    /// Which engine generation wrote the data-root, as far as the disk tells.
    pub engine: EngineGeneration,
    /// A pre-1.10 data-root's images and containers (`graph/`), when there is no
    /// modern image store: listed as recorded, nothing to verify.
    pub legacy: Option<crate::store::legacy::LegacyStore>,
    /// Problems met while reading; checks add their own findings elsewhere.
    pub findings: Vec<Finding>,
    /// The user namespace the store was written in (userns-remap or rootless), whose
    /// shift the owners on disk carry; `None` for an ordinary data-root.
    pub userns: Option<crate::store::userns::UserNamespace>,
}

/// Engines before and after Docker 23 count shared image sizes differently: 20.10
/// counts a layer's users among the images it lists (tagged, digested or dangling
/// heads, not intermediate build images), 23 and later among every image in the store.
/// 23 also started writing `<root>/engine-id`, which is how strata tells them apart.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineGeneration {
    /// Docker 20.10 and earlier: no `engine-id` file.
    Legacy,
    /// Docker 23 and later.
    Modern,
}

/// The parts of layerdb that are not image layers.
#[derive(Debug, Default)]
pub struct LayerDbExtras {
    /// RW layers (`layerdb/mounts/<container-id>`), by container ID.
    pub mounts: BTreeMap<String, MountRecord>,
    /// `layerdb/sha256/<chainID>-<random>-removing` directories left by interrupted deletes.
    pub removing: Vec<crate::store::layerdb::RemovingLayer>,
    /// Entries under `layerdb/tmp`, left by interrupted layer registrations.
    pub tmp_leftovers: Vec<PathBuf>,
}

/// Why a graph could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The data-root cannot be opened or listed (missing, or permission denied).
    #[error("cannot open data-root {0}")]
    Root(#[source] ReadError),
}

/// `features.containerd-snapshotter` from the daemon.json of the host being read:
/// this machine's when its own data-root is read, the host's under `--host-root`,
/// none for a copy.
fn snapshotter_feature(opts: &LoadOptions) -> Option<bool> {
    let path = match (&opts.host_root, opts.data_root_is_local) {
        (Some(h), _) => h.join("etc/docker/daemon.json"),
        (None, true) => PathBuf::from("/etc/docker/daemon.json"),
        (None, false) => return None,
    };
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    v.get("features")?.get("containerd-snapshotter")?.as_bool()
}

/// moby's `graphdriver.HasPriorDriver`: the chosen graphdriver's home holds layers.
fn prior_graphdriver(layout: &StoreLayout) -> bool {
    layout.chosen.as_ref().is_some_and(|c| layout.driver_homes.contains(c))
}

/// A data-root the user may not read is one clear error, not an empty listing with
/// a warning that no store was found: the top, `image/` and each `image/<driver>`
/// must be listable (a partly damaged store below them is a finding, not this).
fn check_permission(root: &SafeDir) -> Result<(), ReadError> {
    let denied = |rel: &Path| match root.read_dir(rel) {
        Err(e) if e.is_permission_denied() => Err(e),
        Err(_) => Ok(Vec::new()),
        Ok(v) => Ok(v),
    };
    denied(Path::new(""))?;
    for entry in denied(Path::new("image"))? {
        if entry.kind == crate::fsread::FileKind::Dir {
            denied(&Path::new("image").join(&entry.name))?;
        }
    }
    Ok(())
}

/// The host's `/etc` to read id ranges from: `<host-root>/etc`, or this machine's when
/// the data-root is this machine's own.
fn host_ids(opts: &LoadOptions) -> Option<crate::store::userns::HostIds> {
    use crate::store::userns::HostIds;
    match (&opts.host_root, opts.data_root_is_local) {
        (Some(h), _) => Some(HostIds { etc: h.join("etc") }),
        (None, true) => Some(HostIds { etc: PathBuf::from("/etc") }),
        (None, false) => None,
    }
}

/// Finds the user namespace a data-root was written in, and the directory to read:
/// the `<uid>.<gid>/` store of a userns-remap engine under `root`, `root` itself when
/// it is one, or a rootless data-root (owned by the user who ran the engine).
fn enter_userns(
    root: SafeDir,
    opts: &LoadOptions,
    notes: &mut Vec<Finding>,
) -> Result<(SafeDir, Option<crate::store::userns::UserNamespace>), ReadError> {
    use crate::store::userns::{
        parse_remap_name, pick_remapped_root, remap_namespace, rootless_namespace, HostIds,
    };
    let host = host_ids(opts);
    if let Some((name, uid, gid)) = pick_remapped_root(&root, notes) {
        let sub = root.open_dir(Path::new(&name))?;
        check_permission(&sub)?;
        let ns = remap_namespace(sub.path(), uid, gid, host.as_ref());
        return Ok((sub, Some(ns)));
    }
    let holds_store = root.exists(Path::new("image")) || root.exists(Path::new("containers"));
    if !holds_store {
        return Ok((root, None));
    }
    let own_name = root.path().file_name().and_then(|n| n.to_str()).and_then(parse_remap_name);
    if let Some((uid, gid)) = own_name {
        let ns = remap_namespace(root.path(), uid, gid, host.as_ref());
        return Ok((root, Some(ns)));
    }
    let Ok(meta) = root.lstat(Path::new("")) else { return Ok((root, None)) };
    if meta.uid == 0 {
        return Ok((root, None));
    }
    // This machine's files count for a data-root in the home of the user who owns it
    // (`~/.local/share/docker`), never for a copy elsewhere: a copy's owner is
    // someone else's uid on the analyst's machine.
    let host = host.or_else(|| {
        let etc = HostIds { etc: PathBuf::from("/etc") };
        let (_, home) = etc.user(meta.uid)?;
        (home != Path::new("/") && root.path().starts_with(&home)).then_some(etc)
    });
    let ns = rootless_namespace(root.path(), (meta.uid, meta.gid), host.as_ref());
    Ok((root, Some(ns)))
}

impl Graph {
    /// Opens `data_root` and reads and links every store in it.
    /// A userns-remap engine keeps its store one level down, in `<uid>.<gid>/`: that
    /// directory is read instead (see [`crate::store::userns`]).
    pub fn load(data_root: &Path, opts: &LoadOptions) -> Result<(Graph, SafeDir), LoadError> {
        let root = SafeDir::open_root(data_root).map_err(LoadError::Root)?;
        check_permission(&root).map_err(LoadError::Root)?;
        let mut notes = Vec::new();
        let (root, userns) = enter_userns(root, opts, &mut notes).map_err(LoadError::Root)?;
        let mut graph = Self::load_from(&root, opts);
        graph.userns = userns;
        graph.findings.extend(notes);
        Ok((graph, root))
    }

    /// Reads and links every store under an already-open data-root: the containerd store when the
    /// engine uses it (see `try_containerd`), else the chosen graphdriver store. Never fails: what
    /// cannot be read becomes a finding in [`Graph::findings`].
    pub fn load_from(root: &SafeDir, opts: &LoadOptions) -> Graph {
        let mut findings = Vec::new();
        let layout = detect_layout(root, opts.driver.as_deref(), &mut findings);
        let also = match Self::try_containerd(root, opts, &layout, &mut findings) {
            Ok(g) => return g,
            Err(other) => other.filter(|_| opts.store.is_none()),
        };
        let driver_name = layout.chosen.clone().unwrap_or_default();
        let driver = DriverKind::from_name(&driver_name);
        let ctx = StoreCtx::new(root, &driver_name, opts.limits);

        // The stores are read at once (see `store::together`), each into its own
        // findings, which are then kept in the order they were always reported in.
        let chosen = layout.chosen.is_some();
        let links = !opts.skip_overlay_links;
        let mut found: [Vec<Finding>; 5] = Default::default();
        let [f_images, f_layers, f_refs, f_home, f_containers] = &mut found;
        let ((images, db), ((references, distribution), (driver_home, containers))) =
            crate::store::together(
                || {
                    crate::store::together(
                        || if chosen { read_images(&ctx, f_images) } else { Default::default() },
                        || {
                            if chosen {
                                read_layerdb(&ctx, opts.layer_files, f_layers)
                            } else {
                                Default::default()
                            }
                        },
                    )
                },
                || {
                    crate::store::together(
                        || {
                            if chosen {
                                (read_references(&ctx, f_refs), read_distribution(&ctx, f_refs))
                            } else {
                                Default::default()
                            }
                        },
                        || {
                            crate::store::together(
                                || {
                                    // Without cache-ids nothing ties the driver home's
                                    // directories to a layer: a command that reads none
                                    // (`images`) skips its listing.
                                    driver
                                        .filter(|_| chosen && opts.layer_files.cache_id)
                                        .map(|k| read_driver_home(&ctx, k, links, f_home))
                                },
                                || read_containers(&ctx, f_containers),
                            )
                        },
                    )
                },
            );
        let [f_images, f_layers, f_refs, f_home, f_containers] = found;
        findings.extend(f_images);
        findings.extend(f_layers);
        findings.extend(f_refs);
        findings.extend(f_home);
        findings.extend(f_containers);
        let legacy = if layout.chosen.is_none() {
            crate::store::legacy::read_legacy(root, &opts.limits, &mut findings)
        } else {
            None
        };
        let buildkit = crate::store::buildkit::read_buildkit(
            root,
            driver.map(|k| k.name()),
            &opts.limits,
            &mut findings,
        );

        let mut g = Graph {
            data_root: root.path().to_path_buf(),
            store: StoreKind::Graphdriver,
            containerd: None,
            also,
            layout,
            driver_name,
            driver,
            images: BTreeMap::new(),
            layers: BTreeMap::new(),
            containers: BTreeMap::new(),
            layerdb: LayerDbExtras::default(),
            references,
            distribution,
            driver_home,
            buildkit,
            engine: if root.exists(Path::new("engine-id")) {
                EngineGeneration::Modern
            } else {
                EngineGeneration::Legacy
            },
            legacy,
            findings,
            userns: None,
        };
        g.link(images, db, containers, root);
        let layers = &g.layers;
        if let Some(bk) = g.buildkit.as_mut() {
            bk.mark_shared(|c| ChainId::parse(c).is_ok_and(|c| layers.contains_key(&c)));
        }
        g
    }

    /// Reads the containerd image store instead of the graphdriver one when that
    /// is what the engine uses: `--store containerd`, or no graphdriver store with
    /// a containerd root found. Returns `None` to read the graphdriver store.
    /// `Err` carries the containerd store when one was found but not chosen.
    fn try_containerd(
        root: &SafeDir,
        opts: &LoadOptions,
        layout: &StoreLayout,
        findings: &mut Vec<Finding>,
    ) -> Result<Graph, Option<StoreKind>> {
        use crate::store::containerd::locate::{locate, Hints, LocatedBy, Location};
        if opts.store == Some(StoreKind::Graphdriver) {
            return Err(None);
        }
        let hints = Hints {
            explicit: opts.containerd_root.as_deref(),
            host_root: opts.host_root.as_deref(),
            data_root: Some(root.path()),
            data_root_is_local: opts.data_root_is_local,
        };
        let location = locate(&hints);
        let wanted = match (opts.store, snapshotter_feature(opts)) {
            (Some(s), _) => s == StoreKind::Containerd,
            // moby's rule (daemon/image_store_choice.go): the feature flag decides
            // when set; otherwise containerd, unless a graphdriver was asked for or
            // a prior graphdriver's directory holds layers.
            (None, Some(on)) => on && location.is_some(),
            (None, None) => {
                location.is_some() && opts.driver.is_none() && !prior_graphdriver(layout)
            }
        };
        if !wanted {
            // Every dockerd keeps a small containerd root; only one holding
            // unpacked images (or one outside the data-root) is worth naming.
            let worth_naming = |l: &&Location| {
                layout.containerd.is_some() || l.located_by != LocatedBy::InsideDataRoot
            };
            if let Some(l) = location.as_ref().filter(worth_naming) {
                findings.push(Finding::info(
                    Code::UnsupportedStore,
                    format!("a containerd root is also present at {}; read it alone with --store containerd", l.path.display()),
                ));
                return Err(Some(StoreKind::Containerd));
            }
            return Err(None);
        }
        // The layout's "no image store" warning is answered: this is the store.
        findings.retain(|f| f.code != Code::StoreMissing);
        let Some(location) = location else {
            findings.push(Finding::error(
                Code::StoreMissing,
                "no containerd root found: give it with --containerd-root DIR (or --host-root for a mounted host)",
            ));
            return Err(None);
        };
        let ctd_root = match SafeDir::open_root(&location.path) {
            Ok(d) => d,
            Err(e) => {
                findings.push(Finding::error(
                    Code::StoreUnreadable,
                    format!("cannot read the containerd root {}: {e}", location.path.display()),
                ));
                return Err(None);
            }
        };
        // Docker's containers are listed before meta.db is read, not after: Docker
        // prepares a container's snapshot before it writes its config.v2.json, and marks
        // a container dead on disk before it removes the snapshot. Read in this order, a
        // live container listed here has its snapshot in the meta.db read next, so one
        // being created cannot look like one whose snapshot was lost.
        let ctx = StoreCtx::new(root, "", opts.limits);
        let mut container_findings = Vec::new();
        let containers = read_containers(&ctx, &mut container_findings);
        let read = |ns: &str, findings: &mut Vec<Finding>| {
            crate::store::containerd::read_store(&ctd_root, ns, None, opts.limits, findings)
        };
        let mut store = read(opts.namespace.as_deref().unwrap_or("moby"), findings);
        if opts.namespace.is_none() && store.images.is_empty() {
            // No `--namespace` and nothing in Docker's: a containerd-only host (a
            // Kubernetes node keeps its images in k8s.io). Read the fullest one.
            let fullest = store
                .namespaces
                .iter()
                .filter(|n| n.images > 0)
                .max_by_key(|n| (n.images, std::cmp::Reverse(n.name.clone())));
            if let Some(ns) = fullest.map(|n| n.name.clone()) {
                let mut again = Vec::new();
                store = read(&ns, &mut again);
                findings.extend(again);
            }
        }
        findings.extend(container_findings);
        // Snapshotters laid out as a graphdriver strata knows: overlayfs keeps
        // overlay2's diffs and whiteouts, native a full copy per snapshot as vfs.
        let driver = match store.snapshotter.as_str() {
            "overlayfs" => Some(DriverKind::Overlay2),
            "native" => Some(DriverKind::Vfs),
            "btrfs" => Some(DriverKind::Btrfs),
            other => {
                findings.push(Finding::warning(
                    Code::UnsupportedStore,
                    format!("snapshotter {other:?} is not one strata knows the layout of; layer files will not be checked"),
                ));
                None
            }
        };
        let mut g = Graph {
            data_root: root.path().to_path_buf(),
            store: StoreKind::Containerd,
            containerd: None,
            // Chosen by the feature flag over a graphdriver store that holds layers.
            also: (opts.store.is_none() && prior_graphdriver(layout))
                .then_some(StoreKind::Graphdriver),
            layout: layout.clone(),
            driver_name: store.snapshotter.clone(),
            driver,
            images: BTreeMap::new(),
            layers: BTreeMap::new(),
            containers: BTreeMap::new(),
            layerdb: LayerDbExtras::default(),
            references: Vec::new(),
            distribution: Distribution::default(),
            driver_home: None,
            buildkit: crate::store::buildkit::read_buildkit(root, None, &opts.limits, findings),
            engine: EngineGeneration::Modern,
            legacy: None,
            findings: std::mem::take(findings),
            userns: None,
        };
        let image_content = containerd::link(&mut g, &ctd_root, &store, containers, opts.limits);
        g.connect();
        let df_counts_content = root.exists(Path::new("buildkit/history_c8d.db"));
        if let Some(bk) = g.buildkit.as_mut() {
            bk.mark_shared(|c| store.snapshots.contains_key(c));
        }
        g.containerd = Some(ContainerdPart {
            location,
            root: ctd_root,
            store,
            image_content,
            df_counts_content,
        });
        Ok(g)
    }

    /// The directory layer and container snapshot paths are relative to: the
    /// containerd root for that store, else the data-root.
    pub fn content_root<'a>(&'a self, data_root: &'a SafeDir) -> &'a SafeDir {
        self.containerd.as_ref().map_or(data_root, |c| &c.root)
    }

    /// Back links for a graph whose nodes were built by a store's own linker.
    fn connect(&mut self) {
        let parents: Vec<(ChainId, ChainId)> = self
            .layers
            .values()
            .filter_map(|l| l.record.parent.map(|p| (p, l.chain_id())))
            .collect();
        for (parent, child) in parents {
            if let Some(p) = self.layers.get_mut(&parent) {
                p.children.push(child);
            }
        }
        let uses: Vec<(ChainId, ImageId)> = self
            .images
            .values()
            .flat_map(|i| i.chain_ids.iter().map(move |c| (*c, i.id())))
            .collect();
        for (c, i) in uses {
            if let Some(l) = self.layers.get_mut(&c) {
                l.images.push(i);
            }
        }
        let image_parents: Vec<(ImageId, ImageId)> =
            self.images.values().filter_map(|i| i.record.parent.map(|p| (p, i.id()))).collect();
        for (parent, child) in image_parents {
            if let Some(p) = self.images.get_mut(&parent) {
                p.children.push(child);
            }
        }
        let ctrs: Vec<(ContainerId, Option<ImageId>)> =
            self.containers.iter().map(|(id, c)| (id.clone(), c.record.image)).collect();
        for (id, image) in ctrs {
            let Some(img) = image.and_then(|i| self.images.get_mut(&i)) else { continue };
            img.containers.push(id.clone());
            if let Some(top) = img.top_layer() {
                if let Some(l) = self.layers.get_mut(&top) {
                    l.containers.push(id);
                }
            }
        }
        // moby counts shared snapshots among the images `/system/df` lists:
        // intermediate build images are not among them.
        self.compute_shared_sizes(false);
    }

    fn link(
        &mut self,
        images: BTreeMap<ImageId, ImageRecord>,
        db: LayerDb,
        containers: BTreeMap<ContainerId, ContainerRecord>,
        root: &SafeDir,
    ) {
        let LayerDb { layers, mounts, removing, tmp_leftovers } = db;
        self.layerdb = LayerDbExtras { mounts, removing, tmp_leftovers };

        let mut layer_nodes = Vec::with_capacity(layers.len());
        for (id, record) in layers {
            let driver_dir = match (self.driver, &record.cache_id) {
                (Some(k), Some(c)) => Some(k.layer_dir(c)),
                _ => None,
            };
            let content_dir = match (self.driver, &record.cache_id) {
                (Some(k), Some(c)) => Some(k.content_dir(c)),
                _ => None,
            };
            // The driver home's listing already says which directories exist (one
            // getdents, not a lookup per layer); the disk is asked only when it cannot.
            let listed = match (&self.driver_home, &record.cache_id) {
                (Some(h), Some(c)) => h.holds(c.as_str()),
                _ => None,
            };
            let driver_dir_present = match listed {
                Some(present) => present && driver_dir.is_some(),
                None => driver_dir.as_deref().is_some_and(|d| root.exists(d)),
            };
            let blobs = record
                .diff_id
                .and_then(|d| self.distribution.v2metadata_by_diffid.get(&d).cloned())
                .unwrap_or_default();
            layer_nodes.push((
                id,
                LayerNode {
                    record,
                    children: Vec::new(),
                    images: Vec::new(),
                    containers: Vec::new(),
                    driver_dir,
                    content_dir,
                    driver_dir_present,
                    blobs,
                    containerd: None,
                },
            ));
        }
        fill_map(&mut self.layers, layer_nodes);
        let parents: Vec<(ChainId, ChainId)> = self
            .layers
            .values()
            .filter_map(|l| l.record.parent.map(|p| (p, l.chain_id())))
            .collect();
        for (parent, child) in parents {
            if let Some(p) = self.layers.get_mut(&parent) {
                p.children.push(child);
            }
        }

        // References, in Docker's order: sorted by the full normalised string.
        let mut refs_by_image: BTreeMap<ImageId, Vec<&Reference>> = BTreeMap::new();
        for r in &self.references {
            if let (Some(p), Some(img)) = (&r.parsed, r.image) {
                refs_by_image.entry(img).or_default().push(p);
            }
        }
        for v in refs_by_image.values_mut() {
            v.sort_by_key(|r| r.to_string());
        }

        // Each ChainID is a SHA-256 of the one below it: on a 10,000-image host, tens of
        // milliseconds of one core that every core can share.
        let chains: Vec<Vec<ChainId>> = {
            use rayon::prelude::*;
            let records: Vec<&ImageRecord> = images.values().collect();
            records
                .par_iter()
                .map(|r| {
                    r.config
                        .as_ref()
                        .and_then(|c| c.diff_ids.as_ref())
                        .map(|d| chain_ids(d))
                        .unwrap_or_default()
                })
                .collect()
        };
        let mut image_nodes = Vec::with_capacity(images.len());
        for ((id, record), chain) in images.into_iter().zip(chains) {
            let refs = refs_by_image.get(&id);
            let repo_tags = refs
                .map(|v| {
                    v.iter()
                        .filter(|r| r.tag.is_some() && r.digest.is_none())
                        .map(|r| r.familiar())
                        .collect()
                })
                .unwrap_or_default();
            let repo_digests = refs
                .map(|v| v.iter().filter(|r| r.digest.is_some()).map(|r| r.familiar()).collect())
                .unwrap_or_default();
            // Sizes come from files anyone may have written: a sum that overflows is
            // unknown, never a panic or a wrapped negative.
            let size = chain
                .iter()
                .try_fold(0i64, |acc, c| acc.checked_add(self.layers.get(c)?.record.size?));
            for c in &chain {
                if let Some(l) = self.layers.get_mut(c) {
                    l.images.push(id);
                }
            }
            image_nodes.push((
                id,
                ImageNode {
                    record,
                    repo_tags,
                    repo_digests,
                    chain_ids: chain,
                    children: Vec::new(),
                    containers: Vec::new(),
                    size,
                    shared_size: None,
                    containerd: None,
                },
            ));
        }
        fill_map(&mut self.images, image_nodes);
        let image_parents: Vec<(ImageId, ImageId)> =
            self.images.values().filter_map(|i| i.record.parent.map(|p| (p, i.id()))).collect();
        for (parent, child) in image_parents {
            if let Some(p) = self.images.get_mut(&parent) {
                p.children.push(child);
            }
        }
        self.compute_shared_sizes(self.engine == EngineGeneration::Modern);

        for (id, record) in containers {
            let mount = self.layerdb.mounts.get(id.as_str()).cloned();
            let (rw_dir, init_dir) = match (self.driver, &mount) {
                (Some(k), Some(m)) => (
                    m.mount_id.as_deref().map(|i| k.content_dir(i)),
                    m.init_id.as_deref().map(|i| k.content_dir(i)),
                ),
                _ => (None, None),
            };
            if let Some(img) = record.image.and_then(|i| self.images.get_mut(&i)) {
                img.containers.push(id.clone());
            }
            if let Some(l) =
                mount.as_ref().and_then(|m| m.parent).and_then(|p| self.layers.get_mut(&p))
            {
                l.containers.push(id.clone());
            }
            self.containers.insert(id, ContainerNode { record, mount, rw_dir, init_dir });
        }
    }

    /// SharedSize as the engine computes it: count, over the images the engine
    /// counts (see [`EngineGeneration`]), each prefix ChainID of their diff_ids; a layer
    /// counted more than once is shared.
    fn compute_shared_sizes(&mut self, count_intermediates: bool) {
        let mut counts: BTreeMap<ChainId, usize> = BTreeMap::new();
        for img in self.images.values() {
            let intermediate = img.is_intermediate();
            if !count_intermediates && intermediate {
                continue;
            }
            for c in &img.chain_ids {
                *counts.entry(*c).or_default() += 1;
            }
        }
        let layers = &self.layers;
        for img in self.images.values_mut() {
            img.shared_size = img.chain_ids.iter().try_fold(0i64, |acc, c| {
                let size = layers.get(c)?.record.size?;
                if counts.get(c).copied().unwrap_or(0) > 1 {
                    acc.checked_add(size)
                } else {
                    Some(acc)
                }
            });
        }
    }

    /// Images ordered as `docker image ls` orders them: newest first.
    pub fn images_newest_first(&self) -> Vec<&ImageNode> {
        let mut v: Vec<&ImageNode> = self.images.values().collect();
        // Each time parsed once (a comparison sort would parse two per comparison: 280,000
        // parses for 10,000 images); the key orders as `newest_first`, then by ID.
        v.sort_by_cached_key(|i| {
            let created = i.record.config.as_ref().and_then(|c| c.created.as_deref());
            (std::cmp::Reverse(instant(created)), i.id())
        });
        v
    }

    /// Containers newest first (by `Created`), as `docker ps -a` orders them.
    pub fn containers_newest_first(&self) -> Vec<&ContainerNode> {
        let mut v: Vec<&ContainerNode> = self.containers.values().collect();
        v.sort_by_cached_key(|c| {
            (std::cmp::Reverse(instant(c.record.created.as_deref())), c.record.id.clone())
        });
        v
    }

    /// The layers of an image, bottom first; `None` entries are missing from layerdb.
    pub fn image_layers(&self, img: &ImageNode) -> Vec<(ChainId, Option<&LayerNode>)> {
        img.chain_ids.iter().map(|c| (*c, self.layers.get(c))).collect()
    }

    /// Every layer beneath (and including) `top`, bottom first, following `parent`
    /// files; stops at a loop or a missing parent.
    pub fn layer_chain(&self, top: &ChainId) -> Vec<ChainId> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut cur = Some(*top);
        while let Some(c) = cur {
            if !seen.insert(c) {
                break;
            }
            out.push(c);
            cur = self.layers.get(&c).and_then(|l| l.record.parent);
        }
        out.reverse();
        out
    }
}

/// Puts `nodes` into `map`. An empty map is built from them in one go: `collect` fills
/// every B-tree node, where inserting keys in order one at a time leaves each node about
/// half empty; with nodes of a kilobyte and more (images, layers), that slack is a third
/// of the graph's memory on a big host.
fn fill_map<K: Ord, V>(map: &mut BTreeMap<K, V>, nodes: Vec<(K, V)>) {
    if map.is_empty() {
        *map = nodes.into_iter().collect();
    } else {
        map.extend(nodes);
    }
}

/// Orders two recorded times newest first, on the instants they name: RFC 3339 text
/// does not sort (`…43Z` after `…43.1Z`; offsets). A time that does not parse sorts
/// after every one that does, as if oldest.
pub fn newest_first(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    instant(b).cmp(&instant(a))
}

/// The instant a recorded RFC 3339 time names; `None` (older than any) when it does not parse.
fn instant(t: Option<&str>) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
}
