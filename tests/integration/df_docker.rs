//! `strata df` equals the engine's `/system/df`, recorded for every graphdriver fixture.

use crate::support;
use crate::support::{answers, data_root, read_json, GRAPHDRIVER_FIXTURES};
use serde_json::Value;
use std::collections::BTreeMap;

fn by_id<'a>(items: &'a Value, key: &str) -> BTreeMap<String, &'a Value> {
    items.as_array().unwrap().iter().map(|v| (v[key].as_str().unwrap().to_owned(), v)).collect()
}

#[test]
fn df_equals_dockers_system_df() {
    require_root!();
    for name in GRAPHDRIVER_FIXTURES {
        let ours = support::audit::df(&data_root(name));
        let docker = read_json(&answers(name).join("api-system-df.json"));
        assert_eq!(ours["layers_size"], docker["LayersSize"], "{name}: LayersSize");

        let want = by_id(&docker["Images"], "Id");
        let got = by_id(&ours["images"], "id");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{name}: listed images"
        );
        for (id, d) in &want {
            let o = got[id];
            assert_eq!(o["size"], d["Size"], "{name} {id}: Size");
            assert_eq!(o["shared_size"], d["SharedSize"], "{name} {id}: SharedSize");
            assert_eq!(o["containers"], d["Containers"], "{name} {id}: Containers");
            let unique = d["Size"].as_i64().unwrap() - d["SharedSize"].as_i64().unwrap();
            assert_eq!(o["unique_size"], unique, "{name} {id}: unique size");
        }

        let want = by_id(&docker["Containers"], "Id");
        let got = by_id(&ours["containers"], "id");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{name}: containers"
        );
        for (id, d) in &want {
            // The API omits SizeRw when it is 0.
            let rw = d.get("SizeRw").and_then(Value::as_i64).unwrap_or(0);
            assert_eq!(got[id]["rw_size"], rw, "{name} {id}: SizeRw");
            assert_eq!(got[id]["rootfs_size"], d["SizeRootFs"], "{name} {id}: SizeRootFs");
        }

        // Reclaimable, as the docker CLI derives it from those numbers.
        let layers = docker["LayersSize"].as_i64().unwrap();
        let in_use: i64 = docker["Images"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["Containers"].as_i64().unwrap() > 0)
            .map(|i| i["Size"].as_i64().unwrap() - i["SharedSize"].as_i64().unwrap())
            .sum();
        assert_eq!(
            ours["summary"]["images"]["reclaimable"],
            layers - in_use,
            "{name}: images reclaimable"
        );
        assert_eq!(
            ours["summary"]["images"]["total_count"],
            docker["Images"].as_array().unwrap().len(),
            "{name}"
        );
        let rw_total: i64 = docker["Containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.get("SizeRw")?.as_i64())
            .sum();
        assert_eq!(ours["summary"]["containers"]["size"], rw_total, "{name}: containers size");
        assert_eq!(
            ours["orphaned"],
            serde_json::json!([]),
            "{name}: a clean data-root has no orphans"
        );
    }
}

#[test]
fn df_table_shows_the_summary_rows() {
    require_root!();
    let (code, out, err) = support::run(&data_root("basic"), &["df"]);
    assert_eq!(code, 0, "{err}");
    for row in
        ["Images ", "Containers ", "Orphaned ", "Images space usage:", "Containers space usage:"]
    {
        assert!(out.contains(row), "missing {row:?} in:\n{out}");
    }
}
