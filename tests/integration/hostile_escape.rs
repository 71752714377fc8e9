//! Never read outside the root, never open anything for writing: a copy of a fixture
//! with symlinks planted everywhere strata looks (a layer's diff directory, a
//! container directory, the image config, repositories.json, overlay2 `l/` links,
//! all pointing at a directory outside the root holding plausible files and a FIFO),
//! and every command run under `strace -f -y`. Every file it opens must be under the
//! root or a system path (the dynamic loader, /proc, /sys), and none for writing.
//! Skips when strace is missing.

use crate::support::hostile::*;
use crate::support::*;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

const SYSTEM: &[&str] =
    &["/etc/ld.so.cache", "/proc/", "/sys/", "/usr/lib/", "/lib/", "/lib64/", "/dev/"];

fn first_dir(p: &Path) -> std::path::PathBuf {
    let mut v: Vec<_> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    v.sort();
    v.into_iter().find(|d| d.file_name().unwrap() != "l").unwrap()
}

#[test]
fn planted_symlinks_never_lead_outside_and_nothing_is_opened_for_writing() {
    require_root!();
    require_tool!("strace", "-V", "apt-get install strace");
    let copy = copy_tree(&data_root("basic"));
    let root = copy.path();
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path();
    // Plausible targets outside: a config, a container dir, a layer tree, a FIFO.
    std::fs::write(
        o.join("config.json"),
        br#"{"rootfs":{"type":"layers","diff_ids":[]},"os":"linux"}"#,
    )
    .unwrap();
    std::fs::write(
        o.join("repositories.json"),
        br#"{"Repositories":{"x":{"x:latest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(o.join("container")).unwrap();
    std::fs::write(o.join("container/config.v2.json"), br#"{"ID":"x"}"#).unwrap();
    std::fs::create_dir_all(o.join("tree/etc")).unwrap();
    std::fs::write(o.join("tree/etc/shadow"), b"secret").unwrap();
    nix::unistd::mkfifo(&o.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();

    let files = pick_files(root);
    let get = |label: &str| root.join(&files.iter().find(|(l, _)| *l == label).unwrap().1);
    let replace = |p: &Path, target: &Path| {
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
        symlink(target, p).unwrap();
    };
    replace(&get("image config"), &o.join("config.json"));
    replace(&get("repositories.json"), &o.join("repositories.json"));
    replace(&get("tar-split"), &o.join("fifo"));
    replace(get("container config").parent().unwrap(), &o.join("container"));
    // A layer's files, and an overlay2 short link, lead out.
    let layer_dir = first_dir(&root.join("overlay2"));
    replace(&layer_dir.join("diff"), &o.join("tree"));
    let l = root.join("overlay2/l");
    let short = std::fs::read_dir(&l).unwrap().next().unwrap().unwrap().path();
    replace(&short, &o.join("tree"));
    // A relative escape too: ../../.. out of the root.
    let depth = root.components().count() + 2;
    symlink(
        format!(
            "{}{}",
            "../".repeat(depth),
            o.join("tree").display().to_string().trim_start_matches('/')
        ),
        root.join("overlay2/l/ESCAPE"),
    )
    .unwrap();

    let root_s = root.display().to_string();
    let o_s = o.display().to_string();
    // The check itself can fail: `cat` of a file outside, traced the same way, is caught.
    let (trace, _) = traced(Command::new("cat").arg(o.join("config.json")));
    assert!(
        !problems_in(&trace, &root_s, &o_s, "cat").is_empty(),
        "the trace check misses an open outside the root"
    );
    let mut problems = Vec::new();
    for cmd in all_commands_for(&data_root("basic"), &["strata/app:1", "changer"]) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
        c.arg("--root").arg(root).args(&cmd).args(["--format", "json"]);
        let (trace, err) = traced(&mut c);
        assert!(!err.contains("panicked"), "{cmd:?}: {err}");
        assert!(
            trace.contains("openat2("),
            "{cmd:?}: the trace shows no openat2 call: is strace working?"
        );
        problems.extend(problems_in(&trace, &root_s, &o_s, &format!("{cmd:?}")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs `cmd` under strace, one log per thread (so no call is split into
/// unfinished/resumed halves); returns the joined trace and the command's stderr.
fn traced(cmd: &mut Command) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let prog = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let out = Command::new("strace")
        .args(["-ff", "-qq", "-y", "-e", "trace=open,openat,openat2,creat,truncate,unlink,unlinkat,rename,renameat,renameat2,mkdir,mkdirat,chmod,fchmodat,chown,fchownat,utimensat,setxattr,lsetxattr,fsetxattr", "-o"])
        .arg(dir.path().join("trace"))
        .arg(prog)
        .args(args)
        .output()
        .unwrap();
    let mut trace = String::new();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        trace.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
    }
    (trace, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Calls that change anything, opens for writing, and opens of files outside the
/// root (`o`: the planted targets) or of non-system files elsewhere.
fn problems_in(trace: &str, root_s: &str, o_s: &str, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for line in trace.lines() {
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        // strace's note of a thread it let go mid-call when the process exited (the reader
        // pool's idle threads): no call strata made, and nothing to judge.
        if line.starts_with("???(") && line.contains("<detached") {
            continue;
        }
        let call = line.split('(').next().unwrap_or("");
        if !call.starts_with("open") {
            problems.push(format!("{what} made a changing call: {line}"));
            continue;
        }
        if (line.contains("O_WRONLY")
            || line.contains("O_RDWR")
            || line.contains("O_CREAT")
            || line.contains("O_TRUNC"))
            && !line.contains("</dev/")
        {
            problems.push(format!("{what} opened for writing: {line}"));
        }
        // The path of a successful open: `= N</path>`.
        let Some(opened) = line
            .rsplit_once(") = ")
            .and_then(|(_, r)| r.split_once('<'))
            .map(|(_, p)| p.trim_end_matches('>'))
        else {
            continue;
        };
        if opened.starts_with(o_s) {
            problems.push(format!("{what} opened {opened} outside the root: {line}"));
        } else if !opened.starts_with(root_s) && !SYSTEM.iter().any(|s| opened.starts_with(s)) {
            problems.push(format!(
                "{what} opened {opened}, neither under the root nor a system file: {line}"
            ));
        }
    }
    problems
}
