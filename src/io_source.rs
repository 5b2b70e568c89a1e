//! [`IoSource`]: what a channel owns — a socket of any kind, or (on Unix) any descriptor such
//! as a pipe or a tty (asyncore's `file_dispatcher`).

use std::fmt;
use std::io;
#[cfg(unix)]
use std::io::Write;
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream, UdpSocket};

use socket2::{SockAddr, Socket};

use crate::selector::{BorrowedSource, RawSource, Source};

/// An owned socket or descriptor that an [`EventLoop`](crate::EventLoop) channel reads and
/// writes. Build one with `From`: TCP listeners and streams, UDP sockets, `socket2::Socket`,
/// and on Unix `UnixStream`, `UnixListener`, `UnixDatagram` and any `OwnedFd` (a pipe end, a
/// tty: the loop reads and writes it with `read(2)`/`write(2)`).
///
/// Listeners are listeners by type: `TcpListener` and `UnixListener` become accepting
/// channels; a `socket2::Socket` that is already listening should be passed through
/// [`IoSource::listener`].
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
    pub(crate) fn read(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        match &self.inner {
            Inner::Socket(socket) => socket.recv(buf),
            #[cfg(unix)]
            Inner::Fd(file) => {
                let (filled, _) = rustix::io::read(file, buf)?;
                Ok(filled.len())
            }
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            Inner::Socket(socket) => socket.send(buf),
            #[cfg(unix)]
            Inner::Fd(file) => {
                let mut file = file;
                file.write(buf)
            }
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
    fn from(socket: Socket) -> IoSource {
        IoSource {
            inner: Inner::Socket(socket),
            listening: false,
        }
    }
}

impl From<TcpListener> for IoSource {
    fn from(listener: TcpListener) -> IoSource {
        IoSource::listener(Socket::from(listener))
    }
}

impl From<TcpStream> for IoSource {
    fn from(stream: TcpStream) -> IoSource {
        IoSource::from(Socket::from(stream))
    }
}

impl From<UdpSocket> for IoSource {
    fn from(socket: UdpSocket) -> IoSource {
        IoSource::from(Socket::from(socket))
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixStream> for IoSource {
    fn from(stream: std::os::unix::net::UnixStream) -> IoSource {
        IoSource::from(Socket::from(std::os::fd::OwnedFd::from(stream)))
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
        IoSource::from(Socket::from(std::os::fd::OwnedFd::from(socket)))
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
