//! What can be registered: raw descriptors (Unix) and raw sockets (Windows), and the
//! [`Source`] trait that names them for safe owners such as
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

/// Anything that owns or borrows a selectable OS object: `AsFd` on Unix (sockets, pipes,
/// ttys), `AsSocket` on Windows (sockets only: Winsock selects nothing else).
#[cfg(unix)]
pub trait Source: AsFd {
    /// The raw descriptor, for [`Selector`](super::Selector) calls.
    fn raw_source(&self) -> RawSource {
        self.as_fd().as_raw_fd()
    }
}

#[cfg(unix)]
impl<T: AsFd + ?Sized> Source for T {}

/// Anything that owns or borrows a selectable OS object: `AsFd` on Unix (sockets, pipes,
/// ttys), `AsSocket` on Windows (sockets only: Winsock selects nothing else).
#[cfg(windows)]
pub trait Source: AsSocket {
    /// The raw socket, for [`Selector`](super::Selector) calls.
    fn raw_source(&self) -> RawSource {
        self.as_socket().as_raw_socket()
    }
}

#[cfg(windows)]
impl<T: AsSocket + ?Sized> Source for T {}

/// Borrows a raw descriptor for one system call.
///
/// # Safety
///
/// The number is only handed to a kernel call that validates it (a closed descriptor gives
/// `EBADF`, never undefined behaviour); callers must not keep the borrow.
#[cfg(unix)]
pub(crate) unsafe fn borrow_raw<'a>(source: RawSource) -> BorrowedFd<'a> {
    // SAFETY: per this function's contract, the borrow lives for one validating syscall.
    unsafe { BorrowedFd::borrow_raw(source) }
}

/// Borrows a raw socket for one system call.
///
/// # Safety
///
/// As on Unix: the handle goes to one validating call and the borrow is not kept.
#[cfg(windows)]
pub(crate) unsafe fn borrow_raw<'a>(source: RawSource) -> BorrowedSocket<'a> {
    // SAFETY: per this function's contract, the borrow lives for one validating call.
    unsafe { BorrowedSocket::borrow_raw(source) }
}
