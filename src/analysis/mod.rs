//! Analyses over a loaded [`crate::graph::Graph`]: disk usage, a container's
//! changes, an image's history, the files of a layer, and the size measurements
//! they share.
//!
//! They sit between the store/graph layer (which reads) and [`crate::report`]
//! (which renders): each takes the graph, and the open data-root where it must
//! look at the disk, and returns plain data and findings for a renderer.

pub mod df;
pub mod diff;
pub mod files;
pub mod history;
pub mod host;
pub mod reconcile;
pub mod timeline;
pub mod usage;
