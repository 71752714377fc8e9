//! `--format ndjson` on `audit` and `verify` (issue 12): every line validates against
//! `schema/ndjson.schema.json`; one line per finding of the JSON report, in its order,
//! then the summary; each line names the host, the data-root, the scan time and the
//! schema version.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const FIXTURES: &[&str] = &["basic", "trixie26", "vfs", "containerd-store", "containerd-sid"];

fn root_of(name: &str) -> PathBuf {
    if name.starts_with("containerd-") {
        crate::containerd_graph::host(name)
    } else {
        data_root(name)
    }
}

/// Runs strata with `args` and `--format ndjson`; the lines, each validated.
fn ndjson(args: &[&str]) -> Vec<Value> {
    let out = strata().args(args).args(["--format", "ndjson"]).output().unwrap();
    assert!(out.status.code() != Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with('\n'), "{args:?}: the last line is not ended: {text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| {
            assert!(!l.is_empty() && !l.contains('\n'), "{args:?}: {l:?}");
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {l}"))
        })
        .collect();
    for line in &lines {
        validate("ndjson", line);
    }
    lines
}

/// The lines against the command's JSON report: the same findings in the same order,
/// the summary last, the scan's fields the same on every line.
fn check(name: &str, command: &str, lines: &[Value], report: &Value, root: &Path) {
    let (summary, findings) =
        lines.split_last().unwrap_or_else(|| panic!("{name} {command}: no lines"));
    assert_eq!(summary["record"], "summary", "{name} {command}");
    assert!(
        findings.iter().all(|l| l["record"] == "finding"),
        "{name} {command}: a summary before the end"
    );
    let want = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), want.len(), "{name} {command}: finding count");
    assert_eq!(summary["findings"], want.len(), "{name} {command}");
    for (got, want) in findings.iter().zip(want) {
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&got[k], v, "{name} {command}: finding field {k}");
        }
    }
    let engine_id =
        std::fs::read_to_string(root.join("engine-id")).ok().map(|s| s.trim().to_owned());
    for line in lines {
        assert_eq!(line["command"], command);
        assert_eq!(line["schema_version"], "1");
        assert_eq!(
            line["scan_time"], lines[0]["scan_time"],
            "{name} {command}: one scan time a run"
        );
        assert_eq!(line["data_root"], lines[0]["data_root"]);
        assert_eq!(
            line["host"]["engine_id"].as_str(),
            engine_id.as_deref(),
            "{name} {command}: engine-id"
        );
    }
}

#[test]
fn audit_and_verify_lines_validate_and_match_the_json_report() {
    require_root!();
    for name in FIXTURES {
        let root = root_of(name);
        let r = root.to_str().unwrap();
        let lines = ndjson(&["--root", r, "audit"]);
        let report = run_json(&root, &["audit"]);
        check(name, "audit", &lines, &report, &root);
        let summary = lines.last().unwrap();
        for k in ["error", "warning", "info", "worst", "images", "layers", "containers"] {
            assert_eq!(summary[k], report["summary"][k], "{name}: audit summary {k}");
        }
        // A data-root given with --root is a copy whose host is not known.
        assert_eq!(summary["host"]["hostname"], Value::Null, "{name}");

        let lines = ndjson(&["--root", r, "verify"]);
        let report = run_json(&root, &["verify"]);
        check(name, "verify", &lines, &report, &root);
        let summary = lines.last().unwrap();
        assert_eq!(summary["layers"], report["layers"].as_array().unwrap().len(), "{name}");
        assert_eq!(summary["images"], report["images"].as_array().unwrap().len(), "{name}");
    }
}

#[test]
fn a_host_root_names_the_host_and_damage_is_one_line_each() {
    require_root!();
    let host = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::create_dir_all(host.path().join("etc")).unwrap();
    std::fs::write(host.path().join("etc/hostname"), "node-7.example\n").unwrap();
    std::fs::create_dir_all(host.path().join("var/lib")).unwrap();
    let copy = copy_tree(&data_root("basic"));
    let docker = host.path().join("var/lib/docker");
    std::fs::rename(copy.keep(), &docker).unwrap();
    // Damage: a layer's tar-split gone (an error for verify and audit alike).
    let layerdb = docker.join("image/overlay2/layerdb/sha256");
    let layer = std::fs::read_dir(&layerdb)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("tar-split.json.gz").exists())
        .unwrap();
    std::fs::remove_file(layer.join("tar-split.json.gz")).unwrap();

    let h = host.path().to_str().unwrap();
    for command in ["audit", "verify"] {
        let out =
            strata().args(["--host-root", h, command, "--format", "ndjson"]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{command}: errors found: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = ndjson(&["--host-root", h, command]);
        for line in &lines {
            assert_eq!(line["host"]["hostname"], "node-7.example", "{command}");
        }
        let errors: Vec<&Value> =
            lines.iter().filter(|l| l["record"] == "finding" && l["severity"] == "error").collect();
        assert!(!errors.is_empty(), "{command}: {lines:#?}");
        assert_eq!(lines.last().unwrap()["error"], errors.len(), "{command}");
        assert_eq!(lines.last().unwrap()["worst"], "error", "{command}");
    }
}

#[test]
fn ndjson_is_refused_elsewhere() {
    for command in ["images", "layers", "containers", "df"] {
        let out = strata()
            .args(["--root", "/nonexistent", command, "--format", "ndjson"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("only available for `strata audit` and `strata verify`"),
            "{command}"
        );
    }
}

#[test]
fn the_schema_knows_every_finding_code_the_audit_schema_knows() {
    // The audit schema is generated from the types (report::schema); the NDJSON one
    // is written by hand, so its code and severity lists are held to the types here.
    let audit = read_json(&repo().join("schema/audit.schema.json"));
    let lines = read_json(&repo().join("schema/ndjson.schema.json"));
    let values = |v: &serde_json::Value| -> Vec<String> {
        let list = v["enum"].as_array().cloned().unwrap_or_else(|| {
            v["oneOf"]
                .as_array()
                .map(|o| o.iter().map(|x| x["const"].clone()).collect())
                .unwrap_or_default()
        });
        list.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()
    };
    let codes = values(&audit["$defs"]["Code"]);
    assert!(codes.len() > 30, "the audit schema lists the finding codes: {codes:?}");
    assert_eq!(values(&lines["$defs"]["code"]), codes);
    assert_eq!(values(&lines["$defs"]["severity"]), values(&audit["$defs"]["Severity"]));
    // A line leaves out what a finding lacks; the report writes null. Both are text.
    assert_eq!(lines["$defs"]["findingLine"]["properties"]["path"]["type"], "string");
    assert!(audit["$defs"]["Finding"]["properties"]["path"]["type"].to_string().contains("string"));
}
