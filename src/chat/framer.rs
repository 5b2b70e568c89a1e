//! [`Framer`]: asynchat's terminator machine (`handle_read`'s loop), without I/O.
//!
//! Input goes into the framer's buffer; [`Framer::advance`] hands each byte that belongs to
//! the current message to a `collect` callback (asynchat's `collect_incoming_data`) and says
//! when a message is complete (asynchat's `found_terminator`). Between two calls the
//! terminator may change, and the change applies to the bytes already buffered, as in
//! Python. The framer never holds more than one read of unprocessed input: what it has
//! scanned it hands on, except a possible partial terminator at the end.
//!
//! Searching uses `memchr::memmem` (SIMD); no per-byte loop touches the data.

use std::fmt;
use std::io;

use memchr::memmem;

use super::terminator::{LengthPrefix, Terminator};

/// What [`Framer::advance`] found.
///
/// # Examples
///
/// ```
/// use ioloop::chat::{Framer, Progress, Terminator};
///
/// let mut framer = Framer::new(Terminator::bytes(b"\n"));
/// framer.push(b"one\ntwo\nthr");
/// let (mut messages, mut current) = (Vec::new(), Vec::new());
/// while framer.advance(&mut |data| current.extend_from_slice(data))? == Progress::Frame {
///     messages.push(std::mem::take(&mut current));
/// }
/// assert_eq!(messages, [b"one", b"two"]);
/// assert_eq!(current, b"thr"); // NeedMore: the rest of the message is still to come
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A message is complete: its bytes went to `collect`; deliver it.
    Frame,
    /// All buffered input was consumed (or is a partial terminator or header): read more.
    NeedMore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrefixState {
    Header,
    Body { left: usize },
}

/// asynchat's terminator machine without I/O: push input, then [`advance`](Self::advance)
/// hands message bytes to `collect` and says when a message is complete. The terminator
/// may change between calls and applies to the bytes already buffered.
///
/// # Examples
///
/// ```
/// use ioloop::chat::{Framer, Progress, Terminator};
///
/// let mut framer = Framer::new(Terminator::bytes(b"\r\n"));
/// let mut message = Vec::new();
/// framer.push(b"hello\r");
/// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::NeedMore);
/// framer.push(b"\nworld");
/// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::Frame);
/// assert_eq!(message, b"hello");
/// # std::io::Result::Ok(())
/// ```
pub struct Framer {
    terminator: Terminator,
    finder: Option<memmem::Finder<'static>>,
    /// For `Count`: bytes still wanted (0: spent).
    count_left: usize,
    prefix_state: PrefixState,
    /// The longest length-prefixed frame accepted (header included).
    max_frame: usize,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Framer {
    /// A framer with `terminator` and no frame-size limit.
    pub fn new(terminator: Terminator) -> Framer {
        let mut framer = Framer {
            terminator: Terminator::None,
            finder: None,
            count_left: 0,
            prefix_state: PrefixState::Header,
            max_frame: usize::MAX,
            buf: Vec::new(),
            start: 0,
            end: 0,
        };
        framer.set_terminator(terminator);
        framer
    }

    /// Changes the terminator; applies to input already buffered. A count starts afresh.
    pub fn set_terminator(&mut self, terminator: Terminator) {
        self.finder = match &terminator {
            Terminator::Bytes(bytes) => Some(memmem::Finder::new(bytes).into_owned()),
            _ => None,
        };
        self.count_left = match terminator {
            Terminator::Count(count) => count,
            _ => 0,
        };
        self.prefix_state = PrefixState::Header;
        self.terminator = terminator;
    }

    /// The current terminator. A spent count still reads as `Count(n)`; see
    /// [`count_left`](Self::count_left).
    pub fn terminator(&self) -> &Terminator {
        &self.terminator
    }

    /// For a count terminator, the bytes still wanted (0 once the message was delivered).
    pub fn count_left(&self) -> usize {
        self.count_left
    }

    /// Refuses length-prefixed frames longer than `max` bytes (header included) as soon as
    /// their header arrives, before buffering them.
    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max;
    }

    /// Appends input.
    pub fn push(&mut self, data: &[u8]) {
        let spare = self.spare(data.len());
        spare[..data.len()].copy_from_slice(data);
        self.filled(data.len());
    }

