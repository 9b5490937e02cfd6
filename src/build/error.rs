//! Build errors: what went wrong, and where in the Dockerfile when a line
//! is to blame.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub struct BuildError {
    /// The Dockerfile (or `.dockerignore`) at fault, when one is.
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, BuildError>;

impl BuildError {
    pub fn new(message: impl Into<String>) -> BuildError {
        BuildError {
            file: None,
            line: None,
            message: message.into(),
        }
    }

    pub fn at(file: &std::path::Path, line: usize, message: impl Into<String>) -> BuildError {
        BuildError {
            file: Some(file.to_path_buf()),
            line: Some(line),
            message: message.into(),
        }
    }

    pub fn image(e: crate::image::ImageError) -> BuildError {
        BuildError::new(e.to_string())
    }

    pub fn runtime(e: crate::runtime::RuntimeError) -> BuildError {
        BuildError::new(e.to_string())
    }

    /// Points the error at `file:line` unless it already points somewhere.
    pub fn located(mut self, file: &std::path::Path, line: usize) -> BuildError {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
            self.line = Some(line);
        }
        self
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for BuildError {}
