//! [`Context`]: what every callback gets — I/O on its own socket with asyncore's meanings,
//! and the loop: spawn, connect, reach or close other channels, timers, state, stop, and
//! shut down gracefully.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{SockAddr, Socket};

use super::admission::Verdict;
use super::channel::Phase;
use super::channel::Running;
use super::core::Core;
use super::dispatcher::{ACCEPT_BATCH, Dispatcher};
use super::io_source::IoSource;
use super::os_errors::{AcceptFailure, classify_accept_error, is_disconnect};
use super::timers::TimerAction;
use super::{LoopHandle, TimerId, Token};
use crate::diagnostics::report;

/// What the timers of a loop-level context name as their channel: no slot a channel can
/// have, so such a timer reaches no `handle_timer`.
pub(crate) const NO_CHANNEL: Token = Token {
    slot: Token::MAX_SLOT,
    generation: Token::MAX_SLOT,
};

/// A callback's view of its channel and of the loop.
///
/// I/O methods act on the channel's own socket with asyncore's meanings:
///
/// | call | result | then |
/// |---|---|---|
/// | [`recv`](Self::recv) | `Ok(n > 0)` data | |
/// | | `Ok(0)` end of file, or the peer reset/aborted | the loop calls `handle_close` after this callback |
/// | | `Err(WouldBlock)`: nothing now (a spurious wake-up) | returning it with `?` is harmless: the loop ignores it |
/// | [`send`](Self::send) | `Ok(n)` bytes taken (maybe fewer than offered: keep the rest) | |
/// | | `Ok(0)` would block | try again on the next `handle_write` |
/// | | `Ok(0)` after a reset or broken pipe | `handle_close` is called |
///
/// Anything else is an `Err` the handler may return to reach `handle_error`.
///
/// Where an asyncore handler called methods on `self` (`self.recv`, `self.send`,
/// `self.close`), a [`Dispatcher`]'s callback calls them on its `cx`; the loop-level
/// calls (spawn, connect, timers, stop) are here too, as asyncore's module functions were.
/// A loop-level context (in a [`schedule`](Self::schedule)d job or a
/// [`LoopHandle::call_soon_threadsafe`] closure) has no channel of its own: its I/O
/// methods return `NotConnected`.
///
/// # Examples
///
/// An echo channel and a client to talk to it:
///
/// ```
/// use std::io::{self, Read, Write};
/// use std::net::{Shutdown, TcpListener, TcpStream};
/// use ioloop::{Context, Dispatcher, EventLoop};
///
/// struct Echo;
///
/// impl Dispatcher for Echo {
///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
///         let mut buf = [0; 4096];
///         let n = cx.recv(&mut buf)?; // asyncore's self.recv(4096)
///         cx.send(&buf[..n])?; // self.send(data): a short reply fits at once
///         Ok(())
///     }
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut client = TcpStream::connect(listener.local_addr()?)?;
/// let (conn, _) = listener.accept()?;
/// let mut event_loop = EventLoop::new()?;
/// event_loop.spawn(conn, Echo)?;
///
/// client.write_all(b"ping")?;
/// client.shutdown(Shutdown::Write)?;
/// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
/// event_loop.run()?; // the client's end of file closes the channel: none is left
/// # client.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert_eq!(reply, "ping");
/// # io::Result::Ok(())
/// ```
pub struct Context<'a, S = ()> {
    core: &'a mut Core<S>,
    /// The channel whose callback this is; `None` in a loop-level context.
    own: Option<&'a mut Running>,
}

