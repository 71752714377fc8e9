//! `strata audit --format html` (issue 12) rendered in headless Chromium: the page of
//! every fixture holds every finding of the JSON report and every image, logs nothing
//! to the console, and keeps a screenshot; strings planted in a data-root copy (tags in
//! repositories.json, a container name) render as text and run nothing.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURES: &[&str] = &["basic", "trixie26", "vfs", "containerd-store", "containerd-sid"];
const HINT: &str = "apt-get install chromium";

fn root_of(name: &str) -> PathBuf {
    if name.starts_with("containerd-") {
        crate::containerd_graph::host(name)
    } else {
        data_root(name)
    }
}

/// Writes the page of `root` to `page`.
fn write_page(root: &Path, page: &Path) {
    let out = strata()
        .arg("--root")
        .arg(root)
        .args(["--quiet", "audit", "--format", "html", "-o"])
        .arg(page)
        .output()
        .unwrap();
    assert!(out.status.code() != Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "-o writes nothing on stdout");
}

/// Renders `page` in headless Chromium: (the DOM after scripts ran, console lines).
/// Keeps a screenshot beside it (`.png`).
fn render(page: &Path) -> (String, Vec<String>) {
    let profile = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let chromium = |args: &[&str]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let dom = chromium(&["--dump-dom"]);
    let shot = page.with_extension("png");
    chromium(&["--window-size=1280,1800", &format!("--screenshot={}", shot.display())]);
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "screenshot {} is empty",
        shot.display()
    );
    let console = String::from_utf8_lossy(&dom.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_owned)
        .collect();
    (String::from_utf8(dom.stdout).unwrap(), console)
}

/// Text as Chromium serialises it in the DOM.
fn as_dom_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\u{a0}', "&nbsp;")
}

fn pages_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_fixture_page_renders_with_every_finding_and_image() {
    require_root!();
    require_tool!("chromium", "--version", HINT);
    for name in FIXTURES {
        let root = root_of(name);
        let page = pages_dir().join(format!("{name}.html"));
        write_page(&root, &page);
        let html = std::fs::read_to_string(&page).unwrap();
        // Self-contained: nothing to fetch.
        for needle in ["src=\"http", "href=\"http", "src=\"//", "@import", "url("] {
            assert!(!html.contains(needle), "{name}: the page refers outside itself ({needle})");
        }
        let (dom, console) = render(&page);
        assert!(console.is_empty(), "{name}: console: {console:#?}");
        let report = run_json(&root, &["audit"]);
        for f in report["findings"].as_array().unwrap() {
            let msg = as_dom_text(f["message"].as_str().unwrap());
            assert!(dom.contains(&msg), "{name}: finding missing from the page: {msg}");
        }
        for i in report["images"].as_array().unwrap() {
            let hex = i["id"].as_str().unwrap().trim_start_matches("sha256:");
            assert!(dom.contains(&format!("id=\"img-{hex}\"")), "{name}: image {hex} missing");
            for t in i["repo_tags"].as_array().unwrap() {
                assert!(dom.contains(&as_dom_text(t.as_str().unwrap())), "{name}: tag {t} missing");
            }
        }
        assert!(dom.contains("id=\"forest-svg\""), "{name}: no forest picture");
        // The script ran: the filter shows its count.
        let n = report["findings"].as_array().unwrap().len();
        if n > 0 {
            assert!(
                dom.contains(&format!("{n} of {n} shown")),
                "{name}: the findings script did not run"
            );
        }
    }
}

const SCRIPT: &str = "<script>document.title='PWNED'</script>";
const IMG: &str = "\"><img src=x onerror=\"document.title='PWNED'\">";

