//! Admission limits of a listener ([`ListenerLimits`]) and the loop's book of each listener
//! that has limits or failed to accept: how many channels it spawned are open (in all and per
//! peer address), why it is paused, and its rate-limited log of failed accepts.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::token::Token;
use crate::diagnostics::report;

/// How many connections a listener may have open at once, in all and per peer address, and
/// what it does when full: set with
/// [`EventLoop::set_listener_limits`](super::EventLoop::set_listener_limits) or
/// [`Context::set_listener_limits`](super::Context::set_listener_limits).
///
/// A listener's connections are the channels spawned (with [`Context::spawn`](super::Context::spawn)) from its own
/// callbacks, usually `handle_accepted`, after the limits were set; one leaves the count when
/// it closes. Above `max_connections` the listener pauses accepting ([`WhenFull::Pause`]) or
/// accepts and closes at once ([`WhenFull::Reject`]), logs once, and resumes (logging once
/// more) when fewer than `resume_below` are open. A connection from a peer address that has
/// `max_per_ip` open already is closed at once, before `handle_accepted` sees it (logged at
/// debug level). asyncore had none of this: pyftpdlib counted its channels by hand.
///
/// The pause after the process ran out of descriptors (`EMFILE`) is separate: a listener
/// resumes only when neither holds it.
///
/// # Examples
///
/// A server that serves at most 2 clients at once; the others wait in the backlog:
///
/// ```
/// use std::io;
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use ioloop::socket2::{SockAddr, Socket};
/// use ioloop::{Context, Dispatcher, EventLoop, ListenerLimits, WhenFull};
///
/// struct Server;
/// struct Session;
/// impl Dispatcher for Session {}
///
/// impl Dispatcher for Server {
///     fn handle_accepted(&mut self, cx: &mut Context<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
///         cx.spawn(socket, Session)?;
///         Ok(())
///     }
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let mut event_loop = EventLoop::new()?;
/// let server = event_loop.spawn(listener, Server)?;
/// let limits = ListenerLimits {
///     max_connections: Some(2),
///     when_full: WhenFull::Pause,
///     ..ListenerLimits::default()
/// };
/// event_loop.set_listener_limits(server, limits)?;
/// let _clients: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr)).collect::<io::Result<_>>()?;
/// event_loop.run_count(20, Some(Duration::from_millis(20)))?;
/// assert_eq!(event_loop.len(), 1 + 2); // the listener and 2 sessions; 2 clients wait
/// # io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerLimits {
    /// At most this many of the listener's connections open at once; `None`: no limit.
    pub max_connections: Option<usize>,
    /// At most this many open connections from one peer IP address; `None`: no limit.
    /// (An IPv4-mapped IPv6 address counts as its IPv4 address.)
    pub max_per_ip: Option<usize>,
    /// A full listener accepts again once fewer than this many are open (the low-water mark,
    /// so that a full server does not flap between accepting and not on every close).
    /// `None`: 90 % of `max_connections`. Taken between 1 and `max_connections`.
    pub resume_below: Option<usize>,
    /// What a full listener does.
    pub when_full: WhenFull,
}

/// What a listener at its [`ListenerLimits::max_connections`] does.
///
/// # Examples
///
/// ```
/// use ioloop::{ListenerLimits, WhenFull};
///
/// // A client turned away at once learns it now, rather than waiting in the backlog.
/// let limits = ListenerLimits {
///     max_connections: Some(1000),
///     when_full: WhenFull::Reject,
///     ..ListenerLimits::default()
/// };
/// assert_eq!(limits.resume_below, None); // 900: 90 % of the maximum
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Stop accepting: new clients wait in the listen backlog (and the OS refuses them once
    /// it is full) until the listener resumes.
    #[default]
    Pause,
    /// Accept and close at once, so that clients do not wait in the backlog.
    Reject,
}

impl ListenerLimits {
    /// Whether any limit is set (else the listener's connections are not counted).
    fn limits_anything(&self) -> bool {
        self.max_connections.is_some() || self.max_per_ip.is_some()
    }

    /// The low-water mark: accepting resumes below it.
    fn low_water(&self) -> usize {
        let Some(max) = self.max_connections else {
            return usize::MAX;
        };
        let low = self.resume_below.unwrap_or(max - max / 10);
        low.clamp(1, max.max(1))
    }
}

/// How often the failed accepts of a listener that keeps failing are reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// One open connection of a listener with limits, as its channel's slot records it.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) listener: Token,
    /// The peer's address, when the listener limits connections per address.
    ip: Option<IpAddr>,
}

/// What a listener decides about a connection it just accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Admit,
    /// Close it at once: the listener is full in [`WhenFull::Reject`] mode, or the peer has
    /// its share open.
    Reject,
}

/// The loop's record of one listener.
#[derive(Debug)]
pub(crate) struct ListenerBook {
    /// The listener (its generation tells a stale book from the slot's next listener).
    pub(crate) listener: Token,
    limits: ListenerLimits,
    /// Its connections open now.
    open: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// The limit was reached and the count has not yet fallen below the low-water mark.
    full: bool,
    /// Paused after running out of descriptors or buffers, until then.
    exhausted_until: Option<Instant>,
    failures: FailureLog,
}

