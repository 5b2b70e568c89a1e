//! [`Interest`]: which readiness a registration asks for, and which an event reports.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The readiness a source is registered for (Python's `EVENT_READ` / `EVENT_WRITE`), and the
/// readiness an [`Event`](super::Event) reports.
///
/// Values combine with `|`. Unlike Python's selectors, [`Interest::NONE`] is a valid
/// registration: the source stays registered but reports nothing (the event loop parks a
/// channel this way instead of unregistering it).
///
/// # Examples
///
/// ```
/// use ioloop::selector::Interest;
///
/// let both = Interest::READ | Interest::WRITE;
/// assert_eq!(both, Interest::BOTH);
/// assert!(both.is_readable() && both.is_writable());
/// assert!(Interest::NONE.is_none());
/// assert_eq!(both.remove(Interest::WRITE), Interest::READ);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

const READ: u8 = 0b01;
const WRITE: u8 = 0b10;

impl Interest {
    /// Neither readable nor writable: registered, but parked.
    pub const NONE: Interest = Interest(0);
    /// Readable (Python's `EVENT_READ`).
    pub const READ: Interest = Interest(READ);
    /// Writable (Python's `EVENT_WRITE`).
    pub const WRITE: Interest = Interest(WRITE);
    /// Readable and writable.
    pub const BOTH: Interest = Interest(READ | WRITE);

    /// Builds an interest from two flags.
    pub const fn new(readable: bool, writable: bool) -> Interest {
        Interest((if readable { READ } else { 0 }) | (if writable { WRITE } else { 0 }))
    }

    /// Whether readability is included.
    pub const fn is_readable(self) -> bool {
        self.0 & READ != 0
    }

    /// Whether writability is included.
    pub const fn is_writable(self) -> bool {
        self.0 & WRITE != 0
    }

    /// Whether this is [`Interest::NONE`].
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// This interest with `other`'s flags added.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// This interest without `other`'s flags.
    pub const fn remove(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }

    /// The flags present in both.
    pub const fn intersect(self, other: Interest) -> Interest {
        Interest(self.0 & other.0)
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        *self = self.add(other);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            0 => "NONE",
            READ => "READ",
            WRITE => "WRITE",
            _ => "READ | WRITE",
        })
    }
}
