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

    /// Run without the sandbox (Landlock: read-only roots, no other file, no network; a seccomp filter), for debugging
    #[arg(long, global = true)]
    no_sandbox: bool,

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
    /// Ask the live registries whether they still serve what this host pulled (uses the network)
    RegistryCheck(RegistryCheckArgs),
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
        /// Draw at most N entries under a layer, an image or the forest's top, the most
        /// telling first (running containers, then containers, then newest), and sum up the
        /// rest in one line; 0: all
        #[arg(long, value_name = "N", default_value_t = report::tree::collapse::DEFAULT_FANOUT)]
        fanout: usize,
        /// Fold chains of more than N plain layers (one child, nothing on them) into one
        /// line; 0: never
        #[arg(long, value_name = "N", default_value_t = report::tree::collapse::DEFAULT_CHAIN)]
        chain: usize,
        /// Draw everything: no fan-out summary, no folded chains (--fanout 0 --chain 0)
        #[arg(long, conflicts_with_all = ["fanout", "chain"])]
        no_collapse: bool,
        /// Output format: table, json or dot (Graphviz) [default: table]
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<TreeFormat>,
    },
    /// Show what a container changed against its image, like `docker diff`
    Diff {
        /// Container (id, short id, name)
        container: String,
        /// Do not count a modification time alone as a change (a copy that did not keep times)
        #[arg(long)]
        ignore_times: bool,
        /// Do not count an owner alone as a change (a copy that did not keep owners)
        #[arg(long)]
        ignore_owners: bool,
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
    /// One account, sorted by time, of every file of every layer and container and every event the metadata records
    Timeline(TimelineArgs),
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

#[derive(clap::Args, Debug)]
struct TimelineArgs {
    /// bodyfile (Sleuth Kit 3.x, for `mactime -b`), csv or jsonl
    #[arg(long, value_enum, default_value_t = report::timeline::TimelineFormat::Bodyfile, value_name = "FORMAT")]
    format: report::timeline::TimelineFormat,

    /// Keep only times at or after T: RFC 3339 (2026-11-29T01:12:45Z), a date (2026-11-29, from its start, UTC) or @SECONDS since the epoch
    #[arg(long, value_name = "T", value_parser = parse_since)]
    since: Option<i64>,

    /// Keep only times at or before T (a date alone means to its end, UTC)
    #[arg(long, value_name = "T", value_parser = parse_until)]
    until: Option<i64>,

    /// Write to FILE (`-` for stdout, the default); never inside a root being read
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// A `--since`/`--until` time in nanoseconds since the epoch; a date alone is its
/// first instant, or with `end_of_day` its last.
fn parse_when(s: &str, end_of_day: bool) -> Result<i64, String> {
    let bad = || {
        format!("{s:?}: expected RFC 3339 (2026-11-29T01:12:45Z), a date (2026-11-29) or @SECONDS")
    };
    if let Some(secs) = s.strip_prefix('@') {
        return secs.parse::<i64>().ok().and_then(|v| v.checked_mul(1_000_000_000)).ok_or_else(bad);
    }
    if let Some(t) = strata::analysis::timeline::parse_time(s) {
        return Ok(t);
    }
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
    let start = day
        .and_hms_opt(0, 0, 0)
        .ok_or_else(bad)?
        .and_utc()
        .timestamp_nanos_opt()
        .ok_or_else(bad)?;
    Ok(if end_of_day { start + 86_400 * 1_000_000_000 - 1 } else { start })
}

fn parse_since(s: &str) -> Result<i64, String> {
    parse_when(s, false)
}

fn parse_until(s: &str) -> Result<i64, String> {
    parse_when(s, true)
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

/// How layer content findings are told: `verify` and `audit`.
#[derive(clap::Args, Debug, Clone, Copy)]
struct FindingArgs {
    /// List every metadata drift one by one; by default, when most entries of a layer drift the same way (times, owners...), they are one summary finding per layer
    #[arg(long)]
    all_findings: bool,

    /// Do not compare modification times with the layer tar (a copy that did not keep them)
    #[arg(long)]
    ignore_times: bool,

    /// Do not compare owners with the layer tar (a copy that did not keep them)
    #[arg(long)]
    ignore_owners: bool,

    /// Most findings kept per layer; past it, less severe findings make way for worse ones and the rest are counted
    #[arg(long, value_name = "N", default_value_t = strata::verify::MAX_FINDINGS_PER_LAYER, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |n| n as usize))]
    max_findings_per_layer: usize,
}

impl FindingArgs {
    fn options(&self) -> strata::verify::FindingOptions {
        strata::verify::FindingOptions {
            max_per_layer: self.max_findings_per_layer,
            all_findings: self.all_findings,
            ignore_times: self.ignore_times,
            ignore_owners: self.ignore_owners,
        }
    }
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
    findings: FindingArgs,

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
    findings: FindingArgs,

    #[command(flatten)]
    out: Output,

    /// Write the report to FILE instead of stdout (for --format html: the page)
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Also ask the live registries the images came from (uses the network; see `strata registry-check`)
    #[arg(long)]
    online: bool,

    #[command(flatten)]
    net: OnlineArgs,
}

#[derive(clap::Args, Debug)]
struct RegistryCheckArgs {
    /// Images (id, short id, name:tag, name@digest) to check [default: every image with a registry digest]
    references: Vec<String>,

    /// Exit 1 when a finding at or above this severity is found
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,

    #[command(flatten)]
    out: Output,

    #[command(flatten)]
    net: OnlineArgs,
}

/// How `--online` and `registry-check` speak to registries.
#[derive(clap::Args, Debug, Clone)]
struct OnlineArgs {
    /// A Docker client config (`{"auths": {...}}`) to take registry credentials from [default: $DOCKER_CONFIG/config.json or ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    registry_auth_file: Option<PathBuf>,

    /// Ask only this registry (HOST[:PORT], as image names spell it); may be repeated [default: every registry the images name]
    #[arg(long = "registry", value_name = "HOST[:PORT]")]
    registries: Vec<String>,

    /// Allow plain HTTP to this registry (HOST:PORT); may be repeated. Nothing else is ever asked without TLS
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registries: Vec<String>,

    /// Seconds one registry request may take, body included
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    registry_timeout: u64,

    /// Seconds all registry requests together may take; what is left is reported as not checked
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    registry_total_timeout: u64,

    /// Images checked at once (each sends its requests one after another)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=16))]
    registry_concurrency: u64,
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
    /// Restrict the process with Landlock once the roots are open (not `--no-sandbox`).
    sandbox: bool,
    /// Format for every command but `tree`.
    format: Format,
    /// Format for `tree`.
    tree_format: TreeFormat,
    /// How tables meet the terminal (`COLUMNS`, `--no-trunc`, `--digests`).
    layout: report::Layout,
    command: Command,
    /// When strata began, before anything was read: the second look skips a store
    /// that has not changed since (see `second_look`).
    started: std::time::SystemTime,
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
            Command::RegistryCheck(a) => Some(a.out),
            Command::Tree { .. } | Command::Timeline(_) | Command::Save(_) | Command::Export(_) => {
                None
            }
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
                // The audit and verify check overlay2's short links, and inspect shows them.
                skip_overlay_links: !matches!(
                    cli.command,
                    Command::Audit(_) | Command::Verify(_) | Command::Inspect { .. }
                ),
                // The listings read what they show; everything else reads every file.
                layer_files: match cli.command {
                    Command::Images(_) => strata::store::layerdb::LayerFiles::SIZE,
                    // `--reconcile` accounts for every file: it reads them all.
                    Command::Df(ref a) if !a.reconcile => {
                        strata::store::layerdb::LayerFiles::SIZE_AND_CACHE_ID
                    }
                    _ => strata::store::layerdb::LayerFiles::ALL,
                },
            },
            limits,
            quiet: cli.quiet,
            sandbox: !cli.no_sandbox,
            format,
            tree_format,
            layout,
            command: cli.command,
            started: std::time::SystemTime::now(),
        })
    }

    fn load(&self) -> anyhow::Result<(Graph, SafeDir)> {
        let loaded = Graph::load(&self.data_root, &self.load);
        // Loading frees as much as it keeps (the readers' buffers and parses, the lists
        // the graph is built from), most of it in the readers' arena, where the main
        // thread's later allocations do not land. Handing those pages back once here keeps
        // them out of the peak: on the 10,000-image root, `audit` peaked at 62-67.5 MiB
        // without this and 61.5-62 MiB with it (quick build, 3 runs each); it costs one call.
        // SAFETY: malloc_trim only returns free memory to the kernel; nothing refers to it.
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::malloc_trim(0);
        }
        match loaded {
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
                if let (Some(ns), false) = (&loaded.0.userns, self.quiet) {
                    // Owners on disk are shifted: say by how much, and from what.
                    eprintln!("strata: reading a {}", ns.describe());
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
        let roots = self.read_roots();
        let refused: Vec<&std::path::Path> = roots.iter().map(|r| r.as_path()).collect();
        // Whatever the command writes is opened before the sandbox starts: once it is
        // on, strata may create no file.
        let file = match self.output_path() {
            Some(p) => Some(OutputFile::create(p, &refused)?),
            None => None,
        };
        let spill = match &self.command {
            Command::Timeline(_) => Some(timeline_spill_file(&refused)?),
            _ => None,
        };
        // The one place the sandbox starts: the roots are known, the output file is
        // open, and nothing from the roots has been parsed yet, nor any thread started.
        self.confine(roots.clone(), file.as_ref());
        let (g, root) = self.load()?;
        if !matches!(self.command, Command::Verify(_) | Command::Audit(_)) {
            // The audit and verify reports carry read problems themselves.
            self.note_read_problems(&g.findings);
        }
        let Some(mut job) = self.resolve(&g) else { return Ok(exit::CANNOT_RUN) };
        match &mut job {
            Job::Audit(_, slot) => *slot = file,
            Job::Timeline(_, slot, spill_slot) => {
                *slot = file;
                *spill_slot = spill;
            }
            Job::Save(_, _, slot) | Job::Export(_, _, slot) => *slot = file,
            _ => {}
        }
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let code = self.dispatch(job, &g, &root, &mut out)?;
        out.flush()?;
        // The process ends next and the kernel takes its memory back at once; freeing
        // the graph node by node first is a tenth of a second on a 10,000-image host.
        std::mem::forget(g);
        Ok(code)
    }

    /// The file `-o` names, for the commands that write one (`-` is stdout).
    fn output_path(&self) -> Option<&std::path::Path> {
        let p = match &self.command {
            Command::Audit(a) => a.output.as_deref(),
            Command::Timeline(a) => a.output.as_deref(),
            Command::Save(a) => Some(a.output.as_path()),
            Command::Export(a) => Some(a.output.as_path()),
            _ => None,
        }?;
        (p.as_os_str() != "-").then_some(p)
    }

    /// Restricts the process to reading `read` (and renaming its `-o` file into place)
    /// with [`strata::sandbox`], unless `--no-sandbox`. A kernel that
    /// cannot enforce it all is said once on stderr, and the command goes on.
    fn confine(&self, read: Vec<PathBuf>, output: Option<&OutputFile>) {
        let probe = strata::sandbox::Probe::from_env();
        if self.sandbox {
            let policy = strata::sandbox::Policy {
                read,
                output_dir: output.map(|f| strata::sandbox::parent_dir(&f.tmp)),
                network: self.needs_network(),
            };
            use strata::sandbox::{Enforced, Enforcement};
            let enforced = strata::sandbox::enforce(&policy);
            // Only root can close off devices (and only root could open most of them).
            if let (Ok(Enforced { devices_open: Some(why), .. }), true, false) =
                (&enforced, nix::unistd::geteuid().is_root(), self.quiet)
            {
                eprintln!(
                    "strata: note: device nodes beneath the roots can still be opened: {why}"
                );
            }
            let said = match enforced {
                Ok(Enforced { landlock: Enforcement::Full, filter_missing: None, .. }) => None,
                Ok(Enforced { landlock: Enforcement::Full, filter_missing: Some(why), .. }) => {
                    Some(format!("sandboxed without the system call filter: {why}"))
                }
                Ok(Enforced { landlock: Enforcement::Partial, .. }) => Some(
                    "this kernel's Landlock enforces only part of the sandbox (Linux 6.15 enforces all)"
                        .to_owned(),
                ),
                Ok(Enforced { landlock: Enforcement::NotEnforced, .. }) => Some(
                    "this kernel has no Landlock (or it is disabled): reads, writes and the network are not restricted"
                        .to_owned(),
                ),
                Err(e) => Some(format!("running without the sandbox: {e}")),
            };
            if let (Some(said), false) = (said, self.quiet) {
                eprintln!("strata: note: {said}");
            }
        }
        // Test-only (see `strata::sandbox::Probe`): what the sandbox lets through.
        if let Some(probe) = probe {
            for (what, outcome) in probe.run() {
                match outcome {
                    Ok(()) => eprintln!("strata-sandbox-probe: {what}: allowed"),
                    Err(e) => eprintln!("strata-sandbox-probe: {what}: refused: {e}"),
                }
            }
        }
    }

    /// Every tree the command reads: the data-root, the containerd root (given, or
    /// found as loading will find it), `--host-root`, `--registry-root`, and for this
    /// machine's own data-root the system files loading and the host identity read.
    /// The first two are where `-o` may not write.
    fn read_roots(&self) -> Vec<PathBuf> {
        use strata::store::containerd::locate::{locate, Hints};
        let mut read = vec![self.data_root.clone()];
        let hints = Hints {
            explicit: self.load.containerd_root.as_deref(),
            host_root: self.load.host_root.as_deref(),
            data_root: Some(&self.data_root),
            data_root_is_local: self.load.data_root_is_local,
        };
        read.extend(locate(&hints).map(|l| l.path));
        read.extend(self.load.host_root.clone());
        read.extend(self.load.containerd_root.clone());
        if self.data_root == std::path::Path::new("/var/lib/docker") {
            // The system containerd a dockerd of the default data-root may use.
            read.push(PathBuf::from("/var/lib/containerd"));
        }
        if self.load.data_root_is_local {
            read.extend(
                ["/etc/docker/daemon.json", "/etc/containerd/config.toml", "/etc/hostname"]
                    .map(PathBuf::from),
            );
        }
        if let Command::Audit(args) = &self.command {
            read.extend(args.registry_root.clone());
        }
        // The online check reads the analyst's credentials after the sandbox is on.
        let net = match &self.command {
            Command::Audit(a) if a.online => Some(&a.net),
            Command::RegistryCheck(a) => Some(&a.net),
            _ => None,
        };
        if let Some(net) = net {
            read.extend(
                net.registry_auth_file.clone().or_else(strata::online::auth::docker_config_path),
            );
        }
        read
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
            Command::Tree {
                ascii,
                depth,
                image,
                whatrequires,
                all,
                no_trunc,
                fanout,
                chain,
                no_collapse,
                ..
            } => {
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
                    collapse: if *no_collapse {
                        report::tree::collapse::Collapse::NONE
                    } else {
                        report::tree::collapse::Collapse { fanout: *fanout, chain: *chain }
                    },
                };
                Job::Tree { filter, style }
            }
            Command::Diff { container, ignore_times, ignore_owners, .. } => {
                let Some(Target::Container(id)) =
                    resolve_or_report(g, container, Kinds::CONTAINERS)
                else {
                    return None;
                };
                let opts = strata::analysis::diff::DiffOptions {
                    ignore_times: *ignore_times,
                    ignore_owners: *ignore_owners,
                };
                g.containers.contains_key(&id).then_some(Job::Diff(id, opts))?
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
            Command::Audit(args) => Job::Audit(args, None),
            Command::RegistryCheck(args) => {
                let mut only = std::collections::BTreeSet::new();
                for r in &args.references {
                    match resolve_or_report(g, r, Kinds::IMAGES)? {
                        Target::Image(i) => {
                            only.insert(i);
                        }
                        _ => return None,
                    }
                }
                Job::RegistryCheck(args, (!args.references.is_empty()).then_some(only))
            }
            Command::Timeline(args) => Job::Timeline(args, None, None),
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
                Job::Save(args, images, None)
            }
            Command::Export(args) => {
                Job::Export(args, resolve_or_report(g, &args.reference, Kinds::ALL)?, None)
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
            Job::Audit(args, file) => return self.audit(args, file, g, root, out),
            Job::RegistryCheck(args, only) => return self.registry_check(args, only, g, out),
            Job::Images if g.images.is_empty() && g.legacy.is_some() => {
                if let Some(l) = &g.legacy {
                    report::listing::write_legacy_images(out, l, format, layout)?
                }
            }
            Job::Containers if g.containers.is_empty() && g.legacy.is_some() => {
                if let Some(l) = &g.legacy {
                    report::listing::write_legacy_containers(out, l, format, layout)?
                }
            }
            Job::Timeline(args, file, spill) => {
                return self.timeline(args, file, spill, g, root, out);
            }
            Job::Save(args, images, file) => return self.save(args, &images, file, g, root, out),
            Job::Export(args, target, file) => {
                return self.export(args, &target, file, g, root, out);
            }
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
                if let Some(mut view) = report::inspect::inspect(g, &target) {
                    if let report::inspect::InspectView::Container { container, .. } = &mut view {
                        if let Some(c) = g.containers.get(container.id.as_str()) {
                            container.set_sizes(strata::analysis::df::container_sizes(g, root, c));
                        }
                    }
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
                    TreeFormat::Dot => report::dot::write_dot(out, &forest, style.collapse)?,
                    TreeFormat::Table => report::tree::write_tree_text(out, &forest, style)?,
                }
            }
            Job::Diff(id, opts) => {
                let (changes, findings) = strata::analysis::diff::container_changes_with(
                    g,
                    root,
                    &g.containers[id.as_str()],
                    opts,
                )?;
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
        mut file: Option<OutputFile>,
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
            findings: args.findings.options(),
        };
        let mut result = strata::audit::run(g, root, registry.as_ref(), &opts);
        bar.finish_and_clear();
        self.second_look(g, root, &mut result.findings);
        if self.needs_network() {
            let Some(online) = self.online_options(&args.net, None) else {
                return Ok(exit::CANNOT_RUN);
            };
            let report = strata::audit::online::check_online(g, &online, &mut result.findings);
            self.note_online(&report);
            Finding::sort_worst_first(&mut result.findings);
            result.findings.dedup();
            result.cross_links.online = Some(report);
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
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
        // As for the graph (see `run`): the process ends next.
        std::mem::forget(result);
        Ok(code)
    }

    /// Whether this run opens network connections: `audit --online` and
    /// `registry-check` do, every other command reads disk only. A sandbox (Landlock,
    /// seccomp, a network namespace) may close the network to every run where this is
    /// false; nothing outside [`strata::online`] ever connects.
    fn needs_network(&self) -> bool {
        match &self.command {
            Command::Audit(a) => a.online,
            Command::RegistryCheck(_) => true,
            _ => false,
        }
    }

    /// The online check's options from the flags; `None` (said on stderr) when the
    /// auth file given cannot be used.
    fn online_options(
        &self,
        net: &OnlineArgs,
        only: Option<std::collections::BTreeSet<strata::digest::ImageId>>,
    ) -> Option<strata::audit::online::OnlineOptions> {
        use strata::online::auth::AuthStore;
        let auth = match &net.registry_auth_file {
            Some(p) => match AuthStore::from_file(p) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!(
                        "strata: {e}; give a Docker client config (`{{\"auths\": {{...}}}}`)"
                    );
                    return None;
                }
            },
            None => AuthStore::from_docker_config().unwrap_or_else(|e| {
                if !self.quiet {
                    eprintln!("strata: note: {e}; asking registries anonymously");
                }
                AuthStore::default()
            }),
        };
        if !auth.helper_hosts.is_empty() && !self.quiet {
            eprintln!(
                "strata: note: credential helpers (credsStore/credHelpers) are not run; registries that need them are asked anonymously"
            );
        }
        let limits = strata::online::Limits {
            request_timeout: std::time::Duration::from_secs(net.registry_timeout),
            total_timeout: std::time::Duration::from_secs(net.registry_total_timeout),
            concurrency: net.registry_concurrency as usize,
            ..Default::default()
        };
        Some(strata::audit::online::OnlineOptions {
            limits,
            auth,
            insecure: net.insecure_registries.clone(),
            only,
            registries: net.registries.clone(),
        })
    }

    /// Says on stderr when the registries could not be asked, so an offline report is
    /// never mistaken for an online one.
    fn note_online(&self, report: &strata::audit::online::OnlineReport) {
        if let (Some(n), false) = (&report.note, self.quiet) {
            eprintln!("strata: note: {}", strata::finding::terminal_safe(n));
        }
    }

    fn registry_check(
        &self,
        args: &RegistryCheckArgs,
        only: Option<std::collections::BTreeSet<strata::digest::ImageId>>,
        g: &Graph,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let Some(opts) = self.online_options(&args.net, only) else {
            return Ok(exit::CANNOT_RUN);
        };
        let mut findings = Vec::new();
        let report = strata::audit::online::check_online(g, &opts, &mut findings);
        self.note_online(&report);
        Finding::sort_worst_first(&mut findings);
        findings.dedup();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        report::online::write_registry_check(
            out,
            &report,
            &findings,
            now,
            self.format,
            self.layout,
        )?;
        Ok(if args.fail_on.tripped(&findings) { exit::FINDINGS } else { exit::OK })
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
    /// Reads the store again before reporting a warning or an error: what changed between
    /// the reads is the engine at work, reported as `changed-during-scan`
    /// (`audit::recheck`). While the store keeps moving, up to two more looks, a
    /// little later each time, so a delete in progress can finish.
    fn second_look(&self, g: &Graph, root: &SafeDir, findings: &mut [Finding]) {
        use strata::audit::recheck::{needs_recheck, quiet_since};
        let started = self
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        if needs_recheck(findings) && quiet_since(g, root, findings, started) {
            // Nothing the engine writes has changed since before the scan began: a
            // second read would see the same store (see `quiet_since`).
            Finding::sort_worst_first(findings);
            return;
        }
        for pause_ms in [0, 50, 250] {
            if !needs_recheck(findings) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(pause_ms));
            let Ok((later, _)) = Graph::load(&self.data_root, &self.load) else { break };
            strata::audit::recheck::recheck(g, &later, findings);
            if !strata::audit::recheck::store_moved(g, &later) {
                break;
            }
        }
        Finding::sort_worst_first(findings);
    }

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

    /// `strata timeline`: collects every entry, sorts it with bounded memory (runs
    /// spilled to `TMPDIR`), and writes it to stdout or an [`OutputFile`].
    fn timeline(
        &self,
        args: &TimelineArgs,
        file: Option<OutputFile>,
        spill: Option<std::fs::File>,
        g: &Graph,
        root: &SafeDir,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        use strata::analysis::timeline::{collect, rows, Sorter, Window};
        let mut file = file;
        let Some(spill) = spill else { anyhow::bail!("timeline: no spill file was made") };
        let bar = {
            use std::io::IsTerminal;
            if self.quiet || !io::stderr().is_terminal() {
                indicatif::ProgressBar::hidden()
            } else {
                let b = indicatif::ProgressBar::new_spinner();
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} timeline: {human_pos} entries read ({per_sec}, {elapsed})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                b
            }
        };
        let window = Window { since: args.since, until: args.until };
        let one = args.format.one_row_per_entry();
        let mut sorter = Sorter::new(spill);
        let mut findings = Vec::new();
        let mut read = 0u64;
        collect(g, root, self.limits, &mut findings, &mut |e| {
            read += 1;
            if read % 4096 == 0 {
                bar.set_position(read);
            }
            rows(e, window, one).into_iter().try_for_each(|r| sorter.push(r))
        })?;
        bar.finish_and_clear();
        {
            let w: &mut dyn Write = match &mut file {
                Some(f) => &mut f.file,
                None => out,
            };
            let mut tw = report::timeline::TimelineWriter::new(w, args.format)?;
            sorter.finish(&mut |r| tw.row(&r))?;
            tw.finish()?;
        }
        if let Some(f) = file {
            f.commit()?;
        }
        self.note_read_problems(&findings);
        Ok(exit::OK)
    }

    /// `-o -` sends an archive to stdout, never to a terminal. (A file named by `-o`
    /// is opened before the sandbox starts: see [`Plan::output_path`].)
    fn archive_to_stdout_ok(&self) -> anyhow::Result<()> {
        use std::io::IsTerminal;
        if io::stdout().is_terminal() {
            anyhow::bail!(
                "refusing to write a tar archive to a terminal: redirect stdout or give -o FILE"
            );
        }
        Ok(())
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
        file: Option<OutputFile>,
        g: &Graph,
        root: &SafeDir,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let mut file = file;
        if file.is_none() {
            self.archive_to_stdout_ok()?;
        }
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
        let result = match &mut file {
            // A new file: its layers are written at their offsets, in parallel.
            Some(f) => {
                f.file.flush().map_err(strata::archive::save::SaveError::Io).and_then(|()| {
                    strata::archive::save::save_file(
                        g,
                        root,
                        images,
                        &opts,
                        Some(&tick),
                        f.file.get_ref(),
                    )
                })
            }
            None => strata::archive::save::save(g, root, images, &opts, Some(&tick), out),
        };
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
        file: Option<OutputFile>,
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
        let mut file = file;
        if file.is_none() {
            self.archive_to_stdout_ok()?;
        }
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
        let opts = VerifyOptions {
            quick: args.quick,
            jobs: args.jobs,
            limits: self.limits,
            findings: args.findings.options(),
            ..VerifyOptions::default()
        };
        let mut result = strata::verify::run::run(root, g, sel, &opts, Some(&tick));
        bar.finish_and_clear();
        self.second_look(g, root, &mut result.findings);
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
    Df {
        reconcile: bool,
    },
    Volumes,
    Inspect(Target),
    InspectVolume(&'a str),
    Files(Vec<LayerId>),
    Tree {
        filter: report::tree::TreeFilter,
        style: report::tree::TreeStyle,
    },
    Diff(strata::id::ContainerId, strata::analysis::diff::DiffOptions),
    History(strata::digest::ImageId),
    Verify(&'a VerifyArgs, Selection),
    /// With the `-o` file, opened before the sandbox starts.
    Audit(&'a AuditArgs, Option<OutputFile>),
    RegistryCheck(
        &'a RegistryCheckArgs,
        Option<std::collections::BTreeSet<strata::digest::ImageId>>,
    ),
    /// With the `-o` file and the sorter's spill file, both opened before the sandbox.
    Timeline(&'a TimelineArgs, Option<OutputFile>, Option<std::fs::File>),
    /// With the `-o` file (`None` for stdout), opened before the sandbox starts.
    Save(&'a SaveArgs, Vec<strata::archive::save::SaveImage>, Option<OutputFile>),
    /// With the `-o` file (`None` for stdout), opened before the sandbox starts.
    Export(&'a ExportArgs, Target, Option<OutputFile>),
}

/// The timeline sorter's spill file: anonymous, in `TMPDIR`, which must not lie inside a
/// root strata reads (it never writes there).
fn timeline_spill_file(roots: &[&std::path::Path]) -> anyhow::Result<std::fs::File> {
    let spill = std::env::temp_dir();
    if let Ok(t) = std::fs::canonicalize(&spill) {
        if let Some(r) =
            roots.iter().find(|r| std::fs::canonicalize(r).is_ok_and(|r| t.starts_with(r)))
        {
            anyhow::bail!(
                "the temporary directory {} is inside {}, a root strata is reading (it never writes there): set TMPDIR to another place",
                t.display(),
                r.display()
            );
        }
    }
    Ok(strata::analysis::timeline::Sorter::spill_file(&spill)?)
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
        let parent = strata::sandbox::parent_dir(dest);
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
