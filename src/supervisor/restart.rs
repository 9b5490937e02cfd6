//! Docker's restart policies and backoff (moby `restartmanager`): the delay
//! starts at 100 ms and doubles with each restart, up to one minute; a
//! container that ran for 10 s or more starts again from 100 ms.

use std::time::Duration;

use crate::runtime::RestartPolicy;

pub const INITIAL_DELAY: Duration = Duration::from_millis(100);
pub const MAX_DELAY: Duration = Duration::from_secs(60);
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether a container that just exited with `exit_code` is started again.
/// `restart_count` is how many restarts already happened; `stopped_by_user`
/// is set by an explicit stop.
pub fn should_restart(policy: RestartPolicy, exit_code: i32, restart_count: u32, stopped_by_user: bool) -> bool {
    if stopped_by_user {
        return false;
    }
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure { max_retries } => exit_code != 0 && max_retries.is_none_or(|max| restart_count < max),
    }
}

/// The delay before the next start, given the previous delay (`None` before
/// the first restart) and how long the container ran.
pub fn next_delay(previous: Option<Duration>, uptime: Duration) -> Duration {
    match previous {
        Some(prev) if uptime < RESET_AFTER => (prev * 2).min(MAX_DELAY),
        _ => INITIAL_DELAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_decide_as_docker() {
        assert!(!should_restart(RestartPolicy::No, 1, 0, false));
        assert!(should_restart(RestartPolicy::Always, 0, 50, false));
        assert!(should_restart(RestartPolicy::UnlessStopped, 0, 0, false));
        assert!(!should_restart(RestartPolicy::Always, 1, 0, true));
        let of = |max| RestartPolicy::OnFailure { max_retries: max };
        assert!(!should_restart(of(None), 0, 0, false));
        assert!(should_restart(of(None), 1, 100, false));
        assert!(should_restart(of(Some(3)), 1, 2, false));
        assert!(!should_restart(of(Some(3)), 1, 3, false));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let short = Duration::from_millis(5);
        let mut d = next_delay(None, short);
        assert_eq!(d, Duration::from_millis(100));
        d = next_delay(Some(d), short);
        assert_eq!(d, Duration::from_millis(200));
        d = next_delay(Some(d), short);
        assert_eq!(d, Duration::from_millis(400));
        assert_eq!(next_delay(Some(Duration::from_secs(50)), short), MAX_DELAY);
        assert_eq!(
            next_delay(Some(Duration::from_secs(8)), Duration::from_secs(10)),
            INITIAL_DELAY
        );
    }
}
