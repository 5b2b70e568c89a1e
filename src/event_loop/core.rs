//! [`Core`]: the loop's channels, selector, timers and state, and the invariants that tie
//! them together. Every field is private to this module, so these hold wherever the core
//! is reached from:
//!
//! - A channel is open exactly while its slot in the table is occupied (idle, or lent to its
//!   running callbacks); its source is registered in the selector for exactly that long,
//!   under its token's key. Closing unregisters the source before dropping (closing) it.
//! - The selector's interest for an idle channel is `registered`, which is what
//!   [`Phase::interest`] answered the last time the channel could have changed: after its
//!   callbacks ran, or, for a channel marked dirty, at the next [`Core::refresh_interest`].
//! - At most one channel is lent at a time (to [`Dispatch`](super::dispatch::Dispatch)), and
//!   only [`Core::give_back`] returns it; its slot keeps its generation meanwhile, so its
//!   token stays valid and its slot is not reused.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;
use socket2::{SockAddr, Socket};

use super::channel::{Channel, Phase, Running};
use super::dispatcher::{AnyDispatcher, Dispatcher};
use super::handle::Shared;
use super::io_source::IoSource;
use super::os_errors::is_connect_in_progress;
use super::timers::{Due, TimerAction, TimerFn, TimerId, Timers};
use super::token::Token;
use crate::diagnostics::report;
use crate::selector::{DefaultSelector, Events, Selector, SelectorKind};

/// How long a listener rests after the process ran out of descriptors.
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

pub(crate) struct Core<S> {
    selector: DefaultSelector,
    channels: Slab<Channel<S>>,
    timers: Timers<S>,
    state: S,
    /// New channels whose `handle_opened` is due.
    opening: VecDeque<Token>,
    /// Idle channels whose `readable()`/`writable()` may have changed behind the loop's back
    /// (reached with `get_mut`, or woken).
    dirty: Vec<Token>,
    /// [`Context::stop`](super::Context::stop) was called.
    stop_requested: bool,
    shared: Arc<Shared<S>>,
    next_generation: usize,
    /// How many times `Selector::modify` was called (for tests and benchmarks).
    modify_calls: u64,
    /// What [`Context::recv_scratch`](super::Context::recv_scratch) reads into: one buffer
    /// for all channels.
    scratch: Vec<u8>,
}

