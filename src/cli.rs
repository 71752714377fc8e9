//! Command-line interface, in three steps as ripgrep does it: clap parses the
//! arguments ([`Cli`]), they are resolved once into a [`Plan`] (data-root, load
//! options, limits, output format, and after loading the command's references
//! resolved to targets, [`Job`]), and the plan is dispatched to the analyses and
//! renderers. Nothing past parsing looks at the raw arguments again.

use clap::{Parser, Subcommand};
use std::io::{self, Write};
use std::path::PathBuf;
use strata::analysis::files::LayerId;
use strata::audit::{AuditOptions, FailOn};
use strata::finding::{Finding, Severity};
use strata::fsread::{Limits, SafeDir};
use strata::graph::{Graph, LoadError, LoadOptions};
use strata::report::{self, Format, TreeFormat};
use strata::resolve::{resolve, Kinds, Target};
use strata::verify::run::Selection;
use strata::verify::VerifyOptions;

/// Exit statuses scripts can rely on.
pub mod exit {
    /// Ran; nothing at or above the failure threshold.
    pub const OK: i32 = 0;
    /// Ran; found problems at or above the failure threshold.
    pub const FINDINGS: i32 = 1;
    /// Could not run: bad arguments, unreadable data-root, unknown reference.
    pub const CANNOT_RUN: i32 = 2;
}

#[derive(Parser, Debug)]
#[command(name = "strata", version, about = "Read a Docker data-root straight from disk: images, layers, tags, digests and containers, and whether every ID still matches its bytes.", long_about = None)]
pub struct Cli {
    /// Docker data-root to read [default: data-root from /etc/docker/daemon.json, else /var/lib/docker]
    #[arg(long, global = true, env = "STRATA_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,

    /// containerd root holding the containerd image store [default: found as the engine would: <root>/containerd/daemon, or containerd's own root on this host; beside a copied root, lib/containerd]
    #[arg(long, global = true, env = "STRATA_CONTAINERD_ROOT", value_name = "DIR")]
    containerd_root: Option<PathBuf>,

    /// A mounted host filesystem (evidence): the data-root, the containerd root and their config files are found under it as that host would find them
    #[arg(long, global = true, value_name = "DIR")]
    host_root: Option<PathBuf>,

    /// Which image store to read when the host has both [default: the one the engine uses]
    #[arg(long, global = true, value_enum, value_name = "STORE")]
    store: Option<strata::graph::StoreKind>,

    /// containerd namespace to analyse [default: moby, Docker's; if it holds no image, the namespace with the most images]
    #[arg(long, global = true, value_name = "NAME")]
    namespace: Option<String>,

    /// Read image/<DRIVER> even if another store is present
    #[arg(long, global = true, value_name = "DRIVER")]
    driver: Option<String>,

    /// Output format [default: table]; `dot` is for `strata tree` only. Also accepted after the command
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<TreeFormat>,

    /// Largest metadata file (config, layerdb entry, repositories.json) read into memory, in bytes
    #[arg(long, global = true, default_value_t = Limits::default().max_metadata_bytes, value_name = "BYTES")]
    max_metadata_bytes: u64,

    /// Largest decompressed tar-split stream read for one layer, in bytes
    #[arg(long, global = true, default_value_t = Limits::default().max_tar_split_bytes, value_name = "BYTES")]
    max_tar_split_bytes: u64,

    /// Most entries read from one layer's tar-split stream
    #[arg(long, global = true, default_value_t = Limits::default().max_tar_split_entries, value_name = "N")]
    max_tar_split_entries: u64,

