//! Findings as a table, worst first (as [`Finding::sort_worst_first`] orders them);
//! shared by every command that reports findings.

use super::{new_table, write_table, Layout};
use crate::finding::{terminal_safe, Finding, SeverityCounts};
use std::io::{self, Write};

/// Writes `findings` (already sorted) as a table; nothing when there are none.
pub fn write_findings_table(
    out: &mut dyn Write,
    findings: &[Finding],
    layout: Layout,
) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let mut t = new_table(&["SEVERITY", "CODE", "WHERE", "MESSAGE"]);
    for f in findings {
        let place = match (&f.layer, &f.image, &f.path, &f.subject, &f.file) {
            (Some(l), _, Some(p), _, _) => format!("layer {} /{}", l.short(), p),
            (Some(l), _, None, Some(s), _) => format!("layer {} {}", l.short(), s),
            (Some(l), _, None, None, _) => format!("layer {}", l.short()),
            (None, Some(i), _, _, _) => format!("image {}", i.short()),
            (None, None, Some(p), _, _) => p.clone(),
            (None, None, None, Some(s), _) => s.clone(),
            (None, None, None, None, Some(file)) => file.clone(),
            (None, None, None, None, None) => String::new(),
        };
        t.add_row(vec![
            f.severity.to_string(),
            f.code.to_string(),
            terminal_safe(&place),
            terminal_safe(&f.message),
        ]);
    }
    write_table(out, t, layout)
}

/// One line: `2 errors, 1 warning, 3 info`.
pub fn summary_line(c: &SeverityCounts) -> String {
    let plural = |n: usize, w: &str| if n == 1 { format!("{n} {w}") } else { format!("{n} {w}s") };
    format!("{}, {}, {} info", plural(c.error, "error"), plural(c.warning, "warning"), c.info)
}
