//! Docker's seccomp profile format → the OCI `linux.seccomp` section.
//!
//! Docker's default profile (`seccomp/docker-default.json`, Apache-2.0, from
//! moby/profiles; see `seccomp/README.md` and `seccomp/LICENSE`) is embedded.
//! Like Docker (`profiles/seccomp/seccomp_linux.go`), a rule is kept only when
//! its `includes` (all listed capabilities, one of the listed architectures,
//! a minimum kernel) hold and its `excludes` (any listed capability or
//! architecture) do not; the architectures are the native one and its
//! sub-architectures from the profile's `archMap`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{Result, RuntimeError};

/// Docker's default seccomp profile, as data.
pub const DOCKER_DEFAULT_PROFILE: &str = include_str!("seccomp/docker-default.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    syscalls: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// The facts about this host a profile is specialised for.
#[derive(Debug, Clone)]
pub struct Host {
    /// Go's name of the architecture (`amd64`, `arm64`, …), as profiles use.
    pub go_arch: &'static str,
    /// Kernel (major, minor).
    pub kernel: (u32, u32),
}

impl Host {
    /// The running machine.
    pub fn current() -> Host {
        let go_arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "arm" => "arm",
            "s390x" => "s390x",
            "powerpc64" => "ppc64le",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            "mips64" => "mips64le",
            other => other,
        };
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Host {
            go_arch,
            kernel: parse_kernel(&release).unwrap_or((0, 0)),
        }
    }

    fn seccomp_arch(&self) -> &'static str {
        match self.go_arch {
            "amd64" => "SCMP_ARCH_X86_64",
            "386" => "SCMP_ARCH_X86",
            "arm64" => "SCMP_ARCH_AARCH64",
            "arm" => "SCMP_ARCH_ARM",
            "s390x" => "SCMP_ARCH_S390X",
            "ppc64le" => "SCMP_ARCH_PPC64LE",
            "riscv64" => "SCMP_ARCH_RISCV64",
            "loong64" => "SCMP_ARCH_LOONGARCH64",
            "mips64le" => "SCMP_ARCH_MIPSEL64",
            _ => "SCMP_ARCH_NATIVE",
        }
    }
}

fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Specialises a profile in Docker's format for `caps` (full `CAP_…` names)
/// on `host`, giving the OCI `linux.seccomp` object.
pub fn to_oci(profile_json: &str, source_name: &str, caps: &[String], host: &Host) -> Result<Value> {
    let bad = |reason: String| RuntimeError::Seccomp {
        source_name: source_name.to_string(),
        reason,
    };
    let profile: Profile = serde_json::from_str(profile_json)
        .map_err(|e| bad(format!("not a seccomp profile in Docker's JSON format: {e}")))?;

    let native = host.seccomp_arch();
    let mut arches: Vec<String> = Vec::new();
    if let Some(map) = &profile.arch_map {
        for entry in map.iter().filter(|a| a.architecture == native) {
            arches.push(entry.architecture.clone());
            arches.extend(entry.sub_architectures.iter().flatten().cloned());
        }
    } else if let Some(list) = &profile.architectures {
        arches = list.clone();
    }

    let mut syscalls = Vec::new();
    for rule in profile.syscalls.iter().flatten() {
        if !rule_applies(rule, caps, host, &bad)? {
            continue;
        }
        let mut names = rule.names.clone();
        if let Some(n) = &rule.name {
            names.push(n.clone());
        }
        if names.is_empty() {
            continue;
        }
        let mut out = json!({ "names": names, "action": rule.action });
        if let Some(errno) = rule.errno_ret {
            out["errnoRet"] = json!(errno);
        }
        if let Some(args) = &rule.args {
            out["args"] = Value::Array(args.clone());
        }
        syscalls.push(out);
    }

    let mut seccomp = json!({
        "defaultAction": profile.default_action,
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(errno) = profile.default_errno_ret {
        seccomp["defaultErrnoRet"] = json!(errno);
    }
    Ok(seccomp)
}

fn rule_applies(rule: &Rule, caps: &[String], host: &Host, bad: &dyn Fn(String) -> RuntimeError) -> Result<bool> {
    let has_cap = |c: &String| caps.iter().any(|have| have == c);
    if let Some(need) = &rule.includes.caps {
        if !need.iter().all(has_cap) {
            return Ok(false);
        }
    }
    if let Some(arches) = &rule.includes.arches {
        if !arches.iter().any(|a| a == host.go_arch) {
            return Ok(false);
        }
    }
    if let Some(min) = &rule.includes.min_kernel {
        let min = parse_kernel(min).ok_or_else(|| bad(format!("invalid minKernel {min:?}")))?;
        if host.kernel < min {
            return Ok(false);
        }
    }
    if let Some(excl) = &rule.excludes.caps {
        if excl.iter().any(has_cap) {
            return Ok(false);
        }
    }
    if let Some(arches) = &rule.excludes.arches {
        if arches.iter().any(|a| a == host.go_arch) {
            return Ok(false);
        }
    }
    if rule.excludes.min_kernel.is_some() {
        return Err(bad("excludes.minKernel is not supported (Docker rejects it too)".into()));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> Host {
        Host {
            go_arch: "amd64",
            kernel: (6, 1),
        }
    }

    fn allowed(seccomp: &Value, name: &str) -> Vec<Value> {
        seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
            .cloned()
            .collect()
    }

    fn default_caps() -> Vec<String> {
        super::super::defaults::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn default_profile_denies_by_default_on_native_arches() {
        let s = to_oci(DOCKER_DEFAULT_PROFILE, "default", &default_caps(), &amd64()).unwrap();
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(s["defaultErrnoRet"], 1);
        assert_eq!(
            s["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert!(!allowed(&s, "read").is_empty());
        assert!(!allowed(&s, "arch_prctl").is_empty());
        assert!(allowed(&s, "riscv_flush_icache").is_empty());
    }

    #[test]
    fn capability_gated_rules_follow_the_capability_set() {
        let caps = default_caps();
        let s = to_oci(DOCKER_DEFAULT_PROFILE, "default", &caps, &amd64()).unwrap();
        // Without CAP_SYS_ADMIN: no mount, clone only with the namespace flags masked,
        // clone3 answered with ENOSYS so that libcs fall back to clone.
        assert!(allowed(&s, "mount").is_empty());
        assert!(allowed(&s, "unshare").is_empty());
        let clone = allowed(&s, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        let clone3 = allowed(&s, "clone3");
        assert_eq!(clone3[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3[0]["errnoRet"], 38);
        assert!(allowed(&s, "reboot").is_empty());
        assert!(
            allowed(&s, "ptrace").len() == 1,
            "ptrace allowed by minKernel 4.8 rule only"
        );

        let mut admin = caps.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let s = to_oci(DOCKER_DEFAULT_PROFILE, "default", &admin, &amd64()).unwrap();
        assert!(!allowed(&s, "mount").is_empty());
        assert!(allowed(&s, "clone").iter().all(|r| r.get("args").is_none()));
        assert!(allowed(&s, "clone3").iter().all(|r| r["action"] == "SCMP_ACT_ALLOW"));
    }

    #[test]
    fn old_kernels_lose_min_kernel_rules() {
        let host = Host {
            go_arch: "amd64",
            kernel: (4, 4),
        };
        let s = to_oci(DOCKER_DEFAULT_PROFILE, "default", &default_caps(), &host).unwrap();
        assert!(allowed(&s, "ptrace").is_empty());
    }

    #[test]
    fn garbage_is_reported_with_its_source() {
        let err = to_oci("{}", "/etc/p.json", &[], &amd64()).unwrap_err();
        assert!(err.to_string().contains("/etc/p.json"), "{err}");
    }

    #[test]
    fn profile_converts_into_oci_type() {
        let s = to_oci(DOCKER_DEFAULT_PROFILE, "default", &default_caps(), &amd64()).unwrap();
        let typed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(s).unwrap();
        assert!(typed.syscalls().as_ref().unwrap().len() > 10);
    }

    #[test]
    fn kernel_release_parses() {
        assert_eq!(parse_kernel("6.18.44-fc-v769"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("x"), None);
    }
}
