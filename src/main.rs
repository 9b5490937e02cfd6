#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // The same binary is each container's supervisor (DESIGN.md §3).
    if let Some(code) = rcompose::supervisor::run_if_requested() {
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    rcompose::cli::main()
}
