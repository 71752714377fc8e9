//! `strata timeline`'s three formats, written one row at a time as the sorted rows
//! arrive ([`crate::analysis::timeline::Sorter`]), so nothing is held here.
//!
//! - **bodyfile**: Sleuth Kit 3.x, `MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime`,
//!   one line per entry (mactime spreads it over its times), times in whole seconds,
//!   0 for an unknown time and for the MD5 (never computed). The name says what the
//!   entry belongs to: `[layer sha256:...] /etc/passwd` (inode), `[layer sha256:... tar]
//!   /etc/passwd` (tar header), `[container-rw <id> name] /x`, `[container-init <id>
//!   name] /etc/hosts`; an event is `[event image sha256:... alpine:3.19] created
//!   (config)`, its time in all four fields, so mactime prints it once as `macb`.
//!   `|` and control characters in names become `\x7c`, `\xNN`, `\u{...}`: names come
//!   from disk and must not split a line or a field.
//! - **csv** and **jsonl**: one row per distinct time of an entry (mactime's
//!   spreading done here, so the file reads in time order), with the bodyfile's
//!   fields named, plus `time` and `macb`; times as RFC 3339 UTC with nanoseconds.
//!   CSV escapes control characters as the bodyfile does, so a row is one line;
//!   JSON keeps every string as it is (JSON escapes them itself).

use crate::analysis::timeline::{Entry, OwnerKind, Row, Source};
use serde::Serialize;
use std::io::{self, Write};

/// The three formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TimelineFormat {
    /// Sleuth Kit 3.x bodyfile, for `mactime -b`.
    #[default]
    Bodyfile,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line (`schema/timeline-line.schema.json`).
    Jsonl,
}

impl TimelineFormat {
    /// The bodyfile holds one line per entry; the others one per time.
    pub fn one_row_per_entry(self) -> bool {
        self == TimelineFormat::Bodyfile
    }
}

/// One line of `--format jsonl` (and the columns of `--format csv`, in this order).
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct TimelineLine {
    /// The time of this line (RFC 3339, UTC, nanoseconds).
    pub time: String,
    /// Which of the entry's times equal `time`: `m` modified, `a` accessed, `c`
    /// changed, `b` born, `.` not; an event is `macb`.
    pub macb: String,
    /// `inode` (statx of the file on disk), `tar` (the layer's tar header) or
    /// `metadata` (an event).
    pub source: Source,
    /// What the entry belongs to.
    pub owner_kind: OwnerKind,
    /// Its ID: ChainID, image ID, container ID, digest, snapshot key or lease ID.
    pub owner: String,
    /// An image's first tag, a container's name.
    pub owner_name: Option<String>,
    /// A file's path inside its layer, or what happened.
    pub path: String,
    /// Inode number; 0 when not from an inode.
    pub inode: u64,
    /// `ls -l` style mode (`drwxr-xr-x`); `----------` for an event.
    pub mode: String,
    /// Owner user ID.
    pub uid: u64,
    /// Owner group ID.
    pub gid: u64,
    /// Size in bytes.
    pub size: u64,
    /// Last access, RFC 3339; `null` when unknown or outside `--since`/`--until`.
    pub atime: Option<String>,
    /// Last modification.
    pub mtime: Option<String>,
    /// Last inode change.
    pub ctime: Option<String>,
    /// Birth (only where the filesystem keeps it).
    pub crtime: Option<String>,
}

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `drwxr-xr-x` from a whole `st_mode`; `----------` for none.
pub fn mode_string(mode: u32) -> String {
    let t = match mode & 0o170_000 {
        0o040_000 => 'd',
        0o120_000 => 'l',
        0o020_000 => 'c',
        0o060_000 => 'b',
        0o010_000 => 'p',
        0o140_000 => 's',
        _ => '-',
    };
    super::permission_string(t, mode)
}

impl TimelineLine {
    /// The view of a row.
    pub fn new(row: &Row) -> Self {
        let e = &row.entry;
        Self {
            time: rfc3339(row.time),
            macb: row.macb.clone(),
            source: e.source,
            owner_kind: e.owner_kind,
            owner: e.owner.clone(),
            owner_name: e.owner_name.clone(),
            path: e.path.clone(),
            inode: e.inode,
            mode: mode_string(e.mode),
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            atime: e.atime.map(rfc3339),
            mtime: e.mtime.map(rfc3339),
            ctime: e.ctime.map(rfc3339),
            crtime: e.crtime.map(rfc3339),
        }
    }
}

