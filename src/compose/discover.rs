//! Which files make the project, where it lives and what it is called —
//! Docker Compose's rules, as pure functions of paths and settings.

use std::path::{Path, PathBuf};

use super::diag::{Diag, Span};

/// Names searched, in Docker Compose's order of preference, in each
/// directory going up (`docker-compose.yml` before `.yaml`, as it always was).
pub const COMPOSE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Override files, any of which goes with any of the names above.
pub const OVERRIDE_NAMES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

#[derive(Debug, PartialEq)]
pub struct Found {
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct DiscoverError {
    pub start: PathBuf,
}

impl DiscoverError {
    pub fn into_diag(self) -> Diag {
        Diag::error(
            Span::NONE,
            format!(
                "no configuration file provided: not found (searched {} and its parents)",
                self.start.display()
            ),
        )
        .with_help(format!(
            "create one of {} or name one with -f",
            COMPOSE_NAMES.join(", ")
        ))
    }
}

/// The compose file in `start` or the nearest parent that has one, plus its
/// override file (`compose.override.yaml` beside `compose.yaml`, …).
pub fn find_compose_files(start: &Path) -> Result<Found, DiscoverError> {
    for dir in start.ancestors() {
        let present: Vec<&str> = COMPOSE_NAMES
            .iter()
            .copied()
            .filter(|n| dir.join(n).is_file())
            .collect();
        let Some(first) = present.first() else {
            continue;
        };
        let mut warnings = Vec::new();
        if present.len() > 1 {
            let all: Vec<String> = present.iter().map(|n| dir.join(n).display().to_string()).collect();
            warnings.push(format!(
                "Found multiple config files with supported names: {}\nUsing {}",
                all.join(", "),
                dir.join(first).display()
            ));
        }
        let mut files = vec![dir.join(first)];
        if let Some(o) = OVERRIDE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
            files.push(o);
        }
        return Ok(Found { files, warnings });
    }
    Err(DiscoverError {
        start: start.to_path_buf(),
    })
}

/// `COMPOSE_FILE`: a list split by `COMPOSE_PATH_SEPARATOR` (default `:`).
pub fn split_compose_file_env(value: &str, separator: Option<&str>) -> Vec<PathBuf> {
    let sep = separator.filter(|s| !s.is_empty()).unwrap_or(":");
    value
        .split(sep)
        .filter(|s| !s.trim().is_empty())
        .map(|s| PathBuf::from(s.trim()))
        .collect()
}

/// Comma-separated settings (`COMPOSE_PROFILES`, `COMPOSE_ENV_FILES`).
pub fn split_env_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `--project-directory`, else the first file's directory (stdin: the cwd).
pub fn project_directory(flag: Option<&Path>, files: &[PathBuf], cwd: &Path) -> PathBuf {
    if let Some(f) = flag {
        return if f.is_absolute() { f.to_path_buf() } else { cwd.join(f) };
    }
    match files.first() {
        Some(f) if f.as_os_str() != "-" => f.parent().map(Path::to_path_buf).unwrap_or_else(|| cwd.to_path_buf()),
        _ => cwd.to_path_buf(),
    }
}

/// Docker Compose's normalization of a directory name into a project name.
pub fn normalize_project_name(s: &str) -> String {
    let lowered: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered.trim_start_matches(['_', '-']).to_string()
}

/// Names given explicitly must already be valid: they are never rewritten.
pub fn check_project_name(s: &str) -> Result<(), String> {
    let ok = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid project name \"{s}\": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        ))
    }
}

/// `-p` > `COMPOSE_PROJECT_NAME` > `name:` > the project directory's name.
pub fn project_name(
    flag: Option<&str>,
    env: Option<&str>,
    in_file: Option<&str>,
    project_dir: &Path,
) -> Result<String, String> {
    for explicit in [flag, env, in_file].into_iter().flatten() {
        if !explicit.is_empty() {
            check_project_name(explicit)?;
            return Ok(explicit.to_string());
        }
    }
    let base = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = normalize_project_name(&base);
    if name.is_empty() {
        return Err(format!(
            "project name derived from directory \"{base}\" is empty after normalization: use -p or `name:` to set one"
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nearest_file_and_its_override() {
        let t = tempfile::tempdir().unwrap();
        let deep = t.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(t.path().join("docker-compose.yml"), "").unwrap();
        std::fs::write(t.path().join("docker-compose.override.yml"), "").unwrap();
        std::fs::write(t.path().join("compose.override.yaml"), "").unwrap();
        let f = find_compose_files(&deep).unwrap();
        // Any override goes with any main file; compose.override.* comes first.
        assert_eq!(
            f.files,
            vec![
                t.path().join("docker-compose.yml"),
                t.path().join("compose.override.yaml")
            ]
        );
        assert!(f.warnings.is_empty());

        std::fs::write(t.path().join("compose.yaml"), "").unwrap();
        let f = find_compose_files(&deep).unwrap();
        assert_eq!(
            f.files,
            vec![t.path().join("compose.yaml"), t.path().join("compose.override.yaml")]
        );
        assert!(f.warnings[0].starts_with("Found multiple config files with supported names"));
    }

    #[test]
    fn not_found_names_what_to_do() {
        let t = tempfile::tempdir().unwrap();
        let d = find_compose_files(t.path()).unwrap_err().into_diag();
        assert!(d.message.starts_with("no configuration file provided: not found"));
        assert!(d.help.unwrap().contains("compose.yaml"));
    }

    #[test]
    fn settings_lists() {
        assert_eq!(
            split_compose_file_env("a.yml:b.yml", None),
            vec![PathBuf::from("a.yml"), PathBuf::from("b.yml")]
        );
        assert_eq!(split_compose_file_env("a.yml;b.yml", Some(";")).len(), 2);
        assert_eq!(split_env_list(" debug, ,monitoring "), vec!["debug", "monitoring"]);
    }

    #[test]
    fn project_names() {
        assert_eq!(normalize_project_name("My.Project_Dir"), "myproject_dir");
        assert_eq!(normalize_project_name("__x-Y"), "x-y");
        let dir = Path::new("/srv/My App");
        assert_eq!(project_name(Some("p"), Some("e"), Some("f"), dir).unwrap(), "p");
        assert_eq!(project_name(None, Some("e"), Some("f"), dir).unwrap(), "e");
        assert_eq!(project_name(None, None, Some("f"), dir).unwrap(), "f");
        assert_eq!(project_name(None, None, None, dir).unwrap(), "myapp");
        assert!(project_name(Some("Bad Name"), None, None, dir)
            .unwrap_err()
            .contains("invalid project name \"Bad Name\""));
        assert!(project_name(None, None, None, Path::new("/srv/...")).is_err());
    }

    #[test]
    fn project_directory_rules() {
        let cwd = Path::new("/work");
        assert_eq!(
            project_directory(Some(Path::new("x")), &[], cwd),
            PathBuf::from("/work/x")
        );
        assert_eq!(
            project_directory(None, &[PathBuf::from("/a/b/c.yaml")], cwd),
            PathBuf::from("/a/b")
        );
        assert_eq!(
            project_directory(None, &[PathBuf::from("-")], cwd),
            PathBuf::from("/work")
        );
    }
}
