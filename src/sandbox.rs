//! The kernel's guard around a scan: once the roots and the output file are open,
//! strata restricts itself with Landlock so that even a bug in a parser fed by an
//! attacker cannot write, read outside the roots or reach the network.
//!
//! strata runs as root on hosts that may be compromised and parses whatever was left
//! there; its read-only, contained reading (`fsread`) is the first guard, this is the
//! second, enforced by the kernel whatever the code does:
//!
//! - **read-only beneath the roots**: files may be read and directories listed beneath
//!   each path of [`Policy::read`] (the data-root, the containerd root, `--host-root`,
//!   `--registry-root`, and the few system files the command reads after loading);
//!   nothing else may be opened, executed or created;
//! - **the output file**: `audit -o FILE` opens its temporary file before the sandbox
//!   starts, so writing it needs no right at all (Landlock checks at open, not at
//!   write); renaming it into place needs `make-reg` and `remove-file` in the output
//!   directory ([`Policy::output_dir`]), and nothing else is granted there: no file
//!   in it may be opened, read or written;
//! - **no network** unless [`Policy::network`]: TCP `bind` and `connect` are denied
//!   (Landlock ABI 4), and so are abstract unix sockets and signals to processes
//!   outside the sandbox (ABI 6 scopes), whatever `network` says;
//! - no mount, no ptrace of other processes, no exec: Landlock denies these to any
//!   restricted process.
//!
//! The ruleset targets ABI 7 (Linux 6.15) and is applied best effort: on an older
//! kernel the rights it does not know stay unrestricted ([`Enforcement::Partial`]),
//! on a kernel without Landlock nothing is ([`Enforcement::NotEnforced`]); the CLI
//! says so once on stderr and goes on. Landlock restricts the calling thread and the
//! threads it starts later, so [`enforce`] refuses to run (and says why) when other
//! threads already exist: strata sandboxes itself before its first thread pool.
//!
//! No seccomp filter: Landlock already denies mount, ptrace and exec, and a syscall
//! deny-list for a root process (modules, kexec, bpf...) is an arms race that a
//! capability drop would do better; see the README.

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use std::path::{Path, PathBuf};

/// The Landlock ABI the ruleset is written for (Linux 6.15: filesystem, TCP, scopes).
const TARGET_ABI: ABI = ABI::V7;

/// What the process may still do once restricted.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Trees (or single files) that may be read: files read, directories listed,
    /// beneath each. Paths that do not exist are left out (nothing to read there).
    pub read: Vec<PathBuf>,
    /// The directory an already-open output file is renamed into: regular files may
    /// be created and removed directly in it, nothing else.
    pub output_dir: Option<PathBuf>,
    /// Whether TCP connections are allowed (`audit --online`, `registry-check`); with
    /// it, the files name resolution and TLS trust need are readable too.
    pub network: bool,
}

/// How much of the policy the running kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Everything in the policy.
    Full,
    /// Some of it: the kernel's Landlock is older than ABI 7 (say, no network rules
    /// before Linux 6.7), the rest is enforced.
    Partial,
    /// Nothing: the kernel has no Landlock, or it is disabled at boot.
    NotEnforced,
}

/// Why the sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Landlock refused the ruleset or a rule.
    #[error("landlock: {0}")]
    Landlock(#[from] landlock::RulesetError),
    /// The output file's directory cannot be opened for its rule.
    #[error("cannot open {}: {source}", dir.display())]
    OutputDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: landlock::PathFdError,
    },
    /// Other threads run already: they would stay unrestricted.
    #[error("{0} threads are already running; they would escape the sandbox")]
    Threads(usize),
}

/// What the runtime itself reads after the sandbox starts, whatever the command:
/// the standard library sizes the thread pool from the cgroup's CPU quota
/// (`available_parallelism`), and glibc's allocator reads the overcommit policy
/// when a thread makes its arena. Readable to anyone; none of them is data.
const RUNTIME_FILES: &[&str] = &[
    "/proc/self/cgroup",
    "/proc/self/mountinfo",
    "/sys/fs/cgroup",
    "/proc/sys/vm/overcommit_memory",
];

