//! [`Core`]: the loop's channels, selector, timers and state, and the invariants that tie
//! them together. Every field is private to this module, so these hold wherever the core
//! is reached from:
//!
//! - A channel is open exactly while its slot holds a [`Channel`] or is lent to its running
//!   callbacks; its source is registered in the selector for exactly that long, under its
//!   token's key. Closing unregisters the source before dropping (closing) it.
//! - The selector's interest for an idle channel is `registered`, which is what
//!   [`Phase::interest`] answered the last time the channel could have changed: after its
//!   callbacks ran, or, for a channel marked dirty, at the next [`Core::refresh_interest`].
//! - At most one channel is lent at a time (to [`Dispatch`](super::dispatch::Dispatch)), and
//!   only [`Core::give_back`] returns it; its slot keeps its generation meanwhile, so its
//!   token stays valid and its slot is not reused.

use std::any::Any;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;
use socket2::{Domain, Protocol, Socket, Type};

use super::channel::{Channel, Phase};
use super::dispatch::Running;
use super::dispatcher::{AnyDispatcher, Dispatcher};
use super::handle::Shared;
use super::io_source::IoSource;
use super::os_errors::is_connect_in_progress;
use super::timers::{TimerAction, TimerId, Timers};
use super::token::Token;
use crate::selector::{DefaultSelector, Events, Selector, SelectorKind};

/// How long a listener rests after the process ran out of descriptors.
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// One slot of the channel table.
struct Slot<S> {
    generation: usize,
    /// `None` while the channel is lent to its running callbacks.
    channel: Option<Channel<S>>,
    /// Queued in `Core::dirty`.
    dirty: bool,
}

pub(crate) struct Core<S> {
    selector: DefaultSelector,
    channels: Slab<Slot<S>>,
    timers: Timers,
    state: S,
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
    pub(crate) fn take_stop(&mut self) -> bool {
        let from_handle = self
            .shared
            .stop
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        std::mem::take(&mut self.stop_requested) || from_handle
    }

    /// Forgets a stop asked for with [`Context::stop`](super::Context::stop) in an earlier
    /// iteration that no `run` consumed.
    pub(crate) fn forget_stop(&mut self) {
        self.stop_requested = false;
    }

    /// Waits in the selector.
    pub(crate) fn select(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.selector.select(events, timeout)
    }

    pub(crate) fn set_timer(
        &mut self,
        deadline: Instant,
        token: Token,
        action: TimerAction,
    ) -> TimerId {
        self.timers.insert(deadline, token, action)
    }

