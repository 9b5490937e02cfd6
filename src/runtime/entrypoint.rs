//! Docker's rules for the process arguments: image ENTRYPOINT/CMD, overrides,
//! and the shell form.
//!
//! Docker (moby `daemon/create.go`, `merge`):
//! - an override entrypoint that is non-empty replaces the image's ENTRYPOINT
//!   *and* drops the image's CMD; only the override command follows it;
//! - an override entrypoint that is empty (`--entrypoint ""`) removes the
//!   image's ENTRYPOINT but keeps its CMD unless a command is given;
//! - no override entrypoint: the image's ENTRYPOINT, then the override
//!   command if it is non-empty, else the image's CMD;
//! - the result is ENTRYPOINT ++ CMD and must not be empty.

use super::config::ImageConfig;
use super::error::{Result, RuntimeError};

/// The default shell for shell-form commands, as in Docker.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The argv of the container's process.
pub fn resolve_args(
    id: &str,
    image: &ImageConfig,
    entrypoint: Option<&[String]>,
    command: Option<&[String]>,
) -> Result<Vec<String>> {
    let command = command.filter(|c| !c.is_empty());
    let image_cmd = image.cmd.as_deref().unwrap_or(&[]);
    let image_ep = image.entrypoint.as_deref().unwrap_or(&[]);
    let (ep, cmd): (&[String], &[String]) = match entrypoint {
        Some(ep) if !ep.is_empty() => (ep, command.unwrap_or(&[])),
        Some(_) => (&[], command.unwrap_or(image_cmd)),
        None => (image_ep, command.unwrap_or(image_cmd)),
    };
    let args: Vec<String> = ep.iter().chain(cmd.iter()).cloned().collect();
    if args.is_empty() {
        return Err(RuntimeError::NoCommand { id: id.to_string() });
    }
    Ok(args)
}

/// A shell-form command (`CMD echo hi`, healthcheck `CMD-SHELL`) as argv,
/// through the image's SHELL or `/bin/sh -c`.
pub fn shell_form(image: &ImageConfig, line: &str) -> Vec<String> {
    let mut argv: Vec<String> = match image.shell.as_deref() {
        Some(shell) if !shell.is_empty() => shell.to_vec(),
        _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
    };
    argv.push(line.to_string());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn image(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        ImageConfig {
            entrypoint: ep.map(v),
            cmd: cmd.map(v),
            ..Default::default()
        }
    }

    #[test]
    fn image_entrypoint_and_cmd_are_concatenated() {
        let img = image(Some(&["/docker-entrypoint.sh"]), Some(&["nginx", "-g", "daemon off;"]));
        assert_eq!(
            resolve_args("c", &img, None, None).unwrap(),
            v(&["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"])
        );
    }

    #[test]
    fn command_override_replaces_cmd_only() {
        let img = image(Some(&["/ep"]), Some(&["default"]));
        let cmd = v(&["sh", "-c", "x"]);
        assert_eq!(
            resolve_args("c", &img, None, Some(&cmd)).unwrap(),
            v(&["/ep", "sh", "-c", "x"])
        );
    }

    #[test]
    fn empty_command_override_keeps_image_cmd() {
        let img = image(None, Some(&["default"]));
        assert_eq!(resolve_args("c", &img, None, Some(&[])).unwrap(), v(&["default"]));
    }

    #[test]
    fn entrypoint_override_drops_image_cmd() {
        let img = image(Some(&["/ep"]), Some(&["default"]));
        let ep = v(&["/bin/echo"]);
        assert_eq!(resolve_args("c", &img, Some(&ep), None).unwrap(), v(&["/bin/echo"]));
        let cmd = v(&["hi"]);
        assert_eq!(
            resolve_args("c", &img, Some(&ep), Some(&cmd)).unwrap(),
            v(&["/bin/echo", "hi"])
        );
    }

    #[test]
    fn empty_entrypoint_override_resets_entrypoint_and_keeps_cmd() {
        let img = image(Some(&["/ep"]), Some(&["default"]));
        assert_eq!(resolve_args("c", &img, Some(&[]), None).unwrap(), v(&["default"]));
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        let err = resolve_args("web-1", &image(None, None), None, None).unwrap_err();
        assert!(err.to_string().contains("web-1"), "{err}");
        assert!(resolve_args("c", &image(Some(&["/ep"]), None), Some(&[]), None).is_err());
    }

    #[test]
    fn shell_form_uses_image_shell() {
        assert_eq!(
            shell_form(&ImageConfig::default(), "echo hi"),
            v(&["/bin/sh", "-c", "echo hi"])
        );
        let img = ImageConfig {
            shell: Some(v(&["/bin/bash", "-euc"])),
            ..Default::default()
        };
        assert_eq!(shell_form(&img, "true"), v(&["/bin/bash", "-euc", "true"]));
    }
}
