//! The kernel's guard around a scan: once the roots are known and the output file is
//! open, before anything under the roots is parsed, strata restricts itself with
//! Landlock and a seccomp filter, so that even a bug in a parser fed by an attacker
//! cannot write, read outside the roots or reach the network.
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
//!   restricted process;
//! - **no device opened** beneath the roots, when root: a private mount namespace with
//!   `nodev` on the roots (`block_devices`), set up just before Landlock.
//!
//! The ruleset targets ABI 7 (Linux 6.15) and is applied best effort: on an older
//! kernel the rights it does not know stay unrestricted ([`Enforcement::Partial`]),
//! on a kernel without Landlock nothing is ([`Enforcement::NotEnforced`]); the CLI
//! says so once on stderr and goes on. Landlock restricts the calling thread and the
//! threads it starts later, so [`enforce`] refuses to run (and says why) when other
//! threads already exist: strata sandboxes itself before its first thread pool.
//!
//! Landlock leaves a gap a root process must not have: it does not guard a file's
//! metadata, so `chmod`, `chown`, `utimensat` and `setxattr` would still reach every
//! file strata may read; and before ABI 9 it does not guard unix sockets named by
//! path (`/run/docker.sock`), nor UDP at all. A short seccomp filter closes those:
//! a fixed deny-list ([`DENIED_SYSCALLS`]) answered with `EPERM`, plus `socket()`
//! (every family without network, `AF_UNIX` with it). It also refuses what no reader
//! ever needs and a root process could abuse: loading kernel modules, kexec, bpf,
//! ptrace, namespaces, mounts, keyrings, the clock, and io_uring (whose operations
//! would pass the filter unseen). A deny-list, not an allow-list:
//! an allow-list of every call the standard library, glibc and rayon make is what
//! would not stay simple.

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

/// System calls the seccomp filter refuses with `EPERM`, by number for this
/// architecture: metadata changes Landlock does not cover, and the calls of a root
/// process that a reader never makes.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub const DENIED_SYSCALLS: &[i64] = &[
    // File metadata: not covered by Landlock.
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    452, // fchmodat2
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_setxattr,
    libc::SYS_lsetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_removexattr,
    libc::SYS_lremovexattr,
    libc::SYS_fremovexattr,
    463, // setxattrat
    466, // removexattrat
    libc::SYS_utimensat,
    libc::SYS_mknodat,
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    // The kernel and the machine.
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_fanotify_init,
    libc::SYS_userfaultfd,
    // io_uring runs its operations inside the kernel, where this filter never sees them:
    // a ring could set an xattr or open a socket the calls above refuse. Nothing in
    // strata uses one.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    // Other processes, namespaces, mounts, keyrings.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // The same on x86_64 under their older names.
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chmod,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lchown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_utime,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_utimes,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_futimesat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mknod,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// Installs the seccomp filter on the calling thread (inherited by the threads it
/// starts). `Err` says why it could not be.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn filter_syscalls(network: bool) -> Result<(), String> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    use std::collections::BTreeMap;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED_SYSCALLS.iter().map(|&n| (n, Vec::new())).collect();
    // No rule: every socket() is refused. With network, only unix sockets (the
    // engine's API socket is one), which name resolution can do without.
    let socket = if network {
        let unix = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Eq,
            libc::AF_UNIX as u64,
        )
        .map_err(|e| e.to_string())?;
        vec![SeccompRule::new(vec![unix]).map_err(|e| e.to_string())?]
    } else {
        Vec::new()
    };
    rules.insert(libc::SYS_socket, socket);
    let arch =
        std::env::consts::ARCH.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    let program: seccompiler::BpfProgram =
        filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    // A filter needs no_new_privs (or CAP_SYS_ADMIN); Landlock has set it already.
    // SAFETY: prctl with constant arguments changes only this process's flags.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn filter_syscalls(_network: bool) -> Result<(), String> {
    Err(format!("no system call filter for {}", std::env::consts::ARCH))
}