impl ListenerBook {
    pub(crate) fn new(listener: Token) -> ListenerBook {
        ListenerBook {
            listener,
            limits: ListenerLimits::default(),
            open: 0,
            per_ip: HashMap::new(),
            full: false,
            exhausted_until: None,
            failures: FailureLog::default(),
        }
    }

    /// Whether connections spawned from the listener are counted.
    pub(crate) fn counts(&self) -> bool {
        self.limits.limits_anything()
    }

    pub(crate) fn wants_ip(&self) -> bool {
        self.limits.max_per_ip.is_some()
    }

    /// Whether the listener is held by its connection limit (not by exhaustion).
    pub(crate) fn paused_by_limit(&self) -> bool {
        self.full && self.limits.when_full == WhenFull::Pause
    }

    /// Whether an exhaustion pause still holds at `now`; one that ended is forgotten.
    pub(crate) fn exhausted(&mut self, now: Instant) -> bool {
        match self.exhausted_until {
            Some(until) if now < until => true,
            _ => {
                self.exhausted_until = None;
                false
            }
        }
    }

    pub(crate) fn pause_exhausted(&mut self, until: Instant) {
        self.exhausted_until = Some(until);
    }

    /// Sets new limits; returns whether the listener is to be paused by them.
    pub(crate) fn set_limits(&mut self, limits: ListenerLimits) -> bool {
        self.limits = limits;
        if self.at_max() {
            self.note_full();
        } else if self.full && self.open < self.limits.low_water() {
            self.note_resumed();
        }
        self.paused_by_limit()
    }

    fn at_max(&self) -> bool {
        self.limits
            .max_connections
            .is_some_and(|max| self.open >= max)
    }

    /// Before accepting: whether a [`WhenFull::Pause`] listener is full (and now paused).
    pub(crate) fn must_pause(&mut self) -> bool {
        if self.limits.when_full == WhenFull::Pause && (self.full || self.at_max()) {
            self.note_full();
            return true;
        }
        false
    }

    /// What to do with a connection from `peer` just accepted.
    pub(crate) fn screen(&mut self, peer: Option<IpAddr>) -> Verdict {
        if self.full || self.at_max() {
            self.note_full();
            // In Pause mode too: a handle_accept of the user's took it past the limit.
            return Verdict::Reject;
        }
        if let (Some(max), Some(ip)) = (self.limits.max_per_ip, peer) {
            if self.per_ip.get(&canonical(ip)).copied().unwrap_or(0) >= max {
                log::debug!(target: "ioloop::event_loop", "{:?}: {ip} has {max} connections open already; closing its new one", self.listener);
                return Verdict::Reject;
            }
        }
        Verdict::Admit
    }

    /// Counts a new connection; returns its record for the channel's slot and whether the
    /// listener is now to pause.
    pub(crate) fn add(&mut self, peer: Option<IpAddr>) -> (Box<Admission>, bool) {
        self.open += 1;
        let ip = peer.filter(|_| self.wants_ip()).map(canonical);
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_insert(0) += 1;
        }
        let pause = self.must_pause();
        let admission = Box::new(Admission {
            listener: self.listener,
            ip,
        });
        (admission, pause)
    }

    /// Forgets a closed connection; returns whether the listener may accept again (it was
    /// held by its limit, and the count fell below the low-water mark).
    pub(crate) fn remove(&mut self, admission: &Admission) -> bool {
        self.open = self.open.saturating_sub(1);
        if let Some(ip) = admission.ip {
            if let Some(count) = self.per_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
        if self.full && self.open < self.limits.low_water() {
            let was_paused = self.paused_by_limit();
            self.note_resumed();
            return was_paused;
        }
        false
    }

    fn note_full(&mut self) {
        if self.full {
            return;
        }
        self.full = true;
        let doing = match self.limits.when_full {
            WhenFull::Pause => "pausing accepts",
            WhenFull::Reject => "closing new connections at once",
        };
        report!(Warn, target: "ioloop::event_loop",
            "{:?}: {} connections open, this listener's limit; {doing} until fewer than {} are",
            self.listener, self.open, self.limits.low_water());
    }

    fn note_resumed(&mut self) {
        self.full = false;
        report!(Info, target: "ioloop::event_loop",
            "{:?}: {} connections open; accepting again", self.listener, self.open);
    }

    /// Reports a failed accept: the first of a run at once, then at most one summary per
    /// [`REPORT_EVERY`].
    pub(crate) fn accept_failed(&mut self, error: &io::Error, pausing: bool, now: Instant) {
        let log = &mut self.failures;
        let Some(since) = log.failing_since_report else {
            log.failing_since_report = Some(now);
            log.unreported = 0;
            let then = if pausing {
                "pausing this listener"
            } else {
                "the listener goes on"
            };
            report!(Warn, target: "ioloop::event_loop", "{:?}: accept failed ({error}); {then}", self.listener);
            return;
        };
        log.unreported += 1;
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= REPORT_EVERY {
            report!(Warn, target: "ioloop::event_loop",
                "{:?}: {} accepts failed in the last {} s (the last: {error})",
                self.listener, log.unreported, elapsed.as_secs());
            log.failing_since_report = Some(now);
            log.unreported = 0;
        }
    }

    /// An accept succeeded: reports the end of a run of failures.
    #[inline]
    pub(crate) fn accept_succeeded(&mut self) {
        if self.failures.failing_since_report.is_some() {
            self.failures.recovered(self.listener);
        }
    }
}