    /// Say nothing on stderr except errors
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List images, like `docker image ls -a`, with sizes and container counts
    Images(ImagesArgs),
    /// List layers (layerdb) with their parents, sizes, driver directories and registry blobs
    Layers(Output),
    /// List containers with their images and RW layers
    Containers(Output),
    /// List volumes: driver, anonymous or named, containers using them, size as Docker counts it
    Volumes(Output),
    /// Show everything known about one image, container, layer or volume (JSON)
    Inspect {
        /// Image (id, short id, name:tag, name@digest), container (id, short id, name), layer (chain id) or volume (name)
        reference: String,
        #[command(flatten)]
        out: Output,
    },
    /// Recompute image IDs, ChainIDs and DiffIDs from the bytes on disk; name every file that differs
    Verify(VerifyArgs),
    /// List the entries of a layer (or of each layer of an image) from its tar headers
    Files {
        /// Layer (chain id) or image (id, short id, name:tag, name@digest)
        reference: String,
        #[command(flatten)]
        out: Output,
    },
    /// Disk usage as `docker system df -v` counts it, plus logs and orphans no prune frees
    Df(DfArgs),
    /// Audit the whole data-root: consistency checks, registry cross-links, layer content, disk usage
    Audit(AuditArgs),
    /// Draw the layer forest: shared layers once, images at their top layer, containers at their image
    Tree {
        /// Draw with ASCII instead of Unicode box drawing
        #[arg(long)]
        ascii: bool,
        /// Draw only N levels of layers; deeper ones are summarised
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        depth: Option<u32>,
        /// Only the chain of this image (id, short id, name:tag, name@digest)
        #[arg(long, value_name = "REF", conflicts_with = "whatrequires")]
        image: Option<String>,
        /// Reverse view: every layer, image and container that depends on this layer or image
        #[arg(long, value_name = "LAYER|IMAGE")]
        whatrequires: Option<String>,
        /// Show the classic builder's untagged intermediate images too
        #[arg(long, short)]
        all: bool,
        /// Show build steps in full
        #[arg(long)]
        no_trunc: bool,
        /// Output format: table, json or dot (Graphviz) [default: table]
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<TreeFormat>,
    },
    /// Show what a container changed against its image, like `docker diff`
    Diff {
        /// Container (id, short id, name)
        container: String,
        #[command(flatten)]
        out: Output,
    },
    /// Show an image's build steps and the layer each made, like `docker history --no-trunc`
    History {
        /// Image (id, short id, name:tag, name@digest)
        image: String,
        #[command(flatten)]
        out: Output,
    },
    /// Save images to a tar archive `docker load` accepts, as `docker save` writes it; every layer checked against its DiffID on the way
    Save(SaveArgs),
    /// Export the flattened filesystem of a container (or of an image) to a tar archive, as `docker export` writes it
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
struct SaveArgs {
    /// Images (id, short id, name:tag, name@digest); a name:tag records that tag
    #[arg(required = true)]
    references: Vec<String>,

    /// Write the archive to FILE (`-` for stdout); written under a temporary name and renamed when complete
    #[arg(long, short = 'o', value_name = "FILE", required = true)]
    output: PathBuf,

    /// Write a layer that does not match its DiffID as it is on disk and record the mismatch in index.json, instead of stopping
    #[arg(long)]
    allow_mismatch: bool,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// Container (id, short id, name) or image (id, short id, name:tag, name@digest)
    reference: String,

    /// Write the archive to FILE (`-` for stdout); written under a temporary name and renamed when complete
    #[arg(long, short = 'o', value_name = "FILE", required = true)]
    output: PathBuf,
}

/// `--format` for every command but `tree`: `dot` is refused here, by clap.
#[derive(clap::Args, Debug, Clone, Copy)]
struct Output {
    /// Output format: table or json; ndjson for audit and verify; html for audit [default: table]
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,

    /// Show every table cell whole, lines as long as they need (the layout piped output gets without COLUMNS)
    #[arg(long)]
    no_trunc: bool,
}

#[derive(clap::Args, Debug, Clone, Copy)]
struct ImagesArgs {
    /// Show registry digests (always shown with --no-trunc or piped without COLUMNS)
    #[arg(long)]
    digests: bool,

    #[command(flatten)]
    out: Output,
}

const DOT_REFUSED: &str =
    "--format dot is only available for `strata tree`; use table or json here";
const HTML_REFUSED: &str =
    "--format html is only available for `strata audit`; use table or json here";
const NDJSON_REFUSED: &str = "--format ndjson is only available for `strata audit` and `strata verify`; use table or json here";

fn parse_format(s: &str) -> Result<Format, String> {
    use clap::ValueEnum;
    if s.eq_ignore_ascii_case("dot") {
        return Err(DOT_REFUSED.to_owned());
    }
    Format::from_str(s, false)
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    /// Images (id, short id, name:tag, name@digest) or layers (chain id) to verify [default: everything]
    references: Vec<String>,

    /// A layer (chain id) to verify; may be repeated
    #[arg(long = "layer", value_name = "CHAIN_ID")]
    layers: Vec<String>,

    /// Compare sizes, types and presence only: hash nothing
    #[arg(long)]
    quick: bool,

    #[command(flatten)]
    out: Output,

    /// Layers verified at once [default: one per core]
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    jobs: usize,
}

#[derive(clap::Args, Debug)]
struct DfArgs {
    /// Walk the whole data-root once: set each row against the bytes on disk and name by path what no row explains
    #[arg(long)]
    reconcile: bool,

    #[command(flatten)]
    out: Output,
}

#[derive(clap::Args, Debug)]
struct AuditArgs {
    /// Check metadata only: do not hash layer content
    #[arg(long)]
    metadata_only: bool,

    /// Layers hashed at once [default: one per core]
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    jobs: usize,

    /// A docker-registry storage directory (holding docker/registry/v2) to cross-check repo digests against, offline
    #[arg(long, value_name = "DIR")]
    registry_root: Option<PathBuf>,

    /// Exit 1 when a finding at or above this severity is found
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,

    #[command(flatten)]
    out: Output,

    /// Write the report to FILE instead of stdout (for --format html: the page)
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_exit(&e),
    };
    let plan = match Plan::new(cli) {
        Ok(p) => p,
        Err(e) => return clap_exit(&e),
    };
    match plan.run() {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            eprintln!("strata: {e:#}");
            exit::CANNOT_RUN
        }
    }
}

