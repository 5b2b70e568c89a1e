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
//!
//! A message over the limit can be discarded instead of failing ([`Overflow::Discard`]): the
//! framer then counts the rest of it as it arrives instead of handing it on, up to and
//! including its terminator, so memory stays at one read whatever the peer sends. That path
//! is separate from the delivering one, which it costs one test per `advance`.

use std::fmt;
use std::io;

use memchr::memmem;

use super::terminator::Terminator;

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

/// What a chat channel does with a message over its limit
/// ([`ChatConfig::max_message`](super::ChatConfig::max_message), or a length-prefixed frame
/// over [`Framer::set_max_frame`]).
///
/// Python's asynchat had no limit; `smtpd` counted the bytes of a line by hand, dropped
/// the rest of an over-long one and answered `500 Error: line too long` once it ended:
/// that is [`Discard`](Overflow::Discard).
///
/// # Examples
///
/// ```
/// use ioloop::chat::{Framer, Overflow, Progress, Terminator};
///
/// let mut framer = Framer::new(Terminator::bytes(b"\n"));
/// framer.set_overflow(Overflow::Discard);
/// framer.push(b"0123456789abcdef"); // over a 10-byte limit, so far without its end
/// let mut message = Vec::new();
/// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::NeedMore);
/// assert!(message.len() > 10);
/// framer.discard_message(message.len()); // the rest is counted, not handed on
/// message.clear();
/// framer.push(b"more of it\nnext\n");
/// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::Frame);
/// assert_eq!(framer.take_discarded(), Some(26)); // the over-long line, terminator excluded
/// assert!(message.is_empty());
/// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::Frame);
/// assert_eq!(framer.take_discarded(), None); // a message delivered as usual
/// assert_eq!(message, b"next");
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// An `InvalidData` error: the channel closes (the default, and the only behaviour
    /// before this policy existed).
    #[default]
    Close,
    /// The rest of the message is discarded as it arrives, up to and including its
    /// terminator; then the handler is told
    /// ([`ChatHandler::message_too_long`](super::ChatHandler::message_too_long)) and the
    /// session goes on with the next message. A length-prefixed frame is skipped whole, by
    /// its declared length, without buffering it.
    Discard,
}

