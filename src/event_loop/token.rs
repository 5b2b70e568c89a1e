//! [`Token`]: a channel's name, safe against slot reuse.

use std::fmt;

/// Names one channel of an [`EventLoop`](crate::EventLoop): a slot index and the slot's
/// generation, packed into the selector key. A token of a closed channel stays stale even
/// after its slot is reused: lookups and events for it are ignored.
///
/// [`EventLoop::spawn`](crate::EventLoop::spawn), [`Context::spawn`](crate::Context::spawn)
/// and `connect` return it; keep it to reach the channel later
/// ([`Context::get_mut`](crate::Context::get_mut),
/// [`close_channel`](crate::Context::close_channel),
/// [`call_later_for`](crate::Context::call_later_for)) where asyncore code kept a
/// reference to the dispatcher object.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, UdpSocket};
/// use ioloop::{Dispatcher, EventLoop};
///
/// struct Idle;
/// impl Dispatcher for Idle {}
///
/// let mut event_loop = EventLoop::new()?;
/// let first = event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Idle)?;
/// event_loop.close(first);
/// let second = event_loop.spawn(UdpSocket::bind("127.0.0.1:0")?, Idle)?;
/// assert_ne!(first, second); // even if the second reuses the first one's slot
/// assert!(event_loop.get_mut::<Idle>(first).is_none()); // stale: reaches nothing
/// assert!(event_loop.get_mut::<Idle>(second).is_some());
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    pub(crate) slot: usize,
    pub(crate) generation: usize,
}

/// Half of a `usize` holds the slot, the other half the generation.
const SLOT_BITS: u32 = usize::BITS / 2;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;

impl Token {
    pub(crate) fn new(slot: usize, generation: usize) -> Token {
        Token {
            slot,
            generation: generation & SLOT_MASK,
        }
    }

    /// The largest slot a token can name.
    pub(crate) const MAX_SLOT: usize = SLOT_MASK;

    pub(crate) fn to_key(self) -> usize {
        (self.generation << SLOT_BITS) | self.slot
    }

    pub(crate) fn from_key(key: usize) -> Token {
        Token {
            slot: key & SLOT_MASK,
            generation: key >> SLOT_BITS,
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}v{})", self.slot, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_generations_wrap() {
        let token = Token::new(12, 7);
        assert_eq!(Token::from_key(token.to_key()), token);
        let wrapped = Token::new(3, SLOT_MASK + 2);
        assert_eq!(wrapped.generation, 1);
        assert_eq!(Token::from_key(wrapped.to_key()), wrapped);
    }
}
