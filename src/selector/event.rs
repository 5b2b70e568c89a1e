//! [`Event`]: one ready source, as reported by [`Selector::select`](super::Selector::select).

use super::Interest;

const ERROR: u8 = 0b001;
const HANGUP: u8 = 0b010;
const PRIORITY: u8 = 0b100;

fn flag_bits(error: bool, hangup: bool, priority: bool) -> u8 {
    (if error { ERROR } else { 0 })
        | (if hangup { HANGUP } else { 0 })
        | (if priority { PRIORITY } else { 0 })
}

/// One ready source: its key and the readiness found, already masked to the registered
/// interest.
///
/// A source is reported at most once per `select` call, with both flags set when it is both
/// readable and writable. Errors and hang-ups make a source ready for whatever it is
/// registered for (as Python's poll and epoll selectors do), so a write-only channel still wakes
/// up and learns of the error by writing; [`is_error`](Event::is_error) and
/// [`is_hangup`](Event::is_hangup) say so where the backend can tell.
///
/// Python's `select()` returns `(key, mask)` pairs; an `Event` is the pair, with the error
/// and hang-up flags Python drops.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use ioloop::selector::{DefaultSelector, Events, Interest, Selector, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut client = TcpStream::connect(listener.local_addr()?)?;
/// let (server, _) = listener.accept()?;
/// let mut selector = DefaultSelector::new()?;
/// // SAFETY: `server` stays open until it is unregistered below.
/// unsafe { selector.register(server.raw_source(), 3, Interest::READ)? };
/// client.write_all(b"ping")?;
/// let mut events = Events::new();
/// selector.select(&mut events, Some(Duration::from_secs(5)))?;
/// let event = events.iter().next().expect("readable within 5 s");
/// assert_eq!(event.key(), 3);
/// // Writable too, but only readability was asked for.
/// assert_eq!(event.readiness(), Interest::READ);
/// assert!(!event.is_error() && !event.is_hangup());
/// selector.unregister(server.as_source())?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Event {
    key: usize,
    ready: Interest,
    flags: u8,
}

impl Event {
    /// An event for `key` with readiness `ready` and no extra flags.
    pub const fn new(key: usize, ready: Interest) -> Event {
        Event {
            key,
            ready,
            flags: 0,
        }
    }

    pub(crate) fn with_flags(mut self, error: bool, hangup: bool, priority: bool) -> Event {
        self.flags = flag_bits(error, hangup, priority);
        self
    }

    /// The key the source was registered under.
    pub const fn key(&self) -> usize {
        self.key
    }

    /// The readiness found (never [`Interest::NONE`]).
    pub const fn readiness(&self) -> Interest {
        self.ready
    }

    /// Whether the source can be read without blocking (data, end of file or an error).
    pub const fn is_readable(&self) -> bool {
        self.ready.is_readable()
    }

    /// Whether the source can be written without blocking (room, or an error).
    pub const fn is_writable(&self) -> bool {
        self.ready.is_writable()
    }

    /// Whether the OS reported an error condition (`POLLERR`, `EPOLLERR`, `POLLNVAL`, or a
    /// failed connect in Winsock's except set). The error itself comes from the next I/O call
    /// or `SO_ERROR`.
    pub const fn is_error(&self) -> bool {
        self.flags & ERROR != 0
    }

    /// Whether the OS reported a hang-up (`POLLHUP`/`EPOLLHUP`). Not every backend can tell:
    /// select never does; a peer's close is then seen as end of file when reading.
    pub const fn is_hangup(&self) -> bool {
        self.flags & HANGUP != 0
    }

    /// Whether urgent (out-of-band) data is waiting: `POLLPRI`/`EPOLLPRI`, or the except set of
    /// select on Unix. kqueue and IOCP do not report it.
    pub const fn is_priority(&self) -> bool {
        self.flags & PRIORITY != 0
    }
}

/// The buffer [`Selector::select`](super::Selector::select) fills.
///
/// Reused across calls so that a steady-state loop allocates nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ioloop::selector::{DefaultSelector, Events, Selector};
///
/// let mut selector = DefaultSelector::new()?;
/// let mut events = Events::with_capacity(256);
/// for _ in 0..3 {
///     selector.select(&mut events, Some(Duration::ZERO))?; // poll, never block
///     for event in &events {
///         println!("{} is ready: {:?}", event.key(), event.readiness());
///     }
/// }
/// assert!(events.is_empty()); // nothing is registered
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Events {
    list: Vec<Event>,
}

impl Events {
    /// An empty buffer.
    pub fn new() -> Events {
        Events::default()
    }

    /// An empty buffer with room for `capacity` events before it grows.
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            list: Vec::with_capacity(capacity),
        }
    }

    /// The events of the last `select`, in no particular order.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    /// How many sources were reported.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Forgets every event.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Adds one event; `ready` must already be masked to the interest.
    pub(crate) fn push(&mut self, event: Event) {
        self.list.push(event);
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl Events {
    /// Adds readiness and flags to the event at `index` (a second OS report for one source).
    pub(crate) fn merge(
        &mut self,
        index: usize,
        ready: Interest,
        error: bool,
        hangup: bool,
        priority: bool,
    ) {
        let event = &mut self.list[index];
        event.ready = event.ready.add(ready);
        event.flags |= flag_bits(error, hangup, priority);
    }
}
