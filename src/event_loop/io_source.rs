//! [`IoSource`], what a channel owns (its user docs are on the type).

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream, UdpSocket};

use socket2::{SockAddr, Socket};

use crate::selector::{BorrowedSource, RawSource, Source};

/// What a channel owns: a socket of any kind, or (on Unix) any descriptor such as a pipe or
/// a tty (asyncore's `file_dispatcher`), which an [`EventLoop`](crate::EventLoop) channel
/// reads and writes. Build one with `From`: TCP listeners and streams, UDP sockets,
/// `socket2::Socket`, and on Unix `UnixStream`, `UnixListener`, `UnixDatagram` and any
/// `OwnedFd` (a pipe end, a tty: the loop reads and writes it with `read(2)`/`write(2)`).
/// [`EventLoop::spawn`](crate::EventLoop::spawn) and [`Context::spawn`](crate::Context::spawn)
/// take anything that converts, so a program seldom names this type.
///
/// Listeners become accepting channels (their read events go to `handle_accept`):
/// `TcpListener` and `UnixListener` by type, and a `socket2::Socket` made to listen by hand
/// (asyncore's `create_socket(); bind(); listen()`) by asking the OS (`SO_ACCEPTCONN`).
/// macOS and iOS do not answer that question: there, pass such a socket through
/// [`IoSource::listener`] (or convert it to a `TcpListener` first).
///
/// The loop sets every source non-blocking when it is spawned.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, UdpSocket};
/// use ioloop::IoSource;
///
/// let listener = IoSource::from(TcpListener::bind("127.0.0.1:0")?);
/// assert!(listener.is_listener()); // its channel's read events go to handle_accept
///
/// let udp = IoSource::from(UdpSocket::bind("127.0.0.1:0")?);
/// assert!(!udp.is_listener());
/// # std::io::Result::Ok(())
/// ```
pub struct IoSource {
    inner: Inner,
    listening: bool,
}

enum Inner {
    Socket(Socket),
    #[cfg(unix)]
    Fd(std::fs::File),
}

impl IoSource {
    /// A listening `socket2::Socket` (its read events go to `handle_accept`), without asking
    /// the OS: needed on macOS and iOS for a socket made to listen by hand.
    ///
    /// # Examples
    ///
    /// asyncore's `create_socket(); set_reuse_addr(); bind(addr); listen(5)`:
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ioloop::IoSource;
    /// use ioloop::socket2::{Domain, Socket, Type};
    ///
    /// let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    /// let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    /// socket.set_reuse_address(true)?;
    /// socket.bind(&addr.into())?;
    /// socket.listen(5)?;
    /// let source = IoSource::listener(socket);
    /// assert!(source.is_listener());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn listener(socket: Socket) -> IoSource {
        IoSource {
            inner: Inner::Socket(socket),
            listening: true,
        }
    }

    /// A socket known not to listen (no question to the OS).
    pub(crate) fn connection(socket: Socket) -> IoSource {
        IoSource {
            inner: Inner::Socket(socket),
            listening: false,
        }
    }

    /// Whether this is a listening socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use ioloop::IoSource;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(IoSource::from(listener).is_listener());
    /// assert!(!IoSource::from(stream).is_listener());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn is_listener(&self) -> bool {
        self.listening
    }

    /// The socket, unless this is a plain descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use ioloop::IoSource;
    ///
    /// let udp = UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = udp.local_addr()?;
    /// let source = IoSource::from(udp);
    /// let socket = source.socket().expect("a socket, not a plain descriptor");
    /// assert_eq!(socket.local_addr()?.as_socket(), Some(addr));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn socket(&self) -> Option<&Socket> {
        match &self.inner {
            Inner::Socket(socket) => Some(socket),
            #[cfg(unix)]
            Inner::Fd(_) => None,
        }
    }

    pub(crate) fn raw(&self) -> RawSource {
        match &self.inner {
            Inner::Socket(socket) => socket.raw_source(),
            #[cfg(unix)]
            Inner::Fd(file) => file.raw_source(),
        }
    }

    pub(crate) fn borrow(&self) -> BorrowedSource<'_> {
        match &self.inner {
            Inner::Socket(socket) => socket.as_source(),
            #[cfg(unix)]
            Inner::Fd(file) => file.as_source(),
        }
    }

    pub(crate) fn set_nonblocking(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Socket(socket) => socket.set_nonblocking(true),
            #[cfg(unix)]
            Inner::Fd(file) => {
                use std::os::fd::AsFd;
                let flags = rustix::fs::fcntl_getfl(file.as_fd())?;
                rustix::fs::fcntl_setfl(file.as_fd(), flags | rustix::fs::OFlags::NONBLOCK)?;
                Ok(())
            }
        }
    }

    /// Reads into memory that need not be initialised, so callers can read straight into a
    /// `Vec`'s spare capacity instead of zeroing a buffer first.
    ///
    /// On Linux and Android sockets are read with rustix's `recv`, a system call with no C
    /// library wrapper around it (and none of its cancellation-point bookkeeping): the
    /// cheapest read there is.
    #[inline]
    pub(crate) fn read(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        match &self.inner {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Inner::Socket(socket) => {
                let ((filled, _), _) =
                    rustix::net::recv(socket, buf, rustix::net::RecvFlags::empty())?;
                Ok(filled.len())
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Inner::Socket(socket) => socket.recv(buf),
            #[cfg(unix)]
            Inner::Fd(file) => {
                let (filled, _) = rustix::io::read(file, buf)?;
                Ok(filled.len())
            }
        }
    }

    /// Writes from `buf`. On Linux and Android sockets are written with rustix's `send`
    /// (as [`read`](Self::read) says), with `MSG_NOSIGNAL` as `socket2` does: a peer that went
    /// away gives `EPIPE`, never `SIGPIPE`.
    #[inline]
    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Inner::Socket(socket) => Ok(rustix::net::send(
                socket,
                buf,
                rustix::net::SendFlags::NOSIGNAL,
            )?),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Inner::Socket(socket) => socket.send(buf),
            #[cfg(unix)]
            Inner::Fd(file) => Ok(rustix::io::write(file, buf)?),
        }
    }

    /// Writes from `bufs`, in order, in one system call: `sendmsg` with `MSG_NOSIGNAL` on
    /// Linux and Android (through rustix, as [`write`](Self::write)), socket2's
    /// `send_vectored` elsewhere (`sendmsg`; `WSASend` on Windows), `writev` for a plain
    /// descriptor.
    #[inline]
    pub(crate) fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match &self.inner {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Inner::Socket(socket) => Ok(rustix::net::sendmsg(
                socket,
                bufs,
                &mut rustix::net::SendAncillaryBuffer::default(),
                rustix::net::SendFlags::NOSIGNAL,
            )?),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Inner::Socket(socket) => socket.send_vectored(bufs),
            #[cfg(unix)]
            Inner::Fd(file) => Ok(rustix::io::writev(file, bufs)?),
        }
    }

    pub(crate) fn need_socket(&self) -> io::Result<&Socket> {
        self.socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "not a socket (a plain descriptor)",
            )
        })
    }

    pub(crate) fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        self.need_socket()?.accept()
    }
}

