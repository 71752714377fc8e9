//! How tables meet the terminal, following the docker CLI's habits.
//!
//! Two layouts:
//! - **fitted** (a terminal, or `COLUMNS` set): long cells truncated as `docker` does
//!   (`history`'s CREATED BY to 45 characters, times to the second, `images` without
//!   digests unless `--digests`), and the table fitted to the width with comfy-table's
//!   dynamic arrangement, every row kept to one line (cut cells end in `…`);
//! - **full** (piped with no `COLUMNS`, or `--no-trunc`): every cell whole, lines as long
//!   as they need, as strata always printed them, so scripts that read the table see
//!   no change.
//!
//! The width is `COLUMNS` when set (a positive number), else the terminal's when stdout
//! is one; otherwise the layout is full.

use comfy_table::{ContentArrangement, Table};

/// The layout a table is printed in; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Width to fit tables into; `None` for the full layout.
    pub width: Option<u16>,
    /// `--digests`: show registry digests in `images` even when fitted.
    pub digests: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Self::FULL
    }
}

impl Layout {
    /// Every cell whole, digests shown, no width: what piped output gets.
    pub const FULL: Layout = Layout { width: None, digests: true };

    /// Fitted to `width` columns.
    pub fn fitted(width: u16) -> Self {
        Self { width: Some(width), digests: false }
    }

    /// The layout for this process's stdout: `COLUMNS` when set, else the terminal's
    /// width when stdout is a terminal, else full; `--no-trunc` asks for full.
    pub fn detect(no_trunc: bool, digests: bool) -> Self {
        if no_trunc {
            return Self { width: None, digests };
        }
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|w| *w > 0)
            .or_else(terminal_width);
        match width {
            Some(w) => Self { width: Some(w), digests },
            None => Self::FULL,
        }
    }

    /// Whether long cells are shortened.
    pub fn truncates(&self) -> bool {
        self.width.is_some()
    }

    /// Whether `images` shows its DIGEST column.
    pub fn shows_digests(&self) -> bool {
        self.digests || self.width.is_none()
    }

    /// `s` as a cell: whole in the full layout, else cut to `max` characters as
    /// [`ellipsis`] does.
    pub fn cell(&self, s: &str, max: usize) -> String {
        if self.truncates() {
            ellipsis(s, max)
        } else {
            s.to_owned()
        }
    }

    /// Applies the layout to a table made by [`super::new_table`]: when fitted, the
    /// dynamic arrangement at the width, each row one line, and no padding after the
    /// last column (trailing spaces are trimmed anyway).
    pub fn apply(&self, t: &mut Table) {
        let Some(width) = self.width else { return };
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width)
            .set_truncation_indicator("…");
        if let Some(last) = t.column_iter_mut().last() {
            last.set_padding((0, 0));
        }
        for row in t.row_iter_mut() {
            row.max_height(1);
        }
    }
}

/// The terminal's width when stdout is a terminal.
fn terminal_width() -> Option<u16> {
    // comfy-table asks the terminal (through crossterm) when stdout is one.
    Table::new().width().filter(|w| *w > 0)
}

/// Docker's `stringutils.Ellipsis`: `s` when it has at most `max` characters, else its
/// first `max - 1` and `…`. Tabs become spaces, as `docker history` shows them.
pub fn ellipsis(s: &str, max: usize) -> String {
    let s = s.replace('\t', " ");
    if s.chars().count() <= max {
        return s;
    }
    if max <= 3 {
        return s.chars().take(max).collect();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// An RFC 3339 time to the second, as `2024-05-01 12:34:56` (no nanoseconds, no zone:
/// the data-root's times are UTC).
pub fn short_time(t: &str) -> String {
    t.get(..19).unwrap_or(t).replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_as_docker() {
        assert_eq!(ellipsis("abc", 45), "abc");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abcdef", 3), "abc");
        assert_eq!(ellipsis("a\tb", 10), "a b");
        assert_eq!(ellipsis(&"é".repeat(50), 45).chars().count(), 45);
    }

    #[test]
    fn short_times() {
        assert_eq!(short_time("2024-05-01T12:34:56.123456789Z"), "2024-05-01 12:34:56");
        assert_eq!(short_time("short"), "short");
    }

    #[test]
    fn fitted_rows_stay_one_line() {
        let layout = Layout::fitted(40);
        let mut t = super::super::new_table(&["A", "LONG"]);
        t.add_row(vec!["x".to_owned(), "word ".repeat(30)]);
        layout.apply(&mut t);
        let text = t.to_string();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.lines().all(|l| l.trim_end().chars().count() <= 40), "{text}");
    }
}
