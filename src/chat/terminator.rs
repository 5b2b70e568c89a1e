//! [`Terminator`]: how a chat channel cuts its input into messages (asynchat's
//! `set_terminator`), with the length-prefixed framing binary protocols need.

use std::fmt;
use std::io;

/// Byte order of a length field (Python's `struct` format `">"` or `"<"`).
///
/// # Examples
///
/// ```
/// use ioloop::chat::{ByteOrder, Framer, LengthPrefix, Progress, Terminator};
///
/// // A 2-byte little-endian length: 0x0003.
/// let prefix = LengthPrefix::new(2).order(ByteOrder::Little).keep_header(false);
/// let mut framer = Framer::new(Terminator::length_prefixed(prefix)?);
/// framer.push(&[3, 0, b'a', b'b', b'c']);
/// let mut body = Vec::new();
/// assert_eq!(framer.advance(&mut |data| body.extend_from_slice(data))?, Progress::Frame);
/// assert_eq!(body, b"abc");
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Most significant byte first (network order: SMPP, most protocols).
    Big,
    /// Least significant byte first.
    Little,
}

/// A length-prefixed frame layout, in the vocabulary of tokio-util's `LengthDelimitedCodec`:
/// `offset` bytes, then a `width`-byte length field, then the rest of the frame, whose size is
/// the field's value plus `adjustment`.
///
/// SMPP's `command_length` counts the whole PDU, its own four bytes included:
/// `LengthPrefix::new(4).adjustment(-4)`, with the header kept.
///
/// # Examples
///
/// A type byte, then a 2-byte length of the payload; the handler wants the payload only:
///
/// ```
/// use ioloop::chat::{Framer, LengthPrefix, Progress, Terminator};
///
/// let prefix = LengthPrefix::new(2).offset(1).keep_header(false);
/// assert_eq!(prefix.header_len(), 3);
/// let mut framer = Framer::new(Terminator::length_prefixed(prefix)?);
/// framer.push(&[7, 0, 3, b'a', b'b', b'c']);
/// let mut payload = Vec::new();
/// assert_eq!(framer.advance(&mut |data| payload.extend_from_slice(data))?, Progress::Frame);
/// assert_eq!(payload, b"abc");
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LengthPrefix {
    pub(crate) offset: usize,
    pub(crate) width: usize,
    pub(crate) order: ByteOrder,
    pub(crate) adjustment: i64,
    pub(crate) keep_header: bool,
}

impl LengthPrefix {
    /// A `width`-byte big-endian length at offset 0 counting the bytes after it; the header
    /// is kept in the message. `width` must be 1, 2, 4 or 8 (checked by
    /// [`Terminator::length_prefixed`]).
    pub const fn new(width: usize) -> LengthPrefix {
        LengthPrefix {
            offset: 0,
            width,
            order: ByteOrder::Big,
            adjustment: 0,
            keep_header: true,
        }
    }

    /// Bytes before the length field (they belong to the header).
    pub const fn offset(mut self, offset: usize) -> LengthPrefix {
        self.offset = offset;
        self
    }

    /// The length field's byte order.
    pub const fn order(mut self, order: ByteOrder) -> LengthPrefix {
        self.order = order;
        self
    }

    /// Added to the field's value to get the number of bytes after the header (negative when
    /// the field counts the header too).
    pub const fn adjustment(mut self, adjustment: i64) -> LengthPrefix {
        self.adjustment = adjustment;
        self
    }

    /// Whether the message handed to `found_terminator` starts with the header (default) or
    /// only holds what follows it.
    pub const fn keep_header(mut self, keep: bool) -> LengthPrefix {
        self.keep_header = keep;
        self
    }

    /// The header's size: offset plus the field.
    pub const fn header_len(&self) -> usize {
        self.offset + self.width
    }

    /// The size of the rest of the frame from a complete header.
    pub(crate) fn body_len(&self, header: &[u8]) -> io::Result<usize> {
        let field = &header[self.offset..self.offset + self.width];
        let mut value: u64 = 0;
        match self.order {
            ByteOrder::Big => {
                for &byte in field {
                    value = (value << 8) | u64::from(byte);
                }
            }
            ByteOrder::Little => {
                for &byte in field.iter().rev() {
                    value = (value << 8) | u64::from(byte);
                }
            }
        }
        let body = i128::from(value) + i128::from(self.adjustment);
        usize::try_from(body).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "length field {value} with adjustment {} gives an impossible frame size",
                    self.adjustment
                ),
            )
        })
    }
}