/// What one pass of the terminator machine found (the delivering and the discarding paths
/// share it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Frame,
    NeedMore,
    /// A length-prefixed header declared a frame over the limit and the policy is to
    /// discard: the framer is now discarding it.
    Discard,
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
    /// The searcher of a terminator of several bytes, kept across `set_terminator` while the
    /// bytes stay the same. Boxed and made only for such terminators: it is 288 bytes, and a
    /// one-byte terminator (a line's `\n`) is found with memchr, so a line channel does not
    /// carry it.
    finder: Option<Box<memmem::Finder<'static>>>,
    /// For `Count`: bytes still wanted (0: spent).
    count_left: usize,
    prefix_state: PrefixState,
    /// The longest length-prefixed frame accepted (header included).
    max_frame: usize,
    overflow: Overflow,
    /// While a message is discarded: its bytes so far.
    discarding: Option<usize>,
    /// The size of the discarded message that the last `Frame` ended.
    discarded: Option<usize>,
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
            overflow: Overflow::Close,
            discarding: None,
            discarded: None,
            buf: Vec::new(),
            start: 0,
            end: 0,
        };
        framer.set_terminator(terminator);
        framer
    }

    /// Changes the terminator; applies to input already buffered. A count starts afresh.
    pub fn set_terminator(&mut self, terminator: Terminator) {
        if let Terminator::Bytes(bytes) = &terminator {
            let stale = self
                .finder
                .as_ref()
                .is_none_or(|finder| finder.needle() != &bytes[..]);
            if bytes.len() != 1 && stale {
                self.finder = Some(Box::new(memmem::Finder::new(bytes).into_owned()));
            }
        }
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
    /// their header arrives, before buffering them: an error, or with
    /// [`Overflow::Discard`] the frame is skipped (see [`set_overflow`](Self::set_overflow)).
    /// A new maximum applies from the next header on.
    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max;
    }

    /// What a length-prefixed frame over the [maximum](Self::set_max_frame) does: an
    /// `InvalidData` error ([`Overflow::Close`], the default), or with [`Overflow::Discard`]
    /// its bytes are counted as they arrive and never handed on, and the
    /// [`Progress::Frame`] that ends it has [`take_discarded`](Self::take_discarded) give
    /// its size. Skipping a huge declared length is bounded: the framer holds at most one
    /// read of it at a time.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::{Framer, LengthPrefix, Overflow, Progress, Terminator};
    ///
    /// let mut framer = Framer::new(Terminator::length_prefixed(LengthPrefix::new(2))?);
    /// framer.set_max_frame(8);
    /// framer.set_overflow(Overflow::Discard);
    /// framer.push(&[0, 10, b'0', b'1', b'2']); // a 12-byte frame: over the limit
    /// let mut message = Vec::new();
    /// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::NeedMore);
    /// framer.push(b"3456789");
    /// framer.push(&[0, 2, b'o', b'k']);
    /// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::Frame);
    /// assert_eq!(framer.take_discarded(), Some(12)); // header kept, so counted
    /// assert!(message.is_empty());
    /// assert_eq!(framer.advance(&mut |data| message.extend_from_slice(data))?, Progress::Frame);
    /// assert_eq!(message, [0, 2, b'o', b'k']);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_overflow(&mut self, overflow: Overflow) {
        self.overflow = overflow;
    }

    /// Discards the rest of the current message, of which `seen` bytes were already handed
    /// to `collect` (the caller found it over its limit): [`advance`](Self::advance) counts
    /// its remaining bytes instead of handing them on, up to and including its terminator
    /// (the current one when the bytes arrive), then returns [`Progress::Frame`] with
    /// [`take_discarded`](Self::take_discarded) giving the message's whole size. With no
    /// terminator ([`Terminator::None`], a spent count) the message never ends: everything
    /// is discarded until the terminator changes.
    pub fn discard_message(&mut self, seen: usize) {
        self.discarding = Some(self.discarding.unwrap_or(0).saturating_add(seen));
    }

    /// Whether the current message is being discarded.
    pub fn is_discarding(&self) -> bool {
        self.discarding.is_some()
    }

    /// After [`advance`](Self::advance) returned [`Progress::Frame`]: the size of the message
    /// it ended if that message was discarded (what `collect` would have received in all),
    /// `None` for a message delivered as usual. Reading it clears it.
    pub fn take_discarded(&mut self) -> Option<usize> {
        self.discarded.take()
    }

    /// Whether the current terminator can end a message: not [`Terminator::None`] nor a
    /// spent count (with those, a discarded message would never end).
    pub fn can_end_a_message(&self) -> bool {
        match self.terminator {
            Terminator::None => false,
            Terminator::Count(_) => self.count_left > 0,
            Terminator::Bytes(_) | Terminator::LengthPrefixed(_) => true,
        }
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

    /// Drops buffered input (asynchat's `discard_buffers`, input side), and the message
    /// being discarded with it.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.prefix_state = PrefixState::Header;
        self.discarding = None;
        self.discarded = None;
    }

    /// Runs the terminator machine over the buffered input until a message completes or the
    /// input runs out, handing message bytes to `collect`.
    ///
    /// While a message is [discarded](Self::discard_message), its bytes go to no one, and the
    /// `Frame` that ends it is marked (see [`take_discarded`](Self::take_discarded)).
    ///
    /// # Errors
    ///
    /// `InvalidData` for a length-prefixed header that gives an impossible size or one over
    /// the [maximum](Self::set_max_frame) with [`Overflow::Close`]; the framer should not be
    /// used afterwards.
    pub fn advance(&mut self, collect: &mut dyn FnMut(&[u8])) -> io::Result<Progress> {
        if self.discarding.is_none() {
            match self.scan(collect)? {
                Step::Frame => return Ok(Progress::Frame),
                Step::NeedMore => return Ok(Progress::NeedMore),
                Step::Discard => {} // an over-long frame's header: skip the frame
            }
        }
        self.advance_discarding()
    }

    /// The discarding path: the same machine with a sink that only counts. Kept out of
    /// line, so the delivering path stays as small as it was.
    #[inline(never)]
    fn advance_discarding(&mut self) -> io::Result<Progress> {
        loop {
            if self.prefix_state == (PrefixState::Body { left: 0 }) {
                // An over-long header with nothing after it: the frame ends there.
                self.prefix_state = PrefixState::Header;
                self.discarded = self.discarding.take();
                return Ok(Progress::Frame);
            }
            let mut seen = 0usize;
            let step = self.scan(&mut |data| seen += data.len());
            self.discard_message(seen);
            match step? {
                Step::Frame => {
                    self.discarded = self.discarding.take();
                    return Ok(Progress::Frame);
                }
                Step::NeedMore => return Ok(Progress::NeedMore),
                Step::Discard => {}
            }
        }
    }

    /// Runs the terminator machine until a message completes, the input runs out, or an
    /// over-long frame is to be discarded.
    #[inline]
    fn scan(&mut self, collect: &mut dyn FnMut(&[u8])) -> io::Result<Step> {
        loop {
            let available = &self.buf[self.start..self.end];
            if available.is_empty() {
                return Ok(Step::NeedMore);
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
                        return Ok(Step::Frame);
                    }
                }
                Terminator::Bytes(terminator) => {
                    // A one-byte terminator (a line's `\n`): memchr itself, without the
                    // substring searcher's set-up per call.
                    let found = match terminator[..] {
                        [byte] => memchr::memchr(byte, available),
                        _ => self
                            .finder
                            .as_ref()
                            .expect("a terminator of several bytes has a finder")
                            .find(available),
                    };
                    if let Some(index) = found {
                        if index > 0 {
                            collect(&available[..index]);
                        }
                        self.start += index + terminator.len();
                        return Ok(Step::Frame);
                    }
                    // Keep a possible start of the terminator; hand on the rest.
                    let keep = prefix_at_end(available, terminator);
                    let n = available.len() - keep;
                    if n > 0 {
                        collect(&available[..n]);
                        self.start += n;
                    }
                    return Ok(Step::NeedMore);
                }
                Terminator::LengthPrefixed(prefix) => {
                    let prefix = *prefix;
                    match self.prefix_state {
                        PrefixState::Header => {
                            let header_len = prefix.header_len();
                            if available.len() < header_len {
                                return Ok(Step::NeedMore);
                            }
                            let body = prefix.body_len(&available[..header_len])?;
                            let frame = body.saturating_add(header_len);
                            if frame > self.max_frame {
                                self.over_limit(frame)?;
                                // Discard: the header is counted as `collect` would have
                                // had it, and the body is skipped as it comes.
                                let kept = if prefix.keep_header { header_len } else { 0 };
                                self.start += header_len;
                                self.discard_message(kept);
                                self.prefix_state = PrefixState::Body { left: body };
                                return Ok(Step::Discard);
                            }
                            if prefix.keep_header {
                                collect(&available[..header_len]);
                            }
                            self.start += header_len;
                            if body == 0 {
                                return Ok(Step::Frame);
                            }
                            self.prefix_state = PrefixState::Body { left: body };
                        }
                        PrefixState::Body { left } => {
                            let n = available.len().min(left);
                            collect(&available[..n]);
                            self.start += n;
                            if n == left {
                                self.prefix_state = PrefixState::Header;
                                return Ok(Step::Frame);
                            }
                            self.prefix_state = PrefixState::Body { left: left - n };
                        }
                    }
                }
            }
        }
    }

    /// A frame over the maximum: the error, unless the policy is to discard it.
    #[cold]
    fn over_limit(&self, frame: usize) -> io::Result<()> {
        match self.overflow {
            Overflow::Discard => Ok(()),
            Overflow::Close => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a frame of {frame} bytes is over the limit of {}",
                    self.max_frame
                ),
            )),
        }
    }
}

