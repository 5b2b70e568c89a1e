//! The selectors layer: Python's `selectors` module for Rust.
//!
//! # The contract every backend keeps
//!
//! A [`Selector`] watches raw sources (file descriptors on Unix, sockets on Windows), each
//! registered once under a caller's `usize` key with an [`Interest`], and reports which are
//! ready. Every backend behaves the same way, so code written against one runs on all:
//!
//! - **Level-triggered.** A source is reported on every [`select`](Selector::select) while the
//!   condition holds and the interest is set, as with Python's selectors. Backends whose OS
//!   offers only one-shot notification re-arm after each report.
//! - **Masked to the interest, one event per source.** An event carries only the readiness
//!   that was asked for; a source both readable and writable is reported once with both.
//!   [`Interest::NONE`] keeps a source registered but silent.
//! - **Errors and hang-ups wake whatever was asked.** As in Python's poll and epoll selectors,
//!   `POLLHUP`/`POLLERR` make a source readable and writable (masked to its interest), so a
//!   write-only channel learns of a broken connection by writing.
//! - **Registration errors are `io::Error`s:** `AlreadyExists` for a source registered twice,
//!   `NotFound` for `modify`/`unregister` of an unknown source, the OS's error (and no
//!   registration left behind) when the OS refuses a source.
//! - **Unregister is tolerant.** It succeeds for any registered source number, even when the
//!   file registered under it was closed meanwhile and the number reused by the handle
//!   passed; an OS error from the removal is logged and swallowed, as Python does.
//! - **Timeouts never end early.** `None` blocks, zero polls, anything else waits at least
//!   that long (rounded up to whole milliseconds where the OS counts in milliseconds).
//!   A signal (`EINTR`) is retried with the time left; it is never an error.
//! - **A [`Waker`] ends a blocking `select` from any thread,** on every backend.
//! - **Selectors are `Send`** (as mio's `Poll` and polling's `Poller`): one can be made on
//!   one thread and used on another. A [`SelectorMap`] is `Send` when its sources and data
//!   are.
//! - **No undefined behaviour for any descriptor.** The select backend sizes its sets at run
//!   time, so descriptors above `FD_SETSIZE` (1024) work.
//!
//! # Portability
//!
//! | OS | native | also |
//! |---|---|---|
//! | Linux, Android | `epoll` | `poll`, `select` |
//! | macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly | `kqueue` | `poll`, `select` |
//! | illumos, Solaris | `event-ports` | `poll` |
//! | Windows | `iocp` | `select` (Winsock) |
//!
//! [`SelectorKind::best`] is the native one; `IOLOOP_SELECTOR=poll` (or any available name)
//! overrides the choice of every default constructor. What differs by OS:
//!
//! - Out-of-band data ([`Event::is_priority`]) is reported by epoll, poll and select on Unix;
//!   not by kqueue or IOCP.
//! - Hang-ups ([`Event::is_hangup`]) are told apart by epoll, poll, kqueue and IOCP; select
//!   only shows the source readable (the next read returns end of file).
//! - On Windows, select also puts writers in the except set, so a failed non-blocking connect
//!   is reported as writable with [`Event::is_error`] (Python does the same).
//! - epoll refuses regular files (`PermissionDenied`); poll and select report them always
//!   ready.
//! - Spurious wake-ups are allowed (a `select` may return an event whose I/O then would
//!   block); callers treat `WouldBlock` as "nothing now".
//!
//! This layer is for code that manages its own sources. For owned sources and user data per
//! key, Python's `selector.register(sock, events, data)` style, use [`SelectorMap`].

mod backend;
mod deadline;
mod default;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
mod event;
mod fd_set;
mod interest;
mod kind;
mod map;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod native;
#[cfg(unix)]
mod poll;
mod registrations;
mod select;
mod source;
mod waker;

use std::io;
use std::time::Duration;

pub use default::DefaultSelector;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use epoll::EpollSelector;
pub use event::{Event, Events};
pub use interest::Interest;
pub use kind::{SELECTOR_ENV, SelectorKind};
pub use map::{SelectorKey, SelectorMap};
/// The platform's native selector: on Linux and Android, the crate's own [`EpollSelector`].
///
/// Every platform has a `NativeSelector`: elsewhere it is a type of its own over the
/// `polling` crate (kqueue on macOS, iOS and the BSDs, IOCP on Windows, event ports on
/// illumos and Solaris). [`SelectorKind::native`] names the kind.
///
/// # Examples
///
/// ```
/// use ioloop::selector::{NativeSelector, Selector, SelectorKind};
///
/// let selector = NativeSelector::new()?;
/// assert_eq!(Some(selector.kind()), SelectorKind::native());
/// # std::io::Result::Ok(())
/// ```
#[cfg(any(target_os = "linux", target_os = "android"))]
#[cfg_attr(docsrs, doc(cfg(any(target_os = "linux", target_os = "android"))))]
pub type NativeSelector = EpollSelector;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub use native::NativeSelector;
#[cfg(unix)]
pub use poll::PollSelector;
pub use select::SelectSelector;
pub use source::{BorrowedSource, RawSource, Source};
pub use waker::Waker;

