//! Renderers: the same analysis shown as a table for people or JSON for machines.
//!
//! Renderers take data only: the graph, and what the analyses ([`crate::analysis`],
//! [`crate::verify`], [`crate::audit`]) computed from it. No renderer opens a file,
//! holds a `SafeDir` or measures the disk; whatever needs the disk is computed before
//! and passed in.

pub mod audit;
pub mod df;
pub mod diff;
pub mod dot;
pub mod files;
pub mod findings;
pub mod history;
pub mod html;
pub mod inspect;
pub mod layout;
pub mod listing;
pub mod ndjson;
pub mod online;
pub mod schema;
pub mod timeline;
pub mod tree;
pub mod verify;
pub mod volumes;

use comfy_table::{presets, ContentArrangement, Row, Table};
pub use layout::Layout;
use serde::Serialize;
use std::io::{self, Write};

/// Version of the JSON output formats; bumped on any incompatible change.
pub const SCHEMA_VERSION: &str = "1";

/// Output format chosen with `--format`, for every command but `strata tree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// An aligned table for people.
    #[default]
    Table,
    /// Pretty JSON for machines (schemas in `schema/`).
    Json,
    /// One JSON object per line: each finding, then a summary; `audit` and `verify` only.
    Ndjson,
    /// A self-contained HTML page; `audit` only.
    Html,
}

/// Output format of `strata tree`: [`Format`]'s, plus Graphviz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TreeFormat {
    /// An aligned text tree for people.
    #[default]
    Table,
    /// Pretty JSON for machines (a [`tree::Forest`]).
    Json,
    /// Graphviz; only `strata tree` speaks it.
    Dot,
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    // serde_json writes a few bytes at a time (a quote, a key, a colon). Through `dyn Write`
    // each is a call the compiler cannot inline; into a buffer of a type it knows, most are
    // a copy (the audit's 23 MB of JSON on a 10,000-image host: 0.27 s of the main thread,
    // perf, before this buffer).
    let mut buffered = io::BufWriter::with_capacity(1 << 16, &mut *out);
    serde_json::to_writer_pretty(&mut buffered, value).map_err(io::Error::other)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// A list of the graph's nodes that serializes (or iterates) as their views, each made as
/// it is written and dropped after; as JSON, the same bytes as a `Vec` of the views.
///
/// Why: the listings and the audit report print every image, layer and container; on a
/// 10,000-image host their views are megabytes that were built whole only to be printed
/// once (the audit's peak heap there went from 75.7 to 63.0 MiB, heaptrack).
pub struct Views<'a, N, V> {
    nodes: Vec<&'a N>,
    make: Box<dyn Fn(&'a N) -> V + 'a>,
}

impl<'a, N, V> Views<'a, N, V> {
    /// The views of `nodes`, in their order, made by `make`.
    pub fn new(nodes: Vec<&'a N>, make: impl Fn(&'a N) -> V + 'a) -> Self {
        Self { nodes, make: Box::new(make) }
    }

    /// How many views there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Each view, made now.
    pub fn iter(&self) -> impl Iterator<Item = V> + use<'_, 'a, N, V> {
        self.nodes.iter().map(|n| (self.make)(n))
    }
}

impl<N, V: Serialize> Serialize for Views<'_, N, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// A table in the house style: no borders, like `docker` prints them.
pub fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    let mut head = Row::from(header.iter().copied());
    head.max_height(1);
    t.load_style(presets::NOTHING)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(head);
    // Two spaces between columns and none at the edge, as docker's tabwriter does.
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t
}

/// Prints a table in `layout` (fitted to a width, or full; see [`layout`]) with
/// trailing spaces trimmed from each line.
pub fn write_table(out: &mut dyn Write, mut t: Table, layout: Layout) -> io::Result<()> {
    layout.apply(&mut t);
    for line in t.to_string().lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Sizes as the docker CLI prints them: decimal units, three significant digits.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v.abs() >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[i])
}

/// A size that may be unknown.
pub fn opt_size(bytes: Option<i64>) -> String {
    bytes.map_or_else(|| "N/A".to_owned(), human_size)
}

/// `ls -l`'s mode column: the type character `t`, then `rwx` for owner, group and other
/// from `mode`, with setuid, setgid and sticky shown as `s`/`S` and `t`/`T`.
pub fn permission_string(t: char, mode: u32) -> String {
    let bit = |mask: u32, c: char| if mode & mask != 0 { c } else { '-' };
    let exec =
        |x: u32, special: u32, set: char, unset: char| match (mode & x != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        };
    [
        t,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        exec(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        exec(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        exec(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_match_the_docker_cli() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(4_392_000), "4.39MB");
        assert_eq!(human_size(12_345), "12.3kB");
        assert_eq!(human_size(123_456_789), "123MB");
    }
}
