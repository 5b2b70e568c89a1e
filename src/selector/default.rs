//! [`DefaultSelector`]: whichever backend was chosen at run time, behind one type.

use std::io;
use std::time::{Duration, Instant};

#[cfg(unix)]
use super::PollSelector;
use super::{
    BorrowedSource, Events, Interest, NativeSelector, RawSource, SelectSelector, Selector,
    SelectorKind, Waker,
};

/// Any backend, chosen at run time: Python's `selectors.DefaultSelector`, plus an explicit
/// choice and the `IOLOOP_SELECTOR` override.
///
/// Calls are forwarded with a `match`, not a virtual call, so the choice costs nothing
/// measurable.
///
/// # Examples
///
/// ```
/// use ioloop::selector::{DefaultSelector, Selector, SelectorKind};
///
/// // The best backend here, unless IOLOOP_SELECTOR names another.
/// let selector = DefaultSelector::new()?;
/// println!("using {}", selector.kind());
///
/// // An explicit choice: every platform has at least two.
/// for kind in SelectorKind::available() {
///     assert_eq!(DefaultSelector::with_kind(kind)?.kind(), kind);
/// }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct DefaultSelector {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Native(NativeSelector),
    #[cfg(unix)]
    Poll(PollSelector),
    Select(SelectSelector),
}

impl DefaultSelector {
    /// The kind named by `IOLOOP_SELECTOR` if set, else [`SelectorKind::best`].
    ///
    /// # Errors
    ///
    /// An `InvalidInput` or `Unsupported` error naming the available kinds if the variable
    /// names an unknown or unavailable kind; the OS's error if the selector cannot be made.
    pub fn new() -> io::Result<DefaultSelector> {
        DefaultSelector::with_kind(SelectorKind::from_env()?)
    }

    /// A selector of the given kind.
    ///
    /// # Errors
    ///
    /// `Unsupported` (naming the available kinds) if this platform lacks `kind`; the OS's
    /// error if the selector cannot be made.
    pub fn with_kind(kind: SelectorKind) -> io::Result<DefaultSelector> {
        kind.check_available()?;
        let backend = match kind {
            #[cfg(unix)]
            SelectorKind::Poll => Backend::Poll(PollSelector::new()?),
            SelectorKind::Select => Backend::Select(SelectSelector::new()?),
            _ => Backend::Native(NativeSelector::new()?),
        };
        Ok(DefaultSelector { backend })
    }
}

/// Forwards a call to whichever backend this is.
macro_rules! forward {
    ($self:ident, $selector:ident => $call:expr) => {
        match &mut $self.backend {
            Backend::Native($selector) => $call,
            #[cfg(unix)]
            Backend::Poll($selector) => $call,
            Backend::Select($selector) => $call,
        }
    };
}

/// Forwards a call that needs only `&self`.
macro_rules! forward_ref {
    ($self:ident, $selector:ident => $call:expr) => {
        match &$self.backend {
            Backend::Native($selector) => $call,
            #[cfg(unix)]
            Backend::Poll($selector) => $call,
            Backend::Select($selector) => $call,
        }
    };
}

impl DefaultSelector {
    /// [`select`](Selector::select) with the timeout counted from `since`, a clock reading
    /// the caller took (the event loop's, from which it computed `timeout`): no reading of
    /// the selector's own. It may return before `timeout` has passed since now, never after.
    #[inline]
    pub(crate) fn select_since(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
        since: Instant,
    ) -> io::Result<()> {
        forward!(self, s => super::deadline::select_since(s, events, timeout, Some(since)))
    }
}

impl Selector for DefaultSelector {
    fn kind(&self) -> SelectorKind {
        forward_ref!(self, s => s.kind())
    }

    unsafe fn register(
        &mut self,
        source: RawSource,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        // SAFETY: the caller keeps `register`'s contract, which is the same for every backend.
        forward!(self, s => unsafe { s.register(source, key, interest) })
    }

    #[inline]
    fn modify(
        &mut self,
        source: BorrowedSource<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        forward!(self, s => s.modify(source, key, interest))
    }

    fn unregister(&mut self, source: BorrowedSource<'_>) -> io::Result<()> {
        forward!(self, s => s.unregister(source))
    }

    #[inline]
    fn select(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        forward!(self, s => s.select(events, timeout))
    }

    fn waker(&self) -> Waker {
        forward_ref!(self, s => s.waker())
    }

    fn len(&self) -> usize {
        forward_ref!(self, s => s.len())
    }
}
