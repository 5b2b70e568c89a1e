//! The loop's state apart from the running dispatcher: channels, selector, timers, the user's
//! state. A [`Context`] is a `&mut Core` plus the token of the channel it serves.
//!
//! Rules kept here:
//! - every channel's source is unregistered before it is dropped (closed);
//! - the running dispatcher is out of its slot, so others can be lent with `get_mut`, and a
//!   channel closed while its dispatcher runs is removed when the callback returns;
//! - interest is recomputed only for channels marked dirty, and `modify` is called only when
//!   it changed.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use super::handle::Shared;
use super::timers::{TimerAction, Timers};
use super::{Context, Token};
use crate::dispatcher::AnyDispatcher;
use crate::selector::{DefaultSelector, Interest, Selector};
use crate::{Dispatcher, IoSource};

/// How long a listener rests after the process ran out of descriptors.
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

pub(crate) struct Channel<S> {
    /// `None` once closed.
    pub(crate) io: Option<IoSource>,
    /// `None` while its callback runs.
    pub(crate) dispatcher: Option<Box<dyn AnyDispatcher<S>>>,
    pub(crate) generation: usize,
    /// The interest the selector has for it.
    pub(crate) registered: Interest,
    pub(crate) connecting: bool,
    /// A listener resting after `EMFILE`/`ENFILE`.
    pub(crate) paused: bool,
    /// End of file or a disconnection was seen: `handle_close` is due.
    pub(crate) close_pending: bool,
    pub(crate) close_called: bool,
    pub(crate) dirty: bool,
}

pub(crate) struct Core<S> {
    pub(crate) selector: DefaultSelector,
    pub(crate) channels: Slab<Channel<S>>,
    pub(crate) timers: Timers,
    pub(crate) state: S,
    pub(crate) dirty: Vec<Token>,
    pub(crate) stopped: bool,
    pub(crate) shared: Arc<Shared<S>>,
    next_generation: usize,
    /// How many times `Selector::modify` was called (for tests and benchmarks).
    pub(crate) modify_calls: u64,
    /// What [`Context::recv_scratch`] reads into: one buffer for all channels.
    pub(crate) scratch: Vec<u8>,
}

