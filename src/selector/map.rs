//! [`SelectorMap`]: Python's `selector.register(fileobj, events, data)` with owned sources.
//!
//! The map owns each registered source, so it can always unregister before the source is
//! closed: no `unsafe` for its users. `unregister` hands the source and data back.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::time::Duration;

use slab::Slab;

use super::{DefaultSelector, Events, Interest, RawSource, Selector, SelectorKind, Source};

/// The handle of one registration in a [`SelectorMap`] (what Python's `SelectorKey` is to a
/// selector). Handles of removed registrations are recognised as stale, even after their
/// slot is reused.
///
/// A key is small, `Copy` and `Hash`: keep it in your own structures, or as a `HashMap` key,
/// instead of the socket Python code would look up with `get_key`.
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use ioloop::selector::{Interest, SelectorMap};
///
/// let mut map = SelectorMap::new()?;
/// let first = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, 1)?;
/// map.unregister(first)?;
/// let second = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, 2)?;
/// // The slot is reused, but the old key does not reach the new registration.
/// assert_ne!(first, second);
/// assert_eq!(map.data(first), None);
/// assert_eq!(map.data(second), Some(&2));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SelectorKey {
    slot: u32,
    generation: u32,
}

/// Half of a `usize` holds the slot, the other half the generation (so 32-bit targets work).
const SLOT_BITS: u32 = usize::BITS / 2;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;

impl SelectorKey {
    fn to_usize(self) -> usize {
        ((self.generation as usize & SLOT_MASK) << SLOT_BITS) | self.slot as usize
    }

    fn from_usize(key: usize) -> SelectorKey {
        SelectorKey {
            slot: (key & SLOT_MASK) as u32,
            generation: (key >> SLOT_BITS) as u32,
        }
    }
}

impl fmt::Debug for SelectorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SelectorKey({}v{})", self.slot, self.generation)
    }
}

struct Entry<S, T> {
    source: S,
    interest: Interest,
    data: T,
    generation: u32,
}

/// A keyed registry of owned sources, each with user data — Python's selectors as programs
/// use them, `data` often being the callback to run.
///
/// Sources are anything [`Source`] (`TcpListener`, `TcpStream`, `UdpSocket`, `UnixStream`,
/// `socket2::Socket`, pipes…); use an enum or `socket2::Socket` to mix kinds in one map.
///
/// # Examples
///
/// The seeds' callback style, with the callback stored as data:
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use ioloop::selector::{Interest, SelectorKey, SelectorMap};
///
/// // The data: the function to call when the socket is ready (Python's `key.data`).
/// #[derive(Clone, Copy)]
/// struct Callback(fn(&mut SelectorMap<TcpStream, Callback>, SelectorKey));
///
/// fn echo(map: &mut SelectorMap<TcpStream, Callback>, key: SelectorKey) {
///     let (mut stream, _) = map.get_mut(key).unwrap();
///     let mut buf = [0; 1024];
///     match stream.read(&mut buf) {
///         Ok(0) | Err(_) => drop(map.unregister(key)),
///         Ok(n) => stream.write_all(&buf[..n]).unwrap(),
///     }
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut client = TcpStream::connect(listener.local_addr()?)?;
/// let (server_side, _) = listener.accept()?;
/// server_side.set_nonblocking(true)?;
///
/// let mut map: SelectorMap<TcpStream, Callback> = SelectorMap::new()?;
/// map.register(server_side, Interest::READ, Callback(echo))?;
/// client.write_all(b"hello")?;
/// for (key, _ready) in map.select(Some(Duration::from_secs(5)))? {
///     let Callback(callback) = *map.data(key).unwrap();
///     callback(&mut map, key);
/// }
/// let mut reply = [0; 5];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hello");
/// # std::io::Result::Ok(())
/// ```
pub struct SelectorMap<S: Source, T> {
    selector: DefaultSelector,
    entries: Slab<Entry<S, T>>,
    by_source: HashMap<RawSource, usize>,
    next_generation: u32,
    events: Events,
}

