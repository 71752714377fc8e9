//! `strata history` equals Docker's recorded `GET /images/{id}/history` answer for
//! every image of every graphdriver fixture, field by field.

use crate::support::*;

fn unix_seconds(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp()
}

#[test]
fn history_equals_docker_for_every_fixture_image() {
    require_root!();
    for fx in GRAPHDRIVER_FIXTURES {
        let root = data_root(fx);
        let ids = std::fs::read_to_string(answers(fx).join("image-ids.txt")).unwrap();
        let mut compared = 0;
        for id in ids.lines().filter(|l| !l.trim().is_empty()) {
            let hex = id.trim().trim_start_matches("sha256:");
            let docker = read_json(&answers(fx).join("history").join(format!("{hex}.api.json")));
            let docker = docker.as_array().unwrap_or_else(|| panic!("{fx} {hex}: not an array"));
            let ours = run_json(&root, &["history", id.trim()]);
            let ours = ours.as_array().unwrap();
            assert_eq!(ours.len(), docker.len(), "{fx} {hex}: number of steps");
            for (i, (o, d)) in ours.iter().zip(docker).enumerate() {
                let at = format!("{fx} image {hex} step {i}");
                let oid = o["id"].as_str().unwrap_or("<missing>");
                assert_eq!(oid, d["Id"].as_str().unwrap(), "{at}: Id");
                let created = o["created"].as_str().map(unix_seconds).unwrap_or(0);
                assert_eq!(created, d["Created"].as_i64().unwrap(), "{at}: Created");
                assert_eq!(o["created_by"], d["CreatedBy"], "{at}: CreatedBy");
                assert_eq!(o["comment"], d["Comment"], "{at}: Comment");
                assert_eq!(o["size"], d["Size"], "{at}: Size");
                let dtags =
                    if d["Tags"].is_null() { serde_json::json!([]) } else { d["Tags"].clone() };
                assert_eq!(o["tags"], dtags, "{at}: Tags");
                // A step made a layer exactly when it is not an empty_layer step.
                assert_eq!(
                    o["empty_layer"].as_bool().unwrap(),
                    o["chain_id"].is_null(),
                    "{at}: layer vs empty_layer"
                );
            }
            compared += 1;
        }
        assert!(compared >= 3, "{fx}: only {compared} images compared");
    }
}

#[test]
fn history_table_lists_steps_newest_first_with_missing_ids() {
    require_root!();
    let root = data_root("basic");
    let (code, out, err) = run(&root, &["history", "strata/scratch:1"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{out}");
    // A pulled image has no local parent chain: only the newest step has an ID.
    assert!(lines[1].starts_with("4200d4acde30"), "{out}");
    assert!(lines[2..].iter().all(|l| l.starts_with("<missing>")), "{out}");
}

#[test]
fn history_of_an_unknown_image_is_a_usage_error() {
    require_root!();
    let root = data_root("basic");
    let (code, _, err) = run(&root, &["history", "no/such:image"]);
    assert_eq!(code, 2);
    assert!(err.contains("no image"), "{err}");
}
