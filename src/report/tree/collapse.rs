//! What the text tree and the Graphviz picture draw of a big forest.
//!
//! A host with thousands of images gives a forest nobody can read whole: one base
//! layer with 200 images built on it is 400 lines, a pulled image of 40 layers is a
//! staircase 160 columns wide. Both views therefore draw the same reduced picture,
//! planned here from the complete [`Forest`] (the JSON keeps everything):
//!
//! - **fan-out**: a node with more than [`Collapse::fanout`] entries under it (a
//!   layer's images, containers and child layers; an image's containers; the base
//!   layers themselves) draws the most telling ones and sums up the rest in one line
//!   that says how many layers, images and containers it stands for and which command
//!   draws them;
//! - **chains**: a run of more than [`Collapse::chain`] plain layers (one child layer,
//!   no image or container on them) keeps its first layer and folds the others into
//!   one line, so the indentation stays on the screen.
//!
//! Every layer, image and container of the forest is either drawn or counted in exactly
//! one summary line, so the counts add up to the totals.

use super::{ContainerLeaf, Forest, ImageLeaf, LayerBranch};
use crate::digest::ChainId;
use chrono::{DateTime, FixedOffset};
use std::cmp::Reverse;

/// Entries drawn under one node by default (`--fanout`).
pub const DEFAULT_FANOUT: usize = 20;
/// Plain layers a chain may run before it is folded, by default (`--chain`).
pub const DEFAULT_CHAIN: usize = 8;

/// How much of a big forest the text and Graphviz views draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collapse {
    /// Entries drawn under one node before the rest are summed up in one line; 0 draws
    /// every entry.
    pub fanout: usize,
    /// A run of more than this many plain layers keeps its first layer and folds the
    /// rest into one line; 0 never folds.
    pub chain: usize,
}

impl Default for Collapse {
    fn default() -> Self {
        Collapse { fanout: DEFAULT_FANOUT, chain: DEFAULT_CHAIN }
    }
}

impl Collapse {
    /// Draw everything (`--no-collapse`).
    pub const NONE: Collapse = Collapse { fanout: 0, chain: 0 };
}

/// Layers, images and containers a summary line stands for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Layers.
    pub layers: usize,
    /// Images, the untagged intermediates left out without `--all` included.
    pub images: usize,
    /// Containers.
    pub containers: usize,
}

impl Count {
    fn add(&mut self, o: Count) {
        self.layers += o.layers;
        self.images += o.images;
        self.containers += o.containers;
    }

    /// `3 layers, 3 images, 1 container`: the kinds present, in that order.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, one, many) in [
            (self.layers, "layer", "layers"),
            (self.images, "image", "images"),
            (self.containers, "container", "containers"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        }
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// The entries of a node beyond the fan-out, summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct More {
    /// Entries of the node not drawn.
    pub entries: usize,
    /// What those entries hold, everything above them included.
    pub count: Count,
    /// The command that draws them.
    pub see: String,
}

/// A run of plain layers folded into one line.
#[derive(Debug, Clone)]
pub struct Fold<'f> {
    /// The lowest folded layer.
    pub first: ChainId,
    /// The highest folded layer.
    pub last: ChainId,
    /// Layers folded.
    pub layers: usize,
    /// Σ own size of the folded layers (unreadable sizes count 0).
    pub bytes: i64,
    /// Untagged intermediate images on the folded layers (left out without `--all`).
    pub intermediates: usize,
    /// The layer the run leads to, drawn under the fold.
    pub below: &'f LayerBranch,
}

/// What is drawn directly under a layer.
#[derive(Debug, Clone)]
pub enum Next<'f> {
    /// A child layer.
    Layer(&'f LayerBranch),
    /// Folded layers, then the layer they lead to.
    Fold(Fold<'f>),
}

/// A layer's entries as drawn.
#[derive(Debug)]
pub struct LayerPlan<'f> {
    /// Images whose top layer this is.
    pub images: Vec<&'f ImageLeaf>,
    /// Containers on the layer whose image is unknown.
    pub containers: Vec<&'f ContainerLeaf>,
    /// Child layers, or the fold of a long chain.
    pub children: Vec<Next<'f>>,
    /// Entries not drawn.
    pub more: Option<More>,
}