impl<S: Source, T> SelectorMap<S, T> {
    /// A map over [`DefaultSelector::new`] (the best backend, or `IOLOOP_SELECTOR`'s):
    /// Python's `selectors.DefaultSelector()`.
    ///
    /// # Errors
    ///
    /// As [`DefaultSelector::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// // The source type and the data type are the map's: here listeners, named by a string.
    /// let mut map = SelectorMap::new()?;
    /// map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, "listener")?;
    /// assert_eq!(map.len(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> io::Result<Self> {
        Ok(Self::with_selector(DefaultSelector::new()?))
    }

    /// A map over a selector of the given kind (Python's `selectors.PollSelector()`,
    /// `SelectSelector()`…).
    ///
    /// # Errors
    ///
    /// As [`DefaultSelector::with_kind`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{SelectorKind, SelectorMap};
    ///
    /// for kind in SelectorKind::available() {
    ///     let map: SelectorMap<TcpListener, ()> = SelectorMap::with_kind(kind)?;
    ///     assert_eq!(map.kind(), kind);
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn with_kind(kind: SelectorKind) -> io::Result<Self> {
        Ok(Self::with_selector(DefaultSelector::with_kind(kind)?))
    }

    fn with_selector(selector: DefaultSelector) -> Self {
        SelectorMap {
            selector,
            entries: Slab::new(),
            by_source: HashMap::new(),
            next_generation: 0,
            events: Events::new(),
        }
    }

    /// Which backend the map uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{SelectorKind, SelectorMap};
    ///
    /// let map: SelectorMap<TcpListener, ()> = SelectorMap::new()?;
    /// println!("selecting with {}", map.kind()); // epoll on Linux, unless IOLOOP_SELECTOR says
    /// assert_eq!(map.kind(), SelectorKind::from_env()?);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn kind(&self) -> SelectorKind {
        self.selector.kind()
    }

    /// Registers `source` for `interest`, with `data`, and returns its key (Python's
    /// `sel.register(fileobj, events, data)`). The map owns the source from now on; make it
    /// non-blocking first, as in Python.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the same descriptor is registered already (through another handle);
    /// the OS's error if it refuses the source. On error `source` and `data` are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nonblocking(true)?;
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(stream, Interest::READ | Interest::WRITE, "client")?;
    /// assert_eq!(map.interest(key), Some(Interest::BOTH));
    /// assert_eq!(map.data(key), Some(&"client"));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn register(&mut self, source: S, interest: Interest, data: T) -> io::Result<SelectorKey> {
        let raw = source.raw_source();
        if self.by_source.contains_key(&raw) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("source {raw:?} is already registered"),
            ));
        }
        let generation = self.next_generation & SLOT_MASK as u32;
        self.next_generation = self.next_generation.wrapping_add(1);
        let vacant = self.entries.vacant_entry();
        if vacant.key() > SLOT_MASK {
            return Err(io::Error::other("too many registrations for one map"));
        }
        let slot = vacant.key() as u32;
        let key = SelectorKey { slot, generation };
        // SAFETY: the map owns `source` from here on and unregisters it before giving it
        // back (`unregister`) or dropping it (`Drop`), so it stays open while registered.
        unsafe { self.selector.register(raw, key.to_usize(), interest)? };
        vacant.insert(Entry {
            source,
            interest,
            data,
            generation,
        });
        self.by_source.insert(raw, slot as usize);
        Ok(key)
    }

    fn entry(&self, key: SelectorKey) -> Option<&Entry<S, T>> {
        self.entries
            .get(key.slot as usize)
            .filter(|entry| entry.generation == key.generation)
    }

    fn entry_mut(&mut self, key: SelectorKey) -> Option<&mut Entry<S, T>> {
        self.entries
            .get_mut(key.slot as usize)
            .filter(|entry| entry.generation == key.generation)
    }

    fn not_found(key: SelectorKey) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{key:?} is not registered"),
        )
    }

    /// Changes the interest of a registration (Python's `sel.modify(fileobj, events)`; no
    /// system call if it is unchanged).
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown or stale key; the OS's error if it refuses the change, in
    /// which case the registration is removed and its source and data dropped (as Python's
    /// selectors remove the key).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(TcpStream::connect(listener.local_addr()?)?, Interest::WRITE, ())?;
    /// map.modify(key, Interest::READ)?; // nothing more to send: wait for the reply
    /// assert_eq!(map.interest(key), Some(Interest::READ));
    /// // Parked: still registered, but reported for nothing (Python refuses empty events).
    /// map.modify(key, Interest::NONE)?;
    /// assert!(map.select(Some(Duration::ZERO))?.is_empty());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn modify(&mut self, key: SelectorKey, interest: Interest) -> io::Result<()> {
        let entry = self.entry_mut(key).ok_or_else(|| Self::not_found(key))?;
        if entry.interest == interest {
            return Ok(());
        }
        entry.interest = interest;
        let source = self.entries[key.slot as usize].source.as_source();
        if let Err(e) = self.selector.modify(source, key.to_usize(), interest) {
            // The selector dropped its registration: drop ours to match.
            let entry = self.entries.remove(key.slot as usize);
            self.by_source.remove(&entry.source.raw_source());
            return Err(e);
        }
        Ok(())
    }

    /// Unregisters and returns the source and its data (Python's `unregister`, which the
    /// program follows with `close`; here dropping the source closes it).
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown or stale key.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, "listener")?;
    /// let (listener, data) = map.unregister(key)?;
    /// assert_eq!(data, "listener");
    /// assert!(map.is_empty());
    /// assert_eq!(map.unregister(key).unwrap_err().kind(), io::ErrorKind::NotFound);
    /// drop(listener); // Python's `sock.close()`
    /// # io::Result::Ok(())
    /// ```
    pub fn unregister(&mut self, key: SelectorKey) -> io::Result<(S, T)> {
        self.entry(key).ok_or_else(|| Self::not_found(key))?;
        let entry = self.entries.remove(key.slot as usize);
        self.by_source.remove(&entry.source.raw_source());
        self.selector.unregister(entry.source.as_source())?;
        Ok((entry.source, entry.data))
    }

    /// The key under which `source`'s descriptor is registered (Python's `get_key`, which
    /// raises `KeyError` where this returns `None`). Any handle on the descriptor will do.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, ())?;
    /// assert_eq!(map.find(map.source(key).unwrap()), Some(key));
    /// let other = TcpListener::bind("127.0.0.1:0")?;
    /// assert_eq!(map.find(&other), None);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn find<R: Source + ?Sized>(&self, source: &R) -> Option<SelectorKey> {
        let slot = *self.by_source.get(&source.raw_source())?;
        let generation = self.entries.get(slot)?.generation;
        Some(SelectorKey {
            slot: slot as u32,
            generation,
        })
    }

    /// Whether `key` is registered (Python: `fileobj in sel.get_map()`). A key becomes
    /// stale when its registration is removed, and stays so.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, ())?;
    /// assert!(map.contains(key));
    /// map.unregister(key)?;
    /// assert!(!map.contains(key));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn contains(&self, key: SelectorKey) -> bool {
        self.entry(key).is_some()
    }

    /// The registered source (Python's `key.fileobj`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(listener, Interest::READ, ())?;
    /// assert_eq!(map.source(key).unwrap().local_addr()?, addr);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn source(&self, key: SelectorKey) -> Option<&S> {
        self.entry(key).map(|entry| &entry.source)
    }

    /// The registered interest (Python's `key.events`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, ())?;
    /// assert_eq!(map.interest(key), Some(Interest::READ));
    /// map.modify(key, Interest::NONE)?;
    /// assert_eq!(map.interest(key), Some(Interest::NONE));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn interest(&self, key: SelectorKey) -> Option<Interest> {
        self.entry(key).map(|entry| entry.interest)
    }

    /// The data (Python's `key.data`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, "web")?;
    /// assert_eq!(map.data(key), Some(&"web"));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn data(&self, key: SelectorKey) -> Option<&T> {
        self.entry(key).map(|entry| &entry.data)
    }

    /// The data, mutably (Python mutates `key.data` in place).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, 0_u32)?;
    /// *map.data_mut(key).unwrap() += 1; // e.g. connections accepted so far
    /// assert_eq!(map.data(key), Some(&1));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn data_mut(&mut self, key: SelectorKey) -> Option<&mut T> {
        self.entry_mut(key).map(|entry| &mut entry.data)
    }

    /// The source (shared: it stays registered, so it cannot be replaced) and the data
    /// (mutable) together: what a callback needs to do its I/O and keep its state.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(listener, Interest::READ, Vec::new())?;
    /// let _client = TcpStream::connect(addr)?;
    /// // Python: conn, peer = key.fileobj.accept(); key.data.append(peer)
    /// let (listener, peers) = map.get_mut(key).unwrap();
    /// let (_conn, peer) = listener.accept()?;
    /// peers.push(peer);
    /// assert_eq!(map.data(key).unwrap().len(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn get_mut(&mut self, key: SelectorKey) -> Option<(&S, &mut T)> {
        self.entry_mut(key)
            .map(|entry| (&entry.source, &mut entry.data))
    }

    /// How many sources are registered (Python: `len(sel.get_map())`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// for _ in 0..3 {
    ///     map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, ())?;
    /// }
    /// assert_eq!(map.len(), 3);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is registered: a loop over the map's own sources can stop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// assert!(map.is_empty());
    /// let key = map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, ())?;
    /// assert!(!map.is_empty());
    /// map.unregister(key)?;
    /// assert!(map.is_empty());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every registration (Python's `get_map()`), in no particular order.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let mut map = SelectorMap::new()?;
    /// map.register(TcpListener::bind("127.0.0.1:0")?, Interest::READ, "web")?;
    /// map.register(TcpListener::bind("127.0.0.1:0")?, Interest::NONE, "admin")?;
    /// let parked: Vec<&str> = map
    ///     .iter()
    ///     .filter(|(_key, _source, interest, _data)| interest.is_none())
    ///     .map(|(_, _, _, data)| *data)
    ///     .collect();
    /// assert_eq!(parked, ["admin"]);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (SelectorKey, &S, Interest, &T)> + '_ {
        self.entries.iter().map(|(slot, entry)| {
            let key = SelectorKey {
                slot: slot as u32,
                generation: entry.generation,
            };
            (key, &entry.source, entry.interest, &entry.data)
        })
    }

    /// A handle that wakes a blocking [`select`](Self::select) from another thread (Python
    /// programs write a byte to a socket pair they registered themselves).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::selector::SelectorMap;
    ///
    /// let mut map: SelectorMap<TcpListener, ()> = SelectorMap::new()?;
    /// let waker = map.waker();
    /// let thread = std::thread::spawn(move || waker.wake());
    /// // Blocks until the other thread wakes it; nothing is registered, so no key comes back.
    /// assert!(map.select(None)?.is_empty());
    /// thread.join().unwrap()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn waker(&self) -> super::Waker {
        self.selector.waker()
    }

    /// Waits as [`Selector::select`] does and returns the ready keys with their readiness.
    ///
    /// The result is owned, so the loop body may register, modify and unregister freely. A
    /// key unregistered by an earlier callback of the same batch is still listed; check with
    /// [`contains`](Self::contains) or let the lookup return `None`.
    ///
    /// # Errors
    ///
    /// As [`Selector::select`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use ioloop::selector::{Interest, SelectorMap};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_nonblocking(true)?;
    /// let addr = listener.local_addr()?;
    /// let mut map = SelectorMap::new()?;
    /// let key = map.register(listener, Interest::READ, "listener")?;
    /// let _client = TcpStream::connect(addr)?;
    /// // Python: for key, mask in sel.select(timeout=5): ...
    /// let ready = map.select(Some(Duration::from_secs(5)))?;
    /// assert_eq!(ready, [(key, Interest::READ)]);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn select(
        &mut self,
        timeout: Option<Duration>,
    ) -> io::Result<Vec<(SelectorKey, Interest)>> {
        self.selector.select(&mut self.events, timeout)?;
        Ok(self
            .events
            .iter()
            .map(|event| (SelectorKey::from_usize(event.key()), event.readiness()))
            .filter(|(key, _)| self.contains(*key))
            .collect())
    }
}

impl<S: Source, T> Drop for SelectorMap<S, T> {
    fn drop(&mut self) {
        // Unregister before the sources are closed by dropping the entries.
        for (_, entry) in self.entries.iter() {
            let _ = self.selector.unregister(entry.source.as_source());
        }
    }
}

impl<S: Source, T> fmt::Debug for SelectorMap<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectorMap")
            .field("kind", &self.kind())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