/// Where a chat channel's messages end (asynchat's terminator).
///
/// | Python | ioloop |
/// |---|---|
/// | `set_terminator(b'\r\n')` | [`Terminator::bytes(b"\r\n")`](Terminator::bytes) (any length; found even when split across reads) |
/// | `set_terminator(1024)` | [`Terminator::count(1024)`](Terminator::count) (a zero count is refused) |
/// | `set_terminator(None)` | [`Terminator::None`]: everything goes to `collect_incoming_data`, no `found_terminator` |
/// | (by hand) | [`Terminator::length_prefixed`]: binary frames such as SMPP PDUs |
///
/// A channel starts with one ([`AsyncChat::new`](super::AsyncChat::new) takes anything that
/// converts: `b"\r\n"`, `"\n"`, a `Terminator`) and changes it with
/// [`ChatChannel::set_terminator`](super::ChatChannel::set_terminator).
///
/// # Examples
///
/// ```
/// use ioloop::chat::{LengthPrefix, Terminator};
///
/// let lines: Terminator = b"\r\n".into(); // set_terminator(b"\r\n")
/// assert_eq!(lines, Terminator::Bytes(b"\r\n".to_vec()));
/// let block = Terminator::count(1024)?; // set_terminator(1024)
/// let raw = Terminator::None; // set_terminator(None)
/// let smpp = Terminator::length_prefixed(LengthPrefix::new(4).adjustment(-4))?;
/// # let _ = (block, raw, smpp);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Terminator {
    /// No terminator: data is only collected.
    None,
    /// A byte string ending each message (stripped from it).
    Bytes(Vec<u8>),
    /// A message of exactly this many bytes; after it, the count stays spent (data is
    /// collected, nothing more is delivered) until the terminator is set again — Python's
    /// behaviour.
    Count(usize),
    /// Length-prefixed frames.
    LengthPrefixed(LengthPrefix),
}

impl Terminator {
    /// A byte-string terminator; an empty string means [`Terminator::None`], as in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::Terminator;
    ///
    /// // Python: set_terminator(b"\r\n")
    /// assert_eq!(Terminator::bytes("\r\n"), Terminator::Bytes(b"\r\n".to_vec()));
    /// // Python: set_terminator(b"") is no terminator at all
    /// assert_eq!(Terminator::bytes(""), Terminator::None);
    /// ```
    pub fn bytes(terminator: impl Into<Vec<u8>>) -> Terminator {
        let terminator = terminator.into();
        if terminator.is_empty() {
            Terminator::None
        } else {
            Terminator::Bytes(terminator)
        }
    }

    /// A count terminator.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for zero (Python refuses negative counts; a zero count would deliver
    /// empty messages forever). A body of length 0 (HTTP's `Content-Length: 0`) has no
    /// message to wait for: handle it without switching to a count. A count above
    /// [`ChatConfig::max_message`](super::ChatConfig::max_message) is an over-long message
    /// (an error, or discarded to its end under
    /// [`Overflow::Discard`](super::Overflow::Discard)): raise the limit for large bodies
    /// ([`ChatChannel::set_max_message`](super::ChatChannel::set_max_message)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::chat::{Framer, Progress, Terminator};
    ///
    /// // Python: set_terminator(3): the next message is exactly 3 bytes.
    /// let mut framer = Framer::new(Terminator::count(3)?);
    /// framer.push(b"abcdef");
    /// let mut message = Vec::new();
    /// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::Frame);
    /// assert_eq!(message, b"abc");
    /// assert_eq!(Terminator::count(0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    /// # io::Result::Ok(())
    /// ```
    pub fn count(count: usize) -> io::Result<Terminator> {
        if count == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a count terminator must be at least 1",
            ));
        }
        Ok(Terminator::Count(count))
    }

    /// A length-prefixed terminator.
    ///
    /// # Errors
    ///
    /// `InvalidInput` unless the field width is 1, 2, 4 or 8.
    ///
    /// # Examples
    ///
    /// SMPP: a 4-byte big-endian `command_length` that counts the whole PDU.
    ///
    /// ```
    /// use ioloop::chat::{Framer, LengthPrefix, Progress, Terminator};
    ///
    /// let smpp = Terminator::length_prefixed(LengthPrefix::new(4).adjustment(-4))?;
    /// let mut framer = Framer::new(smpp);
    /// framer.push(&[0, 0, 0, 6, b'h', b'i', 0, 0]); // one PDU and the start of the next
    /// let mut pdu = Vec::new();
    /// assert_eq!(framer.advance(&mut |data| pdu.extend_from_slice(data))?, Progress::Frame);
    /// assert_eq!(pdu, [0, 0, 0, 6, b'h', b'i']); // the header is kept
    /// assert!(Terminator::length_prefixed(LengthPrefix::new(3)).is_err());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn length_prefixed(prefix: LengthPrefix) -> io::Result<Terminator> {
        if !matches!(prefix.width, 1 | 2 | 4 | 8) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a length field is 1, 2, 4 or 8 bytes wide, not {}",
                    prefix.width
                ),
            ));
        }
        Ok(Terminator::LengthPrefixed(prefix))
    }
}

impl fmt::Debug for Terminator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Terminator::None => f.write_str("None"),
            Terminator::Bytes(bytes) => write!(f, "Bytes({:?})", String::from_utf8_lossy(bytes)),
            Terminator::Count(count) => write!(f, "Count({count})"),
            Terminator::LengthPrefixed(prefix) => write!(f, "LengthPrefixed({prefix:?})"),
        }
    }
}

impl From<&[u8]> for Terminator {
    fn from(bytes: &[u8]) -> Terminator {
        Terminator::bytes(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for Terminator {
    fn from(bytes: &[u8; N]) -> Terminator {
        Terminator::bytes(&bytes[..])
    }
}

impl From<&str> for Terminator {
    fn from(text: &str) -> Terminator {
        Terminator::bytes(text.as_bytes())
    }
}
