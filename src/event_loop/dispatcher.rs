//! [`Dispatcher`], asyncore's `dispatcher` callbacks (its user docs are on the trait).

use std::any::Any;
use std::io;

use socket2::{SockAddr, Socket};

use crate::diagnostics::report;
use crate::{Context, TimeoutKind, TimerId};

/// How many connections the default [`Dispatcher::handle_accept`] takes per readiness
/// event, at most. Enough that a burst of clients is taken in a few loop passes on every
/// backend (`poll` and `select` pay a full scan of their descriptors per pass), few enough
/// that one listener under a flood does not hold up the loop's established connections and
/// timers for long (64 accepts and spawns take well under a millisecond).
///
/// # Examples
///
/// An override that keeps the default's bound:
///
/// ```
/// use std::io;
/// use ioloop::{ACCEPT_BATCH, Context, Dispatcher};
///
/// struct Counting;
///
/// impl Dispatcher<u64> for Counting {
///     fn handle_accept(&mut self, cx: &mut Context<'_, u64>) -> io::Result<()> {
///         for _ in 0..ACCEPT_BATCH {
///             let Some((socket, _addr)) = cx.accept()? else { break };
///             *cx.state() += 1;
///             drop(socket);
///         }
///         Ok(())
///     }
/// }
/// # let _ = Counting;
/// ```
pub const ACCEPT_BATCH: usize = 64;

/// A channel's behaviour: asyncore's `dispatcher` callbacks, which the
/// [`EventLoop`](crate::EventLoop) calls when the channel's socket is ready, with asyncore's
/// defaults where they are safe and better ones where they were not.
///
/// A Python subclass of `asyncore.dispatcher` becomes one `impl Dispatcher`: override the
/// handlers you need, keep the defaults for the rest. Every callback gets a [`Context`] for
/// I/O on its own socket (where asyncore called `self.recv`, `self.send`, `self.close`) and
/// for reaching the loop. The type parameter `S` is the loop's shared state (`()` unless
/// the loop was made with [`EventLoop::with_state`](crate::EventLoop::with_state)).
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
///
/// # Examples
///
/// An HTTP/1.0 client, as asyncore programs wrote them: a request kept in the dispatcher
/// and sent as the socket takes it (`writable()` while some is left), the response read
/// until the server closes.
///
/// ```
/// use std::io;
/// use ioloop::{Context, Dispatcher, EventLoop};
///
/// struct HttpClient {
///     request: Vec<u8>,
/// }
///
/// impl Dispatcher<Vec<u8>> for HttpClient {
///     fn writable(&self) -> bool {
///         !self.request.is_empty()
///     }
///
///     fn handle_write(&mut self, cx: &mut Context<'_, Vec<u8>>) -> io::Result<()> {
///         let sent = cx.send(&self.request)?;
///         self.request.drain(..sent);
///         Ok(())
///     }
///
///     fn handle_read(&mut self, cx: &mut Context<'_, Vec<u8>>) -> io::Result<()> {
///         let mut buf = [0; 8192];
///         let n = cx.recv(&mut buf)?;
///         cx.state().extend_from_slice(&buf[..n]); // the response so far
///         Ok(())
///     }
///     // handle_close: the default closes the channel, and `run` returns.
/// }
///
/// # use std::io::{Read, Write};
/// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let addr = server.local_addr()?;
/// # let web = std::thread::spawn(move || -> io::Result<()> {
/// #     let (mut conn, _) = server.accept()?;
/// #     let mut request = Vec::new();
/// #     let mut buf = [0; 1024];
/// #     while !request.ends_with(b"\r\n\r\n") {
/// #         let n = conn.read(&mut buf)?;
/// #         if n == 0 { break; }
/// #         request.extend_from_slice(&buf[..n]);
/// #     }
/// #     conn.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello")
/// # });
/// let mut event_loop = EventLoop::with_state(Vec::new())?;
/// let request = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n".to_vec();
/// event_loop.connect(addr, HttpClient { request })?; // `addr`: a local web server
/// event_loop.run()?;
/// # web.join().unwrap()?;
/// assert!(event_loop.state().starts_with(b"HTTP/1.0 200 OK"));
/// # io::Result::Ok(())
/// ```
#[allow(unused_variables)] // the defaults ignore most arguments
pub trait Dispatcher<S: 'static = ()>: 'static {
    /// The channel joined the loop: called once, before any other callback of the channel
    /// (before `handle_connect` for a [`connect`](Context::connect)): after the callback that
    /// spawned it has returned, before the loop waits again or fires a timer (for a channel
    /// spawned outside the loop, at the start of the next iteration). The place to greet a
    /// peer or arm timers. Default: nothing.
    ///
    /// # Examples
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
    ///
    /// Answer `false` to stop reading for a while (while a reply is pending, so that a peer
    /// that sends without reading cannot make the buffers grow), or for good in a channel
    /// that never reads (a UDP sender).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::Dispatcher;
    ///
    /// struct Relay {
    ///     unsent: Vec<u8>,
    /// }
    ///
    /// impl Dispatcher for Relay {
    ///     fn readable(&self) -> bool {
    ///         self.unsent.len() < 64 * 1024 // read again once the backlog has drained
    ///     }
    /// }
    ///
    /// assert!(Relay { unsent: Vec::new() }.readable());
    /// assert!(!Relay { unsent: vec![0; 64 * 1024] }.readable());
    /// ```
    fn readable(&self) -> bool {
        true
    }

