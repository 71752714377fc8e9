//! `strata history REF`: an offline `docker history --no-trunc`.

use super::{new_table, opt_size, write_json, write_table, Format};
use crate::analysis::history::HistoryStep;
use crate::finding::terminal_safe;
use std::io::{self, Write};

/// Writes the steps (already newest first) as a table or a JSON array.
///
/// The table has docker's columns (IMAGE, CREATED, CREATED BY, SIZE, COMMENT) plus
/// the layer each step made; the JSON array carries every field of [`HistoryStep`].
pub fn write_history(out: &mut dyn Write, steps: &[HistoryStep], format: Format) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, steps);
    }
    let mut t = new_table(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT", "CHAIN ID", "DIFF ID"]);
    for s in steps {
        t.add_row(vec![
            s.id.map_or_else(|| "<missing>".to_owned(), |i| i.short()),
            terminal_safe(s.created.as_deref().unwrap_or("")),
            terminal_safe(&s.created_by),
            opt_size(s.size),
            terminal_safe(&s.comment),
            s.chain_id.map_or_else(|| "-".to_owned(), |c| c.short()),
            s.diff_id.map_or_else(|| "-".to_owned(), |d| d.short()),
        ]);
    }
    write_table(out, &t)
}

/// A build step's command shortened for one line: the classic builder's
/// `/bin/sh -c #(nop) ` prefix dropped (`COPY ...`, `ENV ...`), and its plain
/// `/bin/sh -c ` shown as `RUN`.
pub fn short_command(created_by: &str) -> String {
    let s = created_by.trim();
    if let Some(rest) = s.strip_prefix("/bin/sh -c #(nop)") {
        return rest.trim().to_owned();
    }
    if let Some(rest) = s.strip_prefix("/bin/sh -c ") {
        return format!("RUN {}", rest.trim());
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::short_command;

    #[test]
    fn shortens_classic_builder_commands() {
        assert_eq!(short_command("/bin/sh -c #(nop)  CMD [\"x\"]"), "CMD [\"x\"]");
        assert_eq!(short_command("/bin/sh -c echo hi"), "RUN echo hi");
        assert_eq!(short_command("RUN /bin/sh -c echo hi # buildkit"), "RUN /bin/sh -c echo hi # buildkit");
    }
}
