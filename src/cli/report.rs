//! How the CLI prints: results to stdout, diagnostics to stderr, with
//! colour and graphics only when stderr is a terminal (or `--ansi always`).

use std::io::IsTerminal;

use crate::compose::diag::{render_brief, render_plain, Diag, SourceMap};

use super::GlobalArgs;

/// Why a command ended without success, once the user has been told.
#[derive(Debug)]
pub enum Failure {
    /// The message is already on stderr.
    Reported,
    /// Our stdout reader went away: stop quietly.
    BrokenPipe,
}

pub struct Output {
    color: bool,
}

impl Output {
    pub fn new(global: &GlobalArgs) -> Output {
        let color = match global.ansi.as_str() {
            "always" => true,
            "never" => false,
            _ => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        Output { color }
    }

    /// Whether to print colours and graphics.
    pub fn color(&self) -> bool {
        self.color
    }

    pub fn stdout(&self, bytes: &[u8]) -> Result<(), Failure> {
        super::write_stdout(bytes)
    }

    /// Print diagnostics, errors and warnings alike, to stderr.
    pub fn diagnostics(&self, diags: &[Diag], sources: &SourceMap) {
        if diags.is_empty() {
            return;
        }
        let text = if self.color {
            let handler =
                miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode()).with_context_lines(1);
            let mut s = String::new();
            for d in diags {
                if d.brief {
                    s.push_str(&render_brief(d, sources));
                } else {
                    let _ = handler.render_report(&mut s, &d.render_with(sources));
                }
            }
            s
        } else {
            render_plain(diags, sources)
        };
        eprint!("{text}");
    }

    /// A one-line error that is not about a file.
    pub fn error(&self, message: &str) -> Failure {
        eprintln!("rcompose: {message}");
        Failure::Reported
    }
}
