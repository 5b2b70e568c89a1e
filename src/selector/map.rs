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
    /// A map over [`DefaultSelector::new`] (the best backend, or `IOLOOP_SELECTOR`'s).
    ///
    /// # Errors
    ///
    /// As [`DefaultSelector::new`].
    pub fn new() -> io::Result<Self> {
        Ok(Self::with_selector(DefaultSelector::new()?))
    }

    /// A map over a selector of the given kind.
    ///
    /// # Errors
    ///
    /// As [`DefaultSelector::with_kind`].
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
    pub fn kind(&self) -> SelectorKind {
        self.selector.kind()
    }

    /// Registers `source` for `interest`, with `data`, and returns its key.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the same descriptor is registered already (through another handle);
    /// the OS's error if it refuses the source. On error `source` and `data` are dropped.
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

    /// Changes the interest of a registration (no system call if it is unchanged).
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown or stale key; the OS's error if it refuses the change, in
    /// which case the registration is removed and its source and data dropped (as Python's
    /// selectors remove the key).
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
    pub fn unregister(&mut self, key: SelectorKey) -> io::Result<(S, T)> {
        self.entry(key).ok_or_else(|| Self::not_found(key))?;
        let entry = self.entries.remove(key.slot as usize);
        self.by_source.remove(&entry.source.raw_source());
        self.selector.unregister(entry.source.as_source())?;
        Ok((entry.source, entry.data))
    }

    /// The key under which `source`'s descriptor is registered (Python's `get_key`).
    pub fn find<R: Source + ?Sized>(&self, source: &R) -> Option<SelectorKey> {
        let slot = *self.by_source.get(&source.raw_source())?;
        let generation = self.entries.get(slot)?.generation;
        Some(SelectorKey {
            slot: slot as u32,
            generation,
        })
    }

    /// Whether `key` is registered.
    pub fn contains(&self, key: SelectorKey) -> bool {
        self.entry(key).is_some()
    }

    /// The registered source.
    pub fn source(&self, key: SelectorKey) -> Option<&S> {
        self.entry(key).map(|entry| &entry.source)
    }

    /// The registered interest.
    pub fn interest(&self, key: SelectorKey) -> Option<Interest> {
        self.entry(key).map(|entry| entry.interest)
    }

    /// The data.
    pub fn data(&self, key: SelectorKey) -> Option<&T> {
        self.entry(key).map(|entry| &entry.data)
    }

    /// The data, mutably.
    pub fn data_mut(&mut self, key: SelectorKey) -> Option<&mut T> {
        self.entry_mut(key).map(|entry| &mut entry.data)
    }

    /// The source (shared: it stays registered, so it cannot be replaced) and the data
    /// (mutable) together.
    pub fn get_mut(&mut self, key: SelectorKey) -> Option<(&S, &mut T)> {
        self.entry_mut(key)
            .map(|entry| (&entry.source, &mut entry.data))
    }

    /// How many sources are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every registration (Python's `get_map()`), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (SelectorKey, &S, Interest, &T)> + '_ {
        self.entries.iter().map(|(slot, entry)| {
            let key = SelectorKey {
                slot: slot as u32,
                generation: entry.generation,
            };
            (key, &entry.source, entry.interest, &entry.data)
        })
    }

    /// A handle that wakes a blocking [`select`](Self::select) from another thread.
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
