//! The event-loop layer: Python's `asyncore`, as an [`EventLoop`] that owns channels
//! (a socket and a [`Dispatcher`]) and calls their handlers when the socket is ready.
//!
//! The dispatch of one event, timer or job is in `dispatch.rs`; the channel table and its
//! invariants in `core.rs`; what a callback can do in `context.rs`. A graceful shutdown
//! ([`EventLoop::shutdown`]) is started in `core.rs`, told to the channels here (at the start
//! of an iteration, and as channels open) and ended by the run loop's check that no channel
//! is left, or by its grace timer.

mod admission;
mod channel;
mod context;
mod core;
mod deadlines;
mod dispatch;
mod dispatcher;
mod handle;
mod io_source;
mod os_errors;
mod send_buffer;
mod signals;
mod timers;
mod tls;
mod token;

use std::fmt;
use std::io;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use admission::{ListenerLimits, WhenFull};
pub use context::Context;
pub use deadlines::{TimeoutKind, Timeouts};
pub use dispatcher::{ACCEPT_BATCH, Dispatcher};
pub use handle::LoopHandle;
pub use io_source::IoSource;
pub use send_buffer::SendBuffer;
pub use signals::{Signal, SignalId};
pub use timers::TimerId;
pub use token::Token;

use self::core::Core;
use self::handle::Shared;
use self::signals::Signals;
use self::timers::Due;
use crate::selector::{DefaultSelector, Events, Selector, SelectorKind};

/// asyncore's loop and socket map in one owned value: channels (sockets with their
/// dispatchers), timers, the user's shared state `S`, on a selector chosen at run time.
///
/// The loop owns every socket it polls and unregisters it before closing it; dropping the
/// loop closes every channel.
///
/// # How an iteration runs
///
/// 1. Channels spawned since the last iteration get their `handle_opened`; after a graceful
///    shutdown began ([`EventLoop::shutdown`]), every channel gets its `handle_shutdown`
///    once (and a channel opened later, right after its `handle_opened`); channels reached
///    with [`Context::get_mut`] or [`Context::refresh`] are asked `readable()`/`writable()`
///    again; one whose `writable()` turned true while the selector was not watching it for
///    writing gets its `handle_write` at once (an optimistic write: a socket usually has
///    room), and is watched for writing only if output is left.
/// 2. The loop waits in the selector, at most until the next timer (or the timeout given),
///    and not at all if a `handle_opened` ran, a closure is queued, or a handler run in
///    step 1 left work for the loop (a stop, a new channel, the last channel closed).
/// 3. For each ready channel it lends the channel to its callbacks and calls, in order:
///    `handle_connect` (once, when a connect completes), `handle_accept` or `handle_read`,
///    `handle_expt`, `handle_write` — stopping as soon as the channel is closed. A handler
///    that saw end of file or a disconnection is followed by `handle_close` (once per
///    channel). When the channel's callbacks are done, its `readable()`/`writable()` are
///    asked and the selector is told only of a changed answer.
/// 4. The handlers of signals that arrived run ([`on_signal`](Self::on_signal)), due timers
///    fire (`handle_timer`; channels spawned earlier in the iteration are opened first),
///    then closures sent with [`LoopHandle::call_soon_threadsafe`] run.
///
/// An iteration costs O(ready + changed), not O(channels) as in asyncore.
///
/// # Portability
///
/// The loop runs on every [`selector`](crate::selector) backend with the same behaviour.
/// Out-of-band data (`handle_expt`) is reported by epoll, poll and select on Unix only.
///
/// # Examples
///
/// A complete echo server:
///
/// ```no_run
/// use std::io;
/// use std::net::TcpListener;
/// use ioloop::{Context, Dispatcher, EventLoop};
/// use ioloop::socket2::{SockAddr, Socket};
///
/// struct Server;
///
/// impl Dispatcher for Server {
///     fn handle_accepted(&mut self, cx: &mut Context<'_, ()>, socket: Socket, _: SockAddr) -> io::Result<()> {
///         cx.spawn(socket, Echo::default())?;
///         Ok(())
///     }
/// }
///
/// #[derive(Default)]
/// struct Echo {
///     unsent: Vec<u8>,
/// }
///
/// impl Dispatcher for Echo {
///     // Stop reading while a reply is pending: memory stays bounded.
///     fn readable(&self) -> bool {
///         self.unsent.is_empty()
///     }
///     fn writable(&self) -> bool {
///         !self.unsent.is_empty()
///     }
///     fn handle_read(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
///         let mut buf = [0; 4096];
///         let n = cx.recv(&mut buf)?;
///         self.unsent.extend_from_slice(&buf[..n]);
///         self.handle_write(cx)
///     }
///     fn handle_write(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
///         let n = cx.send(&self.unsent)?;
///         self.unsent.drain(..n);
///         Ok(())
///     }
/// }
///
/// let mut event_loop = EventLoop::new()?;
/// event_loop.spawn(TcpListener::bind("127.0.0.1:7000")?, Server)?;
/// event_loop.run()?;
/// # io::Result::Ok(())
/// ```
pub struct EventLoop<S: 'static = ()> {
    core: Core<S>,
    events: Events,
    // After `core`: the selector (which watches the signal pipe) is dropped before the pipe.
    signals: Signals<S>,
}

