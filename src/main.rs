//! The `strata` binary: parse arguments, run, map the outcome to an exit status.

mod cli;

fn main() {
    // One malloc arena for every thread. The reader pool parses records on many threads
    // and hands them to the main thread, which builds the graph; with an arena per
    // thread, what each reader freed stays in its own arena, where the main thread cannot
    // reuse it (on a 10,000-image host: 83 MiB peak with glibc's default, 65 MiB with
    // one arena). The threads spend their time in system calls, not in malloc, so the
    // shared lock costs little. A refused setting leaves glibc's default.
    // SAFETY: called before any other thread exists; mallopt only changes a tunable.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    std::process::exit(cli::main());
}
