//! The dispatch protocol, in one place: what the loop calls for one ready event, one due
//! timer, one cross-thread job, a new channel (`handle_opened`) and a graceful shutdown
//! (`handle_shutdown`), and what it does with the handlers' results.
//!
//! A [`Dispatch`] borrows the running channel out of the [`Core`] (one lookup), hands its
//! callbacks a [`Context`] that holds the channel directly (no lookup per `recv` or `send`),
//! routes each handler's outcome as asyncore does, and gives the channel back when the
//! event is done (one more lookup), applying what the callbacks asked for: a close frees
//! the slot, anything else refreshes the selector's interest.
//!
//! Outcomes, as asyncore routes them:
//!
//! | a handler returns | the loop |
//! |---|---|
//! | `Ok(())` | goes on |
//! | `Err(WouldBlock)` | ignores it (a spurious wake-up) |
//! | `Err` of a "disconnected" kind | calls `handle_close` once after the handler |
//! | any other `Err`, or a panic | calls `handle_error` (default: log and close) |
//!
//! and no handler of a channel runs after it is closed.
//!
//! `handle_write` is also called outside an event: when the loop refreshes a channel whose
//! `writable()` turned true behind its back (reached with `get_mut` from another channel's
//! callback or between iterations) while the selector is not watching it for writing, it
//! writes at once ([`write_ahead`], an optimistic write) through this same protocol, before
//! the wait. A socket almost always has room, so the handler usually sends everything and
//! the channel's interest never changes; a full socket makes `send` return `Ok(0)`, and the
//! interest then gains writing as after any other handler. Connecting, listening and
//! lingering channels are left to their events, and the running channel sends from its own
//! callbacks. A channel whose `handle_shutdown`
//! fails (an error other than `WouldBlock`, or a panic) is closed after `handle_error`, and
//! a listener is closed after its `handle_shutdown`, whatever it returned.

use std::io;
use std::panic::{self, AssertUnwindSafe};

use super::channel::{Phase, Running};
use super::context::Context;
use super::core::{Core, local_addr};
use super::dispatcher::AnyDispatcher;
use super::handle::Job;
use super::io_source::IoSource;
use super::os_errors::{is_disconnect, panic_message};
use super::timers::{TimerFn, TimerId};
use super::token::Token;
use crate::diagnostics::report;
use crate::selector::Event;

/// One channel's turn: its dispatcher and its state, lent by the core until [`end`](Self::end).
pub(crate) struct Dispatch<'a, S: 'static> {
    core: &'a mut Core<S>,
    dispatcher: Box<dyn AnyDispatcher<S>>,
    own: Running,
}

