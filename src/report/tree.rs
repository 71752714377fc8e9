//! `strata tree`: the layer forest, with images and containers hung where they sit.
//!
//! Roots are base layers; each layer's children are the layers built on it, so a
//! layer shared by several images appears once and the images branch off it. An
//! image hangs at its top layer, a container at its image. The same model feeds
//! the text tree, the nested JSON and the Graphviz renderer ([`super::dot`]).

use super::history::short_command;
use super::{human_size, opt_size, write_json, SCHEMA_VERSION};
use crate::analysis::history::layer_steps;
use crate::digest::{ChainId, DiffId, ImageId};
use crate::finding::terminal_safe;
use crate::graph::{ContainerNode, Graph, ImageNode};
use crate::id::ContainerId;
use anstyle::{AnsiColor, Style};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

pub mod collapse;
use collapse::{Collapse, Count, More, Next, Planner};

/// Layers deeper than this are cut off. Docker refuses chains deeper than 125; a
/// deeper one is crafted, and following it blindly would exhaust the stack.
pub const MAX_DEPTH: usize = 1000;

/// How the text tree is drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeStyle {
    /// Draw with ASCII rather than box-drawing characters.
    pub ascii: bool,
    /// Colour image names and states (ANSI).
    pub color: bool,
    /// Show build steps in full rather than cut to one short line.
    pub no_trunc: bool,
    /// Layer levels to draw (a folded chain is one); deeper ones are summarised.
    pub depth: Option<usize>,
    /// Fan-out and long chains summed up (the text and Graphviz views; JSON is whole).
    pub collapse: Collapse,
}

/// Which part of the forest to show.
#[derive(Debug, Clone, Default)]
pub struct TreeFilter {
    /// Show untagged intermediate images of the classic builder too.
    pub all: bool,
    /// `--image`: only this image's chain, and only this image.
    pub image: Option<ImageId>,
    /// `--whatrequires`: only what sits on this layer.
    pub requires_layer: Option<ChainId>,
    /// `--whatrequires IMAGE`: the image asked about (its top layer, if it has one,
    /// is `requires_layer`; without one, only it and its containers are shown).
    pub requires_image: Option<ImageId>,
}

/// The layer forest as `strata tree --format json` prints it: base layers are roots, images hang on
/// their top layer, containers on their image.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct Forest {
    /// Version of this JSON format ([`super::SCHEMA_VERSION`]).
    pub schema_version: &'static str,
    /// What `--whatrequires` asked about, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires: Option<String>,
    /// Base layers (no parent, or a parent that is missing), each with what sits on it.
    pub roots: Vec<LayerBranch>,
    /// Images that cannot hang on a layer: no layers at all, or a layer missing.
    pub unplaced_images: Vec<ImageLeaf>,
    /// Containers with neither a known image nor a known RW parent layer.
    pub unplaced_containers: Vec<ContainerLeaf>,
    /// Counts and sizes over what is shown.
    pub totals: Totals,
}

/// One layer of the forest and everything on top of it.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct LayerBranch {
    /// The layer's ChainID.
    pub chain_id: ChainId,
    /// Its DiffID; null when unreadable.
    pub diff_id: Option<DiffId>,
    /// The layer's own size (Docker's layer `size`), null when unreadable.
    pub size: Option<i64>,
    /// The build step that made it (`created_by`, else the step's comment).
    pub created_by: Option<String>,
    /// The layer names a parent that is not in layerdb.
    pub parent_missing: bool,
    /// Images whose top layer this is.
    pub images: Vec<ImageLeaf>,
    /// Untagged intermediate images at this layer left out (see `--all`).
    pub hidden_intermediates: usize,
    /// Containers on this layer whose image is unknown.
    pub containers: Vec<ContainerLeaf>,
    /// Layers directly on top of this one.
    pub children: Vec<LayerBranch>,
    /// Children cut off at [`MAX_DEPTH`].
    pub truncated: bool,
}

