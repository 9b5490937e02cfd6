//! Healthchecks, as Docker runs them: the test is exec'd in the container
//! every `interval` (every `start_interval` during `start_period`), killed
//! after `timeout`; `retries` failures in a row make the container
//! unhealthy, one success healthy. Failures during the start period do not
//! count. The last five results are kept in the state, output cut at 4 KiB.
//!
//! [`Monitor`] is driven by the supervisor's poll loop: it says when it
//! next wants to run ([`Monitor::deadline`]), which descriptor carries the
//! probe's output, and it is told when the probe process exits.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{pipe2, Pid};

use crate::runtime::exec::{self, ExecRequest, ExecStdio};
use crate::runtime::state::{ContainerState, Health, HealthLog};
use crate::runtime::{ContainerSpec, HealthTest, Healthcheck, Roots};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const MAX_OUTPUT: usize = 4096;
const KEPT_RESULTS: usize = 5;

/// The healthcheck in force: the service's, over the image's (a service
/// entry with timings but no test keeps the image's test); `None` when
/// there is none or it is disabled.
pub fn effective(spec: &ContainerSpec) -> Option<Healthcheck> {
    let image = spec.image.healthcheck.as_ref();
    let merged = match (&spec.healthcheck, image) {
        (Some(own), Some(img)) if own.test == HealthTest::Inherit => Healthcheck {
            test: img.test.clone(),
            interval_ms: own.interval_ms.or(img.interval_ms),
            timeout_ms: own.timeout_ms.or(img.timeout_ms),
            retries: own.retries.or(img.retries),
            start_period_ms: own.start_period_ms.or(img.start_period_ms),
            start_interval_ms: own.start_interval_ms.or(img.start_interval_ms),
        },
        (Some(own), _) => own.clone(),
        (None, Some(img)) => img.clone(),
        (None, None) => return None,
    };
    match &merged.test {
        HealthTest::None | HealthTest::Inherit => None,
        HealthTest::Cmd(args) if args.is_empty() => None,
        _ => Some(merged),
    }
}

/// The command line of a test.
fn argv(test: &HealthTest) -> Vec<String> {
    match test {
        HealthTest::None | HealthTest::Inherit => Vec::new(),
        HealthTest::Cmd(args) => args.clone(),
        HealthTest::CmdShell(cmd) => vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
    }
}

fn ms(v: Option<u64>, default: Duration) -> Duration {
    match v {
        Some(ms) if ms > 0 => Duration::from_millis(ms),
        _ => default,
    }
}

/// One finished probe, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i32,
    pub output: String,
}

/// Applies a probe result to the state (pure; Docker's rules).
pub fn record(state: &mut ContainerState, outcome: Outcome, in_start_period: bool, retries: u32) {
    if outcome.exit_code == 0 {
        state.health = Some(Health::Healthy);
        state.failing_streak = 0;
    } else if !in_start_period {
        state.failing_streak += 1;
        if state.failing_streak >= retries.max(1) {
            state.health = Some(Health::Unhealthy);
        }
    }
    state.health_log.push(HealthLog {
        start: outcome.start,
        end: outcome.end,
        exit_code: outcome.exit_code,
        output: outcome.output,
    });
    if state.health_log.len() > KEPT_RESULTS {
        let extra = state.health_log.len() - KEPT_RESULTS;
        state.health_log.drain(..extra);
    }
}

struct Probe {
    pid: i32,
    output: OwnedFd,
    buf: Vec<u8>,
    started: DateTime<Utc>,
    deadline: Instant,
    timed_out: bool,
}

/// Runs one container's healthcheck while its process runs.
pub struct Monitor {
    check: Healthcheck,
    started: Instant,
    /// Set once the container was healthy: the start period is over.
    start_period_over: bool,
    next: Instant,
    probe: Option<Probe>,
}

impl Monitor {
    /// For a container (re)started now; resets its health to `starting`.
    pub fn new(check: Healthcheck, state: &mut ContainerState) -> Monitor {
        state.health = Some(Health::Starting);
        state.failing_streak = 0;
        let now = Instant::now();
        let mut m = Monitor {
            check,
            started: now,
            start_period_over: false,
            next: now,
            probe: None,
        };
        m.next = now + m.interval();
        m
    }

    fn start_period(&self) -> Duration {
        ms(self.check.start_period_ms, Duration::ZERO)
    }

    fn in_start_period(&self) -> bool {
        !self.start_period_over && self.started.elapsed() < self.start_period()
    }

    fn interval(&self) -> Duration {
        if self.in_start_period() && self.check.start_interval_ms.is_some() {
            ms(self.check.start_interval_ms, DEFAULT_START_INTERVAL)
        } else {
            ms(self.check.interval_ms, DEFAULT_INTERVAL)
        }
    }

    /// When [`Monitor::tick`] next has something to do.
    pub fn deadline(&self) -> Instant {
        match &self.probe {
            Some(p) if !p.timed_out => p.deadline,
            Some(_) => Instant::now() + Duration::from_millis(100),
            None => self.next,
        }
    }

