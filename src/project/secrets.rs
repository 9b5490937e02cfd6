//! A service's `secrets:` and `configs:` → what the container mounts, as
//! Docker Compose does without swarm: a `file:` source is bind-mounted
//! read-only; an `environment:` or `content:` source (and a file given its
//! own `uid`/`gid`/`mode`) becomes a file the runtime writes into the
//! container's directory and mounts read-only ([`InjectedFile`]). Secrets
//! go to `/run/secrets/<name>` or their `target` (relative: under
//! `/run/secrets/`), configs to `/<name>` or their `target`.
//!
//! A source that cannot be honoured (external swarm objects, drivers, a
//! missing file or variable) is an error naming the service and the
//! secret or config, never a skipped mount.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compose::model::{Config, FileRef, Secret, Service};
use crate::runtime::{InjectedFile, MountSpec, Propagation};

use super::error::{ProjectError, Result};
use super::translate::ProjectContext;

/// The files a container gets: mounts of host files, and files to write.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileMounts {
    pub mounts: Vec<MountSpec>,
    pub files: Vec<InjectedFile>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Config,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
    fn section(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }
    fn target(self, r: &FileRef) -> String {
        let base = match self {
            Kind::Secret => "/run/secrets/",
            Kind::Config => "/",
        };
        let path = match r.target.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) => format!("{base}{t}"),
            None => format!("{base}{}", r.source),
        };
        clean(&path)
    }
}

/// A container path cleaned lexically as Go's `path.Clean` does for an
/// absolute one (`..` stops at `/`), so that two spellings of one target
/// are seen as one.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A top-level secret or config, whichever it is.
struct Source<'a> {
    file: Option<&'a str>,
    environment: Option<&'a str>,
    content: Option<&'a str>,
    external: bool,
    driver: Option<&'a str>,
    template_driver: Option<&'a str>,
}

impl<'a> From<&'a Secret> for Source<'a> {
    fn from(s: &'a Secret) -> Self {
        Source {
            file: s.file.as_deref(),
            environment: s.environment.as_deref(),
            content: None,
            external: s.external == Some(true),
            driver: s.driver.as_deref(),
            template_driver: s.template_driver.as_deref(),
        }
    }
}

impl<'a> From<&'a Config> for Source<'a> {
    fn from(c: &'a Config) -> Self {
        Source {
            file: c.file.as_deref(),
            environment: c.environment.as_deref(),
            content: c.content.as_deref(),
            external: c.external == Some(true),
            driver: None,
            template_driver: c.template_driver.as_deref(),
        }
    }
}

/// Resolves the service's secrets and configs. `taken` are the targets of
/// its other mounts (volumes, tmpfs): a secret or config on one of them
/// would be hidden, so that is an error.
pub fn file_mounts(cx: &ProjectContext, service_name: &str, service: &Service, taken: &[&str]) -> Result<FileMounts> {
    let mut out = FileMounts::default();
    let mut targets: BTreeMap<String, String> = taken.iter().map(|t| (t.to_string(), "a volume".into())).collect();
    for (kind, refs) in [(Kind::Secret, &service.secrets), (Kind::Config, &service.configs)] {
        for r in refs {
            let what = format!("{} {:?}", kind.word(), r.source);
            let err = |msg: String| ProjectError::service(service_name, format!("{what}: {msg}"));
            let source: Source = match kind {
                Kind::Secret => cx.project.secrets.get(&r.source).map(Source::from),
                Kind::Config => cx.project.configs.get(&r.source).map(Source::from),
            }
            .ok_or_else(|| {
                err(format!(
                    "not declared under top-level `{}:` in {}",
                    kind.section(),
                    files(cx)
                ))
            })?;
            let target = kind.target(r);
            if target == "/" {
                return Err(err(
                    "its target is the container's root: name a file, e.g. target: /etc/app.conf".into(),
                ));
            }
            if let Some(other) = targets.insert(target.clone(), what.clone()) {
                return Err(err(format!(
                    "its target {target} is also the target of {other}: give one of them another `target`"
                )));
            }
            resolve(cx, kind, r, &source, target, &mut out).map_err(err)?;
        }
    }
    Ok(out)
}

