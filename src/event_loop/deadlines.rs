//! Per-channel deadlines owned by the loop: [`Timeouts`] (what a program sets) and the
//! clocks the loop keeps for a channel that has any.
//!
//! Cost: no timer operation per read or write. The loop notes activity once per ready
//! event (a copy of the iteration's clock reading, taken once per iteration), and each
//! channel with a deadline has one timer, armed at most its shortest limit ahead. When it
//! fires, the clocks are compared with the limits: an expired one calls
//! [`Dispatcher::handle_timeout`](super::Dispatcher::handle_timeout); otherwise the timer is
//! armed again for the earliest deadline (or the shortest limit, whichever is sooner). A
//! clock that starts later (a message begun, output queued) therefore never needs the timer
//! moved: its deadline is at least one shortest limit away, and the timer is never further.
//!
//! What each clock measures:
//!
//! | timeout | starts | restarts | stops |
//! |---|---|---|---|
//! | idle | when set | on every readable or writable event | never |
//! | message | when the dispatcher says a message began ([`Context::set_message_pending`](super::Context::set_message_pending)) | no: a message trickled byte by byte is still one message | when it says the message is complete |
//! | drain | when the channel starts wanting to write (`writable()` turns true) | when the socket takes output (a writable event) | when `writable()` turns false |
//! | connect | when set, while the channel is connecting | no | when the connect completes |
//! | handshake | when set during a TLS handshake, or when TLS starts (a TLS channel spawned, connected, or STARTTLS) | no | when the handshake completes |

use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::channel::{Phase, Running};
use super::core::Core;
use super::timers::TimerId;
use super::{Context, Token};

/// Time limits for one channel, enforced by the loop; `None` (the default) is no limit.
///
/// Set them with [`Context::set_timeouts`](crate::Context::set_timeouts) (usually in
/// `handle_opened`), [`Context::set_timeouts_for`](crate::Context::set_timeouts_for) or
/// [`EventLoop::set_timeouts`](crate::EventLoop::set_timeouts); a chat channel takes them from
/// [`ChatConfig::timeouts`](crate::chat::ChatConfig::timeouts). When one expires the loop
/// calls [`Dispatcher::handle_timeout`](crate::Dispatcher::handle_timeout), whose default
/// closes the channel. asyncore had none of these: a peer that went quiet held its channel
/// (and descriptor) for ever.
///
/// # Examples
///
/// An HTTP-like session: a request must arrive whole within 10 s of its first byte, a
/// keep-alive connection may rest 60 s, and a client that stops reading its response is
/// dropped after 30 s:
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use ioloop::{Context, Dispatcher, Timeouts};
///
/// struct Session;
///
/// impl Dispatcher for Session {
///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
///         cx.set_timeouts(Timeouts {
///             idle: Some(Duration::from_secs(60)),
///             message: Some(Duration::from_secs(10)),
///             drain: Some(Duration::from_secs(30)),
///             ..Timeouts::NONE
///         });
///         Ok(())
///     }
/// }
/// # let _ = Session;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// No byte read or written (no readable or writable event) for this long.
    pub idle: Option<Duration>,
    /// A message that has begun is not complete this long after its first byte, however
    /// the bytes trickle in: what stops a slowloris client, which an idle limit does not.
    /// The chat layer keeps this clock by itself; a raw [`Dispatcher`](crate::Dispatcher)
    /// tells the loop with [`Context::set_message_pending`](crate::Context::set_message_pending).
    pub message: Option<Duration>,
    /// Output waits this long without the peer taking any of it (a reader that stopped
    /// reading).
    pub drain: Option<Duration>,
    /// A connect is not complete this long after the limit was set.
    pub connect: Option<Duration>,
    /// A TLS handshake is not complete this long after it began (or after the limit was
    /// set during one): a client that opens a connection to a TLS port and sends nothing, or
    /// trickles its hello, holds its channel no longer. Only TLS channels (the `tls`
    /// feature) have a handshake; on others this limit never runs.
    pub handshake: Option<Duration>,
}

