//! The `strata` binary: parse arguments, run, map the outcome to an exit status.

mod cli;

fn main() {
    // One malloc arena per core, not glibc's eight. The reader pool parses records on many
    // threads and hands them to the main thread, which builds the graph; with an arena per
    // thread, what each reader freed stays in its own arena, where the main thread cannot
    // reuse it (on a 10,000-image host: 83 MiB peak with glibc's default, 65 MiB with one
    // arena). One arena for all was measured too: its lock made the readers wait on each
    // other (same host, 2 cores, alternating runs: `images` 0.62-0.71 s with one arena,
    // 0.52-0.57 s with two; `audit --metadata-only` 1.61-1.77 s and 99-107 MiB against
    // 1.30-1.51 s and 76-84 MiB). A refused setting leaves glibc's default.
    // SAFETY: called before any other thread exists; mallopt only changes a tunable.
    #[cfg(target_env = "gnu")]
    unsafe {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        libc::mallopt(libc::M_ARENA_MAX, cores.clamp(2, 64) as libc::c_int);
    }
    std::process::exit(cli::main());
}