    pub(crate) fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.timers.cancel(timer)
    }

    pub(crate) fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// The earliest timer's deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Removes and returns one timer due at `now`; `None` also when there are no timers
    /// (then without reading the clock: `now` is only called when a timer exists).
    pub(crate) fn pop_due_timer(
        &mut self,
        now: impl FnOnce() -> Instant,
    ) -> Option<(TimerId, Token, TimerAction)> {
        if self.timers.is_empty() {
            return None;
        }
        self.timers.pop_due(now())
    }

    /// The tokens of every open channel.
    pub(crate) fn tokens(&self) -> Vec<Token> {
        self.channels
            .iter()
            .map(|(slot, entry)| Token::new(slot, entry.generation))
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
            log::error!(target: "ioloop::event_loop", "{token:?}: readable() or writable() panicked when spawned; closing the channel");
            return Ok(token);
        };
        // SAFETY: the channel owns the source, and every path that drops it unregisters it
        // first (`close`, `release`, `give_back`), so it stays open while registered.
        unsafe { self.selector.register(io.raw(), token.to_key(), interest)? };
        vacant.insert(Slot {
            generation: token.generation,
            channel: Some(Channel {
                dispatcher,
                io,
                phase,
                registered: interest,
            }),
            dirty: false,
        });
        Ok(token)
    }

    /// Starts a non-blocking TCP connection to `addr` on a new channel.
    pub(crate) fn connect<D: Dispatcher<S>>(
        &mut self,
        addr: SocketAddr,
        dispatcher: D,
    ) -> io::Result<Token> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if is_connect_in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        self.spawn(socket.into(), dispatcher, true)
    }

    /// The slot of the channel `token` names, if it is open.
    fn slot_mut(&mut self, token: Token) -> Option<&mut Slot<S>> {
        self.channels
            .get_mut(token.slot)
            .filter(|slot| slot.generation == token.generation)
    }

    /// Closes an idle channel: unregisters its source, then drops the source (closing it)
    /// and the dispatcher. Returns whether it was open and idle (the running channel is
    /// closed through its [`Running`] instead).
    pub(crate) fn close(&mut self, token: Token) -> bool {
        if self
            .slot_mut(token)
            .is_none_or(|slot| slot.channel.is_none())
        {
            return false;
        }
        let slot = self.channels.remove(token.slot);
        let channel = slot.channel.expect("checked above");
        self.release(token, channel.io);
        true
    }

    /// Unregisters a closed channel's source and drops it.
    pub(crate) fn release(&mut self, token: Token, io: IoSource) {
        if let Err(e) = self.selector.unregister(io.raw()) {
            log::warn!(target: "ioloop::event_loop", "{token:?}: unregister failed: {e}");
        }
        drop(io);
    }

    /// An idle channel's dispatcher downcast to `D`; the channel is marked dirty.
    pub(crate) fn get_mut<D: Dispatcher<S>>(&mut self, token: Token) -> Option<&mut D> {
        self.mark_dirty(token);
        let channel = self.slot_mut(token)?.channel.as_mut()?;
        let any: &mut dyn Any = channel.dispatcher.as_any_mut();
        any.downcast_mut::<D>()
    }

    /// Queues an idle channel for [`Core::refresh_interest`], once.
    pub(crate) fn mark_dirty(&mut self, token: Token) {
        let Some(slot) = self.channels.get_mut(token.slot) else {
            return;
        };
        if slot.generation == token.generation && slot.channel.is_some() && !slot.dirty {
            slot.dirty = true;
            self.dirty.push(token);
        }
    }

    /// Asks `readable()`/`writable()` of every dirty channel and tells the selector of the
    /// answers that changed.
    pub(crate) fn refresh_interest(&mut self) {
        while let Some(token) = self.dirty.pop() {
            let Some(slot) = self.slot_mut(token) else {
                continue;
            };
            slot.dirty = false;
            let Some(channel) = slot.channel.take() else {
                continue; // running: it is asked when it returns
            };
            if let Some(channel) = self.update_interest(token, channel) {
                if let Some(slot) = self.slot_mut(token) {
                    slot.channel = Some(channel);
                }
            }
        }
    }

    /// Brings the selector's interest for `channel` up to date; `None` (the channel closed
    /// and its slot freed) if the dispatcher panicked answering or the selector refused.
    fn update_interest(&mut self, token: Token, mut channel: Channel<S>) -> Option<Channel<S>> {
        let Some(interest) = channel.phase.interest(&*channel.dispatcher) else {
            log::error!(target: "ioloop::event_loop", "{token:?}: readable() or writable() panicked; closing the channel");
            self.channels.remove(token.slot);
            self.release(token, channel.io);
            return None;
        };
        if interest != channel.registered {
            self.modify_calls += 1;
            if let Err(e) = self
                .selector
                .modify(channel.io.raw(), token.to_key(), interest)
            {
                log::error!(target: "ioloop::event_loop", "{token:?}: the selector refused an interest change ({e}); closing the channel");
                // The selector dropped the registration already: close without it.
                self.channels.remove(token.slot);
                return None;
            }
            channel.registered = interest;
        }
        Some(channel)
    }

    /// Takes an idle channel out of its slot for its callbacks.
    pub(crate) fn lend(&mut self, token: Token) -> Option<(Box<dyn AnyDispatcher<S>>, Running)> {
        let channel = self.slot_mut(token)?.channel.take()?;
        let Channel {
            dispatcher,
            io,
            phase,
            registered,
        } = channel;
        Some((dispatcher, Running::new(token, io, phase, registered)))
    }

    /// Returns a lent channel after its callbacks: frees its slot if they closed it,
    /// otherwise brings its interest up to date and puts it back.
    pub(crate) fn give_back(&mut self, running: Running, dispatcher: Box<dyn AnyDispatcher<S>>) {
        let (token, io, phase, registered) = running.into_parts();
        let Some(io) = io else {
            self.channels.remove(token.slot);
            return; // the dispatcher is dropped here
        };
        let channel = Channel {
            dispatcher,
            io,
            phase,
            registered,
        };
        if let Some(channel) = self.update_interest(token, channel) {
            let slot = &mut self.channels[token.slot];
            slot.channel = Some(channel);
        }
    }

    /// Lets a listener paused after `EMFILE` accept again.
    pub(crate) fn resume_accepting(&mut self, token: Token) {
        let Some(channel) = self.slot_mut(token).and_then(|slot| slot.channel.as_mut()) else {
            return;
        };
        if channel.phase == Phase::Paused {
            channel.phase = Phase::Listening;
            self.mark_dirty(token);
        }
    }
}