/// How much of the sandbox this kernel enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforced {
    /// The Landlock ruleset.
    pub landlock: Enforcement,
    /// Why the seccomp filter is not installed, if it is not.
    pub filter_missing: Option<String>,
    /// Why device nodes beneath the roots can still be opened, if they can (see
    /// `block_devices`): a process that is not root may not make a mount namespace.
    pub devices_open: Option<String>,
}

/// Restricts this process (its calling thread and every thread started after) to
/// `policy`, for good. Call it from the main thread before any thread pool exists.
pub fn enforce(policy: &Policy) -> Result<Enforced, SandboxError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(SandboxError::Threads(threads));
    }
    let devices_open = block_devices(&policy.read).err();
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
    let landlock = match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::NotEnforced,
    };
    Ok(Enforced { landlock, filter_missing: filter_syscalls(policy.network).err(), devices_open })
}

/// Makes every device node beneath the directories of `read` impossible to open, for this
/// process only: a mount namespace of its own, every mount in it private (so nothing done
/// here reaches the host's mounts), each root bound onto itself, and `nodev` set on that
/// mount and every mount beneath it (`mount_setattr`, Linux 5.12).
///
/// Why: a device node planted in a store would otherwise be opened before strata's own
/// check (the `fstat` of what was opened) refuses it, and some drivers act on open (a
/// watchdog, a tape). With `nodev` the kernel refuses the open itself, and no driver is
/// reached. Checking each file first would cost a system call per file; this costs a few,
/// once. Only root may do it; elsewhere the reason is returned and the scan goes on.
fn block_devices(read: &[PathBuf]) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    /// `struct mount_attr` of `mount_setattr(2)`.
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    use nix::mount::{mount, MsFlags};
    let none = None::<&str>;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("a mount namespace of its own: {e}"))?;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| format!("making its mounts private: {e}"))?;
    for dir in read.iter().filter(|p| p.is_dir()) {
        let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { continue };
        // mount_setattr takes only the root of a mount: the root is bound onto itself
        // first (with what is mounted beneath it), in this namespace only.
        mount(Some(dir.as_path()), dir.as_path(), none, MsFlags::MS_BIND | MsFlags::MS_REC, none)
            .map_err(|e| format!("binding {} onto itself: {e}", dir.display()))?;
        let attr =
            MountAttr { attr_set: MOUNT_ATTR_NODEV, attr_clr: 0, propagation: 0, userns_fd: 0 };
        // SAFETY: `path` is NUL-terminated and `attr` is a mount_attr of the size given;
        // both outlive the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                path.as_ptr(),
                AT_RECURSIVE,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!("nodev on {}: {e}", dir.display()));
        }
    }
    Ok(())
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

    /// Tries to create and write `DIR/probe-written`, to read `DIR/probe-secret`, to
    /// change its mode (the same), to make an io_uring, and to connect to
    /// `127.0.0.1:PORT`; one `(what, outcome)` per attempt.
    pub fn run(&self) -> Vec<(&'static str, std::io::Result<()>)> {
        use std::io::{Read, Write};
        let mut out = Vec::new();
        let written = std::fs::File::create(self.dir.join("probe-written"))
            .and_then(|mut f| f.write_all(b"written under the sandbox\n"));
        out.push(("write", written));
        let read = std::fs::File::open(self.dir.join("probe-secret"))
            .and_then(|mut f| f.read_to_end(&mut Vec::new()).map(|_| ()));
        out.push(("read", read));
        let secret = self.dir.join("probe-secret");
        let chmod = std::fs::metadata(&secret)
            .and_then(|m| std::fs::set_permissions(&secret, m.permissions()));
        out.push(("chmod", chmod));
        // A ring would carry out what the filter refuses as direct calls (an xattr, a
        // socket), so making one must be refused itself.
        // struct io_uring_params, all zero: the defaults.
        let mut params = [0u8; 120];
        // SAFETY: io_uring_setup writes at most the 120 bytes of `params`; a descriptor it
        // returns is closed at once.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
        let uring = if fd < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
            unsafe { libc::close(fd as libc::c_int) };
            Ok(())
        };
        out.push(("io_uring", uring));
        if let Some(port) = self.port {
            let connect = std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ());
            out.push(("connect", connect));
        }
        out
    }
}