/// An image hanging on its top layer.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct ImageLeaf {
    /// The image ID.
    pub id: ImageId,
    /// Familiar `name:tag` strings.
    pub repo_tags: Vec<String>,
    /// Familiar `name@sha256:...` strings.
    pub repo_digests: Vec<String>,
    /// Untagged, undigested and without children.
    pub dangling: bool,
    /// Untagged with children: a classic builder's intermediate image.
    pub intermediate: bool,
    /// Σ layer sizes over its chain; null when a layer is missing.
    pub size: Option<i64>,
    /// The config's `created`, as written (RFC 3339).
    pub created: Option<String>,
    /// Containers created from it.
    pub containers: Vec<ContainerLeaf>,
}

/// A container hanging on its image (or on its RW layer's parent when the image is unknown).
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct ContainerLeaf {
    /// The container ID.
    pub id: ContainerId,
    /// Its name, without the leading `/`.
    pub name: Option<String>,
    /// Docker's one-word state.
    pub state: String,
    /// `Created`, as written (RFC 3339).
    pub created: Option<String>,
}

/// What the forest shown holds.
#[derive(schemars::JsonSchema, Debug, Serialize, Default)]
pub struct Totals {
    /// Images shown.
    pub images: usize,
    /// Layers shown.
    pub layers: usize,
    /// Σ own size of the layers shown.
    pub bytes: i64,
    /// Σ own size of the layers shown that two or more images (not counting
    /// intermediate build images) have in common.
    pub bytes_shared: i64,
}

fn container_leaf(c: &ContainerNode) -> ContainerLeaf {
    ContainerLeaf {
        id: c.record.id.clone(),
        name: c.record.name.clone(),
        state: c.record.state.status().to_owned(),
        created: c.record.created.clone(),
    }
}

struct Builder<'g> {
    g: &'g Graph,
    filter: &'g TreeFilter,
    steps: BTreeMap<ChainId, String>,
    /// Layers allowed in the view; `None` for all.
    allowed: Option<BTreeSet<ChainId>>,
    visited: BTreeSet<ChainId>,
    placed_images: BTreeSet<ImageId>,
    placed_containers: BTreeSet<ContainerId>,
}

impl<'g> Builder<'g> {
    fn image_shown(&self, img: &ImageNode) -> bool {
        if let Some(only) = self.filter.image {
            return img.id() == only;
        }
        self.filter.all || !img.is_intermediate() || !img.containers.is_empty()
    }

    fn image_leaf(&mut self, img: &ImageNode) -> ImageLeaf {
        self.placed_images.insert(img.id());
        let mut containers: Vec<ContainerLeaf> = Vec::new();
        for id in &img.containers {
            if let Some(c) = self.g.containers.get(id) {
                self.placed_containers.insert(id.clone());
                containers.push(container_leaf(c));
            }
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        ImageLeaf {
            id: img.id(),
            repo_tags: img.repo_tags.clone(),
            repo_digests: img.repo_digests.clone(),
            dangling: img.is_dangling(),
            intermediate: img.is_intermediate(),
            size: img.size,
            created: img.record.config.as_ref().and_then(|c| c.created.clone()),
            containers,
        }
    }

    fn branch(&mut self, id: ChainId, depth: usize) -> LayerBranch {
        self.visited.insert(id);
        let g = self.g;
        let l = &g.layers[&id];
        let mut images = Vec::new();
        let mut hidden = 0;
        for img_id in &l.images {
            let Some(img) = g.images.get(img_id) else { continue };
            if img.top_layer() != Some(id) {
                continue;
            }
            if self.image_shown(img) {
                images.push(self.image_leaf(img));
            } else if self.filter.image.is_none() {
                hidden += 1;
            }
        }
        images.sort_by(|a, b| {
            (a.repo_tags.is_empty(), a.repo_tags.first(), a.id).cmp(&(
                b.repo_tags.is_empty(),
                b.repo_tags.first(),
                b.id,
            ))
        });
        let mut containers = Vec::new();
        if self.filter.image.is_none() {
            for cid in &l.containers {
                let Some(c) = g.containers.get(cid) else { continue };
                let image_known = c.record.image.is_some_and(|i| g.images.contains_key(&i));
                if !image_known {
                    self.placed_containers.insert(cid.clone());
                    containers.push(container_leaf(c));
                }
            }
        }
        let mut kids: Vec<ChainId> = l
            .children
            .iter()
            .copied()
            .filter(|c| {
                !self.visited.contains(c) && self.allowed.as_ref().is_none_or(|a| a.contains(c))
            })
            .collect();
        kids.sort();
        kids.dedup();
        let truncated = depth + 1 >= MAX_DEPTH && !kids.is_empty();
        let children = if truncated {
            Vec::new()
        } else {
            kids.into_iter().map(|c| self.branch(c, depth + 1)).collect()
        };
        LayerBranch {
            chain_id: id,
            diff_id: l.record.diff_id,
            size: l.record.size,
            created_by: self.steps.get(&id).cloned(),
            parent_missing: l.record.parent.is_some_and(|p| !g.layers.contains_key(&p)),
            images,
            hidden_intermediates: hidden,
            containers,
            children,
            truncated,
        }
    }
}

/// The build step of every layer, from the first image (by ID) whose history names it.
fn layer_step_texts(g: &Graph) -> BTreeMap<ChainId, String> {
    let mut out = BTreeMap::new();
    for img in g.images.values() {
        for (c, h) in img.chain_ids.iter().zip(layer_steps(img)) {
            let Some(h) = h else { continue };
            let text = match h.created_by.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(s) => s.to_owned(),
                None => match h.comment.as_deref().filter(|s| !s.trim().is_empty()) {
                    Some(s) => s.to_owned(),
                    None => continue,
                },
            };
            out.entry(*c).or_insert(text);
        }
    }
    out
}