/// The top level of the forest as drawn.
#[derive(Debug)]
pub struct TopPlan<'f> {
    /// Base layers drawn.
    pub roots: Vec<&'f LayerBranch>,
    /// Base layers not drawn.
    pub more_roots: Option<More>,
    /// Images without a layer, drawn.
    pub unplaced_images: Vec<&'f ImageLeaf>,
    /// Images without a layer, not drawn.
    pub more_unplaced_images: Option<More>,
    /// Containers with neither image nor layer, drawn.
    pub unplaced_containers: Vec<&'f ContainerLeaf>,
    /// Such containers not drawn.
    pub more_unplaced_containers: Option<More>,
}

/// Why an entry is drawn before its siblings when not all of them are: running
/// containers first (what is live on the host), then any containers, then the newest
/// image (what arrived last), then the forest's own order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Interest {
    active: Reverse<usize>,
    containers: Reverse<usize>,
    newest: Reverse<Option<DateTime<FixedOffset>>>,
}

impl Interest {
    fn merge(&mut self, o: Interest) {
        self.active.0 += o.active.0;
        self.containers.0 += o.containers.0;
        self.newest.0 = self.newest.0.max(o.newest.0);
    }
}

fn instant(t: Option<&str>) -> Option<DateTime<FixedOffset>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
}

fn is_active(c: &ContainerLeaf) -> bool {
    matches!(c.state.as_str(), "running" | "paused" | "restarting")
}

fn container_interest(c: &ContainerLeaf) -> Interest {
    Interest {
        active: Reverse(usize::from(is_active(c))),
        containers: Reverse(1),
        newest: Reverse(instant(c.created.as_deref())),
    }
}

fn image_interest(i: &ImageLeaf) -> Interest {
    let active = i.containers.iter().filter(|c| is_active(c)).count();
    Interest {
        active: Reverse(active),
        containers: Reverse(i.containers.len()),
        newest: Reverse(instant(i.created.as_deref())),
    }
}

fn image_count(i: &ImageLeaf) -> Count {
    Count { layers: 0, images: 1, containers: i.containers.len() }
}

/// A layer whose only content is the next layer: a link of a chain.
fn is_plain(l: &LayerBranch) -> bool {
    l.children.len() == 1 && l.images.is_empty() && l.containers.is_empty() && !l.truncated
}

/// The plan of a forest: what each node draws.
///
/// What sits above a layer is counted when a node's entries do not all fit, over the
/// entries in question only, and not kept: a map over every layer of a 10,000-image
/// forest cost 3 MiB of peak memory for counts that are each needed once or twice.
pub struct Planner {
    collapse: Collapse,
}

