//! [`SelectorKind`]: the backends by name, which of them this platform has, and the run-time
//! choice (including the `IOLOOP_SELECTOR` override).

use std::fmt;
use std::io;
use std::str::FromStr;

/// The environment variable that [`SelectorKind::from_env`] (and so every default constructor)
/// honours: a kind's name, or `auto` for [`SelectorKind::best`].
///
/// Python has no such switch: a program picks a class. Here any program built on the
/// default constructors can be run on another backend, e.g. to compare them or to work
/// around an OS quirk: `IOLOOP_SELECTOR=poll ./server`.
///
/// # Examples
///
/// ```
/// use ioloop::selector::{SELECTOR_ENV, SelectorKind};
///
/// let kind = SelectorKind::from_env()?;
/// match std::env::var(SELECTOR_ENV) {
///     Ok(name) => println!("{SELECTOR_ENV}={name}: using {kind}"),
///     Err(_) => assert_eq!(kind, SelectorKind::best()),
/// }
/// # std::io::Result::Ok(())
/// ```
pub const SELECTOR_ENV: &str = "IOLOOP_SELECTOR";

/// A selector backend, by name: which of Python's `selectors` classes to use, as a value.
///
/// | kind | platforms | implemented by |
/// |---|---|---|
/// | `epoll` | Linux, Android | [`NativeSelector`](super::NativeSelector), there the crate's own `EpollSelector`, over `rustix` |
/// | `kqueue` | macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly | [`NativeSelector`](super::NativeSelector) over `polling` |
/// | `iocp` | Windows | [`NativeSelector`](super::NativeSelector) over `polling` (AFD polling) |
/// | `event-ports` | illumos, Solaris | [`NativeSelector`](super::NativeSelector) over `polling` (oneshot, re-armed) |
/// | `poll` | every Unix | [`PollSelector`](super::PollSelector) over `rustix` |
/// | `select` | every Unix but illumos/Solaris, and Windows | [`SelectSelector`](super::SelectSelector), over `rustix` on Unix and `windows-sys` (Winsock) on Windows |
///
/// Names print and parse in lowercase (`"epoll".parse()`); `auto` is not a kind, but
/// [`SelectorKind::choose`] accepts it.
///
/// # Examples
///
/// ```
/// use ioloop::selector::{DefaultSelector, Selector, SelectorKind};
///
/// // Python: selectors.PollSelector() if hasattr(selectors, "PollSelector") else ...
/// let kind: SelectorKind = "poll".parse()?;
/// assert_eq!(kind.to_string(), "poll");
/// let kind = if kind.is_available() { kind } else { SelectorKind::best() };
/// assert_eq!(DefaultSelector::with_kind(kind)?.kind(), kind);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SelectorKind {
    /// Linux's epoll.
    Epoll,
    /// The BSDs' and macOS's kqueue.
    Kqueue,
    /// Windows' I/O completion ports (socket readiness through AFD, as `polling` does it).
    Iocp,
    /// illumos and Solaris event ports.
    EventPorts,
    /// poll(2).
    Poll,
    /// select(2), or Winsock's `select` on Windows.
    Select,
}

const ALL: [SelectorKind; 6] = [
    SelectorKind::Epoll,
    SelectorKind::Kqueue,
    SelectorKind::Iocp,
    SelectorKind::EventPorts,
    SelectorKind::Poll,
    SelectorKind::Select,
];