impl<'a, S: 'static> Dispatch<'a, S> {
    /// Borrows `token`'s channel; `None` if it is closed (earlier in this batch) or stale.
    fn begin(core: &'a mut Core<S>, token: Token) -> Option<Dispatch<'a, S>> {
        let (dispatcher, own) = core.lend(token)?;
        Some(Dispatch {
            core,
            dispatcher,
            own,
        })
    }

    /// Gives the channel back, applying what its callbacks asked for. A TLS session that
    /// failed is of no further use: its channel closes, whatever `handle_error` did.
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    fn end(mut self) {
        #[cfg(feature = "tls")]
        if self.own.tls.session.as_ref().is_some_and(|s| s.failed) && self.is_open() {
            self.core.close_lent(&mut self.own);
        }
        self.core.give_back(self.own, self.dispatcher);
    }

    fn is_open(&self) -> bool {
        self.own.io.is_some()
    }

    /// Runs one handler, unless the channel is closed, and routes its outcome; then calls
    /// `handle_close` if the handler saw end of file or a disconnection. Returns whether the
    /// handler succeeded: `false` if it returned an error (other than `WouldBlock`) or
    /// panicked.
    fn call(
        &mut self,
        what: &'static str,
        handler: impl FnOnce(&mut dyn AnyDispatcher<S>, &mut Context<'_, S>) -> io::Result<()>,
    ) -> bool {
        if !self.is_open() {
            return true;
        }
        let succeeded = match self.run(handler) {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                let spurious = error.kind() == io::ErrorKind::WouldBlock;
                self.route_error(error);
                spurious
            }
            Err(panic) => {
                self.route_error(panicked(what, &*panic));
                false
            }
        };
        if self.own.disconnected {
            self.settle_close();
        }
        succeeded
    }

    /// Runs `f` on the dispatcher with this channel's `Context`, catching a panic: the one
    /// way a handler of the running channel is called.
    #[inline]
    fn run<R>(
        &mut self,
        f: impl FnOnce(&mut dyn AnyDispatcher<S>, &mut Context<'_, S>) -> R,
    ) -> std::thread::Result<R> {
        let mut cx = Context::new(self.core, Some(&mut self.own));
        let dispatcher = &mut *self.dispatcher;
        panic::catch_unwind(AssertUnwindSafe(|| f(dispatcher, &mut cx)))
    }

    fn route_error(&mut self, error: io::Error) {
        if error.kind() == io::ErrorKind::WouldBlock {
            return; // a spurious wake-up: nothing to do now
        }
        if is_disconnect(&error) {
            self.own.disconnected = true;
            return;
        }
        self.report_error(error);
    }

    /// Calls `handle_error`, surviving a panic in it (the channel is then closed).
    fn report_error(&mut self, error: io::Error) {
        if !self.is_open() {
            return;
        }
        // A listener closed here is remembered: `run` reports it.
        let listener = self.own.phase.is_accepting().then(|| {
            let addr = self.own.io.as_ref().and_then(local_addr);
            (io::Error::new(error.kind(), error.to_string()), addr)
        });
        if let Err(panic) = self.run(|d, cx| d.handle_error(cx, error)) {
            report!(Error, target: "ioloop::event_loop",
                "{:?}: handle_error panicked ({}); closing the channel",
                self.own.token,
                panic_message(&*panic)
            );
            self.core.close_lent(&mut self.own);
        }
        if let Some((error, addr)) = listener {
            if !self.is_open() {
                let (token, phase) = (self.own.token, self.own.phase);
                self.core.note_listener_loss(token, phase, &error, addr);
            }
        }
    }

    /// Calls `handle_close` once after end of file or a disconnection. If the dispatcher
    /// kept the channel open and the connection reports another, the loop closes the
    /// channel itself: the connection is gone, and asking again would only repeat the
    /// question.
    fn settle_close(&mut self) {
        self.own.disconnected = false;
        if !self.is_open() {
            return;
        }
        if self.own.phase == Phase::Closing {
            log::debug!(target: "ioloop::event_loop", "{:?}: disconnected again after handle_close; closing", self.own.token);
            self.core.close_lent(&mut self.own);
            return;
        }
        self.own.phase = Phase::Closing;
        let outcome = self.run(|d, cx| d.handle_close(cx));
        // What `handle_close` itself saw of the connection is old news.
        self.own.disconnected = false;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error))
                if is_disconnect(&error) || error.kind() == io::ErrorKind::WouldBlock => {}
            Ok(Err(error)) => self.report_error(error),
            Err(panic) => self.report_error(panicked("handle_close", &*panic)),
        }
    }

    /// Finishes a pending connect on the channel's first event: `handle_connect` on success
    /// (then the event's reads and writes proceed), `handle_error` with the socket's error on
    /// failure. Returns whether the channel may go on with this event.
    fn complete_connect(&mut self) -> bool {
        let Some(socket) = self.own.io.as_ref().and_then(IoSource::socket) else {
            return false;
        };
        let failure = match socket.take_error() {
            Ok(Some(error)) | Err(error) => Some(error),
            Ok(None) => match socket.peer_addr() {
                Ok(_) => None,
                // Not connected and no error yet: a spurious wake-up; wait for the next event.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return false,
                Err(e) => Some(e),
            },
        };
        if let Some(error) = failure {
            if let Some(failed) = self.own.io.take() {
                match self.core.connect_next(self.own.token, failed) {
                    Ok(next) => {
                        // The next address is being tried: wait for its outcome.
                        self.own.io = Some(next);
                        return false;
                    }
                    Err(failed) => self.own.io = Some(failed),
                }
            }
            self.report_error(error);
            // A socket whose connect failed is of no further use, and it would report itself
            // ready on every wait: close it even if handle_error kept it open.
            self.core.close_lent(&mut self.own);
            return false;
        }
        self.own.phase = Phase::Open;
        if let Some(clocks) = self.own.clocks.as_deref_mut() {
            clocks.note_connected();
        }
        self.core.forget_fallbacks(self.own.token);
        #[cfg(feature = "tls")]
        if self.own.tls.is_active() {
            // A TLS client: its handshake starts now, and handle_connect waits for it.
            let now = self.core.now();
            if let Some(clocks) = self.own.clocks.as_deref_mut() {
                clocks.note_handshake(true, now);
            }
            return true;
        }
        self.call("handle_connect", |d, cx| d.handle_connect(cx));
        self.is_open()
    }

    /// A lingering channel is readable: discard what the peer sent; close at its end of
    /// file or error. A bounded amount per event, so a peer that floods cannot hold the
    /// loop (its deadline ends it).
    fn linger(&mut self) {
        const READS_PER_EVENT: usize = 16;
        #[cfg(feature = "tls")]
        if self.own.tls.is_active() && !self.flush_tls_close() {
            return;
        }
        for _ in 0..READS_PER_EVENT {
            let mut cx = Context::new(self.core, Some(&mut self.own));
            let peer_done = match cx.recv_scratch(64 * 1024).map(|data| data.len()) {
                Ok(0) => true, // end of file, or a reset
                Ok(_) => self.own.disconnected,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return, // wait for more
                Err(_) => true, // the connection failed: nothing more to wait for
            };
            if peer_done {
                self.own.disconnected = false;
                self.core.close_lent(&mut self.own);
                return;
            }
        }
        // Still sending after a burst of reads: the rest waits for the next event, and the
        // linger deadline bounds the whole.
    }
}

