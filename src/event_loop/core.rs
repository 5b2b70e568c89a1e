//! [`Core`]: the loop's channels, selector, timers and state, and the invariants that tie
//! them together. Every field is private to this module, so these hold wherever the core
//! is reached from:
//!
//! - A channel is open exactly while its slot in the table is occupied (idle, or lent to its
//!   running callbacks); its source is registered in the selector for exactly that long,
//!   under its token's key. Closing unregisters the source before dropping (closing) it.
//! - The selector's interest for an idle channel is `registered`, which is what
//!   [`Phase::interest`] answered the last time the channel could have changed: after its
//!   callbacks ran, or, for a channel marked dirty, at the next [`Core::refresh_interest`]
//!   (where a channel with new output writes it first: an optimistic write, so the answer
//!   is usually unchanged by the time it is asked).
//! - At most one channel is lent at a time (to [`Dispatch`](super::dispatch::Dispatch)), and
//!   only [`Core::give_back`] returns it; its slot keeps its generation meanwhile, so its
//!   token stays valid and its slot is not reused.
//! - A channel marked [`close_when_drained`](super::Context::close_when_drained) is watched
//!   for writing only, and is closed the first time the loop finds its `writable()` false.
//! - While a graceful shutdown is under way ([`Core::begin_shutdown`]), its grace timer is
//!   queued; the shutdown ends (its state cleared, the timer cancelled) when no channel is
//!   left or when that timer closes whatever is.
//! - A listener's book (its limits, its count of open connections) lives exactly as long as
//!   the listener; a connection counted in it is counted until it leaves the table, and
//!   every slot is freed through `Core::remove_channel`, which uncounts it.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;
use socket2::{SockAddr, Socket};

use super::admission::{Admission, ListenerBook, ListenerLimits, Verdict};
use super::channel::{Channel, Phase, Running};
use super::context::{Context, NO_CHANNEL};
use super::deadlines::{Clocks, Timeouts};
use super::dispatcher::{AnyDispatcher, Dispatcher};
use super::handle::Shared;
use super::io_source::IoSource;
use super::os_errors::is_connect_in_progress;
use super::timers::{Due, TimerAction, TimerFn, TimerId, Timers};
use super::tls::TlsSlot;
use super::token::Token;
use crate::diagnostics::report;
use crate::selector::{DefaultSelector, Events, Interest, Selector, SelectorKind};

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
    /// The clock, read at most once per iteration for the channels' deadlines (see
    /// [`Core::now`]); cleared at each wait.
    now: Option<Instant>,
    /// Errors dispatchers reported outside their callbacks (`Dispatcher::take_error`),
    /// found at an interest refresh: each goes to its channel's `handle_error`.
    failed: Vec<(Token, io::Error)>,
    /// The graceful shutdown under way, if any.
    shutdown: Option<ShuttingDown>,
    /// The listeners with limits or failed accepts, by slot (`ListenerBook::listener` tells
    /// the slot's current listener from an earlier one). Dropped with their listener.
    books: HashMap<usize, ListenerBook>,
    /// A listener closed on an error path (by its `handle_error`, or after a panic): what
    /// `run` reports if it ends for want of channels.
    listener_loss: Option<io::Error>,
    /// TLS channels holding decrypted input their handler has not read: their
    /// `handle_read` is due at the next iteration, which does not wait.
    tls_deliveries: Vec<Token>,
}

