//! Command-line interface: argument parsing and the choice of renderer, nothing else.

use clap::{Parser, Subcommand};
use std::io::{self, Write};
use std::path::PathBuf;
use strata::finding::{Finding, Severity};
use strata::fsread::Limits;
use strata::graph::{Graph, LoadError, LoadOptions};
use strata::report::{self, Format};
use strata::resolve::{resolve, Kinds};

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

fn load(cli: &Cli) -> anyhow::Result<Graph> {
    let (path, _source) = strata::root::resolve_data_root(cli.root.as_deref());
    let limits = Limits { max_metadata_bytes: cli.max_metadata_bytes, ..Limits::default() };
    let opts = LoadOptions { driver: cli.driver.clone(), limits };
    match Graph::load(&path, &opts) {
        Ok((g, _root)) => Ok(g),
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

fn run(cli: &Cli) -> anyhow::Result<i32> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let g = load(cli)?;
    note_read_problems(cli, &g.findings);
    match &cli.command {
        Command::Images => report::listing::write_images(&mut out, &g, cli.format)?,
        Command::Layers => report::listing::write_layers(&mut out, &g, cli.format)?,
        Command::Containers => report::listing::write_containers(&mut out, &g, cli.format)?,
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
    }
    out.flush()?;
    Ok(exit::OK)
}
