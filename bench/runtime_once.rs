//! One container running `/bin/true` through rcompose's runtime, for
//! `bench/runtime.sh` to time next to crun and runc on the same bundle.
//!
//!   runtime_once prepare ROOTFS STATE ID   assemble the bundle (overlay root,
//!                                          /etc files, OCI config.json) and
//!                                          print its directory
//!   runtime_once run STATE ID              create + start + wait + delete the
//!                                          process on that bundle (what
//!                                          `crun run` does with one)
//!   runtime_once full ROOTFS STATE         the whole life: prepare, create,
//!                                          start, wait, remove everything
//!   runtime_once remove STATE ID           remove a prepared container

use std::path::PathBuf;
use std::process::ExitCode;

use rcompose::runtime::{self, ContainerSpec, ImageConfig, Roots, Stdio};

fn roots(state: &str) -> Roots {
    let state = PathBuf::from(state);
    Roots {
        root: state.join("root"),
        run: state.join("run"),
    }
}

fn spec(rootfs: &str, id: &str) -> ContainerSpec {
    ContainerSpec {
        id: id.to_string(),
        image: ImageConfig {
            cmd: Some(vec!["/bin/true".into()]),
            ..Default::default()
        },
        lower_dirs: vec![PathBuf::from(rootfs)],
        ..Default::default()
    }
}

fn run() -> Result<i32, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["prepare", rootfs, state, id] => {
            let r = roots(state);
            runtime::prepare(&r, &spec(rootfs, id)).map_err(|e| e.to_string())?;
            println!("{}", r.container(id).dir.display());
            Ok(0)
        }
        ["run", state, id] => {
            let r = roots(state);
            let pid = runtime::create(&r, id, Stdio::default()).map_err(|e| e.to_string())?;
            runtime::start(&r, id).map_err(|e| e.to_string())?;
            let status = runtime::wait(id, pid).map_err(|e| e.to_string())?;
            runtime::delete::delete_engine_state(&r, id).map_err(|e| e.to_string())?;
            Ok(status.code)
        }
        ["full", rootfs, state] => {
            let r = roots(state);
            let id = format!("bench-{}", std::process::id());
            let status =
                runtime::run_to_completion(&r, &spec(rootfs, &id), Stdio::default()).map_err(|e| e.to_string())?;
            Ok(status.code)
        }
        ["remove", state, id] => {
            runtime::remove(&roots(state), id).map_err(|e| e.to_string())?;
            Ok(0)
        }
        _ => Err(
            "usage: runtime_once prepare ROOTFS STATE ID | run STATE ID | full ROOTFS STATE | remove STATE ID".into(),
        ),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("runtime_once: {e}");
            ExitCode::from(1)
        }
    }
}