impl<S: 'static> Core<S> {
    pub(crate) fn new(selector: DefaultSelector, state: S, shared: Arc<Shared<S>>) -> Core<S> {
        Core {
            selector,
            channels: Slab::new(),
            timers: Timers::default(),
            state,
            dirty: Vec::new(),
            stopped: false,
            shared,
            next_generation: 0,
            modify_calls: 0,
            scratch: Vec::new(),
        }
    }

    /// The channel `token` names, if it is still open.
    pub(crate) fn channel(&self, token: Token) -> Option<&Channel<S>> {
        self.channels
            .get(token.slot)
            .filter(|channel| channel.generation == token.generation && channel.io.is_some())
    }

    pub(crate) fn channel_mut(&mut self, token: Token) -> Option<&mut Channel<S>> {
        self.channels
            .get_mut(token.slot)
            .filter(|channel| channel.generation == token.generation && channel.io.is_some())
    }

    /// Adds a channel and registers its source.
    pub(crate) fn insert(
        &mut self,
        io: IoSource,
        dispatcher: Box<dyn AnyDispatcher<S>>,
        connecting: bool,
    ) -> io::Result<Token> {
        io.set_nonblocking()?;
        let vacant = self.channels.vacant_entry();
        if vacant.key() > Token::MAX_SLOT {
            return Err(io::Error::other("too many channels for one loop"));
        }
        let token = Token::new(vacant.key(), self.next_generation);
        self.next_generation = self.next_generation.wrapping_add(1);
        let mut channel = Channel {
            io: Some(io),
            dispatcher: None,
            generation: token.generation,
            registered: Interest::NONE,
            connecting,
            paused: false,
            close_pending: false,
            close_called: false,
            dirty: false,
        };
        let interest = wanted_interest(&channel, &*dispatcher).unwrap_or(Interest::NONE);
        let raw = channel
            .io
            .as_ref()
            .map(IoSource::raw)
            .expect("a new channel is open");
        // SAFETY: the channel owns the source and `close` unregisters it before dropping it,
        // so it stays open while registered.
        unsafe { self.selector.register(raw, token.to_key(), interest)? };
        channel.registered = interest;
        channel.dispatcher = Some(dispatcher);
        vacant.insert(channel);
        Ok(token)
    }

    /// Closes a channel: unregisters, then drops (closes) its source. Its dispatcher is
    /// dropped too, unless it is running, in which case `finish` drops it.
    pub(crate) fn close(&mut self, token: Token) -> bool {
        let Some(channel) = self.channel_mut(token) else {
            return false;
        };
        let io = channel.io.take().expect("an open channel has its source");
        let running = channel.dispatcher.is_none();
        if let Err(e) = self.selector.unregister(io.borrow()) {
            log::warn!(target: "ioloop::event_loop", "{token:?}: unregister failed: {e}");
        }
        drop(io);
        if !running {
            self.channels.remove(token.slot);
        }
        true
    }

    pub(crate) fn mark_dirty(&mut self, token: Token) {
        if let Some(channel) = self.channels.get_mut(token.slot) {
            if channel.generation == token.generation && channel.io.is_some() {
                mark(channel, &mut self.dirty, token);
            }
        }
    }

    /// Asks `readable()`/`writable()` of every dirty channel and updates the selector where
    /// the answer changed.
    pub(crate) fn refresh_interest(&mut self) {
        while let Some(token) = self.dirty.pop() {
            let Some(channel) = self.channel_mut(token) else {
                continue;
            };
            channel.dirty = false;
            let Some(dispatcher) = channel.dispatcher.as_deref() else {
                continue; // running: it is marked again when it returns
            };
            let Some(interest) = wanted_interest(channel, dispatcher) else {
                log::error!(target: "ioloop::event_loop", "{token:?}: readable() or writable() panicked; closing the channel");
                self.close(token);
                continue;
            };
            if interest == channel.registered {
                continue;
            }
            channel.registered = interest;
            self.modify_calls += 1;
            let source = self.channels[token.slot]
                .io
                .as_ref()
                .map(IoSource::borrow)
                .expect("open channel");
            if let Err(e) = self.selector.modify(source, token.to_key(), interest) {
                log::error!(target: "ioloop::event_loop", "{token:?}: the selector refused an interest change ({e}); closing the channel");
                // The selector dropped the registration already; close without it.
                if let Some(channel) = self.channel_mut(token) {
                    drop(channel.io.take());
                    if channel.dispatcher.is_some() {
                        self.channels.remove(token.slot);
                    }
                }
            }
        }
    }

    /// A channel's dispatcher downcast to `D`, marking the channel dirty.
    pub(crate) fn dispatcher_mut<D: Dispatcher<S>>(&mut self, token: Token) -> Option<&mut D> {
        self.mark_dirty(token);
        let channel = self.channel_mut(token)?;
        let any: &mut dyn std::any::Any = channel.dispatcher.as_mut()?.as_any_mut();
        any.downcast_mut::<D>()
    }

    /// Takes the dispatcher out of an open channel's slot for a callback.
    pub(crate) fn take_dispatcher(&mut self, token: Token) -> Option<Box<dyn AnyDispatcher<S>>> {
        self.channel_mut(token)?.dispatcher.take()
    }

    /// Puts a dispatcher back after its callbacks, or drops it if the channel was closed
    /// meanwhile.
    pub(crate) fn finish(&mut self, token: Token, dispatcher: Box<dyn AnyDispatcher<S>>) {
        match self.channels.get_mut(token.slot) {
            Some(channel) if channel.generation == token.generation => {
                if channel.io.is_some() {
                    channel.dispatcher = Some(dispatcher);
                    mark(channel, &mut self.dirty, token);
                } else {
                    self.channels.remove(token.slot);
                }
            }
            _ => {}
        }
    }

    /// Pauses a listener that hit the descriptor limit, and schedules its resumption.
    pub(crate) fn pause_accepting(&mut self, token: Token) {
        if let Some(channel) = self.channel_mut(token) {
            if !channel.paused {
                channel.paused = true;
                self.timers.insert(
                    Instant::now() + ACCEPT_PAUSE,
                    token,
                    TimerAction::ResumeAccept,
                );
            }
        }
        self.mark_dirty(token);
    }

    pub(crate) fn resume_accepting(&mut self, token: Token) {
        if let Some(channel) = self.channel_mut(token) {
            channel.paused = false;
        }
        self.mark_dirty(token);
    }
}

/// Queues a channel for `refresh_interest`, once.
fn mark<S>(channel: &mut Channel<S>, dirty: &mut Vec<Token>, token: Token) {
    if !channel.dirty {
        channel.dirty = true;
        dirty.push(token);
    }
}

/// The interest a channel should have now; `None` if the dispatcher panicked answering.
fn wanted_interest<S: 'static>(
    channel: &Channel<S>,
    dispatcher: &dyn AnyDispatcher<S>,
) -> Option<Interest> {
    let listening = channel.io.as_ref().is_some_and(IoSource::is_listener);
    let asked = panic::catch_unwind(AssertUnwindSafe(|| {
        (dispatcher.readable(), !listening && dispatcher.writable())
    }))
    .ok()?;
    if channel.paused {
        return Some(Interest::NONE);
    }
    if channel.connecting {
        // The connect completes on writability; asyncore needed `writable()` for this.
        return Some(Interest::new(asked.0, true));
    }
    Some(Interest::new(asked.0, asked.1))
}

