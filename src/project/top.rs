//! `top`: the processes of a service's containers, from their cgroup and
//! /proc.

use std::fs;
use std::path::Path;

use crate::runtime::cgroups;
use crate::runtime::Status;
use crate::supervisor::client;

use super::engine::Engine;
use super::error::Result;
use super::lifecycle::containers_of;
use super::Target;

/// One process, in `ps -ef` columns as `docker top` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub uid: String,
    pub pid: i32,
    pub ppid: i32,
    pub cpu: u64,
    pub stime: String,
    pub tty: String,
    pub time: String,
    pub cmd: String,
}

/// The running containers of the services with their processes, in
/// container-name order.
pub fn top(engine: &Engine, target: &Target, services: &[String]) -> Result<Vec<(String, Vec<Process>)>> {
    let mut out = Vec::new();
    let mut found = containers_of(engine, target, services)?;
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    for c in found {
        let state = client::status(&engine.roots, &c.id)?;
        if state.status != Status::Running {
            continue;
        }
        let mut procs: Vec<Process> = container_pids(&c.id)
            .into_iter()
            .filter_map(|pid| process(pid, &passwd))
            .collect();
        procs.sort_by_key(|p| p.pid);
        out.push((c.id.clone(), procs));
    }
    Ok(out)
}

/// PIDs in the container's cgroup (any hierarchy lists them all).
fn container_pids(id: &str) -> Vec<i32> {
    for dir in cgroups::cgroup_dirs(id) {
        if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
            let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if !pids.is_empty() {
                return pids;
            }
        }
    }
    Vec::new()
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf with a constant name.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn process(pid: i32, passwd: &str) -> Option<Process> {
    let dir = Path::new("/proc").join(pid.to_string());
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let (_, rest) = stat.rsplit_once(") ")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22.
    let ppid = num(1) as i32;
    let ticks = clock_ticks();
    let cpu_secs = (num(11) + num(12)) / ticks;
    let start_secs = num(19) / ticks;
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let user = passwd
        .lines()
        .find_map(|l| {
            let mut p = l.split(':');
            let name = p.next()?;
            let id = p.nth(1)?;
            (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .unwrap_or_else(|| uid.to_string());
    let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
    let cmd = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    let age = (uptime as u64).saturating_sub(start_secs).max(1);
    let started = chrono::Local::now() - chrono::Duration::seconds(age as i64);
    Some(Process {
        uid: user,
        pid,
        ppid,
        cpu: cpu_secs * 100 / age,
        stime: started.format("%H:%M").to_string(),
        tty: "?".into(),
        time: format!("{:02}:{:02}:{:02}", cpu_secs / 3600, cpu_secs / 60 % 60, cpu_secs % 60),
        cmd,
    })
}