/// A readiness selector: Python's `selectors.BaseSelector`, over raw sources.
///
/// See [the module docs](self) for the contract every implementation keeps. Implementations:
/// [`NativeSelector`] (epoll, kqueue, IOCP, event ports), [`PollSelector`] (Unix),
/// [`SelectSelector`], and [`DefaultSelector`], which is any of them chosen at run time.
///
/// `register` takes the raw number, which is what a selector stores (and `unsafe`, since the
/// selector keeps using it after the call); `modify` and `unregister` take a
/// [`BorrowedSource`], which proves the source is open for the call:
///
/// ```
/// use std::net::TcpListener;
/// use ioloop::selector::{DefaultSelector, Interest, Selector, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut selector = DefaultSelector::new()?;
/// // SAFETY: `listener` stays open until it is unregistered below.
/// unsafe { selector.register(listener.raw_source(), 1, Interest::READ)? };
/// selector.modify(listener.as_source(), 1, Interest::NONE)?;
/// selector.unregister(listener.as_source())?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Sealed
///
/// This trait is implemented by the types above and cannot be implemented outside this
/// crate. A backend has to keep the whole contract (one event per source masked to its
/// interest, the merging of several OS reports, the error and registration rules), and the
/// crate's backends share that bookkeeping internally; opening the trait would freeze those
/// internals as public API. Use it as a bound (`S: Selector`) or as `dyn Selector`.
pub trait Selector: sealed::Sealed + std::fmt::Debug {
    /// Which backend this is.
    fn kind(&self) -> SelectorKind;

    /// Starts watching `source` for `interest`, reporting it under `key`.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the source is registered already; `InvalidInput` for `-1` (Unix)
    /// or `INVALID_SOCKET` (Windows); the OS's error if it refuses the source (epoll:
    /// `PermissionDenied` for a regular file; poll and select: a closed descriptor is refused
    /// up front with `EBADF`). On error nothing stays registered.
    ///
    /// # Safety
    ///
    /// `source` must stay open until it is unregistered or the selector is dropped. Off
    /// Linux and Android the native backend hands it to `polling`, whose `Poller::add` has
    /// this contract and whose IOCP implementation keeps using the handle until it is
    /// removed; on every backend, a number closed and reused while registered could be
    /// reported under the old key. [`SelectorMap`] and the event loop own their sources and
    /// keep this rule for you.
    unsafe fn register(
        &mut self,
        source: RawSource,
        key: usize,
        interest: Interest,
    ) -> io::Result<()>;

    /// Changes a registered source's key and/or interest. Makes no system call when the
    /// interest is unchanged.
    ///
    /// # Errors
    ///
    /// `NotFound` if the source is not registered. If the OS refuses the change the source is
    /// unregistered (as Python does) and the OS's error returned.
    fn modify(
        &mut self,
        source: BorrowedSource<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()>;

    /// Stops watching `source`.
    ///
    /// Tolerant, as Python's selectors: an error from the OS's removal is logged and
    /// ignored, so this succeeds even when the registered file was closed and its number
    /// reused by the one borrowed here.
    ///
    /// # Errors
    ///
    /// `NotFound` if the source is not registered.
    fn unregister(&mut self, source: BorrowedSource<'_>) -> io::Result<()>;

    /// Waits until a registered source is ready, the timeout passes or a [`Waker`] fires, and
    /// fills `events` (cleared first) with what is ready.
    ///
    /// `timeout`: `None` blocks; zero returns at once; anything else waits at least that
    /// long (never less), unless something is ready or a wake comes first.
    ///
    /// # Errors
    ///
    /// Only a failure of the OS wait itself; `EINTR` is retried with the time left.
    fn select(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()>;

    /// A handle that wakes this selector's `select` from any thread.
    fn waker(&self) -> Waker;

    /// How many sources are registered.
    fn len(&self) -> usize;

    /// Whether no source is registered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The supertrait that seals [`Selector`]: public inside a private module, so other crates can
/// neither name nor implement it.
mod sealed {
    /// Implemented by the crate's backends and [`DefaultSelector`](super::DefaultSelector).
    pub trait Sealed {}

    impl<B: super::backend::Backend> Sealed for B {}
    impl Sealed for super::DefaultSelector {}
}
