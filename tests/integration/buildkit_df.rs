//! BuildKit build cache, volumes and logs on the `buildkit` fixture (20.10 dockerd with
//! sid's docker-buildx) and the `buildkit26` one (trixie's 26.1 dockerd, the same buildx,
//! plus json-file rotation and the `local` log driver): `strata df`, `strata volumes`,
//! `strata inspect VOLUME` and the audit, field by field against the engine's recorded
//! answers.

use crate::support;
use crate::support::{answers, data_root, read_json, validate};
use serde_json::Value;
use std::collections::BTreeMap;

const FIXTURE: &str = "buildkit";
/// Docker 26.1: labels anonymous volumes, rotates json-file logs, has the `local` driver.
const FIXTURE_26: &str = "buildkit26";

fn by<'a>(items: &'a Value, key: &str) -> BTreeMap<String, &'a Value> {
    items.as_array().unwrap().iter().map(|v| (v[key].as_str().unwrap().to_owned(), v)).collect()
}

fn instant(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
}

/// `docker system df --format json`: one line per row, keyed by Type.
fn cli_rows(fixture: &str) -> BTreeMap<String, Value> {
    support::read_jsonl(&answers(fixture).join("system-df.json"))
        .into_iter()
        .map(|v| (v["Type"].as_str().unwrap().to_owned(), v))
        .collect()
}

/// Every record of `/system/df` `BuildCache`, field by field.
fn check_build_cache(name: &str, ours: &Value, docker: &Value) {
    let want = by(&docker["BuildCache"], "ID");
    let got = by(&ours["build_cache"], "id");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{name}: build cache record IDs"
    );
    for (id, d) in &want {
        let o = got[id];
        for (ours_key, key) in [
            ("type", "Type"),
            ("size", "Size"),
            ("in_use", "InUse"),
            ("shared", "Shared"),
            ("description", "Description"),
            ("usage_count", "UsageCount"),
        ] {
            assert_eq!(o[ours_key], d[key], "{name} {id}: {key}");
        }
        // API 1.41 says Parent; later ones Parents (and Parent null), which Docker 28.5
        // writes as `" Parents"`, with a leading space (a typo in its JSON tag).
        let parents = d.get("Parents").or_else(|| d.get(" Parents"));
        let parent = d["Parent"]
            .as_str()
            .filter(|p| !p.is_empty())
            .or_else(|| parents.and_then(|p| p.get(0)).and_then(Value::as_str));
        assert_eq!(o["parent"].as_str(), parent, "{name} {id}: Parent");
        assert_eq!(instant(&o["created_at"]), instant(&d["CreatedAt"]), "{name} {id}: CreatedAt");
        assert_eq!(
            instant(&o["last_used_at"]),
            instant(&d["LastUsedAt"]),
            "{name} {id}: LastUsedAt"
        );
    }
}

#[test]
fn build_cache_on_the_containerd_store_equals_system_df() {
    require_root!();
    let root = crate::containerd_graph::host("containerd-sid");
    let ours = support::run_json(&root, &["df"]);
    validate("df", &ours);
    let docker = read_json(&answers("containerd-sid").join("api-system-df.json"));
    check_build_cache("containerd-sid", &ours, &docker);
    check_build_cache_row("containerd-sid", &ours, &docker);
    // No volumes there, as Docker says; nothing BuildKit owns in containerd is an orphan.
    assert_eq!(docker["Volumes"], serde_json::json!([]));
    assert_eq!(ours["volumes"], serde_json::json!([]));
    assert_eq!(ours["summary"]["volumes"]["total_count"], 0);
    assert_eq!(ours["orphaned"], serde_json::json!([]));
    let (_, report) = support::audit::audit(&root, &["--metadata-only"]);
    let loud = support::audit::above_info(&report);
    assert!(loud.is_empty(), "audit of containerd-sid: {loud:#?}");
}

#[test]
fn build_cache_equals_system_df() {
    require_root!();
    build_cache_rows(FIXTURE);
}

