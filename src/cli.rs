//! Command-line interface: argument parsing and the choice of renderer, nothing else.

use clap::{Parser, Subcommand};
use std::io::{self, Write};
use std::path::PathBuf;
use strata::analysis::files::LayerId;
use strata::audit::{AuditOptions, FailOn};
use strata::finding::{Finding, Severity};
use strata::fsread::{Limits, SafeDir};
use strata::graph::{Graph, LoadError, LoadOptions};
use strata::report::{self, Format};
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

    /// Read image/<DRIVER> even if another store is present
    #[arg(long, global = true, value_name = "DRIVER")]
    driver: Option<String>,

    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,

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
    /// List images, like `docker image ls -a --digests --no-trunc`, with sizes and container counts
    Images,
    /// List layers (layerdb) with their parents, sizes, driver directories and registry blobs
    Layers,
    /// List containers with their images and RW layers
    Containers,
    /// Show everything known about one image, container or layer (JSON)
    Inspect {
        /// Image (id, short id, name:tag, name@digest), container (id, short id, name) or layer (chain id)
        reference: String,
    },
    /// Recompute image IDs, ChainIDs and DiffIDs from the bytes on disk; name every file that differs
    Verify(VerifyArgs),
    /// List the entries of a layer (or of each layer of an image) from its tar headers
    Files {
        /// Layer (chain id) or image (id, short id, name:tag, name@digest)
        reference: String,
    },
    /// Disk usage as `docker system df -v` counts it, plus orphans no prune frees
    Df,
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
    },
    /// Show what a container changed against its image, like `docker diff`
    Diff {
        /// Container (id, short id, name)
        container: String,
    },
    /// Show an image's build steps and the layer each made, like `docker history --no-trunc`
    History {
        /// Image (id, short id, name:tag, name@digest)
        image: String,
    },
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

    /// Layers verified at once [default: one per core]
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    jobs: usize,
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
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::CANNOT_RUN } else { exit::OK };
        }
    };
    match run(&cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            eprintln!("strata: {e:#}");
            exit::CANNOT_RUN
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

fn limits(cli: &Cli) -> Limits {
    Limits {
        max_metadata_bytes: cli.max_metadata_bytes,
        max_tar_split_bytes: cli.max_tar_split_bytes,
        max_tar_split_entries: cli.max_tar_split_entries,
    }
}

fn load(cli: &Cli) -> anyhow::Result<(Graph, SafeDir)> {
    let (path, _source) = strata::store::layout::resolve_data_root(cli.root.as_deref());
    let limits = limits(cli);
    let opts = LoadOptions { driver: cli.driver.clone(), limits };
    match Graph::load(&path, &opts) {
        Ok(loaded) => Ok(loaded),
        Err(LoadError::Root(e)) => {
            let hint = if e.is_not_found() { " (give the data-root with --root DIR)" } else { "" };
            Err(anyhow::anyhow!("cannot read data-root: {e}{hint}"))
        }
    }
}

/// Tells the user on stderr that reading met problems, without burying the output.
fn note_read_problems(cli: &Cli, findings: &[Finding]) {
    if cli.quiet {
        return;
    }
    let worst = findings.iter().map(|f| f.severity).max();
    let shown: Vec<&Finding> = findings.iter().filter(|f| f.severity >= Severity::Warning).collect();
    for f in shown.iter().take(5) {
        eprintln!("strata: {}: {}", f.severity, strata::finding::terminal_safe(&f.message));
    }
    if shown.len() > 5 {
        eprintln!("strata: ... and {} more; run `strata audit` for the full list", shown.len() - 5);
    }
    if worst == Some(Severity::Info) || shown.is_empty() {
        for f in findings.iter().filter(|f| f.severity == Severity::Info) {
            eprintln!("strata: note: {}", strata::finding::terminal_safe(&f.message));
        }
    }
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

fn run(cli: &Cli) -> anyhow::Result<i32> {
    if cli.format == Format::Dot && !matches!(cli.command, Command::Tree { .. }) {
        eprintln!("strata: --format dot is only available for `strata tree`; use table or json here");
        return Ok(exit::CANNOT_RUN);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let (g, root) = load(cli)?;
    if let Command::Verify(args) = &cli.command {
        let code = verify(cli, args, &g, &root, &mut out)?;
        out.flush()?;
        return Ok(code);
    }
    if let Command::Audit(args) = &cli.command {
        // The audit reports read problems itself; no stderr preamble.
        let code = audit(cli, args, &g, &root, &mut out)?;
        out.flush()?;
        return Ok(code);
    }
    note_read_problems(cli, &g.findings);
    match &cli.command {
        Command::Images => report::listing::write_images(&mut out, &g, cli.format)?,
        Command::Layers => report::listing::write_layers(&mut out, &g, cli.format)?,
        Command::Containers => {
            let sizes = strata::analysis::df::all_container_sizes(&g, &root);
            report::listing::write_containers(&mut out, &g, &sizes, cli.format)?
        }
        Command::Inspect { reference } => {
            let target = match resolve(&g, reference, Kinds::ALL) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("strata: {e}");
                    return Ok(exit::CANNOT_RUN);
                }
            };
            if let Some(view) = report::inspect::inspect(&g, &target) {
                report::write_json(&mut out, &view)?;
            }
        }
        Command::Df => {
            let (usage, problems) = strata::analysis::df::disk_usage(&g, &root);
            note_read_problems(cli, &problems);
            report::df::write_df(&mut out, &usage, cli.format)?;
        }
        Command::Audit(_) | Command::Verify(_) => {}
        Command::Files { reference } => {
            let layers: Vec<LayerId> = match resolve_or_report(&g, reference, Kinds::IMAGES_AND_LAYERS) {
                Some(Target::Layer(l)) => vec![LayerId { chain_id: l, diff_id: g.layers.get(&l).and_then(|n| n.record.diff_id) }],
                Some(Target::Image(i)) => {
                    let img = &g.images[&i];
                    let diffs = img.record.config.as_ref().and_then(|c| c.diff_ids.clone()).unwrap_or_default();
                    img.chain_ids.iter().zip(diffs).map(|(c, d)| LayerId { chain_id: *c, diff_id: Some(d) }).collect()
                }
                _ => return Ok(exit::CANNOT_RUN),
            };
            let mut findings = Vec::new();
            let mut w = report::files::FilesWriter::new(&mut out, cli.format)?;
            for layer in &layers {
                w.begin_layer(layer)?;
                strata::analysis::files::for_each_file(&g, &root, &layer.chain_id, limits(cli), &mut findings, &mut |f| w.file(&f))?;
            }
            w.finish()?;
            note_read_problems(cli, &findings);
        }
        Command::Tree { ascii, depth, image, whatrequires, all, no_trunc } => {
            let mut filter = report::tree::TreeFilter { all: *all, ..Default::default() };
            if let Some(r) = image {
                let Some(Target::Image(id)) = resolve_or_report(&g, r, Kinds::IMAGES) else {
                    return Ok(exit::CANNOT_RUN);
                };
                filter.image = Some(id);
            }
            if let Some(r) = whatrequires {
                match resolve_or_report(&g, r, Kinds::IMAGES_AND_LAYERS) {
                    Some(Target::Layer(l)) => filter.requires_layer = Some(l),
                    Some(Target::Image(i)) => {
                        filter.requires_image = Some(i);
                        filter.requires_layer = g.images.get(&i).and_then(|img| img.top_layer()).filter(|t| g.layers.contains_key(t));
                    }
                    _ => return Ok(exit::CANNOT_RUN),
                }
            }
            let forest = report::tree::build(&g, &filter);
            match cli.format {
                Format::Json => report::tree::write_tree_json(&mut out, &forest)?,
                Format::Dot => report::dot::write_dot(&mut out, &forest)?,
                Format::Table => {
                    let style = report::tree::TreeStyle {
                        ascii: *ascii,
                        color: use_color(),
                        no_trunc: *no_trunc,
                        depth: depth.map(|d| d as usize),
                    };
                    report::tree::write_tree_text(&mut out, &forest, style)?
                }
            }
        }
        Command::Diff { container } => {
            let Some(Target::Container(id)) = resolve_or_report(&g, container, Kinds::CONTAINERS) else {
                return Ok(exit::CANNOT_RUN);
            };
            let Some(c) = g.containers.get(&id) else { return Ok(exit::CANNOT_RUN) };
            let (changes, findings) = strata::analysis::diff::container_changes(&g, &root, c)?;
            note_read_problems(cli, &findings);
            report::diff::write_diff(&mut out, &changes, cli.format)?;
        }
        Command::History { image } => {
            let Some(Target::Image(id)) = resolve_or_report(&g, image, Kinds::IMAGES) else {
                return Ok(exit::CANNOT_RUN);
            };
            let Some(img) = g.images.get(&id) else { return Ok(exit::CANNOT_RUN) };
            let (steps, findings) = strata::analysis::history::image_history(&g, img);
            note_read_problems(cli, &findings);
            report::history::write_history(&mut out, &steps, cli.format)?;
        }
    }
    out.flush()?;
    Ok(exit::OK)
}

fn audit(cli: &Cli, args: &AuditArgs, g: &Graph, root: &SafeDir, out: &mut dyn Write) -> anyhow::Result<i32> {
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
    let bar = progress_bar(cli, g, !args.metadata_only);
    let tick = |n: u64| bar.inc(n);
    let opts = AuditOptions { metadata_only: args.metadata_only, jobs: args.jobs, limits: limits(cli), progress: Some(&tick) };
    let result = strata::audit::run(g, root, registry.as_ref(), &opts);
    bar.finish_and_clear();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let view = report::audit::AuditReport::new(g, &result, now);
    report::audit::write_audit(out, &view, cli.format)?;
    Ok(if args.fail_on.tripped(&result.findings) { exit::FINDINGS } else { exit::OK })
}

/// A progress bar on stderr for hashing runs, only for a person at a terminal, only
/// when there is enough to hash for it to matter, and never with --quiet.
fn progress_bar(cli: &Cli, g: &Graph, hashing: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let total: u64 = g.layers.values().filter_map(|l| l.record.size).map(|s| s.max(0) as u64).fold(0, u64::saturating_add);
    if cli.quiet || !hashing || !io::stderr().is_terminal() || total < 256 << 20 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} hashing layers {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn verify(cli: &Cli, args: &VerifyArgs, g: &Graph, root: &SafeDir, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut sel = Selection::default();
    for r in &args.references {
        match resolve_or_report(g, r, Kinds::IMAGES_AND_LAYERS) {
            Some(Target::Image(i)) => {
                sel.images.insert(i);
            }
            Some(Target::Layer(l)) => {
                sel.layers.insert(l);
            }
            _ => return Ok(exit::CANNOT_RUN),
        }
    }
    for r in &args.layers {
        match resolve_or_report(g, r, Kinds::LAYERS) {
            Some(Target::Layer(l)) => {
                sel.layers.insert(l);
            }
            _ => return Ok(exit::CANNOT_RUN),
        }
    }
    let bar = progress_bar(cli, g, !args.quick);
    let tick = |n: u64| bar.inc(n);
    let opts = VerifyOptions { quick: args.quick, jobs: args.jobs, limits: limits(cli) };
    let result = strata::verify::run::run(root, g, &sel, &opts, Some(&tick));
    bar.finish_and_clear();
    report::verify::write_verify(out, g, &result, cli.format)?;
    let failed = result.findings.iter().any(|f| f.severity == Severity::Error);
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}