    /// At least `want` bytes of room after the buffered input, to read into; then call
    /// [`filled`](Self::filled) with what was written.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            if self.buf.capacity() == 0 {
                self.buf = super::pool::take(want);
            }
            self.buf.resize(self.end + want, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of [`spare`](Self::spare) as input.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Frees the input buffer if it holds nothing, so an idle channel keeps no memory.
    pub fn release_if_empty(&mut self) {
        if self.start == self.end && self.buf.capacity() > 0 {
            super::pool::give(std::mem::take(&mut self.buf));
            self.start = 0;
            self.end = 0;
        }
    }

    /// Bytes buffered and not yet handed on.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Drops buffered input (asynchat's `discard_buffers`, input side).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.prefix_state = PrefixState::Header;
    }

    /// Runs the terminator machine over the buffered input until a message completes or the
    /// input runs out, handing message bytes to `collect`.
    ///
    /// # Errors
    ///
    /// `InvalidData` for a length-prefixed header that gives an impossible size or one over
    /// the [maximum](Self::set_max_frame); the framer should not be used afterwards.
    pub fn advance(&mut self, collect: &mut dyn FnMut(&[u8])) -> io::Result<Progress> {
        loop {
            let available = &self.buf[self.start..self.end];
            if available.is_empty() {
                return Ok(Progress::NeedMore);
            }
            match &self.terminator {
                Terminator::None => {
                    collect(available);
                    self.start = self.end;
                }
                Terminator::Count(_) => {
                    if self.count_left == 0 {
                        // A spent count: Python collects everything, delivers nothing.
                        collect(available);
                        self.start = self.end;
                        continue;
                    }
                    let n = available.len().min(self.count_left);
                    collect(&available[..n]);
                    self.start += n;
                    self.count_left -= n;
                    if self.count_left == 0 {
                        return Ok(Progress::Frame);
                    }
                }
                Terminator::Bytes(terminator) => {
                    let finder = self
                        .finder
                        .as_ref()
                        .expect("a bytes terminator has a finder");
                    // A one-byte terminator (a line's `\n`): memchr itself, without the
                    // substring searcher's set-up per call.
                    let found = match terminator[..] {
                        [byte] => memchr::memchr(byte, available),
                        _ => finder.find(available),
                    };
                    if let Some(index) = found {
                        if index > 0 {
                            collect(&available[..index]);
                        }
                        self.start += index + terminator.len();
                        return Ok(Progress::Frame);
                    }
                    // Keep a possible start of the terminator; hand on the rest.
                    let keep = prefix_at_end(available, terminator);
                    let n = available.len() - keep;
                    if n > 0 {
                        collect(&available[..n]);
                        self.start += n;
                    }
                    return Ok(Progress::NeedMore);
                }
                Terminator::LengthPrefixed(prefix) => {
                    let prefix = *prefix;
                    match self.prefix_state {
                        PrefixState::Header => {
                            let header_len = prefix.header_len();
                            if available.len() < header_len {
                                return Ok(Progress::NeedMore);
                            }
                            let body = self.checked_body(&prefix, &available[..header_len])?;
                            if prefix.keep_header {
                                collect(&available[..header_len]);
                            }
                            self.start += header_len;
                            if body == 0 {
                                return Ok(Progress::Frame);
                            }
                            self.prefix_state = PrefixState::Body { left: body };
                        }
                        PrefixState::Body { left } => {
                            let n = available.len().min(left);
                            collect(&available[..n]);
                            self.start += n;
                            if n == left {
                                self.prefix_state = PrefixState::Header;
                                return Ok(Progress::Frame);
                            }
                            self.prefix_state = PrefixState::Body { left: left - n };
                        }
                    }
                }
            }
        }
    }

    fn checked_body(&self, prefix: &LengthPrefix, header: &[u8]) -> io::Result<usize> {
        let body = prefix.body_len(header)?;
        let frame = body.saturating_add(prefix.header_len());
        if frame > self.max_frame {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a frame of {frame} bytes is over the limit of {}",
                    self.max_frame
                ),
            ));
        }
        Ok(body)
    }
}

impl fmt::Debug for Framer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framer")
            .field("terminator", &self.terminator)
            .field("count_left", &self.count_left)
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

