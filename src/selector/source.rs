//! What can be registered: raw descriptors (Unix) and raw sockets (Windows), their borrowed
//! form, and the [`Source`] trait that names them for safe owners such as
//! [`SelectorMap`](super::SelectorMap).

#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
#[cfg(windows)]
use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket};

/// A raw source as the OS names it: a file descriptor on Unix.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;

/// A raw source as the OS names it: a `SOCKET` on Windows.
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;

/// A source borrowed for the length of a call: a [`BorrowedFd`] on Unix.
///
/// [`Selector::modify`](super::Selector::modify) and
/// [`Selector::unregister`](super::Selector::unregister) take one, so the borrow checker,
/// not an `unsafe` block, proves the source is open while they use it. Get one with
/// [`Source::as_source`] (or `as_fd()`).
#[cfg(unix)]
pub type BorrowedSource<'a> = BorrowedFd<'a>;

/// A source borrowed for the length of a call: a [`BorrowedSocket`] on Windows.
///
/// [`Selector::modify`](super::Selector::modify) and
/// [`Selector::unregister`](super::Selector::unregister) take one, so the borrow checker,
/// not an `unsafe` block, proves the source is open while they use it. Get one with
/// [`Source::as_source`] (or `as_socket()`).
#[cfg(windows)]
pub type BorrowedSource<'a> = BorrowedSocket<'a>;

/// Anything that owns or borrows a selectable OS object: `AsFd` on Unix (sockets, pipes,
/// ttys), `AsSocket` on Windows (sockets only: Winsock selects nothing else).
#[cfg(unix)]
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
/// ttys), `AsSocket` on Windows (sockets only: Winsock selects nothing else).
#[cfg(windows)]
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