#[test]
fn build_cache_equals_system_df_26() {
    require_root!();
    build_cache_rows(FIXTURE_26);
}

fn build_cache_rows(fixture: &str) {
    let ours = support::audit::df(&data_root(fixture));
    let docker = read_json(&answers(fixture).join("api-system-df.json"));
    check_build_cache(fixture, &ours, &docker);
    // Both builds left records: the COPY's source.local context, the cache mount's.
    for kind in ["source.local", "exec.cachemount", "regular"] {
        assert!(
            docker["BuildCache"].as_array().unwrap().iter().any(|r| r["Type"] == kind),
            "{fixture}: no {kind} record"
        );
    }
    check_build_cache_row(fixture, &ours, &docker);
}

/// The Build Cache row: strata's summary against the CLI's `docker system df` line.
fn check_build_cache_row(fixture: &str, ours: &Value, docker: &Value) {
    let want = by(&docker["BuildCache"], "ID");
    // The CLI's row: every record, sizes of the unshared ones.
    let unshared: i64 = docker["BuildCache"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Shared"] == false)
        .map(|r| r["Size"].as_i64().unwrap())
        .sum();
    let s = &ours["summary"]["build_cache"];
    assert_eq!(s["size"], unshared, "{fixture}: build cache size");
    assert_eq!(s["reclaimable"], unshared, "{fixture}: reclaimable (nothing in use offline)");
    assert_eq!(s["total_count"], want.len());
    let row = &cli_rows(fixture)["Build Cache"];
    assert_eq!(row["TotalCount"].as_str().unwrap(), want.len().to_string());
    // The CLI rounds: `242B`, `24.58kB` (units of 1000, 4 significant digits).
    let shown = row["Size"].as_str().unwrap();
    let (num, unit) = shown.split_at(shown.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        other => panic!("{fixture}: unit {other} in {row}"),
    };
    let shown_bytes = num.parse::<f64>().unwrap() * scale;
    assert!(
        (shown_bytes - unshared as f64).abs() <= scale * 0.01,
        "{fixture}: docker system df shows {row}, the unshared records hold {unshared} B"
    );
}

/// `docker buildx du --verbose` (BuildKit's own DiskUsage API): one block per record, `Key: value`
/// lines, `Parents:` followed by ` - ID` lines; the totals block (`Private:`...) is left out.
fn buildx_du_verbose(fixture: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(answers(fixture).join("buildx-du-verbose.txt")).unwrap();
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut rec = BTreeMap::new();
        let mut key = String::new();
        for line in block.lines() {
            if let Some(parent) = line.strip_prefix(" - ") {
                rec.insert(key.clone(), parent.to_owned());
            } else if let Some((k, v)) = line.split_once(':') {
                key = k.to_owned();
                rec.insert(key.clone(), v.trim().to_owned());
            }
        }
        if let Some(id) = rec.get("ID") {
            out.insert(id.clone(), rec);
        }
    }
    out
}

#[test]
fn build_cache_equals_buildx_du() {
    require_root!();
    for fixture in [FIXTURE, FIXTURE_26] {
        let ours = support::audit::df(&data_root(fixture));
        let want = buildx_du_verbose(fixture);
        let got = by(&ours["build_cache"], "id");
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{fixture}");
        // Usage count and last use are left to `/system/df` (checked above): buildx du was
        // recorded first, and the engine used the cache mount once more before the final
        // answers and the archive.
        for (id, d) in &want {
            let o = got[id];
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            // The CLI trims the description it prints (`from local ` has a trailing space).
            assert_eq!(text(&o["description"]).trim_end(), d["Description"], "{fixture} {id}");
            for (ours_key, key) in [("mutable", "Mutable"), ("shared", "Shared"), ("type", "Type")]
            {
                assert_eq!(text(&o[ours_key]), d[key], "{fixture} {id}: {key}");
            }
            // 20.10's BuildKit answers with the old singular `Parent` field, which buildx 0.29
            // no longer prints (`/system/df` has it: checked above); 26.1's has `Parents`.
            let parent = if fixture == FIXTURE { None } else { o["parent"].as_str() };
            assert_eq!(parent, d.get("Parents").map(String::as_str), "{fixture} {id}: Parents");
            assert_eq!(format!("{}B", o["size"]), d["Size"], "{fixture} {id}: Size");
        }
    }
}

