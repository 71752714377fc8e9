//! `strata tree --format dot`: the layer forest for Graphviz.
//!
//! Layers are boxes, images ellipses, containers hexagons; edges run from a layer to
//! what is built on it, and from an image to its containers. Every label is quoted
//! and escaped, so a hostile tag or build step cannot inject DOT syntax.

use super::history::short_command;
use super::human_size;
use super::tree::{ContainerLeaf, Forest, ImageLeaf, LayerBranch};
use crate::finding::terminal_safe;
use std::io::{self, Write};

/// A DOT double-quoted string body: backslashes and quotes escaped, controls made
/// visible first, line breaks only where strata puts them (`\n`).
fn esc(s: &str) -> String {
    let s = terminal_safe(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n).collect();
        c.push('…');
        c
    }
}

fn size(v: Option<i64>) -> String {
    v.map_or_else(|| "size unknown".to_owned(), human_size)
}

fn container(out: &mut dyn Write, c: &ContainerLeaf, from: &str) -> io::Result<()> {
    let node = format!("c_{}", esc(&c.id));
    let short = c.id.short();
    let name = c.name.as_deref().unwrap_or("<unnamed>");
    writeln!(
        out,
        "  \"{node}\" [shape=hexagon, style=filled, fillcolor=\"#d0e8ff\", label=\"{}\\n{}\\n{}\"];",
        esc(name),
        esc(short),
        esc(&c.state)
    )?;
    writeln!(out, "  \"{from}\" -> \"{node}\";")
}

fn image(out: &mut dyn Write, img: &ImageLeaf, from: Option<&str>) -> io::Result<()> {
    let node = format!("i_{}", img.id.hex());
    let names = if !img.repo_tags.is_empty() {
        img.repo_tags.join("\n")
    } else if !img.repo_digests.is_empty() {
        img.repo_digests.join("\n")
    } else {
        "<none>".to_owned()
    };
    let names: Vec<String> = names.split('\n').map(esc).collect();
    writeln!(
        out,
        "  \"{node}\" [shape=ellipse, style=filled, fillcolor=\"#d8f5d0\", label=\"{}\\n{}\\n{}\"];",
        names.join("\\n"),
        img.id.short(),
        size(img.size)
    )?;
    if let Some(f) = from {
        writeln!(out, "  \"{f}\" -> \"{node}\";")?;
    }
    for c in &img.containers {
        container(out, c, &node)?;
    }
    Ok(())
}

fn layer(out: &mut dyn Write, l: &LayerBranch, from: Option<&str>) -> io::Result<()> {
    let node = format!("l_{}", l.chain_id.hex());
    let step =
        l.created_by.as_deref().map(|s| esc(&cut(&short_command(s), 40))).unwrap_or_default();
    writeln!(
        out,
        "  \"{node}\" [shape=box, label=\"{}\\n{}\\n{}\"];",
        l.chain_id.short(),
        size(l.size),
        step
    )?;
    if let Some(f) = from {
        writeln!(out, "  \"{f}\" -> \"{node}\";")?;
    }
    for i in &l.images {
        image(out, i, Some(&node))?;
    }
    for c in &l.containers {
        container(out, c, &node)?;
    }
    for c in &l.children {
        layer(out, c, Some(&node))?;
    }
    Ok(())
}

/// Writes the forest as one `digraph`.
pub fn write_dot(out: &mut dyn Write, f: &Forest) -> io::Result<()> {
    writeln!(out, "digraph strata {{")?;
    writeln!(out, "  rankdir=TB;")?;
    writeln!(out, "  node [fontname=\"monospace\", fontsize=10];")?;
    let t = &f.totals;
    writeln!(
        out,
        "  label=\"{} images, {} layers, {}, {} shared\"; labelloc=b;",
        t.images,
        t.layers,
        human_size(t.bytes),
        human_size(t.bytes_shared)
    )?;
    for r in &f.roots {
        layer(out, r, None)?;
    }
    for i in &f.unplaced_images {
        image(out, i, None)?;
    }
    for c in &f.unplaced_containers {
        let node = format!("c_{}", esc(&c.id));
        let name = c.name.as_deref().unwrap_or("<unnamed>");
        writeln!(
            out,
            "  \"{node}\" [shape=hexagon, label=\"{}\\n{}\"];",
            esc(name),
            esc(&c.state)
        )?;
    }
    writeln!(out, "}}")
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn labels_cannot_break_out_of_their_quotes() {
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
        assert_eq!(esc("x\ny"), "x\\\\u{a}y");
    }
}
