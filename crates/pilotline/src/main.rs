//! The `pilotline` binary: see `pilotline --help`.

fn main() -> std::process::ExitCode {
    pilotline::main()
}