impl EventLoop<()> {
    /// A loop with no shared state on [`DefaultSelector::new`] (the best backend, or the
    /// one `IOLOOP_SELECTOR` names). Where asyncore had one module-level `socket_map`, a
    /// program makes a loop and hands it its channels.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::EventLoop;
    ///
    /// let event_loop = EventLoop::new()?;
    /// assert!(event_loop.is_empty()); // no channel yet
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`DefaultSelector::new`].
    pub fn new() -> io::Result<EventLoop<()>> {
        EventLoop::with_state(())
    }
}

impl<S: 'static> EventLoop<S> {
    /// A loop whose callbacks share `state` (through [`Context::state`]), on the default
    /// selector: what an asyncore program kept in globals or in attributes every handler
    /// could reach.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::EventLoop;
    ///
    /// #[derive(Default)]
    /// struct Stats {
    ///     connections: u64,
    /// }
    ///
    /// let mut event_loop = EventLoop::with_state(Stats::default())?;
    /// event_loop.state_mut().connections += 1; // callbacks do it with cx.state()
    /// assert_eq!(event_loop.state().connections, 1);
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`DefaultSelector::new`].
    pub fn with_state(state: S) -> io::Result<EventLoop<S>> {
        EventLoop::with_selector(DefaultSelector::new()?, state)
    }

    /// A loop on a selector of the given kind: asyncore's `loop(use_poll=True)` is
    /// `with_kind(SelectorKind::Poll, state)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::EventLoop;
    /// use ioloop::selector::SelectorKind;
    ///
    /// for kind in SelectorKind::available() {
    ///     let event_loop = EventLoop::with_kind(kind, ())?;
    ///     assert_eq!(event_loop.kind(), kind);
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`DefaultSelector::with_kind`].
    pub fn with_kind(kind: SelectorKind, state: S) -> io::Result<EventLoop<S>> {
        EventLoop::with_selector(DefaultSelector::with_kind(kind)?, state)
    }

    fn with_selector(selector: DefaultSelector, state: S) -> io::Result<EventLoop<S>> {
        let shared = Arc::new(Shared {
            waker: selector.waker(),
            stop: AtomicBool::new(false),
            jobs: Mutex::new(Vec::new()),
            has_jobs: AtomicBool::new(false),
        });
        Ok(EventLoop {
            core: Core::new(selector, state, shared),
            events: Events::with_capacity(256),
            signals: Signals::new(),
        })
    }

    /// The selector backend in use.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::EventLoop;
    /// use ioloop::selector::SelectorKind;
    ///
    /// let event_loop = EventLoop::new()?;
    /// println!("polling with {}", event_loop.kind()); // epoll on Linux, or IOLOOP_SELECTOR's
    /// assert!(SelectorKind::available().contains(&event_loop.kind()));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn kind(&self) -> SelectorKind {
        self.core.kind()
    }

    /// How many channels are open (asyncore's `len(asyncore.socket_map)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// assert_eq!(event_loop.len(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no channel is open: [`run`](Self::run) returns when this becomes true.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let token = event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// assert!(!event_loop.is_empty());
    /// event_loop.close(token);
    /// assert!(event_loop.is_empty());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// The shared state: what the callbacks left there, once the loop has run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state(Vec::<&str>::new())?;
    /// event_loop.schedule(Duration::ZERO, |cx| {
    ///     cx.state().push("ran");
    ///     cx.stop();
    /// });
    /// event_loop.run_until_stopped()?;
    /// assert_eq!(event_loop.state(), &["ran"]);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn state(&self) -> &S {
        self.core.state()
    }

    /// The shared state, mutably: to set it up between runs, or take results out.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state(Vec::<String>::new())?;
    /// event_loop.state_mut().push("configured before the run".into());
    /// let log = std::mem::take(event_loop.state_mut());
    /// assert_eq!(log.len(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn state_mut(&mut self) -> &mut S {
        self.core.state_mut()
    }

    /// A `Send + Clone` handle to stop the loop or run closures on it from other threads.
    ///
    /// # Examples
    ///
    /// A server stopped from another thread (asyncore could only be stopped from a
    /// handler, with `ExitNow`):
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// let handle = event_loop.handle();
    /// let stopper = std::thread::spawn(move || handle.stop());
    /// event_loop.run()?; // returns once the other thread stopped it
    /// stopper.join().unwrap();
    /// assert_eq!(event_loop.len(), 1); // the listener is still open
    /// # std::io::Result::Ok(())
    /// ```
    pub fn handle(&self) -> LoopHandle<S> {
        LoopHandle {
            shared: self.core.shared().clone(),
        }
    }

    /// How many times the loop has changed a registration's interest in the selector
    /// (`Selector::modify` calls) since it was made: a steady-state server should add none.
    /// For the crate's tests and benchmarks; not part of the API.
    #[doc(hidden)]
    pub fn interest_changes(&self) -> u64 {
        self.core.modify_calls()
    }

    /// Adds a channel for `io` (made non-blocking) driven by `dispatcher` (asyncore's
    /// `dispatcher(sock)` or `set_socket(sock)`). `io` is anything an [`IoSource`] is made
    /// from: a `TcpListener` (its channel accepts), a `TcpStream`, a `UdpSocket`, a
    /// `socket2::Socket`, and on Unix its socket types and any `OwnedFd`.
    ///
    /// # Examples
    ///
    /// A server and a client in one program: the loop serves one connection, then stops.
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::net::{Shutdown, TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::socket2::{SockAddr, Socket};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Server;
    ///
    /// impl Dispatcher for Server {
    ///     fn handle_accepted(&mut self, cx: &mut Context<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
    ///         cx.spawn(socket, Shout)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// /// Answers each read with the same bytes in capitals.
    /// struct Shout;
    ///
    /// impl Dispatcher for Shout {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 1024];
    ///         let n = cx.recv(&mut buf)?;
    ///         cx.send(&buf[..n].to_ascii_uppercase())?;
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_close(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.close();
    ///         cx.stop(); // one client is all this example serves
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(listener, Server)?;
    ///
    /// client.write_all(b"hello")?;
    /// client.shutdown(Shutdown::Write)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "HELLO");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// The selector's error if it refuses the source (e.g. epoll and a regular file).
    pub fn spawn<D: Dispatcher<S>>(
        &mut self,
        io: impl Into<IoSource>,
        dispatcher: D,
    ) -> io::Result<Token> {
        self.core.spawn(io.into(), dispatcher, false)
    }

    /// Starts a non-blocking TCP connection on a new channel: a `SocketAddr` or a name, each
    /// address it resolves to tried in turn (see [`Context::connect`]). asyncore's
    /// `create_socket(); connect((host, port))`.
    ///
    /// # Examples
    ///
    /// A client that sends a line once connected, then closes; the server is a plain
    /// blocking listener here:
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Hello;
    ///
    /// impl Dispatcher for Hello {
    ///     fn handle_connect(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"HELO example\r\n")?; // a new socket has room for a line
    ///         cx.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let server = TcpListener::bind("127.0.0.1:0")?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.connect(server.local_addr()?, Hello)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?; // until the channel closes
    /// assert!(event_loop.is_empty());
    ///
    /// let (mut conn, _) = server.accept()?;
    /// # conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut line = String::new();
    /// conn.read_to_string(&mut line)?;
    /// assert_eq!(line, "HELO example\r\n");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Context::connect`].
    pub fn connect<D: Dispatcher<S>>(
        &mut self,
        addr: impl ToSocketAddrs,
        dispatcher: D,
    ) -> io::Result<Token> {
        self.context().connect(addr, dispatcher)
    }

    /// Starts a connection of a socket the caller made (see [`Context::connect_socket`]):
    /// for options set before connecting, or a local address to bind.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::{SocketAddr, TcpListener};
    /// use std::time::Duration;
    /// use ioloop::socket2::{Domain, Socket, Type};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// /// Notes in the loop's state whether Nagle's algorithm is off once connected.
    /// struct Client;
    ///
    /// impl Dispatcher<Option<bool>> for Client {
    ///     fn handle_connect(&mut self, cx: &mut Context<'_, Option<bool>>) -> io::Result<()> {
    ///         let nodelay = cx.socket().map(|socket| socket.tcp_nodelay()).transpose()?;
    ///         *cx.state() = nodelay;
    ///         cx.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let server = TcpListener::bind("127.0.0.1:0")?;
    /// let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    /// socket.set_tcp_nodelay(true)?;
    /// socket.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())?;
    ///
    /// let mut event_loop = EventLoop::with_state(None)?;
    /// event_loop.connect_socket(socket, &server.local_addr()?.into(), Client)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(*event_loop.state(), Some(true));
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Errors the OS reports at once.
    pub fn connect_socket<D: Dispatcher<S>>(
        &mut self,
        socket: socket2::Socket,
        addr: &socket2::SockAddr,
        dispatcher: D,
    ) -> io::Result<Token> {
        self.context().connect_socket(socket, addr, dispatcher)
    }

    /// Starts a connection to a Unix-domain stream socket (see [`Context::connect_unix`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(unix)]
    /// # fn main() -> std::io::Result<()> {
    /// use std::io::{self, Read};
    /// use std::os::unix::net::UnixListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Hello;
    ///
    /// impl Dispatcher for Hello {
    ///     fn handle_connect(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"hello")?;
    ///         cx.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let path = std::env::temp_dir().join(format!("ioloop-doc-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let server = UnixListener::bind(&path)?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.connect_unix(&path, Hello)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    ///
    /// let (mut conn, _) = server.accept()?;
    /// # conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut greeting = String::new();
    /// conn.read_to_string(&mut greeting)?;
    /// assert_eq!(greeting, "hello");
    /// std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    ///
    /// Errors the OS reports at once.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn connect_unix<D: Dispatcher<S>>(
        &mut self,
        path: impl AsRef<std::path::Path>,
        dispatcher: D,
    ) -> io::Result<Token> {
        self.context().connect_unix(path, dispatcher)
    }

    /// A channel's dispatcher, if it is open and of type `D`: to look at it or change it
    /// between runs (asyncore's direct access to another dispatcher object). Its
    /// `readable()`/`writable()` are asked again before the next wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server {
    ///     accepting: bool,
    /// }
    ///
    /// impl Dispatcher for Server {
    ///     fn readable(&self) -> bool {
    ///         self.accepting
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let token = event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server { accepting: true })?;
    /// if let Some(server) = event_loop.get_mut::<Server>(token) {
    ///     server.accepting = false; // pause it; the loop sees the new answer
    /// }
    /// assert!(!event_loop.get_mut::<Server>(token).unwrap().accepting);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn get_mut<D: Dispatcher<S>>(&mut self, token: Token) -> Option<&mut D> {
        self.core.get_mut(token)
    }

    /// Sets the [`Timeouts`] of a channel (replacing any it had); returns whether `token`
    /// names an open channel. A connect's limit is counted from this call, so set it right
    /// after [`connect`](Self::connect).
    ///
    /// # Examples
    ///
    /// A connect to an address that never answers gives up after 100 ms:
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, Timeouts};
    ///
    /// struct Client;
    ///
    /// impl Dispatcher<Option<io::ErrorKind>> for Client {
    ///     fn handle_error(&mut self, cx: &mut Context<'_, Option<io::ErrorKind>>, error: io::Error) {
    ///         *cx.state() = Some(error.kind());
    ///         cx.close();
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::with_state(None)?;
    /// // 10.255.255.1: a private address that nothing here routes (its connect hangs).
    /// # let connected = (|| -> io::Result<()> {
    /// let token = event_loop.connect("10.255.255.1:9", Client)?;
    /// event_loop.set_timeouts(token, Timeouts { connect: Some(Duration::from_millis(100)), ..Timeouts::NONE });
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// # Ok(()) })();
    /// # if connected.is_ok() && event_loop.state().is_some() {
    /// assert_eq!(*event_loop.state(), Some(io::ErrorKind::TimedOut));
    /// # }
    /// # io::Result::Ok(())
    /// ```
    pub fn set_timeouts(&mut self, token: Token, timeouts: Timeouts) -> bool {
        self.core.set_timeouts_of(token, timeouts)
    }

    /// Closes a channel; returns whether it was open. Its socket is unregistered and
    /// closed; its token goes stale (see [`Token`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let token = event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// assert!(event_loop.close(token));
    /// assert!(!event_loop.close(token)); // closed already
    /// assert!(event_loop.is_empty());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn close(&mut self, token: Token) -> bool {
        self.core.close(token)
    }

    /// Runs `job` once `delay` has passed, with a loop-level [`Context`] (see
    /// [`Context::schedule`]).
    ///
    /// # Examples
    ///
    /// A server that runs for a while, then stops:
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// event_loop.schedule(Duration::from_millis(10), |cx| cx.stop());
    /// event_loop.run()?; // returns when the timer stops it
    /// # std::io::Result::Ok(())
    /// ```
    pub fn schedule(
        &mut self,
        delay: Duration,
        job: impl for<'b, 'c> FnOnce(&'b mut Context<'c, S>) + 'static,
    ) -> TimerId {
        self.context().schedule(delay, job)
    }

    /// Runs `job` every `interval` until cancelled (see [`Context::schedule_every`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// event_loop.schedule_every(Duration::from_millis(1), |cx| {
    ///     *cx.state() += 1;
    ///     if *cx.state() == 3 {
    ///         cx.stop();
    ///     }
    /// });
    /// event_loop.run_until_stopped()?;
    /// assert_eq!(*event_loop.state(), 3);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn schedule_every(
        &mut self,
        interval: Duration,
        job: impl for<'b, 'c> FnMut(&'b mut Context<'c, S>) + 'static,
    ) -> TimerId {
        self.context().schedule_every(interval, job)
    }

    /// Moves a timer to `delay` from now (see [`Context::reschedule`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let stop = event_loop.schedule(Duration::from_secs(3600), |cx| cx.stop());
    /// assert!(event_loop.reschedule(stop, Duration::ZERO)); // now, not in an hour
    /// event_loop.run_until_stopped()?;
    /// assert!(!event_loop.reschedule(stop, Duration::ZERO)); // it fired: nothing to move
    /// # std::io::Result::Ok(())
    /// ```
    pub fn reschedule(&mut self, timer: TimerId, delay: Duration) -> bool {
        self.context().reschedule(timer, delay)
    }

    /// Cancels a timer; `false` if it already fired (a one-shot one) or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state("waiting")?;
    /// let alarm = event_loop.schedule(Duration::ZERO, |cx| *cx.state() = "rang");
    /// assert!(event_loop.cancel(alarm));
    /// assert!(!event_loop.cancel(alarm)); // cancelled already
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// assert_eq!(*event_loop.state(), "waiting");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.context().cancel(timer)
    }

    /// Runs `handler` on the loop's thread, with a loop-level [`Context`], each time the
    /// process gets `signal` (see [`Signal`] for what each one is on Unix and on Windows):
    /// Python's `loop.add_signal_handler`. The handler is an ordinary callback (it can stop
    /// the loop, spawn, reach channels, set timers, change the state); a panic in it is
    /// logged and it stays installed.
    ///
    /// While a handler is installed, the signal no longer takes its default action (SIGINT
    /// and SIGTERM no longer end the process): the handler decides. Several handlers may
    /// share a signal (each runs, in the order installed), and one closure's work may answer
    /// several signals by installing it for each. Removing the last handler of a signal
    /// (with [`remove_signal`](Self::remove_signal), or by dropping the loop) gives the
    /// signal back its previous disposition: the default action, or ignored if it was.
    ///
    /// Signals are counted, not queued: the handler runs once per signal the OS delivered
    /// (the OS merges a signal sent again before its handler ran). The handler runs after the
    /// I/O events of the iteration in which the signal arrived; a loop waiting with no
    /// timeout wakes up for it. The signal is not a channel: it keeps neither
    /// [`run`](Self::run) going nor [`is_empty`](Self::is_empty) false, so a program that
    /// waits for signals only runs with [`run_until_stopped`](Self::run_until_stopped).
    ///
    /// # Examples
    ///
    /// A server that stops on Ctrl-C or `kill`, and counts `SIGUSR1`s where they exist:
    ///
    /// ```
    /// use ioloop::{EventLoop, Signal};
    ///
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// for signal in [Signal::Interrupt, Signal::Terminate] {
    ///     event_loop.on_signal(signal, |cx| cx.stop())?; // run() returns on Ctrl-C or `kill`
    /// }
    /// if Signal::User1.is_available() {
    ///     event_loop.on_signal(Signal::User1, |cx| {
    ///         *cx.state() += 1; // a "reload", say
    ///         cx.stop();
    ///     })?;
    ///     # #[cfg(unix)] // `kill -USR1 <pid>` from a shell, in a real program
    ///     # assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
    ///     # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    ///     event_loop.run_until_stopped()?;
    ///     assert_eq!(*event_loop.state(), 1);
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Unsupported` for a signal this platform does not have ([`Signal::is_available`]);
    /// the OS's error if it refuses the handler or the loop's wake-up pipe.
    pub fn on_signal(
        &mut self,
        signal: Signal,
        handler: impl for<'b, 'c> FnMut(&'b mut Context<'c, S>) + 'static,
    ) -> io::Result<SignalId> {
        self.signals
            .install(&mut self.core, signal, Box::new(handler))
    }

    /// Removes a handler installed with [`on_signal`](Self::on_signal); `false` if it was
    /// removed already. The last handler of a signal gives the signal back its previous
    /// disposition (the default action ends the process again). A signal that arrived but
    /// whose handlers have not run yet is dropped with them.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::{EventLoop, Signal};
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let stop = event_loop.on_signal(Signal::Terminate, |cx| cx.stop())?;
    /// // … a phase in which SIGTERM stops the loop cleanly …
    /// assert!(event_loop.remove_signal(stop)); // SIGTERM ends the process again
    /// assert!(!event_loop.remove_signal(stop));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn remove_signal(&mut self, id: SignalId) -> bool {
        self.signals.remove(id)
    }

    /// A loop-level context, for the calls the loop shares with callbacks.
    fn context(&mut self) -> Context<'_, S> {
        Context::new(&mut self.core, None)
    }

    /// Closes every channel (asyncore's `close_all`). Dropping the loop does it too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, UdpSocket};
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Idle;
    /// impl Dispatcher for Idle {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Idle)?;
    /// event_loop.spawn(UdpSocket::bind("127.0.0.1:0")?, Idle)?;
    /// event_loop.close_all();
    /// assert!(event_loop.is_empty());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn close_all(&mut self) {
        for token in self.core.tokens() {
            self.core.close(token);
        }
    }

    /// Shuts the loop down gracefully, with at most `grace` for the channels to finish: stop
    /// accepting, let every channel finish what it has (by default: send what is queued,
    /// then close), close what is left when `grace` has passed, and return from
    /// [`run`](Self::run). Between iterations, or before `run`; from a callback it is
    /// [`Context::shutdown_loop`], from another thread [`LoopHandle::shutdown`]. The steps
    /// are described at [`Context::shutdown_loop`].
    ///
    /// # Examples
    ///
    /// A server whose connection has a large reply still queued: the reply is sent in full
    /// before the channel closes, and the listener closes at once.
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, SendBuffer};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// #[derive(Default)]
    /// struct Download {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Download {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.send(cx, &vec![b'x'; 4 << 20]) // more than the socket takes at once
    ///     }
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.flush(cx)
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut client = TcpStream::connect(addr)?;
    /// let (conn, _) = listener.accept()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(listener, Server)?;
    /// event_loop.spawn(conn, Download::default())?;
    /// event_loop.shutdown(Duration::from_secs(30)); // e.g. on SIGTERM
    /// let reader = std::thread::spawn(move || {
    ///     let mut data = Vec::new();
    ///     client.read_to_end(&mut data).map(|_| data.len())
    /// });
    /// event_loop.run()?; // returns once both channels have closed
    /// assert_eq!(reader.join().unwrap()?, 4 << 20); // all of it, then end of file
    /// assert!(TcpStream::connect(addr).is_err()); // nothing listens any more
    /// # io::Result::Ok(())
    /// ```
    pub fn shutdown(&mut self, grace: Duration) {
        self.context().shutdown_loop(grace);
    }

    /// Runs until no channel is left or [`Context::stop`] / [`LoopHandle::stop`] is called
    /// (asyncore's `loop()`). A stop asked for before the call makes it return at once.
    ///
    /// # Examples
    ///
    /// A connection's channel reads until the peer closes; then no channel is left and
    /// `run` returns:
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use std::net::{TcpListener, TcpStream};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Collect;
    ///
    /// impl Dispatcher<Vec<u8>> for Collect {
    ///     fn handle_read(&mut self, cx: &mut Context<'_, Vec<u8>>) -> io::Result<()> {
    ///         let mut buf = [0; 1024];
    ///         let n = cx.recv(&mut buf)?; // 0 at end of file: handle_close closes
    ///         cx.state().extend_from_slice(&buf[..n]);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = listener.accept()?;
    ///
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// event_loop.spawn(conn, Collect)?;
    /// client.write_all(b"all of it")?;
    /// drop(client);
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// assert_eq!(event_loop.state(), b"all of it");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// A failure of the selector itself; handler errors go to `handle_error`.
    ///
    /// And when `run` ends because no channel is left after a listener was closed on an
    /// error path (its `handle_error` closed it, the default does, or a callback of it
    /// panicked): an error of that error's kind naming the listener, its address and the
    /// error. A server whose listener died does not return `Ok` as if it had been stopped
    /// (a supervisor reads a zero exit status as a clean stop). Transient accept failures
    /// never close a listener (see [`Context::accept`]); a listener closed by its own
    /// `close`, by [`EventLoop::close`] or by [`Context::close_channel`] is no error.
    pub fn run(&mut self) -> io::Result<()> {
        if self.core.take_stop() {
            return Ok(());
        }
        while !self.is_empty() {
            if self.run_once(None)? {
                return Ok(());
            }
        }
        self.listener_loss()
    }

    /// `Err` if a listener was closed on an error path since the last call (see `run`).
    fn listener_loss(&mut self) -> io::Result<()> {
        match self.core.take_listener_loss() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Sets the admission limits of listener `token`: how many connections (channels spawned
    /// from its callbacks) it may have open at once, in all and per peer address, and what it
    /// does when full (see [`ListenerLimits`]). Replaces the listener's earlier limits;
    /// `ListenerLimits::default()` lifts them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::{Dispatcher, EventLoop, ListenerLimits, WhenFull};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let server = event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// event_loop.set_listener_limits(server, ListenerLimits {
    ///     max_connections: Some(10_000),
    ///     max_per_ip: Some(100),
    ///     resume_below: Some(9_000),
    ///     when_full: WhenFull::Reject,
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `token` names no open listening channel.
    pub fn set_listener_limits(&mut self, token: Token, limits: ListenerLimits) -> io::Result<()> {
        self.core.set_listener_limits(token, limits, None)
    }

    /// Runs until stopped, even with no channel (for a loop fed by
    /// [`LoopHandle::call_soon_threadsafe`]).
    ///
    /// # Examples
    ///
    /// A loop that does work sent from another thread:
    ///
    /// ```
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// let handle = event_loop.handle();
    /// let producer = std::thread::spawn(move || {
    ///     for n in 1..=3 {
    ///         handle.call_soon_threadsafe(move |cx| *cx.state() += n)?;
    ///     }
    ///     handle.call_soon_threadsafe(|cx| cx.stop())
    /// });
    /// event_loop.run_until_stopped()?;
    /// producer.join().unwrap()?;
    /// assert_eq!(*event_loop.state(), 6);
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only a failure of the selector itself.
    pub fn run_until_stopped(&mut self) -> io::Result<()> {
        if self.core.take_stop() {
            return Ok(());
        }
        while !self.run_once(None)? {}
        Ok(())
    }

    /// Runs at most `count` iterations, each waiting at most `timeout` (asyncore's
    /// `loop(timeout, count=n)`); returns early when no channel is left or on stop.
    /// Returning early because no channel is left after a listener was closed on an error
    /// path is an `Err`, as for [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// A program that drives the loop in bounded slices, say between its own work:
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Count;
    ///
    /// impl Dispatcher<usize> for Count {
    ///     fn handle_read(&mut self, cx: &mut Context<'_, usize>) -> io::Result<()> {
    ///         let n = cx.recv_scratch(4096)?.len();
    ///         *cx.state() += n;
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
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Count)?; // `conn`: an accepted TcpStream, `client` its peer
    /// client.write_all(b"12345")?;
    /// for _ in 0..100 {
    ///     if *event_loop.state() == 5 {
    ///         break;
    ///     }
    ///     event_loop.run_count(5, Some(Duration::from_millis(100)))?;
    /// }
    /// assert_eq!(*event_loop.state(), 5);
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only a failure of the selector itself.
    pub fn run_count(&mut self, count: usize, timeout: Option<Duration>) -> io::Result<()> {
        if self.core.take_stop() {
            return Ok(());
        }
        for _ in 0..count {
            if self.is_empty() {
                break;
            }
            if self.run_once(timeout)? {
                return Ok(());
            }
        }
        if self.is_empty() {
            return self.listener_loss();
        }
        Ok(())
    }

    /// One iteration: wait at most `timeout` (`None`: until something happens; the next
    /// timer shortens the wait), then dispatch events, timers and cross-thread closures.
    ///
    /// Returns whether a stop was asked for ([`Context::stop`] or [`LoopHandle::stop`],
    /// during this iteration or since the last one); the request is consumed.
    ///
    /// # Examples
    ///
    /// A program that drives the loop by hand stops on it as `run` does:
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.handle().stop(); // from another thread, in a real program
    /// let mut iterations = 0;
    /// while !event_loop.run_once(Some(Duration::from_millis(100)))? {
    ///     iterations += 1; // the program's own work between iterations
    /// }
    /// assert_eq!(iterations, 0);
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only a failure of the selector itself.
    pub fn run_once(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        // Each of these is rare: one inline check each in the usual iteration.
        let opened = self.core.has_opening() && self.open_new_channels();
        let told = self.core.is_shutting_down() && self.tell_shutdown();
        let mut ran = self.core.refresh_interest();
        while let Some((token, error)) = self.core.next_failure() {
            dispatch::failure(&mut self.core, token, error);
            ran = true;
        }
        if self.core.has_tls_deliveries() {
            self.deliver_tls_input();
            ran = true;
        }
        // A hook that just ran may have closed its channel or asked to stop: no blocking
        // wait before `run` has seen that. Nor while TLS channels hold decrypted input.
        let wait = if opened
            || told
            || self.core.has_tls_deliveries()
            || (ran && self.core.needs_prompt_turn())
        {
            Some(Duration::ZERO)
        } else {
            self.wait_time(timeout)
        };
        self.core.select(&mut self.events, wait)?;
        for event in &self.events {
            if self.signals.is_wake_event(event.key()) {
                continue;
            }
            dispatch::event(&mut self.core, *event);
        }
        self.signals.dispatch(&mut self.core);
        self.fire_timers();
        self.run_jobs();
        // What this iteration's callbacks spawned or refreshed is settled at the start of the
        // next one, before its wait: no second check per iteration.
        let stop = self.core.take_stop();
        let shut_down = self.core.is_shutting_down() && self.core.finish_shutdown_if_done();
        Ok(stop || shut_down)
    }

    /// `handle_opened` of the channels spawned since the last call (and of those they
    /// spawn in turn). Returns whether any ran.
    #[inline(never)] // rare: kept out of the iteration's code
    fn open_new_channels(&mut self) -> bool {
        let mut opened = false;
        while let Some(token) = self.core.next_opening() {
            dispatch::opened(&mut self.core, token);
            if self.core.tells_new_channels() {
                // Opened during a shutdown: told at once, so it cannot hold the loop.
                dispatch::shutdown(&mut self.core, token);
            }
            opened = true;
        }
        opened
    }

    /// `handle_read` of the TLS channels that were left holding decrypted input (queued
    /// when their callbacks returned); those still holding some are queued again, for the
    /// next iteration.
    #[cold]
    fn deliver_tls_input(&mut self) {
        for token in self.core.take_tls_deliveries() {
            dispatch::tls_input(&mut self.core, token);
        }
    }

    /// `handle_shutdown` of every channel, once per graceful shutdown, at the first
    /// iteration after it began. Returns whether it ran.
    #[cold]
    fn tell_shutdown(&mut self) -> bool {
        let Some(tokens) = self.core.take_shutdown_sweep() else {
            return false;
        };
        for token in tokens {
            dispatch::shutdown(&mut self.core, token);
        }
        true
    }

    fn wait_time(&mut self, timeout: Option<Duration>) -> Option<Duration> {
        let has_jobs = self.core.shared().has_jobs.load(Ordering::Acquire);
        if has_jobs {
            return Some(Duration::ZERO);
        }
        // The iteration's clock reading (taken after the last wait, or now): an earlier
        // reading only lengthens the wait by the time the callbacks took, never shortens it.
        let until_timer = self.core.next_deadline().map(|deadline| {
            let now = self.core.now();
            deadline.saturating_duration_since(now)
        });
        match (timeout, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn fire_timers(&mut self) {
        while let Some(due) = self.core.pop_due_timer() {
            // A channel spawned in this iteration is opened before any timer of it fires.
            if self.core.has_opening() {
                self.open_new_channels();
            }
            match due {
                Due::ResumeAccept(token) => self.core.resume_accepting(token),
                Due::Deadline(token) => dispatch::deadline(&mut self.core, token),
                Due::Dispatch(id, token) => {
                    if !dispatch::timer(&mut self.core, token, id) {
                        self.core.cancel_timer(id); // a repeating timer of a closed channel
                    }
                }
                Due::Call(id, call) => dispatch::timer_call(&mut self.core, id, call),
            }
        }
    }

    fn run_jobs(&mut self) {
        let shared = self.core.shared();
        if !shared.has_jobs.swap(false, Ordering::Acquire) {
            return;
        }
        let jobs = std::mem::take(
            &mut *shared
                .jobs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for job in jobs {
            dispatch::job(&mut self.core, job);
        }
    }
}

impl<S: 'static> Drop for EventLoop<S> {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl<S: 'static> fmt::Debug for EventLoop<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("kind", &self.kind())
            .field("channels", &self.len())
            .field("timers", &self.core.timer_count())
            .field("signal_handlers", &self.signals.len())
            .finish_non_exhaustive()
    }
}
