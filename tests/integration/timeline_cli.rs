//! `strata timeline` on real fixtures (graphdriver `basic`, containerd store
//! `containerd-sid`): the bodyfile goes through Sleuth Kit's `mactime`, which must
//! read every line; file entries are set against the files on disk (stat) and the
//! tar headers tar-split keeps; events against the times Docker itself reported
//! (`docker image inspect`, `docker history`, `docker container inspect`); the
//! `--since`/`--until` window; and `-o` refused inside the roots.

use crate::containerd_graph::host;
use crate::support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const FIXTURES: &[&str] = &["basic", "containerd-sid"];

fn root_of(name: &str) -> PathBuf {
    if name == "containerd-sid" {
        host(name)
    } else {
        data_root(name)
    }
}

/// Runs `strata timeline ARGS -o FILE` and returns the file's text.
fn timeline_file(root: &Path, args: &[&str]) -> String {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dest = dir.path().join("timeline.out");
    let out = strata()
        .arg("--root")
        .arg(root)
        .arg("timeline")
        .args(args)
        .arg("-o")
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "with -o nothing goes to stdout");
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("timeline.out")], "no temporary file left");
    std::fs::read_to_string(&dest).unwrap()
}

fn jsonl(root: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "jsonl"];
    all.extend_from_slice(args);
    timeline_file(root, &all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// RFC 3339 to nanoseconds since the epoch (the test's own parse, via chrono).
fn ns(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .timestamp_nanos_opt()
        .unwrap()
}

fn is_zero(s: &str) -> bool {
    s.starts_with("0001-01-01")
}

#[test]
fn bodyfile_is_read_whole_by_mactime() {
    require_root!();
    require_tool!("mactime", "-V", "apt-get install sleuthkit");
    for fx in FIXTURES {
        let root = root_of(fx);
        let body = timeline_file(&root, &[]);
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let path = dir.path().join("body");
        std::fs::write(&path, &body).unwrap();
        // What mactime must print: one line per distinct time of each entry (the
        // unknown times, 0, count as one), and nothing for an entry with no time.
        let mut expected = 0;
        let mut names = BTreeSet::new();
        for line in body.lines() {
            let f: Vec<&str> = line.split('|').collect();
            assert_eq!(f.len(), 11, "{fx}: 11 fields: {line}");
            assert_eq!(f[0], "0", "{fx}: no MD5: {line}");
            for n in [f[2], f[4], f[5], f[6], f[7], f[8], f[9], f[10]] {
                n.parse::<u64>().unwrap_or_else(|_| panic!("{fx}: {n:?} in {line}"));
            }
            assert!(!f[1].chars().any(char::is_control), "{fx}: {line}");
            let times: BTreeSet<&str> = f[7..].iter().copied().collect();
            if times != BTreeSet::from(["0"]) {
                expected += times.len();
                names.insert(f[1].to_owned());
            }
        }
        let out =
            std::process::Command::new("mactime").arg("-b").arg(&path).arg("-d").output().unwrap();
        assert!(out.status.success(), "{fx}: mactime: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            out.stderr.is_empty(),
            "{fx}: mactime complained: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines.len(), expected, "{fx}: mactime printed every time of every line");
        let printed: BTreeSet<String> = lines
            .iter()
            .map(|l| {
                l.splitn(8, ',')
                    .nth(7)
                    .unwrap()
                    .strip_prefix('"')
                    .unwrap()
                    .strip_suffix('"')
                    .unwrap()
                    .replace("\"\"", "\"")
            })
            .collect();
        let lost: Vec<_> = names.difference(&printed).collect();
        let odd: Vec<_> = printed.difference(&names).collect();
        assert!(lost.is_empty() && odd.is_empty(), "{fx}: lost {lost:?}, unknown {odd:?}");

        // The right entries: each container's events as Docker reported them, and
        // every path `docker diff` named in its RW layer.
        let containers = read_json(&answers(fx).join("container-inspect.json"));
        for c in containers.as_array().unwrap() {
            let id = c["Id"].as_str().unwrap();
            let name = c["Name"].as_str().unwrap().trim_start_matches('/');
            let ev = format!("[event container {id} {name}] created");
            assert!(printed.contains(&ev), "{fx}: {ev}");
            if !is_zero(c["State"]["StartedAt"].as_str().unwrap()) {
                let ev = format!("[event container {id} {name}] started");
                assert!(printed.contains(&ev), "{fx}: {ev}");
            }
            let diff = read_json(&answers(fx).join("diff").join(format!("{id}.api.json")));
            for change in diff.as_array().into_iter().flatten() {
                let p = change["Path"].as_str().unwrap();
                if p.contains('\u{fffd}') {
                    continue; // Go's JSON replaced a non-UTF-8 byte: not the name on disk
                }
                // Added and changed paths are in the RW layer; a deleted one is a
                // whiteout there, or lies under an opaque directory that is.
                let entry = |p: &str| printed.contains(&format!("[container-rw {id} {name}] {p}"));
                let found = if change["Kind"] == 2 {
                    std::iter::successors(Some(p), |q| q.rsplit_once('/').map(|(a, _)| a))
                        .take_while(|q| !q.is_empty())
                        .any(entry)
                } else {
                    entry(p)
                };
                assert!(found, "{fx}: docker diff names {p} (kind {})", change["Kind"]);
            }
        }
    }
}

/// Every inode entry of the basic fixture's RW and init layers equals what stat
/// says of that file now; directories' access times are left out (listing a
/// directory may itself move its atime).
#[test]
fn file_entries_equal_stat_of_the_files_on_disk() {
    require_root!();
    let root = data_root("basic");
    let lines = jsonl(&root, &[]);
    let containers = read_json(&answers("basic").join("container-inspect.json"));
    let mut checked = 0;
    for c in containers.as_array().unwrap() {
        let id = c["Id"].as_str().unwrap();
        let upper = c["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
        // The engine's path, on the host the fixture was made on: the data-root part
        // is this fixture's root.
        let rel = &upper[upper.find("/overlay2/").unwrap() + 1..];
        let rw = root.join(rel);
        let init = root.join(rel.replace("/diff", "-init/diff"));
        let mut seen = BTreeMap::new();
        for l in &lines {
            if l["source"] != "inode" || l["owner"] != id {
                continue;
            }
            let dir = match l["owner_kind"].as_str().unwrap() {
                "container-rw" => &rw,
                "container-init" => &init,
                k => panic!("{k}"),
            };
            seen.insert((dir.clone(), l["path"].as_str().unwrap().to_owned()), l.clone());
        }
        assert!(!seen.is_empty(), "container {id} has entries");
        for ((dir, p), l) in &seen {
            if p.contains("\\x") {
                continue; // shown escaped; the raw name is checked by the walk itself
            }
            let on_disk = if p == "/" { dir.clone() } else { dir.join(&p[1..]) };
            let m = std::fs::symlink_metadata(&on_disk)
                .unwrap_or_else(|e| panic!("{}: {e}", on_disk.display()));
            let at = format!("{}", on_disk.display());
            assert_eq!(l["inode"], m.ino(), "{at}");
            assert_eq!(l["size"], m.size(), "{at}");
            assert_eq!(l["uid"], m.uid(), "{at}");
            assert_eq!(l["gid"], m.gid(), "{at}");
            let t = |k: &str| ns(l[k].as_str().unwrap_or_else(|| panic!("{at}: {k}: {l}")));
            assert_eq!(t("mtime"), m.mtime() * 1_000_000_000 + m.mtime_nsec(), "{at}");
            assert_eq!(t("ctime"), m.ctime() * 1_000_000_000 + m.ctime_nsec(), "{at}");
            if !m.is_dir() {
                assert_eq!(t("atime"), m.atime() * 1_000_000_000 + m.atime_nsec(), "{at}");
            }
            match m.created() {
                Ok(b) => {
                    let b = b.duration_since(std::time::UNIX_EPOCH).unwrap();
                    assert_eq!(t("crtime") as u128, b.as_nanos(), "{at}");
                }
                Err(_) => assert!(l["crtime"].is_null(), "{at}: no birth time here"),
            }
            let ftype = m.mode() & 0o170000;
            let ls = l["mode"].as_str().unwrap();
            let want = match ftype {
                0o040000 => 'd',
                0o120000 => 'l',
                0o020000 => 'c',
                _ => '-',
            };
            assert_eq!(ls.chars().next(), Some(want), "{at}: {ls}");
            checked += 1;
        }
    }
    assert!(checked > 20, "checked {checked} files");
}

/// Every tar entry's mtime is the one in its tar header, as tar-split recorded the
/// header bytes (parsed here from the raw 512-byte block, octal at offset 136).
#[test]
fn tar_entries_carry_the_tar_split_header_times() {
    require_root!();
    let root = data_root("basic");
    let lines = jsonl(&root, &[]);
    let mut tar: BTreeMap<(String, String), i64> = BTreeMap::new();
    for l in &lines {
        if l["source"] == "tar" {
            let key =
                (l["owner"].as_str().unwrap().to_owned(), l["path"].as_str().unwrap().to_owned());
            let t = l["mtime"].as_str().map(ns).unwrap_or(0);
            tar.insert(key, t / 1_000_000_000);
        }
    }
    let layerdb = root.join("image/overlay2/layerdb/sha256");
    let mut checked = 0;
    for d in std::fs::read_dir(&layerdb).unwrap() {
        let d = d.unwrap();
        let chain = format!("sha256:{}", d.file_name().to_string_lossy());
        let entries = layers::read_tar_split(&d.path().join("tar-split.json.gz"));
        let mut last_segment: Vec<u8> = Vec::new();
        for e in &entries {
            if e["type"] == 2 {
                use base64::Engine;
                last_segment = base64::engine::general_purpose::STANDARD
                    .decode(e["payload"].as_str().unwrap())
                    .unwrap();
                continue;
            }
            let Some(name) = e["name"].as_str() else { continue };
            if last_segment.len() < 512 || name.contains("././@") {
                continue;
            }
            let header = &last_segment[last_segment.len() - 512..];
            let field = String::from_utf8_lossy(&header[136..148]);
            let mtime = i64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .unwrap();
            let path = name.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
            let path =
                if path.is_empty() || path == "." { "/".to_owned() } else { format!("/{path}") };
            let got = tar.get(&(chain.clone(), path.clone()));
            assert_eq!(got, Some(&mtime), "{chain} {path}");
            checked += 1;
        }
    }
    assert!(checked > 50, "checked {checked} tar entries");
}

/// Image created, each history step and LastTagTime, and container created,
/// started and finished, at the times Docker reported for them.
#[test]
fn events_are_at_the_times_docker_reported() {
    require_root!();
    for fx in FIXTURES {
        let root = root_of(fx);
        let lines = jsonl(&root, &[]);
        let mut events: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for l in lines.iter().filter(|l| l["source"] == "metadata") {
            assert_eq!(l["macb"], "macb", "an event's time is all four: {l}");
            events
                .entry(l["owner"].as_str().unwrap().to_owned())
                .or_default()
                .push((ns(l["time"].as_str().unwrap()), l["path"].as_str().unwrap().to_owned()));
        }
        let has = |owner: &str, t: i64, what: &str| {
            events.get(owner).is_some_and(|v| v.iter().any(|(x, p)| *x == t && p.starts_with(what)))
        };
        for img in read_json(&answers(fx).join("image-inspect.json")).as_array().unwrap() {
            let id = img["Id"].as_str().unwrap();
            let created = ns(img["Created"].as_str().unwrap());
            assert!(has(id, created, "created (config)"), "{fx}: image {id} created");
            let tag = img["Metadata"]["LastTagTime"].as_str().unwrap_or("");
            if !tag.is_empty() && !is_zero(tag) {
                // The graphdriver store keeps it in lastUpdated; the containerd
                // store answers with an image record's updatedat.
                let t = ns(tag);
                assert!(
                    has(id, t, "last tagged") || has(id, t, "containerd image record"),
                    "{fx}: image {id} LastTagTime {tag}: {:?}",
                    events.get(id)
                );
            }
            let hist = answers(fx).join("history").join(format!("{}.json", &id[7..]));
            let steps = read_jsonl(&hist);
            // `docker history` lists newest first, in whole seconds.
            for (i, s) in steps.iter().rev().enumerate() {
                let t = ns(s["CreatedAt"].as_str().unwrap()) / 1_000_000_000;
                let what = format!("build step {}/{}:", i + 1, steps.len());
                let found = events.get(id).is_some_and(|v| {
                    v.iter().any(|(x, p)| x.div_euclid(1_000_000_000) == t && p.starts_with(&what))
                });
                assert!(found, "{fx}: image {id} {what} at {t}");
            }
        }
        for c in read_json(&answers(fx).join("container-inspect.json")).as_array().unwrap() {
            let id = c["Id"].as_str().unwrap();
            assert!(has(id, ns(c["Created"].as_str().unwrap()), "created"), "{fx}: {id} created");
            for (k, what) in [("StartedAt", "started"), ("FinishedAt", "finished")] {
                let t = c["State"][k].as_str().unwrap();
                if is_zero(t) {
                    assert!(
                        !events[id].iter().any(|(_, p)| p.starts_with(what)),
                        "{fx}: {id} never {what}"
                    );
                } else {
                    assert!(has(id, ns(t), what), "{fx}: {id} {what} at {t}");
                }
            }
        }
        // Sorted by time, and every line matches the schema.
        let times: Vec<i64> = lines.iter().map(|l| ns(l["time"].as_str().unwrap())).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{fx}: sorted by time");
        for l in lines.iter().take(200) {
            validate("timeline-line", l);
        }
    }
}

/// `--since`/`--until` keep exactly the times inside the window, whichever way it is written.
#[test]
fn since_and_until_keep_only_the_window() {
    require_root!();
    let root = data_root("basic");
    let all = jsonl(&root, &[]);
    let changer = read_json(&answers("basic").join("container-inspect.json"))
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == "/changer")
        .unwrap()
        .clone();
    let (since, until) = (
        changer["State"]["StartedAt"].as_str().unwrap(),
        changer["State"]["FinishedAt"].as_str().unwrap(),
    );
    let (s, u) = (ns(since), ns(until));
    let inside: Vec<&Value> =
        all.iter().filter(|l| (s..=u).contains(&ns(l["time"].as_str().unwrap()))).collect();
    let got = jsonl(&root, &["--since", since, "--until", until]);
    assert_eq!(got.len(), inside.len(), "the rows inside the window, and only those");
    assert!(got.len() < all.len());
    for l in &got {
        let t = ns(l["time"].as_str().unwrap());
        assert!((s..=u).contains(&t), "outside the window: {l}");
        // The row is at the times its macb letters name.
        for (k, c) in
            ["mtime", "atime", "ctime", "crtime"].iter().zip(l["macb"].as_str().unwrap().chars())
        {
            assert_eq!(c != '.', l[*k].as_str().map(ns) == Some(t), "{k}: {l}");
        }
    }
    // The bodyfile holds the entries with a time inside, once each.
    let body = timeline_file(&root, &["--since", since, "--until", until]);
    let entries: BTreeSet<(String, String, String, String)> = got
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or("").to_owned();
            (s("owner_kind"), s("owner"), s("source"), s("path"))
        })
        .collect();
    assert_eq!(body.lines().count(), entries.len());
    assert!(got.iter().any(|l| l["path"] == "started" && l["owner_name"] == "changer"));
    assert!(got.iter().any(|l| l["path"].as_str().unwrap().starts_with("finished")));
    // Whole seconds since the epoch, and a date alone (to its end for --until).
    let secs = format!("@{}", s.div_euclid(1_000_000_000));
    let later = jsonl(&root, &["--since", &secs]);
    let want = all
        .iter()
        .filter(|l| ns(l["time"].as_str().unwrap()) >= s.div_euclid(1_000_000_000) * 1_000_000_000)
        .count();
    assert_eq!(later.len(), want);
    let day = &since[..10];
    let same_day = jsonl(&root, &["--since", day, "--until", day]);
    let (d0, d1) = (ns(&format!("{day}T00:00:00Z")), ns(&format!("{day}T23:59:59.999999999Z")));
    let want = all.iter().filter(|l| (d0..=d1).contains(&ns(l["time"].as_str().unwrap()))).count();
    assert_eq!(same_day.len(), want);
    let (code, _, err) = run(&root, &["timeline", "--since", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("RFC 3339"), "{err}");
}

/// `-o` inside the data-root or the containerd root is refused, and nothing is written there.
#[test]
fn output_inside_the_roots_is_refused() {
    require_root!();
    let root = host("containerd-sid");
    let ctd = root.parent().unwrap().join("containerd");
    for inside in [root.join("timeline.body"), ctd.join("timeline.body")] {
        let out = strata()
            .arg("--root")
            .arg(&root)
            .args(["timeline", "-o"])
            .arg(&inside)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write"));
        assert!(!inside.exists());
    }
    // `-o -` is stdout.
    let (code, out, err) = run(&data_root("basic"), &["timeline", "--format", "csv", "-o", "-"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("time,macb,source,owner_kind,owner,owner_name,path,"), "{out}");
}

/// A file name holding `|`, a line break and a non-UTF-8 byte, planted in a
/// container's RW layer, stays one bodyfile line of 11 fields that mactime reads,
/// and comes back escaped in every format.
#[test]
fn hostile_names_cannot_split_lines_or_fields() {
    require_root!();
    require_tool!("mactime", "-V", "apt-get install sleuthkit");
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let c = read_json(&answers("basic").join("container-inspect.json"))[0].clone();
    let upper = c["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    let rw = root.join(&upper[upper.find("/overlay2/").unwrap() + 1..]);
    use std::os::unix::ffi::OsStrExt;
    let evil = std::ffi::OsStr::from_bytes(b"evil|name\nsecond\x1b[31m\xff");
    std::fs::write(rw.join(evil), b"x").unwrap();
    let body = timeline_file(root, &[]);
    let lines: Vec<&str> = body.lines().filter(|l| l.contains("evil")).collect();
    assert_eq!(lines.len(), 1, "{body}");
    let f: Vec<&str> = lines[0].split('|').collect();
    assert_eq!(f.len(), 11, "{}", lines[0]);
    assert!(f[1].ends_with("/evil\\x7cname\\x0asecond\\x1b[31m\\xff"), "{}", f[1]);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("body"), &body).unwrap();
    let out = std::process::Command::new("mactime")
        .arg("-b")
        .arg(dir.path().join("body"))
        .arg("-d")
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty());
    assert!(String::from_utf8_lossy(&out.stdout).contains("evil\\x7cname"));
    let csv = timeline_file(root, &["--format", "csv"]);
    let rows: Vec<&str> = csv.lines().filter(|l| l.contains("evil")).collect();
    assert!(!rows.is_empty(), "{csv}");
    for r in &rows {
        assert!(r.contains(",/evil|name\\x0asecond\\x1b[31m\\xff,"), "one line, escaped: {r}");
    }
    let j = jsonl(root, &[]);
    let e = j.iter().find(|l| l["path"].as_str().unwrap().contains("evil")).unwrap();
    assert_eq!(e["path"], "/evil|name\nsecond\u{1b}[31m\\xff");
}

/// On the containerd store the tar times come from the layer blobs: every tar entry
/// of the timeline is a member of some blob in the content store, as GNU tar lists
/// it, at the same mtime.
#[test]
fn containerd_tar_entries_carry_the_blob_member_times() {
    require_root!();
    require_tool!("tar", "--version", "apt-get install tar");
    let root = host("containerd-sid");
    let blobs =
        root.parent().unwrap().join("containerd/io.containerd.content.v1.content/blobs/sha256");
    let mut members: BTreeSet<(String, i64)> = BTreeSet::new();
    for b in std::fs::read_dir(&blobs).unwrap() {
        let out = std::process::Command::new("tar")
            .env("TZ", "UTC")
            .args(["-tv", "--full-time", "-f"])
            .arg(b.unwrap().path())
            .output()
            .unwrap();
        if !out.status.success() {
            continue; // a config, manifest or index, not a layer
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let rest = line.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
            let name = rest.split(" -> ").next().unwrap().split(" link to ").next().unwrap();
            let t = chrono::NaiveDateTime::parse_from_str(
                &format!("{} {}", f[3], f[4]),
                "%Y-%m-%d %H:%M:%S",
            )
            .unwrap()
            .and_utc()
            .timestamp();
            let p = name.trim_start_matches("./").trim_end_matches('/');
            members.insert((
                if p.is_empty() || p == "." { "/".to_owned() } else { format!("/{p}") },
                t,
            ));
        }
    }
    assert!(!members.is_empty(), "the content store holds layer blobs");
    let lines = jsonl(&root, &[]);
    let mut checked = 0;
    for l in lines.iter().filter(|l| l["source"] == "tar") {
        let p = l["path"].as_str().unwrap();
        if p.contains('\\') || p.contains(' ') {
            continue; // tar escapes these its own way
        }
        let t = ns(l["mtime"].as_str().unwrap()) / 1_000_000_000;
        assert!(members.contains(&(p.to_owned(), t)), "{p} at {t} is a blob member: {l}");
        checked += 1;
    }
    assert!(checked > 50, "checked {checked}");
}

/// A damaged store still gives its timeline: a layer whose tar-split is garbage and a
/// container whose RW directory is gone are said on stderr, and everything else is
/// there.
#[test]
fn damage_is_reported_and_the_rest_still_listed() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let layerdb = root.join("image/overlay2/layerdb/sha256");
    let victim = std::fs::read_dir(&layerdb).unwrap().next().unwrap().unwrap().path();
    std::fs::write(victim.join("tar-split.json.gz"), b"not gzip at all").unwrap();
    let c = read_json(&answers("basic").join("container-inspect.json"))[0].clone();
    let upper = c["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    std::fs::remove_dir_all(root.join(&upper[upper.find("/overlay2/").unwrap() + 1..])).unwrap();
    let (code, out, err) = run(root, &["timeline", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning") || err.contains("error"), "the damage is said: {err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let chain = format!("sha256:{}", victim.file_name().unwrap().to_string_lossy());
    assert!(!lines.iter().any(|l| l["source"] == "tar" && l["owner"] == chain));
    assert!(lines.iter().any(|l| l["source"] == "inode" && l["owner"] == chain), "its files still");
    let id = c["Id"].as_str().unwrap();
    assert!(!lines.iter().any(|l| l["owner_kind"] == "container-rw" && l["owner"] == id));
    assert!(lines.iter().any(|l| l["owner_kind"] == "container-init" && l["owner"] == id));
    assert!(lines.iter().any(|l| l["path"] == "created (config)"));
}