enum Entry<'f> {
    Image(&'f ImageLeaf),
    Container(&'f ContainerLeaf),
    Layer(&'f LayerBranch),
}

impl Planner {
    /// A plan of `f` as `collapse` says.
    pub fn new(collapse: Collapse) -> Planner {
        Planner { collapse }
    }

    /// The collapse the plan follows.
    pub fn collapse(&self) -> Collapse {
        self.collapse
    }

    /// What `l` and everything above it hold, and its interest: one walk, iterative (a
    /// chain is up to `MAX_DEPTH` deep).
    fn layer_count(&self, l: &LayerBranch) -> (Count, Interest) {
        let mut count = Count::default();
        let mut interest = Interest::default();
        let mut stack = vec![l];
        while let Some(l) = stack.pop() {
            count.add(Count {
                layers: 1,
                images: l.hidden_intermediates,
                containers: l.containers.len(),
            });
            for i in &l.images {
                count.add(image_count(i));
                interest.merge(image_interest(i));
            }
            for c in &l.containers {
                interest.merge(container_interest(c));
            }
            stack.extend(l.children.iter());
        }
        (count, interest)
    }

    /// What is drawn under layer `l`; without `with_children` (the `--depth` limit,
    /// where the layers above are counted apart), only its images and containers.
    pub fn layer<'f>(&self, l: &'f LayerBranch, with_children: bool) -> LayerPlan<'f> {
        if with_children {
            if let Some(fold) = self.fold(l) {
                return LayerPlan {
                    images: Vec::new(),
                    containers: Vec::new(),
                    children: vec![Next::Fold(fold)],
                    more: None,
                };
            }
        }
        let kids: &'f [LayerBranch] = if with_children { &l.children } else { &[] };
        let total = l.images.len() + l.containers.len() + kids.len();
        if self.collapse.fanout == 0 || total <= self.collapse.fanout {
            return LayerPlan {
                images: l.images.iter().collect(),
                containers: l.containers.iter().collect(),
                children: kids.iter().map(Next::Layer).collect(),
                more: None,
            };
        }
        let mut entries: Vec<(Interest, u8, Entry<'f>)> = Vec::with_capacity(total);
        entries.extend(l.images.iter().map(|i| (image_interest(i), 0, Entry::Image(i))));
        entries
            .extend(l.containers.iter().map(|c| (container_interest(c), 1, Entry::Container(c))));
        entries.extend(kids.iter().map(|k| (self.layer_count(k).1, 2, Entry::Layer(k))));
        let (kept, hidden) = keep(entries, self.collapse.fanout);
        let mut plan = LayerPlan {
            images: Vec::new(),
            containers: Vec::new(),
            children: Vec::new(),
            more: None,
        };
        for e in kept {
            match e {
                Entry::Image(i) => plan.images.push(i),
                Entry::Container(c) => plan.containers.push(c),
                Entry::Layer(k) => plan.children.push(Next::Layer(k)),
            }
        }
        let mut count = Count::default();
        let entries = hidden.len();
        for e in hidden {
            count.add(match e {
                Entry::Image(i) => image_count(i),
                Entry::Container(_) => Count { containers: 1, ..Count::default() },
                Entry::Layer(k) => self.layer_count(k).0,
            });
        }
        plan.more = Some(More {
            entries,
            count,
            see: format!("strata tree --whatrequires {} --fanout 0", l.chain_id.short()),
        });
        plan
    }

    /// The fold under `l` when `l` starts a run of plain layers longer than the chain
    /// limit: every plain layer above `l`, up to the first that is not plain.
    fn fold<'f>(&self, l: &'f LayerBranch) -> Option<Fold<'f>> {
        if self.collapse.chain == 0 || !is_plain(l) {
            return None;
        }
        let mut run = Vec::new();
        let mut cur = &l.children[0];
        while is_plain(cur) {
            run.push(cur);
            cur = &cur.children[0];
        }
        if run.is_empty() || run.len() < self.collapse.chain {
            return None;
        }
        Some(Fold {
            first: run[0].chain_id,
            last: run[run.len() - 1].chain_id,
            layers: run.len(),
            bytes: run.iter().fold(0i64, |a, l| a.saturating_add(l.size.unwrap_or(0))),
            intermediates: run.iter().map(|l| l.hidden_intermediates).sum(),
            below: cur,
        })
    }

    /// The containers drawn under image `i`, and the rest summed up.
    pub fn image<'f>(&self, i: &'f ImageLeaf) -> (Vec<&'f ContainerLeaf>, Option<More>) {
        let (shown, more) = self.containers(&i.containers);
        (
            shown,
            more.map(|(entries, count)| More {
                entries,
                count,
                see: format!("strata tree --image {} --fanout 0", i.id.short()),
            }),
        )
    }

    fn containers<'f>(
        &self,
        cs: &'f [ContainerLeaf],
    ) -> (Vec<&'f ContainerLeaf>, Option<(usize, Count)>) {
        if self.collapse.fanout == 0 || cs.len() <= self.collapse.fanout {
            return (cs.iter().collect(), None);
        }
        let entries = cs.iter().map(|c| (container_interest(c), 0, c)).collect();
        let (kept, hidden) = keep(entries, self.collapse.fanout);
        let n = hidden.len();
        (kept, Some((n, Count { containers: n, ..Count::default() })))
    }

    /// What is drawn at the top of the forest.
    pub fn top<'f>(&self, f: &'f Forest) -> TopPlan<'f> {
        let fanout = self.collapse.fanout;
        let see = "strata tree --fanout 0".to_owned();
        let (roots, more_roots) = if fanout == 0 || f.roots.len() <= fanout {
            (f.roots.iter().collect(), None)
        } else {
            let entries = f.roots.iter().map(|r| (self.layer_count(r).1, 0, r)).collect();
            let (kept, hidden) = keep(entries, fanout);
            let mut count = Count::default();
            for r in &hidden {
                count.add(self.layer_count(r).0);
            }
            (kept, Some(More { entries: hidden.len(), count, see: see.clone() }))
        };
        let (unplaced_images, more_unplaced_images) =
            if fanout == 0 || f.unplaced_images.len() <= fanout {
                (f.unplaced_images.iter().collect(), None)
            } else {
                let entries = f.unplaced_images.iter().map(|i| (image_interest(i), 0, i)).collect();
                let (kept, hidden) = keep(entries, fanout);
                let mut count = Count::default();
                for i in &hidden {
                    count.add(image_count(i));
                }
                (kept, Some(More { entries: hidden.len(), count, see: see.clone() }))
            };
        let (unplaced_containers, more) = self.containers(&f.unplaced_containers);
        TopPlan {
            roots,
            more_roots,
            unplaced_images,
            more_unplaced_images,
            unplaced_containers,
            more_unplaced_containers: more.map(|(entries, count)| More { entries, count, see }),
        }
    }
}