/// The length of the longest proper prefix of `needle` that `haystack` ends with (asynchat's
/// `find_prefix_at_end`): `("qwerty\r", "\r\n")` → 1. Only the last `needle.len() - 1`
/// bytes are looked at, by `memchr` for the needle's first byte.
///
/// # Examples
///
/// ```
/// use ioloop::chat::prefix_at_end;
///
/// assert_eq!(prefix_at_end(b"qwerty\r", b"\r\n"), 1); // keep the `\r`: a `\n` may follow
/// assert_eq!(prefix_at_end(b"qwerty", b"\r\n"), 0);
/// ```
pub fn prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
    let Some(&first) = needle.first() else {
        return 0;
    };
    let window = haystack.len().min(needle.len() - 1);
    let tail = &haystack[haystack.len() - window..];
    // The earliest candidate gives the longest prefix.
    for at in memchr::memchr_iter(first, tail) {
        let candidate = &tail[at..];
        if needle.starts_with(candidate) {
            return candidate.len();
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_prefix_at_end_matches_python() {
        assert_eq!(prefix_at_end(b"qwerty\r", b"\r\n"), 1);
        assert_eq!(prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
        assert_eq!(prefix_at_end(b"ab\r\n\r", b"\r\n\r\n"), 3);
        assert_eq!(prefix_at_end(b"", b"\r\n"), 0);
        assert_eq!(
            prefix_at_end(b"x", b"x"),
            0,
            "a whole needle is no proper prefix"
        );
    }

    fn frames(framer: &mut Framer, input: &[u8]) -> Vec<Vec<u8>> {
        framer.push(input);
        let mut out = Vec::new();
        let mut message = Vec::new();
        while framer
            .advance(&mut |data| message.extend_from_slice(data))
            .unwrap()
            == Progress::Frame
        {
            out.push(std::mem::take(&mut message));
        }
        out
    }

    #[test]
    fn consecutive_terminators_give_empty_messages() {
        let mut framer = Framer::new(Terminator::bytes(b"\n"));
        let got = frames(&mut framer, b"hello world\n\nI'm not dead yet!\n");
        assert_eq!(
            got,
            vec![
                b"hello world".to_vec(),
                b"".to_vec(),
                b"I'm not dead yet!".to_vec()
            ]
        );
    }

    #[test]
    fn a_spent_count_delivers_nothing_more() {
        let mut framer = Framer::new(Terminator::count(3).unwrap());
        assert_eq!(frames(&mut framer, b"abcdef"), vec![b"abc".to_vec()]);
        assert_eq!(framer.count_left(), 0);
        assert_eq!(
            framer.buffered(),
            0,
            "the rest was collected, as Python does"
        );
    }

    #[test]
    fn length_prefix_frames_keep_or_strip_the_header() {
        let prefix = LengthPrefix::new(2);
        let mut kept = Framer::new(Terminator::length_prefixed(prefix).unwrap());
        assert_eq!(
            frames(&mut kept, b"\x00\x03abc\x00\x00"),
            vec![b"\x00\x03abc".to_vec(), b"\x00\x00".to_vec()]
        );
        let mut stripped =
            Framer::new(Terminator::length_prefixed(prefix.keep_header(false)).unwrap());
        assert_eq!(frames(&mut stripped, b"\x00\x03abc"), vec![b"abc".to_vec()]);
    }

    #[test]
    fn an_oversized_or_impossible_frame_is_invalid_data() {
        let smpp = LengthPrefix::new(4).adjustment(-4);
        let mut framer = Framer::new(Terminator::length_prefixed(smpp).unwrap());
        framer.set_max_frame(64 * 1024);
        framer.push(&[0x7f, 0xff, 0xff, 0xff]);
        let error = framer.advance(&mut |_| {}).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let mut framer = Framer::new(Terminator::length_prefixed(smpp).unwrap());
        framer.push(&[0, 0, 0, 2]);
        assert_eq!(
            framer.advance(&mut |_| {}).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn zero_counts_and_odd_widths_are_refused() {
        assert_eq!(
            Terminator::count(0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(Terminator::length_prefixed(LengthPrefix::new(3)).is_err());
    }
}
