//! The system-call floor of a strata command (issue 15's benches): replays the file
//! operations one run of strata made, recorded by `strace -y`, with the same flags and
//! under the same sandbox, and parses nothing. No reader of those files, strata or any
//! other, can take less time on this machine than this replay: what strata takes above
//! it is its own work (parsing, the graph, the checks, the output).
//!
//! `syscall_floor ROOT OPS [THREADS]`. OPS has one operation per line, `KIND<TAB>PATH`,
//! PATH relative to ROOT (`benches/bighost.sh` writes it from the trace):
//! - `R` a whole file, as strata reads one ([`SafeDir::read_file`]: `openat2` beneath ROOT,
//!   `fstat`, `read`, `close`);
//! - `P` a presence probe ([`SafeDir::exists`]: an `O_PATH` open and its `close`);
//! - `D` a directory listed ([`SafeDir::read_dir`]);
//! - `L` a `readlinkat` and `S` an `lstat`, from the root's descriptor: strata makes these
//!   relative to a directory it holds open, which `SafeDir` does not offer from a path
//!   without opening the parent first (two calls more).
//!
//! THREADS (default: the cores) take the operations in turn, in blocks of 64. Prints
//! the operations done and the bytes read.
use nix::fcntl::{readlinkat, AtFlags, OFlag};
use nix::sys::stat::fstatat;
use std::io::BufRead;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use strata::fsread::SafeDir;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: syscall_floor ROOT OPS [THREADS]");
        std::process::exit(2);
    }
    let root_path = PathBuf::from(&args[1]);
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("syscall_floor: {what}: {e}");
        std::process::exit(2)
    };
    let list = std::fs::File::open(&args[2]).unwrap_or_else(|e| fail(&args[2], &e));
    let ops: Vec<(u8, PathBuf)> = std::io::BufReader::new(list)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let (k, p) = l.split_once('\t')?;
            Some((*k.as_bytes().first()?, PathBuf::from(p)))
        })
        .collect();
    let threads = args
        .get(3)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let root: OwnedFd = nix::fcntl::open(
        &root_path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap_or_else(|e| fail(&args[1], &e));
    let dir = SafeDir::open_root(&root_path).unwrap_or_else(|e| fail(&args[1], &e));
    // The same sandbox as strata (Landlock, the seccomp filter, nodev when root), set up
    // before the first thread as strata does: its checks on every open are part of the cost.
    if let Err(e) = strata::sandbox::enforce(&strata::sandbox::Policy {
        read: vec![root_path.clone()],
        ..Default::default()
    }) {
        eprintln!("syscall_floor: without the sandbox: {e}");
    }
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let bytes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let start = next.fetch_add(64, Ordering::Relaxed);
                if start >= ops.len() {
                    break;
                }
                for (kind, rel) in &ops[start..(start + 64).min(ops.len())] {
                    let ok = match kind {
                        b'R' => dir.read_file(rel, u64::MAX).is_ok_and(|b| {
                            bytes.fetch_add(b.len(), Ordering::Relaxed);
                            true
                        }),
                        b'P' => dir.exists(rel),
                        b'D' => dir.read_dir(rel).is_ok(),
                        b'L' => readlinkat(root.as_fd(), rel).is_ok(),
                        b'S' => fstatat(root.as_fd(), rel, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok(),
                        _ => false,
                    };
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    println!(
        "{} of {} operations, {} bytes read, {} threads",
        done.load(Ordering::Relaxed),
        ops.len(),
        bytes.load(Ordering::Relaxed),
        threads
    );
}
