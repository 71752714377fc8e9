//! Turning what a user typed into the object it names, the way `docker` would.

use crate::digest::{ChainId, Digest, ImageId};
use crate::graph::Graph;
use crate::id::ContainerId;
use crate::reference::Reference;

/// The object a user's input names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An image, by ID.
    Image(ImageId),
    /// A container, by its full ID (the name of its directory under `containers/`, or its containerd ID).
    Container(ContainerId),
    /// A layer, by ChainID.
    Layer(ChainId),
}

/// Why an input names no single object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing of the allowed kinds matches the input.
    #[error("no image, container or layer matches {0:?}")]
    NotFound(String),
    /// The input (first field) is a prefix of more than one object (second field, listed).
    #[error("{0:?} is ambiguous: it matches {1}")]
    Ambiguous(String, String),
}

/// What kinds of object a lookup may return.
#[derive(Debug, Clone, Copy)]
pub struct Kinds {
    /// Images may match.
    pub images: bool,
    /// Containers may match.
    pub containers: bool,
    /// Layers may match.
    pub layers: bool,
}

impl Kinds {
    /// Any kind of object.
    pub const ALL: Kinds = Kinds { images: true, containers: true, layers: true };
    /// Images only.
    pub const IMAGES: Kinds = Kinds { images: true, containers: false, layers: false };
    /// Containers only.
    pub const CONTAINERS: Kinds = Kinds { images: false, containers: true, layers: false };
    /// Layers only.
    pub const LAYERS: Kinds = Kinds { images: false, containers: false, layers: true };
    /// Images or layers (not containers).
    pub const IMAGES_AND_LAYERS: Kinds = Kinds { images: true, containers: false, layers: true };
}

/// Resolves `input`: exact IDs first, then names and references, then unique ID
/// prefixes, in the spirit of docker's own lookup order.
pub fn resolve(g: &Graph, input: &str, kinds: Kinds) -> Result<Target, ResolveError> {
    let s = input.trim();
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    // 1. A full digest.
    if let Ok(d) = Digest::from_hex(hex) {
        if kinds.images && g.images.contains_key(&ImageId(d)) {
            return Ok(Target::Image(ImageId(d)));
        }
        if kinds.layers && g.layers.contains_key(&ChainId(d)) {
            return Ok(Target::Layer(ChainId(d)));
        }
    }
    // 2. A full container ID or a container name.
    if kinds.containers {
        if g.containers.contains_key(s) {
            return Ok(Target::Container(ContainerId::new(s)));
        }
        let name = s.trim_start_matches('/');
        if let Some(c) = g.containers.values().find(|c| c.record.name.as_deref() == Some(name)) {
            return Ok(Target::Container(c.record.id.clone()));
        }
    }
    // 3. An image reference, normalised as docker normalises it.
    if kinds.images {
        if let Ok(r) = Reference::parse(s) {
            let r = r.with_default_tag();
            for rec in &g.references {
                if rec.parsed.as_ref() == Some(&r) {
                    if let Some(id) = rec.image.filter(|i| g.images.contains_key(i)) {
                        return Ok(Target::Image(id));
                    }
                }
            }
        }
    }
    // 4. A unique prefix of an ID.
    let is_hex_prefix =
        !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex_prefix {
        let hex = hex.to_ascii_lowercase();
        let mut found: Vec<(String, Target)> = Vec::new();
        if kinds.images {
            found.extend(
                g.images
                    .keys()
                    .filter(|i| i.hex().starts_with(&hex))
                    .map(|i| (format!("image {}", i.short()), Target::Image(*i))),
            );
        }
        if kinds.containers {
            found.extend(
                g.containers
                    .keys()
                    .filter(|c| c.starts_with(&hex))
                    .map(|c| (format!("container {}", c.short()), Target::Container(c.clone()))),
            );
        }
        if kinds.layers {
            found.extend(
                g.layers
                    .keys()
                    .filter(|l| l.hex().starts_with(&hex))
                    .map(|l| (format!("layer {}", l.short()), Target::Layer(*l))),
            );
        }
        match found.len() {
            0 => {}
            1 => return Ok(found.remove(0).1),
            _ => {
                let names: Vec<String> = found.into_iter().take(6).map(|f| f.0).collect();
                return Err(ResolveError::Ambiguous(s.to_owned(), names.join(", ")));
            }
        }
    }
    Err(ResolveError::NotFound(s.to_owned()))
}
