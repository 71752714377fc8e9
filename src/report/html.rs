//! `strata audit --format html`: one self-contained page a person reads in a browser.
//!
//! The page holds a header (host, store, engine, scan time, version, verdict), the
//! findings as a table (complete without JavaScript; an inline script adds sorting and
//! filtering), the layer forest as an SVG drawn here, disk usage as SVG bars, and the
//! details of every image. Nothing is fetched: styles, script and pictures are inline.
//!
//! Every string from the data-root goes through maud's escaping (`(expr)` in the
//! templates), text and attributes alike; only the page's own CSS and script are
//! written unescaped.

use super::audit::AuditReport;
use super::human_size;
use super::listing::ImageView;
use super::tree::{ContainerLeaf, Forest, ImageLeaf, LayerBranch};
use crate::analysis::history::HistoryStep;
use crate::analysis::host::HostId;
use crate::digest::{ChainId, ImageId};
use crate::finding::{Finding, Severity};
use crate::graph::EngineGeneration;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// What the page needs beyond the audit report.
pub struct PageInput<'a, 'r> {
    /// The audit report the page shows.
    pub report: &'a AuditReport<'r>,
    /// The layer forest (`strata tree`'s, with intermediates hidden).
    pub forest: &'a Forest,
    /// The host the data-root belongs to.
    pub host: &'a HostId,
    /// The image store read, in words (`overlay2`, `containerd (overlayfs)`).
    pub store: String,
    /// Each image's history, newest step first.
    pub histories: &'a BTreeMap<ImageId, Vec<HistoryStep>>,
}

/// Most rows the forest picture draws; the rest are counted in a last row.
const MAX_FOREST_ROWS: usize = 5000;
/// A run of this many plain layers (one child, no image, no finding) or more is drawn
/// as one row.
const COLLAPSE_RUN: usize = 3;
/// Images drawn on one layer, besides those with findings or containers.
const MAX_IMAGES_PER_LAYER: usize = 12;

/// Writes the self-contained HTML page (every string from disk escaped by maud).
pub fn write_html(out: &mut dyn Write, input: &PageInput<'_, '_>) -> io::Result<()> {
    let page = page(input);
    out.write_all(page.into_string().as_bytes())
}

fn sev_class(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Error) => "sev-error",
        Some(Severity::Warning) => "sev-warning",
        Some(Severity::Info) => "sev-info",
        None => "sev-none",
    }
}

fn sev_colour(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Error) => "#c62828",
        Some(Severity::Warning) => "#e65100",
        Some(Severity::Info) => "#1565c0",
        None => "#546e7a",
    }
}

/// The worst finding per image and per layer.
struct Marks {
    images: BTreeMap<ImageId, Severity>,
    layers: BTreeMap<ChainId, Severity>,
}

impl Marks {
    fn of(findings: &[Finding]) -> Self {
        let mut m = Marks { images: BTreeMap::new(), layers: BTreeMap::new() };
        for f in findings {
            if let Some(i) = f.image {
                let e = m.images.entry(i).or_insert(f.severity);
                *e = (*e).max(f.severity);
            }
            if let Some(l) = f.layer {
                let e = m.layers.entry(l).or_insert(f.severity);
                *e = (*e).max(f.severity);
            }
        }
        m
    }
}