#[cfg(feature = "tls")]
impl<S: 'static> Dispatch<'_, S> {
    /// A TLS channel in its handshake is ready: drive the handshake. Returns whether the
    /// event goes on to the channel's handlers (the handshake completed and the channel is
    /// open): `handle_connect` (a client's, if it waited) and `handle_tls_ready` have run.
    fn handshake(&mut self) -> bool {
        use super::tls::Step;
        let (Some(io), Some(session)) = (self.own.io.as_ref(), self.own.tls.session.as_deref_mut())
        else {
            return false;
        };
        match session.handshake(io) {
            Step::Waiting => false,
            Step::PeerGone => {
                log::debug!(target: "ioloop::tls", "{:?}: the peer went away during the TLS handshake", self.own.token);
                self.own.disconnected = true;
                self.settle_close();
                false
            }
            Step::Failed(error) => {
                log::debug!(target: "ioloop::tls", "{:?}: TLS handshake failed: {error}", self.own.token);
                self.report_error(error);
                self.core.close_lent(&mut self.own); // the session is dead
                false
            }
            Step::Established => {
                session.established = true;
                let connect = std::mem::take(&mut session.connect_pending);
                let now = self.core.now();
                if let Some(clocks) = self.own.clocks.as_deref_mut() {
                    clocks.note_handshake(false, now);
                }
                if connect {
                    self.call("handle_connect", |d, cx| d.handle_connect(cx));
                }
                self.call("handle_tls_ready", |d, cx| d.handle_tls_ready(cx));
                self.is_open()
            }
        }
    }