impl<S: 'static> Core<S> {
    pub(crate) fn new(selector: DefaultSelector, state: S, shared: Arc<Shared<S>>) -> Core<S> {
        Core {
            selector,
            channels: Slab::new(),
            timers: Timers::default(),
            state,
            opening: VecDeque::new(),
            dirty: Vec::new(),
            stop_requested: false,
            shared,
            next_generation: 0,
            modify_calls: 0,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn kind(&self) -> SelectorKind {
        self.selector.kind()
    }

    /// How many channels are open (the running one included).
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }

    pub(crate) fn state(&self) -> &S {
        &self.state
    }

    pub(crate) fn state_mut(&mut self) -> &mut S {
        &mut self.state
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<S>> {
        &self.shared
    }

    pub(crate) fn modify_calls(&self) -> u64 {
        self.modify_calls
    }

    /// Lends the scratch buffer; give it back with [`Core::put_scratch`].
    pub(crate) fn take_scratch(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.scratch)
    }

    pub(crate) fn put_scratch(&mut self, scratch: Vec<u8>) {
        self.scratch = scratch;
    }

    pub(crate) fn scratch(&self) -> &[u8] {
        &self.scratch
    }

    pub(crate) fn request_stop(&mut self) {
        self.stop_requested = true;
    }

    /// Whether a stop was asked for, here or from another thread; either request is
    /// consumed, so none is left over for a later run.
    #[inline]
    pub(crate) fn take_stop(&mut self) -> bool {
        let from_handle = self
            .shared
            .stop
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        std::mem::take(&mut self.stop_requested) || from_handle
    }

    /// Waits in the selector.
    #[inline]
    pub(crate) fn select(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.selector.select(events, timeout)
    }

    /// The selector, for the loop's own sources: the signal pipe, registered under a key no
    /// token has (see `signals.rs`; Windows has no pipe).
    #[cfg(unix)]
    pub(crate) fn selector_mut(&mut self) -> &mut DefaultSelector {
        &mut self.selector
    }

    /// Adds a timer due after `delay` (never earlier), repeating every `every` if given.
    pub(crate) fn set_timer(
        &mut self,
        delay: Duration,
        token: Token,
        every: Option<Duration>,
        action: TimerAction<S>,
    ) -> TimerId {
        self.timers
            .insert(deadline_after(delay), token, every, action)
    }

    pub(crate) fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.timers.cancel(timer)
    }

    pub(crate) fn reschedule_timer(&mut self, timer: TimerId, delay: Duration) -> bool {
        self.timers.reschedule(timer, deadline_after(delay))
    }

    /// Gives a repeating timer's closure back after it ran.
    pub(crate) fn restore_timer(&mut self, timer: TimerId, call: TimerFn<S>) {
        self.timers.restore(timer, call);
    }

    pub(crate) fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// The earliest timer's deadline.
    #[inline]
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Removes and returns one timer due at `now`; `None` also when there are no timers
    /// (then without reading the clock: `now` is only called when a timer exists).
    #[inline]
    pub(crate) fn pop_due_timer(&mut self, now: impl FnOnce() -> Instant) -> Option<Due<S>> {
        if self.timers.is_empty() {
            return None;
        }
        self.timers.pop_due(now())
    }

    /// The tokens of every open channel.
    pub(crate) fn tokens(&self) -> Vec<Token> {
        self.channels
            .iter()
            .map(|(slot, channel)| Token::new(slot, channel.generation))
            .collect()
    }

    /// Adds a channel for `io` driven by `dispatcher` and registers its source.
    ///
    /// If the dispatcher's `readable()` or `writable()` panics, the channel is closed at
    /// once, as it would be later: the error is logged, and the token returned names a
    /// closed channel.
    pub(crate) fn spawn<D: Dispatcher<S>>(
        &mut self,
        io: IoSource,
        dispatcher: D,
        connecting: bool,
    ) -> io::Result<Token> {
        io.set_nonblocking()?;
        let vacant = self.channels.vacant_entry();
        if vacant.key() > Token::MAX_SLOT {
            return Err(io::Error::other("too many channels for one loop"));
        }
        let token = Token::new(vacant.key(), self.next_generation);
        self.next_generation = self.next_generation.wrapping_add(1);
        let phase = Phase::initial(&io, connecting);
        let dispatcher: Box<dyn AnyDispatcher<S>> = Box::new(dispatcher);
        let Some(interest) = phase.interest(&*dispatcher) else {
            report!(Error, target: "ioloop::event_loop", "{token:?}: readable() or writable() panicked when spawned; closing the channel");
            return Ok(token);
        };
        // SAFETY: the channel owns the source, and every path that drops it unregisters it
        // first (`close`, `release`, `give_back`), so it stays open while registered.
        unsafe { self.selector.register(io.raw(), token.to_key(), interest)? };
        vacant.insert(Channel {
            generation: token.generation,
            dispatcher: Some(dispatcher),
            io: Some(io),
            phase,
            registered: interest,
            dirty: false,
            warned: false,
            fallbacks: None,
        });
        self.opening.push_back(token);
        Ok(token)
    }

    /// Starts a TCP connection to the first of `addrs` that the OS does not refuse at once;
    /// the rest are tried in turn if that one fails later (`Channel::fallbacks`).
    pub(crate) fn connect<D: Dispatcher<S>>(
        &mut self,
        addrs: Vec<SocketAddr>,
        dispatcher: D,
    ) -> io::Result<Token> {
        let mut addrs = VecDeque::from(addrs);
        let socket = connect_first(&mut addrs)?;
        let token = self.spawn(IoSource::connection(socket), dispatcher, true)?;
        if !addrs.is_empty() {
            if let Some(channel) = self.channel_mut(token) {
                channel.fallbacks = Some(Box::new(addrs));
            }
        }
        Ok(token)
    }

    /// Starts a connection of a socket the caller made (bound, options set; any domain).
    pub(crate) fn connect_socket<D: Dispatcher<S>>(
        &mut self,
        socket: Socket,
        addr: &SockAddr,
        dispatcher: D,
    ) -> io::Result<Token> {
        socket.set_nonblocking(true)?;
        start_connect(&socket, addr)?;
        self.spawn(IoSource::connection(socket), dispatcher, true)
    }

    /// After a failed connect: starts one to the channel's next address, in a new socket
    /// registered in place of `failed` (which is unregistered and closed). Returns the new
    /// source, or `Err(failed)` when no address is left.
    pub(crate) fn connect_next(
        &mut self,
        token: Token,
        failed: IoSource,
    ) -> Result<IoSource, IoSource> {
        loop {
            let fallbacks = self
                .channel_mut(token)
                .and_then(|channel| channel.fallbacks.as_deref_mut());
            let Some(Ok(socket)) = fallbacks.map(connect_first) else {
                return Err(failed);
            };
            let io = IoSource::connection(socket);
            let interest = self.channels[token.slot].registered;
            // SAFETY: as in `spawn`: the channel owns the new source and unregisters it
            // before dropping it.
            if unsafe { self.selector.register(io.raw(), token.to_key(), interest) }.is_err() {
                continue; // the socket closes here; try the next address
            }
            self.release(token, failed);
            return Ok(io);
        }
    }

    /// The channel `token` names, if it is open (idle or lent).
    fn channel_mut(&mut self, token: Token) -> Option<&mut Channel<S>> {
        self.channels
            .get_mut(token.slot)
            .filter(|channel| channel.generation == token.generation)
    }

    /// Closes an idle channel: unregisters its source, then drops the source (closing it)
    /// and the dispatcher. Returns whether it was open and idle (the running channel is
    /// closed through its [`Running`] instead).
    pub(crate) fn close(&mut self, token: Token) -> bool {
        if !self
            .channel_mut(token)
            .is_some_and(|channel| channel.is_idle())
        {
            return false;
        }
        let channel = self.channels.remove(token.slot);
        if let Some(io) = channel.io {
            self.release(token, io);
        }
        true
    }

    /// Closes the lent (running) channel now, idempotent: its source is unregistered and
    /// closed, and no handler of it runs after the current one.
    pub(crate) fn close_lent(&mut self, own: &mut Running) {
        if let Some(io) = own.io.take() {
            self.release(own.token, io);
        }
    }

    /// Unregisters a closed channel's source and drops it.
    fn release(&mut self, token: Token, io: IoSource) {
        if let Err(e) = self.selector.unregister(io.borrow()) {
            report!(Warn, target: "ioloop::event_loop", "{token:?}: unregister failed: {e}");
        }
        drop(io);
    }

    /// An idle channel's dispatcher downcast to `D`; the channel is marked dirty.
    pub(crate) fn get_mut<D: Dispatcher<S>>(&mut self, token: Token) -> Option<&mut D> {
        self.mark_dirty(token);
        let dispatcher = self.channel_mut(token)?.dispatcher.as_mut()?;
        let any: &mut dyn Any = dispatcher.as_any_mut();
        any.downcast_mut::<D>()
    }

    /// Queues an idle channel for [`Core::refresh_interest`], once.
    pub(crate) fn mark_dirty(&mut self, token: Token) {
        let Some(channel) = self.channels.get_mut(token.slot) else {
            return;
        };
        if channel.generation == token.generation && channel.is_idle() && !channel.dirty {
            channel.dirty = true;
            self.dirty.push(token);
        }
    }

    /// The next new channel whose `handle_opened` is due, oldest first.
    #[inline]
    pub(crate) fn next_opening(&mut self) -> Option<Token> {
        if self.opening.is_empty() {
            return None; // checked inline: the usual answer
        }
        self.opening.pop_front()
    }

    /// Asks `readable()`/`writable()` of every dirty channel and tells the selector of the
    /// answers that changed.
    #[inline]
    pub(crate) fn refresh_interest(&mut self) {
        if !self.dirty.is_empty() {
            self.refresh_dirty();
        }
    }

    #[cold]
    fn refresh_dirty(&mut self) {
        while let Some(token) = self.dirty.pop() {
            let Some(channel) = self.channel_mut(token) else {
                continue;
            };
            channel.dirty = false;
            if channel.is_idle() {
                self.update_interest(token); // a running one is asked when it returns
            }
        }
    }

    /// Brings the selector's interest for the idle channel in `token`'s slot up to date.
    /// The channel is closed (its slot freed) if the dispatcher panicked answering or the
    /// selector refused the change.
    #[inline]
    fn update_interest(&mut self, token: Token) {
        let channel = &mut self.channels[token.slot];
        let (Some(dispatcher), Some(io)) = (&channel.dispatcher, &channel.io) else {
            return;
        };
        let Some(interest) = channel.phase.interest(&**dispatcher) else {
            return self.close_after_panic(token);
        };
        if interest == channel.registered {
            return; // the usual case: nothing to tell the selector
        }
        self.modify_calls += 1;
        if let Err(e) = self.selector.modify(io.borrow(), token.to_key(), interest) {
            return self.close_after_refusal(token, e);
        }
        channel.registered = interest;
    }

    #[cold]
    fn close_after_panic(&mut self, token: Token) {
        report!(Error, target: "ioloop::event_loop", "{token:?}: readable() or writable() panicked; closing the channel");
        self.close(token);
    }

    #[cold]
    fn close_after_refusal(&mut self, token: Token, error: io::Error) {
        report!(Error, target: "ioloop::event_loop", "{token:?}: the selector refused an interest change ({error}); closing the channel");
        // The selector dropped the registration already: close without it.
        self.channels.remove(token.slot);
    }

    /// Lends an idle channel to its callbacks: its dispatcher and source leave the slot.
    #[inline]
    pub(crate) fn lend(&mut self, token: Token) -> Option<(Box<dyn AnyDispatcher<S>>, Running)> {
        let channel = self.channel_mut(token)?;
        let dispatcher = channel.dispatcher.take()?;
        let running = Running::new(token, channel.io.take(), channel.phase, channel.warned);
        Some((dispatcher, running))
    }

    /// Returns a lent channel after its callbacks: frees its slot if they closed it,
    /// otherwise puts it back and brings its interest up to date.
    #[inline(always)] // once per event: merged into the dispatch, it saves a call frame
    pub(crate) fn give_back(&mut self, running: Running, dispatcher: Box<dyn AnyDispatcher<S>>) {
        let Running {
            token,
            io,
            phase,
            warned,
            ..
        } = running;
        let Some(io) = io else {
            self.channels.remove(token.slot);
            return; // the dispatcher is dropped here
        };
        let channel = &mut self.channels[token.slot];
        channel.phase = phase;
        channel.warned = warned;
        channel.io = Some(io);
        channel.dispatcher = Some(dispatcher);
        self.update_interest(token);
    }

    /// Drops the addresses a connected channel no longer needs.
    pub(crate) fn forget_fallbacks(&mut self, token: Token) {
        if let Some(channel) = self.channel_mut(token) {
            channel.fallbacks = None;
        }
    }

    /// Lets a listener paused after `EMFILE` accept again.
    pub(crate) fn resume_accepting(&mut self, token: Token) {
        let Some(channel) = self.channel_mut(token) else {
            return;
        };
        if channel.is_idle() && channel.phase == Phase::Paused {
            channel.phase = Phase::Listening;
            self.mark_dirty(token);
        }
    }
}

/// The instant `delay` from now; a far one for delays too large for `Instant`.
fn deadline_after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// A non-blocking TCP socket with a connect under way to the first of `addrs` that the OS
/// does not refuse at once; the addresses tried leave the front of `addrs`. The last
/// refusal if none starts.
fn connect_first(addrs: &mut VecDeque<SocketAddr>) -> io::Result<Socket> {
    let mut last_error = None;
    while let Some(addr) = addrs.pop_front() {
        // A family the host lacks (no IPv6) fails at the socket: the next address may not.
        let started = crate::net::create_tcp(&addr)
            .and_then(|socket| start_connect(&socket, &addr.into()).map(|()| socket));
        match started {
            Ok(socket) => return Ok(socket),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")))
}

/// Starts a non-blocking connect; "under way" is success.
fn start_connect(socket: &Socket, addr: &SockAddr) -> io::Result<()> {
    match socket.connect(addr) {
        Ok(()) => Ok(()),
        Err(e) if is_connect_in_progress(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