fn page(input: &PageInput<'_, '_>) -> Markup {
    let r = input.report;
    let marks = Marks::of(r.findings);
    let verdict = match r.summary.worst {
        Some(Severity::Error) => "PROBLEMS FOUND",
        Some(Severity::Warning) => "warnings",
        _ => "clean",
    };
    let engine = match r.engine {
        EngineGeneration::Legacy => "Docker 20.10 or older",
        EngineGeneration::Modern => "Docker 23 or newer",
    };
    let host = input
        .host
        .hostname
        .clone()
        .or_else(|| input.host.engine_id.clone())
        .unwrap_or_else(|| "unknown host".to_owned());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Nothing may leave the page: no fetch, no script from elsewhere.
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";
                title { "strata audit: " (host) " — " (verdict) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "strata audit of " span.host { (host) } }
                    p.verdict.(sev_class(r.summary.worst)) id="verdict" {
                        (verdict) ": " (r.summary.error) " errors, " (r.summary.warning) " warnings, " (r.summary.info) " info"
                    }
                    table.meta {
                        tr { th { "host" } td { (input.host.hostname.as_deref().unwrap_or("unknown")) } }
                        tr { th { "engine-id" } td.mono { (input.host.engine_id.as_deref().unwrap_or("none (Docker 20.10 or older)")) } }
                        tr { th { "data-root" } td.mono { (r.data_root) } }
                        tr { th { "store" } td { (input.store) } }
                        tr { th { "engine" } td { (engine) } }
                        tr { th { "scanned" } td { (r.generated_at) } }
                        tr { th { "strata" } td { (r.tool.version) } }
                        tr { th { "contents" } td { (r.summary.images) " images, " (r.summary.layers) " layers, " (r.summary.containers) " containers" } }
                        tr { th { "layer content" } td {
                            @if let Some(note) = &r.content_checks.note { (note) }
                            @else if r.content_checks.requested { (r.content_checks.layers_checked) " layers verified" }
                            @else { "not checked (--metadata-only)" }
                        } }
                    }
                    nav { a href="#findings" { "Findings" } " · " a href="#forest" { "Layer forest" } " · " a href="#disk" { "Disk usage" } " · " a href="#images" { "Images" } }
                }
                (findings_section(r.findings))
                (forest_section(input.forest, &marks))
                (disk_section(r))
                (images_section(input, &marks))
                footer { "Written by strata " (r.tool.version) " from the data-root on disk; this page fetches nothing." }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