/// One reference: a bind mount of the source file, or a file to write.
fn resolve(
    cx: &ProjectContext,
    kind: Kind,
    r: &FileRef,
    source: &Source,
    target: String,
    out: &mut FileMounts,
) -> std::result::Result<(), String> {
    let declared = format!("top-level `{}.{}` in {}", kind.section(), r.source, files(cx));
    if source.external {
        return Err(format!(
            "it is external ({declared}), a swarm object rcompose cannot read: declare it with `file:`{} instead",
            if kind == Kind::Config {
                ", `environment:` or `content:`"
            } else {
                " or `environment:`"
            }
        ));
    }
    if let Some(d) = source.driver {
        return Err(format!(
            "driver {d:?} ({declared}) is a swarm feature Docker Compose does not support either: use `file:` or `environment:`"
        ));
    }
    if let Some(d) = source.template_driver {
        return Err(format!(
            "template_driver {d:?} ({declared}) is a swarm feature Docker Compose does not support either: remove it"
        ));
    }
    let custom = r.uid.is_some() || r.gid.is_some() || r.mode.is_some();
    let content = if let Some(c) = source.content {
        c.as_bytes().to_vec()
    } else if let Some(var) = source.environment {
        cx.environment
            .get(var)
            .ok_or_else(|| {
                format!("environment variable {var:?} ({declared}) is not set: set it in the environment or in .env")
            })?
            .as_bytes()
            .to_vec()
    } else if let Some(file) = source.file {
        let path = absolute(cx.working_dir, file);
        let meta = std::fs::metadata(&path).map_err(|e| {
            format!(
                "cannot use its file {} ({declared}): {}: create the file or correct the path",
                path.display(),
                if e.kind() == std::io::ErrorKind::NotFound {
                    "it does not exist".to_string()
                } else {
                    e.to_string()
                }
            )
        })?;
        if !custom {
            out.mounts.push(MountSpec::Bind {
                source: path,
                target,
                read_only: true,
                propagation: Propagation::Rprivate,
            });
            return Ok(());
        }
        // Its own owner and mode: a copy, as a bind mount shares the
        // host file's.
        if !meta.is_file() {
            return Err(format!(
                "{} is not a regular file: uid, gid and mode apply to a file; remove them to mount it as it is",
                path.display()
            ));
        }
        std::fs::read(&path).map_err(|e| format!("cannot read its file {}: {e}", path.display()))?
    } else {
        return Err(format!(
            "it has no source ({declared}): give it `file:`{}",
            if kind == Kind::Config {
                ", `environment:` or `content:`"
            } else {
                " or `environment:`"
            }
        ));
    };
    let id = |name: &str, v: &Option<String>| -> std::result::Result<u32, String> {
        match v.as_deref() {
            None | Some("") => Ok(0),
            Some(s) => s
                .parse()
                .map_err(|_| format!("{name} {s:?} is not a numeric id: write the number, e.g. {name}: \"1000\"")),
        }
    };
    let mode = r.mode.unwrap_or(0o444);
    if mode > 0o777 {
        return Err(format!(
            "mode {mode:#o} is more than permission bits: write an octal mode up to 0777, e.g. mode: 0440"
        ));
    }
    out.files.push(InjectedFile {
        target,
        content,
        uid: id("uid", &r.uid)?,
        gid: id("gid", &r.gid)?,
        mode,
    });
    Ok(())
}

