//! `strata tree --format dot`: the layer forest for Graphviz.
//!
//! Layers are boxes, images ellipses, containers hexagons; edges run from a layer to
//! what is built on it, and from an image to its containers. Every label is quoted
//! and escaped, so a hostile tag or build step cannot inject DOT syntax.

use super::history::short_command;
use super::human_size;
use super::tree::collapse::{Collapse, More, Next, Planner};
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

fn more(out: &mut dyn Write, m: &More, node: &str, from: Option<&str>) -> io::Result<()> {
    writeln!(
        out,
        "  \"{node}\" [shape=note, style=dashed, label=\"… and {} more\\n{}\\n{}\"];",
        m.entries,
        esc(&m.count.describe()),
        esc(&m.see)
    )?;
    if let Some(f) = from {
        writeln!(out, "  \"{f}\" -> \"{node}\" [style=dashed];")?;
    }
    Ok(())
}

fn image(out: &mut dyn Write, p: &Planner, img: &ImageLeaf, from: Option<&str>) -> io::Result<()> {
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
    let (shown, rest) = p.image(img);
    for c in shown {
        container(out, c, &node)?;
    }
    if let Some(m) = rest {
        more(out, &m, &format!("m_{node}"), Some(&node))?;
    }
    Ok(())
}

fn layer(out: &mut dyn Write, p: &Planner, l: &LayerBranch, from: Option<&str>) -> io::Result<()> {
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
    let plan = p.layer(l, true);
    for i in &plan.images {
        image(out, p, i, Some(&node))?;
    }
    for c in &plan.containers {
        container(out, c, &node)?;
    }
    for next in &plan.children {
        match next {
            Next::Layer(k) => layer(out, p, k, Some(&node))?,
            Next::Fold(f) => {
                // One dashed box for the folded run, named after its lowest layer.
                let fold = format!("f_{}", f.first.hex());
                let mut label = format!(
                    "… {} layers folded\\n{} … {}\\n{}",
                    f.layers,
                    f.first.short(),
                    f.last.short(),
                    human_size(f.bytes)
                );
                if f.intermediates > 0 {
                    label.push_str(&format!("\\n+{} intermediate images", f.intermediates));
                }
                writeln!(out, "  \"{fold}\" [shape=box, style=dashed, label=\"{label}\"];")?;
                writeln!(out, "  \"{node}\" -> \"{fold}\";")?;
                layer(out, p, f.below, Some(&fold))?;
            }
        }
    }
    if let Some(m) = &plan.more {
        more(out, m, &format!("m_{node}"), Some(&node))?;
    }
    Ok(())
}

/// Writes the forest as one `digraph`, fan-out and long chains summed up as `collapse`
/// says (the same reduction as the text tree: a dashed box for a folded chain, a note
/// for the entries of a node not drawn).
pub fn write_dot(out: &mut dyn Write, f: &Forest, collapse: Collapse) -> io::Result<()> {
    let p = Planner::new(collapse);
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
    let top = p.top(f);
    for r in &top.roots {
        layer(out, &p, r, None)?;
    }
    if let Some(m) = &top.more_roots {
        more(out, m, "m_roots", None)?;
    }
    for i in &top.unplaced_images {
        image(out, &p, i, None)?;
    }
    if let Some(m) = &top.more_unplaced_images {
        more(out, m, "m_unplaced_images", None)?;
    }
    for c in &top.unplaced_containers {
        let node = format!("c_{}", esc(&c.id));
        let name = c.name.as_deref().unwrap_or("<unnamed>");
        writeln!(
            out,
            "  \"{node}\" [shape=hexagon, label=\"{}\\n{}\"];",
            esc(name),
            esc(&c.state)
        )?;
    }
    if let Some(m) = &top.more_unplaced_containers {
        more(out, m, "m_unplaced_containers", None)?;
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