impl Timeouts {
    /// No limit at all (the default).
    pub const NONE: Timeouts = Timeouts {
        idle: None,
        message: None,
        drain: None,
        connect: None,
        handshake: None,
    };

    /// Whether no limit is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::Timeouts;
    ///
    /// assert!(Timeouts::default().is_none());
    /// assert!(!Timeouts { idle: Some(Duration::from_secs(1)), ..Timeouts::NONE }.is_none());
    /// ```
    pub fn is_none(&self) -> bool {
        self.shortest().is_none()
    }

    /// The shortest limit set.
    fn shortest(&self) -> Option<Duration> {
        [
            self.idle,
            self.message,
            self.drain,
            self.connect,
            self.handshake,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Which of a channel's [`Timeouts`] expired, as
/// [`Dispatcher::handle_timeout`](crate::Dispatcher::handle_timeout) is told.
///
/// # Examples
///
/// ```
/// use ioloop::TimeoutKind;
///
/// assert_eq!(TimeoutKind::Message.to_string(), "message timeout");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// [`Timeouts::idle`].
    Idle,
    /// [`Timeouts::message`].
    Message,
    /// [`Timeouts::drain`].
    Drain,
    /// [`Timeouts::connect`].
    Connect,
    /// [`Timeouts::handshake`].
    Handshake,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutKind::Idle => "idle timeout",
            TimeoutKind::Message => "message timeout",
            TimeoutKind::Drain => "drain timeout",
            TimeoutKind::Connect => "connect timeout",
            TimeoutKind::Handshake => "TLS handshake timeout",
        })
    }
}

impl TimeoutKind {
    /// What the default `handle_timeout` of a dispatcher and of a chat handler does: an
    /// expired connect is a `TimedOut` error (for `handle_error`); any other limit closes
    /// the channel, logged at debug level under `target`.
    pub(crate) fn close_by_default<S: 'static>(
        self,
        cx: &mut Context<'_, S>,
        target: &str,
    ) -> std::io::Result<()> {
        if self == TimeoutKind::Connect {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ));
        }
        log::debug!(target: target, "{:?}: {self}; closing the channel", cx.label());
        cx.close();
        Ok(())
    }
}

/// A channel's clocks: kept (boxed, one word in the channel) only while it has a limit or
/// is lingering.
#[derive(Debug)]
pub(crate) struct Clocks {
    limits: Timeouts,
    /// The last readable or writable event.
    last_io: Instant,
    /// When the message in progress began.
    message_since: Option<Instant>,
    /// Since when output has waited without the socket taking any.
    drain_since: Option<Instant>,
    /// Since when the channel has been connecting (with a limit).
    connect_since: Option<Instant>,
    /// Since when the channel's TLS handshake has run (with a limit).
    handshake_since: Option<Instant>,
    /// A lingering close ends at this instant whatever the peer does.
    pub(crate) linger_until: Option<Instant>,
    /// The channel's deadline timer and the instant it is armed for, if armed.
    pub(crate) timer: Option<(TimerId, Instant)>,
}

impl Clocks {
    pub(crate) fn new(now: Instant) -> Clocks {
        Clocks {
            limits: Timeouts::NONE,
            last_io: now,
            message_since: None,
            drain_since: None,
            connect_since: None,
            handshake_since: None,
            linger_until: None,
            timer: None,
        }
    }

    pub(crate) fn limits(&self) -> Timeouts {
        self.limits
    }

    /// New limits: the clocks they start run from `now`.
    pub(crate) fn set_limits(
        &mut self,
        limits: Timeouts,
        now: Instant,
        connecting: bool,
        wants_write: bool,
        handshaking: bool,
    ) {
        self.limits = limits;
        self.last_io = now;
        self.connect_since = (connecting && limits.connect.is_some()).then_some(now);
        self.handshake_since = (handshaking && limits.handshake.is_some()).then_some(now);
        if wants_write && self.drain_since.is_none() {
            self.drain_since = Some(now);
        }
    }

    /// Whether nothing is left to watch: no limit and no lingering close.
    pub(crate) fn is_unused(&self) -> bool {
        self.limits.is_none() && self.linger_until.is_none()
    }