/// Files that name resolution and TLS certificate checks read, for a policy with
/// network access.
const NETWORK_FILES: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/lib/ssl",
];

/// Restricts this process (its calling thread and every thread started after) to
/// `policy`, for good. Call it from the main thread before any thread pool exists.
pub fn enforce(policy: &Policy) -> Result<Enforcement, SandboxError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(SandboxError::Threads(threads));
    }
    let read_dir = AccessFs::ReadFile | AccessFs::ReadDir;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))?;
    if !policy.network {
        ruleset = ruleset.handle_access(AccessNet::from_all(TARGET_ABI))?;
    }
    let mut created = ruleset.scope(Scope::from_all(TARGET_ABI))?.create()?;
    let network_files = NETWORK_FILES.iter().map(PathBuf::from);
    let runtime_files = RUNTIME_FILES.iter().map(PathBuf::from);
    let reads = (policy.read.iter().cloned())
        .chain(runtime_files)
        .chain(network_files.filter(|_| policy.network));
    for path in reads {
        // A path that cannot be opened (absent) grants nothing: nothing to read.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        let Ok(fd) = PathFd::new(&path) else { continue };
        // Directory rights on a file are refused by Landlock: a file gets file rights.
        let access = if meta.is_dir() { read_dir } else { AccessFs::ReadFile.into() };
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    if let Some(dir) = &policy.output_dir {
        // Rename within one directory: remove the temporary name, make the final one
        // (and remove the report it replaces). Not `refer`: no cross-directory moves.
        let fd = PathFd::new(dir)
            .map_err(|e| SandboxError::OutputDir { dir: dir.clone(), source: e })?;
        created =
            created.add_rule(PathBeneath::new(fd, AccessFs::MakeReg | AccessFs::RemoveFile))?;
    }
    let status = created.restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::NotEnforced,
    })
}

/// Threads of this process, from `/proc/self/task` (1 when it cannot be read).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(1)
}

/// The directory a file named by `dest` lives in (`.` for a bare name).
pub fn parent_dir(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Test-only: what the hidden `STRATA_SANDBOX_PROBE=DIR` (and
/// `STRATA_SANDBOX_PROBE_PORT=PORT`) environment asks the CLI to try once the sandbox
/// is on, so the tests can show that the kernel refuses a write or a read outside the
/// roots and a TCP connection. Not a feature: never documented in `--help`.
#[derive(Debug, Clone)]
pub struct Probe {
    dir: PathBuf,
    port: Option<u16>,
}

impl Probe {
    /// The probe the environment asks for, if any.
    pub fn from_env() -> Option<Self> {
        let dir = PathBuf::from(std::env::var_os("STRATA_SANDBOX_PROBE")?);
        let port = std::env::var("STRATA_SANDBOX_PROBE_PORT").ok().and_then(|p| p.parse().ok());
        Some(Self { dir, port })
    }

    /// Tries to create and write `DIR/probe-written`, to read `DIR/probe-secret`, and
    /// to connect to `127.0.0.1:PORT`; one `(what, outcome)` per attempt.
    pub fn run(&self) -> Vec<(&'static str, std::io::Result<()>)> {
        use std::io::{Read, Write};
        let mut out = Vec::new();
        let written = std::fs::File::create(self.dir.join("probe-written"))
            .and_then(|mut f| f.write_all(b"written under the sandbox\n"));
        out.push(("write", written));
        let read = std::fs::File::open(self.dir.join("probe-secret"))
            .and_then(|mut f| f.read_to_end(&mut Vec::new()).map(|_| ()));
        out.push(("read", read));
        if let Some(port) = self.port {
            let connect = std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ());
            out.push(("connect", connect));
        }
        out
    }
}