    /// A TLS channel on its way out (closed by the program, or lingering) is ready: write
    /// what rustls still holds. Returns whether that is done and the linger goes on
    /// (reading and discarding); a channel closed with `close` is closed here once done.
    fn flush_tls_close(&mut self) -> bool {
        let (Some(io), Some(session)) = (self.own.io.as_ref(), self.own.tls.session.as_deref_mut())
        else {
            return true;
        };
        let flushed = session.flush(io).unwrap_or(true); // a failed socket has nothing to wait for
        if !flushed {
            // Discard what the peer sends meanwhile, so that a readable socket does not
            // wake the loop for ever; its end of file ends the wait.
            let mut sink = [0u8; 4096];
            for _ in 0..16 {
                match io.read(super::context::as_uninit(&mut sink)) {
                    Ok(0) => {
                        self.core.close_lent(&mut self.own);
                        return false;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            return false;
        }
        if !session.then_linger {
            self.core.close_lent(&mut self.own);
            return false;
        }
        // Everything is out: shut down writing and linger on clear reads.
        if let Some(socket) = io.socket() {
            let _ = socket.shutdown(std::net::Shutdown::Write);
        }
        self.own.tls = super::tls::TlsSlot::default();
        true
    }
}

/// A TLS channel holding decrypted input its handler has not read (see `Core::give_back`):
/// its `handle_read`.
pub(crate) fn tls_input<S: 'static>(core: &mut Core<S>, token: Token) {
    let Some(mut turn) = Dispatch::begin(core, token) else {
        return;
    };
    #[cfg(feature = "tls")]
    if let Some(session) = turn.own.tls.session.as_deref_mut() {
        session.queued = false;
    }
    let reading = matches!(turn.own.phase, Phase::Open | Phase::Closing)
        && !turn.own.close_when_drained
        && turn
            .own
            .phase
            .interest(&*turn.dispatcher)
            .is_some_and(|interest| interest.is_readable());
    if reading {
        turn.call("handle_read", |d, cx| d.handle_read(cx));
    }
    turn.end();
}

/// One ready event: `handle_connect` (once, when a connect completes), `handle_accept` or
/// `handle_read`, `handle_expt`, `handle_write`, stopping as soon as the channel is closed.
pub(crate) fn event<S: 'static>(core: &mut Core<S>, event: Event) {
    let Some(mut turn) = Dispatch::begin(core, Token::from_key(event.key())) else {
        return; // closed earlier in this batch, or stale
    };
    if let Some(clocks) = turn.own.clocks.as_deref_mut() {
        clocks.note_event(turn.core.now(), event.is_writable());
    }
    let accepting = match turn.own.phase {
        Phase::Open | Phase::Closing => false,
        Phase::Listening | Phase::Paused => true,
        Phase::Connecting => {
            if !turn.complete_connect() {
                turn.end();
                return;
            }
            false
        }
        Phase::Lingering => {
            turn.linger();
            turn.end();
            return;
        }
    };
    #[cfg(feature = "tls")]
    if turn.own.tls.is_handshaking() && !turn.handshake() {
        turn.end();
        return;
    }
    if event.is_readable() {
        if accepting {
            turn.call("handle_accept", |d, cx| d.handle_accept(cx));
        } else {
            turn.call("handle_read", |d, cx| d.handle_read(cx));
        }
    }
    if event.is_priority() && !accepting {
        turn.call("handle_expt", |d, cx| d.handle_expt(cx));
    }
    if event.is_writable() && !accepting {
        turn.call("handle_write", |d, cx| d.handle_write(cx));
    }
    turn.end();
}

/// An optimistic write (see `Core::write_ahead_wanted`): an idle channel
/// whose output just appeared gets its `handle_write` now, as a writable event would call
/// it (same outcome routing, and the same note of activity for its deadlines), though the
/// socket was not reported writable: `send` returns `Ok(0)` if it has no room. The channel
/// is then given back, which asks `writable()` again and watches for writing only if some
/// output is left.
pub(crate) fn write_ahead<S: 'static>(core: &mut Core<S>, token: Token) {
    let Some(mut turn) = Dispatch::begin(core, token) else {
        return;
    };
    // A TLS handshake under way is the loop's to drive: no handler writes before it is done.
    #[cfg(feature = "tls")]
    if turn.own.tls.is_handshaking() {
        turn.end();
        return;
    }
    if let Some(clocks) = turn.own.clocks.as_deref_mut() {
        clocks.note_event(turn.core.now(), true);
    }
    turn.call("handle_write", |d, cx| d.handle_write(cx));
    turn.end();
}