/// Prints a clap error (or help/version) and gives its exit status.
fn clap_exit(e: &clap::Error) -> i32 {
    let _ = e.print();
    if e.use_stderr() {
        exit::CANNOT_RUN
    } else {
        exit::OK
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The arguments resolved once: where to read, how, with what limits, in which
/// format, and which command. References are resolved after loading ([`Job`]).
struct Plan {
    data_root: PathBuf,
    load: LoadOptions,
    limits: Limits,
    quiet: bool,
    /// Format for every command but `tree`.
    format: Format,
    /// Format for `tree`.
    tree_format: TreeFormat,
    /// How tables meet the terminal (`COLUMNS`, `--no-trunc`, `--digests`).
    layout: report::Layout,
    command: Command,
}

impl Plan {
    /// Resolves the parsed arguments. `--format` given before the command takes the
    /// tree's formats; `dot` there is refused for other commands with a clap error.
    fn new(cli: Cli) -> Result<Self, clap::Error> {
        let limits = Limits {
            max_metadata_bytes: cli.max_metadata_bytes,
            max_tar_split_bytes: cli.max_tar_split_bytes,
            max_tar_split_entries: cli.max_tar_split_entries,
        };
        use strata::store::layout::{host_data_root, resolve_data_root, RootSource};
        let (data_root, source) = match (&cli.root, &cli.host_root, &cli.containerd_root) {
            (None, Some(host), _) => (host_data_root(host), RootSource::HostRoot),
            // containerd alone (a Kubernetes node): no Docker data-root to read, and
            // this machine's must not be mixed in.
            (None, None, Some(ctd)) => (ctd.clone(), RootSource::ContainerdOnly),
            _ => resolve_data_root(cli.root.as_deref()),
        };
        let store = match source {
            RootSource::ContainerdOnly => Some(strata::graph::StoreKind::Containerd),
            _ => cli.store,
        };
        let output = match &cli.command {
            Command::Images(a) => Some(a.out),
            Command::Layers(o) | Command::Containers(o) | Command::Volumes(o) => Some(*o),
            Command::Df(a) => Some(a.out),
            Command::Inspect { out, .. }
            | Command::Files { out, .. }
            | Command::Diff { out, .. }
            | Command::History { out, .. } => Some(*out),
            Command::Verify(a) => Some(a.out),
            Command::Audit(a) => Some(a.out),
            Command::Tree { .. } | Command::Save(_) | Command::Export(_) => None,
        };
        let sub = output.and_then(|o| o.format);
        let digests = matches!(&cli.command, Command::Images(a) if a.digests);
        let layout = report::Layout::detect(output.is_some_and(|o| o.no_trunc), digests);
        let is_tree = matches!(cli.command, Command::Tree { .. });
        let format = match (sub, cli.format) {
            (Some(f), _) => f,
            (None, None | Some(TreeFormat::Table)) => Format::Table,
            (None, Some(TreeFormat::Json)) => Format::Json,
            (None, Some(TreeFormat::Dot)) if is_tree => Format::Table,
            (None, Some(TreeFormat::Dot)) => {
                use clap::CommandFactory;
                return Err(Cli::command().error(clap::error::ErrorKind::InvalidValue, DOT_REFUSED));
            }
        };
        if format == Format::Ndjson
            && !matches!(cli.command, Command::Audit(_) | Command::Verify(_))
        {
            use clap::CommandFactory;
            return Err(Cli::command().error(clap::error::ErrorKind::InvalidValue, NDJSON_REFUSED));
        }
        if format == Format::Html && !matches!(cli.command, Command::Audit(_)) {
            use clap::CommandFactory;
            return Err(Cli::command().error(clap::error::ErrorKind::InvalidValue, HTML_REFUSED));
        }
        let tree_format = match &cli.command {
            Command::Tree { format: Some(f), .. } => *f,
            _ => cli.format.unwrap_or_default(),
        };
        Ok(Self {
            data_root,
            load: LoadOptions {
                driver: cli.driver.clone(),
                limits,
                store,
                containerd_root: cli.containerd_root.clone(),
                host_root: cli.host_root.clone(),
                // Only this machine's own data-root may lead to this machine's containerd.
                data_root_is_local: matches!(source, RootSource::DaemonJson | RootSource::Default),
                namespace: cli.namespace.clone(),
            },
            limits,
            quiet: cli.quiet,
            format,
            tree_format,
            layout,
            command: cli.command,
        })
    }

    fn load(&self) -> anyhow::Result<(Graph, SafeDir)> {
        match Graph::load(&self.data_root, &self.load) {
            Ok(loaded) => {
                if let (Some(ctd), false) = (&loaded.0.containerd, self.quiet) {
                    // Which root was read is never left to guess: evidence and the
                    // analyst's own host must not be mixed up.
                    let namespaces: Vec<String> = ctd
                        .store
                        .namespaces
                        .iter()
                        .map(|n| format!("{} ({} images)", n.name, n.images))
                        .collect();
                    eprintln!(
                        "strata: reading the containerd image store at {} (namespace {}, snapshotter {}; {}); namespaces: {}",
                        ctd.location.path.display(),
                        ctd.store.namespace,
                        ctd.store.snapshotter,
                        ctd.location.located_by.describe(),
                        strata::finding::terminal_safe(&namespaces.join(", "))
                    );
                }
                Ok(loaded)
            }
            Err(LoadError::Root(e)) => {
                let hint =
                    if e.is_not_found() { " (give the data-root with --root DIR)" } else { "" };
                Err(anyhow::anyhow!("cannot read data-root: {e}{hint}"))
            }
        }
    }

    /// Loads, resolves the command's references, and dispatches.
    fn run(&self) -> anyhow::Result<i32> {
        let (g, root) = self.load()?;
        if !matches!(self.command, Command::Verify(_) | Command::Audit(_)) {
            // The audit and verify reports carry read problems themselves.
            self.note_read_problems(&g.findings);
        }
        let Some(job) = self.resolve(&g) else { return Ok(exit::CANNOT_RUN) };
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let code = self.dispatch(job, &g, &root, &mut out)?;
        out.flush()?;
        Ok(code)
    }

    /// The command with its references resolved to targets; `None` (said on stderr)
    /// when one names nothing.
    fn resolve<'a>(&'a self, g: &Graph) -> Option<Job<'a>> {
        Some(match &self.command {
            Command::Images(_) => Job::Images,
            Command::Layers(_) => Job::Layers,
            Command::Containers(_) => Job::Containers,
            Command::Df(a) => Job::Df { reconcile: a.reconcile },
            Command::Volumes(_) => Job::Volumes,
            Command::Inspect { reference, .. } => match resolve(g, reference, Kinds::ALL) {
                Ok(t) => Job::Inspect(t),
                Err(_) if self.volume_named(g, reference).is_some() => {
                    Job::InspectVolume(reference)
                }
                Err(e) => {
                    eprintln!("strata: {e}");
                    return None;
                }
            },
            Command::Files { reference, .. } => {
                Job::Files(match resolve_or_report(g, reference, Kinds::IMAGES_AND_LAYERS)? {
                    Target::Layer(l) => vec![LayerId {
                        chain_id: l,
                        diff_id: g.layers.get(&l).and_then(|n| n.record.diff_id),
                    }],
                    Target::Image(i) => {
                        let img = &g.images[&i];
                        let diffs = img
                            .record
                            .config
                            .as_ref()
                            .and_then(|c| c.diff_ids.clone())
                            .unwrap_or_default();
                        img.chain_ids
                            .iter()
                            .zip(diffs)
                            .map(|(c, d)| LayerId { chain_id: *c, diff_id: Some(d) })
                            .collect()
                    }
                    _ => return None,
                })
            }
            Command::Tree { ascii, depth, image, whatrequires, all, no_trunc, .. } => {
                let mut filter = report::tree::TreeFilter { all: *all, ..Default::default() };
                if let Some(r) = image {
                    let Some(Target::Image(id)) = resolve_or_report(g, r, Kinds::IMAGES) else {
                        return None;
                    };
                    filter.image = Some(id);
                }
                if let Some(r) = whatrequires {
                    match resolve_or_report(g, r, Kinds::IMAGES_AND_LAYERS)? {
                        Target::Layer(l) => filter.requires_layer = Some(l),
                        Target::Image(i) => {
                            filter.requires_image = Some(i);
                            filter.requires_layer = g
                                .images
                                .get(&i)
                                .and_then(|img| img.top_layer())
                                .filter(|t| g.layers.contains_key(t));
                        }
                        _ => return None,
                    }
                }
                let style = report::tree::TreeStyle {
                    ascii: *ascii,
                    color: use_color(),
                    no_trunc: *no_trunc,
                    depth: depth.map(|d| d as usize),
                };
                Job::Tree { filter, style }
            }
            Command::Diff { container, .. } => {
                let Some(Target::Container(id)) =
                    resolve_or_report(g, container, Kinds::CONTAINERS)
                else {
                    return None;
                };
                g.containers.contains_key(&id).then_some(Job::Diff(id))?
            }
            Command::History { image, .. } => {
                let Some(Target::Image(id)) = resolve_or_report(g, image, Kinds::IMAGES) else {
                    return None;
                };
                g.images.contains_key(&id).then_some(Job::History(id))?
            }
            Command::Verify(args) => {
                let mut sel = Selection::default();
                for r in &args.references {
                    match resolve_or_report(g, r, Kinds::IMAGES_AND_LAYERS)? {
                        Target::Image(i) => {
                            sel.images.insert(i);
                        }
                        Target::Layer(l) => {
                            sel.layers.insert(l);
                        }
                        _ => return None,
                    }
                }
                for r in &args.layers {
                    match resolve_or_report(g, r, Kinds::LAYERS)? {
                        Target::Layer(l) => {
                            sel.layers.insert(l);
                        }
                        _ => return None,
                    }
                }
                Job::Verify(args, sel)
            }
            Command::Audit(args) => Job::Audit(args),
            Command::Save(args) => {
                let mut images: Vec<strata::archive::save::SaveImage> = Vec::new();
                for r in &args.references {
                    let Target::Image(id) = resolve_or_report(g, r, Kinds::IMAGES)? else {
                        return None;
                    };
                    let img = g.images.get(&id)?;
                    // A name:tag records that tag, as `docker save` does; an ID none.
                    let tag = strata::reference::Reference::parse(r)
                        .ok()
                        .filter(|p| p.digest.is_none())
                        .map(|p| p.with_default_tag().familiar())
                        .filter(|t| img.repo_tags.contains(t));
                    match images.iter_mut().find(|i| i.id == id) {
                        Some(i) => i.tags.extend(tag.filter(|t| !i.tags.contains(t))),
                        None => images.push(strata::archive::save::SaveImage {
                            id,
                            tags: tag.into_iter().collect(),
                        }),
                    }
                }
                Job::Save(args, images)
            }
            Command::Export(args) => {
                Job::Export(args, resolve_or_report(g, &args.reference, Kinds::ALL)?)
            }
        })
    }

    fn dispatch(
        &self,
        job: Job<'_>,
        g: &Graph,
        root: &SafeDir,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let (format, layout) = (self.format, self.layout);
        match job {
            Job::Verify(args, sel) => return self.verify(args, &sel, g, root, out),
            Job::Audit(args) => return self.audit(args, g, root, out),
            Job::Save(args, images) => return self.save(args, &images, g, root, out),
            Job::Export(args, target) => return self.export(args, &target, g, root, out),
            Job::Images => {
                // After a migration both stores hold images: list both, labelled.
                let other = g.also.and_then(|store| {
                    Graph::load(
                        &self.data_root,
                        &LoadOptions { store: Some(store), ..self.load.clone() },
                    )
                    .ok()
                });
                let graphs: Vec<&Graph> = std::iter::once(g)
                    .chain(other.as_ref().map(|o| &o.0))
                    .filter(|x| std::ptr::eq(*x, g) || !x.images.is_empty())
                    .collect();
                report::listing::write_images_of_stores(out, &graphs, format, layout)?
            }
            Job::Layers => report::listing::write_layers(out, g, format, layout)?,
            Job::Containers => {
                let sizes = strata::analysis::df::all_container_sizes(g, root);
                report::listing::write_containers(out, g, &sizes, format, layout)?
            }
            Job::Inspect(target) => {
                if let Some(view) = report::inspect::inspect(g, &target) {
                    report::write_json(out, &view)?;
                }
            }
            Job::Volumes => {
                let mut findings = Vec::new();
                let volumes =
                    strata::store::volumes::read_volumes(root, &self.limits, &mut findings);
                self.note_read_problems(&findings);
                report::volumes::write_volumes(out, &volumes, format, layout)?;
            }
            Job::InspectVolume(name) => {
                if let Some(v) = self.volume_named(g, name) {
                    report::volumes::write_volume_inspect(out, &v)?;
                }
            }
            Job::Df { reconcile } => {
                let (usage, mut problems) = strata::analysis::df::disk_usage(g, root);
                let rec = reconcile.then(|| {
                    strata::analysis::reconcile::reconcile(g, root, &usage, &mut problems)
                });
                self.note_read_problems(&problems);
                report::df::write_df(out, &usage, rec.as_ref(), format, layout)?;
            }
            Job::Files(layers) => {
                let mut findings = Vec::new();
                let mut w = report::files::FilesWriter::new(out, format)?;
                for layer in &layers {
                    w.begin_layer(layer)?;
                    strata::analysis::files::for_each_file(
                        g,
                        root,
                        &layer.chain_id,
                        self.limits,
                        &mut findings,
                        &mut |f| w.file(&f),
                    )?;
                }
                w.finish()?;
                self.note_read_problems(&findings);
            }
            Job::Tree { filter, style } => {
                let forest = report::tree::build(g, &filter);
                match self.tree_format {
                    TreeFormat::Json => report::tree::write_tree_json(out, &forest)?,
                    TreeFormat::Dot => report::dot::write_dot(out, &forest)?,
                    TreeFormat::Table => report::tree::write_tree_text(out, &forest, style)?,
                }
            }
            Job::Diff(id) => {
                let (changes, findings) =
                    strata::analysis::diff::container_changes(g, root, &g.containers[id.as_str()])?;
                self.note_read_problems(&findings);
                report::diff::write_diff(out, &changes, format)?;
            }
            Job::History(id) => {
                let (steps, findings) = strata::analysis::history::image_history(g, &g.images[&id]);
                self.note_read_problems(&findings);
                report::history::write_history(out, &steps, format, layout)?;
            }
        }
        Ok(exit::OK)
    }

    /// The volume of that exact name, if the data-root has one.
    fn volume_named(&self, g: &Graph, name: &str) -> Option<strata::store::volumes::Volume> {
        let root = SafeDir::open_root(&g.data_root).ok()?;
        strata::store::volumes::read_volumes(&root, &self.limits, &mut Vec::new())
            .into_iter()
            .find(|v| v.name == name)
    }

    /// Tells the user on stderr that reading met problems, without burying the output.
    fn note_read_problems(&self, findings: &[Finding]) {
        if self.quiet {
            return;
        }
        let worst = findings.iter().map(|f| f.severity).max();
        let shown: Vec<&Finding> =
            findings.iter().filter(|f| f.severity >= Severity::Warning).collect();
        for f in shown.iter().take(5) {
            eprintln!("strata: {}: {}", f.severity, strata::finding::terminal_safe(&f.message));
        }
        if shown.len() > 5 {
            eprintln!(
                "strata: ... and {} more; run `strata audit` for the full list",
                shown.len() - 5
            );
        }
        if worst == Some(Severity::Info) || shown.is_empty() {
            for f in findings.iter().filter(|f| f.severity == Severity::Info) {
                eprintln!("strata: note: {}", strata::finding::terminal_safe(&f.message));
            }
        }
    }

    fn audit(
        &self,
        args: &AuditArgs,
        g: &Graph,
        root: &SafeDir,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let registry = match &args.registry_root {
            Some(p) => match SafeDir::open_root(p) {
                Ok(d) => Some(d),
                Err(e) => {
                    eprintln!("strata: cannot read registry root: {e}");
                    return Ok(exit::CANNOT_RUN);
                }
            },
            None => None,
        };
        let bar = self.progress_bar(g, !args.metadata_only);
        let tick = |n: u64| bar.inc(n);
        let opts = AuditOptions {
            metadata_only: args.metadata_only,
            jobs: args.jobs,
            limits: self.limits,
            progress: Some(&tick),
        };
        let result = strata::audit::run(g, root, registry.as_ref(), &opts);
        bar.finish_and_clear();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let roots: Vec<&std::path::Path> = std::iter::once(root.path())
            .chain(g.containerd.as_ref().map(|c| c.root.path()))
            .collect();
        let mut file = match &args.output {
            Some(p) => Some(OutputFile::create(p, &roots)?),
            None => None,
        };
        let code = self.write_audit(
            args,
            g,
            root,
            &result,
            now,
            match &mut file {
                Some(f) => &mut f.file,
                None => out,
            },
        )?;
        if let Some(f) = file {
            f.commit()?;
        }
        Ok(code)
    }

    fn write_audit(
        &self,
        args: &AuditArgs,
        g: &Graph,
        root: &SafeDir,
        result: &strata::audit::Audit,
        now: String,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        if self.format == Format::Ndjson {
            let scan = self.scan("audit", g, root, now);
            let totals = report::ndjson::Totals::new(
                &result.findings,
                g.images.len(),
                g.layers.len(),
                Some(g.containers.len()),
            );
            report::ndjson::write_ndjson(out, &scan, &result.findings, &totals)?;
            return Ok(if args.fail_on.tripped(&result.findings) {
                exit::FINDINGS
            } else {
                exit::OK
            });
        }
        let view = report::audit::AuditReport::new(g, result, now);
        if self.format == Format::Html {
            let forest = report::tree::build(g, &report::tree::TreeFilter::default());
            let histories = g
                .images
                .values()
                .map(|i| (i.id(), strata::analysis::history::image_history(g, i).0))
                .collect();
            let store = match &g.containerd {
                Some(ctd) => format!(
                    "containerd image store (snapshotter {}, namespace {})",
                    ctd.store.snapshotter, ctd.store.namespace
                ),
                None if g.driver_name.is_empty() => "no graphdriver store".to_owned(),
                None => format!("graphdriver {}", g.driver_name),
            };
            let host = strata::analysis::host::host_id(
                root,
                self.load.host_root.as_deref(),
                self.load.data_root_is_local,
            );
            let page = report::html::PageInput {
                report: &view,
                forest: &forest,
                host: &host,
                store,
                histories: &histories,
            };
            report::html::write_html(out, &page)?;
        } else {
            report::audit::write_audit(out, &view, self.format, self.layout)?;
        }
        out.flush()?;
        Ok(if args.fail_on.tripped(&result.findings) { exit::FINDINGS } else { exit::OK })
    }

    /// What every NDJSON line says of this scan: the host (see
    /// [`strata::analysis::host::host_id`]), the data-root, the time.
    fn scan(
        &self,
        command: &'static str,
        g: &Graph,
        root: &SafeDir,
        scan_time: String,
    ) -> report::ndjson::Scan {
        report::ndjson::Scan {
            command,
            host: strata::analysis::host::host_id(
                root,
                self.load.host_root.as_deref(),
                self.load.data_root_is_local,
            ),
            data_root: g.data_root.display().to_string(),
            scan_time,
            strata_version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// A progress bar on stderr for hashing runs, only for a person at a terminal, only
    /// when there is enough to hash for it to matter, and never with --quiet.
    fn progress_bar(&self, g: &Graph, hashing: bool) -> indicatif::ProgressBar {
        use std::io::IsTerminal;
        let total: u64 = g
            .layers
            .values()
            .filter_map(|l| l.record.size)
            .map(|s| s.max(0) as u64)
            .fold(0, u64::saturating_add);
        if self.quiet || !hashing || !io::stderr().is_terminal() || total < 256 << 20 {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} hashing layers {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    }

    /// Where `-o` sends an archive: stdout for `-` (never a terminal), else a file
    /// written beside its final name and renamed into place when complete.
    fn archive_output(
        &self,
        path: &std::path::Path,
        g: &Graph,
        root: &SafeDir,
    ) -> anyhow::Result<Option<OutputFile>> {
        if path.as_os_str() == "-" {
            use std::io::IsTerminal;
            if io::stdout().is_terminal() {
                anyhow::bail!("refusing to write a tar archive to a terminal: redirect stdout or give -o FILE");
            }
            return Ok(None);
        }
        let roots: Vec<&std::path::Path> = std::iter::once(root.path())
            .chain(g.containerd.as_ref().map(|c| c.root.path()))
            .collect();
        Ok(Some(OutputFile::create(path, &roots)?))
    }

    /// A byte-counting progress bar on stderr, for a person at a terminal.
    fn bytes_bar(&self, total: u64, what: &str) -> indicatif::ProgressBar {
        use std::io::IsTerminal;
        if self.quiet || !io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{spinner}} {what} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, {{eta}})"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    }

    /// Prints the findings that explain a stop, or that the output carries, on stderr.
    fn print_findings(&self, findings: &[Finding]) {
        for f in findings.iter().take(20) {
            let place = [f.path.as_deref(), f.file.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let place = if place.is_empty() { String::new() } else { format!(" ({place})") };
            eprintln!(
                "strata: {}: {}{}",
                f.severity,
                strata::finding::terminal_safe(&f.message),
                strata::finding::terminal_safe(&place)
            );
        }
        if findings.len() > 20 {
            eprintln!(
                "strata: ... and {} more; `strata verify` lists them all",
                findings.len() - 20
            );
        }
    }

    fn save(
        &self,
        args: &SaveArgs,
        images: &[strata::archive::save::SaveImage],
        g: &Graph,
        root: &SafeDir,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let mut file = self.archive_output(&args.output, g, root)?;
        let mut seen = std::collections::BTreeSet::new();
        let total: u64 = images
            .iter()
            .filter_map(|i| g.images.get(&i.id))
            .flat_map(|i| i.chain_ids.iter())
            .filter(|c| seen.insert(**c))
            .filter_map(|c| g.layers.get(c))
            .filter_map(|l| {
                l.record.size.or(l
                    .containerd
                    .as_ref()
                    .and_then(|c| c.blob.as_ref())
                    .map(|b| b.size))
            })
            .map(|s| s.max(0) as u64)
            .fold(0, u64::saturating_add);
        let bar = self.bytes_bar(total, "saving");
        let tick = |n: u64| bar.inc(n);
        let opts = strata::archive::save::SaveOptions {
            allow_mismatch: args.allow_mismatch,
            limits: self.limits,
        };
        let result = strata::archive::save::save(
            g,
            root,
            images,
            &opts,
            Some(&tick),
            match &mut file {
                Some(f) => &mut f.file,
                None => out,
            },
        );
        bar.finish_and_clear();
        match result {
            Ok(outcome) => {
                if let Some(f) = file {
                    f.commit()?;
                }
                if !self.quiet {
                    self.print_findings(&outcome.findings);
                }
                let mismatched = outcome.layers.iter().filter(|l| !l.matched).count();
                if !self.quiet {
                    let bytes: u64 = outcome.layers.iter().map(|l| l.size).sum();
                    eprintln!(
                        "strata: saved {} image(s), {} layer(s), {} bytes of layers to {}{}",
                        images.len(),
                        outcome.layers.len(),
                        bytes,
                        args.output.display(),
                        if mismatched > 0 {
                            format!("; {mismatched} layer(s) do not match their DiffID (recorded in index.json)")
                        } else {
                            "; every layer matches its DiffID".to_owned()
                        }
                    );
                }
                Ok(if mismatched > 0 { exit::FINDINGS } else { exit::OK })
            }
            Err(e) => {
                drop(file);
                self.print_findings(e.findings());
                eprintln!("strata: {e}");
                Ok(match e {
                    strata::archive::save::SaveError::Io(_) => exit::CANNOT_RUN,
                    _ => exit::FINDINGS,
                })
            }
        }
    }

    fn export(
        &self,
        args: &ExportArgs,
        target: &Target,
        g: &Graph,
        root: &SafeDir,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        use strata::archive::export;
        let stack = match target {
            Target::Container(id) => match g.containers.get(id) {
                Some(c) => export::container_stack(g, c),
                None => anyhow::bail!("container {id} is not in the store"),
            },
            Target::Image(id) => match g.images.get(id) {
                Some(i) => export::image_stack(g, i),
                None => anyhow::bail!("image {id} is not in the store"),
            },
            Target::Layer(_) => anyhow::bail!("export takes a container or an image, not a layer"),
        };
        let mut file = self.archive_output(&args.output, g, root)?;
        let bar = self.bytes_bar(0, "exporting");
        let tick = |n: u64| bar.inc(n);
        let result = export::export(
            g,
            root,
            &stack,
            Some(&tick),
            match &mut file {
                Some(f) => &mut f.file,
                None => out,
            },
        );
        bar.finish_and_clear();
        let outcome = result?;
        if let Some(f) = file {
            f.commit()?;
        }
        if !self.quiet {
            self.print_findings(&outcome.findings);
            eprintln!(
                "strata: exported {} entries, {} bytes of file content to {}",
                outcome.entries,
                outcome.content_bytes,
                args.output.display()
            );
        }
        Ok(if outcome.findings.is_empty() { exit::OK } else { exit::FINDINGS })
    }

    fn verify(
        &self,
        args: &VerifyArgs,
        sel: &Selection,
        g: &Graph,
        root: &SafeDir,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let bar = self.progress_bar(g, !args.quick);
        let tick = |n: u64| bar.inc(n);
        let opts = VerifyOptions { quick: args.quick, jobs: args.jobs, limits: self.limits };
        let result = strata::verify::run::run(root, g, sel, &opts, Some(&tick));
        bar.finish_and_clear();
        if self.format == Format::Ndjson {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let scan = self.scan("verify", g, root, now);
            let totals = report::ndjson::Totals::new(
                &result.findings,
                result.images.len(),
                result.layers.len(),
                None,
            );
            report::ndjson::write_ndjson(out, &scan, &result.findings, &totals)?;
        } else {
            report::verify::write_verify(out, g, &result, self.format, self.layout)?;
        }
        let failed = result.findings.iter().any(|f| f.severity == Severity::Error);
        Ok(if failed { exit::FINDINGS } else { exit::OK })
    }
}

/// A command with its references resolved against the loaded graph.
enum Job<'a> {
    Images,
    Layers,
    Containers,
    Df { reconcile: bool },
    Volumes,
    Inspect(Target),
    InspectVolume(&'a str),
    Files(Vec<LayerId>),
    Tree { filter: report::tree::TreeFilter, style: report::tree::TreeStyle },
    Diff(strata::id::ContainerId),
    History(strata::digest::ImageId),
    Verify(&'a VerifyArgs, Selection),
    Audit(&'a AuditArgs),
    Save(&'a SaveArgs, Vec<strata::archive::save::SaveImage>),
    Export(&'a ExportArgs, Target),
}

/// Resolves what the user typed, or says on stderr why it names nothing.
fn resolve_or_report(g: &Graph, input: &str, kinds: Kinds) -> Option<Target> {
    match resolve(g, input, kinds) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("strata: {}", strata::finding::terminal_safe(&e.to_string()));
            None
        }
    }
}

/// Colour only for a person at a terminal who has not asked for none (no-color.org).
fn use_color() -> bool {
    use std::io::IsTerminal;
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A report file given with `-o`: refused under a root strata reads (strata never
/// writes there), written under a temporary name beside it and renamed into place
/// only when complete, so a reader (or a cron job's consumer) never sees half a
/// report under the final name.
struct OutputFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: io::BufWriter<std::fs::File>,
}

impl OutputFile {
    fn create(dest: &std::path::Path, roots: &[&std::path::Path]) -> anyhow::Result<Self> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::fs::canonicalize(&parent).map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: its directory {}: {e}",
                dest.display(),
                parent.display()
            )
        })?;
        for r in roots {
            if let Ok(r) = std::fs::canonicalize(r) {
                if dir.starts_with(&r) {
                    anyhow::bail!(
                        "refusing to write {} inside {}, a root strata is reading (it never writes there): choose another place",
                        dest.display(),
                        r.display()
                    );
                }
            }
        }
        let name = dest
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("-o {}: not a file name", dest.display()))?;
        let tmp =
            dir.join(format!(".{}.strata-{}.tmp", name.to_string_lossy(), std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        Ok(Self { tmp, dest: dir.join(name), file: io::BufWriter::new(file) })
    }

    /// Flushes, syncs and renames into place; on failure the temporary file goes.
    fn commit(mut self) -> anyhow::Result<()> {
        let done = self
            .file
            .flush()
            .and_then(|()| self.file.get_ref().sync_all())
            .and_then(|()| std::fs::rename(&self.tmp, &self.dest));
        if let Err(e) = done {
            let _ = std::fs::remove_file(&self.tmp);
            anyhow::bail!("cannot write {}: {e}", self.dest.display());
        }
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        // Not committed (an error on the way): leave nothing behind.
        let _ = std::fs::remove_file(&self.tmp);
    }
}