fn findings_section(findings: &[Finding]) -> Markup {
    html! {
        section #findings {
            h2 { "Findings (" (findings.len()) ")" }
            @if findings.is_empty() {
                p { "No findings." }
            } @else {
                div #filters .js-only {
                    label { "severity " select #f-sev { option value="" { "any" } option { "error" } option { "warning" } option { "info" } } }
                    label { " code, image or text " input #f-text type="search" placeholder="filter"; }
                    span #f-count {}
                }
                table #findings-table .sortable {
                    thead { tr { th { "severity" } th { "code" } th { "concerns" } th { "message" } } }
                    tbody {
                        @for f in findings {
                            tr.(sev_class(Some(f.severity))) {
                                td { (f.severity.to_string()) }
                                td.mono { (f.code.to_string()) }
                                td.mono {
                                    @if let Some(i) = f.image { a href={ "#img-" (i.hex()) } { "image " (i.short()) } " " }
                                    @if let Some(l) = f.layer { a href={ "#layer-" (l.hex()) } { "layer " (l.short()) } " " }
                                    @if let Some(p) = &f.path { span.path { (p) } " " }
                                    @if let Some(file) = &f.file { span.path { (file) } }
                                }
                                td { (f.message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One row of the forest picture.
enum Row<'a> {
    Layer {
        depth: usize,
        b: &'a LayerBranch,
        shared_by: usize,
    },
    Run {
        depth: usize,
        count: usize,
        bytes: i64,
    },
    Image {
        depth: usize,
        i: &'a ImageLeaf,
    },
    /// Base layers that each hold one plain image and nothing else, beyond
    /// [`MAX_IMAGES_PER_LAYER`], counted (a host of imported images).
    Bases {
        count: usize,
        bytes: i64,
    },
    /// Images on one layer beyond [`MAX_IMAGES_PER_LAYER`], counted.
    Images {
        depth: usize,
        count: usize,
    },
    Container {
        depth: usize,
        c: &'a ContainerLeaf,
    },
    More(usize),
}

fn images_under(b: &LayerBranch) -> usize {
    b.images.len() + b.children.iter().map(images_under).sum::<usize>()
}

fn is_plain(b: &LayerBranch, marks: &Marks) -> bool {
    b.children.len() == 1
        && b.images.is_empty()
        && b.containers.is_empty()
        && !marks.layers.contains_key(&b.chain_id)
}

fn flatten<'a>(b: &'a LayerBranch, depth: usize, marks: &Marks, rows: &mut Vec<Row<'a>>) {
    rows.push(Row::Layer { depth, b, shared_by: images_under(b) });
    // A run of plain layers below this one becomes one row.
    if is_plain(b, marks) {
        let mut run = Vec::new();
        let mut cur = &b.children[0];
        while is_plain(cur, marks) {
            run.push(cur);
            cur = &cur.children[0];
        }
        if run.len() >= COLLAPSE_RUN {
            rows.push(Row::Run {
                depth: depth + 1,
                count: run.len(),
                bytes: run.iter().filter_map(|l| l.size).sum(),
            });
            flatten(cur, depth + 2, marks, rows);
            return;
        }
    }
    // Many images on one layer are grouped: those with findings or containers, and the
    // first few others, drawn; the rest counted in one row.
    let mut grouped = 0;
    let mut plain_shown = 0;
    for i in &b.images {
        let notable = marks.images.contains_key(&i.id) || !i.containers.is_empty();
        if !notable {
            if plain_shown >= MAX_IMAGES_PER_LAYER && b.images.len() > MAX_IMAGES_PER_LAYER + 1 {
                grouped += 1;
                continue;
            }
            plain_shown += 1;
        }
        rows.push(Row::Image { depth: depth + 1, i });
        for c in &i.containers {
            rows.push(Row::Container { depth: depth + 2, c });
        }
    }
    if grouped > 0 {
        rows.push(Row::Images { depth: depth + 1, count: grouped });
    }
    for c in &b.containers {
        rows.push(Row::Container { depth: depth + 1, c });
    }
    for child in &b.children {
        flatten(child, depth + 1, marks, rows);
    }
}

fn image_label(i: &ImageLeaf) -> String {
    match i.repo_tags.first() {
        Some(t) if i.repo_tags.len() > 1 => format!("{t} (+{})", i.repo_tags.len() - 1),
        Some(t) => t.clone(),
        None => i.repo_digests.first().map_or_else(|| "<none>".to_owned(), |d| d.clone()),
    }
}

fn cut(s: &str, n: usize) -> String {
    super::layout::ellipsis(s, n)
}

/// A base layer with no layer above it and one plain image on it: fan-out at the
/// roots (a thousand `docker import`s) that says nothing one row at a time.
fn is_lone_base(b: &LayerBranch, marks: &Marks) -> bool {
    b.children.is_empty()
        && b.containers.is_empty()
        && b.images.len() == 1
        && b.images[0].containers.is_empty()
        && !marks.layers.contains_key(&b.chain_id)
        && !marks.images.contains_key(&b.images[0].id)
}

fn forest_section(forest: &Forest, marks: &Marks) -> Markup {
    let mut rows = Vec::new();
    let (mut lone, mut lone_bytes) = (0usize, 0i64);
    for root in &forest.roots {
        if is_lone_base(root, marks) {
            lone += 1;
            if lone > MAX_IMAGES_PER_LAYER {
                lone_bytes = lone_bytes.saturating_add(root.size.unwrap_or(0));
                continue;
            }
        }
        flatten(root, 0, marks, &mut rows);
    }
    if lone > MAX_IMAGES_PER_LAYER {
        rows.push(Row::Bases { count: lone - MAX_IMAGES_PER_LAYER, bytes: lone_bytes });
    }
    for i in &forest.unplaced_images {
        rows.push(Row::Image { depth: 0, i });
    }
    for c in &forest.unplaced_containers {
        rows.push(Row::Container { depth: 0, c });
    }
    if rows.len() > MAX_FOREST_ROWS {
        let more = rows.len() - MAX_FOREST_ROWS;
        rows.truncate(MAX_FOREST_ROWS);
        rows.push(Row::More(more));
    }
    const ROW: usize = 22;
    const INDENT: usize = 18;
    let width = 1100;
    let height = rows.len() * ROW + 10;
    html! {
        section #forest {
            h2 { "Layer forest" }
            p.legend {
                svg width="520" height="20" role="img" aria-label="legend" {
                    rect x="2" y="4" width="14" height="12" fill="#eceff1" stroke="#546e7a" {}
                    text x="22" y="15" { "layer" }
                    ellipse cx="80" cy="10" rx="9" ry="6" fill="#e3f2fd" stroke="#546e7a" {}
                    text x="94" y="15" { "image" }
                    polygon points="150,3 157,10 150,17 143,10" fill="#f3e5f5" stroke="#546e7a" {}
                    text x="162" y="15" { "container" }
                    rect x="240" y="4" width="14" height="12" fill="#eceff1" stroke-dasharray="3,2" stroke="#546e7a" {}
                    text x="260" y="15" { "collapsed run of layers" }
                    rect x="420" y="4" width="14" height="12" fill="#ffebee" stroke="#c62828" stroke-width="2" {}
                    text x="440" y="15" { "with findings" }
                }
            }
            p { (forest.totals.images) " images on " (forest.totals.layers) " layers, " (human_size(forest.totals.bytes)) " (" (human_size(forest.totals.bytes_shared)) " shared). Base layers at the roots; a layer's count says how many images build on it." }
            div.scroll {
                svg #forest-svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="layer forest" {
                    @for (n, row) in rows.iter().enumerate() {
                        @let y = n * ROW + 4;
                        @match row {
                            Row::Layer { depth, b, shared_by } => {
                                @let sev = marks.layers.get(&b.chain_id).copied();
                                @let x = depth * INDENT + 4;
                                g id={ "layer-" (b.chain_id.hex()) } class="node layer" {
                                    @if *depth > 0 { line x1=(x - INDENT + 7) y1=(y + 8) x2=(x) y2=(y + 8) stroke="#90a4ae" {} }
                                    rect x=(x) y=(y + 2) width="14" height="12" fill=(if sev.is_some() { "#ffebee" } else { "#eceff1" }) stroke=(sev_colour(sev)) stroke-width=(if sev.is_some() { "2" } else { "1" }) {}
                                    text x=(x + 20) y=(y + 13) {
                                        tspan.mono { (b.chain_id.short()) }
                                        "  " (b.size.map_or_else(|| "size ?".to_owned(), human_size))
                                        @if *shared_by > 1 { tspan.shared { "  shared by " (shared_by) " images" } }
                                        @if let Some(by) = &b.created_by { tspan.step { "  " (cut(by, 70)) } }
                                        @if b.parent_missing { tspan fill="#c62828" { "  parent missing" } }
                                    }
                                    title { (b.chain_id.to_string()) @if let Some(by) = &b.created_by { "\n" (by) } }
                                }
                            }
                            Row::Run { depth, count, bytes } => {
                                @let x = depth * INDENT + 4;
                                g class="node run" {
                                    rect x=(x) y=(y + 2) width="14" height="12" fill="#eceff1" stroke="#546e7a" stroke-dasharray="3,2" {}
                                    text x=(x + 20) y=(y + 13) { "⋮ " (count) " layers, " (human_size(*bytes)) }
                                }
                            }
                            Row::Image { depth, i } => {
                                @let sev = marks.images.get(&i.id).copied();
                                @let x = depth * INDENT + 4;
                                g class="node image" {
                                    a href={ "#img-" (i.id.hex()) } {
                                        ellipse cx=(x + 7) cy=(y + 8) rx="9" ry="6" fill=(if sev.is_some() { "#ffebee" } else { "#e3f2fd" }) stroke=(sev_colour(sev)) stroke-width=(if sev.is_some() { "2" } else { "1" }) {}
                                        text x=(x + 20) y=(y + 13) { tspan.img { (cut(&image_label(i), 80)) } "  " tspan.mono { (i.id.short()) } "  " (i.size.map_or_else(|| "size ?".to_owned(), human_size)) }
                                    }
                                }
                            }
                            Row::Bases { count, bytes } => {
                                g class="node run" {
                                    a href="#images" {
                                        rect x="4" y=(y + 2) width="14" height="12" fill="#eceff1" stroke="#546e7a" stroke-dasharray="3,2" {}
                                        text x="24" y=(y + 13) { "… " (count) " more base layers, each with one image and nothing else, " (human_size(*bytes)) " (listed under Images)" }
                                    }
                                }
                            }
                            Row::Images { depth, count } => {
                                @let x = depth * INDENT + 4;
                                g class="node images" {
                                    a href="#images" {
                                        ellipse cx=(x + 7) cy=(y + 8) rx="9" ry="6" fill="#e3f2fd" stroke="#546e7a" stroke-dasharray="3,2" {}
                                        text x=(x + 20) y=(y + 13) { "… " (count) " more images on this layer (listed under Images)" }
                                    }
                                }
                            }
                            Row::Container { depth, c } => {
                                @let x = depth * INDENT + 4;
                                g class="node container" {
                                    polygon points={ (x + 7) "," (y + 1) " " (x + 14) "," (y + 8) " " (x + 7) "," (y + 15) " " (x) "," (y + 8) } fill="#f3e5f5" stroke="#546e7a" {}
                                    text x=(x + 20) y=(y + 13) { (cut(c.name.as_deref().unwrap_or(""), 60)) "  " tspan.mono { (c.id.chars().take(12).collect::<String>()) } "  " (c.state) }
                                    title { (c.name.as_deref().unwrap_or("")) " " (c.id) }
                                }
                            }
                            Row::More(n) => {
                                text x="4" y=(y + 13) { "… and " (n) " more rows (see strata tree)" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A horizontal bar: in use dark, reclaimable light, scaled to `max`.
fn bar(y: usize, label: &str, size: i64, reclaimable: i64, max: i64) -> Markup {
    const X: i64 = 160;
    const W: i64 = 600;
    let scale = |v: i64| {
        if max <= 0 {
            0
        } else {
            (i128::from(v.max(0)) * i128::from(W) / i128::from(max)) as i64
        }
    };
    let used = (size - reclaimable).max(0);
    html! {
        g class="bar" {
            text x="4" y=(y + 14) { (cut(label, 24)) }
            rect x=(X) y=(y + 2) width=(scale(used)) height="16" fill="#37474f" {}
            rect x=(X + scale(used)) y=(y + 2) width=(scale(reclaimable.max(0))) height="16" fill="#b0bec5" {}
            text x=(X + scale(size) + 6) y=(y + 14) { (human_size(size)) @if reclaimable > 0 { " (" (human_size(reclaimable)) " reclaimable)" } }
        }
    }
}

fn disk_section(r: &AuditReport<'_>) -> Markup {
    let du = r.disk_usage;
    let s = &du.summary;
    let rows = [("Images", &s.images), ("Containers", &s.containers), ("Orphaned", &s.orphaned)];
    let max = rows.iter().map(|(_, t)| t.size).max().unwrap_or(0);
    let mut top: Vec<_> = du.images.iter().filter(|i| i.unique_size.unwrap_or(0) > 0).collect();
    top.sort_by_key(|i| std::cmp::Reverse(i.unique_size.unwrap_or(0)));
    top.truncate(10);
    let top_max = top.first().and_then(|i| i.unique_size).unwrap_or(0);
    html! {
        section #disk {
            h2 { "Disk usage" }
            p { "Dark: in use; light: reclaimable (what `docker system prune -a` would free; orphans are never freed by it)." }
            svg width="1000" height=(rows.len() * 24 + 8) role="img" aria-label="disk usage" {
                @for (n, (name, t)) in rows.iter().enumerate() {
                    (bar(n * 24, &format!("{name} ({})", t.total_count), t.size, t.reclaimable, max))
                }
            }
            table {
                thead { tr { th { "type" } th { "total" } th { "active" } th { "size" } th { "reclaimable" } } }
                tbody { @for (name, t) in &rows { tr { td { (name) } td { (t.total_count) } td { (t.active) } td { (human_size(t.size)) } td { (human_size(t.reclaimable)) } } } }
            }
            @if !top.is_empty() {
                h3 { "Top images by unique size" }
                svg width="1000" height=(top.len() * 24 + 8) role="img" aria-label="top images by unique size" {
                    @for (n, i) in top.iter().enumerate() {
                        @let name = i.repo_tags.first().cloned().unwrap_or_else(|| i.id.short());
                        (bar(n * 24, &name, i.unique_size.unwrap_or(0), 0, top_max))
                    }
                }
            }
            @if !du.orphaned.is_empty() {
                h3 { "Orphaned" }
                table { tbody { @for o in &du.orphaned { tr { td.mono { (o.path) } td { (o.size.map_or_else(|| "?".to_owned(), human_size)) } } } } }
            }
        }
    }
}

fn images_section(input: &PageInput<'_, '_>, marks: &Marks) -> Markup {
    let r = input.report;
    let findings_of = |i: &ImageView| r.findings.iter().filter(|f| f.image == Some(i.id)).count();
    let layer_status = |l: &ChainId| match marks.layers.get(l) {
        Some(Severity::Error) => "PROBLEM",
        Some(Severity::Warning) => "warning",
        _ if r.content_checks.requested && r.content_checks.note.is_none() => "verified",
        _ => "not checked",
    };
    html! {
        section #images {
            h2 { "Images (" (r.images.len()) ")" }
            @for i in r.images.iter() {
                @let i = &i;
                @let sev = marks.images.get(&i.id).copied();
                details id={ "img-" (i.id.hex()) } class=(sev_class(sev)) open[sev.is_some()] {
                    summary {
                        span.img { @if i.repo_tags.is_empty() { "<none>" } @else { (i.repo_tags.join(", ")) } }
                        " " span.mono { (i.id.short()) } " " (i.size.map_or_else(|| "size ?".to_owned(), human_size))
                        @let n = findings_of(i);
                        @if n > 0 { " — " (n) " findings" }
                    }
                    table.meta {
                        tr { th { "id" } td.mono { (i.id.to_string()) } }
                        tr { th { "created" } td { (i.created.as_deref().unwrap_or("")) } }
                        tr { th { "platform" } td { (i.os.as_deref().unwrap_or("?")) "/" (i.architecture.as_deref().unwrap_or("?")) } }
                        tr { th { "tags" } td { @for t in &i.repo_tags { span.tag { (t) } " " } } }
                        tr { th { "digests" } td.mono { @for d in &i.repo_digests { (d) br; } } }
                        tr { th { "containers" } td { (i.containers) } }
                    }
                    h4 { "Layers" }
                    table {
                        thead { tr { th { "#" } th { "chain id" } th { "diff id" } th { "status" } } }
                        tbody {
                            @for (n, c) in i.chain_ids.iter().enumerate() {
                                tr { td { (n) } td.mono { a href={ "#layer-" (c.hex()) } { (c.short()) } } td.mono { (i.diff_ids.get(n).map(|d| d.short()).unwrap_or_default()) } td { (layer_status(c)) } }
                            }
                        }
                    }
                    @if let Some(steps) = input.histories.get(&i.id) {
                        h4 { "History" }
                        table {
                            thead { tr { th { "created" } th { "size" } th { "created by" } } }
                            tbody {
                                @for s in steps {
                                    tr { td { (s.created.as_deref().map(super::layout::short_time).unwrap_or_default()) } td { (s.size.map_or_else(|| "".to_owned(), human_size)) } td.step { (s.created_by) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

const CSS: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 2em 2em; color: #212121; }
header h1 { margin-bottom: .2em; }
.mono, .step { font-family: ui-monospace, monospace; }
.verdict { font-size: 1.3em; font-weight: bold; padding: .3em .6em; border-radius: 4px; display: inline-block; }
.verdict.sev-error { background: #ffebee; color: #c62828; }
.verdict.sev-warning { background: #fff3e0; color: #e65100; }
.verdict.sev-info, .verdict.sev-none { background: #e8f5e9; color: #2e7d32; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { text-align: left; padding: 2px 8px; vertical-align: top; border-bottom: 1px solid #eceff1; }
table.meta th { color: #546e7a; font-weight: normal; }
#findings-table th { cursor: pointer; user-select: none; }
tr.sev-error td:first-child { color: #c62828; font-weight: bold; }
tr.sev-warning td:first-child { color: #e65100; font-weight: bold; }
tr.sev-info td:first-child { color: #1565c0; }
.path { word-break: break-all; }
.js-only { display: none; }
.scroll { overflow: auto; max-height: 80vh; border: 1px solid #eceff1; }
svg text { font: 12px system-ui, sans-serif; }
svg .mono { font-family: ui-monospace, monospace; }
svg .shared { fill: #6a1b9a; }
svg .step { fill: #78909c; }
svg .img { font-weight: bold; }
details { margin: .3em 0; border-left: 4px solid #cfd8dc; padding-left: .6em; }
details.sev-error { border-color: #c62828; }
details.sev-warning { border-color: #e65100; }
details summary { cursor: pointer; }
td.step { white-space: pre-wrap; word-break: break-all; max-width: 70em; }
.tag { background: #eceff1; border-radius: 3px; padding: 0 4px; }
footer { margin-top: 2em; color: #78909c; }
"#;

/// Sorting and filtering of the findings table; the table is complete without it.
const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById('findings-table');
  if (!table) return;
  var filters = document.getElementById('filters');
  filters.classList.remove('js-only');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var sev = document.getElementById('f-sev');
  var text = document.getElementById('f-text');
  var count = document.getElementById('f-count');
  function apply() {
    var s = sev.value, t = text.value.toLowerCase(), shown = 0;
    rows.forEach(function (r) {
      var ok = (!s || r.cells[0].textContent === s) && (!t || r.textContent.toLowerCase().indexOf(t) >= 0);
      r.style.display = ok ? '' : 'none';
      if (ok) shown++;
    });
    count.textContent = ' ' + shown + ' of ' + rows.length + ' shown';
  }
  sev.addEventListener('change', apply);
  text.addEventListener('input', apply);
  var rank = { error: 0, warning: 1, info: 2 };
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    var asc = true;
    th.addEventListener('click', function () {
      rows.sort(function (a, b) {
        var x = a.cells[col].textContent, y = b.cells[col].textContent;
        if (col === 0) { x = rank[x]; y = rank[y]; return asc ? x - y : y - x; }
        return asc ? x.localeCompare(y) : y.localeCompare(x);
      });
      asc = !asc;
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  apply();
})();
"#;
