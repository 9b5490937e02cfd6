//! Progress of project operations on stderr, shaped like Docker Compose's:
//! ` ✔ Container app-web-1  Started  0.4s` on a terminal, one plain line
//! per step otherwise (`--progress plain`), nothing with `quiet`, JSON
//! lines with `json`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use crate::project::events::{Event, Kind, Sink};

use super::GlobalArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Tty,
    Plain,
    Json,
    Quiet,
}

pub struct Progress {
    style: Style,
    color: bool,
    /// `COMPOSE_STATUS_STDOUT`: progress goes to stdout, as Docker Compose
    /// sends it there.
    to_stdout: bool,
    lock: Mutex<()>,
}

impl Progress {
    pub fn new(global: &GlobalArgs, color: bool) -> Progress {
        let style = match global.progress.as_str() {
            "quiet" => Style::Quiet,
            "plain" => Style::Plain,
            "json" => Style::Json,
            "tty" => Style::Tty,
            _ if std::io::stderr().is_terminal() => Style::Tty,
            _ => Style::Plain,
        };
        let to_stdout = matches!(
            std::env::var("COMPOSE_STATUS_STDOUT").as_deref(),
            Ok("1" | "t" | "T" | "true" | "TRUE" | "True")
        );
        Progress {
            style,
            color,
            to_stdout,
            lock: Mutex::new(()),
        }
    }

    fn write(&self, line: &str) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.to_stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        } else {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
            let _ = err.flush();
        }
    }
}

impl Sink for Progress {
    fn event(&self, e: Event) {
        let kind = e.kind.as_str();
        match self.style {
            Style::Quiet => {}
            // Docker Compose prints fmt.Fprintln("", id, text, statusText): one
            // space between the fields, and one after the (empty) status text.
            Style::Plain => self.write(&format!(" {kind} {} {} \n", e.name, e.status)),
            Style::Json => self.write(&format!(
                "{}\n",
                serde_json::json!({
                    "id": format!("{kind} {}", e.name),
                    "status": e.status,
                    "done": e.done,
                    "error": e.error,
                    "elapsed_ms": e.elapsed.map(|d| d.as_millis() as u64),
                })
            )),
            Style::Tty if !e.done => {}
            Style::Tty => {
                let (mark, paint) = if e.error { ("✘", "31") } else { ("✔", "32") };
                let time = e
                    .elapsed
                    .map(|d| format!("{:.1}s", d.as_secs_f64()))
                    .unwrap_or_default();
                let mark = if self.color {
                    format!("\x1b[{paint}m{mark}\x1b[0m")
                } else {
                    mark.to_string()
                };
                self.write(&format!(" {mark} {kind} {:<30} {:<10} {time}\n", e.name, e.status));
            }
        }
    }

    fn warning(&self, message: &str) {
        if self.style != Style::Quiet {
            let text = if self.color {
                format!("\x1b[33mWARN\x1b[0m[0000] {message}\n")
            } else {
                format!("WARN[0000] {message}\n")
            };
            self.write(&text);
        }
    }
}

/// `--quiet-pull`: every event but those of an image's pull.
pub struct WithoutPulls<'a>(pub &'a dyn Sink);

impl Sink for WithoutPulls<'_> {
    fn event(&self, e: Event) {
        if !(e.kind == Kind::Image && e.status.starts_with("Pull")) {
            self.0.event(e);
        }
    }

    fn warning(&self, message: &str) {
        self.0.warning(message);
    }
}
