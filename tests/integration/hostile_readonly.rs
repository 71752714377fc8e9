//! Read-only: no strata command changes a byte (or a mode, owner, time, xattr, link
//! or file type) of the data-root it reads, and every command works on a tree it
//! can only read (a read-only bind mount) with the same answers.

use crate::support::hostile::*;
use crate::support::*;
use std::time::Duration;

const REFS: &[&str] = &["strata/app:1", "strata/base:1.0"];
const BOUND: Duration = Duration::from_secs(120);

fn args(cmd: &[String], format: &str) -> Vec<String> {
    let mut a = cmd.to_vec();
    a.extend(["--format".to_owned(), format.to_owned()]);
    a
}

fn check_untouched(fixture: &str) {
    let copy = copy_tree(&data_root(fixture));
    let before = fingerprint(copy.path());
    assert!(before.len() > 100, "{fixture}: fingerprint saw only {} entries", before.len());
    let commands = all_commands_for(copy.path(), REFS);
    for cmd in &commands {
        for format in ["table", "json"] {
            let a = args(cmd, format);
            let o = run_bounded(copy.path(), &a, BOUND);
            assert!(!o.timed_out, "{fixture}: strata {a:?} did not finish in {BOUND:?}");
            assert!(
                !o.stderr.contains("panicked"),
                "{fixture}: strata {a:?} panicked: {}",
                o.stderr
            );
            assert!(
                matches!(o.code, Some(0..=2)),
                "{fixture}: strata {a:?} exited {:?}: {}",
                o.code,
                o.stderr
            );
            let after = fingerprint(copy.path());
            assert!(
                before == after,
                "{fixture}: strata {a:?} changed the data-root:\n{}",
                diff(&before, &after)
            );
        }
    }
}

#[test]
fn no_command_changes_the_basic_fixture() {
    require_root!();
    check_untouched("basic");
}

#[test]
fn no_command_changes_the_trixie26_fixture() {
    require_root!();
    check_untouched("trixie26");
}

#[test]
fn no_command_changes_the_vfs_fixture() {
    require_root!();
    check_untouched("vfs");
}

#[test]
fn no_command_changes_the_containerd_store_fixture() {
    require_root!();
    check_untouched("containerd-store");
}

/// The fingerprint is not blind: it sees a one-byte change, a chmod, an mtime, an
/// xattr and a new file, so "unchanged" above means something.
#[test]
fn the_fingerprint_sees_every_kind_of_change() {
    require_root!();
    let copy = copy_tree(&data_root("basic"));
    let p = copy.path();
    let file = walkdir::WalkDir::new(p.join("image"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && e.path().ends_with("size"))
        .unwrap()
        .into_path();
    let base = fingerprint(p);
    type Change<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let changes: Vec<Change> = vec![
        (
            "content",
            Box::new(|| {
                let mut b = std::fs::read(&file).unwrap();
                b[0] ^= 1;
                std::fs::write(&file, b).unwrap()
            }),
        ),
        (
            "mode",
            Box::new(|| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap()
            }),
        ),
        (
            "mtime",
            Box::new(|| {
                std::fs::File::options()
                    .write(true)
                    .open(&file)
                    .unwrap()
                    .set_modified(std::time::UNIX_EPOCH)
                    .unwrap()
            }),
        ),
        ("xattr", Box::new(|| xattr::set(&file, "user.strata-test", b"x").unwrap())),
        ("new file", Box::new(|| std::fs::write(p.join("image/new"), b"").unwrap())),
    ];
    let mut prev = base;
    for (what, change) in changes {
        change();
        let now = fingerprint(p);
        assert!(now != prev, "fingerprint missed a {what} change");
        prev = now;
    }
}

#[test]
fn every_command_works_on_a_read_only_mount() {
    require_root!();
    let src = data_root("basic");
    let Some(ro) = RoMount::new(&src) else { return };
    // The mount really is read-only.
    assert!(std::fs::write(ro.path.join("probe"), b"x").is_err(), "bind mount is writable");
    for cmd in all_commands(REFS) {
        let a = args(&cmd, "json");
        let on_ro = run_bounded(&ro.path, &a, BOUND);
        let on_rw = run_bounded(&src, &a, BOUND);
        assert!(
            !on_ro.timed_out && !on_ro.stderr.contains("panicked"),
            "strata {a:?} on ro: {}",
            on_ro.stderr
        );
        assert_eq!(
            on_ro.code, on_rw.code,
            "strata {a:?}: exit status differs on a read-only mount: {}",
            on_ro.stderr
        );
        assert!(
            matches!(on_ro.code, Some(0 | 1)),
            "strata {a:?} on ro exited {:?}: {}",
            on_ro.code,
            on_ro.stderr
        );
        serde_json::from_str::<serde_json::Value>(&on_ro.stdout)
            .unwrap_or_else(|e| panic!("strata {a:?}: {e}: {}", on_ro.stdout));
        // Answers are the same but for where the root is (and the clock).
        assert_eq!(
            stable_json(&on_ro.stdout, &ro.path),
            stable_json(&on_rw.stdout, &src),
            "strata {a:?} answers differently on a read-only mount"
        );
    }
}
