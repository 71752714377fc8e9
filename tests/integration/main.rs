//! strata's integration tests, in one binary so they share one set of helpers
//! (`support`) and build once. Run them with `cargo test` (as root, with the tools
//! `.ci/install-docker.sh` installs); a test that cannot run says `SKIPPED: ...`, and
//! with `STRATA_REQUIRE_ALL_TESTS=1` (as CI sets it) fails instead. One group:
//! `cargo test --test integration hostile_`.

#[macro_use]
mod support;

mod audit_checks;
mod buildkit_df;
mod churn_live;
mod containerd_graph;
mod containerd_k8s;
mod containerd_store;
mod df_docker;
mod diff_docker;
mod diff_sizes;
mod export_docker;
mod files_layers;
mod graph_vs_docker;
mod history_docker;
mod hostile_corruption;
mod hostile_escape;
mod hostile_limits;
mod hostile_permission;
mod hostile_readonly;
mod hostile_regressions;
mod hostile_sizes;
mod hostile_structures;
mod legacy_pre110;
mod prop_digest;
mod prop_tarsplit;
mod recheck_quiet;
mod registry_crosslinks;
mod registry_online;
mod report_html;
mod report_ndjson;
mod report_tables;
mod sandbox;
mod save_docker;
mod schemas;
mod timeline_cli;
mod times_order;
mod tree_collapse;
mod tree_snapshots;
mod userns_hosts;
mod verify_cli;
mod verify_drift;
mod verify_fixtures;
mod verify_layers;
