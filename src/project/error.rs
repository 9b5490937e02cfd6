//! Errors of project operations. Each engine error is kept as its source;
//! the message says which service or resource it concerns.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("service {service:?}: {source}")]
    Image {
        service: String,
        #[source]
        source: crate::image::ImageError,
    },
    #[error(transparent)]
    ImageStore(#[from] crate::image::ImageError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Supervisor(#[from] crate::supervisor::client::SupervisorError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("service {service:?}: {message}")]
    Service { service: String, message: String },
    #[error("dependency failed to start: {message}")]
    Dependency { message: String },
    #[error("no such service: {name}{hint}")]
    NoSuchService { name: String, hint: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The message of `compose::discover::check_project_name`.
    #[error("{0}")]
    InvalidProjectName(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, ProjectError>;

impl ProjectError {
    pub fn service(service: &str, message: impl Into<String>) -> ProjectError {
        ProjectError::Service {
            service: service.to_string(),
            message: message.into(),
        }
    }
}
