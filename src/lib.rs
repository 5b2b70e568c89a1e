//! `ioloop`: Python's `selectors`, `asyncore` and `asynchat`, for Rust.
//!
//! One thread, non-blocking sockets, a readiness selector, and objects whose callbacks run
//! when their socket is ready. The crate is built in layers, each usable on its own:
//!
//! - [`selector`] — the `selectors` module: a [`Selector`](selector::Selector) trait with
//!   epoll, kqueue, IOCP, event ports, poll and select backends chosen at run time, a
//!   cross-thread [`Waker`](selector::Waker), and [`SelectorMap`](selector::SelectorMap),
//!   the keyed registry Python programs use.
//! - [`EventLoop`] and [`Dispatcher`] — the `asyncore` module: a loop that owns channels (a
//!   socket and its dispatcher) and calls `handle_read`, `handle_write`, `handle_accepted`…
//!   when they are ready, with timers, a cross-thread [`LoopHandle`], and O(ready + changed)
//!   iterations instead of asyncore's O(channels).
//! - [`chat`] — the `asynchat` module: [`AsyncChat`](chat::AsyncChat) frames a channel's input
//!   by a [`Terminator`](chat::Terminator) (bytes, a count, none, or length-prefixed binary
//!   frames) and queues output with `push`, producers and `close_when_done`, within limits.
//!
//! # An echo server
//!
//! ```no_run
//! use std::io;
//! use ioloop::{Context, Dispatcher, EventLoop, net};
//! use ioloop::socket2::{SockAddr, Socket};
//!
//! /// The listening channel (asyncore: a `dispatcher` that called `listen`).
//! struct Server;
//!
//! impl Dispatcher for Server {
//!     fn handle_accepted(&mut self, cx: &mut Context<'_, ()>, socket: Socket, _: SockAddr) -> io::Result<()> {
//!         cx.spawn(socket, Echo::default())?;
//!         Ok(())
//!     }
//! }
//!
//! /// One connection: what was read and not yet sent back.
//! #[derive(Default)]
//! struct Echo {
//!     unsent: Vec<u8>,
//! }
//!
//! impl Dispatcher for Echo {
//!     fn readable(&self) -> bool {
//!         self.unsent.len() < 64 * 1024 // stop reading while much is pending
//!     }
//!     fn writable(&self) -> bool {
//!         !self.unsent.is_empty()
//!     }
//!     fn handle_read(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
//!         let mut buf = [0; 16 * 1024];
//!         let n = cx.recv(&mut buf)?; // 0 at end of file: handle_close follows
//!         self.unsent.extend_from_slice(&buf[..n]);
//!         Ok(())
//!     }
//!     fn handle_write(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
//!         let sent = cx.send(&self.unsent)?; // may be partial: keep the rest
//!         self.unsent.drain(..sent);
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> io::Result<()> {
//!     let mut event_loop = EventLoop::new()?; // best backend, or IOLOOP_SELECTOR's
//!     let listener = net::listen("127.0.0.1:7000".parse().unwrap(), net::DEFAULT_BACKLOG)?;
//!     event_loop.spawn(listener, Server)?;
//!     event_loop.run() // until no channel is left, or a LoopHandle stops it
//! }
//! ```
//!
//! # Porting from Python's `asyncore`
//!
//! | Python | ioloop |
//! |---|---|
//! | `class Handler(asyncore.dispatcher)` | `struct Handler; impl Dispatcher for Handler` |
//! | `asyncore.socket_map`, `map=` arguments | the [`EventLoop`] owns its channels |
//! | `asyncore.loop(timeout, use_poll, map, count)` | [`run()`](EventLoop::run), [`run_once(timeout)`](EventLoop::run_once), [`run_count(n, timeout)`](EventLoop::run_count); the backend: [`EventLoop::with_kind`] or `IOLOOP_SELECTOR` |
//! | `raise asyncore.ExitNow` | [`cx.stop()`](Context::stop); from another thread [`handle.stop()`](LoopHandle::stop) |
//! | (none) | a graceful shutdown: [`cx.shutdown_loop(grace)`](Context::shutdown_loop), [`event_loop.shutdown(grace)`](EventLoop::shutdown), [`handle.shutdown(grace)`](LoopHandle::shutdown) → [`Dispatcher::handle_shutdown`] (see [Graceful shutdown](#graceful-shutdown)) |
//! | `dispatcher(sock)` / `set_socket` | [`event_loop.spawn(sock, handler)`](EventLoop::spawn) or [`cx.spawn`](Context::spawn) → [`Token`] |
//! | `create_socket(); set_reuse_addr(); bind(); listen(n)` | [`net::listen(addr, backlog)`](net::listen), then `spawn`; or the same calls on a [`socket2::Socket`] ([`net::create_tcp`]), then `spawn`: a listening socket is found out |
//! | `create_socket(); connect((host, port))` | [`cx.connect((host, port), handler)`](Context::connect) / [`EventLoop::connect`]: each address the name resolves to, in turn; a prepared socket: [`connect_socket`](Context::connect_socket); Unix: [`connect_unix`](Context::connect_unix) |
//! | `class H(asyncore.dispatcher_with_send)` | embed a [`SendBuffer`]: `self.out.send(cx, data)`, `writable()` → `!self.out.is_empty()`, `handle_write` → `self.out.flush(cx)` |
//! | `readable()`, `writable()` | [`Dispatcher::readable`] (default `true`), [`Dispatcher::writable`] (default **`false`**) |
//! | `readable()`/`writable()` asked on every iteration | asked only after the channel's own callbacks, [`get_mut`](Context::get_mut) or [`cx.refresh(token)`](Context::refresh): an answer that depends on state shared with other channels needs `refresh` when that state changes |
//! | `__init__` of a dispatcher (greet, set up) | [`Dispatcher::handle_opened`], once when the channel joins the loop |
//! | `handle_read`, `handle_write`, `handle_expt`, `handle_connect` | the same names on [`Dispatcher`], returning `io::Result<()>` |
//! | `handle_accept()` / `handle_accepted(sock, addr)` | [`Dispatcher::handle_accept`] / [`Dispatcher::handle_accepted`] (a non-blocking `socket2::Socket`); the default `handle_accept` takes up to [`ACCEPT_BATCH`] waiting connections per event, not one |
//! | a listener closed by a failed `accept` (`EMFILE`, `ENOBUFS`…) | transient failures are logged and skipped ([`Context::accept`]); a listener closed by an error makes [`EventLoop::run`] return `Err` |
//! | connection caps counted by hand (pyftpdlib's `max_cons`, `max_cons_per_ip`) | [`ListenerLimits`], set with [`EventLoop::set_listener_limits`] |
//! | `handle_close()` (default: warn and close) | [`Dispatcher::handle_close`] (default: close), called at most once |
//! | `handle_error()` (print traceback, close) | [`Dispatcher::handle_error`] gets the `io::Error`; default: log it (see [Logging](#logging)) and close; panics are caught too |
//! | `log_info(message, type)` (printed to stdout) | the [`log`](https://docs.rs/log) facade; stderr when no logger is installed |
//! | `self.recv(n)` → `b''` at EOF | [`cx.recv(&mut buf)`](Context::recv) → `Ok(0)`, then `handle_close`; would-block is `Err(WouldBlock)`, ignored by the loop |
//! | `self.send(data)` → count, 0 on would-block | [`cx.send(&data)`](Context::send) → the same |
//! | `self.accept()` → `(conn, addr)` or `None` | [`cx.accept()`](Context::accept) → `Ok(Some((socket, addr)))` or `Ok(None)`; out of descriptors pauses the listener |
//! | `self.close()` | [`cx.close()`](Context::close); another channel: [`cx.close_channel(token)`](Context::close_channel) |
//! | `self.connected`, `self.accepting`, `self.connecting` | [`cx.is_connected()`](Context::is_connected), [`is_accepting`](Context::is_accepting), [`is_connecting`](Context::is_connecting) |
//! | `self.addr`, `getpeername()` | [`cx.peer_addr()`](Context::peer_addr), [`cx.local_addr()`](Context::local_addr) |
//! | `asyncore.close_all()` | [`event_loop.close_all()`](EventLoop::close_all), or drop the loop |
//! | `file_dispatcher(fd)` (Unix) | `spawn(OwnedFd::from(pipe_end), handler)` ([`IoSource`]) |
//! | a global or an attribute shared by handlers | the loop's state `S`: [`cx.state()`](Context::state) |
//! | another dispatcher object | [`cx.get_mut::<Handler>(token)`](Context::get_mut) |
//! | (none) | timers: [`cx.call_later(delay)`](Context::call_later) and [`call_every`](Context::call_every) → [`Dispatcher::handle_timer`]; closures: [`schedule`](Context::schedule), [`schedule_every`](Context::schedule_every); [`reschedule`](Context::reschedule), [`cancel`](Context::cancel) |
//! | (none) | [`handle.call_soon_threadsafe(closure)`](LoopHandle::call_soon_threadsafe) |
//! | timeouts by hand (pyftpdlib's `timeout`, medusa's zombie sweeps) | [`Timeouts`] (idle, message, drain, connect) per channel: [`cx.set_timeouts`](Context::set_timeouts), [`EventLoop::set_timeouts`], or [`ChatConfig::timeouts`](chat::ChatConfig::timeouts) → [`Dispatcher::handle_timeout`] (default: close) |
//! | `close()` with the peer still sending (it sees a reset) | [`cx.close_lingering(limit)`](Context::close_lingering): this side stops writing, the peer's input is drained, then the socket closes |
//! | `ssl.wrap_socket(sock)`, `SSLWantReadError`/`SSLWantWriteError` caught in every handler, STARTTLS by hand | the `tls` feature (rustls): `cx.spawn_tls(sock, config, handler)`, `cx.connect_tls(addr, name, config, handler)`, `cx.start_tls_server(config)`; the handlers see plaintext through the same `recv`/`send` (see the `tls` module) |
//!
//! # Logging
//!
//! The crate reports what goes wrong with a channel (a handler's error under the default
//! `handle_error`, a panic, a listener out of descriptors, an unhandled read) through the
//! [`log`](https://docs.rs/log) facade, under targets starting with `ioloop::`. A program
//! that installs no logger still sees warnings and errors: they then go to stderr, one line
//! each (asyncore printed them too). Install any `log` logger to route or filter them; with
//! `env_logger`, for instance:
//!
//! ```text
//! [dependencies]
//! env_logger = "0.11"
//!
//! fn main() {
//!     env_logger::init(); // RUST_LOG=warn,ioloop=debug ./server
//!     // …
//! }
//! ```
//!
//! `debug` level says what the defaults do (an unhandled write event, dropped urgent data);
//! `warn` and `error` are worth reading in production. "No logger" is read from
//! `log::max_level()` being `Off`, which a logger configured to drop everything
//! (`RUST_LOG=off`) also sets: call [`set_stderr_fallback(false)`](set_stderr_fallback)
//! for silence then.
//!
//! # Stopping on a signal
//!
//! Ctrl-C and `SIGTERM` should end `run()` cleanly. [`EventLoop::on_signal`] runs a closure
//! on the loop's thread when a [`Signal`] arrives (SIGINT, SIGTERM, SIGHUP, SIGUSR1/2,
//! SIGQUIT on Unix; Ctrl-C, Ctrl-Break and console close on Windows), as an ordinary
//! callback: no signal-handling thread, no restriction on what it does. The loop wakes for it
//! even in a wait with no timeout. While installed, the handler replaces the signal's
//! default action; [`EventLoop::remove_signal`] gives it back.
//!
//! ```
//! use ioloop::{EventLoop, Signal};
//!
//! let mut event_loop = EventLoop::new()?;
//! for signal in [Signal::Interrupt, Signal::Terminate] {
//!     event_loop.on_signal(signal, |cx| cx.stop())?;
//! }
//! // … spawn the listener, then:
//! event_loop.run()?; // returns after Ctrl-C or `kill`, channels still open: drop the loop to close them
//! # std::io::Result::Ok(())
//! ```
//!
//! Another thread can stop the loop too, through [`LoopHandle::stop`]: it wakes the loop at
//! once. `stop` may log if the wake-up fails, so it is not meant for a raw signal handler.
//!
//! # Graceful shutdown
//!
//! `stop` leaves every channel as it was. A server that should finish what it has started
//! shuts down instead: [`cx.shutdown_loop(grace)`](Context::shutdown_loop) from a callback
//! (a signal's, say), [`LoopHandle::shutdown(grace)`](LoopHandle::shutdown) from another
//! thread, [`event_loop.shutdown(grace)`](EventLoop::shutdown) between iterations. Then:
//!
//! 1. every listener closes: no new connection is accepted;
//! 2. every channel is told, through [`Dispatcher::handle_shutdown`]: by default a raw
//!    dispatcher closes once its output has drained ([`Context::close_when_drained`]), and
//!    a chat channel ([`ChatHandler::handle_shutdown`](chat::ChatHandler::handle_shutdown))
//!    sends the replies to the requests it has received, then closes; neither reads new
//!    input. Channels opened meanwhile are told as they open;
//! 3. once no channel is left, `run()` (and `run_until_stopped()`) returns `Ok`; channels
//!    still open when `grace` has passed (a peer that does not read) are closed then, and
//!    `run()` returns.
//!
//! [`cx.is_shutting_down()`](Context::is_shutting_down) tells handlers; a second call can
//! shorten the grace period, never lengthen it.
//!
//! ```no_run
//! use std::time::Duration;
//! use ioloop::{EventLoop, Signal};
//!
//! let mut event_loop = EventLoop::new()?;
//! for signal in [Signal::Interrupt, Signal::Terminate] {
//!     event_loop.on_signal(signal, |cx| cx.shutdown_loop(Duration::from_secs(10)))?;
//! }
//! // … spawn the listener …
//! event_loop.run()?; // returns once every connection has finished, or 10 s after Ctrl-C
//! # std::io::Result::Ok(())
//! ```
//!
//! # Threads
//!
//! One loop runs on one thread, as asyncore's did: its channels, dispatchers and state `S`
//! live there, and callbacks never run concurrently, so they need no locks (`S` and the
//! dispatchers need not be `Send`). Other threads reach a loop through its
//! [`LoopHandle`] (`Send + Sync + Clone`): [`stop`](LoopHandle::stop) it, or run a closure on
//! it with [`call_soon_threadsafe`](LoopHandle::call_soon_threadsafe). To use more cores, run
//! one loop per thread, each with its own listener (`SO_REUSEPORT`) or with connections handed
//! over through `call_soon_threadsafe`. The selectors and [`SelectorMap`](selector::SelectorMap)
//! are `Send`, so one can be built on one thread and served on another.
//!
//! ```
//! use ioloop::EventLoop;
//!
//! let (handles, threads): (Vec<_>, Vec<_>) = (0..2)
//!     .map(|_| {
//!         let (tx, rx) = std::sync::mpsc::channel();
//!         let thread = std::thread::spawn(move || {
//!             let mut event_loop = EventLoop::with_state(0u32)?; // made on its own thread
//!             tx.send(event_loop.handle()).unwrap();
//!             event_loop.run_until_stopped()?;
//!             std::io::Result::Ok(*event_loop.state())
//!         });
//!         (rx.recv().unwrap(), thread)
//!     })
//!     .unzip();
//! for handle in &handles {
//!     // Runs on that loop's thread, then stops it.
//!     handle.call_soon_threadsafe(|cx| {
//!         *cx.state() += 1;
//!         cx.stop();
//!     })?;
//! }
//! for thread in threads {
//!     assert_eq!(thread.join().unwrap()?, 1);
//! }
//! # std::io::Result::Ok(())
//! ```
//!
//! # Porting from Python's `asynchat`
//!
//! | Python | ioloop |
//! |---|---|
//! | `class Session(asynchat.async_chat)` | `impl ChatHandler for Session`, spawned as [`AsyncChat::new(Session, b"\r\n")`](chat::AsyncChat::new) |
//! | `set_terminator(b'\r\n')`, `(1024)`, `(None)` | [`chat.set_terminator(…)`](chat::ChatChannel::set_terminator) with [`Terminator::bytes`](chat::Terminator::bytes), [`Terminator::count`](chat::Terminator::count), [`Terminator::None`](chat::Terminator::None); binary frames: [`Terminator::length_prefixed`](chat::Terminator::length_prefixed) |
//! | `collect_incoming_data(data)` + `found_terminator()` | [`ChatHandler::found_terminator`](chat::ChatHandler::found_terminator) gets the message as `&[u8]` (lent: no allocation per message); override [`collect_incoming_data`](chat::ChatHandler::collect_incoming_data) to stream |
//! | `push(data)`, `push_with_producer(p)`, `simple_producer` | [`chat.push`](chat::ChatChannel::push), [`chat.push_with_producer`](chat::ChatChannel::push_with_producer), [`SimpleProducer`](chat::SimpleProducer) |
//! | `close_when_done()`, `discard_buffers()` | [`chat.close_when_done()`](chat::ChatChannel::close_when_done), [`chat.discard_buffers()`](chat::ChatChannel::discard_buffers) |
//! | `ac_in_buffer_size`, `ac_out_buffer_size` | [`ChatConfig`](chat::ChatConfig)`::{in_buffer_size, out_buffer_size}` |
//! | (unbounded buffers) | [`ChatConfig`](chat::ChatConfig)`::{max_message, high_water}` |
//!
//! [The `chat` module](chat) has the full table and the deliberate differences.
//!
//! # Porting from Python's `selectors`
//!
//! | Python | ioloop |
//! |---|---|
//! | `selectors.DefaultSelector()` | [`SelectorMap::new()`](selector::SelectorMap::new) (or [`DefaultSelector::new()`](selector::DefaultSelector::new) for raw sources) |
//! | `selectors.PollSelector()` etc. | [`SelectorMap::with_kind(SelectorKind::Poll)`](selector::SelectorMap::with_kind), or `IOLOOP_SELECTOR=poll` |
//! | `EVENT_READ`, `EVENT_WRITE` | [`Interest::READ`](selector::Interest::READ), [`Interest::WRITE`](selector::Interest::WRITE) |
//! | `sel.register(sock, events, data)` → key | [`map.register(sock, interest, data)`](selector::SelectorMap::register) → [`SelectorKey`](selector::SelectorKey) (the map owns `sock`) |
//! | `sel.modify(sock, events)` | [`map.modify(key, interest)`](selector::SelectorMap::modify) |
//! | `sel.unregister(sock); sock.close()` | `let (sock, data) = map.unregister(key)?;` then drop `sock` |
//! | `sel.select(timeout)` → `[(key, mask)]` | [`map.select(Some(timeout))`](selector::SelectorMap::select) → `Vec<(SelectorKey, Interest)>` |
//! | `key.data`, `key.fileobj` | [`map.data(key)`](selector::SelectorMap::data), [`map.source(key)`](selector::SelectorMap::source), [`map.get_mut(key)`](selector::SelectorMap::get_mut) |
//! | `sel.get_key(sock)`, `sel.get_map()` | [`map.find(&sock)`](selector::SelectorMap::find), [`map.iter()`](selector::SelectorMap::iter) |
//! | `KeyError` (registered twice / unknown) | `io::ErrorKind::AlreadyExists` / `NotFound` |
//! | `ValueError("Invalid events: 0")` | allowed: [`Interest::NONE`](selector::Interest::NONE) parks a source |
//! | `sel.close()` | drop the map |
//! | (none) | [`map.waker()`](selector::SelectorMap::waker): end a blocking `select` from another thread |

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod chat;
mod diagnostics;
mod event_loop;
pub mod net;
pub mod selector;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use event_loop::{
    ACCEPT_BATCH, Context, Dispatcher, EventLoop, IoSource, ListenerLimits, LoopHandle, SendBuffer,
    Signal, SignalId, TimeoutKind, Timeouts, TimerId, Token, WhenFull,
};
/// The `socket2` crate this crate's signatures use (`Socket`, `SockAddr`, `Domain`, …):
/// name it through this re-export, so that its version is always the one `ioloop` speaks.
///
/// ```
/// use ioloop::socket2::{Domain, Socket, Type};
///
/// let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
/// let source = ioloop::IoSource::from(socket);
/// # drop(source);
/// # std::io::Result::Ok(())
/// ```
pub use socket2;

pub use diagnostics::set_stderr_fallback;