    /// Whether the loop should watch for writability. Default: `false` (asyncore: `True`).
    ///
    /// Answer `true` while there is something to send, and only then: a socket is
    /// writable almost always, so an unconditional `true` wakes the loop on every
    /// iteration.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::{Dispatcher, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Session {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Session {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty() // asyncore's `return len(self.buffer) > 0`
    ///     }
    /// }
    ///
    /// assert!(!Session::default().writable());
    /// ```
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
    ///
    /// # Examples
    ///
    /// A line reader (what asyncore programs did by hand before asynchat; see
    /// [`chat`](crate::chat) for the framing done for you):
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// #[derive(Default)]
    /// struct Lines {
    ///     partial: Vec<u8>,
    /// }
    ///
    /// impl Dispatcher<Vec<String>> for Lines {
    ///     fn handle_read(&mut self, cx: &mut Context<'_, Vec<String>>) -> io::Result<()> {
    ///         cx.recv_append(&mut self.partial, 4096)?;
    ///         while let Some(end) = self.partial.iter().position(|&byte| byte == b'\n') {
    ///             let line: Vec<u8> = self.partial.drain(..=end).collect();
    ///             cx.state().push(String::from_utf8_lossy(&line).trim_end().to_string());
    ///         }
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
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Lines::default())?; // `client`: the peer
    /// client.write_all(b"HELO there\r\nQUIT\r\n")?;
    /// drop(client);
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// assert_eq!(event_loop.state(), &["HELO there", "QUIT"]);
    /// # io::Result::Ok(())
    /// ```
    fn handle_read(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        let dropped = cx.recv_scratch(64 * 1024)?.len();
        if dropped > 0 {
            cx.warn_once(format_args!(
                "unhandled read event: dropped {dropped} byte(s) (implement handle_read, or answer false to readable())"
            ));
        }
        Ok(())
    }

    /// The socket has room to write: called while [`writable`](Self::writable) answers
    /// `true` and the socket has room. Default: nothing (with a debug log).
    ///
    /// Also called when the socket was not reported writable: when `writable()` turned true
    /// behind the loop's back (the channel was reached with [`Context::get_mut`] or
    /// refreshed) and the loop was not watching it for writing, it writes at once rather
    /// than waiting a turn for a writable event (an optimistic write). If the socket has no
    /// room, [`Context::send`] returns `Ok(0)` — as a handler must already expect — and the
    /// loop watches the socket for writing while `writable()` stays true.
    ///
    /// # Examples
    ///
    /// asyncore's `sent = self.send(self.buffer); self.buffer = self.buffer[sent:]`, done
    /// by a [`SendBuffer`](crate::SendBuffer):
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Session {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Session {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.flush(cx) // as much as the socket takes; the rest waits
    ///     }
    /// }
    /// # let _ = Session::default();
    /// ```
    fn handle_write(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        log::debug!(target: "ioloop::dispatcher", "{:?}: unhandled write event", cx.label());
        Ok(())
    }

    /// A listening socket has a connection waiting. The default accepts connections until
    /// none is waiting, at most [`ACCEPT_BATCH`] (64), passing each to
    /// [`handle_accepted`](Self::handle_accepted); it stops early once the listener is
    /// closed, paused, or at its [`ListenerLimits`](crate::ListenerLimits).
    ///
    /// asyncore accepted one connection per readiness event; with `poll` or `select` that is
    /// one per loop pass, and a burst of 10 000 clients took seconds to take in. Override it
    /// to accept differently: every waiting connection at once (see [`Context::accept`]), or
    /// one at a time as asyncore did.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Server;
    /// struct Session;
    /// impl Dispatcher for Session {}
    ///
    /// impl Dispatcher for Server {
    ///     fn handle_accept(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         // Up to 16 a wake-up: a burst of clients is taken in a few iterations.
    ///         for _ in 0..16 {
    ///             let Some((socket, _addr)) = cx.accept()? else {
    ///                 break; // none left
    ///             };
    ///             cx.spawn(socket, Session)?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Server;
    /// ```
    fn handle_accept(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        for _ in 0..ACCEPT_BATCH {
            // A paused listener's `accept` answers `None`; a closed one's, an error.
            if !cx.is_open() {
                break;
            }
            let Some((socket, addr)) = cx.accept()? else {
                break;
            };
            self.handle_accepted(cx, socket, addr)?;
        }
        Ok(())
    }

    /// A connection was accepted (non-blocking already). Spawn a dispatcher for it with
    /// [`Context::spawn`]; the default drops (closes) it. asyncore's
    /// `handle_accepted(sock, addr)`; `addr` is a `SockAddr`
    /// ([`as_socket`](socket2::SockAddr::as_socket) gives the `SocketAddr` of an IP peer).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::{SocketAddr, TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::socket2::{SockAddr, Socket};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// struct Session;
    /// impl Dispatcher<Vec<SocketAddr>> for Session {}
    ///
    /// impl Dispatcher<Vec<SocketAddr>> for Server {
    ///     fn handle_accepted(
    ///         &mut self,
    ///         cx: &mut Context<'_, Vec<SocketAddr>>,
    ///         socket: Socket,
    ///         addr: SockAddr,
    ///     ) -> io::Result<()> {
    ///         cx.state().extend(addr.as_socket()); // who came: for a log line
    ///         cx.spawn(socket, Session)?; // asyncore's `Session(sock)`
    ///         cx.stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// event_loop.spawn(listener, Server)?;
    /// let client = TcpStream::connect(addr)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(event_loop.state(), &[client.local_addr()?]);
    /// # io::Result::Ok(())
    /// ```
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
    /// read or write event of the channel. If the connection fails (refused, unreachable,
    /// every address tried), [`handle_error`](Self::handle_error) gets the error instead and
    /// the channel is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::{SocketAddr, TcpListener};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Client;
    ///
    /// impl Dispatcher<Option<SocketAddr>> for Client {
    ///     fn handle_connect(&mut self, cx: &mut Context<'_, Option<SocketAddr>>) -> io::Result<()> {
    ///         let server = cx.peer_addr()?; // connected: the place to send a greeting
    ///         *cx.state() = Some(server);
    ///         cx.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let server = TcpListener::bind("127.0.0.1:0")?;
    /// let mut event_loop = EventLoop::with_state(None)?;
    /// event_loop.connect(server.local_addr()?, Client)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(*event_loop.state(), Some(server.local_addr()?));
    /// # io::Result::Ok(())
    /// ```
    fn handle_connect(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        log::debug!(target: "ioloop::dispatcher", "{:?}: unhandled connect event", cx.label());
        Ok(())
    }

    /// The peer closed the connection, or it broke. Default: close the channel.
    ///
    /// Called once per channel. A dispatcher may keep the channel open (to flush a reply
    /// after the peer's end of file, say); if the connection then reports end of file or a
    /// disconnection again, the loop closes the channel itself.
    ///
    /// Only the peer's side calls it: a channel closed by this program ([`Context::close`],
    /// [`Context::close_channel`], the default [`handle_error`](Self::handle_error), or a
    /// chat's `close_when_done` reaching its mark) gets no `handle_close`. Clean-up that
    /// must run however the channel ends belongs in the dispatcher's `Drop`: the loop drops
    /// a dispatcher when its channel closes (asyncore ports often overrode `close()`).
    ///
    /// # Examples
    ///
    /// A channel that answers once the peer has said all (its end of file), then closes:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::net::Shutdown;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// #[derive(Default)]
    /// struct Count {
    ///     bytes: usize,
    /// }
    ///
    /// impl Dispatcher for Count {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.bytes += cx.recv(&mut [0; 4096])?;
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_close(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let reply = format!("{} bytes\n", self.bytes);
    ///         cx.send(reply.as_bytes())?; // this side can still write
    ///         cx.close();
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
    /// event_loop.spawn(conn, Count::default())?; // `client`: the peer
    /// client.write_all(b"hello")?;
    /// client.shutdown(Shutdown::Write)?; // end of file for the channel
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "5 bytes\n");
    /// # io::Result::Ok(())
    /// ```
    fn handle_close(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        cx.close();
        Ok(())
    }

    /// Out-of-band (urgent) data is waiting, where the platform reports it (epoll, poll and
    /// select on Unix). The default reads and drops it: left unread it would be reported
    /// again on every iteration (the readiness is level-triggered), spinning the loop.
    ///
    /// # Examples
    ///
    /// An override reads the urgent data with [`Context::recv_out_of_band`]:
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_expt(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut urgent = [0; 1];
    ///         if cx.recv_out_of_band(&mut urgent)? == 1 && urgent[0] == 0xf4 {
    ///             cx.close(); // telnet's "interrupt process"
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Session;
    /// ```
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

    /// A timer of this channel fired: one set with [`Context::call_later`] or
    /// [`Context::call_every`] (or by another channel with [`Context::call_later_for`]).
    /// `timer` says which, for a channel with several.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, TimerId};
    ///
    /// #[derive(Default)]
    /// struct Server {
    ///     shutdown: Option<TimerId>,
    /// }
    ///
    /// impl Dispatcher<bool> for Server {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, bool>) -> io::Result<()> {
    ///         self.shutdown = Some(cx.call_later(Duration::from_millis(1)));
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_timer(&mut self, cx: &mut Context<'_, bool>, timer: TimerId) -> io::Result<()> {
    ///         if Some(timer) == self.shutdown {
    ///             *cx.state() = true;
    ///             cx.close(); // the only channel: `run` returns
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::with_state(false)?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server::default())?;
    /// event_loop.run()?;
    /// assert!(*event_loop.state());
    /// # io::Result::Ok(())
    /// ```
    fn handle_timer(&mut self, cx: &mut Context<'_, S>, timer: TimerId) -> io::Result<()> {
        log::debug!(target: "ioloop::dispatcher", "{:?}: unhandled timer {timer:?}", cx.label());
        Ok(())
    }

    /// One of the channel's [`Timeouts`](crate::Timeouts) expired (set with
    /// [`Context::set_timeouts`]). The default closes the channel (logged at debug level);
    /// an expired connect is instead a `TimedOut` error for
    /// [`handle_error`](Self::handle_error), as a refused one is.
    ///
    /// Override it to say a last word first. If the channel stays open, that limit's clock
    /// starts again: the handler hears of it again after another full period.
    ///
    /// # Examples
    ///
    /// A session that tells an idle client why it is dropped:
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, TimeoutKind, Timeouts};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.set_timeouts(Timeouts { idle: Some(Duration::from_millis(50)), ..Timeouts::NONE });
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_timeout(&mut self, cx: &mut Context<'_>, timeout: TimeoutKind) -> io::Result<()> {
    ///         cx.send(format!("421 {timeout}, closing\r\n").as_bytes())?;
    ///         cx.close();
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
    /// event_loop.spawn(conn, Session)?; // `client`: a peer that says nothing
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "421 idle timeout, closing\r\n");
    /// # io::Result::Ok(())
    /// ```
    fn handle_timeout(&mut self, cx: &mut Context<'_, S>, timeout: TimeoutKind) -> io::Result<()> {
        timeout.close_by_default(cx, "ioloop::dispatcher")
    }

    /// An error the dispatcher met outside its callbacks, while another channel reached it
    /// with [`Context::get_mut`] (a push to a member whose output is full, say), to be
    /// routed to [`handle_error`](Self::handle_error) now. The loop asks after such a
    /// reach, before its next wait; the default has none.
    ///
    /// # Examples
    ///
    /// A mailbox that refuses mail past a limit, and whose owner's channel closes when that
    /// happens:
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// #[derive(Default)]
    /// struct Mailbox {
    ///     mail: Vec<String>,
    ///     refused: Option<io::Error>,
    /// }
    ///
    /// impl Mailbox {
    ///     fn deliver(&mut self, letter: &str) {
    ///         if self.mail.len() == 2 {
    ///             self.refused = Some(io::Error::other("mailbox full"));
    ///         } else {
    ///             self.mail.push(letter.to_string());
    ///         }
    ///     }
    /// }
    ///
    /// impl Dispatcher<Vec<String>> for Mailbox {
    ///     fn take_error(&mut self) -> Option<io::Error> {
    ///         self.refused.take()
    ///     }
    ///
    ///     fn handle_error(&mut self, cx: &mut Context<'_, Vec<String>>, error: io::Error) {
    ///         cx.state().push(error.to_string());
    ///         cx.close();
    ///     }
    /// }
    ///
    /// # fn pair() -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    /// #     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// #     let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// #     Ok((client, listener.accept()?.0))
    /// # }
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// # let (_client, conn) = pair()?;
    /// let owner = event_loop.spawn(conn, Mailbox::default())?;
    /// for letter in ["a", "b", "c"] {
    ///     event_loop.get_mut::<Mailbox>(owner).unwrap().deliver(letter);
    /// }
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?; // the owner's channel hears of it and closes
    /// assert_eq!(event_loop.state(), &["mailbox full"]);
    /// # io::Result::Ok(())
    /// ```
    fn take_error(&mut self) -> Option<io::Error> {
        None
    }

    /// The loop is shutting down gracefully ([`Context::shutdown_loop`],
    /// [`EventLoop::shutdown`](crate::EventLoop::shutdown), [`LoopHandle::shutdown`](crate::LoopHandle::shutdown)):
    /// finish up. Called once per channel, at the start of the loop's next iteration (or
    /// when the channel opens, for one opened during the shutdown).
    ///
    /// Default: a listener closes (it accepts no more connections); any other channel
    /// closes once its output has drained ([`Context::close_when_drained`]: nothing more is
    /// read from it, and it closes when `writable()` answers false). A listener is closed
    /// after this call whatever it does; a channel whose `handle_shutdown` returns an error
    /// or panics goes to [`handle_error`](Self::handle_error) and is then closed. Channels
    /// still open when the grace period ends are closed without further callbacks.
    ///
    /// # Examples
    ///
    /// A session that says goodbye before it closes:
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_shutdown(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"421 shutting down\r\n")?; // a new socket has room for a line
    ///         cx.close_when_drained(); // as the default does
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
    /// event_loop.spawn(conn, Session)?; // `client`: the peer
    /// event_loop.shutdown(Duration::from_secs(5));
    /// event_loop.run()?; // returns once the session has closed
    /// let mut last_word = String::new();
    /// client.read_to_string(&mut last_word)?;
    /// assert_eq!(last_word, "421 shutting down\r\n");
    /// # io::Result::Ok(())
    /// ```
    fn handle_shutdown(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        if cx.is_accepting() {
            cx.close();
        } else {
            cx.close_when_drained();
        }
        Ok(())
    }

    /// The TLS handshake of this channel completed (a channel of `Context::spawn_tls`,
    /// `connect_tls`, or either end of STARTTLS; only with the `tls` feature): its peer is
    /// known, and what is sent from now on is encrypted. The place to look at the peer's
    /// certificate, the ALPN protocol or the SNI name (`Context::tls_connection`), or to
    /// greet a client anew after STARTTLS. On a channel of `connect_tls` it runs right after
    /// `handle_connect`, which waits for the handshake too. The default does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_tls_ready(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"220 secure and ready\r\n")?; // encrypted
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Session;
    /// ```
    fn handle_tls_ready(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        let _ = cx;
        Ok(())
    }

    /// A handler returned an error (or panicked). Default: log it with `log::error!` and
    /// close the channel — only this one. asyncore's `handle_error` (which printed a
    /// traceback), given the error itself.
    ///
    /// # Examples
    ///
    /// A protocol error answered before closing:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Strict;
    ///
    /// impl Dispatcher for Strict {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 512];
    ///         let n = cx.recv(&mut buf)?;
    ///         if !buf[..n].is_ascii() {
    ///             return Err(io::Error::new(io::ErrorKind::InvalidData, "not ASCII"));
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_error(&mut self, cx: &mut Context<'_>, error: io::Error) {
    ///         let _ = cx.send(format!("500 {error}\r\n").as_bytes());
    ///         cx.close();
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
    /// event_loop.spawn(conn, Strict)?; // `client`: the peer
    /// client.write_all(&[0xff])?;
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "500 not ASCII\r\n");
    /// # io::Result::Ok(())
    /// ```
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