/// Builds the forest for `filter`.
pub fn build(g: &Graph, filter: &TreeFilter) -> Forest {
    let allowed: Option<BTreeSet<ChainId>> =
        if let Some(img) = filter.image.and_then(|i| g.images.get(&i)) {
            Some(img.chain_ids.iter().copied().collect())
        } else if let Some(l) = filter.requires_layer {
            // Everything above the layer, breadth first, loops cut.
            let mut set = BTreeSet::new();
            let mut stack = vec![l];
            while let Some(c) = stack.pop() {
                if set.insert(c) {
                    if let Some(n) = g.layers.get(&c) {
                        stack.extend(n.children.iter().copied());
                    }
                }
            }
            Some(set)
        } else if filter.image.is_some() || filter.requires_image.is_some() {
            Some(BTreeSet::new())
        } else {
            None
        };
    let mut b = Builder {
        g,
        filter,
        steps: layer_step_texts(g),
        allowed,
        visited: BTreeSet::new(),
        placed_images: BTreeSet::new(),
        placed_containers: BTreeSet::new(),
    };

    let in_view = |c: &ChainId| b.allowed.as_ref().is_none_or(|a| a.contains(c));
    let mut roots: Vec<ChainId> = match filter.requires_layer {
        Some(l) if g.layers.contains_key(&l) => vec![l],
        Some(_) => Vec::new(),
        None => g
            .layers
            .values()
            .filter(|l| l.record.parent.is_none_or(|p| !g.layers.contains_key(&p)))
            .map(|l| l.chain_id())
            .filter(in_view)
            .collect(),
    };
    roots.sort();
    let mut forest_roots: Vec<LayerBranch> = Vec::new();
    for r in roots {
        if !b.visited.contains(&r) {
            forest_roots.push(b.branch(r, 0));
        }
    }
    // Layers caught in a parent loop have no root; show each loop once from its
    // smallest ChainID rather than not at all.
    if filter.requires_layer.is_none() {
        let rest: Vec<ChainId> = g
            .layers
            .keys()
            .copied()
            .filter(|c| !b.visited.contains(c) && b.allowed.as_ref().is_none_or(|a| a.contains(c)))
            .collect();
        for r in rest {
            if !b.visited.contains(&r) {
                forest_roots.push(b.branch(r, 0));
            }
        }
    }

    let mut unplaced_images = Vec::new();
    let only_image =
        filter.image.or(filter.requires_image.filter(|_| filter.requires_layer.is_none()));
    if filter.requires_layer.is_none() {
        for img in g.images.values() {
            if b.placed_images.contains(&img.id()) || only_image.is_some_and(|o| o != img.id()) {
                continue;
            }
            let placeable = img.top_layer().is_some_and(|t| g.layers.contains_key(&t));
            if !placeable && (only_image.is_some() || b.image_shown(img)) {
                unplaced_images.push(b.image_leaf(img));
            }
        }
    }
    let mut unplaced_containers = Vec::new();
    if filter.image.is_none() && filter.requires_layer.is_none() && filter.requires_image.is_none()
    {
        for c in g.containers.values() {
            if !b.placed_containers.contains(&c.record.id) {
                unplaced_containers.push(container_leaf(c));
            }
        }
    }

    let mut forest = Forest {
        schema_version: SCHEMA_VERSION,
        requires: match (filter.requires_image, filter.requires_layer) {
            (Some(i), Some(l)) => Some(format!("image {i} (top layer {l})")),
            (Some(i), None) => Some(format!("image {i}")),
            (None, Some(l)) => Some(format!("layer {l}")),
            (None, None) => None,
        },
        roots: forest_roots,
        unplaced_images,
        unplaced_containers,
        totals: Totals::default(),
    };
    forest.totals = totals(g, &forest);
    forest
}