/// The `n` most interesting entries, grouped by kind then most interesting first, and
/// the others in the forest's order. Ties keep the forest's order.
fn keep<T>(entries: Vec<(Interest, u8, T)>, n: usize) -> (Vec<T>, Vec<T>) {
    let mut ranked: Vec<(Interest, u8, usize, T)> =
        entries.into_iter().enumerate().map(|(pos, (i, k, t))| (i, k, pos, t)).collect();
    ranked.sort_by_key(|a| (a.0, a.2));
    let hidden_part = ranked.split_off(n.min(ranked.len()));
    // Kept: by kind (images, containers, layers), each most interesting first.
    ranked.sort_by_key(|a| (a.1, a.0, a.2));
    let mut hidden: Vec<(usize, T)> = hidden_part.into_iter().map(|(_, _, p, t)| (p, t)).collect();
    hidden.sort_by_key(|h| h.0);
    (ranked.into_iter().map(|r| r.3).collect(), hidden.into_iter().map(|h| h.1).collect())
}

#[cfg(test)]
mod tests {
    use super::super::{write_tree_text, Totals, TreeStyle};
    use super::*;
    use crate::digest::ImageId;
    use crate::id::ContainerId;

    fn hex(kind: u64, n: u64) -> String {
        format!("{kind:016x}{n:048x}")
    }

    fn layer(n: u64, children: Vec<LayerBranch>, images: Vec<ImageLeaf>) -> LayerBranch {
        LayerBranch {
            chain_id: ChainId::from_hex(&hex(1, n)).unwrap(),
            diff_id: None,
            size: Some(5),
            created_by: None,
            parent_missing: false,
            images,
            hidden_intermediates: 0,
            containers: Vec::new(),
            children,
            truncated: false,
        }
    }

    fn image(n: u64, containers: usize, state: &str) -> ImageLeaf {
        ImageLeaf {
            id: ImageId::from_hex(&hex(2, n)).unwrap(),
            repo_tags: vec![format!("bench/r{}:{n}", n % 50)],
            repo_digests: Vec::new(),
            dangling: false,
            intermediate: false,
            size: Some(10),
            created: Some(format!("2026-11-29T01:{:02}:{:02}Z", (n / 60) % 60, n % 60)),
            containers: (0..containers)
                .map(|k| ContainerLeaf {
                    id: ContainerId::new(hex(3, n * 100 + k as u64)),
                    name: Some(format!("c{n}-{k}")),
                    state: state.to_owned(),
                    created: None,
                })
                .collect(),
        }
    }

    fn forest(roots: Vec<LayerBranch>) -> Forest {
        Forest {
            schema_version: "test",
            requires: None,
            roots,
            unplaced_images: Vec::new(),
            unplaced_containers: Vec::new(),
            totals: Totals::default(),
        }
    }

