//! Minimal entry point to try the image commands; the full CLI replaces
//! this file when the branches merge (nothing real lives here).
use clap::Parser;
use rcompose::cli::image::{self, ImageCommand, LoginArgs, LogoutArgs};

#[derive(Parser)]
#[command(name = "rcompose")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
}

fn main() {
    let cli = Cli::parse();
    let root = rcompose::store::Root::from_env();
    let result = match cli.cmd {
        Cmd::Image(c) => image::run(c, &root),
        Cmd::Login(a) => image::login(&a),
        Cmd::Logout(a) => image::logout(&a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    }
}