impl fmt::Debug for Framer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framer")
            .field("terminator", &self.terminator)
            .field("count_left", &self.count_left)
            .field("discarding", &self.discarding)
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
    use crate::chat::LengthPrefix;

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

    /// The searcher of a terminator of several bytes is made only for such terminators,
    /// kept while the bytes stay the same, and replaced when they change; each terminator in
    /// turn still cuts the input where it should.
    #[test]
    fn terminators_of_several_bytes_get_their_own_searcher() {
        let mut framer = Framer::new(Terminator::bytes(b"\n"));
        assert!(framer.finder.is_none(), "a line needs no searcher");
        framer.set_terminator(Terminator::bytes(b"\r\n"));
        assert_eq!(frames(&mut framer, b"EHLO x\r\n"), vec![b"EHLO x".to_vec()]);
        let first = framer.finder.as_deref().map(|finder| finder as *const _);
        framer.set_terminator(Terminator::count(2).unwrap());
        framer.set_terminator(Terminator::bytes(b"\r\n"));
        let kept = framer.finder.as_deref().map(|finder| finder as *const _);
        assert_eq!(first, kept, "the same bytes keep their searcher");
        framer.set_terminator(Terminator::bytes(b"\r\n.\r\n"));
        assert_eq!(
            frames(&mut framer, b"a\r\nb\r\n.\r\n"),
            vec![b"a\r\nb".to_vec()]
        );
        framer.set_terminator(Terminator::bytes(b"\n"));
        assert_eq!(frames(&mut framer, b"QUIT\r\n"), vec![b"QUIT\r".to_vec()]);
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

    /// What a chat channel's `deliver` sees under `Overflow::Discard`.
    #[derive(Debug, PartialEq, Eq)]
    enum Event {
        Message(Vec<u8>),
        TooLong(usize),
    }

    /// Feeds `chunks` one by one and frames them as `AsyncChat::deliver` does with a limit
    /// of `max` and the discard policy; returns the events and the most input held at once
    /// (framer buffer plus message).
    fn discarding(framer: &mut Framer, max: usize, chunks: &[&[u8]]) -> (Vec<Event>, usize) {
        framer.set_max_frame(max);
        framer.set_overflow(Overflow::Discard);
        let mut events = Vec::new();
        let mut message = Vec::new();
        let mut held = 0;
        for chunk in chunks {
            framer.push(chunk);
            loop {
                let progress = framer
                    .advance(&mut |data| message.extend_from_slice(data))
                    .unwrap();
                held = held.max(framer.buffered() + message.len());
                if message.len() > max {
                    let size = message.len();
                    message.clear();
                    match progress {
                        Progress::NeedMore => framer.discard_message(size),
                        Progress::Frame => events.push(Event::TooLong(size)),
                    }
                    continue;
                }
                match progress {
                    Progress::NeedMore => break,
                    Progress::Frame => match framer.take_discarded() {
                        Some(size) => {
                            message.clear();
                            events.push(Event::TooLong(size));
                        }
                        None => events.push(Event::Message(std::mem::take(&mut message))),
                    },
                }
            }
        }
        (events, held)
    }

    fn message(text: &[u8]) -> Event {
        Event::Message(text.to_vec())
    }

    #[test]
    fn an_over_long_line_is_discarded_to_its_terminator_at_every_split() {
        let input = [
            &b"ok\r\n"[..],
            &[b'x'; 30],
            b"\r\nnext\r\n0123456789\r\n01234567890\r\n",
        ]
        .concat();
        let expected = [
            message(b"ok"),
            Event::TooLong(30),
            message(b"next"),
            message(b"0123456789"), // exactly at the limit: delivered
            Event::TooLong(11),
        ];
        for at in 0..=input.len() {
            let mut framer = Framer::new(Terminator::bytes(b"\r\n"));
            let (events, _) = discarding(&mut framer, 10, &[&input[..at], &input[at..]]);
            assert_eq!(events, expected, "split at {at}");
            assert!(!framer.is_discarding());
        }
        let mut framer = Framer::new(Terminator::bytes(b"\r\n"));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let (events, held) = discarding(&mut framer, 10, &bytes);
        assert_eq!(events, expected, "one byte per read");
        assert!(held <= 10 + 1 + 1, "held {held} bytes");
    }

    #[test]
    fn a_crlf_split_across_reads_exactly_at_the_limit() {
        // 10 bytes and the `\r` in one read, the `\n` in the next: not over a limit of 10.
        let mut framer = Framer::new(Terminator::bytes(b"\r\n"));
        let (events, _) = discarding(&mut framer, 10, &[b"0123456789\r", b"\nnext\r\n"]);
        assert_eq!(events, [message(b"0123456789"), message(b"next")]);
        // One byte more: over, and the `\r` kept back still ends it.
        let mut framer = Framer::new(Terminator::bytes(b"\r\n"));
        let (events, _) = discarding(&mut framer, 10, &[b"0123456789a\r", b"\nnext\r\n"]);
        assert_eq!(events, [Event::TooLong(11), message(b"next")]);
        // While discarding: a `\r` ending one read, its `\n` beginning the next.
        let mut framer = Framer::new(Terminator::bytes(b"\r\n"));
        let (events, _) = discarding(
            &mut framer,
            10,
            &[b"0123456789abc", b"def\r", b"\n", b"next\r\n"],
        );
        assert_eq!(events, [Event::TooLong(16), message(b"next")]);
        // A lone `\r` inside the discarded line is data, not a terminator.
        let mut framer = Framer::new(Terminator::bytes(b"\r\n"));
        let (events, _) = discarding(&mut framer, 4, &[b"abcdef\r", b"x\r\nok\r\n"]);
        assert_eq!(events, [Event::TooLong(8), message(b"ok")]);
    }

    #[test]
    fn a_count_over_the_limit_is_discarded_to_its_end() {
        let mut framer = Framer::new(Terminator::count(25).unwrap());
        let data = [b'c'; 30];
        let chunks: Vec<&[u8]> = data.chunks(7).collect();
        let (events, held) = discarding(&mut framer, 10, &chunks);
        assert_eq!(events, [Event::TooLong(25)]);
        assert_eq!(
            framer.count_left(),
            0,
            "the count is spent, as after a delivery"
        );
        assert!(held <= 10 + 7, "held {held} bytes");
    }

    #[test]
    fn a_length_prefixed_frame_over_the_limit_is_skipped_at_every_split() {
        let prefix = LengthPrefix::new(2);
        let mut input = vec![0, 2, b'o', b'k', 0x03, 0xe8];
        input.extend_from_slice(&[b'z'; 1000]);
        input.extend_from_slice(&[0, 3, b'y', b'e', b's']);
        let expected = [
            message(&[0, 2, b'o', b'k']),
            Event::TooLong(1002),
            message(&[0, 3, b'y', b'e', b's']),
        ];
        for at in 0..=input.len() {
            let mut framer = Framer::new(Terminator::length_prefixed(prefix).unwrap());
            let (events, held) = discarding(&mut framer, 8, &[&input[..at], &input[at..]]);
            assert_eq!(events, expected, "split at {at}");
            assert!(held <= input.len().max(8), "held {held}");
        }
        // The header stripped: the size is the body's, as the message would have been.
        let mut framer =
            Framer::new(Terminator::length_prefixed(prefix.keep_header(false)).unwrap());
        let (events, _) = discarding(&mut framer, 8, &[&input]);
        assert_eq!(
            events,
            [message(b"ok"), Event::TooLong(1000), message(b"yes")]
        );
        // A frame that is all header, over a limit smaller than the header: ends at once.
        let mut framer = Framer::new(Terminator::length_prefixed(prefix).unwrap());
        let (events, _) = discarding(&mut framer, 1, &[&[0, 0]]);
        assert_eq!(events, [Event::TooLong(2)]);
    }

    #[test]
    fn a_huge_declared_length_is_skipped_as_it_arrives_in_bounded_memory() {
        let mut framer = Framer::new(Terminator::length_prefixed(LengthPrefix::new(8)).unwrap());
        let mut header = (1u64 << 60).to_be_bytes().to_vec();
        header.extend_from_slice(&[b'q'; 100]);
        let (events, _) = discarding(&mut framer, 1024, &[&header]);
        assert!(events.is_empty());
        assert!(framer.is_discarding());
        let block = vec![b'q'; 64 * 1024];
        for _ in 0..64 {
            let (events, held) = discarding(&mut framer, 1024, &[&block]);
            assert!(events.is_empty());
            assert_eq!(held, 0, "a skipped frame's bytes are never held");
        }
        // The peer can never finish it; dropping the input ends the discard.
        framer.clear();
        assert!(!framer.is_discarding());
    }

    #[test]
    fn the_close_policy_refuses_an_over_long_frame_without_discarding() {
        let mut framer = Framer::new(Terminator::length_prefixed(LengthPrefix::new(2)).unwrap());
        framer.set_max_frame(8);
        framer.push(&[0, 10]);
        assert_eq!(
            framer.advance(&mut |_| {}).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(!framer.is_discarding());
    }
}
