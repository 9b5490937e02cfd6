//! Seccomp filters compiled once and loaded with one system call.
//!
//! libseccomp needs about 8 ms of CPU to turn Docker's default profile
//! (some 370 syscall rules over three architectures) into BPF. libcontainer
//! would pay that inside every container's init, on the path of every start
//! and restart, and `exec` in every new process: a third of a container's
//! start. Instead a container's `linux.seccomp` is compiled when its bundle
//! is prepared, once per distinct profile ([`cached`] keeps the program
//! under the engine root by the profile's digest), and [`Filter::load`]
//! hands the finished program to seccomp(2).
//!
//! `SCMP_CMP_MASKED_EQ` reads as runc and crun read it: `value` is the mask
//! and `valueTwo` the datum. Docker's profile relies on that: without
//! CAP_SYS_ADMIN, `clone` is allowed only when `flags & CLONE_NEW*` is 0.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};

/// First bytes of a stored program; the version changes with the format.
/// Then the flags (u32, little-endian), the program's SHA-256, the program.
const MAGIC: &[u8; 8] = b"rcbpf01\n";
const HEADER: usize = 8 + 4 + 32;
/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
const SECCOMP_FILTER_FLAG_LOG: u32 = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 4;

/// A compiled filter: seccomp(2)'s flags and the BPF program. Instructions
/// are kept as `u64`s, 8-byte aligned, so the program can be handed to the
/// kernel as `struct sock_filter[]` without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    flags: u32,
    program: Vec<u64>,
}

impl Filter {
    /// Compiles an OCI `linux.seccomp` section.
    pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter, String> {
        let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
        let mut ctx = ScmpFilterContext::new(default).map_err(|e| format!("default action: {e}"))?;
        for arch in seccomp.architectures().iter().flatten() {
            let name = serde_name(arch)?;
            let arch: ScmpArch = name.parse().map_err(|e| format!("architecture {name}: {e}"))?;
            ctx.add_arch(arch).map_err(|e| format!("architecture {name}: {e}"))?;
        }
        let mut flags = 0;
        for flag in seccomp.flags().iter().flatten() {
            flags |= match flag {
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                // Only meaningful with a notification listener, which is refused.
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
            };
        }
        for rule in seccomp.syscalls().iter().flatten() {
            let act = action(rule.action(), rule.errno_ret())?;
            if act == default {
                // libseccomp refuses a rule that repeats the default.
                continue;
            }
            let comparisons: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(compare).collect();
            // A rule may compare each argument once: several comparisons of
            // one argument become one rule each, as runc does.
            let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
            indexes.sort_unstable();
            let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
            for name in rule.names() {
                // A name this libseccomp does not know is a syscall this
                // kernel cannot have: skipped, as Docker does.
                let Ok(syscall) = ScmpSyscall::from_name(name) else {
                    continue;
                };
                let added = if comparisons.is_empty() {
                    ctx.add_rule(act, syscall).map(|_| ())
                } else if repeated {
                    comparisons.iter().try_for_each(|c| {
                        ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))
                            .map(|_| ())
                    })
                } else {
                    ctx.add_rule_conditional(act, syscall, &comparisons).map(|_| ())
                };
                added.map_err(|e| format!("rule for {name}: {e}"))?;
            }
        }
        let bytes = export(&ctx)?;
        Filter::from_program(flags, &bytes)
    }

    fn from_program(flags: u32, bytes: &[u8]) -> Result<Filter, String> {
        if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > MAX_INSTRUCTIONS {
            return Err(format!("a BPF program of {} bytes is not valid", bytes.len()));
        }
        let program = bytes
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        Ok(Filter { flags, program })
    }

    /// Reads a program [`Filter::write`] stored.
    pub fn read(path: &Path) -> Result<Filter, String> {
        let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bad = || {
            format!(
                "{}: not a compiled seccomp filter; remove it to have it compiled again",
                path.display()
            )
        };
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(bad());
        }
        // Files are not synced: a program cut short by a crash must not load
        // as a shorter, weaker filter. The digest catches it.
        let program = &bytes[HEADER..];
        if Sha256::digest(program).as_slice() != &bytes[12..HEADER] {
            return Err(bad());
        }
        let flags = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        Filter::from_program(flags, program).map_err(|_| bad())
    }

    /// Stores the program at `path`, atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let program: Vec<u8> = self.program.iter().flat_map(|i| i.to_ne_bytes()).collect();
        let mut bytes = Vec::with_capacity(HEADER + program.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.flags.to_le_bytes());
        bytes.extend_from_slice(&Sha256::digest(&program));
        bytes.extend_from_slice(&program);
        // Unique per call: threads of one process may store the same program.
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(crate::store::temp_name(".bpf-"));
        let result = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(crate::store::FILE_MODE)
                .open(&tmp)?
                .write_all(&bytes)?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Installs the filter on the calling thread. Needs no_new_privs or
    /// CAP_SYS_ADMIN. Allocates nothing: safe between fork and exec.
    pub fn load(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `len` 8-byte instructions that outlive the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags as libc::c_ulong,
                &prog,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The compiled filter for `seccomp` and its name in `cache_dir` (the
/// profile's digest): read from there when an identical profile was
/// compiled before, else compiled and stored there.
pub fn cached(cache_dir: &Path, seccomp: &LinuxSeccomp) -> Result<(String, Filter), String> {
    let canonical = serde_json::to_vec(seccomp).map_err(|e| e.to_string())?;
    let digest: String = Sha256::digest(&canonical).iter().map(|b| format!("{b:02x}")).collect();
    let path = program_path(cache_dir, &digest);
    if let Ok(filter) = Filter::read(&path) {
        return Ok((digest, filter));
    }
    let filter = Filter::compile(seccomp)?;
    crate::store::private_dir(cache_dir).map_err(|e| e.to_string())?;
    filter.write(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((digest, filter))
}

/// Where [`cached`] keeps the program of the profile with `digest`.
pub fn program_path(cache_dir: &Path, digest: &str) -> PathBuf {
    cache_dir.join(format!("{digest}.bpf"))
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    if action == LinuxSeccompAction::ScmpActNotify {
        return Err("SCMP_ACT_NOTIFY is not supported: nothing would answer the notifications".into());
    }
    let name = serde_name(&action)?;
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    ScmpAction::from_str(&name, Some(errno)).map_err(|e| format!("action {name}: {e}"))
}

fn compare(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                arg.index() as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            )
        }
    };
    ScmpArgCompare::new(arg.index() as u32, op, arg.value())
}