impl fmt::Debug for IoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("IoSource");
        out.field("raw", &self.raw())
            .field("listening", &self.listening);
        if let Some(socket) = self.socket() {
            if let Ok(addr) = socket.local_addr() {
                out.field("local", &addr.as_socket());
            }
        }
        out.finish()
    }
}

/// A socket of any kind; a listening one (see [`IoSource`]) becomes an accepting channel.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use ioloop::IoSource;
/// use ioloop::socket2::{Domain, Socket, Type};
///
/// let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
/// let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
/// socket.bind(&addr.into())?;
/// socket.listen(128)?;
/// let source = IoSource::from(socket);
/// if !cfg!(target_vendor = "apple") {
///     assert!(source.is_listener()); // found out; on Apple's systems use IoSource::listener
/// }
/// # std::io::Result::Ok(())
/// ```
impl From<Socket> for IoSource {
    fn from(socket: Socket) -> IoSource {
        IoSource {
            listening: is_listening(&socket),
            inner: Inner::Socket(socket),
        }
    }
}

/// Whether the OS says `socket` is listening (`SO_ACCEPTCONN`); `false` where it cannot say
/// (Apple's systems declare the option but do not implement it).
#[cfg(all(
    unix,
    not(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "tvos",
        target_os = "watchos",
        target_os = "visionos"
    ))
))]
fn is_listening(socket: &Socket) -> bool {
    rustix::net::sockopt::socket_acceptconn(socket).unwrap_or(false)
}

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos"
))]
fn is_listening(_: &Socket) -> bool {
    false
}

#[cfg(windows)]
fn is_listening(socket: &Socket) -> bool {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{SO_ACCEPTCONN, SOL_SOCKET, getsockopt};
    let mut value: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as i32;
    // SAFETY: the socket is open (borrowed for the call); `value` and `len` are valid for
    // writes of the size `len` states, which is what getsockopt writes at most.
    let status = unsafe {
        getsockopt(
            socket.as_raw_socket() as _,
            SOL_SOCKET,
            SO_ACCEPTCONN,
            (&mut value as *mut u32).cast(),
            &mut len,
        )
    };
    status == 0 && value != 0
}

/// A listener: its channel's read events go to `handle_accept`.
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
/// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?; // converted by `spawn`
/// # std::io::Result::Ok(())
/// ```
impl From<TcpListener> for IoSource {
    fn from(listener: TcpListener) -> IoSource {
        IoSource::listener(Socket::from(listener))
    }
}

