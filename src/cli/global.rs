//! Options every command takes, named as in `docker compose`.

use std::path::PathBuf;

use crate::compose::LoadOptions;

#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first Compose file)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable)
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// Control when to print ANSI control characters
    #[arg(long, default_value = "auto", value_parser = ["never", "always", "auto"])]
    pub ansi: String,
    /// Include all resources, even those not used by services
    #[arg(long)]
    pub all_resources: bool,
    /// Set type of progress output
    #[arg(long, default_value = "auto", value_parser = ["auto", "tty", "plain", "json", "quiet"])]
    pub progress: String,
}

impl GlobalArgs {
    /// Loader options from these flags plus the process (environment, cwd).
    pub fn load_options(&self, services: &[String]) -> std::io::Result<LoadOptions> {
        let mut o = LoadOptions::from_process()?;
        o.files = self.files.clone();
        if o.files.iter().any(|f| f.as_os_str() == "-") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            o.stdin = Some(text);
        }
        o.project_name = self.project_name.clone();
        o.project_directory = self.project_directory.clone();
        o.env_files = self.env_files.clone();
        o.profiles = self.profile.clone();
        o.services = services.to_vec();
        Ok(o)
    }
}