fn absolute(base: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The Compose files, for messages.
fn files(cx: &ProjectContext) -> String {
    match cx.config_files {
        [] => "the Compose file".to_string(),
        fs => fs
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Project;

    fn cx<'a>(project: &'a Project, env: &'a BTreeMap<String, String>, files: &'a [PathBuf]) -> ProjectContext<'a> {
        ProjectContext {
            project,
            name: "app",
            working_dir: Path::new("/proj"),
            config_files: files,
            environment: env,
        }
    }

    fn refs(names: &[&str]) -> Vec<FileRef> {
        names
            .iter()
            .map(|n| FileRef {
                source: n.to_string(),
                ..FileRef::default()
            })
            .collect()
    }

    #[test]
    fn sources_become_mounts_and_files_at_docker_compose_targets() {
        let t = tempfile::tempdir().unwrap();
        let pw = t.path().join("pw.txt");
        std::fs::write(&pw, "hunter2").unwrap();
        let mut project = Project::default();
        project.secrets.insert(
            "pw".into(),
            Secret {
                file: Some(pw.display().to_string()),
                ..Secret::default()
            },
        );
        project.secrets.insert(
            "token".into(),
            Secret {
                environment: Some("TOKEN".into()),
                ..Secret::default()
            },
        );
        project.configs.insert(
            "conf".into(),
            Config {
                content: Some("a=1\n".into()),
                ..Config::default()
            },
        );
        let env = BTreeMap::from([("TOKEN".to_string(), "t0k".to_string())]);
        let mut service = Service {
            secrets: refs(&["pw", "token"]),
            configs: refs(&["conf"]),
            ..Service::default()
        };
        service.secrets[1].target = Some("api/token".into());
        service.secrets[1].uid = Some("1000".into());
        service.secrets[1].mode = Some(0o400);
        service.configs[0].target = Some("etc/app.conf".into());
        let got = file_mounts(&cx(&project, &env, &[]), "web", &service, &[]).unwrap();
        assert_eq!(
            got.mounts,
            vec![MountSpec::Bind {
                source: pw.clone(),
                target: "/run/secrets/pw".into(),
                read_only: true,
                propagation: Propagation::Rprivate,
            }]
        );
        assert_eq!(
            got.files,
            vec![
                InjectedFile {
                    target: "/run/secrets/api/token".into(),
                    content: b"t0k".to_vec(),
                    uid: 1000,
                    gid: 0,
                    mode: 0o400,
                },
                InjectedFile {
                    target: "/etc/app.conf".into(),
                    content: b"a=1\n".to_vec(),
                    uid: 0,
                    gid: 0,
                    mode: 0o444,
                },
            ]
        );

        // A file with its own mode is copied, not shared.
        service.secrets[0].mode = Some(0o440);
        let got = file_mounts(&cx(&project, &env, &[]), "web", &service, &[]).unwrap();
        assert!(got.mounts.is_empty());
        assert_eq!(got.files[0].content, b"hunter2");
        assert_eq!(got.files[0].mode, 0o440);
    }

    #[test]
    fn targets_are_cleaned() {
        let r = |target: Option<&str>| FileRef {
            source: "s".into(),
            target: target.map(str::to_string),
            ..FileRef::default()
        };
        assert_eq!(Kind::Secret.target(&r(None)), "/run/secrets/s");
        assert_eq!(Kind::Secret.target(&r(Some("a/./b"))), "/run/secrets/a/b");
        assert_eq!(Kind::Secret.target(&r(Some("../../../etc/x"))), "/etc/x");
        assert_eq!(Kind::Config.target(&r(Some("//conf/"))), "/conf");
        assert_eq!(Kind::Config.target(&r(Some("/../../x"))), "/x");
    }

    #[test]
    fn sources_that_cannot_be_honoured_are_errors() {
        let compose = [PathBuf::from("/proj/compose.yaml")];
        let env = BTreeMap::new();
        let mut project = Project::default();
        project.secrets.insert(
            "ext".into(),
            Secret {
                external: Some(true),
                ..Secret::default()
            },
        );
        project.secrets.insert(
            "gone".into(),
            Secret {
                file: Some("/nonexistent/pw".into()),
                ..Secret::default()
            },
        );
        project.secrets.insert(
            "var".into(),
            Secret {
                environment: Some("UNSET_VAR".into()),
                ..Secret::default()
            },
        );
        project.configs.insert(
            "c".into(),
            Config {
                content: Some("x".into()),
                ..Config::default()
            },
        );
        let run = |secrets: &[&str], configs: &[&str], taken: &[&str]| {
            let service = Service {
                secrets: refs(secrets),
                configs: refs(configs),
                ..Service::default()
            };
            file_mounts(&cx(&project, &env, &compose), "web", &service, taken)
                .unwrap_err()
                .to_string()
        };
        let e = run(&["ext"], &[], &[]);
        assert!(
            e.contains("\"web\"") && e.contains("\"ext\"") && e.contains("external"),
            "{e}"
        );
        assert!(e.contains("/proj/compose.yaml"), "{e}");
        let e = run(&["gone"], &[], &[]);
        assert!(e.contains("/nonexistent/pw") && e.contains("does not exist"), "{e}");
        let e = run(&["var"], &[], &[]);
        assert!(e.contains("UNSET_VAR") && e.contains("not set"), "{e}");
        let e = run(&["nope"], &[], &[]);
        assert!(e.contains("not declared"), "{e}");
        let e = run(&[], &["c"], &["/c"]);
        assert!(e.contains("/c") && e.contains("a volume"), "{e}");

        let service = Service {
            configs: vec![FileRef {
                source: "c".into(),
                uid: Some("bob".into()),
                ..FileRef::default()
            }],
            ..Service::default()
        };
        let e = file_mounts(&cx(&project, &env, &compose), "web", &service, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"bob\"") && e.contains("numeric"), "{e}");
    }
}