/// A name made safe for one bodyfile field: no `|`, no line break, no control or
/// bidi character.
pub fn bodyfile_safe(s: &str) -> String {
    escape_controls(s, true)
}

/// Control and bidi characters as `\xNN` / `\u{...}`, and with `pipe` `|` as `\x7c`.
fn escape_controls(s: &str, pipe: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c == '|' && pipe {
            out.push_str("\\x7c");
        } else if (c as u32) < 0x20 || c as u32 == 0x7f {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else if c.is_control() || bidi {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The bodyfile name of an entry: what it belongs to in brackets, then the path or event.
pub fn bodyfile_name(e: &Entry) -> String {
    let mut tag = String::new();
    if e.source == Source::Metadata {
        tag.push_str("event ");
    }
    tag.push_str(e.owner_kind.as_str());
    tag.push(' ');
    tag.push_str(&e.owner);
    if e.source == Source::Tar {
        tag.push_str(" tar");
    }
    if let Some(n) = &e.owner_name {
        tag.push(' ');
        tag.push_str(n);
    }
    bodyfile_safe(&format!("[{tag}] {}", e.path))
}

fn secs(t: Option<i64>) -> i64 {
    t.map_or(0, |ns| ns.div_euclid(1_000_000_000))
}

/// One bodyfile line.
pub fn bodyfile_line(e: &Entry) -> String {
    format!(
        "0|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        bodyfile_name(e),
        e.inode,
        mode_string(e.mode),
        e.uid,
        e.gid,
        e.size,
        secs(e.atime),
        secs(e.mtime),
        secs(e.ctime),
        secs(e.crtime)
    )
}

/// A CSV field: control characters escaped (`\xNN`, so each row is one line for
/// line-oriented tools), then quoted when it holds a comma or quote (RFC 4180).
fn csv_field(s: &str) -> String {
    let s = &escape_controls(s, false);
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

const CSV_HEADER: &str =
    "time,macb,source,owner_kind,owner,owner_name,path,inode,mode,uid,gid,size,atime,mtime,ctime,crtime";

fn csv_line(l: &TimelineLine) -> String {
    let opt = |t: &Option<String>| t.clone().unwrap_or_default();
    let source = match l.source {
        Source::Inode => "inode",
        Source::Tar => "tar",
        Source::Metadata => "metadata",
    };
    [
        l.time.clone(),
        l.macb.clone(),
        source.to_owned(),
        l.owner_kind.as_str().to_owned(),
        l.owner.clone(),
        opt(&l.owner_name),
        l.path.clone(),
        l.inode.to_string(),
        l.mode.clone(),
        l.uid.to_string(),
        l.gid.to_string(),
        l.size.to_string(),
        opt(&l.atime),
        opt(&l.mtime),
        opt(&l.ctime),
        opt(&l.crtime),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

/// Writes rows in one format as they come.
pub struct TimelineWriter<'a> {
    out: &'a mut dyn Write,
    format: TimelineFormat,
}

impl<'a> TimelineWriter<'a> {
    /// Starts the output (the CSV header).
    pub fn new(out: &'a mut dyn Write, format: TimelineFormat) -> io::Result<Self> {
        if format == TimelineFormat::Csv {
            writeln!(out, "{CSV_HEADER}")?;
        }
        Ok(Self { out, format })
    }

    /// Writes one row.
    pub fn row(&mut self, row: &Row) -> io::Result<()> {
        match self.format {
            TimelineFormat::Bodyfile => writeln!(self.out, "{}", bodyfile_line(&row.entry)),
            TimelineFormat::Csv => writeln!(self.out, "{}", csv_line(&TimelineLine::new(row))),
            TimelineFormat::Jsonl => {
                serde_json::to_writer(&mut *self.out, &TimelineLine::new(row))
                    .map_err(io::Error::other)?;
                writeln!(self.out)
            }
        }
    }

    /// Flushes.
    pub fn finish(self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_split_a_bodyfile_line() {
        assert_eq!(bodyfile_safe("a|b\nc\u{202e}d"), "a\\x7cb\\x0ac\\u{202e}d");
        assert_eq!(mode_string(0o100_644), "-rw-r--r--");
        assert_eq!(mode_string(0o041_777), "drwxrwxrwt");
        assert_eq!(mode_string(0), "----------");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