    /// A ready event reached the channel: it read or wrote.
    #[inline]
    pub(crate) fn note_event(&mut self, now: Instant, writable: bool) {
        self.last_io = now;
        if writable && self.drain_since.is_some() {
            self.drain_since = Some(now);
        }
    }

    /// The channel's wish to write changed (its interest was updated).
    #[inline]
    pub(crate) fn note_wants_write(&mut self, wants_write: bool, now: Instant) {
        match (wants_write, self.drain_since) {
            (true, None) => self.drain_since = Some(now),
            (false, Some(_)) => self.drain_since = None,
            _ => {}
        }
    }

    /// The dispatcher says whether a message is in progress.
    #[inline]
    pub(crate) fn note_message(&mut self, pending: bool, now: Instant) {
        match (pending, self.message_since) {
            (true, None) => self.message_since = Some(now),
            (false, Some(_)) => self.message_since = None,
            _ => {}
        }
    }

    /// The connect completed.
    pub(crate) fn note_connected(&mut self) {
        self.connect_since = None;
    }

    /// A TLS handshake began (`true`) or completed (`false`).
    #[cfg(feature = "tls")]
    pub(crate) fn note_handshake(&mut self, running: bool, now: Instant) {
        self.handshake_since = (running && self.limits.handshake.is_some()).then_some(now);
    }

    /// Each running clock with its deadline.
    fn deadlines(&self) -> [(TimeoutKind, Option<Instant>); 5] {
        let due = |since: Option<Instant>, limit: Option<Duration>| {
            since.zip(limit).map(|(since, limit)| at(since, limit))
        };
        [
            (
                TimeoutKind::Connect,
                due(self.connect_since, self.limits.connect),
            ),
            (
                TimeoutKind::Handshake,
                due(self.handshake_since, self.limits.handshake),
            ),
            (
                TimeoutKind::Message,
                due(self.message_since, self.limits.message),
            ),
            (TimeoutKind::Drain, due(self.drain_since, self.limits.drain)),
            (TimeoutKind::Idle, due(Some(self.last_io), self.limits.idle)),
        ]
    }

    /// The first limit expired at `now`, if any (a connect first, then a handshake, then a
    /// message, then output, then idleness).
    pub(crate) fn expired(&self, now: Instant) -> Option<TimeoutKind> {
        self.deadlines()
            .into_iter()
            .find(|(_, deadline)| deadline.is_some_and(|deadline| deadline <= now))
            .map(|(which, _)| which)
    }

    /// Starts `which`'s clock again from `now`, after its handler kept the channel open, so
    /// the same expiry is not reported again at once.
    pub(crate) fn restart(&mut self, which: TimeoutKind, now: Instant) {
        match which {
            TimeoutKind::Idle => self.last_io = now,
            TimeoutKind::Message => self.message_since = self.message_since.map(|_| now),
            TimeoutKind::Drain => self.drain_since = self.drain_since.map(|_| now),
            TimeoutKind::Connect => self.connect_since = self.connect_since.map(|_| now),
            TimeoutKind::Handshake => self.handshake_since = self.handshake_since.map(|_| now),
        }
    }

    /// When the timer should next fire: the earliest running deadline, but never more than
    /// the shortest limit ahead (so a clock started later needs no timer change). `None`
    /// when nothing is to be watched.
    pub(crate) fn next_check(&self, now: Instant) -> Option<Instant> {
        let horizon = self.limits.shortest().map(|shortest| at(now, shortest));
        self.deadlines()
            .into_iter()
            .filter_map(|(_, deadline)| deadline)
            .chain(horizon)
            .chain(self.linger_until)
            .min()
    }
}