/// The two rows Docker had before BuildKit, on the BuildKit fixtures: images built by
/// BuildKit and containers with volumes and other log drivers count as the engine counts them.
#[test]
fn images_and_containers_equal_system_df() {
    require_root!();
    for fixture in [FIXTURE, FIXTURE_26] {
        let ours = support::audit::df(&data_root(fixture));
        let docker = read_json(&answers(fixture).join("api-system-df.json"));
        assert_eq!(ours["layers_size"], docker["LayersSize"], "{fixture}: LayersSize");
        let want = by(&docker["Images"], "Id");
        let got = by(&ours["images"], "id");
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{fixture}");
        for (id, d) in &want {
            for (o, k) in
                [("size", "Size"), ("shared_size", "SharedSize"), ("containers", "Containers")]
            {
                assert_eq!(got[id][o], d[k], "{fixture} {id}: {k}");
            }
        }
        let want = by(&docker["Containers"], "Id");
        let got = by(&ours["containers"], "id");
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{fixture}");
        for (id, d) in &want {
            // 26.1 leaves SizeRw out when it is 0.
            let rw = d.get("SizeRw").filter(|v| !v.is_null()).cloned().unwrap_or(0.into());
            assert_eq!(got[id]["rw_size"], rw, "{fixture} {id}: SizeRw");
            assert_eq!(got[id]["rootfs_size"], d["SizeRootFs"], "{fixture} {id}: SizeRootFs");
        }
    }
}

#[test]
fn volumes_equal_system_df_and_volume_inspect() {
    require_root!();
    volume_rows(FIXTURE);
}

#[test]
fn volumes_equal_system_df_and_volume_inspect_26() {
    require_root!();
    volume_rows(FIXTURE_26);
}

/// Volumes the engine made for an anonymous mount, from its container inspect: mounted, and
/// named by no `HostConfig.Binds` entry (`NAME:/dst`) and no `HostConfig.Mounts` source.
fn anonymous_by_container_config(containers: &Value) -> std::collections::BTreeSet<String> {
    let mut mounted = std::collections::BTreeSet::new();
    let mut named = std::collections::BTreeSet::new();
    for c in containers.as_array().unwrap() {
        for m in c["Mounts"].as_array().unwrap() {
            if m["Type"] == "volume" {
                mounted.insert(m["Name"].as_str().unwrap().to_owned());
            }
        }
        for b in c["HostConfig"]["Binds"].as_array().into_iter().flatten() {
            let b = b.as_str().unwrap();
            if let Some((src, _)) = b.split_once(':') {
                named.insert(src.to_owned());
            }
        }
        for m in c["HostConfig"]["Mounts"].as_array().into_iter().flatten() {
            if let Some(src) = m["Source"].as_str().filter(|s| !s.is_empty()) {
                named.insert(src.to_owned());
            }
        }
    }
    mounted.difference(&named).cloned().collect()
}