fn totals(g: &Graph, f: &Forest) -> Totals {
    // How many counted images use each layer.
    let mut users: BTreeMap<ChainId, usize> = BTreeMap::new();
    for img in g.images.values().filter(|i| !i.is_intermediate()) {
        for c in img.chain_ids.iter().collect::<BTreeSet<_>>() {
            *users.entry(*c).or_default() += 1;
        }
    }
    let mut t = Totals { images: f.unplaced_images.len(), ..Totals::default() };
    let mut stack: Vec<&LayerBranch> = f.roots.iter().collect();
    while let Some(l) = stack.pop() {
        t.layers += 1;
        t.images += l.images.len() + l.hidden_intermediates;
        let size = l.size.unwrap_or(0);
        t.bytes = t.bytes.saturating_add(size);
        if users.get(&l.chain_id).copied().unwrap_or(0) > 1 {
            t.bytes_shared = t.bytes_shared.saturating_add(size);
        }
        stack.extend(l.children.iter());
    }
    t
}

/// Writes the forest as nested JSON.
pub fn write_tree_json(out: &mut dyn Write, f: &Forest) -> io::Result<()> {
    write_json(out, f)
}

/// Drawing characters and colours for one style.
struct Pen {
    style: TreeStyle,
}

impl Pen {
    fn branch(&self, last: bool) -> &'static str {
        match (self.style.ascii, last) {
            (false, false) => "├── ",
            (false, true) => "└── ",
            (true, false) => "|-- ",
            (true, true) => "`-- ",
        }
    }
    fn pipe(&self, last: bool) -> &'static str {
        match (self.style.ascii, last) {
            (_, true) => "    ",
            (false, false) => "│   ",
            (true, false) => "|   ",
        }
    }
    fn glyph(&self, kind: Kind) -> &'static str {
        match (self.style.ascii, kind) {
            (false, Kind::Layer) => "●",
            (false, Kind::Image) => "◆",
            (false, Kind::Container) => "▶",
            (false, Kind::More) => "…",
            (true, Kind::Layer) => "*",
            (true, Kind::Image) => "@",
            (true, Kind::Container) => ">",
            (true, Kind::More) => "...",
        }
    }
    fn paint(&self, s: &str, style: Style) -> String {
        if self.style.color {
            format!("{}{s}{}", style.render(), style.render_reset())
        } else {
            s.to_owned()
        }
    }
    fn ellipsis(&self) -> &'static str {
        if self.style.ascii {
            "..."
        } else {
            "…"
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Layer,
    Image,
    Container,
    More,
}

/// One line and its children, before drawing.
struct Line {
    text: String,
    children: Vec<Line>,
}

const STEP_WIDTH: usize = 60;

fn step_text(pen: &Pen, s: &str) -> String {
    let s = terminal_safe(&short_command(s));
    if pen.style.no_trunc || s.chars().count() <= STEP_WIDTH {
        return s;
    }
    let mut cut: String = s.chars().take(STEP_WIDTH).collect();
    cut.push_str(pen.ellipsis());
    cut
}

fn image_names(img: &ImageLeaf) -> String {
    let names: Vec<String> = if !img.repo_tags.is_empty() {
        img.repo_tags.iter().map(|t| terminal_safe(t)).collect()
    } else if !img.repo_digests.is_empty() {
        img.repo_digests.iter().map(|t| terminal_safe(t)).collect()
    } else {
        vec!["<none>".to_owned()]
    };
    names.join(", ")
}