/// The deadlines' part of a callback's [`Context`].
impl<S: 'static> Context<'_, S> {
    /// Sets this channel's [`Timeouts`], replacing any it had; `Timeouts::NONE` removes
    /// them. Each clock starts now. Nothing in a loop-level context.
    ///
    /// # Examples
    ///
    /// A peer that says nothing for 50 ms is dropped (the default
    /// [`handle_timeout`](crate::Dispatcher::handle_timeout) closes the channel):
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, Timeouts};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.set_timeouts(Timeouts { idle: Some(Duration::from_millis(50)), ..Timeouts::NONE });
    ///         assert_eq!(cx.timeouts().idle, Some(Duration::from_millis(50)));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # fn pair() -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    /// #     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// #     let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// #     client.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    /// #     Ok((client, listener.accept()?.0))
    /// # }
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Session)?; // `client`: the quiet peer
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?; // returns once the channel is closed
    /// assert_eq!(client.read(&mut [0; 16])?, 0); // end of file
    /// # io::Result::Ok(())
    /// ```
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        let (core, own) = self.split();
        if let Some(own) = own.filter(|own| own.io.is_some()) {
            let connecting = own.phase == Phase::Connecting;
            let handshaking = own.tls.is_handshaking();
            // The interest is brought up to date when the callback returns, and the drain
            // clock then starts if the channel wants to write.
            core.set_timeouts(
                &mut own.clocks,
                own.token,
                timeouts,
                (connecting, false, handshaking),
            );
        }
    }

    /// This channel's [`Timeouts`] (`Timeouts::NONE` if it has none, and in a loop-level
    /// context).
    ///
    /// # Examples
    ///
    /// See [`set_timeouts`](Self::set_timeouts).
    pub fn timeouts(&mut self) -> Timeouts {
        let (_, own) = self.split();
        own.and_then(|own| own.clocks.as_deref().map(Clocks::limits))
            .unwrap_or_default()
    }

    /// Sets another channel's [`Timeouts`] (as [`EventLoop::set_timeouts`](crate::EventLoop::set_timeouts) does); returns
    /// whether `token` names an open channel. For this channel, use
    /// [`set_timeouts`](Self::set_timeouts).
    ///
    /// # Examples
    ///
    /// A connect started from a callback, given 5 s to complete:
    ///
    /// ```no_run
    /// use std::io;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, Timeouts};
    ///
    /// struct Backend;
    /// impl Dispatcher for Backend {}
    ///
    /// fn open_backend(cx: &mut Context<'_>) -> io::Result<()> {
    ///     let token = cx.connect("127.0.0.1:6379", Backend)?;
    ///     cx.set_timeouts_for(token, Timeouts { connect: Some(Duration::from_secs(5)), ..Timeouts::NONE });
    ///     Ok(())
    /// }
    /// # let _ = open_backend;
    /// ```
    pub fn set_timeouts_for(&mut self, token: Token, timeouts: Timeouts) -> bool {
        if self.token() == Some(token) {
            self.set_timeouts(timeouts);
            return self.is_open();
        }
        let (core, _) = self.split();
        core.set_timeouts_of(token, timeouts)
    }

    /// Tells the loop whether a message is in progress on this channel (some of it read,
    /// not all), for [`Timeouts::message`]: its clock starts when this turns true and stops
    /// when it turns false; saying `true` again while a message is in progress does not
    /// restart it. The chat layer calls it itself; a raw dispatcher that frames its own
    /// input calls it after each read. Costs nothing when the channel has no timeouts.
    ///
    /// # Examples
    ///
    /// A line reader whose lines must arrive whole within 100 ms of their first byte:
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, Timeouts};
    ///
    /// #[derive(Default)]
    /// struct Lines {
    ///     partial: Vec<u8>,
    /// }
    ///
    /// impl Dispatcher<Vec<String>> for Lines {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, Vec<String>>) -> io::Result<()> {
    ///         cx.set_timeouts(Timeouts { message: Some(Duration::from_millis(100)), ..Timeouts::NONE });
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_read(&mut self, cx: &mut Context<'_, Vec<String>>) -> io::Result<()> {
    ///         let data = cx.recv_scratch(4096)?.to_vec();
    ///         self.partial.extend_from_slice(&data);
    ///         while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
    ///             let line: Vec<u8> = self.partial.drain(..=end).collect();
    ///             cx.state().push(String::from_utf8_lossy(&line).trim_end().to_string());
    ///         }
    ///         cx.set_message_pending(!self.partial.is_empty());
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # fn pair() -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    /// #     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// #     let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// #     Ok((client, listener.accept()?.0))
    /// # }
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Lines::default())?; // `client`: the peer
    /// client.write_all(b"whole\nhalf a li")?; // and never the rest
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?; // the half line times out: the channel closes
    /// assert_eq!(event_loop.state(), &["whole"]);
    /// # io::Result::Ok(())
    /// ```
    #[inline]
    pub fn set_message_pending(&mut self, pending: bool) {
        let (core, own) = self.split();
        if let Some(clocks) = own.and_then(|own| own.clocks.as_deref_mut()) {
            clocks.note_message(pending, core.now());
        }
    }

    /// Closes this channel for the program, lingering: this side stops writing (the peer
    /// reads everything sent so far, then end of file), and the loop reads and discards
    /// whatever the peer still sends until its end of file, or `limit` at most, before it
    /// closes the socket. No callback of this channel runs after this one.
    ///
    /// Use it instead of [`close`](Self::close) after an error reply to a peer that may
    /// still be sending (an HTTP 413 to an over-long upload, say): closing a socket with
    /// unread input makes the OS reset the connection, and the peer then loses the reply.
    /// (Apache's "lingering close".) A channel that is not a connected socket closes at
    /// once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct TooLarge;
    ///
    /// impl Dispatcher for TooLarge {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.recv_scratch(4096)?; // the start of an upload we refuse
    ///         cx.send(b"413 too large\r\n")?;
    ///         cx.close_lingering(Duration::from_secs(2));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # fn pair() -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    /// #     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// #     let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// #     client.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    /// #     Ok((client, listener.accept()?.0))
    /// # }
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, TooLarge)?; // `client`: the uploader
    /// let uploader = std::thread::spawn(move || -> io::Result<String> {
    ///     client.write_all(&vec![b'x'; 4 << 20])?; // it sends all before it reads
    ///     client.shutdown(std::net::Shutdown::Write)?;
    ///     let mut reply = String::new();
    ///     client.read_to_string(&mut reply)?;
    ///     Ok(reply)
    /// });
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// assert_eq!(uploader.join().unwrap()?, "413 too large\r\n"); // not a reset
    /// # io::Result::Ok(())
    /// ```
    pub fn close_lingering(&mut self, limit: Duration) {
        let (core, own) = self.split();
        let Some(own) = own else {
            return;
        };
        if own.phase == Phase::Lingering {
            return;
        }
        #[cfg(feature = "tls")]
        if own.tls.is_active() && !limit.is_zero() && super::tls::begin_linger(core, own, limit) {
            return; // close_notify and the last records go out first
        }
        let Some(socket) = own.io.as_ref().and_then(|io| io.socket()) else {
            core.close_lent(own);
            return;
        };
        if limit.is_zero() || socket.shutdown(Shutdown::Write).is_err() {
            core.close_lent(own); // not connected (or no time given): nothing to linger for
            return;
        }
        own.phase = Phase::Lingering;
        own.linger_for(core, limit);
    }
}