#[test]
fn planted_markup_renders_as_text_and_runs_nothing() {
    require_root!();
    require_tool!("chromium", "--version", HINT);
    let copy = copy_tree(&data_root("basic"));
    let repos_path = copy.path().join("image/overlay2/repositories.json");
    let mut repos: Value = read_json(&repos_path);
    let app = "sha256:a2294ef851df08d788877543d1fd914d7ff6b93182fbcc7422d277db2078c853";
    let r = repos["Repositories"].as_object_mut().unwrap();
    r.insert(format!("evil{IMG}"), serde_json::json!({ format!("evil{IMG}:1"): app }));
    r["127.0.0.1:5000/strata/app"][format!("127.0.0.1:5000/strata/app:{SCRIPT}")] =
        Value::from(app);
    std::fs::write(&repos_path, serde_json::to_vec(&repos).unwrap()).unwrap();
    let name = format!("/{IMG}{SCRIPT}");
    for entry in std::fs::read_dir(copy.path().join("containers")).unwrap() {
        let p = entry.unwrap().path().join("config.v2.json");
        let mut c: Value = read_json(&p);
        if c["Name"] == "/changer" {
            c["Name"] = Value::from(name.clone());
            std::fs::write(&p, serde_json::to_vec(&c).unwrap()).unwrap();
        }
    }

    let page = pages_dir().join("planted.html");
    write_page(copy.path(), &page);
    let (dom, console) = render(&page);
    assert!(console.is_empty(), "console: {console:#?}");
    assert!(!dom.contains("PWNED</title>"), "a planted script ran");
    assert!(!dom.contains("<img"), "a planted element was made");
    assert_eq!(dom.matches("<script").count(), 1, "only the page's own script");
    // And they are there, as text: the container name in the forest, the tags wherever
    // strata shows them (tags, or the finding that refuses them).
    assert!(
        dom.contains(&as_dom_text(name.trim_start_matches('/'))),
        "the container name is not shown as text"
    );
    assert!(dom.contains(&as_dom_text(SCRIPT)), "the planted tag is not shown as text");
    assert!(
        dom.contains(&as_dom_text("onerror=\"document.title='PWNED'\"")),
        "the planted repository is not shown as text"
    );
}

/// A copy of `basic` with 1,000 more images on its layers, each tagged.
fn scale_root() -> tempfile::TempDir {
    use sha2::{Digest as _, Sha256};
    let copy = copy_tree(&data_root("basic"));
    let content = copy.path().join("image/overlay2/imagedb/content/sha256");
    let configs: Vec<Value> =
        std::fs::read_dir(&content).unwrap().map(|e| read_json(&e.unwrap().path())).collect();
    let repos_path = copy.path().join("image/overlay2/repositories.json");
    let mut repos: Value = read_json(&repos_path);
    for n in 0..1000 {
        let mut c = configs[n % configs.len()].clone();
        c["config"]["Labels"] = serde_json::json!({ "scale": n.to_string() });
        let bytes = serde_json::to_vec(&c).unwrap();
        let hex = hex::encode(Sha256::digest(&bytes));
        std::fs::write(content.join(&hex), &bytes).unwrap();
        let repo = format!("scale/app-{:03}", n % 40);
        repos["Repositories"][&repo][format!("{repo}:{n}")] = Value::from(format!("sha256:{hex}"));
    }
    std::fs::write(&repos_path, serde_json::to_vec(&repos).unwrap()).unwrap();
    copy
}

#[test]
fn the_forest_stays_legible_at_1000_images() {
    require_root!();
    require_tool!("chromium", "--version", HINT);
    let root = scale_root();
    let page = pages_dir().join("scale.html");
    write_page(root.path(), &page);
    let (dom, console) = render(&page);
    assert!(console.is_empty(), "console: {console:#?}");
    assert!(dom.matches("id=\"img-").count() >= 1000, "every image has its details");
    // Images beyond a dozen on one layer are grouped: the picture stays a few screens.
    let svg = dom.split("id=\"forest-svg\"").nth(1).unwrap();
    let rows = svg.split("</svg>").next().unwrap().matches("class=\"node ").count();
    assert!(rows < 250, "{rows} rows in the forest");
    assert!(svg.contains("more images on this layer"));
}