/// The spec's own spelling of an enum value (`SCMP_ACT_ERRNO`, …), which
/// is also libseccomp's.
fn serde_name<T: serde::Serialize>(value: &T) -> Result<String, String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err("unexpected seccomp value".into()),
    }
}

/// The program libseccomp generates, read back through a memfd (Debian's
/// libseccomp 2.5 has no export to memory).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, String> {
    // SAFETY: a NUL-terminated name and valid flags.
    let fd = unsafe { libc::memfd_create(c"rcompose-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor we own.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file).map_err(|e| format!("exporting BPF: {e}"))?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| format!("reading BPF back: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_default() -> LinuxSeccomp {
        let host = super::super::seccomp::Host::current();
        let caps: Vec<String> = super::super::defaults::DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .collect();
        let value =
            super::super::seccomp::to_oci(super::super::seccomp::DOCKER_DEFAULT_PROFILE, "default", &caps, &host)
                .unwrap();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn docker_default_compiles_and_round_trips_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let profile = docker_default();
        let (digest, filter) = cached(dir.path(), &profile).unwrap();
        let path = program_path(dir.path(), &digest);
        assert_eq!(Filter::read(&path).unwrap(), filter);
        assert_eq!(filter, Filter::compile(&profile).unwrap());
        assert!(filter.program.len() > 100, "{} instructions", filter.program.len());
        // Same profile, same file: no second compile.
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(cached(dir.path(), &profile).unwrap(), (digest, filter));
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    }

    #[test]
    fn a_damaged_cache_file_is_rejected_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let profile = docker_default();
        let (digest, filter) = cached(dir.path(), &profile).unwrap();
        let path = program_path(dir.path(), &digest);
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 8);
        fs::write(&path, bytes).unwrap();
        assert!(Filter::read(&path)
            .unwrap_err()
            .contains("not a compiled seccomp filter"));
        assert_eq!(cached(dir.path(), &profile).unwrap().1, filter);
        assert_eq!(Filter::read(&path).unwrap(), filter);
    }

    #[test]
    fn threads_compiling_the_same_profile_at_once_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let profile = docker_default();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6).map(|_| s.spawn(|| cached(dir.path(), &profile))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let first = results[0].as_ref().unwrap();
        for r in &results {
            assert_eq!(r.as_ref().unwrap(), first);
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file is left"
        );
    }

    #[test]
    fn notify_is_refused() {
        let mut profile = docker_default();
        profile.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(Filter::compile(&profile).unwrap_err().contains("SCMP_ACT_NOTIFY"));
    }

    #[test]
    fn loading_in_a_child_blocks_what_the_profile_denies() {
        // A filter that denies only getppid, with errno 42.
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
        }))
        .unwrap();
        let filter = Filter::compile(&profile).unwrap();
        // SAFETY: the child only makes system calls and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // SAFETY: prctl/getppid with constant arguments. glibc's getppid()
                // assumes success and would hand back -42 itself.
                let code = unsafe {
                    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                    if filter.load().is_err() {
                        2
                    } else if libc::syscall(libc::SYS_getppid) == -1 && *libc::__errno_location() == 42 {
                        0
                    } else {
                        1
                    }
                };
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