/// The errors asyncore treats as "the peer went away" (its `_DISCONNECTED` set): they lead
/// to `handle_close`, not `handle_error`.
pub(crate) fn is_disconnect(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected
    ) {
        return true;
    }
    let Some(code) = error.raw_os_error() else {
        return false;
    };
    #[cfg(unix)]
    {
        code == rustix::io::Errno::SHUTDOWN.raw_os_error()
            || code == rustix::io::Errno::BADF.raw_os_error()
    }
    #[cfg(windows)]
    {
        // WSAESHUTDOWN and WSAEBADF.
        code == 10058 || code == 10009
    }
}

/// Whether an accept failed because the process or system ran out of descriptors.
pub(crate) fn is_descriptor_exhaustion(error: &io::Error) -> bool {
    let Some(code) = error.raw_os_error() else {
        return false;
    };
    #[cfg(unix)]
    {
        code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    }
    #[cfg(windows)]
    {
        // WSAEMFILE, and WSAENOBUFS, which Winsock gives when it runs out of socket buffers.
        code == 10024 || code == 10055
    }
}

/// Runs one handler of `dispatcher` on `token`'s channel, routing its outcome as asyncore
/// does, then calls `handle_close` once if the channel saw end of file or a disconnection.
pub(crate) fn invoke<S: 'static>(
    core: &mut Core<S>,
    token: Token,
    dispatcher: &mut Box<dyn AnyDispatcher<S>>,
    what: &'static str,
    handler: impl FnOnce(&mut dyn AnyDispatcher<S>, &mut Context<'_, S>) -> io::Result<()>,
) {
    if core.channel(token).is_none() {
        return;
    }
    let outcome = {
        let mut cx = Context::new(core, Some(token));
        panic::catch_unwind(AssertUnwindSafe(|| handler(&mut **dispatcher, &mut cx)))
    };
    if !matches!(outcome, Ok(Ok(()))) {
        route(core, token, dispatcher, what, outcome);
    }
    settle_close(core, token, dispatcher);
}

fn route<S: 'static>(
    core: &mut Core<S>,
    token: Token,
    dispatcher: &mut Box<dyn AnyDispatcher<S>>,
    what: &'static str,
    outcome: std::thread::Result<io::Result<()>>,
) {
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error,
        Err(panic) => io::Error::other(format!("{what} panicked: {}", panic_message(&*panic))),
    };
    if error.kind() == io::ErrorKind::WouldBlock {
        return; // a spurious wake-up: nothing to do now
    }
    if is_disconnect(&error) {
        if let Some(channel) = core.channel_mut(token) {
            channel.close_pending = true;
        }
        return;
    }
    report_error(core, token, dispatcher, error);
}

/// Calls `handle_error`, surviving a panic in it (the channel is then closed).
pub(crate) fn report_error<S: 'static>(
    core: &mut Core<S>,
    token: Token,
    dispatcher: &mut Box<dyn AnyDispatcher<S>>,
    error: io::Error,
) {
    if core.channel(token).is_none() {
        return;
    }
    let outcome = {
        let mut cx = Context::new(core, Some(token));
        panic::catch_unwind(AssertUnwindSafe(|| dispatcher.handle_error(&mut cx, error)))
    };
    if let Err(panic) = outcome {
        log::error!(
            target: "ioloop::event_loop",
            "{token:?}: handle_error panicked ({}); closing the channel",
            panic_message(&*panic)
        );
        core.close(token);
    }
}

/// Calls `handle_close` once when end of file or a disconnection was seen. If the
/// dispatcher kept the channel open and another one is seen later, the loop closes the
/// channel itself: the connection is gone, and asking again would only repeat the question.
fn settle_close<S: 'static>(
    core: &mut Core<S>,
    token: Token,
    dispatcher: &mut Box<dyn AnyDispatcher<S>>,
) {
    let Some(channel) = core.channel_mut(token) else {
        return;
    };
    if !channel.close_pending {
        return;
    }
    channel.close_pending = false;
    if channel.close_called {
        log::debug!(target: "ioloop::event_loop", "{token:?}: disconnected again after handle_close; closing");
        core.close(token);
        return;
    }
    channel.close_called = true;
    let outcome = {
        let mut cx = Context::new(core, Some(token));
        panic::catch_unwind(AssertUnwindSafe(|| dispatcher.handle_close(&mut cx)))
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) if is_disconnect(&error) || error.kind() == io::ErrorKind::WouldBlock => {}
        Ok(Err(error)) => report_error(core, token, dispatcher, error),
        Err(panic) => {
            let error =
                io::Error::other(format!("handle_close panicked: {}", panic_message(&*panic)));
            report_error(core, token, dispatcher, error);
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

/// A boxed dispatcher, as channels hold them.
pub(crate) fn boxed<S: 'static, D: Dispatcher<S>>(dispatcher: D) -> Box<dyn AnyDispatcher<S>> {
    Box::new(dispatcher)
}