    /// The running probe's output, to poll.
    pub fn output_fd(&self) -> Option<BorrowedFd<'_>> {
        self.probe.as_ref().map(|p| p.output.as_fd())
    }

    pub fn probe_pid(&self) -> Option<i32> {
        self.probe.as_ref().map(|p| p.pid)
    }

    /// Reads what the probe wrote (kept up to 4 KiB).
    pub fn read_output(&mut self) {
        let Some(p) = &mut self.probe else { return };
        let mut buf = [0u8; 4096];
        if let Ok(n) = nix::unistd::read(p.output.as_fd(), &mut buf) {
            let room = MAX_OUTPUT.saturating_sub(p.buf.len());
            p.buf.extend_from_slice(&buf[..n.min(room)]);
        }
    }

    /// Starts a probe when one is due; kills one that ran out of time. A
    /// probe that cannot even start is a failed check, recorded in `state`
    /// at once; returns whether `state` changed.
    pub fn tick(&mut self, roots: &Roots, id: &str, state: &mut ContainerState) -> bool {
        let now = Instant::now();
        if let Some(p) = &mut self.probe {
            if !p.timed_out && now >= p.deadline {
                p.timed_out = true;
                let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            }
            return false;
        }
        if now < self.next {
            return false;
        }
        let started = Utc::now();
        match self.spawn(roots, id) {
            Ok(probe) => {
                self.probe = Some(probe);
                false
            }
            Err((code, message)) => {
                self.conclude(
                    Outcome {
                        start: started,
                        end: Utc::now(),
                        exit_code: code,
                        output: message,
                    },
                    state,
                );
                true
            }
        }
    }

    fn spawn(&self, roots: &Roots, id: &str) -> Result<Probe, (i32, String)> {
        let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| (-1, format!("pipe: {e}")))?;
        let null = exec::dev_null().map_err(|e| (-1, format!("/dev/null: {e}")))?;
        use std::os::fd::AsRawFd;
        let stdio = ExecStdio {
            stdin: null.as_raw_fd(),
            stdout: w.as_raw_fd(),
            stderr: w.as_raw_fd(),
            controlling_tty: false,
        };
        let request = ExecRequest {
            args: argv(&self.check.test),
            ..ExecRequest::default()
        };
        match exec::spawn(roots, id, &request, &stdio) {
            Ok(Ok(pid)) => Ok(Probe {
                pid,
                output: r,
                buf: Vec::new(),
                started: Utc::now(),
                deadline: Instant::now() + ms(self.check.timeout_ms, DEFAULT_TIMEOUT),
                timed_out: false,
            }),
            Ok(Err(failure)) => Err((failure.code, failure.message)),
            Err(e) => Err((-1, e.to_string())),
        }
    }

    /// The probe `pid` exited with `code`: records the result. False when
    /// `pid` is not this monitor's probe.
    pub fn finished(&mut self, pid: i32, code: i32, state: &mut ContainerState) -> bool {
        if self.probe_pid() != Some(pid) {
            return false;
        }
        self.read_output();
        let Some(p) = self.probe.take() else { return false };
        let timeout = ms(self.check.timeout_ms, DEFAULT_TIMEOUT);
        let (exit_code, output) = if p.timed_out {
            (
                -1,
                format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()),
            )
        } else {
            (code, String::from_utf8_lossy(&p.buf).into_owned())
        };
        self.conclude(
            Outcome {
                start: p.started,
                end: Utc::now(),
                exit_code,
                output,
            },
            state,
        );
        true
    }

    /// Records a check's result and schedules the next one.
    fn conclude(&mut self, outcome: Outcome, state: &mut ContainerState) {
        let in_start = self.in_start_period();
        record(state, outcome, in_start, self.check.retries.unwrap_or(DEFAULT_RETRIES));
        if state.health == Some(Health::Healthy) {
            self.start_period_over = true;
        }
        self.next = Instant::now() + self.interval();
    }

    /// Kills a running probe (the container is stopping).
    pub fn abort(&mut self) {
        if let Some(p) = self.probe.take() {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: i32) -> Outcome {
        Outcome {
            start: Utc::now(),
            end: Utc::now(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy_and_one_success_heals() {
        let mut st = ContainerState::new("x");
        st.health = Some(Health::Starting);
        record(&mut st, outcome(1), false, 3);
        record(&mut st, outcome(1), false, 3);
        assert_eq!(st.health, Some(Health::Starting));
        record(&mut st, outcome(1), false, 3);
        assert_eq!(st.health, Some(Health::Unhealthy));
        record(&mut st, outcome(0), false, 3);
        assert_eq!(st.health, Some(Health::Healthy));
        assert_eq!(st.failing_streak, 0);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_and_only_five_are_kept() {
        let mut st = ContainerState::new("x");
        st.health = Some(Health::Starting);
        for _ in 0..7 {
            record(&mut st, outcome(1), true, 1);
        }
        assert_eq!(st.health, Some(Health::Starting));
        assert_eq!(st.failing_streak, 0);
        assert_eq!(st.health_log.len(), 5);
    }

    #[test]
    fn the_service_overrides_the_image_and_none_disables() {
        let mut spec = ContainerSpec::default();
        spec.image.healthcheck = Some(Healthcheck {
            test: HealthTest::CmdShell("true".into()),
            interval_ms: Some(1000),
            timeout_ms: None,
            retries: None,
            start_period_ms: None,
            start_interval_ms: None,
        });
        assert_eq!(effective(&spec).unwrap().test, HealthTest::CmdShell("true".into()));
        spec.healthcheck = Some(Healthcheck {
            test: HealthTest::Inherit,
            interval_ms: Some(2000),
            timeout_ms: None,
            retries: Some(7),
            start_period_ms: None,
            start_interval_ms: None,
        });
        let e = effective(&spec).unwrap();
        assert_eq!(
            (e.test, e.interval_ms, e.retries),
            (HealthTest::CmdShell("true".into()), Some(2000), Some(7))
        );
        spec.healthcheck.as_mut().unwrap().test = HealthTest::None;
        assert!(effective(&spec).is_none());
    }
}
