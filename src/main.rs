fn main() -> std::process::ExitCode {
    rcompose::cli::main()
}
