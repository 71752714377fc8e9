//! `strata diff CONTAINER`: an offline `docker diff`.

use super::{write_json, Format};
use crate::analysis::diff::Change;
use std::io::{self, Write};

/// Writes changes as `docker diff` prints them (`C /etc`, one per line), or as a JSON
/// array of `{"path": "/etc", "kind": "C"}` (kind `A`, `C` or `D`; the Engine API's
/// numeric 1, 0, 2 are not used).
pub fn write_diff(out: &mut dyn Write, changes: &[Change], format: Format) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, changes);
    }
    for c in changes {
        writeln!(out, "{}", change_line(c))?;
    }
    Ok(())
}

/// `C /etc`, as `docker diff` prints it; the path escaped for a terminal.
pub fn change_line(c: &Change) -> String {
    format!("{} {}", c.kind.letter(), crate::finding::terminal_safe(&c.display_path()))
}