/// A graceful shutdown under way (see [`Core::begin_shutdown`]).
struct ShuttingDown {
    /// When the grace period ends.
    deadline: Instant,
    /// The timer that ends it.
    timer: TimerId,
    /// Every channel open when the shutdown began was told (`handle_shutdown`); channels
    /// opened from then on are told as they open.
    told: bool,
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
            now: None,
            failed: Vec::new(),
            shutdown: None,
            books: HashMap::new(),
            listener_loss: None,
            tls_deliveries: Vec::new(),
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
        // The reading the wait was computed from (if the iteration took one) is where the
        // selector counts it from: one clock reading per iteration, not two.
        match self.now.take() {
            Some(since) => self.selector.select_since(events, timeout, since),
            None => self.selector.select(events, timeout),
        }
    }

    /// The time for the channels' deadline clocks: read once per iteration (the first time
    /// it is asked for after the wait), so noting activity costs no system call per event.
    #[inline]
    pub(crate) fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
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

    /// Removes and returns one timer due now; `None` also when there are no timers (then
    /// without reading the clock). "Now" is the iteration's one clock reading
    /// ([`Core::now`], taken after the wait), so a timer never fires early, and a batch of
    /// due timers costs one reading.
    #[inline]
    pub(crate) fn pop_due_timer(&mut self) -> Option<Due<S>> {
        if self.timers.is_empty() {
            return None;
        }
        let now = self.now();
        self.timers.pop_due(now)
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
        self.spawn_with(io, dispatcher, connecting, TlsSlot::default())
    }

    /// [`Core::spawn`] with the channel's TLS session (`TlsSlot::default()`: none).
    pub(crate) fn spawn_with<D: Dispatcher<S>>(
        &mut self,
        io: IoSource,
        dispatcher: D,
        connecting: bool,
        tls: TlsSlot,
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
        let interest = tls.interest(phase, interest);
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
            clocks: None,
            close_when_drained: false,
            admission: None,
            tls,
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
        let mut channel = self.remove_channel(token.slot);
        if let Some(io) = channel.io {
            channel.tls.notify_close(&io);
            self.release(token, io);
        }
        true
    }

    /// Gives an idle channel (a client just connecting) its TLS session.
    #[cfg(feature = "tls")]
    pub(crate) fn install_tls(&mut self, token: Token, tls: TlsSlot) -> bool {
        match self.channel_mut(token).filter(|channel| channel.is_idle()) {
            Some(channel) => {
                channel.tls = tls;
                self.mark_dirty(token);
                true
            }
            None => false,
        }
    }

    /// Whether TLS channels wait for their `handle_read` (the loop must not block).
    #[inline]
    pub(crate) fn has_tls_deliveries(&self) -> bool {
        !self.tls_deliveries.is_empty()
    }

    /// The TLS channels queued for their `handle_read`.
    #[inline]
    pub(crate) fn take_tls_deliveries(&mut self) -> Vec<Token> {
        std::mem::take(&mut self.tls_deliveries)
    }

    /// Cancels a closed channel's deadline timer, so that it does not linger in the queue.
    fn stop_clocks(&mut self, clocks: Option<Box<Clocks>>) {
        if let Some(timer) = clocks.and_then(|clocks| clocks.timer) {
            self.timers.cancel(timer.0);
        }
    }

    /// Takes a channel out of the table: the one way a slot is freed. A listener's book goes
    /// with it; a listener's connection leaves its count (which may let it accept again).
    fn remove_channel(&mut self, slot: usize) -> Channel<S> {
        let mut channel = self.channels.remove(slot);
        self.stop_clocks(channel.clocks.take());
        if !self.books.is_empty() {
            if let Some(admission) = &channel.admission {
                self.discharge(admission);
            }
            if self
                .books
                .get(&slot)
                .is_some_and(|book| book.listener.generation == channel.generation)
            {
                self.books.remove(&slot);
            }
        }
        channel
    }

    /// Closes the lent (running) channel now, idempotent: its source is unregistered and
    /// closed, and no handler of it runs after the current one.
    pub(crate) fn close_lent(&mut self, own: &mut Running) {
        if let Some(io) = own.io.take() {
            own.tls.notify_close(&io);
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
    /// One look-up (a broadcast calls this once per member per line): the fields are
    /// borrowed apart, not through [`Core::mark_dirty`].
    #[inline]
    pub(crate) fn get_mut<D: Dispatcher<S>>(&mut self, token: Token) -> Option<&mut D> {
        let channel = self
            .channels
            .get_mut(token.slot)
            .filter(|channel| channel.generation == token.generation)?;
        let dispatcher = channel.dispatcher.as_mut()?; // lent out while it runs
        if !channel.dirty {
            channel.dirty = true;
            self.dirty.push(token);
        }
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

    /// Whether new channels wait for their `handle_opened`.
    #[inline]
    pub(crate) fn has_opening(&self) -> bool {
        !self.opening.is_empty()
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
    /// answers that changed; a channel that now has output writes it at once (see
    /// [`Core::write_ahead_wanted`]). Returns whether a handler ran.
    #[inline]
    pub(crate) fn refresh_interest(&mut self) -> bool {
        if self.dirty.is_empty() {
            return false;
        }
        self.refresh_dirty()
    }

    #[cold]
    fn refresh_dirty(&mut self) -> bool {
        // Only the channels dirty when the refresh begins may write at once; those their
        // writes mark dirty are refreshed plainly (and write from their writable event), so
        // handlers that push to each other cannot hold the loop here.
        let mut batch = std::mem::take(&mut self.dirty);
        let mut wrote = false;
        for token in batch.drain(..) {
            wrote |= self.refresh_one(token, true);
        }
        while let Some(token) = self.dirty.pop() {
            self.refresh_one(token, false);
        }
        self.dirty = batch; // empty, and keeps its capacity for the next burst
        wrote
    }

    /// Refreshes one dirty channel; returns whether its `handle_write` ran.
    fn refresh_one(&mut self, token: Token, may_write: bool) -> bool {
        let Some(channel) = self.channel_mut(token) else {
            return false;
        };
        channel.dirty = false;
        if !channel.is_idle() {
            return false; // a running one is asked when it returns
        }
        // Reached from elsewhere (`get_mut`), the dispatcher may have met an error it
        // could not act on then: its channel's `handle_error` gets it now.
        let noticed = channel.dispatcher.as_mut().and_then(|d| d.take_error());
        if let Some(error) = noticed {
            self.failed.push((token, error));
            self.update_interest(token);
            return false;
        }
        // Asked once: the answer decides the write-ahead and, failing that, the interest.
        let Some(asked) = self.ask_interest(token) else {
            return false;
        };
        if may_write && self.write_ahead_wanted(token, asked) {
            super::dispatch::write_ahead(self, token); // gives it back: interest updated
            return true;
        }
        self.apply_interest(token, asked);
        false
    }

    /// Whether an idle channel whose dispatcher answered `asked` should write now rather
    /// than wait for a writable event (an optimistic write): it is established (not
    /// connecting, listening or lingering), its `writable()` turned true, and the selector
    /// is not watching it for writing. A socket almost always has room, so its
    /// `handle_write` usually sends everything, `writable()` turns false again, and the
    /// selector is never told: no interest change (two `epoll_ctl` on Linux) and no loop
    /// turn per burst of output, as in a hand-written server that writes as soon as it has
    /// something to send. If the socket is full, `send` gives `Ok(0)` and the channel's
    /// interest gains writing, as it did before.
    fn write_ahead_wanted(&self, token: Token, asked: Option<Interest>) -> bool {
        let channel = &self.channels[token.slot];
        !channel.registered.is_writable()
            && matches!(channel.phase, Phase::Open | Phase::Closing)
            && asked.is_some_and(|interest| interest.is_writable())
    }

    /// After handlers ran outside the dispatch of events (an optimistic write, a reported
    /// error): whether they left something the loop must see before it blocks in a wait — a
    /// channel to open, a stop, a shutdown to announce, a channel to refresh, or no channel.
    #[cold]
    pub(crate) fn needs_prompt_turn(&self) -> bool {
        !self.opening.is_empty()
            || self.stop_requested
            || self.shared.stop.load(std::sync::atomic::Ordering::SeqCst)
            || self
                .shutdown
                .as_ref()
                .is_some_and(|shutdown| !shutdown.told)
            || !self.dirty.is_empty()
            || self.channels.is_empty()
    }

    /// Brings the selector's interest for the idle channel in `token`'s slot up to date.
    /// The channel is closed (its slot freed) if the dispatcher panicked answering or the
    /// selector refused the change.
    #[inline]
    fn update_interest(&mut self, token: Token) {
        if let Some(asked) = self.ask_interest(token) {
            self.apply_interest(token, asked);
        }
    }

    /// What the idle channel in `token`'s slot asks of the selector now (`Some(None)`: its
    /// dispatcher panicked answering); `None` when it has no dispatcher or source to ask for.
    #[inline]
    fn ask_interest(&self, token: Token) -> Option<Option<Interest>> {
        let channel = &self.channels[token.slot];
        let (Some(dispatcher), Some(_)) = (&channel.dispatcher, &channel.io) else {
            return None;
        };
        Some(channel.phase.interest(&**dispatcher))
    }

    /// [`update_interest`](Self::update_interest) with the dispatcher's answer in hand.
    #[inline]
    fn apply_interest(&mut self, token: Token, asked: Option<Interest>) {
        let channel = &mut self.channels[token.slot];
        let Some(io) = &channel.io else {
            return;
        };
        let Some(mut interest) = asked else {
            return self.close_after_panic(token);
        };
        if channel.tls.is_active() {
            interest = channel.tls.interest(channel.phase, interest);
            if channel.tls.needs_delivery(interest) {
                // Decrypted input waits in rustls, and the socket may never be readable
                // again for it: the next iteration reads it, without waiting.
                self.tls_deliveries.push(token);
            }
        }
        if channel.close_when_drained {
            if !interest.is_writable() {
                return self.close_drained(token);
            }
            interest = Interest::WRITE; // nothing more is read from a channel on its way out
        }
        if interest == channel.registered {
            return; // the usual case: nothing to tell the selector
        }
        self.modify_calls += 1;
        if let Err(e) = self.selector.modify(io.borrow(), token.to_key(), interest) {
            return self.close_after_refusal(token, e);
        }
        channel.registered = interest;
        if let Some(clocks) = channel.clocks.as_deref_mut() {
            // The drain clock runs while the channel wants to write (a connect's wish to
            // write is the connect's own clock).
            let wants_write = interest.is_writable() && channel.phase != Phase::Connecting;
            let now = *self.now.get_or_insert_with(Instant::now);
            clocks.note_wants_write(wants_write, now);
        }
    }

    #[cold]
    fn close_after_panic(&mut self, token: Token) {
        report!(Error, target: "ioloop::event_loop", "{token:?}: readable() or writable() panicked; closing the channel");
        let error = io::Error::other("readable() or writable() panicked");
        let channel = &self.channels[token.slot];
        let addr = channel.io.as_ref().and_then(local_addr);
        self.note_listener_loss(token, channel.phase, &error, addr);
        self.close(token);
    }

    #[cold]
    fn close_drained(&mut self, token: Token) {
        log::debug!(target: "ioloop::event_loop", "{token:?}: output drained; closing the channel as asked");
        self.close(token);
    }

    #[cold]
    fn close_after_refusal(&mut self, token: Token, error: io::Error) {
        report!(Error, target: "ioloop::event_loop", "{token:?}: the selector refused an interest change ({error}); closing the channel");
        let channel = &self.channels[token.slot];
        let addr = channel.io.as_ref().and_then(local_addr);
        self.note_listener_loss(token, channel.phase, &error, addr);
        // The selector dropped the registration already: close without it.
        self.remove_channel(token.slot);
    }

    /// Lends an idle channel to its callbacks: its dispatcher and source leave the slot.
    #[inline]
    pub(crate) fn lend(&mut self, token: Token) -> Option<(Box<dyn AnyDispatcher<S>>, Running)> {
        let channel = self.channel_mut(token)?;
        let dispatcher = channel.dispatcher.take()?;
        let mut running = Running::new(
            token,
            channel.io.take(),
            channel.phase,
            channel.warned,
            channel.clocks.take(),
            std::mem::take(&mut channel.tls),
        );
        running.close_when_drained = channel.close_when_drained;
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
            clocks,
            close_when_drained,
            tls,
            ..
        } = running;
        let Some(io) = io else {
            self.remove_channel(token.slot);
            self.stop_clocks(clocks); // lent with the channel, so not in its slot
            return; // the dispatcher is dropped here
        };
        let channel = &mut self.channels[token.slot];
        channel.phase = phase;
        channel.warned = warned;
        channel.clocks = clocks;
        channel.close_when_drained = close_when_drained;
        channel.tls = tls;
        channel.io = Some(io);
        channel.dispatcher = Some(dispatcher);
        self.update_interest(token);
    }

    /// The next error found by [`Core::refresh_interest`] for a channel's `handle_error`.
    #[inline]
    pub(crate) fn next_failure(&mut self) -> Option<(Token, io::Error)> {
        if self.failed.is_empty() {
            return None;
        }
        self.failed.pop()
    }

    /// The deadlines of an idle channel; `false` if `token` names none.
    pub(crate) fn set_timeouts_of(&mut self, token: Token, limits: Timeouts) -> bool {
        let Some(channel) = self.channel_mut(token).filter(|channel| channel.is_idle()) else {
            return false;
        };
        let connecting = channel.phase == Phase::Connecting;
        let wants_write = channel.registered.is_writable() && !connecting;
        let handshaking = channel.tls.is_handshaking();
        let mut clocks = channel.clocks.take();
        let state = (connecting, wants_write, handshaking);
        self.set_timeouts(&mut clocks, token, limits, state);
        self.channels[token.slot].clocks = clocks;
        true
    }

    /// Sets the deadlines kept in `clocks` (a channel's, idle or lent) and arms its timer.
    /// `state`: whether the channel is connecting, wants to write, and is in a TLS
    /// handshake (the clocks those start).
    pub(crate) fn set_timeouts(
        &mut self,
        clocks: &mut Option<Box<Clocks>>,
        token: Token,
        limits: Timeouts,
        (connecting, wants_write, handshaking): (bool, bool, bool),
    ) {
        let now = self.now();
        if limits.is_none() && clocks.is_none() {
            return;
        }
        let kept = clocks.get_or_insert_with(|| Box::new(Clocks::new(now)));
        kept.set_limits(limits, now, connecting, wants_write, handshaking);
        self.arm_deadline(clocks, token);
    }

    /// Arms (or moves, or cancels) the deadline timer of a channel's `clocks` for their next
    /// check; drops clocks that watch nothing any more.
    pub(crate) fn arm_deadline(&mut self, clocks: &mut Option<Box<Clocks>>, token: Token) {
        let Some(kept) = clocks.as_deref_mut() else {
            return;
        };
        let next = kept.next_check(Instant::now());
        match (next, kept.timer) {
            (None, _) => {
                if let Some((timer, _)) = kept.timer.take() {
                    self.timers.cancel(timer);
                }
                if kept.is_unused() {
                    *clocks = None;
                }
            }
            // Armed no later than needed: a clock's deadline is checked when it fires.
            (Some(next), Some((_, armed))) if armed <= next => {}
            (Some(next), Some((timer, _))) => {
                self.timers.reschedule(timer, next);
                kept.timer = Some((timer, next));
            }
            (Some(next), None) => {
                let timer = self.timers.insert(next, token, None, TimerAction::Deadline);
                kept.timer = Some((timer, next));
            }
        }
    }

    /// Drops the addresses a connected channel no longer needs.
    pub(crate) fn forget_fallbacks(&mut self, token: Token) {
        if let Some(channel) = self.channel_mut(token) {
            channel.fallbacks = None;
        }
    }

    /// Lets a paused listener accept again, unless a pause still holds it: the end of an
    /// exhaustion pause, or a connection limit left behind.
    pub(crate) fn resume_accepting(&mut self, token: Token) {
        if self
            .book_mut(token)
            .is_some_and(|book| book.exhausted(Instant::now()) || book.paused_by_limit())
        {
            return;
        }
        let Some(channel) = self.channel_mut(token) else {
            return;
        };
        if channel.is_idle() && channel.phase == Phase::Paused {
            channel.phase = Phase::Listening;
            self.mark_dirty(token);
        }
    }

    /// Starts a graceful shutdown with `grace` to finish in, or shortens the one under way
    /// to end no later than `grace` from now (never later than it was to end). With no
    /// channel open there is nothing to wait for: the loop is asked to stop.
    ///
    /// The channels are told (`handle_shutdown`) by [`Core::take_shutdown_sweep`] at the
    /// loop's next safe point, not here: a callback calling this holds its own channel lent.
    pub(crate) fn begin_shutdown(&mut self, grace: Duration) {
        let deadline = deadline_after(grace);
        if let Some(shutdown) = &mut self.shutdown {
            if deadline < shutdown.deadline {
                shutdown.deadline = deadline;
                let timer = shutdown.timer;
                self.timers.reschedule(timer, deadline);
                log::info!(target: "ioloop::event_loop", "graceful shutdown: the grace period now ends in {grace:?}");
            }
            return;
        }
        if self.channels.is_empty() {
            self.request_stop();
            return;
        }
        log::info!(target: "ioloop::event_loop",
            "graceful shutdown: {} channel(s) open, {grace:?} to finish",
            self.channels.len()
        );
        let end_grace = |cx: &mut Context<'_, S>| cx.end_grace();
        let timer = self.timers.insert(
            deadline,
            NO_CHANNEL,
            None,
            TimerAction::Call(Some(Box::new(end_grace))),
        );
        self.shutdown = Some(ShuttingDown {
            deadline,
            timer,
            told: false,
        });
    }

    /// Whether a graceful shutdown is under way.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// Whether the channels opened from now on must be told of a shutdown as they open
    /// (the sweep of those open when it began is done).
    #[inline]
    pub(crate) fn tells_new_channels(&self) -> bool {
        self.shutdown.as_ref().is_some_and(|shutdown| shutdown.told)
    }

    /// Once per shutdown: the channels to tell of it (every channel open now).
    #[inline]
    pub(crate) fn take_shutdown_sweep(&mut self) -> Option<Vec<Token>> {
        match &mut self.shutdown {
            Some(shutdown) if !shutdown.told => {
                shutdown.told = true;
                Some(self.tokens())
            }
            _ => None,
        }
    }

    /// Ends a shutdown under way once no channel is left; returns whether it did (the loop
    /// then stops).
    #[inline]
    pub(crate) fn finish_shutdown_if_done(&mut self) -> bool {
        if self.shutdown.is_none() || !self.channels.is_empty() {
            return false;
        }
        if let Some(shutdown) = self.shutdown.take() {
            self.timers.cancel(shutdown.timer);
        }
        log::info!(target: "ioloop::event_loop", "graceful shutdown: every channel closed");
        true
    }

    /// The grace period is over: closes every channel left (no callback runs; their
    /// dispatchers are dropped) and asks the loop to stop.
    pub(crate) fn end_grace(&mut self) {
        if self.shutdown.take().is_none() {
            return;
        }
        let mut cut_off = 0;
        for token in self.tokens() {
            if self.close(token) {
                cut_off += 1;
            }
        }
        log::info!(target: "ioloop::event_loop",
            "graceful shutdown: the grace period ended; closed {cut_off} channel(s) still open"
        );
        self.request_stop();
    }
    /// The book of listener `token`, if it has one.
    pub(crate) fn book_mut(&mut self, token: Token) -> Option<&mut ListenerBook> {
        if self.books.is_empty() {
            return None; // the usual case: no limits, no failures
        }
        self.books
            .get_mut(&token.slot)
            .filter(|book| book.listener == token)
    }

    /// The book of listener `token`, made if it has none.
    pub(crate) fn book(&mut self, token: Token) -> &mut ListenerBook {
        let book = self
            .books
            .entry(token.slot)
            .or_insert_with(|| ListenerBook::new(token));
        if book.listener != token {
            *book = ListenerBook::new(token); // a stale one: its listener closed unseen
        }
        book
    }

    /// Rests a listener after the process ran out of something every accept needs; its
    /// `phase` (the running copy, or the slot's) becomes `Paused`.
    pub(crate) fn pause_exhausted(&mut self, token: Token, phase: &mut Phase) {
        let until = deadline_after(ACCEPT_PAUSE);
        self.book(token).pause_exhausted(until);
        *phase = Phase::Paused;
        // Due at the very instant the pause ends: one clock reading for both.
        self.timers
            .insert(until, token, None, TimerAction::ResumeAccept);
    }

    /// Sets a listener's limits. `running` is the listener's running copy if its own callback
    /// asks; otherwise the listener must be idle.
    pub(crate) fn set_listener_limits(
        &mut self,
        token: Token,
        limits: ListenerLimits,
        running: Option<&mut Running>,
    ) -> io::Result<()> {
        let not_a_listener =
            || io::Error::new(io::ErrorKind::InvalidInput, "not an open listening channel");
        let phase = match &running {
            Some(own) if own.io.is_some() => own.phase,
            Some(_) => return Err(not_a_listener()),
            None => match self.channel_mut(token) {
                Some(channel) if channel.is_idle() => channel.phase,
                _ => return Err(not_a_listener()),
            },
        };
        if !phase.is_accepting() {
            return Err(not_a_listener());
        }
        let pause = self.book(token).set_limits(limits);
        let phase = if pause {
            Phase::Paused
        } else if phase == Phase::Paused && !self.book(token).exhausted(Instant::now()) {
            Phase::Listening
        } else {
            phase
        };
        match running {
            Some(own) => own.phase = phase,
            None => {
                self.channels[token.slot].phase = phase;
                self.mark_dirty(token);
            }
        }
        Ok(())
    }

    /// Before an accept of the running listener `own`: whether its connection limit lets it
    /// accept; if not, it pauses.
    #[inline]
    pub(crate) fn may_accept(&mut self, own: &mut Running) -> bool {
        let Some(book) = self.book_mut(own.token) else {
            return true;
        };
        if book.must_pause() {
            own.phase = Phase::Paused;
            return false;
        }
        true
    }

    /// After an accept of the running listener `token`: whether to keep the connection
    /// (from `peer`) or close it at once.
    #[inline]
    pub(crate) fn screen(&mut self, token: Token, peer: &SockAddr) -> Verdict {
        let Some(book) = self.book_mut(token) else {
            return Verdict::Admit;
        };
        book.accept_succeeded();
        if !book.counts() {
            return Verdict::Admit;
        }
        book.screen(peer.as_socket().map(|addr| addr.ip()))
    }

    /// Counts `child`, just spawned from the callbacks of the running listener `own`,
    /// against its limits (pausing it at its maximum).
    pub(crate) fn admit(&mut self, child: Token, own: &mut Running) {
        let Some(book) = self.book_mut(own.token) else {
            return;
        };
        if !book.counts() {
            return;
        }
        let wants_ip = book.wants_ip();
        let Some(channel) = self.channel_mut(child) else {
            return; // closed at once (its readable() panicked)
        };
        let peer = if wants_ip { peer_ip(channel) } else { None };
        let (admission, pause) = self.book(own.token).add(peer);
        if let Some(channel) = self.channel_mut(child) {
            channel.admission = Some(admission);
        }
        if pause && own.phase == Phase::Listening {
            own.phase = Phase::Paused;
        }
    }

    /// A listener's connection left the table: the listener may accept again.
    fn discharge(&mut self, admission: &Admission) {
        let listener = admission.listener;
        let Some(book) = self.book_mut(listener) else {
            return; // the listener is gone
        };
        if !book.remove(admission) {
            return;
        }
        match self.channel_mut(listener) {
            Some(channel) if channel.is_idle() => self.resume_accepting(listener),
            // Running: its phase is its running copy's; resume it once it is back.
            Some(_) => {
                self.set_timer(Duration::ZERO, listener, None, TimerAction::ResumeAccept);
            }
            None => {}
        }
    }

    /// Remembers that listener `token` (in `phase`, at `addr`) was closed on an error path.
    #[cold]
    pub(crate) fn note_listener_loss(
        &mut self,
        token: Token,
        phase: Phase,
        error: &io::Error,
        addr: Option<SocketAddr>,
    ) {
        if !phase.is_accepting() {
            return;
        }
        let addr = addr.map_or_else(String::new, |addr| format!(" on {addr}"));
        self.listener_loss = Some(io::Error::new(
            error.kind(),
            format!("listener {token:?}{addr} was closed by an error: {error}"),
        ));
    }

    /// The error of a listener closed on an error path since the last call.
    pub(crate) fn take_listener_loss(&mut self) -> Option<io::Error> {
        self.listener_loss.take()
    }
}

/// A channel's peer IP address (for per-address limits).
fn peer_ip<S>(channel: &Channel<S>) -> Option<IpAddr> {
    let socket = channel.io.as_ref()?.socket()?;
    Some(socket.peer_addr().ok()?.as_socket()?.ip())
}

/// A source's local address, to name a listener in an error.
pub(crate) fn local_addr(io: &IoSource) -> Option<SocketAddr> {
    io.socket()?.local_addr().ok()?.as_socket()
}

/// The instant `delay` from now; a far one for delays too large for `Instant`.
fn deadline_after(delay: Duration) -> Instant {
    super::deadlines::at(Instant::now(), delay)
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
