//! The `strata` binary: parse arguments, run, map the outcome to an exit status.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
