//! Helpers shared by the audit, df and registry tests: run the binary and check every
//! JSON report it prints against the committed schema.

use std::path::Path;

pub use crate::support::validate;

/// `strata audit --format json` with `args`; returns (exit status, report), the report
/// checked against the schema.
pub fn audit(root: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.extend(["--format", "json"]);
    let (code, out, err) = crate::support::run(root, &all);
    assert!(code == 0 || code == 1, "strata {all:?} exited {code}: {err}");
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"));
    validate("audit", &v);
    (code, v)
}

/// `strata df --format json`, checked against the schema.
pub fn df(root: &Path) -> serde_json::Value {
    let v = crate::support::run_json(root, &["df"]);
    validate("df", &v);
    v
}

/// Findings with this code.
pub fn with_code<'a>(report: &'a serde_json::Value, code: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["code"] == code).collect())
        .unwrap_or_default()
}

/// Findings above info.
pub fn above_info(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["severity"] != "info").collect())
        .unwrap_or_default()
}
