//! strata: read a Docker data-root straight from disk, rebuild its image graph,
//! recompute every ID from the bytes, and report what was changed, planted or lost.
//!
//! Data flows one way: [`store`] readers return typed records and findings,
//! [`graph`] links them, [`analysis`], [`verify`] and [`audit`] measure, recompute
//! and check, and [`report`] renders. Nothing here prints or exits; the binary decides that.

pub mod analysis;
pub mod archive;
pub mod audit;
pub mod digest;
pub mod finding;
pub mod fsread;
pub mod graph;
pub mod id;
pub mod online;
pub mod reference;
pub mod report;
pub mod resolve;
pub mod sandbox;
pub mod store;
pub mod tarsplit;
pub mod verify;