/// A connection: one accepted by a listener the loop does not own, or connected with a
/// blocking `TcpStream::connect` before the loop takes over.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use ioloop::{Dispatcher, EventLoop};
///
/// struct Session;
/// impl Dispatcher for Session {}
///
/// let server = TcpListener::bind("127.0.0.1:0")?;
/// let stream = TcpStream::connect(server.local_addr()?)?; // connected already
/// let mut event_loop = EventLoop::new()?;
/// event_loop.spawn(stream, Session)?; // made non-blocking
/// # std::io::Result::Ok(())
/// ```
impl From<TcpStream> for IoSource {
    fn from(stream: TcpStream) -> IoSource {
        IoSource::connection(Socket::from(stream))
    }
}

/// A datagram socket: read it with [`Context::recv_from`](crate::Context::recv_from),
/// write with [`Context::send_to`](crate::Context::send_to) (or `recv`/`send` once
/// connected).
///
/// # Examples
///
/// ```
/// use std::net::UdpSocket;
/// use ioloop::{Dispatcher, EventLoop};
///
/// struct Listener;
/// impl Dispatcher for Listener {}
///
/// let mut event_loop = EventLoop::new()?;
/// event_loop.spawn(UdpSocket::bind("127.0.0.1:0")?, Listener)?;
/// # std::io::Result::Ok(())
/// ```
impl From<UdpSocket> for IoSource {
    fn from(socket: UdpSocket) -> IoSource {
        IoSource::connection(Socket::from(socket))
    }
}

/// A Unix-domain stream connection.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)]
/// # fn main() -> std::io::Result<()> {
/// use std::os::unix::net::UnixStream;
/// use ioloop::IoSource;
///
/// let (a, _b) = UnixStream::pair()?;
/// let source = IoSource::from(a);
/// assert!(!source.is_listener());
/// assert!(source.socket().is_some());
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl From<std::os::unix::net::UnixStream> for IoSource {
    fn from(stream: std::os::unix::net::UnixStream) -> IoSource {
        IoSource::connection(Socket::from(std::os::fd::OwnedFd::from(stream)))
    }
}

/// A Unix-domain listener: its channel's read events go to `handle_accept`.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)]
/// # fn main() -> std::io::Result<()> {
/// use std::os::unix::net::UnixListener;
/// use ioloop::IoSource;
///
/// let path = std::env::temp_dir().join(format!("ioloop-doc-listener-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let source = IoSource::from(UnixListener::bind(&path)?);
/// assert!(source.is_listener());
/// std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl From<std::os::unix::net::UnixListener> for IoSource {
    fn from(listener: std::os::unix::net::UnixListener) -> IoSource {
        IoSource::listener(Socket::from(std::os::fd::OwnedFd::from(listener)))
    }
}

/// A Unix-domain datagram socket.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)]
/// # fn main() -> std::io::Result<()> {
/// use std::os::unix::net::UnixDatagram;
/// use ioloop::IoSource;
///
/// let (a, _b) = UnixDatagram::pair()?;
/// assert!(!IoSource::from(a).is_listener());
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl From<std::os::unix::net::UnixDatagram> for IoSource {
    fn from(socket: std::os::unix::net::UnixDatagram) -> IoSource {
        IoSource::connection(Socket::from(std::os::fd::OwnedFd::from(socket)))
    }
}

/// Any descriptor (a pipe end, a tty, a character device), read and written with
/// `read(2)`/`write(2)`: asyncore's `file_dispatcher`. Regular files are refused by epoll
/// (`PermissionDenied` at spawn) and always ready under poll and select.
///
/// # Examples
///
/// A child process's output read by the loop:
///
/// ```
/// # #[cfg(unix)]
/// # fn main() -> std::io::Result<()> {
/// use std::io;
/// use std::os::fd::OwnedFd;
/// use std::process::{Command, Stdio};
/// use ioloop::{Context, Dispatcher, EventLoop};
///
/// struct Output;
///
/// impl Dispatcher<Vec<u8>> for Output {
///     fn handle_read(&mut self, cx: &mut Context<'_, Vec<u8>>) -> io::Result<()> {
///         let mut buf = [0; 4096];
///         let n = cx.recv(&mut buf)?; // read(2) on the pipe; 0 once the child is done
///         cx.state().extend_from_slice(&buf[..n]);
///         Ok(())
///     }
/// }
///
/// let mut child = Command::new("echo").arg("hello").stdout(Stdio::piped()).spawn()?;
/// let pipe = OwnedFd::from(child.stdout.take().expect("piped"));
/// let mut event_loop = EventLoop::with_state(Vec::new())?;
/// event_loop.spawn(pipe, Output)?;
/// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
/// event_loop.run()?; // until the end of the child's output
/// child.wait()?;
/// assert_eq!(event_loop.state(), b"hello\n");
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl From<std::os::fd::OwnedFd> for IoSource {
    fn from(fd: std::os::fd::OwnedFd) -> IoSource {
        IoSource {
            inner: Inner::Fd(std::fs::File::from(fd)),
            listening: false,
        }
    }
}
