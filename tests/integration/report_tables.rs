//! Tables that fit the terminal (issue 12): at `COLUMNS=120` no default table of any
//! fixture has a line over 120 columns or a row wrapped onto a second line; long cells
//! are cut as the docker CLI cuts them; `--no-trunc` (with `--digests` for `images`)
//! gives back exactly the full layout that piped output gets without `COLUMNS`.

use crate::support::*;
use std::path::{Path, PathBuf};

const FIXTURES: &[&str] = &["basic", "trixie26", "vfs", "containerd-store", "containerd-sid"];
const WIDTH: usize = 120;

fn root_of(name: &str) -> PathBuf {
    if name.starts_with("containerd-") {
        crate::containerd_graph::host(name)
    } else {
        data_root(name)
    }
}

/// stdout of strata on `root` with `args`, at `columns` (none: piped, full layout).
fn table(root: &Path, args: &[&str], columns: Option<usize>) -> String {
    let mut c = strata();
    c.arg("--root").arg(root).arg("--quiet").args(args);
    if let Some(w) = columns {
        c.env("COLUMNS", w.to_string());
    }
    let out = c.output().unwrap();
    assert!(out.status.code() != Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every table command of a fixture: the lists, df, verify, audit, and the history of
/// every image.
fn commands(root: &Path) -> Vec<Vec<String>> {
    let mut cmds: Vec<Vec<String>> = ["images", "layers", "containers", "df", "verify", "audit"]
        .iter()
        .map(|c| vec![(*c).to_owned()])
        .collect();
    for img in run_json(root, &["images"]).as_array().unwrap() {
        cmds.push(vec!["history".into(), img["id"].as_str().unwrap().to_owned()]);
    }
    cmds
}

#[test]
fn no_default_table_wraps_at_120_columns() {
    require_root!();
    for name in FIXTURES {
        let root = root_of(name);
        for cmd in commands(&root) {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let fitted = table(&root, &args, Some(WIDTH));
            for line in fitted.lines() {
                // Table lines and the report lines around them alike; the data-root's
                // path in audit's first line is the one thing of unbounded length.
                if line.starts_with("strata audit of ") {
                    continue;
                }
                assert!(
                    line.chars().count() <= WIDTH,
                    "{name} {cmd:?}: a line over {WIDTH} columns:\n{line}\n\n{fitted}"
                );
            }
            let full = table(&root, &args, None);
            assert_eq!(
                fitted.lines().count(),
                full.lines().count(),
                "{name} {cmd:?}: a row wrapped:\n{fitted}\n---- full:\n{full}"
            );
        }
    }
}

#[test]
fn no_trunc_gives_the_piped_layout() {
    require_root!();
    for name in FIXTURES {
        let root = root_of(name);
        for mut cmd in commands(&root) {
            let full = table(&root, &cmd.iter().map(String::as_str).collect::<Vec<_>>(), None);
            cmd.push("--no-trunc".into());
            if cmd[0] == "images" {
                cmd.push("--digests".into());
            }
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let whole = table(&root, &args, Some(WIDTH));
            assert_eq!(whole, full, "{name} {cmd:?}");
        }
    }
}

#[test]
fn images_show_digests_only_when_asked() {
    require_root!();
    for name in FIXTURES {
        let root = root_of(name);
        let digests: Vec<String> = run_json(&root, &["images"])
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| {
                i["repo_digests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().rsplit('@').next().unwrap().to_owned())
            })
            .collect();
        let fitted = table(&root, &["images"], Some(WIDTH));
        assert!(!fitted.lines().next().unwrap().contains("DIGEST"), "{name}:\n{fitted}");
        assert!(digests.iter().all(|d| !fitted.contains(d.as_str())), "{name}:\n{fitted}");
        let with = table(&root, &["images", "--digests"], Some(200));
        assert!(with.lines().next().unwrap().contains("DIGEST"), "{name}:\n{with}");
        assert!(
            digests.iter().all(|d| with.contains(d.as_str())),
            "{name}: --digests at 200 columns shows them whole:\n{with}"
        );
        let piped = table(&root, &["images"], None);
        assert!(
            piped.lines().next().unwrap().contains("DIGEST"),
            "{name}: piped output is unchanged:\n{piped}"
        );
    }
}

#[test]
fn history_cuts_build_steps_as_docker_does() {
    require_root!();
    let mut long_steps = 0;
    for name in FIXTURES {
        let root = root_of(name);
        for img in run_json(&root, &["images"]).as_array().unwrap() {
            let id = img["id"].as_str().unwrap();
            let steps = run_json(&root, &["history", id]);
            let fitted = table(&root, &["history", id], Some(200));
            let rows: Vec<&str> = fitted.lines().skip(1).collect();
            assert_eq!(rows.len(), steps.as_array().unwrap().len(), "{name} {id}");
            for (step, row) in steps.as_array().unwrap().iter().zip(rows) {
                let by = step["created_by"].as_str().unwrap();
                if by.chars().count() > 45 {
                    long_steps += 1;
                    let cut: String = by.chars().take(44).collect();
                    assert!(
                        row.contains(&format!("{cut}…")),
                        "{name} {id}: step not cut at 45 characters:\n{row}"
                    );
                    assert!(!row.contains(by), "{name} {id}: {row}");
                }
                if let Some(created) = step["created"].as_str() {
                    // To the second, no nanoseconds.
                    let short = created.get(..19).unwrap().replace('T', " ");
                    assert!(row.contains(&format!("{short}  ")), "{name} {id}: {row}");
                    if created.len() > 20 {
                        assert!(!row.contains(created), "{name} {id}: {row}");
                    }
                }
            }
        }
    }
    assert!(long_steps > 0, "no fixture has a build step over 45 characters");
}
