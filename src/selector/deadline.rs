//! Timeouts as the selectors promise them: `None` blocks, zero polls, anything else waits at
//! least that long — rounded up to whole milliseconds where the OS counts in milliseconds,
//! and waited again if the OS returns early or a signal interrupts the wait.

use std::time::{Duration, Instant};

/// The longest single wait handed to the OS; longer timeouts are waited in pieces, so no
/// backend sees a value its system call rejects (poll's `int` milliseconds, for one).
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// When a `select` call must return.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Option<Instant>,
    zero: bool,
}

impl Deadline {
    /// The deadline `timeout` from `since` (a clock reading the caller took), or from now
    /// without it: the clock is read only for a non-zero timeout without `since`.
    #[inline]
    pub(crate) fn after_from(since: Option<Instant>, timeout: Option<Duration>) -> Deadline {
        match timeout {
            None => Deadline {
                at: None,
                zero: false,
            },
            Some(timeout) if timeout.is_zero() => Deadline {
                at: None,
                zero: true,
            },
            Some(timeout) => Deadline {
                // A timeout too large for `Instant` is as good as none.
                at: since.unwrap_or_else(Instant::now).checked_add(timeout),
                zero: false,
            },
        }
    }

    /// Whether the caller asked for no wait, or the time has run out.
    #[inline]
    pub(crate) fn expired(&self) -> bool {
        self.zero || self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// How long the next OS wait may last (`None` = block), rounded up to whole
    /// milliseconds and bounded by [`LONGEST_WAIT`].
    #[inline]
    pub(crate) fn next_wait(&self) -> Option<Duration> {
        if self.zero {
            return Some(Duration::ZERO);
        }
        let at = self.at?;
        let left = at.saturating_duration_since(Instant::now());
        Some(round_up_to_millis(left).min(LONGEST_WAIT))
    }
}

/// A wait as the `Timespec` rustix's poll, epoll and select take (`None` blocks).
#[cfg(unix)]
pub(crate) fn timespec(wait: Option<Duration>) -> Option<rustix::event::Timespec> {
    wait.map(|wait| rustix::event::Timespec {
        tv_sec: wait.as_secs() as _,
        tv_nsec: wait.subsec_nanos() as _,
    })
}

/// `d` rounded up to a whole number of milliseconds (Python's `math.ceil(timeout * 1e3)`).
pub(crate) fn round_up_to_millis(d: Duration) -> Duration {
    // In u64 arithmetic (a 128-bit division per wait showed in profiles): whole seconds,
    // then the sub-second part rounded up to a millisecond.
    let millis = d
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_nanos().div_ceil(1_000_000)));
    Duration::from_millis(millis)
}

/// One OS wait of a backend, and its wake-up check: what [`select_until`] drives.
pub(crate) trait WaitOnce {
    /// Waits at most `wait` (`None` = block) and appends what is ready to `events`.
    fn wait_once(
        &mut self,
        events: &mut super::Events,
        wait: Option<Duration>,
    ) -> std::io::Result<()>;

    /// Consumes a pending wake-up; `true` if there was one.
    fn acknowledge_wake(&mut self) -> bool;
}

/// The `select` every backend shares: wait, and wait again after `EINTR`, an early return
/// or a spurious wake-up, until something is ready, a wake comes or the deadline passes.
#[inline]
pub(crate) fn select_until<B: WaitOnce>(
    backend: &mut B,
    events: &mut super::Events,
    timeout: Option<Duration>,
) -> std::io::Result<()> {
    select_since(backend, events, timeout, None)
}

/// As [`select_until`], the timeout counted from `since` when given: the event loop passes
/// the clock reading it computed the timeout from, which saves a reading per wait. A
/// reading older than now only makes the deadline earlier (the loop then iterates once
/// more), never later.
#[inline(always)] // once per iteration, on every backend: as the select it replaces was
pub(crate) fn select_since<B: WaitOnce>(
    backend: &mut B,
    events: &mut super::Events,
    timeout: Option<Duration>,
    since: Option<Instant>,
) -> std::io::Result<()> {
    events.clear();
    let deadline = Deadline::after_from(since, timeout);
    // The first wait is the timeout itself: no second clock reading for the usual case, in
    // which something is ready before it ends.
    let mut wait = timeout.map(|timeout| round_up_to_millis(timeout).min(LONGEST_WAIT));
    loop {
        match backend.wait_once(events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let woken = backend.acknowledge_wake();
        if woken || !events.is_empty() || deadline.expired() {
            return Ok(());
        }
        wait = deadline.next_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_goes_up_never_down() {
        assert_eq!(
            round_up_to_millis(Duration::from_micros(100)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_millis(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(
            round_up_to_millis(Duration::from_nanos(5_000_001)),
            Duration::from_millis(6)
        );
        assert_eq!(round_up_to_millis(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn zero_timeout_is_expired_at_once_and_none_never() {
        assert!(Deadline::after_from(None, Some(Duration::ZERO)).expired());
        assert_eq!(
            Deadline::after_from(None, Some(Duration::ZERO)).next_wait(),
            Some(Duration::ZERO)
        );
        assert!(!Deadline::after_from(None, None).expired());
        assert_eq!(Deadline::after_from(None, None).next_wait(), None);
        assert_eq!(
            Deadline::after_from(None, Some(Duration::MAX)).next_wait(),
            None
        );
    }

    #[test]
    fn long_waits_are_cut_into_pieces() {
        let wait =
            Deadline::after_from(None, Some(Duration::from_secs(10 * 24 * 3600))).next_wait();
        assert_eq!(wait, Some(LONGEST_WAIT));
    }
}
