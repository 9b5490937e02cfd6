//! Diagnostics that point into the user's Compose files.
//!
//! Every loader phase reports problems as [`Diag`]s carrying a [`Span`]; the
//! phases collect them instead of stopping at the first, and the CLI renders
//! them all through `miette` with the file's text so the user sees the line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

/// Index of a file in the [`SourceMap`]; cheap to copy into every span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// Where a node came from: byte range plus 1-based line / column for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub col: u32,
}

impl Span {
    /// A span for values that were not written in any file (defaults,
    /// command-line input). Diagnostics on it show no snippet.
    pub const NONE: Span = Span {
        file: FileId(u32::MAX),
        start: 0,
        end: 0,
        line: 0,
        col: 0,
    };

    pub fn is_none(&self) -> bool {
        self.file == FileId(u32::MAX)
    }
}

/// The text of every file read during a load, so diagnostics can quote it.
#[derive(Default, Debug)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
    /// The same text under the file's name, which miette prints in the snippet header.
    named: NamedSource<Arc<str>>,
}

impl SourceMap {
    pub fn add(&mut self, path: &Path, text: &str) -> FileId {
        let text: Arc<str> = Arc::from(text);
        // Show paths as the user would type them: relative to where they are.
        let shown = std::env::current_dir()
            .ok()
            .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| path.to_path_buf());
        let named = NamedSource::new(shown.display().to_string(), text.clone());
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            text,
            named,
        });
        FileId((self.files.len() - 1) as u32)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// `path:line:col` for messages that are printed without a snippet.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(f) => format!("{}:{}:{}", f.path.display(), span.line, span.col),
            None => "<command line>".to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the user's input.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    /// Short text shown under the snippet, next to the offending token.
    pub label: String,
    /// What to do about it ("did you mean ...", "add an image or build section").
    pub help: Option<String>,
    /// Other places that explain the error (e.g. the first definition of a duplicate).
    pub related: Vec<(Span, String)>,
    /// Printed on one line, without a snippet: for notices that every
    /// command repeats (an obsolete key), where nine lines each time would
    /// bury what the command itself prints.
    pub brief: bool,
}

impl Diag {
    pub fn error(span: Span, message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: "here".into(),
            help: None,
            related: Vec::new(),
            brief: false,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diag {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Diag {
        self.related.push((span, label.into()));
        self
    }

    pub fn brief(mut self) -> Diag {
        self.brief = true;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Attach the source text so miette can render the snippet.
    pub fn render_with<'a>(&'a self, sources: &'a SourceMap) -> Rendered<'a> {
        Rendered { diag: self, sources }
    }
}

/// "did you mean `x`?" when a known name is close to what was written.
pub fn did_you_mean<'a>(written: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(written, known).map(|k| format!("did you mean `{k}`?"))
}

/// The known name closest to what was written, if one is close enough.
pub fn closest<'a>(written: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for k in known {
        let score = strsim::jaro_winkler(written, k);
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, k));
        }
    }
    best.map(|(_, k)| k)
}

/// A [`Diag`] bound to its source text, implementing `miette::Diagnostic`.
pub struct Rendered<'a> {
    diag: &'a Diag,
    sources: &'a SourceMap,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The snippet's header names file, line and column; a span without
        // source text (another file's, or none) gets them in the message.
        match self.sources.get(self.diag.span.file) {
            Some(_) => f.write_str(&self.diag.message),
            None => f.write_str(&self.diag.message),
        }
    }
}

impl std::error::Error for Rendered<'_> {}

impl Diagnostic for Rendered<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        let file = self.sources.get(self.diag.span.file)?;
        Some(&file.named as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.sources.get(self.diag.span.file)?;
        let main = std::iter::once(label(self.diag.span, &self.diag.label, true));
        let file = self.diag.span.file;
        let related = self
            .diag
            .related
            .iter()
            .filter(move |(s, _)| s.file == file)
            .map(|(s, l)| label(*s, l, false));
        Some(Box::new(main.chain(related)))
    }
}

fn label(span: Span, text: &str, primary: bool) -> LabeledSpan {
    let len = (span.end.saturating_sub(span.start)).max(1) as usize;
    let s = miette::SourceSpan::new((span.start as usize).into(), len);
    if primary {
        LabeledSpan::new_primary_with_span(Some(text.to_string()), s)
    } else {
        LabeledSpan::new_with_span(Some(text.to_string()), s)
    }
}

/// Render diagnostics as plain text (no colour), the form tests compare and
/// that is printed when stderr is not a terminal.
pub fn render_plain(diags: &[Diag], sources: &SourceMap) -> String {
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        // No wrapping: paths and values stay whole, for people and for diff.
        .with_width(usize::MAX / 4)
        .with_context_lines(1);
    let mut out = String::new();
    for d in diags {
        if d.brief {
            out.push_str(&render_brief(d, sources));
            continue;
        }
        let r = d.render_with(sources);
        let _ = handler.render_report(&mut out, &r);
        // Other-file related spans cannot be drawn in the same snippet; name them.
        for (s, l) in &d.related {
            if s.file != d.span.file && !s.is_none() {
                out.push_str(&format!("  note: {l} at {}\n", sources.location(*s)));
            }
        }
    }
    out
}

/// One line for a [`Diag::brief`]: `warning: FILE:LINE:COL: MESSAGE; HELP`,
/// the path as the snippet header would show it.
pub fn render_brief(d: &Diag, sources: &SourceMap) -> String {
    let kind = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let place = match sources.get(d.span.file) {
        Some(f) => format!("{}:{}:{}: ", f.named.name(), d.span.line, d.span.col),
        None => String::new(),
    };
    let help = d.help.as_deref().map(|h| format!("; {h}")).unwrap_or_default();
    format!("{kind}: {place}{}{help}\n", d.message)
}
