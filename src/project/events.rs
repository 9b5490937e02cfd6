//! What a project operation reports while it works: one event per step of
//! one resource, in Docker Compose's vocabulary (`Network app_default
//! Created`). The CLI decides how to show them.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Volume,
    Container,
    Image,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "Network",
            Kind::Volume => "Volume",
            Kind::Container => "Container",
            Kind::Image => "Image",
        }
    }
}

/// A step that began (`done: false`, e.g. "Creating") or ended
/// (`done: true`, e.g. "Created", with how long it took).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    pub name: String,
    pub status: String,
    pub done: bool,
    pub error: bool,
    pub elapsed: Option<Duration>,
}

/// Where events go; `Sync` because services start on several threads.
pub trait Sink: Sync {
    fn event(&self, e: Event);
    /// Something the user should know that is not a step (orphans, …).
    fn warning(&self, _message: &str) {}
}

/// Discards everything (tests, `--progress quiet`).
pub struct Quiet;

impl Sink for Quiet {
    fn event(&self, _: Event) {}
}

/// Times one step of one resource and reports its start and end.
pub struct Step<'a> {
    sink: &'a dyn Sink,
    kind: Kind,
    name: String,
    started: std::time::Instant,
}

impl<'a> Step<'a> {
    pub fn begin(sink: &'a dyn Sink, kind: Kind, name: &str, status: &str) -> Step<'a> {
        sink.event(Event {
            kind,
            name: name.to_string(),
            status: status.to_string(),
            done: false,
            error: false,
            elapsed: None,
        });
        Step {
            sink,
            kind,
            name: name.to_string(),
            started: std::time::Instant::now(),
        }
    }

    pub fn end(self, status: &str) {
        self.finish(status, false)
    }

    pub fn fail(self, status: &str) {
        self.finish(status, true)
    }

    fn finish(self, status: &str, error: bool) {
        self.sink.event(Event {
            kind: self.kind,
            name: self.name,
            status: status.to_string(),
            done: true,
            error,
            elapsed: Some(self.started.elapsed()),
        });
    }
}

/// A finished step with nothing to time ("Running", "Removed" of a
/// resource already gone).
pub fn done(sink: &dyn Sink, kind: Kind, name: &str, status: &str) {
    sink.event(Event {
        kind,
        name: name.to_string(),
        status: status.to_string(),
        done: true,
        error: false,
        elapsed: None,
    });
}