fn container_line(pen: &Pen, c: &ContainerLeaf) -> Line {
    let name = c.name.as_deref().map(terminal_safe).unwrap_or_else(|| "<unnamed>".to_owned());
    let short = c.id.short();
    Line {
        text: format!(
            "{} {}  {}  {}",
            pen.glyph(Kind::Container),
            pen.paint(&name, AnsiColor::Cyan.on_default()),
            terminal_safe(short),
            c.state
        ),
        children: Vec::new(),
    }
}

/// The text renderer's state: the pen, the plan, and what the summary lines stood for.
struct Ctx<'p> {
    pen: Pen,
    plan: &'p Planner,
    /// What fold and fan-out lines stood for, for the `not drawn` line.
    hidden: Count,
}

impl Ctx<'_> {
    fn more_line(&mut self, m: &More) -> Line {
        self.hidden.layers += m.count.layers;
        self.hidden.images += m.count.images;
        self.hidden.containers += m.count.containers;
        Line {
            text: format!(
                "{} and {} more ({}): {}",
                self.pen.glyph(Kind::More),
                m.entries,
                m.count.describe(),
                m.see
            ),
            children: Vec::new(),
        }
    }

    fn image_line(&mut self, img: &ImageLeaf) -> Line {
        let pen = &self.pen;
        let mut text = format!(
            "{} {}  {}",
            pen.glyph(Kind::Image),
            pen.paint(&image_names(img), AnsiColor::Green.on_default().bold()),
            img.id.short()
        );
        if img.intermediate {
            text.push_str("  (intermediate)");
        } else if img.dangling {
            text.push_str("  (dangling)");
        }
        let (shown, more) = self.plan.image(img);
        let mut children: Vec<Line> = shown.into_iter().map(|c| container_line(pen, c)).collect();
        if let Some(m) = more {
            children.push(self.more_line(&m));
        }
        Line { text, children }
    }

    fn layer_line(&mut self, l: &LayerBranch, depth: usize) -> Line {
        let pen = &self.pen;
        let mut text = format!(
            "{} {}  {}",
            pen.glyph(Kind::Layer),
            pen.paint(&l.chain_id.short(), AnsiColor::Yellow.on_default()),
            opt_size(l.size)
        );
        if let Some(s) = &l.created_by {
            text.push_str("  ");
            text.push_str(&step_text(pen, s));
        }
        if l.parent_missing {
            text.push_str("  (parent layer missing)");
        }
        if l.hidden_intermediates > 0 {
            let n = l.hidden_intermediates;
            text.push_str(&format!("  (+{n} intermediate image{})", plural(n)));
        }
        let at_limit = pen.style.depth.is_some_and(|d| depth + 1 >= d);
        let plan = self.plan.layer(l, !at_limit);
        let mut children: Vec<Line> = Vec::new();
        for i in &plan.images {
            children.push(self.image_line(i));
        }
        children.extend(plan.containers.iter().map(|c| container_line(&self.pen, c)));
        if at_limit {
            let (layers, images) = count_below(l);
            if layers > 0 {
                children.push(Line {
                    text: format!(
                        "{} {layers} more layer{}, {images} image{}",
                        self.pen.glyph(Kind::More),
                        plural(layers),
                        plural(images)
                    ),
                    children: Vec::new(),
                });
            }
        } else {
            for next in &plan.children {
                match next {
                    Next::Layer(k) => children.push(self.layer_line(k, depth + 1)),
                    Next::Fold(f) => {
                        self.hidden.layers += f.layers;
                        self.hidden.images += f.intermediates;
                        let mut text = format!(
                            "{} {} layer{} folded: {} {} {}, {}",
                            self.pen.glyph(Kind::More),
                            f.layers,
                            plural(f.layers),
                            f.first.short(),
                            self.pen.ellipsis(),
                            f.last.short(),
                            human_size(f.bytes)
                        );
                        if f.intermediates > 0 {
                            let n = f.intermediates;
                            text.push_str(&format!(" (+{n} intermediate image{})", plural(n)));
                        }
                        let below = self.layer_line(f.below, depth + 2);
                        children.push(Line { text, children: vec![below] });
                    }
                }
            }
            if l.truncated {
                children.push(Line {
                    text: format!(
                        "{} deeper layers not shown (chain longer than {MAX_DEPTH})",
                        self.pen.glyph(Kind::More)
                    ),
                    children: Vec::new(),
                });
            }
        }
        if let Some(m) = &plan.more {
            children.push(self.more_line(m));
        }
        Line { text, children }
    }
}