impl Running {
    /// Puts the channel's linger deadline `limit` from now (its phase is `Lingering`).
    pub(crate) fn linger_for<S: 'static>(&mut self, core: &mut Core<S>, limit: Duration) {
        let now = core.now();
        let clocks = self
            .clocks
            .get_or_insert_with(|| Box::new(Clocks::new(now)));
        clocks.linger_until = Some(at(now, limit));
        core.arm_deadline(&mut self.clocks, self.token);
    }
}

/// `since + limit`, or a far instant when that overflows (a limit too large for `Instant`
/// is as good as none).
pub(super) fn at(since: Instant, limit: Duration) -> Instant {
    since
        .checked_add(limit)
        .unwrap_or_else(|| since + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn clocks(limits: Timeouts, now: Instant) -> Clocks {
        let mut clocks = Clocks::new(now);
        clocks.set_limits(limits, now, false, false, false);
        clocks
    }

    #[test]
    fn idle_expires_only_after_the_limit_without_events() {
        let t0 = Instant::now();
        let mut c = clocks(
            Timeouts {
                idle: Some(10 * S),
                ..Timeouts::NONE
            },
            t0,
        );
        assert_eq!(c.expired(t0 + 9 * S), None);
        c.note_event(t0 + 9 * S, false);
        assert_eq!(c.expired(t0 + 18 * S), None);
        assert_eq!(c.expired(t0 + 19 * S), Some(TimeoutKind::Idle));
    }

    #[test]
    fn a_trickled_message_is_not_renewed_by_its_bytes() {
        let t0 = Instant::now();
        let limits = Timeouts {
            idle: Some(60 * S),
            message: Some(2 * S),
            ..Timeouts::NONE
        };
        let mut c = clocks(limits, t0);
        c.note_message(true, t0);
        c.note_event(t0 + S, false);
        c.note_message(true, t0 + S); // still the same message
        assert_eq!(c.expired(t0 + 2 * S), Some(TimeoutKind::Message));
        c.note_message(false, t0 + 2 * S);
        assert_eq!(c.expired(t0 + 3 * S), None);
    }

    #[test]
    fn drain_runs_while_output_waits_and_restarts_when_the_socket_takes_some() {
        let t0 = Instant::now();
        let mut c = clocks(
            Timeouts {
                drain: Some(5 * S),
                ..Timeouts::NONE
            },
            t0,
        );
        assert_eq!(
            c.expired(t0 + 100 * S),
            None,
            "nothing to send: no drain clock"
        );
        c.note_wants_write(true, t0);
        c.note_event(t0 + 4 * S, true);
        assert_eq!(c.expired(t0 + 8 * S), None);
        assert_eq!(c.expired(t0 + 9 * S), Some(TimeoutKind::Drain));
        c.note_wants_write(false, t0 + 9 * S);
        assert_eq!(c.expired(t0 + 100 * S), None);
    }

    #[test]
    fn the_timer_is_never_armed_further_than_the_shortest_limit() {
        let t0 = Instant::now();
        let limits = Timeouts {
            idle: Some(60 * S),
            message: Some(2 * S),
            ..Timeouts::NONE
        };
        let c = clocks(limits, t0);
        assert_eq!(c.next_check(t0), Some(t0 + 2 * S));
        assert_eq!(clocks(Timeouts::NONE, t0).next_check(t0), None);
    }

    #[test]
    fn a_restarted_clock_reports_again_only_after_a_full_limit() {
        let t0 = Instant::now();
        let mut c = clocks(
            Timeouts {
                idle: Some(S),
                ..Timeouts::NONE
            },
            t0,
        );
        assert_eq!(c.expired(t0 + S), Some(TimeoutKind::Idle));
        c.restart(TimeoutKind::Idle, t0 + S);
        assert_eq!(c.expired(t0 + S), None);
        assert_eq!(c.expired(t0 + 2 * S), Some(TimeoutKind::Idle));
    }

    #[test]
    fn connect_clock_stops_when_connected() {
        let t0 = Instant::now();
        let mut c = Clocks::new(t0);
        c.set_limits(
            Timeouts {
                connect: Some(S),
                ..Timeouts::NONE
            },
            t0,
            true,
            true,
            false,
        );
        assert_eq!(c.expired(t0 + S), Some(TimeoutKind::Connect));
        c.note_connected();
        assert_eq!(c.expired(t0 + 10 * S), None);
    }

    #[test]
    #[cfg(feature = "tls")]
    fn handshake_clock_runs_only_while_handshaking() {
        let t0 = Instant::now();
        let limits = Timeouts {
            handshake: Some(S),
            ..Timeouts::NONE
        };
        let mut c = Clocks::new(t0);
        c.set_limits(limits, t0, false, false, false);
        assert_eq!(c.expired(t0 + 10 * S), None, "no handshake: no clock");
        c.note_handshake(true, t0);
        assert_eq!(c.expired(t0 + S / 2), None);
        assert_eq!(c.expired(t0 + S), Some(TimeoutKind::Handshake));
        c.note_handshake(false, t0 + S / 2);
        assert_eq!(
            c.expired(t0 + 10 * S),
            None,
            "stopped when the handshake completed"
        );
    }
}
