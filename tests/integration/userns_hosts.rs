//! Hosts whose store was written in a user namespace (`dockerd --userns-remap`, rootless
//! Docker), and overlay upper dirs written with `redirect_dir=on,metacopy=on`, on real
//! data: the `userns` and `rootless` fixtures (Docker 20.10), and a real overlay mount
//! over a copy of `basic` (and an `xwhiteout` checked by a real mount). That Docker's own answers (images, containers, df, diff,
//! history, files) hold for both fixtures is checked where every graphdriver fixture
//! is (`GRAPHDRIVER_FIXTURES`).

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The only `layer-metadata-modified` and `layer-file-*` findings, as (path, message).
fn layer_findings(report: &serde_json::Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"].as_str().is_some_and(|c| c.starts_with("layer-")))
        .map(|f| {
            (f["path"].as_str().unwrap_or("").to_owned(), f["message"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The directory holding the only layer of `image` (its UpperDir), in `root`.
fn upper_dir_of(root: &Path, image: &str) -> PathBuf {
    let v = run_json(root, &["inspect", image]);
    PathBuf::from(v["graph_driver"]["data"]["UpperDir"].as_str().unwrap())
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

/// `<uid>:<gid>:<count>` lines of a recorded subuid/subgid answer: the first range.
fn recorded_range(fx: &str, file: &str) -> (u32, u32) {
    let text = std::fs::read_to_string(answers(fx).join(file)).unwrap();
    let f: Vec<&str> = text.trim().split(':').collect();
    (f[1].parse().unwrap(), f[2].parse().unwrap())
}

#[test]
fn userns_remap_root_is_found_and_named() {
    require_root!();
    let root = data_root("userns");
    let (base, count) = recorded_range("userns", "subuid.txt");
    // The engine kept its whole store in <base>.<base>/ (its own listing of the data-root).
    let listing = std::fs::read_to_string(answers("userns").join("data-root-ls.txt")).unwrap();
    assert_eq!(listing.trim(), format!("{base}.{base}"));
    let (code, out, err) = run(&root, &["verify"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("userns-remap store") && err.contains(&format!("{base}.{base}")), "{err}");
    let v = run_json(&root, &["verify"]);
    assert_eq!(v["userns"]["kind"], "userns-remap");
    assert_eq!(v["userns"]["uid_map"][0]["outside"], base);
    assert_eq!(v["userns"]["uid_map"][0]["count"], count);
    assert_eq!(layer_findings(&v), vec![], "no owner warnings once the shift is known");
    // Pointed at the remapped store itself, the same.
    let v = run_json(&root.join(format!("{base}.{base}")), &["verify"]);
    assert_eq!(v["userns"]["kind"], "userns-remap");
    assert_eq!(layer_findings(&v), vec![]);
    let a = run_json(&root, &["audit"]);
    assert_eq!(a["userns"]["kind"], "userns-remap");
    validate("audit", &a);
    assert_eq!(a["summary"]["warning"], 0, "{}", a["findings"]);
    assert_eq!(a["summary"]["error"], 0, "{}", a["findings"]);
}

#[test]
fn userns_remap_wrong_owner_is_still_reported() {
    require_root!();
    let copy = copy_tree(&data_root("userns"));
    let (base, _) = recorded_range("userns", "subuid.txt");
    let layer = upper_dir_of(copy.path(), "strata/base:1.0");
    // Root-owned in the tar, so base:base on disk: make it host root (outside the range).
    chown(&layer.join("etc/passwd"), 0, 0);
    // 1000 in the tar, so base+1000 on disk: make it container root's.
    chown(&layer.join("home/app"), base, base);
    let v = run_json(copy.path(), &["verify"]);
    let found = layer_findings(&v);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "etc/passwd");
    assert!(found[0].1.contains("owner 0:0 on disk, unmapped:unmapped"), "{}", found[0].1);
    assert_eq!(found[1].0, "home/app");
    assert!(
        found[1].1.contains(&format!("owner {base}:{base} on disk, 0:0 in the container")),
        "{}",
        found[1].1
    );
    assert!(found[1].1.contains("(tar: 1000:1000)"), "{}", found[1].1);
}

#[test]
fn rootless_infers_the_subordinate_range_from_the_layers() {
    require_root!();
    let root = data_root("rootless");
    let (sub, _) = recorded_range("rootless", "subuid.txt");
    let (subg, _) = recorded_range("rootless", "subgid.txt");
    let owner: u32 = std::fs::read_to_string(answers("rootless").join("rootless-passwd.txt"))
        .unwrap()
        .split(':')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let (code, out, err) = run(&root, &["verify"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("rootless Docker data-root"), "{err}");
    let v = run_json(&root, &["verify"]);
    let ns = &v["userns"];
    assert_eq!(ns["kind"], "rootless");
    assert_eq!(ns["complete"], true);
    assert_eq!(ns["uid_map"][0], serde_json::json!({"inside": 0, "outside": owner, "count": 1}));
    assert_eq!(ns["uid_map"][1]["outside"], sub, "inferred base = the user's /etc/subuid range");
    assert_eq!(ns["gid_map"][1]["outside"], subg);
    assert!(ns["source"].as_str().unwrap().contains("inferred from the layers"), "{ns}");
    assert_eq!(layer_findings(&v), vec![], "no owner or capability warnings");
    // The engine's own choice of driver, recorded by the fixture: overlay2 with userxattr.
    let status = read_json(&answers("rootless").join("driver-status.json"));
    assert!(status.to_string().contains(r#"["userxattr","true"]"#), "{status}");
}

#[test]
fn rootless_reads_the_range_from_host_files() {
    require_root!();
    let root = data_root("rootless");
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir(host.path().join("etc")).unwrap();
    for (from, to) in
        [("subuid.txt", "subuid"), ("subgid.txt", "subgid"), ("rootless-passwd.txt", "passwd")]
    {
        std::fs::copy(answers("rootless").join(from), host.path().join("etc").join(to)).unwrap();
    }
    let (sub, count) = recorded_range("rootless", "subuid.txt");
    let out = strata()
        .arg("--root")
        .arg(&root)
        .arg("--host-root")
        .arg(host.path())
        .args(["verify", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["userns"]["uid_map"][1],
        serde_json::json!({"inside": 1, "outside": sub, "count": count})
    );
    assert!(v["userns"]["source"].as_str().unwrap().contains("strata-rootless"), "{}", v["userns"]);
    assert_eq!(layer_findings(&v), vec![]);
}

#[test]
fn rootless_wrong_owner_is_still_reported() {
    require_root!();
    let copy = copy_tree(&data_root("rootless"));
    let (sub, _) = recorded_range("rootless", "subuid.txt");
    let layer = upper_dir_of(copy.path(), "strata/base:1.0");
    chown(&layer.join("etc/passwd"), 0, 0);
    chown(&layer.join("home/app"), sub, sub); // container id 1, the tar says 1000
    let v = run_json(copy.path(), &["verify"]);
    let found = layer_findings(&v);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "etc/passwd");
    assert!(found[0].1.contains("unmapped:unmapped"), "{}", found[0].1);
    assert_eq!(found[1].0, "home/app");
    assert!(found[1].1.contains("1:1 in the container"), "{}", found[1].1);
    // Still inferred right: two tampered owners are a minority.
    assert_eq!(v["userns"]["uid_map"][1]["outside"], sub);
}

/// An overlay mount made by hand, unmounted on drop.
struct Overlay(PathBuf);

impl Overlay {
    /// Mounts `lower` (top first) under `upper` with redirect_dir and metacopy on;
    /// `None` (after saying why) when the kernel refuses.
    fn mount(lower: &str, upper: &Path, work: &Path, at: &Path) -> Option<Overlay> {
        std::fs::create_dir_all(work).unwrap();
        std::fs::create_dir_all(at).unwrap();
        let opts = format!(
            "lowerdir={lower},upperdir={},workdir={},redirect_dir=on,metacopy=on",
            upper.display(),
            work.display()
        );
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(at)
            .output()
            .unwrap();
        if !out.status.success() {
            skip(&format!(
                "the kernel refuses an overlay mount with redirect_dir=on,metacopy=on: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
        Some(Overlay(at.to_path_buf()))
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn sh(dir: &Path, script: &str) {
    let st = Command::new("sh").arg("-c").arg(script).current_dir(dir).status().unwrap();
    assert!(st.success(), "{script}");
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    xattr::get(path, name).ok().flatten()
}

/// A container's RW layer written through a real overlay mount with redirect_dir and
/// metacopy: a renamed directory (its entries come from the lower path) and a chmod
/// of a lower file (a metadata-only copy). `diff` must see what the merged view shows.
#[test]
fn diff_follows_overlay_redirect_and_metacopy() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ids = read_json(&repo().join("fixtures/basic/ids.json"));
    let id = ids["containers"]["never-started"].as_str().unwrap();
    let v = run_json(copy.path(), &["inspect", id]);
    let data = &v["graph_driver"]["data"];
    let upper = PathBuf::from(data["UpperDir"].as_str().unwrap());
    let work = scratch.path().join("work");
    let merged = scratch.path().join("merged");
    {
        let Some(_m) = Overlay::mount(data["LowerDir"].as_str().unwrap(), &upper, &work, &merged)
        else {
            return;
        };
        sh(&merged, "mv opt/lower opt/moved && chmod 0600 etc/to-modify");
    }
    // What the kernel wrote into the upper dir.
    assert!(xattr(&upper.join("opt/moved"), "trusted.overlay.redirect").is_some());
    assert!(xattr(&upper.join("etc/to-modify"), "trusted.overlay.metacopy").is_some());
    let (code, out, err) = run(copy.path(), &["diff", id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "C /etc",
            "C /etc/to-modify",
            "C /opt",
            "D /opt/lower",
            "A /opt/moved",
            "A /opt/moved/keep.txt"
        ],
        "{err}"
    );
}

/// An image layer changed through an overlay mount (the layer's directory as the
/// upper dir): the renamed directory and the metadata-only copy are named as such.
#[test]
fn verify_names_overlay_redirect_and_metacopy_in_a_layer() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let v = run_json(copy.path(), &["inspect", "strata/app:1"]);
    let data = &v["graph_driver"]["data"];
    let upper = PathBuf::from(data["UpperDir"].as_str().unwrap());
    let before = run_json(copy.path(), &["verify", "strata/app:1"]);
    assert_eq!(layer_findings(&before), vec![]);
    {
        let Some(_m) = Overlay::mount(
            data["LowerDir"].as_str().unwrap(),
            &upper,
            &scratch.path().join("work"),
            &scratch.path().join("merged"),
        ) else {
            return;
        };
        sh(
            &scratch.path().join("merged"),
            "mv opt/app/conf opt/app/config && chmod 0600 opt/app/hello.txt",
        );
    }
    let v = run_json(copy.path(), &["verify", "strata/app:1"]);
    let found = layer_findings(&v);
    let at = |p: &str| {
        found.iter().filter(|(path, _)| path == p).map(|(_, m)| m.as_str()).collect::<Vec<_>>()
    };
    assert!(
        at("opt/app/config")
            .iter()
            .any(|m| m.contains("renamed through an overlay mount with redirect_dir")),
        "{found:?}"
    );
    assert!(at("opt/app/hello.txt").iter().any(|m| m.contains("metadata-only copy")), "{found:?}");
    assert!(at("opt/app/conf").iter().any(|m| m.contains("whiteout")), "{found:?}");
    // The renamed directory's own entries are not in the upper dir: none is listed.
    assert!(at("opt/app/config/app.conf").is_empty(), "{found:?}");
    let errors =
        v["findings"].as_array().unwrap().iter().filter(|f| f["severity"] == "error").count();
    assert!(errors >= 3, "{found:?}");
}

/// A whiteout in the `xwhiteout` form (an empty file with `user.overlay.whiteout`, its
/// directory marked `user.overlay.opaque=x`), which Linux 6.7+ honours in lower layers
/// and which needs no mknod: in a rootless layer, `verify` takes it for the 0/0 device it
/// replaces, and `diff` of a container above still equals the engine's answer.
#[test]
fn xwhiteout_in_a_rootless_layer_is_a_whiteout() {
    require_root!();
    let copy = copy_tree(&data_root("rootless"));
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let v = run_json(copy.path(), &["inspect", "strata/remapped:1"]);
    let data = &v["graph_driver"]["data"];
    let layer = PathBuf::from(data["UpperDir"].as_str().unwrap());
    let motd = layer.join("etc/motd");
    let owner = std::fs::symlink_metadata(&motd).unwrap();
    std::fs::remove_file(&motd).unwrap();
    std::fs::write(&motd, b"").unwrap();
    use std::os::unix::fs::MetadataExt;
    chown(&motd, owner.uid(), owner.gid());
    xattr::set(&motd, "user.overlay.whiteout", b"").unwrap();
    xattr::set(layer.join("etc"), "user.overlay.opaque", b"x").unwrap();
    // The kernel's own reading of it: the file is hidden in the merged view.
    let at = scratch.path().join("merged");
    std::fs::create_dir(&at).unwrap();
    let lower = format!("{}:{}", layer.display(), data["LowerDir"].as_str().unwrap());
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &format!("lowerdir={lower},userxattr")])
        .arg(&at)
        .status()
        .unwrap();
    if !st.success() {
        skip("the kernel refuses a read-only overlay mount with userxattr (xwhiteouts need Linux 6.7+)");
        return;
    }
    let hidden = !at.join("etc/motd").exists() && at.join("etc/passwd").exists();
    let _ = Command::new("umount").arg(&at).status();
    assert!(hidden, "the kernel shows an xwhiteout'd file: not a kernel with xwhiteouts");

    let v = run_json(copy.path(), &["verify"]);
    let loud: Vec<&serde_json::Value> =
        v["findings"].as_array().unwrap().iter().filter(|f| f["severity"] != "info").collect();
    assert!(loud.is_empty(), "{loud:?}");
    let ids = read_json(&repo().join("fixtures/rootless/ids.json"));
    let id = ids["containers"]["changer"].as_str().unwrap();
    let want = std::fs::read_to_string(answers("rootless").join("diff").join(format!("{id}.txt")))
        .unwrap();
    let mut want: Vec<&str> = want.lines().collect();
    want.sort_unstable();
    let (code, out, err) = run(copy.path(), &["diff", id]);
    assert_eq!(code, 0, "{err}");
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    assert_eq!(got, want);
}

/// Two remapped stores (the daemon was run with two remap users): the lowest is read
/// and the other named with the `--root` that reads it; a data-root with a store of
/// its own beside a remapped one is read itself, the remapped one named.
#[test]
fn other_remapped_stores_are_named() {
    require_root!();
    let copy = copy_tree(&data_root("userns"));
    let (base, _) = recorded_range("userns", "subuid.txt");
    let other = format!("{}.{}", base + 65536, base + 65536);
    let st = Command::new("cp")
        .arg("-a")
        .arg(copy.path().join(format!("{base}.{base}")))
        .arg(copy.path().join(&other))
        .status()
        .unwrap();
    assert!(st.success());
    let v = run_json(copy.path(), &["verify"]);
    assert_eq!(v["userns"]["uid_map"][0]["outside"], base);
    let named = |v: &serde_json::Value, what: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "info" && f["message"].as_str().unwrap().contains(what))
    };
    assert!(named(&v, &format!("another userns-remap store {other}/")), "{}", v["findings"]);
    // The other one, read as the note says: its own base from its name.
    let v = run_json(&copy.path().join(&other), &["verify"]);
    assert_eq!(v["userns"]["uid_map"][0]["outside"], base + 65536);

    // A data-root with its own store: read itself, the remapped one named.
    let plain = copy_tree(&data_root("vfs"));
    let st = Command::new("cp")
        .arg("-a")
        .arg(copy.path().join(format!("{base}.{base}")))
        .arg(plain.path())
        .status()
        .unwrap();
    assert!(st.success());
    let v = run_json(plain.path(), &["images"]);
    let want = read_jsonl(&answers("vfs").join("image-ls.jsonl")).len();
    assert_eq!(v.as_array().map(Vec::len), Some(want), "the vfs store's images");
    let (_, _, err) = run(plain.path(), &["images"]);
    assert!(err.contains("a userns-remap store"), "{err}");
}
