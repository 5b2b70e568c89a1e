//! What can be registered: raw descriptors (Unix) and raw sockets (Windows), their borrowed
//! form, and the [`Source`] trait that names them for safe owners such as
//! [`SelectorMap`](super::SelectorMap).

#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
#[cfg(windows)]
use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket};

/// A raw source as the OS names it: a file descriptor on Unix (a `RawSocket` under the same
/// name on Windows). Python's `fileno()`.
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use std::os::fd::AsRawFd;
/// use ioloop::selector::{RawSource, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let raw: RawSource = listener.raw_source(); // Python: sock.fileno()
/// assert_eq!(raw, listener.as_raw_fd());
/// # std::io::Result::Ok(())
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type RawSource = std::os::fd::RawFd;

/// A raw source as the OS names it: a `SOCKET` on Windows (a `RawFd` under the same name on
/// Unix). Python's `fileno()`.
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use std::os::windows::io::AsRawSocket;
/// use ioloop::selector::{RawSource, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let raw: RawSource = listener.raw_source(); // Python: sock.fileno()
/// assert_eq!(raw, listener.as_raw_socket());
/// # std::io::Result::Ok(())
/// ```
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub type RawSource = std::os::windows::io::RawSocket;

/// A source borrowed for the length of a call: a [`BorrowedFd`] on Unix (a
/// `BorrowedSocket` under the same name on Windows).
///
/// [`Selector::modify`](super::Selector::modify) and
/// [`Selector::unregister`](super::Selector::unregister) take one, so the borrow checker,
/// not an `unsafe` block, proves the source is open while they use it. Get one with
/// [`Source::as_source`] (or `as_fd()`).
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use ioloop::selector::{BorrowedSource, DefaultSelector, Interest, Selector, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut selector = DefaultSelector::new()?;
/// // SAFETY: `listener` stays open until it is unregistered below.
/// unsafe { selector.register(listener.raw_source(), 0, Interest::READ)? };
/// let borrowed: BorrowedSource<'_> = listener.as_source();
/// selector.modify(borrowed, 0, Interest::NONE)?;
/// selector.unregister(listener.as_source())?;
/// # std::io::Result::Ok(())
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type BorrowedSource<'a> = BorrowedFd<'a>;

/// A source borrowed for the length of a call: a [`BorrowedSocket`] on Windows (a
/// `BorrowedFd` under the same name on Unix).
///
/// [`Selector::modify`](super::Selector::modify) and
/// [`Selector::unregister`](super::Selector::unregister) take one, so the borrow checker,
/// not an `unsafe` block, proves the source is open while they use it. Get one with
/// [`Source::as_source`] (or `as_socket()`).
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use ioloop::selector::{BorrowedSource, DefaultSelector, Interest, Selector, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut selector = DefaultSelector::new()?;
/// // SAFETY: `listener` stays open until it is unregistered below.
/// unsafe { selector.register(listener.raw_source(), 0, Interest::READ)? };
/// let borrowed: BorrowedSource<'_> = listener.as_source();
/// selector.modify(borrowed, 0, Interest::NONE)?;
/// selector.unregister(listener.as_source())?;
/// # std::io::Result::Ok(())
/// ```
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub type BorrowedSource<'a> = BorrowedSocket<'a>;

/// Anything that owns or borrows a selectable OS object: `AsFd` on Unix (sockets, pipes,
/// ttys), `AsSocket` on Windows (sockets only: Winsock selects nothing else). Python's
/// "file object": anything with a `fileno()`.
///
/// Implemented for every such type; there is nothing to implement.
///
/// # Examples
///
/// ```
/// use std::net::UdpSocket;
/// use std::os::unix::net::UnixStream;
/// use ioloop::selector::{Interest, SelectorMap, Source};
///
/// /// Python: `f.fileno()` of any file object.
/// fn describe(source: &impl Source) -> String {
///     format!("source {}", source.raw_source())
/// }
///
/// let socket = UdpSocket::bind("127.0.0.1:0")?;
/// let (pipe_end, _other_end) = UnixStream::pair()?;
/// println!("{} and {}", describe(&socket), describe(&pipe_end));
/// let mut map = SelectorMap::new()?;
/// map.register(pipe_end, Interest::READ, "pipe")?;
/// # std::io::Result::Ok(())
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub trait Source: AsFd {
    /// The raw descriptor, for [`Selector::register`](super::Selector::register).
    fn raw_source(&self) -> RawSource {
        self.as_fd().as_raw_fd()
    }

    /// The descriptor borrowed, for [`Selector::modify`](super::Selector::modify) and
    /// [`Selector::unregister`](super::Selector::unregister).
    fn as_source(&self) -> BorrowedSource<'_> {
        self.as_fd()
    }
}

#[cfg(unix)]
impl<T: AsFd + ?Sized> Source for T {}

/// Anything that owns or borrows a selectable OS object: `AsFd` on Unix (sockets, pipes,
/// ttys), `AsSocket` on Windows (sockets only: Winsock selects nothing else). Python's
/// "file object": anything with a `fileno()`.
///
/// Implemented for every such type; there is nothing to implement.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, UdpSocket};
/// use ioloop::selector::{Interest, SelectorMap, Source};
///
/// /// Python: `f.fileno()` of any file object.
/// fn describe(source: &impl Source) -> String {
///     format!("source {}", source.raw_source())
/// }
///
/// let socket = UdpSocket::bind("127.0.0.1:0")?;
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// println!("{} and {}", describe(&socket), describe(&listener));
/// let mut map = SelectorMap::new()?;
/// map.register(listener, Interest::READ, "listener")?;
/// # std::io::Result::Ok(())
/// ```
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub trait Source: AsSocket {
    /// The raw socket, for [`Selector::register`](super::Selector::register).
    fn raw_source(&self) -> RawSource {
        self.as_socket().as_raw_socket()
    }

    /// The socket borrowed, for [`Selector::modify`](super::Selector::modify) and
    /// [`Selector::unregister`](super::Selector::unregister).
    fn as_source(&self) -> BorrowedSource<'_> {
        self.as_socket()
    }
}

#[cfg(windows)]
impl<T: AsSocket + ?Sized> Source for T {}

/// Borrows a raw descriptor for the length of one wait or system call.
///
/// # Safety
///
/// `source` must be open until the borrow ends: a registered source is, by
/// [`Selector::register`](super::Selector::register)'s contract, and so is a number the
/// caller owns. The kernel validates the number anyway (a closed one gives `EBADF`). Callers
/// must not keep the borrow past the call it is made for.
#[cfg(unix)]
pub(crate) unsafe fn borrow_raw<'a>(source: RawSource) -> BorrowedSource<'a> {
    // SAFETY: this function's contract is `BorrowedFd::borrow_raw`'s: open for the borrow.
    unsafe { BorrowedFd::borrow_raw(source) }
}

/// Borrows a raw socket for the length of one wait or system call.
///
/// # Safety
///
/// As on Unix: `source` is open until the borrow ends, which is not kept past the call.
#[cfg(windows)]
pub(crate) unsafe fn borrow_raw<'a>(source: RawSource) -> BorrowedSource<'a> {
    // SAFETY: this function's contract is `BorrowedSocket::borrow_raw`'s: open for the borrow.
    unsafe { BorrowedSocket::borrow_raw(source) }
}