/// A channel's deadline timer: `handle_timeout` for the first expired limit, if any, then
/// the timer is armed for the next check. A lingering close past its deadline ends here.
pub(crate) fn deadline<S: 'static>(core: &mut Core<S>, token: Token) {
    let Some(mut turn) = Dispatch::begin(core, token) else {
        return;
    };
    let now = std::time::Instant::now();
    let Some(clocks) = turn.own.clocks.as_deref_mut() else {
        turn.end();
        return;
    };
    clocks.timer = None; // it fired
    if turn.own.phase == Phase::Lingering {
        if clocks.linger_until.is_some_and(|until| until <= now) {
            log::debug!(target: "ioloop::event_loop", "{:?}: lingering close timed out", turn.own.token);
            turn.core.close_lent(&mut turn.own);
        }
    } else if let Some(which) = clocks.expired(now) {
        // Started again first: a handler that keeps the channel open gets a full period
        // before it hears of this limit again, not a call per iteration.
        clocks.restart(which, now);
        turn.call("handle_timeout", |d, cx| d.handle_timeout(cx, which));
    }
    if turn.is_open() {
        turn.core.arm_deadline(&mut turn.own.clocks, token);
    }
    turn.end();
}

/// An error a dispatcher reported outside its callbacks (`Dispatcher::take_error`): its
/// `handle_error`.
pub(crate) fn failure<S: 'static>(core: &mut Core<S>, token: Token, error: io::Error) {
    if let Some(mut turn) = Dispatch::begin(core, token) {
        turn.report_error(error);
        turn.end();
    }
}

/// A channel that joined the loop: its `handle_opened`.
pub(crate) fn opened<S: 'static>(core: &mut Core<S>, token: Token) {
    if let Some(mut turn) = Dispatch::begin(core, token) {
        turn.call("handle_opened", |d, cx| d.handle_opened(cx));
        turn.end();
    }
}

/// A graceful shutdown reaches `token`'s channel: its `handle_shutdown`. A listener is
/// closed after it whatever it did (a shutdown stops accepting), and so is a channel whose
/// `handle_shutdown` failed or panicked (after `handle_error`, which may have kept it open).
pub(crate) fn shutdown<S: 'static>(core: &mut Core<S>, token: Token) {
    if let Some(mut turn) = Dispatch::begin(core, token) {
        let succeeded = turn.call("handle_shutdown", |d, cx| d.handle_shutdown(cx));
        if !succeeded || turn.own.phase.is_accepting() {
            turn.core.close_lent(&mut turn.own);
        }
        turn.end();
    }
}

/// One due timer of `token`'s channel: its `handle_timer`. Returns `false` if the channel
/// is closed (the timer is then of no use).
pub(crate) fn timer<S: 'static>(core: &mut Core<S>, token: Token, timer: TimerId) -> bool {
    let Some(mut turn) = Dispatch::begin(core, token) else {
        return false;
    };
    turn.call("handle_timer", |d, cx| d.handle_timer(cx, timer));
    turn.end();
    true
}

/// One due closure timer, with a loop-level [`Context`]. A repeating one is given back to
/// the queue; one that panics is logged and cancelled.
pub(crate) fn timer_call<S: 'static>(core: &mut Core<S>, timer: TimerId, mut call: TimerFn<S>) {
    let outcome = {
        let mut cx = Context::new(core, None);
        panic::catch_unwind(AssertUnwindSafe(|| call(&mut cx)))
    };
    match outcome {
        Ok(()) => core.restore_timer(timer, call),
        Err(panic) => {
            report!(Error, target: "ioloop::event_loop", "{timer:?}: a timer closure panicked ({}); the timer is cancelled", panic_message(&*panic));
            core.cancel_timer(timer);
        }
    }
}

/// One closure sent with [`LoopHandle::call_soon_threadsafe`](super::LoopHandle::call_soon_threadsafe),
/// with a loop-level [`Context`]. A panic is logged; the loop goes on.
pub(crate) fn job<S: 'static>(core: &mut Core<S>, job: Job<S>) {
    let mut cx = Context::new(core, None);
    if panic::catch_unwind(AssertUnwindSafe(|| job(&mut cx))).is_err() {
        report!(Error, target: "ioloop::event_loop", "a call_soon_threadsafe closure panicked; the loop goes on");
    }
}

/// The error a caught panic of handler `what` is reported as.
fn panicked(what: &str, panic: &(dyn std::any::Any + Send)) -> io::Error {
    io::Error::other(format!("{what} panicked: {}", panic_message(panic)))
}
