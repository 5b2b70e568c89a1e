//! [`IoSource`]: what a channel owns — a socket of any kind, or (on Unix) any descriptor such
//! as a pipe or a tty (asyncore's `file_dispatcher`).

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream, UdpSocket};

use socket2::{SockAddr, Socket};

use crate::selector::{BorrowedSource, RawSource, Source};

/// An owned socket or descriptor that an [`EventLoop`](crate::EventLoop) channel reads and
/// writes. Build one with `From`: TCP listeners and streams, UDP sockets, `socket2::Socket`,
/// and on Unix `UnixStream`, `UnixListener`, `UnixDatagram` and any `OwnedFd` (a pipe end, a
/// tty: the loop reads and writes it with `read(2)`/`write(2)`).
///
/// Listeners become accepting channels (their read events go to `handle_accept`):
/// `TcpListener` and `UnixListener` by type, and a `socket2::Socket` made to listen by hand
/// (asyncore's `create_socket(); bind(); listen()`) by asking the OS (`SO_ACCEPTCONN`).
/// macOS and iOS do not answer that question: there, pass such a socket through
/// [`IoSource::listener`] (or convert it to a `TcpListener` first).
///
/// The loop sets every source non-blocking when it is spawned.
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
    /// A listening `socket2::Socket` (its read events go to `handle_accept`).
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
    pub fn is_listener(&self) -> bool {
        self.listening
    }

    /// The socket, unless this is a plain descriptor.
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

impl From<Socket> for IoSource {
    /// A socket of any kind; a listening one (see [`IoSource`]) becomes an accepting
    /// channel.
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

impl From<TcpListener> for IoSource {
    fn from(listener: TcpListener) -> IoSource {
        IoSource::listener(Socket::from(listener))
    }
}

impl From<TcpStream> for IoSource {
    fn from(stream: TcpStream) -> IoSource {
        IoSource::connection(Socket::from(stream))
    }
}

impl From<UdpSocket> for IoSource {
    fn from(socket: UdpSocket) -> IoSource {
        IoSource::connection(Socket::from(socket))
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixStream> for IoSource {
    fn from(stream: std::os::unix::net::UnixStream) -> IoSource {
        IoSource::connection(Socket::from(std::os::fd::OwnedFd::from(stream)))
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixListener> for IoSource {
    fn from(listener: std::os::unix::net::UnixListener) -> IoSource {
        IoSource::listener(Socket::from(std::os::fd::OwnedFd::from(listener)))
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixDatagram> for IoSource {
    fn from(socket: std::os::unix::net::UnixDatagram) -> IoSource {
        IoSource::connection(Socket::from(std::os::fd::OwnedFd::from(socket)))
    }
}

/// Any descriptor (a pipe end, a tty, a character device), read and written with
/// `read(2)`/`write(2)`: asyncore's `file_dispatcher`. Regular files are refused by epoll
/// (`PermissionDenied` at spawn) and always ready under poll and select.
#[cfg(unix)]
impl From<std::os::fd::OwnedFd> for IoSource {
    fn from(fd: std::os::fd::OwnedFd) -> IoSource {
        IoSource {
            inner: Inner::Fd(std::fs::File::from(fd)),
            listening: false,
        }
    }
}