fn volume_rows(fixture: &str) {
    let root = data_root(fixture);
    let ours = support::audit::df(&root);
    let docker = read_json(&answers(fixture).join("api-system-df.json"));
    let want = by(&docker["Volumes"], "Name");
    let got = by(&ours["volumes"], "name");
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "volume names");
    for (name, d) in &want {
        assert_eq!(got[name]["size"], d["UsageData"]["Size"], "{name}: Size");
        assert_eq!(got[name]["ref_count"], d["UsageData"]["RefCount"], "{name}: RefCount");
        assert_eq!(got[name]["driver"], d["Driver"], "{name}: Driver");
    }
    let total: i64 = want.values().map(|v| v["UsageData"]["Size"].as_i64().unwrap()).sum();
    let s = &ours["summary"]["volumes"];
    assert_eq!(s["size"], total);
    assert_eq!(s["total_count"], want.len());
    assert_eq!(
        s["active"],
        want.values().filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap() > 0).count()
    );
    let row = &cli_rows(fixture)["Local Volumes"];
    assert_eq!(row["Size"].as_str().unwrap(), format!("{total}B"), "docker system df shows {row}");
    assert_eq!(row["Active"].as_str().unwrap(), s["active"].to_string());

    // strata volumes against docker volume inspect: labels, options, anonymous or named.
    let list = support::run_json(&root, &["volumes"]);
    validate("volumes", &list);
    let inspect = read_json(&answers(fixture).join("volume-inspect.json"));
    let containers = read_json(&answers(fixture).join("container-inspect.json"));
    let anonymous_by_config = anonymous_by_container_config(&containers);
    let got = by(&list["volumes"], "name");
    for d in inspect.as_array().unwrap() {
        let name = d["Name"].as_str().unwrap();
        let o = got[name];
        let labels =
            if d["Labels"].is_null() { serde_json::json!({}) } else { d["Labels"].clone() };
        let options =
            if d["Options"].is_null() { serde_json::json!({}) } else { d["Options"].clone() };
        assert_eq!(o["labels"], labels, "{name}: Labels");
        assert_eq!(o["options"], options, "{name}: Options");
        // 26.1 labels anonymous volumes; 20.10 does not, and the containers' config says.
        let labelled = d["Labels"].get("com.docker.volume.anonymous").is_some();
        let by_config = anonymous_by_config.contains(name);
        if fixture == FIXTURE_26 {
            assert_eq!(labelled, by_config, "{name}: the label and the containers' config agree");
        } else {
            assert!(!labelled, "{name}: 20.10 sets no anonymous label");
        }
        assert_eq!(o["anonymous"], by_config, "{name}: anonymous");
        assert_eq!(by_config, name != "strata-named", "{name}: the scenario's anonymous one");
        let mp = d["Mountpoint"].as_str().unwrap();
        assert!(
            mp.ends_with(o["mountpoint"].as_str().unwrap()),
            "{name}: {mp} vs {}",
            o["mountpoint"]
        );
    }
    // The containers that mount them, from container inspect's Mounts.
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in containers.as_array().unwrap() {
        for m in c["Mounts"].as_array().unwrap() {
            if m["Type"] == "volume" {
                users
                    .entry(m["Name"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(c["Id"].as_str().unwrap().to_owned());
            }
        }
    }
    for (name, ids) in users {
        assert_eq!(got[&name]["containers"], serde_json::json!(ids), "{name}: users");
    }

    let one = support::run_json(&root, &["inspect", "strata-named"]);
    assert_eq!(one["kind"], "volume");
    assert_eq!(one["size"], want["strata-named"]["UsageData"]["Size"]);
}

#[test]
fn logs_are_their_own_row() {
    require_root!();
    let (root, got) = log_rows(FIXTURE);
    // The logger wrote 20 lines; json-file keeps one JSON object per line.
    let containers = read_json(&answers(FIXTURE).join("container-inspect.json"));
    let logger = containers.as_array().unwrap().iter().find(|c| c["Name"] == "/logger").unwrap();
    let text = std::fs::read_to_string(
        root.join(got[logger["Id"].as_str().unwrap()]["files"][0]["path"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(text.lines().count(), 20);
}

#[test]
fn logs_count_rotations_and_the_local_driver_26() {
    require_root!();
    let (root, got) = log_rows(FIXTURE_26);
    let ids = read_json(&support::repo().join("fixtures").join(FIXTURE_26).join("ids.json"));
    let files_of = |name: &str| -> Vec<String> {
        let l = &got[ids["containers"][name].as_str().unwrap()];
        l["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().into()).collect()
    };
    // json-file with max-size=1k max-file=3 after 120 lines (~8 KB of JSON): the log and
    // two rotations stay, the older ones are gone.
    let rotated = files_of("rotated");
    assert_eq!(rotated.len(), 3, "{rotated:?}");
    assert!(rotated[1].ends_with("-json.log.1") && rotated[2].ends_with("-json.log.2"));
    let text = |f: &String| std::fs::read_to_string(root.join(f)).unwrap();
    assert!(text(&rotated[0]).lines().last().unwrap().contains("json-file rotated line 119"));
    let kept: String = rotated.iter().map(text).collect();
    assert!(!kept.contains("json-file rotated line 0\\n"), "the first lines were rotated away");
    // local with the same limits: container.log and gzip'd rotations.
    let local = files_of("local-logger");
    assert_eq!(local.len(), 3, "{local:?}");
    for f in &local[1..] {
        assert!(f.ends_with(".gz"), "{f}");
        let head = std::fs::read(root.join(f)).unwrap();
        assert_eq!(&head[..2], &[0x1f, 0x8b], "{f}: gzip");
    }
    assert_eq!(files_of("local-small").len(), 1);
    // The files as the scenario listed them from the live data-root (`find ... -printf '%p %s'`).
    let listed = std::fs::read_to_string(answers(FIXTURE_26).join("log-files.txt")).unwrap();
    let mut want: Vec<(String, u64)> = listed
        .lines()
        .map(|l| {
            let (p, n) = l.rsplit_once(' ').unwrap();
            (format!("containers/{}", p.trim_start_matches("./")), n.parse().unwrap())
        })
        .collect();
    want.sort();
    let mut ours: Vec<(String, u64)> = got
        .values()
        .flat_map(|l| l["files"].as_array().unwrap().iter())
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["size"].as_u64().unwrap()))
        .collect();
    ours.sort();
    assert_eq!(ours, want, "log files and sizes against the engine's data-root");
}

/// Checks every container's log row against its directory on disk: the driver from its
/// `HostConfig.LogConfig`, the files (json-file: `LogPath` and `LogPath.N`; local:
/// `local-logs/container.log*`, where 26.1's inspect leaves `LogPath` empty) and their sizes.
fn log_rows(fixture: &str) -> (std::path::PathBuf, BTreeMap<String, Value>) {
    let root = data_root(fixture);
    let ours = support::audit::df(&root);
    let containers = read_json(&answers(fixture).join("container-inspect.json"));
    let got: BTreeMap<String, Value> =
        by(&ours["logs"], "container").into_iter().map(|(k, v)| (k, v.clone())).collect();
    assert_eq!(got.len(), containers.as_array().unwrap().len(), "one log per container");
    for c in containers.as_array().unwrap() {
        let id = c["Id"].as_str().unwrap();
        let l = &got[id];
        let driver = &c["HostConfig"]["LogConfig"]["Type"];
        assert_eq!(&l["driver"], driver, "{id}: log driver");
        let (dir, stem) = if driver == "local" {
            (format!("containers/{id}/local-logs"), "container.log".to_owned())
        } else {
            let log_path = c["LogPath"].as_str().unwrap();
            assert!(log_path.ends_with(&format!("containers/{id}/{id}-json.log")), "{log_path}");
            (format!("containers/{id}"), format!("{id}-json.log"))
        };
        let mut want: Vec<(String, u64)> = std::fs::read_dir(root.join(&dir))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_str().unwrap().starts_with(&stem))
            .map(|e| {
                (format!("{dir}/{}", e.file_name().to_str().unwrap()), e.metadata().unwrap().len())
            })
            .collect();
        want.sort();
        let files: Vec<(String, u64)> = l["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_owned(), f["size"].as_u64().unwrap()))
            .collect();
        let mut sorted = files.clone();
        sorted.sort();
        assert_eq!(sorted, want, "{id}: log files");
        assert_eq!(files[0].0, format!("{dir}/{stem}"), "{id}: the current log first");
        assert_eq!(l["size"], want.iter().map(|w| w.1).sum::<u64>(), "{id}: log size");
    }
    let total: u64 = got.values().map(|l| l["size"].as_u64().unwrap()).sum();
    assert_eq!(ours["summary"]["logs"]["size"], total);
    (root, got)
}

#[test]
fn buildkit_dirs_are_never_orphans() {
    require_root!();
    no_orphans(FIXTURE, &["--metadata-only"]);
}

#[test]
fn buildkit_dirs_are_never_orphans_26() {
    require_root!();
    // The whole audit, content checks included.
    no_orphans(FIXTURE_26, &[]);
}

fn no_orphans(fixture: &str, args: &[&str]) {
    let root = data_root(fixture);
    let ours = support::audit::df(&root);
    assert_eq!(ours["orphaned"], serde_json::json!([]), "BuildKit's snapshot dirs are build cache");
    let (_, report) = support::audit::audit(&root, args);
    let loud = support::audit::above_info(&report);
    assert!(loud.is_empty(), "audit of the {fixture} fixture: {loud:#?}");
    let orphans: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"].as_str().unwrap_or("").contains("orphan"))
        .collect();
    assert!(orphans.is_empty(), "{fixture}: {orphans:#?}");
    // Every driver dir is a layer's, a container's or BuildKit's.
    let dirs: Vec<String> = ours["build_cache"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["dirs"].as_array().unwrap().clone())
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    assert!(!dirs.is_empty());
    for d in &dirs {
        assert!(root.join(d).is_dir(), "{d}");
    }
}

#[test]
fn a_missing_buildkit_dir_is_a_finding_not_an_orphan() {
    require_root!();
    missing_buildkit_dir(FIXTURE);
}

#[test]
fn a_missing_buildkit_dir_is_a_finding_not_an_orphan_26() {
    require_root!();
    missing_buildkit_dir(FIXTURE_26);
}

fn missing_buildkit_dir(fixture: &str) {
    let copy = support::copy_tree(&data_root(fixture));
    let ours = support::audit::df(copy.path());
    let victim = ours["build_cache"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "exec.cachemount")
        .and_then(|r| r["dirs"][0].as_str())
        .unwrap()
        .to_owned();
    std::fs::remove_dir_all(copy.path().join(&victim)).unwrap();
    let (_, report) = support::audit::audit(copy.path(), &["--metadata-only"]);
    let broken = support::audit::with_code(&report, "build-cache-broken");
    assert_eq!(broken.len(), 1, "{report:#}");
    assert!(broken[0]["file"].as_str().unwrap().ends_with(&victim));
    // The snapshot's `l/` short link now dangles (reported as such); no directory is called orphaned.
    let orphaned: Vec<_> = support::audit::with_code(&report, "graphdriver-dir-orphaned")
        .into_iter()
        .filter(|f| !f["file"].as_str().unwrap_or("").starts_with("overlay2/l/"))
        .collect();
    assert!(orphaned.is_empty(), "{orphaned:#?}");
}

#[test]
fn df_table_has_every_row() {
    require_root!();
    let (code, out, err) = support::run(&data_root(FIXTURE), &["df"]);
    assert_eq!(code, 0, "{err}");
    for row in [
        "Images ",
        "Containers ",
        "Local Volumes ",
        "Build Cache ",
        "Logs ",
        "Orphaned ",
        "Build cache usage:",
    ] {
        assert!(out.contains(row), "missing {row:?} in:\n{out}");
    }
}

/// `du -s -B1 [--apparent-size] DIR` in bytes.
fn du(dir: &std::path::Path, apparent: bool) -> u64 {
    let mut c = std::process::Command::new("du");
    c.args(["-s", "-B1"]);
    if apparent {
        c.arg("--apparent-size");
    }
    let out = c.arg(dir).output().expect("run du");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn reconcile_adds_up_to_du() {
    require_root!();
    require_tool!("du", "--version", "coreutils");
    reconcile(FIXTURE);
}

#[test]
fn reconcile_adds_up_to_du_26() {
    require_root!();
    require_tool!("du", "--version", "coreutils");
    reconcile(FIXTURE_26);
}

/// The engine's metadata and state, which no `docker system df` row counts: its databases
/// and JSON, the image/layer metadata stores, the managed containerd's metadata, overlay2's
/// short-name links, BuildKit's content store (build history records and their blobs) and
/// its executor's files.
fn is_engine_metadata(root: &std::path::Path, path: &str, entries: u64) -> bool {
    const DIRS: [&str; 9] = [
        "image/overlay2/imagedb",
        "image/overlay2/layerdb",
        "image/overlay2/distribution",
        "containerd/daemon",
        "network/files",
        "overlay2/l",
        "buildkit/content",
        "buildkit/executor",
        "plugins/storage",
    ];
    let p = root.join(path);
    path.ends_with(".db")
        || path.ends_with(".json")
        || path == "engine-id"
        || DIRS.contains(&path)
        // a directory whose contents are other rows or paths: its own inode only
        || (entries == 1 && p.is_dir())
}

fn reconcile(fixture: &str) {
    let root = data_root(fixture);
    let v = support::run_json(&root, &["df", "--reconcile"]);
    validate("df", &v);
    let r = &v["reconcile"];
    assert_eq!(r["total"]["apparent"], du(&root, true), "apparent total vs du --apparent-size");
    assert_eq!(r["total"]["allocated"], du(&root, false), "allocated total vs du");
    let sum = |key: &str| -> u64 {
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["on_disk"][key].as_u64().unwrap())
            .sum::<u64>()
            + r["unexplained"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["on_disk"][key].as_u64().unwrap())
                .sum::<u64>()
    };
    assert_eq!(
        sum("apparent"),
        r["total"]["apparent"].as_u64().unwrap(),
        "rows + unexplained = total"
    );
    assert_eq!(sum("allocated"), r["total"]["allocated"].as_u64().unwrap());
    // Each row holds at least what df counts for it.
    for row in r["rows"].as_array().unwrap() {
        assert!(
            row["on_disk"]["apparent"].as_i64().unwrap() >= row["df_size"].as_i64().unwrap(),
            "{row}"
        );
    }
    // What is left is metadata and engine state, each named: the databases among it.
    let paths: Vec<&str> =
        r["unexplained"].as_array().unwrap().iter().map(|x| x["path"].as_str().unwrap()).collect();
    for p in
        ["volumes/metadata.db", "buildkit/metadata_v2.db", "image/overlay2/imagedb", "overlay2/l"]
    {
        assert!(paths.contains(&p), "{p} not among {paths:?}");
    }
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("volumes/strata-named") || p.starts_with("containers/")),
        "{paths:?}"
    );
    // Nothing else: each remaining path is named, and is the engine's metadata.
    for x in r["unexplained"].as_array().unwrap() {
        let path = x["path"].as_str().unwrap();
        assert_ne!(x["what"], "unknown", "{fixture}: {path}");
        assert!(
            is_engine_metadata(&root, path, x["on_disk"]["entries"].as_u64().unwrap()),
            "{fixture}: {path} is left unexplained: {x}"
        );
    }
    let (code, out, _) = support::run(&root, &["df", "--reconcile"]);
    assert_eq!(code, 0);
    assert!(out.contains("TOTAL") && out.contains(&format!("({} B)", du(&root, true))), "{out}");
    for x in r["unexplained"].as_array().unwrap() {
        let path = x["path"].as_str().unwrap();
        assert!(out.lines().any(|l| l.starts_with(&format!("{path} "))), "{path} not printed");
    }
}

#[test]
fn reconcile_names_what_is_not_the_engines() {
    require_root!();
    require_tool!("du", "--version", "coreutils");
    let copy = support::copy_tree(&data_root(FIXTURE_26));
    let root = copy.path();
    // Someone's backup inside the data-root, and a file beside the engine's dirs.
    std::fs::create_dir_all(root.join("backup/2026")).unwrap();
    std::fs::write(root.join("backup/2026/images.tar"), vec![7u8; 10_000]).unwrap();
    std::fs::write(root.join("notes.txt"), b"kept here by hand\n").unwrap();
    let v = support::run_json(root, &["df", "--reconcile"]);
    validate("df", &v);
    let r = &v["reconcile"];
    assert_eq!(r["total"]["apparent"], du(root, true));
    let unknown: BTreeMap<String, u64> = r["unexplained"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["what"] == "unknown")
        .map(|x| {
            (x["path"].as_str().unwrap().to_owned(), x["on_disk"]["apparent"].as_u64().unwrap())
        })
        .collect();
    let want: BTreeMap<String, u64> = [
        ("backup".to_owned(), std::fs::metadata(root.join("backup")).unwrap().len()),
        ("backup/2026".to_owned(), du(&root.join("backup/2026"), true)),
        ("notes.txt".to_owned(), 18),
    ]
    .into();
    assert_eq!(unknown, want);
}

/// The bbolt databases (BuildKit's, the volumes') are read without a byte, mode or time of
/// the data-root changing, whatever the command.
#[test]
fn no_command_changes_the_buildkit26_fixture() {
    require_root!();
    use crate::support::hostile::{all_commands_for, diff, fingerprint, run_bounded};
    let copy = support::copy_tree(&data_root(FIXTURE_26));
    let before = fingerprint(copy.path());
    let mut commands = all_commands_for(copy.path(), &["strata-named", "strata/bk-copy:1"]);
    commands.push(vec!["df".into(), "--reconcile".into()]);
    assert!(commands.iter().any(|c| c[0] == "volumes"));
    for cmd in commands {
        for format in ["table", "json"] {
            let mut a = cmd.clone();
            a.extend(["--format".to_owned(), format.to_owned()]);
            let o = run_bounded(copy.path(), &a, std::time::Duration::from_secs(120));
            assert!(!o.timed_out && matches!(o.code, Some(0..=2)), "strata {a:?}: {}", o.stderr);
            let after = fingerprint(copy.path());
            assert!(
                before == after,
                "strata {a:?} changed the data-root:\n{}",
                diff(&before, &after)
            );
        }
    }
}

#[test]
fn damaged_buildkit_and_volume_databases_are_findings() {
    require_root!();
    let copy = support::copy_tree(&data_root(FIXTURE));
    let root = copy.path();
    // A torn metadata_v2.db, a snapshots.db of garbage, a volumes db cut short.
    let cut = |rel: &str, len: usize| {
        let p = root.join(rel);
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(len);
        std::fs::write(&p, b).unwrap();
    };
    cut("buildkit/metadata_v2.db", 100);
    cut("volumes/metadata.db", 4096 + 17);
    std::fs::write(root.join("buildkit/snapshots.db"), vec![0xa5u8; 20000]).unwrap();
    let (code, out, err) = support::run(root, &["df", "--reconcile", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    validate("df", &v);
    // Volumes are still found by their directories.
    assert_eq!(v["volumes"].as_array().unwrap().len(), 2, "{v:#}");
    let (_, report) = support::audit::audit(root, &["--metadata-only"]);
    let corrupt: Vec<String> = support::audit::with_code(&report, "metadata-corrupt")
        .iter()
        .filter_map(|f| f["file"].as_str().map(str::to_owned))
        .collect();
    for f in ["buildkit/metadata_v2.db", "volumes/metadata.db", "buildkit/snapshots.db"] {
        assert!(corrupt.iter().any(|c| c == f), "{f} not reported: {corrupt:?}");
    }
}