/// A listener's run of failed accepts, reported at its start and then at most once per
/// [`REPORT_EVERY`], and once when it ends.
#[derive(Debug, Default)]
struct FailureLog {
    /// Failing now: when the last report was given.
    failing_since_report: Option<Instant>,
    /// Failures since that report.
    unreported: u64,
}

impl FailureLog {
    #[cold]
    fn recovered(&mut self, listener: Token) {
        if self.unreported == 0 {
            report!(Info, target: "ioloop::event_loop", "{listener:?}: accepting again");
        } else {
            report!(Info, target: "ioloop::event_loop",
                "{listener:?}: accepting again ({} more failed accepts since the last report)",
                self.unreported);
        }
        self.failing_since_report = None;
        self.unreported = 0;
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(limits: ListenerLimits) -> ListenerBook {
        let mut book = ListenerBook::new(Token::new(0, 0));
        book.set_limits(limits);
        book
    }

    #[test]
    fn the_low_water_mark_defaults_to_90_percent_and_stays_in_range() {
        let low = |max, resume_below| {
            ListenerLimits {
                max_connections: Some(max),
                resume_below,
                ..ListenerLimits::default()
            }
            .low_water()
        };
        assert_eq!(low(100, None), 90);
        assert_eq!(low(10, None), 9);
        assert_eq!(low(1, None), 1);
        assert_eq!(low(0, None), 1);
        assert_eq!(low(10, Some(0)), 1);
        assert_eq!(low(10, Some(50)), 10);
        assert_eq!(low(10, Some(5)), 5);
    }

    #[test]
    fn pauses_at_the_limit_and_resumes_below_the_low_water_mark() {
        let mut book = book(ListenerLimits {
            max_connections: Some(3),
            resume_below: Some(2),
            ..ListenerLimits::default()
        });
        let mut open = Vec::new();
        for expected_pause in [false, false, true] {
            assert!(!book.must_pause());
            let (admission, pause) = book.add(None);
            assert_eq!(pause, expected_pause);
            open.push(admission);
        }
        assert!(book.must_pause());
        assert!(book.paused_by_limit());
        assert!(!book.remove(&open.pop().unwrap())); // 2 open: not below 2
        assert!(book.must_pause());
        assert!(book.remove(&open.pop().unwrap())); // 1 open
        assert!(!book.paused_by_limit());
        assert!(!book.must_pause());
    }

    #[test]
    fn reject_mode_screens_out_connections_over_the_limit() {
        let mut book = book(ListenerLimits {
            max_connections: Some(1),
            when_full: WhenFull::Reject,
            ..ListenerLimits::default()
        });
        assert_eq!(book.screen(None), Verdict::Admit);
        let (admission, pause) = book.add(None);
        assert!(!pause);
        assert!(!book.must_pause());
        assert_eq!(book.screen(None), Verdict::Reject);
        assert!(!book.remove(&admission)); // it was not paused
        assert!(!book.full);
        assert_eq!(book.screen(None), Verdict::Admit);
    }

    #[test]
    fn per_ip_limits_count_each_address_and_mapped_addresses_as_ipv4() {
        let mut book = book(ListenerLimits {
            max_per_ip: Some(1),
            ..ListenerLimits::default()
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(book.screen(Some(a)), Verdict::Admit);
        let (first, _) = book.add(Some(a));
        assert_eq!(book.screen(Some(a)), Verdict::Reject);
        assert_eq!(book.screen(Some(mapped)), Verdict::Reject);
        assert_eq!(book.screen(Some(b)), Verdict::Admit);
        book.remove(&first);
        assert_eq!(book.screen(Some(mapped)), Verdict::Admit);
        assert!(book.per_ip.is_empty());
    }

    #[test]
    fn an_exhaustion_pause_ends_at_its_time() {
        let mut book = book(ListenerLimits::default());
        let now = Instant::now();
        book.pause_exhausted(now + Duration::from_millis(100));
        assert!(book.exhausted(now));
        assert!(!book.exhausted(now + Duration::from_millis(100)));
        assert!(!book.exhausted(now));
    }

    #[test]
    fn failed_accepts_are_summarised_not_reported_one_by_one() {
        let mut book = book(ListenerLimits::default());
        let error = io::Error::other("no buffers");
        let start = Instant::now();
        book.accept_failed(&error, true, start);
        for ms in 1..=100 {
            book.accept_failed(&error, true, start + Duration::from_millis(ms));
        }
        assert_eq!(book.failures.unreported, 100);
        book.accept_failed(&error, true, start + REPORT_EVERY);
        assert_eq!(book.failures.unreported, 0); // summarised
        book.accept_succeeded();
        assert_eq!(book.failures.failing_since_report, None);
    }
}
