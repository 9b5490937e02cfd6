//! Capabilities and `security_opt`, with Docker's rules.

use super::config::{SeccompChoice, SecurityOptions};
use super::defaults::{ALL_CAPABILITIES, DEFAULT_CAPABILITIES};
use super::error::{Result, RuntimeError};

/// `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays.
fn normalize_cap(name: &str) -> Result<String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(RuntimeError::UnknownCapability { name: name.to_string() })
    }
}

/// The container's capability set (Docker's `TweakCapabilities`): all of them
/// when privileged; else the defaults, or all with `cap_add: [ALL]`, or none
/// with `cap_drop: [ALL]`, then additions and removals. Added wins over
/// dropped, as in Docker.
pub fn capabilities(sec: &SecurityOptions) -> Result<Vec<String>> {
    let all = || ALL_CAPABILITIES.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if sec.privileged {
        return Ok(all());
    }
    let add = sec
        .cap_add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<Vec<_>>>()?;
    let drop = sec
        .cap_drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<Vec<_>>>()?;
    let add_all = add.iter().any(|c| c == "ALL");
    let drop_all = drop.iter().any(|c| c == "ALL");

    let mut caps: Vec<String> = if add_all {
        all()
    } else if drop_all {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect()
    };
    if !drop_all {
        caps.retain(|c| !drop.contains(c) || add.contains(c));
    }
    for c in add.into_iter().filter(|c| c != "ALL") {
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// Applies Docker's `security_opt` strings to `sec`:
/// `seccomp=unconfined`, `seccomp=<profile JSON>` (the caller reads a file
/// path into its content), `no-new-privileges[:|=true|false]`,
/// `apparmor=<profile>`, `label=…` (accepted; SELinux labels are not applied
/// on hosts without SELinux, as with Docker).
pub fn apply_security_opts(sec: &mut SecurityOptions, opts: &[String]) -> Result<()> {
    for opt in opts {
        let bad = |reason: &str| RuntimeError::SecurityOpt {
            opt: opt.clone(),
            reason: reason.to_string(),
        };
        if opt == "no-new-privileges" {
            sec.no_new_privileges = true;
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| bad("expected key=value, e.g. seccomp=unconfined or no-new-privileges:true"))?;
        match key {
            "seccomp" => {
                sec.seccomp = match value {
                    "unconfined" => SeccompChoice::Unconfined,
                    "" | "builtin" | "default" => SeccompChoice::Default,
                    profile if profile.trim_start().starts_with('{') => SeccompChoice::Custom(profile.to_string()),
                    _ => return Err(bad("expected unconfined or a profile in Docker's JSON format")),
                }
            }
            "no-new-privileges" => {
                sec.no_new_privileges = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("no-new-privileges takes true or false")),
                }
            }
            "apparmor" => sec.apparmor = Some(value.to_string()),
            "label" => {}
            _ => return Err(bad("unknown option: use seccomp, apparmor, label or no-new-privileges")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(add: &[&str], drop: &[&str]) -> SecurityOptions {
        SecurityOptions {
            cap_add: add.iter().map(|s| s.to_string()).collect(),
            cap_drop: drop.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_dockers_fourteen() {
        let caps = capabilities(&sec(&[], &[])).unwrap();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&"CAP_NET_RAW".to_string()));
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn add_and_drop_accept_any_spelling() {
        let caps = capabilities(&sec(&["net_admin", "CAP_SYS_TIME"], &["NET_RAW", "cap_chown"])).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(caps.contains(&"CAP_SYS_TIME".to_string()));
        assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
    }

    #[test]
    fn drop_all_keeps_only_additions() {
        let caps = capabilities(&sec(&["NET_BIND_SERVICE"], &["ALL"])).unwrap();
        assert_eq!(caps, vec!["CAP_NET_BIND_SERVICE".to_string()]);
    }

    #[test]
    fn add_all_and_privileged_give_everything() {
        assert_eq!(capabilities(&sec(&["ALL"], &[])).unwrap().len(), ALL_CAPABILITIES.len());
        let caps = capabilities(&sec(&["ALL"], &["SYS_ADMIN"])).unwrap();
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()));
        let p = SecurityOptions {
            privileged: true,
            cap_drop: vec!["ALL".into()],
            ..Default::default()
        };
        assert_eq!(capabilities(&p).unwrap().len(), ALL_CAPABILITIES.len());
    }

    #[test]
    fn unknown_capability_is_an_error() {
        let err = capabilities(&sec(&["FLY"], &[])).unwrap_err();
        assert!(err.to_string().contains("FLY"), "{err}");
    }

    #[test]
    fn security_opts_as_docker_accepts_them() {
        let mut s = SecurityOptions::default();
        let opts = [
            "seccomp=unconfined",
            "no-new-privileges:true",
            "apparmor=unconfined",
            "label=disable",
        ];
        apply_security_opts(&mut s, &opts.map(String::from)).unwrap();
        assert_eq!(s.seccomp, SeccompChoice::Unconfined);
        assert!(s.no_new_privileges);
        assert_eq!(s.apparmor.as_deref(), Some("unconfined"));

        let mut s = SecurityOptions::default();
        apply_security_opts(&mut s, &["no-new-privileges".into()]).unwrap();
        assert!(s.no_new_privileges);
        apply_security_opts(&mut s, &["no-new-privileges=false".into()]).unwrap();
        assert!(!s.no_new_privileges);
        apply_security_opts(&mut s, &[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#.into()]).unwrap();
        assert!(matches!(s.seccomp, SeccompChoice::Custom(_)));

        assert!(apply_security_opts(&mut s, &["seccomp=/no/such".into()]).is_err());
        assert!(apply_security_opts(&mut s, &["selinux=x".into()]).is_err());
        assert!(apply_security_opts(&mut s, &["no-new-privileges:maybe".into()]).is_err());
    }
}
