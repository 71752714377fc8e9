//! `strata inspect REF`: everything known about one image, container or layer.

use super::listing::{ContainerView, ImageView, LayerView};
use crate::graph::Graph;
use crate::resolve::Target;
use crate::store::graphdriver::DriverKind;
use crate::store::imagedb::HistoryEntry;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `GraphDriver` as `docker inspect` shows it, computed from the files on disk.
#[derive(schemars::JsonSchema, Debug, Serialize)]
pub struct GraphDriverView {
    /// The driver (or snapshotter) name.
    pub name: String,
    /// Null for drivers whose `GraphDriver.Data` Docker leaves empty (vfs, aufs, btrfs).
    pub data: Option<BTreeMap<String, String>>,
}

/// What `strata inspect --format json` prints, tagged by `kind`.
#[derive(schemars::JsonSchema, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum InspectView {
    /// An image with its config, history and layers.
    Image {
        /// The image as `strata images` shows it, flattened in.
        #[serde(flatten)]
        image: Box<ImageView>,
        /// The config as stored (parsed JSON), or null when it is not JSON.
        config: serde_json::Value,
        /// The config's `history`, one entry per build step.
        history: Vec<HistoryEntry>,
        /// Its layers, bottom first.
        layers: Vec<LayerView>,
        /// IDs of images built on it.
        children: Vec<String>,
        /// IDs of containers created from it.
        container_ids: Vec<crate::id::ContainerId>,
        /// `GraphDriver` of its top layer, as `docker image inspect` shows it.
        graph_driver: Option<GraphDriverView>,
    },
    /// A container.
    Container {
        /// The container as `strata containers` shows it, flattened in.
        #[serde(flatten)]
        container: ContainerView,
        /// `GraphDriver` of its RW layer, as `docker container inspect` shows it.
        graph_driver: Option<GraphDriverView>,
    },
    /// A layer.
    Layer {
        /// The layer as `strata layers` shows it, flattened in.
        #[serde(flatten)]
        layer: LayerView,
    },
}

/// overlay2's view of a layer directory: upper, work, merged, and the lower dirs
/// found by following its `lower` file through `l/`.
fn overlay_data(g: &Graph, kind: DriverKind, id: &str) -> Option<GraphDriverView> {
    if !matches!(kind, DriverKind::Overlay2 | DriverKind::FuseOverlayfs) {
        return None;
    }
    let home = g.data_root.join(kind.name());
    let dir = home.join(id);
    let mut data = BTreeMap::new();
    data.insert("UpperDir".into(), dir.join("diff").display().to_string());
    data.insert("WorkDir".into(), dir.join("work").display().to_string());
    data.insert("MergedDir".into(), dir.join("merged").display().to_string());
    let dh = g.driver_home.as_ref()?;
    if let Some(lower) = dh.dirs.get(id).and_then(|d| d.lower.as_ref()) {
        let resolved: Vec<String> = lower
            .iter()
            .map(|l| {
                let short = l.strip_prefix("l/").unwrap_or(l);
                // `l/<short>` links to `../<id>/diff`; resolve it on paper, never on disk.
                let target =
                    dh.links.iter().find(|s| s.name == short).and_then(|s| s.target.clone());
                match target.as_deref().and_then(|t| t.strip_prefix("../")) {
                    Some(rest) => home.join(rest).display().to_string(),
                    None => home.join("l").join(short).display().to_string(),
                }
            })
            .collect();
        data.insert("LowerDir".into(), resolved.join(":"));
    }
    Some(GraphDriverView { name: kind.name().into(), data: Some(data) })
}

fn driver_view(g: &Graph, id: Option<&str>) -> Option<GraphDriverView> {
    if g.containerd.is_some() {
        // moby reports the snapshotter by name and no paths on this store.
        return Some(GraphDriverView { name: g.driver_name.clone(), data: None });
    }
    let kind = g.driver?;
    let id = id?;
    overlay_data(g, kind, id)
        .or_else(|| Some(GraphDriverView { name: kind.name().into(), data: None }))
}

/// The inspect view of `target`; `None` when the graph does not hold it.
pub fn inspect(g: &Graph, target: &Target) -> Option<InspectView> {
    Some(match target {
        Target::Image(id) => {
            let img = g.images.get(id)?;
            let top_cache = img
                .top_layer()
                .and_then(|c| g.layers.get(&c))
                .and_then(|l| l.record.cache_id.as_deref());
            InspectView::Image {
                image: Box::new(ImageView::new(img)),
                config: serde_json::from_slice(&img.record.raw).unwrap_or(serde_json::Value::Null),
                history: img.record.history(),
                layers: img
                    .chain_ids
                    .iter()
                    .filter_map(|c| g.layers.get(c))
                    .map(LayerView::new)
                    .collect(),
                children: img.children.iter().map(|c| c.to_string()).collect(),
                container_ids: img.containers.clone(),
                graph_driver: driver_view(g, top_cache),
            }
        }
        Target::Container(id) => {
            let c = g.containers.get(id.as_str())?;
            let mount_id = c.mount.as_ref().and_then(|m| m.mount_id.as_deref());
            InspectView::Container {
                container: ContainerView::new(c),
                graph_driver: driver_view(g, mount_id),
            }
        }
        Target::Layer(id) => InspectView::Layer { layer: LayerView::new(g.layers.get(id)?) },
    })
}

/// Used by tests and callers that want paths relative to the data-root.
pub fn relative_to_root<'a>(g: &Graph, p: &'a Path) -> &'a Path {
    p.strip_prefix(&g.data_root).unwrap_or(p)
}