impl SelectorKind {
    /// The platform's native kind, if this crate has one here: epoll on Linux and Android
    /// (the crate's own backend, over `rustix`); kqueue, IOCP or event ports elsewhere
    /// (through `polling`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::{NativeSelector, Selector, SelectorKind};
    ///
    /// if let Some(native) = SelectorKind::native() {
    ///     assert_eq!(NativeSelector::new()?.kind(), native);
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    pub const fn native() -> Option<SelectorKind> {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            Some(SelectorKind::Epoll)
        } else if cfg!(any(target_os = "illumos", target_os = "solaris")) {
            Some(SelectorKind::EventPorts)
        } else if cfg!(any(
            target_vendor = "apple",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
            target_os = "dragonfly"
        )) {
            Some(SelectorKind::Kqueue)
        } else if cfg!(windows) {
            Some(SelectorKind::Iocp)
        } else {
            None
        }
    }

    /// The kinds this platform has, best first (native, then poll, then select).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::SelectorKind;
    ///
    /// let kinds = SelectorKind::available();
    /// assert_eq!(kinds[0], SelectorKind::best());
    /// assert!(kinds.iter().all(|kind| kind.is_available()));
    /// ```
    pub fn available() -> Vec<SelectorKind> {
        ALL.iter()
            .copied()
            .filter(|kind| kind.is_available())
            .collect()
    }

    /// The best kind this platform has: the native one, else poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::SelectorKind;
    ///
    /// let best = SelectorKind::best();
    /// assert!(best.is_available());
    /// if cfg!(target_os = "linux") {
    ///     assert_eq!(best, SelectorKind::Epoll);
    /// }
    /// ```
    pub fn best() -> SelectorKind {
        SelectorKind::native().unwrap_or(SelectorKind::Poll)
    }

    /// Whether this kind exists on this platform (Python: `hasattr(selectors,
    /// "EpollSelector")`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::SelectorKind;
    ///
    /// assert_eq!(SelectorKind::Poll.is_available(), cfg!(unix));
    /// assert_eq!(SelectorKind::Iocp.is_available(), cfg!(windows));
    /// ```
    pub fn is_available(self) -> bool {
        match self {
            SelectorKind::Poll => cfg!(unix),
            SelectorKind::Select => {
                cfg!(windows)
                    || cfg!(all(
                        unix,
                        not(any(target_os = "illumos", target_os = "solaris"))
                    ))
            }
            native => SelectorKind::native() == Some(native),
        }
    }

    /// The lowercase name, as printed and parsed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::SelectorKind;
    ///
    /// assert_eq!(SelectorKind::EventPorts.name(), "event-ports");
    /// assert_eq!(SelectorKind::EventPorts.to_string(), "event-ports");
    /// assert_eq!("event-ports".parse::<SelectorKind>()?, SelectorKind::EventPorts);
    /// # std::io::Result::Ok(())
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            SelectorKind::Epoll => "epoll",
            SelectorKind::Kqueue => "kqueue",
            SelectorKind::Iocp => "iocp",
            SelectorKind::EventPorts => "event-ports",
            SelectorKind::Poll => "poll",
            SelectorKind::Select => "select",
        }
    }

    /// Resolves a user's choice: `auto` (or an empty string) gives [`best`](Self::best), a
    /// kind's name gives that kind if this platform has it.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a name that is no kind; `Unsupported` for a kind this platform does
    /// not have. Both messages list the available kinds.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::SelectorKind;
    ///
    /// assert_eq!(SelectorKind::choose("auto")?, SelectorKind::best());
    /// assert!(SelectorKind::choose("no-such-thing").is_err());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn choose(name: &str) -> io::Result<SelectorKind> {
        let name = name.trim();
        if name.is_empty() || name.eq_ignore_ascii_case("auto") {
            return Ok(SelectorKind::best());
        }
        let kind: SelectorKind = name.parse()?;
        kind.check_available()?;
        Ok(kind)
    }

    /// The kind named by `IOLOOP_SELECTOR`, or [`best`](Self::best) when it is unset.
    ///
    /// # Errors
    ///
    /// As [`choose`](Self::choose), with the variable named in the message: a wrong value is
    /// reported, never silently replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::SelectorKind;
    ///
    /// // What `DefaultSelector::new()` and `EventLoop::new()` use.
    /// let kind = SelectorKind::from_env()?;
    /// assert!(kind.is_available());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn from_env() -> io::Result<SelectorKind> {
        match std::env::var(SELECTOR_ENV) {
            Ok(value) => SelectorKind::choose(&value)
                .map_err(|e| io::Error::new(e.kind(), format!("{SELECTOR_ENV}={value:?}: {e}"))),
            Err(std::env::VarError::NotPresent) => Ok(SelectorKind::best()),
            Err(std::env::VarError::NotUnicode(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{SELECTOR_ENV} is not valid UTF-8"),
            )),
        }
    }

    /// `Ok` if this platform has the kind, else an `Unsupported` error naming the ones it has.
    ///
    /// # Errors
    ///
    /// `Unsupported` for a kind this platform does not have.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::selector::SelectorKind;
    ///
    /// SelectorKind::best().check_available()?;
    /// if !cfg!(windows) {
    ///     let error = SelectorKind::Iocp.check_available().unwrap_err();
    ///     assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    ///     println!("{error}"); // names the kinds this platform has
    /// }
    /// # io::Result::Ok(())
    /// ```
    pub fn check_available(self) -> io::Result<()> {
        if self.is_available() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "the {self} selector is not available on this platform (available: {})",
                    available_names()
                ),
            ))
        }
    }
}

fn available_names() -> String {
    let names: Vec<&str> = SelectorKind::available().iter().map(|k| k.name()).collect();
    names.join(", ")
}

impl fmt::Display for SelectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SelectorKind {
    type Err = io::Error;

    /// Parses a kind's name, ignoring ASCII case; `event_ports` and `eventports` are accepted
    /// too. Whether the platform has it is not checked here (see [`SelectorKind::choose`]).
    fn from_str(s: &str) -> io::Result<SelectorKind> {
        let lower = s.trim().to_ascii_lowercase();
        let wanted = match lower.as_str() {
            "event_ports" | "eventports" => "event-ports",
            other => other,
        };
        ALL.iter()
            .copied()
            .find(|kind| kind.name() == wanted)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "unknown selector {s:?}: expected auto or one of {} (available here: {})",
                        ALL.map(|k| k.name()).join(", "),
                        available_names()
                    ),
                )
            })
    }
}
