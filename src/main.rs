fn main() {
    if let Some(code) = rcompose::supervisor::run_if_requested() {
        std::process::exit(code);
    }
}
