//! `strata history REF`: an offline `docker history --no-trunc`.

use super::layout::short_time;
use super::{new_table, opt_size, write_json, write_table, Format, Layout};
use crate::analysis::history::HistoryStep;
use crate::finding::terminal_safe;
use std::io::{self, Write};

/// Writes the steps (already newest first) as a table or a JSON array.
///
/// The table has docker's columns (IMAGE, CREATED, CREATED BY, SIZE, COMMENT) plus
/// the layer each step made; the JSON array carries every field of [`HistoryStep`].
/// Fitted to a width (see [`Layout`]), CREATED BY is cut to 45 characters and
/// CREATED to the second, as `docker history` shows them.
pub fn write_history(
    out: &mut dyn Write,
    steps: &[HistoryStep],
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, steps);
    }
    let mut t =
        new_table(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT", "CHAIN ID", "DIFF ID"]);
    for s in steps {
        t.add_row(vec![
            s.id.map_or_else(|| "<missing>".to_owned(), |i| i.short()),
            terminal_safe(&match (&s.created, layout.truncates()) {
                (Some(c), true) => short_time(c),
                (c, _) => c.clone().unwrap_or_default(),
            }),
            terminal_safe(&layout.cell(&s.created_by, CREATED_BY_WIDTH)),
            opt_size(s.size),
            terminal_safe(&s.comment),
            s.chain_id.map_or_else(|| "-".to_owned(), |c| c.short()),
            s.diff_id.map_or_else(|| "-".to_owned(), |d| d.short()),
        ]);
    }
    write_table(out, t, layout)
}

/// `docker history` cuts CREATED BY to this many characters unless `--no-trunc`.
pub const CREATED_BY_WIDTH: usize = 45;

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
        assert_eq!(
            short_command("RUN /bin/sh -c echo hi # buildkit"),
            "RUN /bin/sh -c echo hi # buildkit"
        );
    }
}