    /// Walks the plan as a renderer does: what is drawn, and what summaries stand for.
    fn walk(p: &Planner, l: &LayerBranch, drawn: &mut Count, summed: &mut Count) {
        drawn.layers += 1;
        drawn.images += l.hidden_intermediates;
        let plan = p.layer(l, true);
        for i in &plan.images {
            drawn.images += 1;
            let (cs, more) = p.image(i);
            drawn.containers += cs.len();
            if let Some(m) = more {
                summed.add(m.count);
            }
        }
        drawn.containers += plan.containers.len();
        for n in &plan.children {
            match n {
                Next::Layer(k) => walk(p, k, drawn, summed),
                Next::Fold(f) => {
                    summed.layers += f.layers;
                    summed.images += f.intermediates;
                    walk(p, f.below, drawn, summed);
                }
            }
        }
        if let Some(m) = &plan.more {
            summed.add(m.count);
        }
    }

    fn drawn_and_summed(f: &Forest, c: Collapse) -> (Count, Count) {
        let p = Planner::new(c);
        let top = p.top(f);
        let (mut drawn, mut summed) = (Count::default(), Count::default());
        for r in &top.roots {
            walk(&p, r, &mut drawn, &mut summed);
        }
        if let Some(m) = &top.more_roots {
            summed.add(m.count);
        }
        (drawn, summed)
    }

    /// The bench host's shape: 50 bases, 10,000 one-layer images on them, 1,000 of them
    /// with a container (one running).
    fn big_host() -> Forest {
        let roots = (0..50)
            .map(|b| {
                let kids = (0..200)
                    .map(|k| {
                        let n = b * 200 + k;
                        let state = if n == 7770 { "running" } else { "created" };
                        layer(100 + n, Vec::new(), vec![image(n, usize::from(n % 10 == 0), state)])
                    })
                    .collect();
                layer(b, kids, Vec::new())
            })
            .collect();
        forest(roots)
    }

    #[test]
    fn ten_thousand_images_draw_in_a_bounded_tree_whose_counts_add_up() {
        let f = big_host();
        let all = Count { layers: 10_050, images: 10_000, containers: 1_000 };
        for c in [Collapse::default(), Collapse { fanout: 1, chain: 1 }, Collapse::NONE] {
            let (mut drawn, summed) = drawn_and_summed(&f, c);
            drawn.add(summed);
            assert_eq!(drawn, all, "{c:?}");
        }
        let mut out = Vec::new();
        write_tree_text(&mut out, &f, TreeStyle::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        // 20 bases, 20 entries each (layer, image, container), the summaries.
        assert!(text.lines().count() <= 20 * (1 + 20 * 3 + 1) + 4, "{}", text.lines().count());
        // The running container's branch is drawn first of all.
        let first_image = text.lines().skip(1).find(|l| l.contains("◆ ")).unwrap();
        assert!(first_image.contains("bench/r20:7770"), "{first_image}");
        assert!(text.contains("… and 30 more (6030 layers, 6000 images, 600 containers)"));
    }

    #[test]
    fn a_long_plain_chain_folds_into_one_line_keeping_its_first_layer() {
        // 100 layers, an image on the top one only.
        let mut top = layer(99, Vec::new(), vec![image(1, 0, "created")]);
        for n in (0..99).rev() {
            top = layer(n, vec![top], Vec::new());
        }
        let f = forest(vec![top]);
        let p = Planner::new(Collapse::default());
        let plan = p.layer(&f.roots[0], true);
        let [Next::Fold(fold)] = plan.children.as_slice() else { panic!("{plan:?}") };
        assert_eq!(fold.layers, 98);
        assert_eq!(fold.bytes, 98 * 5);
        assert_eq!(fold.first, f.roots[0].children[0].chain_id);
        assert_eq!(fold.below.images.len(), 1);
        // A run just at the limit is drawn whole.
        let p = Planner::new(Collapse { fanout: 20, chain: 99 });
        assert!(matches!(p.layer(&f.roots[0], true).children.as_slice(), [Next::Layer(_)]));
        let p = Planner::new(Collapse { fanout: 20, chain: 98 });
        assert!(matches!(p.layer(&f.roots[0], true).children.as_slice(), [Next::Fold(_)]));
    }
}