fn count_below(l: &LayerBranch) -> (usize, usize) {
    let mut layers = 0;
    let mut images = 0;
    let mut stack: Vec<&LayerBranch> = l.children.iter().collect();
    while let Some(x) = stack.pop() {
        layers += 1;
        images += x.images.len();
        stack.extend(x.children.iter());
    }
    (layers, images)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn draw(
    out: &mut dyn Write,
    pen: &Pen,
    line: &Line,
    prefix: &str,
    connector: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "{}{}{}",
        pen.paint(prefix, Style::new().dimmed()),
        pen.paint(connector, Style::new().dimmed()),
        line.text
    )?;
    // Iterative over siblings, recursive over depth (bounded by MAX_DEPTH).
    let n = line.children.len();
    for (i, c) in line.children.iter().enumerate() {
        let last = i + 1 == n;
        let child_prefix = if connector.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}{}", pen.pipe(connector == pen.branch(true)))
        };
        draw(out, pen, c, &child_prefix, pen.branch(last))?;
    }
    Ok(())
}

/// Writes the forest as a text tree with a legend line first and a totals line last;
/// fan-out and long chains are summed up as `style.collapse` says, and a `not drawn`
/// line before the totals says what those summaries stand for.
pub fn write_tree_text(out: &mut dyn Write, f: &Forest, style: TreeStyle) -> io::Result<()> {
    let planner = Planner::new(style.collapse);
    let mut ctx = Ctx { pen: Pen { style }, plan: &planner, hidden: Count::default() };
    writeln!(
        out,
        "legend: {} layer (chain id, own size, build step)  {} image (tags, id)  {} container (name, id, state)",
        ctx.pen.glyph(Kind::Layer),
        ctx.pen.glyph(Kind::Image),
        ctx.pen.glyph(Kind::Container)
    )?;
    if let Some(r) = &f.requires {
        writeln!(out, "what requires {r}:")?;
    }
    let top = planner.top(f);
    // Each root is drawn as soon as it is planned: a big forest is never held as lines.
    for r in &top.roots {
        let line = ctx.layer_line(r, 0);
        draw(out, &ctx.pen, &line, "", "")?;
    }
    if let Some(m) = &top.more_roots {
        let line = ctx.more_line(m);
        draw(out, &ctx.pen, &line, "", "")?;
    }
    for i in &top.unplaced_images {
        let mut line = ctx.image_line(i);
        line.text.push_str("  (no layers in layerdb)");
        draw(out, &ctx.pen, &line, "", "")?;
    }
    if let Some(m) = &top.more_unplaced_images {
        let mut line = ctx.more_line(m);
        line.text.push_str("  (images with no layers in layerdb)");
        draw(out, &ctx.pen, &line, "", "")?;
    }
    for c in &top.unplaced_containers {
        let mut line = container_line(&ctx.pen, c);
        line.text.push_str("  (image and layer unknown)");
        draw(out, &ctx.pen, &line, "", "")?;
    }
    if let Some(m) = &top.more_unplaced_containers {
        let mut line = ctx.more_line(m);
        line.text.push_str("  (containers with image and layer unknown)");
        draw(out, &ctx.pen, &line, "", "")?;
    }
    if ctx.hidden != Count::default() {
        let c = planner.collapse();
        let mut why = Vec::new();
        if c.fanout > 0 {
            let n = c.fanout;
            why.push(format!(
                "more than {n} {} under one node summed up",
                if n == 1 { "entry" } else { "entries" }
            ));
        }
        if c.chain > 0 {
            let n = c.chain;
            why.push(format!("chains of more than {n} plain layer{} folded", plural(n)));
        }
        writeln!(
            out,
            "not drawn: {} ({}; --fanout N, --chain N or --no-collapse draw more)",
            ctx.hidden.describe(),
            why.join(", ")
        )?;
    }
    let t = &f.totals;
    writeln!(
        out,
        "totals: {} image{}, {} layer{}, {} ({} bytes), {} shared",
        t.images,
        plural(t.images),
        t.layers,
        plural(t.layers),
        human_size(t.bytes),
        t.bytes,
        human_size(t.bytes_shared)
    )
}