impl<'a, S: 'static> Context<'a, S> {
    pub(crate) fn new(core: &'a mut Core<S>, own: Option<&'a mut Running>) -> Context<'a, S> {
        Context { core, own }
    }

    /// The loop and the running channel, for the loop's other modules that add methods to
    /// `Context` (the deadlines, TLS).
    #[inline]
    pub(super) fn split(&mut self) -> (&mut Core<S>, Option<&mut Running>) {
        (self.core, self.own.as_deref_mut())
    }

    /// The running channel, for the loop's other modules.
    #[cfg(feature = "tls")]
    #[inline]
    pub(super) fn running(&self) -> Option<&Running> {
        self.own.as_deref()
    }

    /// Whether this context's channel runs TLS: its I/O goes through the session.
    #[inline(always)]
    fn tls_active(&self) -> bool {
        self.own.as_ref().is_some_and(|own| own.tls.is_active())
    }

    /// This channel's token; `None` in a loop-level context (a
    /// [`LoopHandle::call_soon_threadsafe`] closure or a [`schedule`](Self::schedule)d job),
    /// which serves no channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, Token};
    ///
    /// struct Server;
    ///
    /// impl Dispatcher<Vec<Option<Token>>> for Server {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, Vec<Option<Token>>>) -> io::Result<()> {
    ///         let token = cx.token(); // to give to the channels that will reach this one
    ///         cx.state().push(token);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// let server = event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// event_loop.schedule(Duration::ZERO, |cx| {
    ///     let token = cx.token();
    ///     cx.state().push(token);
    ///     cx.stop();
    /// });
    /// event_loop.run()?;
    /// assert_eq!(event_loop.state(), &[Some(server), None]); // a job serves no channel
    /// # io::Result::Ok(())
    /// ```
    pub fn token(&self) -> Option<Token> {
        self.own.as_ref().map(|own| own.token)
    }

    /// How logs name this context's channel.
    pub(crate) fn label(&self) -> Label {
        Label(self.token())
    }

    /// Whether `token` names this context's own channel.
    fn is_own(&self, token: Token) -> bool {
        self.own.as_ref().is_some_and(|own| own.token == token)
    }

    /// The loop's shared state (see [`EventLoop::with_state`](crate::EventLoop::with_state)): what an asyncore program
    /// kept in globals or in attributes every handler could reach.
    ///
    /// # Examples
    ///
    /// A connection counter every channel shares:
    ///
    /// ```
    /// use std::io;
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::socket2::{SockAddr, Socket};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// #[derive(Default)]
    /// struct Stats {
    ///     accepted: u32,
    /// }
    ///
    /// struct Server;
    ///
    /// impl Dispatcher<Stats> for Server {
    ///     fn handle_accepted(&mut self, cx: &mut Context<'_, Stats>, socket: Socket, _: SockAddr) -> io::Result<()> {
    ///         cx.state().accepted += 1;
    ///         drop(socket); // this server only counts
    ///         if cx.state().accepted == 2 {
    ///             cx.stop();
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::with_state(Stats::default())?;
    /// event_loop.spawn(listener, Server)?;
    /// let _clients = [TcpStream::connect(addr)?, TcpStream::connect(addr)?];
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(event_loop.state().accepted, 2);
    /// # io::Result::Ok(())
    /// ```
    pub fn state(&mut self) -> &mut S {
        self.core.state_mut()
    }

    #[inline]
    fn own(&self) -> io::Result<&IoSource> {
        match self.own.as_ref().and_then(|own| own.io.as_ref()) {
            Some(io) => Ok(io),
            None => Err(closed()),
        }
    }

    /// Records that the connection ended: `handle_close` follows the current handler.
    fn note_close(&mut self) {
        if let Some(own) = self.own.as_deref_mut() {
            own.disconnected = true;
        }
    }

    /// Reads into `buf`. `Ok(0)` means end of file (or a reset): `handle_close` follows.
    /// asyncore's `data = self.recv(n)`, with `Ok(0)` for its `b''`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// /// Keeps everything the peer sends, in the loop's state.
    /// struct Collect;
    ///
    /// impl Dispatcher<Vec<u8>> for Collect {
    ///     fn handle_read(&mut self, cx: &mut Context<'_, Vec<u8>>) -> io::Result<()> {
    ///         let mut buf = [0; 1024];
    ///         let n = cx.recv(&mut buf)?; // Err(WouldBlock): harmless to return
    ///         cx.state().extend_from_slice(&buf[..n]);
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
    /// event_loop.spawn(conn, Collect)?; // `conn`: an accepted TcpStream, `client` its peer
    /// client.write_all(b"hello")?;
    /// drop(client);
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?; // Ok(0) at the end of file: handle_close closes the channel
    /// assert_eq!(event_loop.state(), b"hello");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `WouldBlock` when there is nothing to read now (harmless to return from a handler);
    /// `NotConnected` if the channel is closed; other OS errors as they come.
    #[inline]
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_uninit(as_uninit(buf))
    }

    /// Reads up to `max` bytes onto the end of `buf`, straight into its spare capacity (no
    /// zeroed buffer, no copy), and returns how many, with [`recv`](Self::recv)'s meanings.
    ///
    /// # Examples
    ///
    /// The way to read a burst into a channel's own buffer:
    ///
    /// ```no_run
    /// use std::io;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Echo {
    ///     unsent: Vec<u8>,
    /// }
    ///
    /// impl Dispatcher for Echo {
    ///     fn readable(&self) -> bool {
    ///         self.unsent.len() < 64 * 1024 // bounded: stop reading while the peer lags
    ///     }
    ///
    ///     fn handle_read(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
    ///         while self.unsent.len() < 64 * 1024 {
    ///             let n = cx.recv_append(&mut self.unsent, 16 * 1024)?;
    ///             if n < 16 * 1024 {
    ///                 break; // drained, or end of file (handle_close follows)
    ///             }
    ///         }
    ///         let sent = cx.send(&self.unsent)?;
    ///         self.unsent.drain(..sent);
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Echo { unsent: Vec::new() };
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `buf` is unchanged on error.
    #[inline]
    pub fn recv_append(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        buf.reserve(max);
        let len = buf.len();
        let n = self.recv_uninit(&mut buf.spare_capacity_mut()[..max])?;
        // SAFETY: the read initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(len + n) };
        Ok(n)
    }

    /// Reads up to `max` bytes into the loop's scratch buffer (one for all channels) and
    /// returns them, with [`recv`](Self::recv)'s meanings (empty at end of file). For
    /// channels that keep only part of what they read, so that none needs a read buffer of
    /// its own.
    ///
    /// # Examples
    ///
    /// A channel that counts lines and keeps none of them:
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct CountLines;
    ///
    /// impl Dispatcher<usize> for CountLines {
    ///     fn handle_read(&mut self, cx: &mut Context<'_, usize>) -> io::Result<()> {
    ///         let data = cx.recv_scratch(16 * 1024)?;
    ///         let lines = data.iter().filter(|&&byte| byte == b'\n').count();
    ///         *cx.state() += lines;
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
    /// event_loop.spawn(conn, CountLines)?; // `conn`: an accepted TcpStream, `client` its peer
    /// client.write_all(b"one\ntwo\nthree\n")?;
    /// drop(client);
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// assert_eq!(*event_loop.state(), 3);
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_scratch(&mut self, max: usize) -> io::Result<&[u8]> {
        let mut scratch = self.core.take_scratch();
        scratch.clear();
        let result = self.recv_append(&mut scratch, max);
        self.core.put_scratch(scratch);
        result?;
        Ok(self.core.scratch())
    }

    #[inline]
    fn recv_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        if self.tls_active() {
            return self.tls_recv(buf);
        }
        loop {
            match self.own()?.read(buf) {
                Ok(0) if !buf.is_empty() => {
                    self.note_close();
                    return Ok(0);
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_disconnect(&e) => {
                    self.note_close();
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes from `buf`; returns how much was taken, `Ok(0)` if the socket is full (or the
    /// peer went away: then `handle_close` follows). asyncore's `self.send(data)`, which
    /// returned the same count.
    ///
    /// # Examples
    ///
    /// A partial send keeps the rest for the next `handle_write` (or embed a
    /// [`SendBuffer`](crate::SendBuffer), which does this):
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Banner {
    ///     unsent: &'static [u8],
    /// }
    ///
    /// impl Dispatcher for Banner {
    ///     fn writable(&self) -> bool {
    ///         !self.unsent.is_empty()
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let n = cx.send(self.unsent)?; // maybe fewer than offered, maybe 0
    ///         self.unsent = &self.unsent[n..];
    ///         if self.unsent.is_empty() {
    ///             cx.close();
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
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Banner { unsent: b"220 ready\r\n" })?; // `client`: the peer
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// let mut banner = String::new();
    /// client.read_to_string(&mut banner)?;
    /// assert_eq!(banner, "220 ready\r\n");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotConnected` if the channel is closed; other OS errors as they come.
    #[inline]
    pub fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.tls_active() {
            return self.tls_send(&[io::IoSlice::new(buf)]);
        }
        loop {
            match self.own()?.write(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if is_disconnect(&e) => {
                    self.note_close();
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes from several buffers, in order, in one system call (`sendmsg`/`writev` on
    /// Unix, `WSASend` on Windows): a queue of small messages goes out in one send instead
    /// of one each. Returns how many bytes were taken — possibly only part of them, ending
    /// inside any buffer — with [`send`](Self::send)'s meanings: `Ok(0)` if the socket is
    /// full (or the peer went away: then `handle_close` follows). At most
    /// [`MAX_SEND_SLICES`](Self::MAX_SEND_SLICES) buffers are sent per call; the rest are
    /// left for the next.
    ///
    /// # Examples
    ///
    /// A header and a body out together, without copying them into one buffer:
    ///
    /// ```
    /// use std::io::{self, IoSlice};
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Reply {
    ///     head: Vec<u8>,
    ///     body: Vec<u8>,
    ///     sent: usize,
    /// }
    ///
    /// impl Dispatcher for Reply {
    ///     fn writable(&self) -> bool {
    ///         self.sent < self.head.len() + self.body.len()
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
    ///         let (head, body) = if self.sent < self.head.len() {
    ///             (&self.head[self.sent..], &self.body[..])
    ///         } else {
    ///             (&[][..], &self.body[self.sent - self.head.len()..])
    ///         };
    ///         self.sent += cx.send_vectored(&[IoSlice::new(head), IoSlice::new(body)])?;
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Reply { head: Vec::new(), body: Vec::new(), sent: 0 };
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    #[inline]
    pub fn send_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(Self::MAX_SEND_SLICES)];
        if self.tls_active() {
            return self.tls_send(bufs);
        }
        loop {
            match self.own()?.write_vectored(bufs) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if is_disconnect(&e) => {
                    self.note_close();
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The most buffers [`send_vectored`](Self::send_vectored) hands the system at once
    /// (`IOV_MAX` is 1024 on Linux, the BSDs and macOS).
    pub const MAX_SEND_SLICES: usize = 1024;

    /// Reads urgent (out-of-band) data, e.g. in `handle_expt` (asyncore's
    /// `self.socket.recv(n, socket.MSG_OOB)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// /// A telnet-like session: an urgent byte interrupts what runs.
    /// #[derive(Default)]
    /// struct Session {
    ///     interrupted: bool,
    /// }
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_expt(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut urgent = [0; 16];
    ///         let n = cx.recv_out_of_band(&mut urgent)?;
    ///         self.interrupted |= n > 0;
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Session::default();
    /// ```
    ///
    /// # Errors
    ///
    /// `WouldBlock` (or `InvalidInput` on some systems) when there is none; `Unsupported`
    /// for a plain descriptor.
    pub fn recv_out_of_band(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let socket = self.own()?.need_socket()?;
        socket.recv_out_of_band(as_uninit(buf))
    }

    /// Receives one datagram (UDP or Unix datagram sockets): asyncore's
    /// `self.socket.recvfrom(n)`.
    ///
    /// # Examples
    ///
    /// A UDP echo channel:
    ///
    /// ```
    /// use std::io;
    /// use std::net::UdpSocket;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct UdpEcho;
    ///
    /// impl Dispatcher for UdpEcho {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 1500];
    ///         let (n, from) = cx.recv_from(&mut buf)?;
    ///         cx.send_to(&buf[..n], &from)?;
    ///         cx.stop(); // one datagram is all this example serves
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let server = UdpSocket::bind("127.0.0.1:0")?;
    /// let server_addr = server.local_addr()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(server, UdpEcho)?;
    ///
    /// let client = UdpSocket::bind("127.0.0.1:0")?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.send_to(b"ping", server_addr)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// let mut buf = [0; 16];
    /// let (n, _) = client.recv_from(&mut buf)?;
    /// assert_eq!(&buf[..n], b"ping");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no datagram is waiting; `Unsupported` for a plain descriptor.
    pub fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        let socket = self.own()?.need_socket()?;
        socket.recv_from(as_uninit(buf))
    }

    /// Sends one datagram to `addr`; `Ok(0)` if the socket buffer is full. asyncore's
    /// `self.socket.sendto(data, addr)`.
    ///
    /// # Examples
    ///
    /// A channel that reports one metric and closes:
    ///
    /// ```
    /// use std::io;
    /// use std::net::UdpSocket;
    /// use std::time::Duration;
    /// use ioloop::socket2::SockAddr;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Report {
    ///     to: SockAddr,
    /// }
    ///
    /// impl Dispatcher for Report {
    ///     fn readable(&self) -> bool {
    ///         false
    ///     }
    ///
    ///     fn writable(&self) -> bool {
    ///         true // until sent: then the channel closes
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         if cx.send_to(b"requests:1|c", &self.to)? > 0 {
    ///             cx.close();
    ///         } // else the buffer was full: try on the next handle_write
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let collector = UdpSocket::bind("127.0.0.1:0")?;
    /// # collector.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut event_loop = EventLoop::new()?;
    /// let report = Report { to: collector.local_addr()?.into() };
    /// event_loop.spawn(UdpSocket::bind("127.0.0.1:0")?, report)?;
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    ///
    /// let mut buf = [0; 64];
    /// let (n, _) = collector.recv_from(&mut buf)?;
    /// assert_eq!(&buf[..n], b"requests:1|c");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Unsupported` for a plain descriptor; OS errors as they come.
    pub fn send_to(&mut self, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
        match self.own()?.need_socket()?.send_to(buf, addr) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    /// Accepts one connection from this listening channel; `Ok(None)` when none is waiting,
    /// or none may be taken now. The accepted socket is non-blocking.
    ///
    /// A failed accept never closes the listener:
    /// - when the process or system is out of descriptors, socket buffers or memory
    ///   (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`; Winsock's `WSAEMFILE`, `WSAENOBUFS`), the
    ///   listener rests 100 ms: the loop neither spins nor closes it, as asyncore did;
    /// - a connection that went away before it was taken (`ECONNABORTED`, `WSAECONNRESET`),
    ///   a signal (`EINTR`), a protocol or firewall error (`EPROTO`, `EPERM`) and the network
    ///   errors Linux's accept(2) says to treat like `EAGAIN` are skipped;
    ///
    /// and in each case this returns `Ok(None)`. Failures are logged: the first of a run as
    /// a warning, then at most one summary per 10 s per listener, and one line when accepting
    /// works again.
    ///
    /// A listener with [`ListenerLimits`](crate::ListenerLimits) takes no connection while
    /// paused at its maximum, and closes at once (and skips) one it must reject.
    ///
    /// asyncore's `self.accept()`, with `Ok(None)` where Python returned `None`.
    ///
    /// # Examples
    ///
    /// A listener that takes every waiting connection on each event, however many (the
    /// default [`handle_accept`](Dispatcher::handle_accept) takes at most 64):
    ///
    /// ```
    /// use std::io;
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Server;
    ///
    /// impl Dispatcher<usize> for Server {
    ///     fn handle_accept(&mut self, cx: &mut Context<'_, usize>) -> io::Result<()> {
    ///         while let Some((socket, _addr)) = cx.accept()? {
    ///             *cx.state() += 1;
    ///             drop(socket); // a real server spawns a channel for it
    ///         }
    ///         if *cx.state() == 3 {
    ///             cx.stop();
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// event_loop.spawn(listener, Server)?;
    /// let _clients = [TcpStream::connect(addr)?, TcpStream::connect(addr)?, TcpStream::connect(addr)?];
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(*event_loop.state(), 3);
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Other OS errors (`EBADF`, `EINVAL` for a socket that is not listening...);
    /// `Unsupported` for a plain descriptor; `NotConnected` once the channel is closed.
    pub fn accept(&mut self) -> io::Result<Option<(Socket, SockAddr)>> {
        let Some(own) = self.own.as_deref_mut().filter(|own| own.io.is_some()) else {
            return Err(closed());
        };
        if own.phase == Phase::Paused || !self.core.may_accept(own) {
            return Ok(None);
        }
        // Connections closed at once (over a limit) do not end the call: the next one may be
        // admitted. Bounded, so that a flood of rejected clients cannot hold the loop.
        for _ in 0..ACCEPT_BATCH {
            let Some(io) = own.io.as_ref() else {
                return Err(closed());
            };
            let error = match io.accept() {
                Ok((socket, addr)) => match self.core.screen(own.token, &addr) {
                    Verdict::Admit => {
                        socket.set_nonblocking(true)?;
                        return Ok(Some((socket, addr)));
                    }
                    Verdict::Reject => continue, // the socket closes here
                },
                Err(error) => error,
            };
            return match classify_accept_error(&error) {
                AcceptFailure::NoneWaiting => Ok(None),
                AcceptFailure::PeerGone => {
                    log::debug!(target: "ioloop::event_loop", "{:?}: accept: {error}", own.token);
                    Ok(None)
                }
                AcceptFailure::Transient => {
                    self.core
                        .book(own.token)
                        .accept_failed(&error, false, Instant::now());
                    Ok(None)
                }
                AcceptFailure::Exhausted => {
                    self.core
                        .book(own.token)
                        .accept_failed(&error, true, Instant::now());
                    self.core.pause_exhausted(own.token, &mut own.phase);
                    Ok(None)
                }
                AcceptFailure::Other => Err(error),
            };
        }
        Ok(None)
    }

    /// Sets this listener's admission limits (see [`ListenerLimits`](crate::ListenerLimits)):
    /// from its own callback, `handle_opened` say, for a listener that decides its own.
    /// [`EventLoop::set_listener_limits`](crate::EventLoop::set_listener_limits) sets them
    /// from outside.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, ListenerLimits};
    ///
    /// struct Server;
    ///
    /// impl Dispatcher for Server {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.set_listener_limits(ListenerLimits {
    ///             max_connections: Some(1000),
    ///             max_per_ip: Some(10),
    ///             ..ListenerLimits::default()
    ///         })
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// assert_eq!(event_loop.len(), 1); // the listener kept its limits, and stays open
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if this channel is not an open listener (or in a loop-level context).
    pub fn set_listener_limits(&mut self, limits: crate::ListenerLimits) -> io::Result<()> {
        let Some(own) = self.own.as_deref_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an open listening channel",
            ));
        };
        self.core.set_listener_limits(own.token, limits, Some(own))
    }

    /// Warns once per channel (the first call gives the warning, later ones are silent):
    /// for defaults that keep a channel going but should be noticed.
    pub(crate) fn warn_once(&mut self, message: fmt::Arguments<'_>) {
        if let Some(own) = self.own.as_deref_mut() {
            if !own.warned {
                own.warned = true;
                report!(Warn, target: "ioloop::dispatcher", "{:?}: {message}", own.token);
            }
        }
    }

    /// Shuts down one or both directions of the connection (asyncore's
    /// `self.socket.shutdown(how)`).
    ///
    /// # Examples
    ///
    /// A reply, then end of file for the peer while this side stays open:
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::net::Shutdown;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct LastWord;
    ///
    /// impl Dispatcher for LastWord {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"bye")?;
    ///         cx.shutdown(Shutdown::Write) // the peer reads "bye", then end of file
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
    /// event_loop.spawn(conn, LastWord)?; // `client`: the peer
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "bye");
    /// assert_eq!(event_loop.len(), 1); // the channel is still open
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// OS errors; `Unsupported` for a plain descriptor.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        self.own()?.need_socket()?.shutdown(how)
    }

    /// The peer's address (IP sockets): asyncore's `self.addr` or `getpeername()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::SocketAddr;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher<Option<SocketAddr>> for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, Option<SocketAddr>>) -> io::Result<()> {
    ///         let peer = cx.peer_addr()?; // for a log line, or an access list
    ///         *cx.state() = Some(peer);
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
    /// let mut event_loop = EventLoop::with_state(None)?;
    /// # let (client, conn) = pair()?;
    /// event_loop.spawn(conn, Session)?; // `client`: the peer
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// assert_eq!(*event_loop.state(), Some(client.local_addr()?));
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotConnected` before the connection is up; `Unsupported` for non-IP sources.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        ip_addr(self.own()?.need_socket()?.peer_addr()?)
    }

    /// This end's address (IP sockets): asyncore's `self.socket.getsockname()`.
    ///
    /// # Examples
    ///
    /// A listener bound to port 0 learns which port it got:
    ///
    /// ```
    /// use std::io;
    /// use std::net::{SocketAddr, TcpListener};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Server;
    ///
    /// impl Dispatcher<Option<SocketAddr>> for Server {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, Option<SocketAddr>>) -> io::Result<()> {
    ///         let addr = cx.local_addr()?;
    ///         *cx.state() = Some(addr);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let bound = listener.local_addr()?;
    /// let mut event_loop = EventLoop::with_state(None)?;
    /// event_loop.spawn(listener, Server)?;
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// assert_eq!(*event_loop.state(), Some(bound));
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Unsupported` for non-IP sources.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        ip_addr(self.own()?.need_socket()?.local_addr()?)
    }

    /// The channel's socket, for options and calls this type does not wrap (`None` for a
    /// plain descriptor or a closed channel): asyncore's `self.socket`.
    ///
    /// # Examples
    ///
    /// Options set on an accepted connection (asyncore's `self.socket.setsockopt(…)`):
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher<bool> for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, bool>) -> io::Result<()> {
    ///         if let Some(socket) = cx.socket() {
    ///             socket.set_tcp_nodelay(true)?; // small replies go out at once
    ///             socket.set_keepalive(true)?;
    ///             let nodelay = socket.tcp_nodelay()?;
    ///             *cx.state() = nodelay;
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
    /// let mut event_loop = EventLoop::with_state(false)?;
    /// # let (_client, conn) = pair()?;
    /// event_loop.spawn(conn, Session)?;
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// assert!(*event_loop.state());
    /// # io::Result::Ok(())
    /// ```
    pub fn socket(&self) -> Option<&Socket> {
        self.own().ok()?.socket()
    }

    /// Closes this channel: it is unregistered, its socket closed, and no callback of it
    /// runs after the current one returns. Idempotent. asyncore's `self.close()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 512];
    ///         let n = cx.recv(&mut buf)?;
    ///         if buf[..n].starts_with(b"QUIT") {
    ///             cx.send(b"221 bye\r\n")?;
    ///             cx.close(); // no callback of this channel runs after this one
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
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Session)?; // `client`: the peer
    /// client.write_all(b"QUIT\r\n")?;
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?; // returns: the only channel closed
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?; // the reply, then end of file
    /// assert_eq!(reply, "221 bye\r\n");
    /// # io::Result::Ok(())
    /// ```
    pub fn close(&mut self) {
        if self.tls_active() {
            return self.tls_close(); // close_notify first, and the records rustls holds
        }
        if let Some(own) = self.own.as_deref_mut() {
            self.core.close_lent(own);
        }
    }

    /// Whether this channel is still open: a helper that may have closed it (on bad input,
    /// say) leaves its caller this to ask. `false` in a loop-level context.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Strict;
    ///
    /// impl Strict {
    ///     /// Closes the channel on anything but ASCII.
    ///     fn check(&mut self, cx: &mut Context<'_, Vec<bool>>, data: &[u8]) {
    ///         if !data.is_ascii() {
    ///             cx.close();
    ///         }
    ///     }
    /// }
    ///
    /// impl Dispatcher<Vec<bool>> for Strict {
    ///     fn handle_read(&mut self, cx: &mut Context<'_, Vec<bool>>) -> io::Result<()> {
    ///         let mut buf = [0; 512];
    ///         let n = cx.recv(&mut buf)?;
    ///         self.check(cx, &buf[..n]);
    ///         let open = cx.is_open();
    ///         cx.state().push(open);
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
    /// event_loop.spawn(conn, Strict)?; // `client`: the peer
    /// client.write_all(&[0xff])?;
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// assert_eq!(event_loop.state(), &[false]);
    /// # io::Result::Ok(())
    /// ```
    pub fn is_open(&self) -> bool {
        // A TLS channel closed while the socket takes its last records is closed for the
        // program already.
        self.own().is_ok()
            && !(self.tls_active()
                && self
                    .own
                    .as_ref()
                    .is_some_and(|own| own.phase == Phase::Lingering))
    }

    /// Whether this channel's [`connect`](Self::connect) is still in progress: asyncore's
    /// `self.connecting`. True in `handle_opened` of a connecting channel; false from
    /// `handle_connect` on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Client;
    ///
    /// impl Dispatcher<Vec<(bool, bool)>> for Client {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, Vec<(bool, bool)>>) -> io::Result<()> {
    ///         let seen = (cx.is_connecting(), cx.is_connected());
    ///         cx.state().push(seen);
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_connect(&mut self, cx: &mut Context<'_, Vec<(bool, bool)>>) -> io::Result<()> {
    ///         let seen = (cx.is_connecting(), cx.is_connected());
    ///         cx.state().push(seen);
    ///         cx.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let server = TcpListener::bind("127.0.0.1:0")?;
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// event_loop.connect(server.local_addr()?, Client)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(event_loop.state(), &[(true, false), (false, true)]);
    /// # io::Result::Ok(())
    /// ```
    pub fn is_connecting(&self) -> bool {
        self.own
            .as_ref()
            .is_some_and(|own| own.io.is_some() && own.phase == Phase::Connecting)
    }

    /// Whether this channel is a listener: asyncore's `self.accepting`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Any;
    ///
    /// impl Dispatcher<Vec<bool>> for Any {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, Vec<bool>>) -> io::Result<()> {
    ///         let accepting = cx.is_accepting();
    ///         cx.state().push(accepting);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// event_loop.spawn(listener, Any)?;
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// assert_eq!(event_loop.state(), &[true]);
    /// # io::Result::Ok(())
    /// ```
    pub fn is_accepting(&self) -> bool {
        self.own
            .as_ref()
            .is_some_and(|own| own.io.is_some() && own.phase.is_accepting())
    }

    /// Whether this channel is an open, established (not listening, not connecting) one:
    /// asyncore's `self.connected`.
    ///
    /// # Examples
    ///
    /// A reply only while the connection is up (see [`is_connecting`](Self::is_connecting)
    /// for a connecting channel):
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         if cx.is_connected() {
    ///             cx.send(b"hello")?;
    ///         }
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
    /// event_loop.spawn(conn, Session)?; // an accepted connection: connected from the start
    /// event_loop.run_count(1, Some(Duration::ZERO))?;
    /// let mut greeting = String::new();
    /// client.read_to_string(&mut greeting)?;
    /// assert_eq!(greeting, "hello");
    /// # io::Result::Ok(())
    /// ```
    pub fn is_connected(&self) -> bool {
        self.is_open() && !self.is_accepting() && !self.is_connecting()
    }

    /// Adds a channel for `io` (made non-blocking) driven by `dispatcher`: what an asyncore
    /// server's `handle_accepted` did with `Handler(sock)`. Its `handle_opened` runs after
    /// the current callback has returned, before the loop waits again.
    ///
    /// Spawned from a listener's callback, the channel counts against that listener's
    /// [`ListenerLimits`](crate::ListenerLimits) until it closes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::socket2::{SockAddr, Socket};
    /// use ioloop::{Context, Dispatcher, EventLoop, Token};
    ///
    /// struct Server;
    ///
    /// impl Dispatcher<Vec<Token>> for Server {
    ///     fn handle_accepted(&mut self, cx: &mut Context<'_, Vec<Token>>, socket: Socket, _: SockAddr) -> io::Result<()> {
    ///         let session = cx.spawn(socket, Session)?;
    ///         cx.state().push(session); // the sessions' tokens, to reach them later
    ///         cx.stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// struct Session;
    /// impl Dispatcher<Vec<Token>> for Session {}
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// event_loop.spawn(listener, Server)?;
    /// let _client = TcpStream::connect(addr)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(event_loop.state().len(), 1);
    /// assert_eq!(event_loop.len(), 2); // the listener and the session
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
        self.spawn_source(io.into(), dispatcher, super::tls::TlsSlot::default())
    }

    /// [`spawn`](Self::spawn) with the channel's TLS session.
    pub(super) fn spawn_source<D: Dispatcher<S>>(
        &mut self,
        io: IoSource,
        dispatcher: D,
        tls: super::tls::TlsSlot,
    ) -> io::Result<Token> {
        let token = self.core.spawn_with(io, dispatcher, false, tls)?;
        // A listener's connection counts against its limits.
        if let Some(own) = self.own.as_deref_mut() {
            if own.phase.is_accepting() {
                self.core.admit(token, own);
            }
        }
        Ok(token)
    }

    /// Starts a non-blocking TCP connection on a new channel driven by `dispatcher`, whose
    /// `handle_connect` runs once it is established (asyncore's `connect`).
    ///
    /// `addr` is anything [`ToSocketAddrs`] takes: a `SocketAddr`, `("example.com", 80)`,
    /// `"localhost:7000"`. A name is resolved here, and blocks while it is (as Python's
    /// `connect` did); each address it resolves to is tried in turn until one connects. If
    /// the last one fails, the channel's `handle_error` gets that error (and closes it by
    /// default).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Get;
    ///
    /// impl Dispatcher for Get {
    ///     fn handle_connect(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.connect("localhost:8080", Get)?; // ::1, then 127.0.0.1
    /// event_loop.run()?;
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// A name that does not resolve; the error of the last address if the OS refuses every
    /// one at once (an unreachable network, out of descriptors).
    pub fn connect<D: Dispatcher<S>>(
        &mut self,
        addr: impl ToSocketAddrs,
        dispatcher: D,
    ) -> io::Result<Token> {
        let addrs = addr.to_socket_addrs()?.collect();
        self.core.connect(addrs, dispatcher)
    }

    /// Starts a connection of a socket made by the caller (bound to a local address, options
    /// set, of any domain) to `addr`, on a new channel driven by `dispatcher` (see
    /// [`connect`](Self::connect)). The socket is made non-blocking.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use ioloop::socket2::{Domain, Socket, Type};
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Client;
    /// impl Dispatcher for Client {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    /// socket.bind(&"127.0.0.2:0".parse::<std::net::SocketAddr>().unwrap().into())?;
    /// socket.set_tcp_nodelay(true)?;
    /// let server: std::net::SocketAddr = "127.0.0.1:7000".parse().unwrap();
    /// event_loop.connect_socket(socket, &server.into(), Client)?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Errors the OS reports at once.
    pub fn connect_socket<D: Dispatcher<S>>(
        &mut self,
        socket: Socket,
        addr: &SockAddr,
        dispatcher: D,
    ) -> io::Result<Token> {
        self.core.connect_socket(socket, addr, dispatcher)
    }

    /// Starts a connection to the Unix-domain stream socket at `path` on a new channel (see
    /// [`connect`](Self::connect)).
    ///
    /// # Examples
    ///
    /// A front end that opens a connection to a local back end for each client it accepts:
    ///
    /// ```no_run
    /// # #[cfg(unix)]
    /// # fn main() -> std::io::Result<()> {
    /// use std::io;
    /// use std::net::TcpListener;
    /// use ioloop::socket2::{SockAddr, Socket};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Front;
    ///
    /// impl Dispatcher for Front {
    ///     fn handle_accepted(&mut self, cx: &mut Context<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
    ///         cx.spawn(socket, Client)?;
    ///         cx.connect_unix("/run/backend.sock", Backend)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// struct Client;
    /// impl Dispatcher for Client {}
    ///
    /// struct Backend;
    /// impl Dispatcher for Backend {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:8000")?, Front)?;
    /// event_loop.run()
    /// # }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    ///
    /// Errors the OS reports at once (no such socket, refused).
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn connect_unix<D: Dispatcher<S>>(
        &mut self,
        path: impl AsRef<std::path::Path>,
        dispatcher: D,
    ) -> io::Result<Token> {
        let socket = Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
        self.connect_socket(socket, &SockAddr::unix(path)?, dispatcher)
    }

    /// Another channel's dispatcher, if it is open, of type `D` and not the one running.
    /// Its `readable()`/`writable()` are asked again afterwards. Where asyncore code
    /// called another dispatcher object's methods, a callback reaches it by its [`Token`].
    ///
    /// # Examples
    ///
    /// A broadcast from a loop-level job to every session (a chat room would do the same
    /// from one session's `handle_read`):
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, Token};
    ///
    /// #[derive(Default)]
    /// struct Session {
    ///     out: Vec<u8>,
    /// }
    ///
    /// impl Dispatcher<Vec<Token>> for Session {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_, Vec<Token>>) -> io::Result<()> {
    ///         let n = cx.send(&self.out)?;
    ///         self.out.drain(..n);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// fn broadcast(cx: &mut Context<'_, Vec<Token>>, message: &[u8]) {
    ///     for token in cx.state().clone() {
    ///         if let Some(session) = cx.get_mut::<Session>(token) {
    ///             session.out.extend_from_slice(message); // it becomes writable
    ///         }
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
    /// let session = event_loop.spawn(conn, Session::default())?; // `client`: the peer
    /// event_loop.state_mut().push(session);
    /// event_loop.schedule(Duration::ZERO, |cx| broadcast(cx, b"tick\n"));
    /// event_loop.run_count(3, Some(Duration::from_millis(100)))?;
    /// let mut line = [0; 5];
    /// client.read_exact(&mut line)?;
    /// assert_eq!(&line, b"tick\n");
    /// # io::Result::Ok(())
    /// ```
    pub fn get_mut<D: Dispatcher<S>>(&mut self, token: Token) -> Option<&mut D> {
        self.core.get_mut(token) // the running channel is lent out: not found
    }

    /// Closes another channel (or this one). Returns whether it was open. Events of it later
    /// in the same batch are dropped.
    ///
    /// # Examples
    ///
    /// A server closed by a loop-level job (an admin command's channel could do the same):
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher<bool> for Server {}
    ///
    /// let mut event_loop = EventLoop::with_state(false)?;
    /// let server = event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// event_loop.schedule(Duration::ZERO, move |cx| {
    ///     let was_open = cx.close_channel(server);
    ///     *cx.state() = was_open;
    /// });
    /// event_loop.run()?; // returns: no channel is left
    /// assert!(*event_loop.state());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn close_channel(&mut self, token: Token) -> bool {
        if self.is_own(token) {
            let was_open = self.is_open();
            self.close();
            return was_open;
        }
        self.core.close(token)
    }

    /// Asks a channel's `readable()`/`writable()` again before the next wait: for a channel
    /// whose answers depend on state the loop cannot see (an `Rc<RefCell<_>>` shared with
    /// others, an atomic), after that state changed. asyncore asked every channel on every
    /// iteration; this loop asks only the channels that ran, were reached with
    /// [`get_mut`](Self::get_mut), or were refreshed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ioloop::{Context, Dispatcher, Token};
    ///
    /// /// Writes when a flag shared with other channels says so.
    /// struct Speaker {
    ///     turn: Rc<Cell<bool>>,
    /// }
    ///
    /// impl Dispatcher for Speaker {
    ///     fn writable(&self) -> bool {
    ///         self.turn.get()
    ///     }
    /// }
    ///
    /// fn give_the_floor(cx: &mut Context<'_>, turn: &Cell<bool>, speaker: Token) {
    ///     turn.set(true);
    ///     cx.refresh(speaker); // else the loop keeps the old answer of writable()
    /// }
    /// # let _ = (Speaker { turn: Rc::default() }, give_the_floor);
    /// ```
    pub fn refresh(&mut self, token: Token) {
        // The running channel is asked anyway when its callback returns.
        self.core.mark_dirty(token);
    }

    /// Calls this channel's `handle_timer` once `delay` has passed (never earlier).
    ///
    /// # Examples
    ///
    /// With [`reschedule`](Self::reschedule), the idle-timer pattern:
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, TimerId};
    ///
    /// const IDLE: Duration = Duration::from_secs(30);
    ///
    /// /// Closes a connection that stays quiet for 30 s.
    /// #[derive(Default)]
    /// struct Session {
    ///     idle: Option<TimerId>,
    /// }
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.idle = Some(cx.call_later(IDLE));
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.recv(&mut [0; 1024])?;
    ///         if let Some(idle) = self.idle {
    ///             cx.reschedule(idle, IDLE); // heard from the peer: 30 s from now
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_timer(&mut self, cx: &mut Context<'_>, _: TimerId) -> io::Result<()> {
    ///         cx.close();
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Session::default();
    /// ```
    pub fn call_later(&mut self, delay: Duration) -> TimerId {
        let token = self.token().unwrap_or(NO_CHANNEL);
        self.call_later_for(token, delay)
    }

    /// Calls `token`'s `handle_timer` once `delay` has passed. A timer of a channel closed
    /// meanwhile is dropped. For a timer of another channel; a channel's own is
    /// [`call_later`](Self::call_later).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::UdpSocket;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, TimerId};
    ///
    /// struct Poller;
    ///
    /// impl Dispatcher<u32> for Poller {
    ///     fn handle_timer(&mut self, cx: &mut Context<'_, u32>, _: TimerId) -> io::Result<()> {
    ///         *cx.state() += 1; // a real one would send a query
    ///         cx.stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// let poller = event_loop.spawn(UdpSocket::bind("127.0.0.1:0")?, Poller)?;
    /// event_loop.schedule(Duration::ZERO, move |cx| {
    ///     cx.call_later_for(poller, Duration::from_millis(1)); // the poller's handle_timer
    /// });
    /// event_loop.run()?;
    /// assert_eq!(*event_loop.state(), 1);
    /// # io::Result::Ok(())
    /// ```
    pub fn call_later_for(&mut self, token: Token, delay: Duration) -> TimerId {
        self.core
            .set_timer(delay, token, None, TimerAction::Dispatch)
    }

    /// Calls this channel's `handle_timer` every `interval` (at least 1 ms), the first time
    /// one interval from now, until [`cancel`](Self::cancel)led or the channel closes. A
    /// loop that falls behind gets one call, not a burst of catch-up calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, TimerId};
    ///
    /// /// Sends a keep-alive line every 10 s.
    /// struct KeepAlive;
    ///
    /// impl Dispatcher for KeepAlive {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.call_every(Duration::from_secs(10));
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_timer(&mut self, cx: &mut Context<'_>, _: TimerId) -> io::Result<()> {
    ///         cx.send(b"PING\r\n")?;
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = KeepAlive;
    /// ```
    pub fn call_every(&mut self, interval: Duration) -> TimerId {
        let token = self.token().unwrap_or(NO_CHANNEL);
        self.core
            .set_timer(interval, token, Some(interval), TimerAction::Dispatch)
    }

    /// Runs `job` once `delay` has passed, with a loop-level `Context` (no channel of its
    /// own: it reaches channels with [`get_mut`](Self::get_mut), spawns, stops the loop).
    /// A timer that belongs to the loop rather than to a channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// handle.call_soon_threadsafe(|cx| {
    ///     cx.schedule(Duration::from_millis(10), |cx| cx.stop());
    /// })?;
    /// event_loop.run_until_stopped()?; // returns once the timer ran
    /// # std::io::Result::Ok(())
    /// ```
    pub fn schedule(
        &mut self,
        delay: Duration,
        job: impl for<'b, 'c> FnOnce(&'b mut Context<'c, S>) + 'static,
    ) -> TimerId {
        let mut job = Some(job);
        let call = move |cx: &mut Context<'_, S>| {
            if let Some(job) = job.take() {
                job(cx);
            }
        };
        self.core.set_timer(
            delay,
            NO_CHANNEL,
            None,
            TimerAction::Call(Some(Box::new(call))),
        )
    }

    /// Runs `job` every `interval` (at least 1 ms), the first time one interval from now,
    /// until [`cancel`](Self::cancel)led, with a loop-level `Context`. A `job` that panics
    /// is logged and cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state(0u32)?;
    /// event_loop.schedule_every(Duration::from_millis(5), |cx| {
    ///     *cx.state() += 1; // a housekeeping tick
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
        self.core.set_timer(
            interval,
            NO_CHANNEL,
            Some(interval),
            TimerAction::Call(Some(Box::new(job))),
        )
    }

    /// Moves a timer (of any kind) to `delay` from now; a repeating one goes on every
    /// interval from there. `false` if it already fired (a one-shot one) or was cancelled.
    /// The idle-timer pattern is in [`call_later`](Self::call_later).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state(None)?;
    /// let deadline = event_loop.schedule(Duration::from_secs(3600), |cx| cx.stop());
    /// event_loop.schedule(Duration::ZERO, move |cx| {
    ///     let moved = cx.reschedule(deadline, Duration::ZERO); // now, not in an hour
    ///     *cx.state() = Some(moved);
    /// });
    /// event_loop.run_until_stopped()?;
    /// assert_eq!(*event_loop.state(), Some(true));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn reschedule(&mut self, timer: TimerId, delay: Duration) -> bool {
        self.core.reschedule_timer(timer, delay)
    }

    /// Cancels a timer (of any kind); `false` if it already fired (a one-shot one) or was
    /// cancelled.
    ///
    /// # Examples
    ///
    /// A login deadline, cancelled when the peer speaks in time:
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, TimerId};
    ///
    /// #[derive(Default)]
    /// struct Login {
    ///     deadline: Option<TimerId>,
    /// }
    ///
    /// impl Dispatcher<Option<bool>> for Login {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, Option<bool>>) -> io::Result<()> {
    ///         self.deadline = Some(cx.call_later(Duration::from_secs(30)));
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_read(&mut self, cx: &mut Context<'_, Option<bool>>) -> io::Result<()> {
    ///         cx.recv(&mut [0; 512])?;
    ///         if let Some(deadline) = self.deadline.take() {
    ///             let cancelled = cx.cancel(deadline); // logged in in time
    ///             *cx.state() = Some(cancelled);
    ///             cx.stop();
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_timer(&mut self, cx: &mut Context<'_, Option<bool>>, _: TimerId) -> io::Result<()> {
    ///         cx.close(); // too slow
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
    /// let mut event_loop = EventLoop::with_state(None)?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Login::default())?; // `client`: the peer
    /// client.write_all(b"USER guest\r\n")?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(*event_loop.state(), Some(true));
    /// # io::Result::Ok(())
    /// ```
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.core.cancel_timer(timer)
    }

    /// Makes [`EventLoop::run`](crate::EventLoop::run) return after this iteration
    /// (asyncore's `raise asyncore.ExitNow`). The channels stay open: a later `run` goes on
    /// with them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Admin;
    ///
    /// impl Dispatcher for Admin {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 64];
    ///         let n = cx.recv(&mut buf)?;
    ///         if buf[..n].starts_with(b"shutdown") {
    ///             cx.stop();
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
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Admin)?; // `client`: the peer
    /// client.write_all(b"shutdown\n")?;
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// assert_eq!(event_loop.len(), 1); // stopped, not emptied
    /// # io::Result::Ok(())
    /// ```
    pub fn stop(&mut self) {
        self.core.request_stop();
    }

    /// Shuts the loop down gracefully, with at most `grace` for the channels to finish: the
    /// one call for a server's orderly stop (on SIGTERM, an admin command, a test's end).
    /// Named so as not to be confused with [`shutdown`](Self::shutdown), which shuts down
    /// this channel's socket; the same call is [`EventLoop::shutdown`](crate::EventLoop::shutdown)
    /// between iterations and [`LoopHandle::shutdown`] from another thread.
    ///
    /// At the loop's next safe point (the start of its next iteration), every open channel is
    /// told, through [`Dispatcher::handle_shutdown`]: by default a listener closes (no new
    /// connection is accepted) and any other channel closes once its output has drained
    /// ([`close_when_drained`](Self::close_when_drained)); a chat channel sends the replies
    /// it has queued, then closes. A listener is closed after its `handle_shutdown`
    /// whatever that does, and a channel whose `handle_shutdown` fails or panics is closed
    /// (after `handle_error`). Channels opened during the shutdown (spawned, accepted,
    /// connected) are told as they open, so they cannot keep the loop alive.
    ///
    /// Once no channel is left, the shutdown is over and the loop stops: [`run`](crate::EventLoop::run)
    /// and [`run_until_stopped`](crate::EventLoop::run_until_stopped) return `Ok`. If
    /// channels are still open when `grace` has passed, the loop closes them (no callback
    /// runs; their dispatchers are dropped), logs how many at info level, and stops.
    ///
    /// A second call while a shutdown is under way can only bring its end nearer (a shorter
    /// grace), never push it back. With no channel open, this is [`stop`](Self::stop).
    ///
    /// # Examples
    ///
    /// A server that shuts down on a client's command; the replies already queued still go
    /// out:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Admin;
    ///
    /// impl Dispatcher for Admin {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 64];
    ///         let n = cx.recv(&mut buf)?;
    ///         if buf[..n].starts_with(b"shutdown") {
    ///             cx.send(b"bye\n")?;
    ///             cx.shutdown_loop(Duration::from_secs(5));
    ///             assert!(cx.is_shutting_down());
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
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Admin)?; // `client`: the peer
    /// client.write_all(b"shutdown\n")?;
    /// event_loop.run()?; // returns once the channel has closed
    /// assert!(event_loop.is_empty());
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?; // the reply, then end of file
    /// assert_eq!(reply, "bye\n");
    /// # io::Result::Ok(())
    /// ```
    pub fn shutdown_loop(&mut self, grace: Duration) {
        self.core.begin_shutdown(grace);
    }

    /// Whether a graceful shutdown ([`shutdown_loop`](Self::shutdown_loop)) is under way:
    /// a handler can refuse new work, or answer it with a "going away" reply.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ioloop::EventLoop;
    ///
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// event_loop.schedule(Duration::ZERO, |cx| {
    ///     let before = cx.is_shutting_down();
    ///     cx.state().push(before);
    ///     cx.shutdown_loop(Duration::from_secs(1)); // no channel: the loop just stops
    /// });
    /// event_loop.run_until_stopped()?;
    /// assert_eq!(event_loop.state(), &[false]);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.core.is_shutting_down()
    }

    /// Closes this channel once its output has drained: from now on the loop no longer reads
    /// from it, and closes it the first time its [`writable()`](Dispatcher::writable)
    /// answers false (at once if it already does) after its callbacks ran. The raw
    /// dispatcher's analogue of asynchat's `close_when_done`, and what the default
    /// [`Dispatcher::handle_shutdown`] does. No-op in a loop-level context.
    ///
    /// The dispatcher's `writable()` must answer false once everything is sent (as with a
    /// [`SendBuffer`](crate::SendBuffer)); a channel whose `writable()` stays true is never
    /// closed by this.
    ///
    /// # Examples
    ///
    /// A last reply too large for the socket to take at once, sent in full before the close:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use ioloop::{Context, Dispatcher, EventLoop, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Goodbye {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Goodbye {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    ///
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         if cx.recv(&mut [0; 64])? > 0 {
    ///             self.out.send(cx, &vec![b'.'; 4 << 20])?; // most of it waits in `out`
    ///             cx.close_when_drained();
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.flush(cx)
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
    /// event_loop.spawn(conn, Goodbye::default())?; // `client`: the peer
    /// client.write_all(b"bye\n")?;
    /// let reader = std::thread::spawn(move || {
    ///     let mut reply = Vec::new();
    ///     client.read_to_end(&mut reply).map(|_| reply.len()) // all of it, then end of file
    /// });
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?; // returns once the channel has closed
    /// assert_eq!(reader.join().unwrap()?, 4 << 20);
    /// # io::Result::Ok(())
    /// ```
    pub fn close_when_drained(&mut self) {
        if let Some(own) = self.own.as_deref_mut() {
            own.close_when_drained = true;
        }
    }

    /// The end of a shutdown's grace period: its timer's closure.
    pub(crate) fn end_grace(&mut self) {
        self.core.end_grace();
    }

    /// A handle for other threads: to hand slow work to a thread and get the answer back
    /// on the loop's thread with [`LoopHandle::call_soon_threadsafe`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Server;
    ///
    /// impl Dispatcher<u64> for Server {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_, u64>) -> io::Result<()> {
    ///         let handle = cx.handle();
    ///         std::thread::spawn(move || {
    ///             let answer: u64 = (1..=10).product(); // slow work, off the loop's thread
    ///             handle.call_soon_threadsafe(move |cx| {
    ///                 *cx.state() = answer;
    ///                 cx.stop();
    ///             })
    ///         });
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// event_loop.run()?;
    /// assert_eq!(*event_loop.state(), 3_628_800);
    /// # io::Result::Ok(())
    /// ```
    pub fn handle(&self) -> LoopHandle<S> {
        LoopHandle {
            shared: self.core.shared().clone(),
        }
    }

    /// How many channels the loop has (asyncore's `len(asyncore.socket_map)`), this one
    /// and listeners included.
    ///
    /// # Examples
    ///
    /// A server that turns clients away past a limit:
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::socket2::{SockAddr, Socket};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// const MAX_CHANNELS: usize = 2; // the listener and one session
    ///
    /// struct Server;
    ///
    /// impl Dispatcher<u32> for Server {
    ///     fn handle_accepted(&mut self, cx: &mut Context<'_, u32>, socket: Socket, _: SockAddr) -> io::Result<()> {
    ///         if cx.channel_count() < MAX_CHANNELS {
    ///             cx.spawn(socket, Session)?;
    ///         } // else dropping `socket` closes it
    ///         *cx.state() += 1;
    ///         if *cx.state() == 2 {
    ///             cx.stop();
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// struct Session;
    /// impl Dispatcher<u32> for Session {}
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::with_state(0)?;
    /// event_loop.spawn(listener, Server)?;
    /// let _first = TcpStream::connect(addr)?;
    /// let mut second = TcpStream::connect(addr)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert_eq!(event_loop.len(), 2);
    /// # second.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// assert_eq!(second.read(&mut [0; 16])?, 0); // turned away: end of file
    /// # io::Result::Ok(())
    /// ```
    pub fn channel_count(&self) -> usize {
        self.core.len()
    }
}

impl<S> fmt::Debug for Context<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("token", &self.own.as_ref().map(|own| own.token))
            .finish_non_exhaustive()
    }
}

/// A channel's name in a log line: its token, or `loop` for a loop-level context.
pub(crate) struct Label(Option<Token>);

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(token) => token.fmt(f),
            None => f.write_str("loop"),
        }
    }
}

/// The error of I/O on a closed channel (or in a context that has none).
#[cold]
fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the channel is closed (or this context has none)",
    )
}

/// `buf` as the `MaybeUninit` slice `socket2`'s receive calls take.
pub(super) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the socket calls this feeds only
    // write initialised bytes, so `buf` stays fully initialised.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

fn ip_addr(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "not an IP socket"))
}
