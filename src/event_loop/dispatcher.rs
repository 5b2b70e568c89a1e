//! The [`Dispatcher`] trait: asyncore's `dispatcher` class, as callbacks the
//! [`EventLoop`](crate::EventLoop) calls when a channel's socket is ready.
//!
//! A Python subclass of `asyncore.dispatcher` becomes one `impl Dispatcher`: override the
//! handlers you need, keep the defaults for the rest. Every callback gets a
//! [`Context`](crate::Context) for I/O on its own socket and for reaching the loop.

use std::any::Any;
use std::io;

use socket2::{SockAddr, Socket};

use crate::diagnostics::report;
use crate::{Context, TimerId};

/// A channel's behaviour: asyncore's `dispatcher` callbacks, with asyncore's defaults where
/// they are safe and better ones where they were not.
///
/// Differences from asyncore, each on purpose:
/// - [`writable`](Self::writable) defaults to `false` (asyncore: `True`, which spins the loop
///   at 100 % CPU in every dispatcher that forgets to override it). The loop watches for
///   writability by itself while a [`connect`](Context::connect) is in progress.
/// - Handlers return `io::Result<()>`; an `Err` goes to [`handle_error`](Self::handle_error),
///   except `WouldBlock` (a spurious wake-up: nothing to do) and the "disconnected" kinds
///   (`ConnectionReset`, `ConnectionAborted`, `BrokenPipe`, `NotConnected`, `ESHUTDOWN`,
///   `EBADF`), which go to [`handle_close`](Self::handle_close) as asyncore routes them.
/// - A panic in a handler is caught, reported to `handle_error` as an error of kind `Other`,
///   and closes only that channel; the loop and the other channels go on.
/// - `handle_close` is called at most once per channel, and no callback runs after
///   [`Context::close`].
/// - [`readable`](Self::readable) and `writable` are asked only after something that can
///   change them: a callback of this dispatcher ran, it was reached through
///   [`Context::get_mut`], or it was refreshed ([`Context::refresh`]). A dispatcher whose answer
///   depends on state the loop cannot see (an `Rc<RefCell<_>>` shared with others, an
///   atomic) must call `refresh` when that state changes.
#[allow(unused_variables)] // the defaults ignore most arguments
pub trait Dispatcher<S: 'static = ()>: 'static {
    /// The channel joined the loop: called once, before any other callback of the channel
    /// (before `handle_connect` for a [`connect`](Context::connect)), when the callback that
    /// spawned it has returned (or, for a channel spawned outside the loop, at the start of
    /// the next iteration). The place to greet a peer or arm timers. Default: nothing.
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Greeter;
    ///
    /// impl Dispatcher for Greeter {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"220 ready\r\n")?; // a new socket has room for a greeting
    ///         cx.call_later(Duration::from_secs(300)); // an idle limit
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Greeter;
    /// ```
    fn handle_opened(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        Ok(())
    }

    /// Whether the loop should watch for readability. Default: `true`.
    fn readable(&self) -> bool {
        true
    }

    /// Whether the loop should watch for writability. Default: `false` (asyncore: `True`).
    fn writable(&self) -> bool {
        false
    }

    /// The socket has data (or end of file: [`Context::recv`] then returns `Ok(0)` and the
    /// loop calls `handle_close` after this handler returns).
    ///
    /// The default reads what is waiting (up to 64 KiB a call) and drops it, with a warning
    /// the first time for the channel (asyncore: "unhandled read event"). Unread, the data
    /// would keep the socket readable and the loop would spin; end of file still reaches
    /// `handle_close`. A dispatcher that reads nothing should answer `false` to
    /// [`readable`](Self::readable) instead.
    fn handle_read(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        let dropped = cx.recv_scratch(64 * 1024)?.len();
        if dropped > 0 {
            cx.warn_once(format_args!(
                "unhandled read event: dropped {dropped} byte(s) (implement handle_read, or answer false to readable())"
            ));
        }
        Ok(())
    }

    /// The socket has room to write.
    fn handle_write(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        log::debug!(target: "ioloop::dispatcher", "{:?}: unhandled write event", cx.label());
        Ok(())
    }

    /// A listening socket has a connection waiting. The default accepts one (as asyncore
    /// does, once per readiness event) and passes it to
    /// [`handle_accepted`](Self::handle_accepted).
    fn handle_accept(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        match cx.accept()? {
            Some((socket, addr)) => self.handle_accepted(cx, socket, addr),
            None => Ok(()),
        }
    }

    /// A connection was accepted (non-blocking already). Spawn a dispatcher for it with
    /// [`Context::spawn`]; the default drops (closes) it.
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, S>,
        socket: Socket,
        addr: SockAddr,
    ) -> io::Result<()> {
        log::debug!(target: "ioloop::dispatcher", "{:?}: unhandled accepted event; closing the connection", cx.label());
        Ok(())
    }

    /// A connection started with [`Context::connect`] is established. Called once, before any
    /// read or write event of the channel.
    fn handle_connect(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        log::debug!(target: "ioloop::dispatcher", "{:?}: unhandled connect event", cx.label());
        Ok(())
    }

    /// The peer closed the connection, or it broke. Default: close the channel.
    ///
    /// Called once per channel. A dispatcher may keep the channel open (to flush a reply
    /// after the peer's end of file, say); if the connection then reports end of file or a
    /// disconnection again, the loop closes the channel itself.
    fn handle_close(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        cx.close();
        Ok(())
    }

    /// Out-of-band (urgent) data is waiting, where the platform reports it (epoll, poll and
    /// select on Unix). The default reads and drops it: left unread it would be reported
    /// again on every iteration (the readiness is level-triggered), spinning the loop.
    fn handle_expt(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        let mut urgent = [0u8; 64];
        match cx.recv_out_of_band(&mut urgent) {
            Ok(n) => {
                log::debug!(target: "ioloop::dispatcher", "{:?}: dropped {n} byte(s) of urgent data", cx.label())
            }
            Err(e) => {
                log::debug!(target: "ioloop::dispatcher", "{:?}: urgent data could not be read: {e}", cx.label())
            }
        }
        Ok(())
    }

    /// A timer set with [`Context::call_later`] fired.
    fn handle_timer(&mut self, cx: &mut Context<'_, S>, timer: TimerId) -> io::Result<()> {
        log::debug!(target: "ioloop::dispatcher", "{:?}: unhandled timer {timer:?}", cx.label());
        Ok(())
    }

    /// A handler returned an error (or panicked). Default: log it with `log::error!` and
    /// close the channel — only this one.
    fn handle_error(&mut self, cx: &mut Context<'_, S>, error: io::Error) {
        // Named as asyncore named it: the handler's class, the channel, the peer.
        report!(Error, target: "ioloop::dispatcher",
            "uncaptured error in {} {:?} (peer {}): {error}; closing the channel",
            std::any::type_name::<Self>(),
            cx.label(),
            cx.peer_addr().map_or_else(|_| "unknown".to_string(), |a| a.to_string())
        );
        cx.close();
    }
}

/// The loop stores dispatchers as this, so [`Context::get_mut`] can downcast them.
pub(crate) trait AnyDispatcher<S: 'static>: Dispatcher<S> {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<S: 'static, D: Dispatcher<S>> AnyDispatcher<S> for D {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
