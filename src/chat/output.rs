//! The output queue of a chat channel: pushed buffers (sent from a cursor; owned and shared
//! buffers are never copied, small borrowed pushes are gathered into one buffer), producers
//! asked only when there is room, and the `close_when_done` mark. The buffers at the front
//! go out together, in one send: copied into one buffer when they are small, else vectored.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;
use std::rc::Rc;
use std::sync::Arc;

use super::Producer;

/// Borrowed pushes up to this size are copied into the buffer at the back of the queue
/// (while it stays under this size), so a handler that pushes a line and then its `\n`
/// makes one buffer, not two.
const COALESCE: usize = 16 * 1024;

/// The most buffers handed to one vectored send (under every platform's `IOV_MAX`).
pub(crate) const MAX_SLICES: usize = 64;

/// Gathered buffers averaging at most this many bytes are copied into one buffer and sent
/// with a plain send, not a vectored one. Linux's TCP charges far more for each segment of
/// a vectored send (about 140 ns here) than copying a small segment costs (a broadcast of 16
/// queued 65-byte lines per send cost about 1.5x the kernel time of one contiguous send;
/// see BENCHMARKS.md), and the kernel copies the bytes anyway. The rule is on the average:
/// the copy costs in proportion to the bytes, the segments in proportion to their number.
/// The queue still holds shared buffers by reference: only the send copies, into a pooled
/// buffer (in steady state, no allocation).
pub(crate) const SMALL_SLICE: usize = 1024;

/// What [`ChatChannel::push`](super::ChatChannel::push) takes: owned bytes (queued as they
/// are, never copied), a shared buffer (queued by reference: a broadcast to many channels
/// does not copy the line per channel), or borrowed bytes (copied once, small ones gathered
/// with the other small pushes queued behind them into one buffer).
///
/// Made with `From`/`Into` from `Vec<u8>`, `String`, `Box<[u8]>`, `[u8; N]` (owned),
/// `Rc<[u8]>`, `&Rc<[u8]>` (shared on the loop's thread), `Arc<[u8]>`, `&Arc<[u8]>`
/// (shared across threads), `&[u8]`, `&[u8; N]`, `&Vec<u8>`, `&str`, `&String` (borrowed)
/// and `Cow<[u8]>` (either).
///
/// A broadcast made on the loop's thread is best an `Rc<[u8]>`: the loop and its channels
/// live on one thread, and counting an `Rc` reference costs no atomic instruction per
/// member (an `Arc` costs two: one when it is pushed, one when it has been sent). An
/// `Arc<[u8]>` suits bytes made by or kept for other threads.
///
/// ```
/// use std::sync::Arc;
/// use ioloop::chat::Outgoing;
///
/// let line: Arc<[u8]> = Arc::from(&b"<ann> hello\n"[..]);
/// // Each member's queue holds the same bytes: the count goes up, nothing is copied.
/// let for_each_member: Vec<Outgoing<'_>> = (0..100).map(|_| Outgoing::from(&line)).collect();
/// assert_eq!(Arc::strong_count(&line), 101);
/// # drop(for_each_member);
/// ```
#[non_exhaustive]
pub enum Outgoing<'a> {
    /// Queued as it is.
    Owned(Vec<u8>),
    /// Queued by reference (the count is raised, the bytes are not copied).
    Shared(Arc<[u8]>),
    /// Queued by reference, as `Shared`, with a count that is not atomic.
    Local(Rc<[u8]>),
    /// Copied into the queue.
    Borrowed(&'a [u8]),
}

impl Outgoing<'_> {
    /// How many bytes this is.
    pub(crate) fn len(&self) -> usize {
        match self {
            Outgoing::Owned(data) => data.len(),
            Outgoing::Shared(data) => data.len(),
            Outgoing::Local(data) => data.len(),
            Outgoing::Borrowed(data) => data.len(),
        }
    }
}

impl fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Outgoing::Owned(_) => "Owned",
            Outgoing::Shared(_) => "Shared",
            Outgoing::Local(_) => "Local",
            Outgoing::Borrowed(_) => "Borrowed",
        };
        write!(f, "Outgoing::{kind}({} bytes)", self.len())
    }
}

impl From<Vec<u8>> for Outgoing<'_> {
    fn from(data: Vec<u8>) -> Self {
        Outgoing::Owned(data)
    }
}

impl From<String> for Outgoing<'_> {
    fn from(data: String) -> Self {
        Outgoing::Owned(data.into_bytes())
    }
}

impl From<Box<[u8]>> for Outgoing<'_> {
    fn from(data: Box<[u8]>) -> Self {
        Outgoing::Owned(data.into_vec())
    }
}

impl From<Arc<[u8]>> for Outgoing<'_> {
    fn from(data: Arc<[u8]>) -> Self {
        Outgoing::Shared(data)
    }
}

impl From<&Arc<[u8]>> for Outgoing<'_> {
    fn from(data: &Arc<[u8]>) -> Self {
        Outgoing::Shared(Arc::clone(data))
    }
}

impl From<Rc<[u8]>> for Outgoing<'_> {
    fn from(data: Rc<[u8]>) -> Self {
        Outgoing::Local(data)
    }
}

impl From<&Rc<[u8]>> for Outgoing<'_> {
    fn from(data: &Rc<[u8]>) -> Self {
        Outgoing::Local(Rc::clone(data))
    }
}

impl<'a> From<&'a [u8]> for Outgoing<'a> {
    fn from(data: &'a [u8]) -> Self {
        Outgoing::Borrowed(data)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Outgoing<'a> {
    fn from(data: &'a [u8; N]) -> Self {
        Outgoing::Borrowed(data)
    }
}

impl<const N: usize> From<[u8; N]> for Outgoing<'_> {
    fn from(data: [u8; N]) -> Self {
        Outgoing::Owned(data.to_vec())
    }
}

impl<'a> From<&'a str> for Outgoing<'a> {
    fn from(data: &'a str) -> Self {
        Outgoing::Borrowed(data.as_bytes())
    }
}

impl<'a> From<&'a Vec<u8>> for Outgoing<'a> {
    fn from(data: &'a Vec<u8>) -> Self {
        Outgoing::Borrowed(data)
    }
}

impl<'a> From<&'a String> for Outgoing<'a> {
    fn from(data: &'a String) -> Self {
        Outgoing::Borrowed(data.as_bytes())
    }
}

impl<'a> From<Cow<'a, [u8]>> for Outgoing<'a> {
    fn from(data: Cow<'a, [u8]>) -> Self {
        match data {
            Cow::Borrowed(data) => Outgoing::Borrowed(data),
            Cow::Owned(data) => Outgoing::Owned(data),
        }
    }
}

/// A queued item. Bytes are never empty (empty pushes are dropped), so a byte item always
/// has something left to send.
enum Item {
    /// Ours: a coalescing buffer or an owned push, given back to the buffer pool once sent.
    Owned(Vec<u8>),
    /// A shared buffer, released once sent.
    Shared(Arc<[u8]>),
    /// A shared buffer of the loop's thread, released once sent.
    Local(Rc<[u8]>),
    Producer(Box<dyn Producer>),
    Close,
}

impl Item {
    /// The bytes of a byte item.
    #[inline]
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Item::Owned(data) => Some(data),
            Item::Shared(data) => Some(data),
            Item::Local(data) => Some(data),
            Item::Producer(_) | Item::Close => None,
        }
    }
}

/// What the channel should do next with its output.
pub(crate) enum Next {
    /// Bytes are at the front: [`OutputQueue::gather`] them, send, then report with
    /// [`OutputQueue::consumed`].
    Send,
    /// Everything queued before `close_when_done` went out: close.
    Close,
    /// Nothing to send.
    Idle,
}

/// The queue.
#[derive(Default)]
pub(crate) struct OutputQueue {
    items: VecDeque<Item>,
    /// How much of the byte item in front went out already (kept here, not in every item:
    /// only the front is ever partly sent).
    front_sent: usize,
    /// Bytes pushed and not yet sent (producers' output counts once produced).
    queued: usize,
    close_requested: bool,
    /// The producer in front answered "nothing yet" (an empty piece): it is not asked
    /// again until more output is queued or [`OutputQueue::resume`] is called.
    stalled: bool,
}

impl OutputQueue {
    /// Queues `data`. Each kind has its own path: a broadcast pushes one shared buffer to
    /// many queues, so that path is a few instructions. Always inline: in
    /// [`ChatChannel::push`](super::ChatChannel::push), made for each type it takes, the kind
    /// is then known and the match goes.
    #[inline(always)]
    pub(crate) fn push(&mut self, data: Outgoing<'_>) {
        match data {
            Outgoing::Local(data) => self.push_item(data.len(), Item::Local(data)),
            Outgoing::Shared(data) => self.push_item(data.len(), Item::Shared(data)),
            Outgoing::Owned(data) => self.push_item(data.len(), Item::Owned(data)),
            Outgoing::Borrowed(data) => self.push_borrowed(data),
        }
    }

    #[inline]
    fn push_item(&mut self, len: usize, item: Item) {
        if len == 0 {
            return;
        }
        self.queued += len;
        self.items.push_back(item);
        self.stalled = false;
    }

    /// Copies `data` in: a small push goes into the buffer at the back while it stays small
    /// (a line and then its `\n` make one buffer), a larger one into a buffer of its own.
    /// The usual case, a buffer at the back with room, is inline (a line echo pushes twice
    /// per line).
    #[inline]
    fn push_borrowed(&mut self, data: &[u8]) {
        if let Some(Item::Owned(back)) = self.items.back_mut() {
            if !data.is_empty()
                && data.len() <= COALESCE
                && data.len() <= back.capacity() - back.len()
            {
                // Into the room it already has (a buffer is made with room for the small
                // pushes that follow it): a copy, never a reallocation.
                back.extend_from_slice(data);
                self.queued += data.len();
                self.stalled = false;
                return;
            }
        }
        self.push_borrowed_apart(data);
    }

    /// [`push_borrowed`](Self::push_borrowed) when the buffer at the back has no room.
    fn push_borrowed_apart(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if data.len() > COALESCE {
            return self.push_item(data.len(), Item::Owned(data.to_vec()));
        }
        if let Some(Item::Owned(back)) = self.items.back_mut() {
            if back.len() + data.len() <= COALESCE {
                back.extend_from_slice(data);
                self.queued += data.len();
                self.stalled = false;
                return;
            }
        }
        // Room for the small pushes that may follow it (a burst of replies grows it without
        // a reallocation; it is freed once sent).
        let mut buffer = super::pool::take(data.len().max(COALESCE / 4));
        buffer.extend_from_slice(data);
        self.push_item(buffer.len(), Item::Owned(buffer));
    }

    pub(crate) fn push_producer(&mut self, producer: Box<dyn Producer>) {
        self.items.push_back(Item::Producer(producer));
        self.stalled = false;
    }

    /// Asks a stalled producer again at the next chance to send.
    pub(crate) fn resume(&mut self) {
        self.stalled = false;
    }

    /// Whether there is output the channel can try to send now (a stalled producer in
    /// front waits for [`resume`](Self::resume) or more output).
    pub(crate) fn wants_to_send(&self) -> bool {
        !self.items.is_empty() && !self.stalled
    }

    pub(crate) fn close_when_done(&mut self) {
        self.stalled = false;
        if !self.close_requested {
            self.close_requested = true;
            self.items.push_back(Item::Close);
        }
    }

    pub(crate) fn close_requested(&self) -> bool {
        self.close_requested
    }

    /// Drops everything queued but keeps a close request (asynchat drops it too, and the
    /// channel then never closes).
    pub(crate) fn discard(&mut self) {
        self.items.clear();
        self.front_sent = 0;
        self.queued = 0;
        self.stalled = false;
        if self.close_requested {
            self.items.push_back(Item::Close);
        }
    }

    /// Bytes waiting to be sent.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// The next thing to do, asking the producer in front for a piece if there are no bytes
    /// before it. A producer that answers with an empty piece stalls the queue
    /// ([`Next::Idle`]).
    pub(crate) fn next(&mut self) -> Next {
        if self.stalled {
            return Next::Idle;
        }
        loop {
            let Some(front) = self.items.front_mut() else {
                return Next::Idle;
            };
            match front {
                Item::Owned(_) | Item::Shared(_) | Item::Local(_) => return Next::Send,
                Item::Close => return Next::Close,
                Item::Producer(producer) => match producer.more() {
                    Some(piece) if piece.is_empty() && self.close_requested => {
                        // "Nothing yet" after close_when_done: the producer is done, or
                        // the channel could never close (a peer that left would hold it).
                        self.items.pop_front();
                    }
                    Some(piece) if piece.is_empty() => {
                        // "Nothing yet": asking again at once would spin.
                        self.stalled = true;
                        return Next::Idle;
                    }
                    Some(piece) => {
                        self.queued += piece.len();
                        self.items.push_front(Item::Owned(piece));
                    }
                    None => {
                        self.items.pop_front();
                    }
                },
            }
        }
    }

    /// The unsent bytes at the front (at most `limit`) when they are all there is to send
    /// now (nothing to gather behind them): the common case, sent without building slices.
    pub(crate) fn single(&self, limit: usize) -> Option<&[u8]> {
        let mut items = self.items.iter();
        let bytes = &items.next()?.bytes()?[self.front_sent..];
        if bytes.len() < limit && items.next().is_some_and(|item| item.bytes().is_some()) {
            return None;
        }
        Some(&bytes[..bytes.len().min(limit)])
    }

    /// Fills `slices` with the unsent bytes at the front of the queue, in order, up to the
    /// first producer or close mark and at most `limit` bytes; returns how many slices it
    /// filled and how many bytes they hold. After [`Next::Send`], at least one.
    pub(crate) fn gather<'q>(&'q self, slices: &mut [IoSlice<'q>], limit: usize) -> (usize, usize) {
        let mut filled = 0;
        let mut total = 0;
        let mut skip = self.front_sent;
        for item in &self.items {
            if filled == slices.len() || total >= limit {
                break;
            }
            let Some(bytes) = item.bytes() else {
                break;
            };
            let bytes = &bytes[skip..];
            skip = 0;
            let take = bytes.len().min(limit - total);
            slices[filled] = IoSlice::new(&bytes[..take]);
            filled += 1;
            total += take;
        }
        (filled, total)
    }

    /// `n` bytes of the last gathered slices went out. The items sent whole are counted
    /// (their owned buffers given back to the pool on the way), then dropped together in
    /// place: a broadcast's many small shared buffers cost a few instructions each.
    pub(crate) fn consumed(&mut self, n: usize) {
        self.queued -= n;
        // Counted from the front item's first byte.
        let mut left = self.front_sent + n;
        let mut whole = 0;
        for item in self.items.iter_mut() {
            let Some(len) = item.bytes().map(<[u8]>::len) else {
                break;
            };
            if left < len {
                break;
            }
            left -= len;
            whole += 1;
            if let Item::Owned(buffer) = item {
                super::pool::give(std::mem::take(buffer));
            }
        }
        debug_assert!(
            left == 0
                || self
                    .items
                    .get(whole)
                    .is_some_and(|item| item.bytes().is_some()),
            "more consumed than gathered"
        );
        self.front_sent = left;
        self.items.drain(..whole);
    }
}

impl fmt::Debug for OutputQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputQueue")
            .field("items", &self.items.len())
            .field("queued", &self.queued)
            .field("close_requested", &self.close_requested)
            .field("stalled", &self.stalled)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_all(queue: &mut OutputQueue, limit: usize, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while let Next::Send = queue.next() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let (n, total) = queue.gather(&mut slices, limit);
            assert!(n > 0);
            let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
            assert_eq!(joined.len(), total);
            let take = joined.len().min(step);
            out.extend_from_slice(&joined[..take]);
            queue.consumed(take);
        }
        out
    }

    #[test]
    fn small_borrowed_pushes_share_one_buffer_and_owned_ones_stay_apart() {
        let mut queue = OutputQueue::default();
        for _ in 0..16 {
            queue.push(Outgoing::from(&b"line"[..]));
            queue.push(Outgoing::from(b"\n"));
        }
        assert_eq!(queue.items.len(), 1);
        queue.push(Outgoing::from(vec![b'x'; 10]));
        queue.push(Outgoing::from(Arc::<[u8]>::from(&b"shared"[..])));
        let local: Rc<[u8]> = Rc::from(&b"local"[..]);
        queue.push(Outgoing::from(&local));
        queue.push(Outgoing::from(Rc::<[u8]>::from(&b""[..]))); // dropped, not queued
        assert_eq!(queue.items.len(), 4);
        assert_eq!(Rc::strong_count(&local), 2, "queued by reference");
        assert_eq!(queue.queued(), 16 * 5 + 10 + 6 + 5);
        let out = sent_all(&mut queue, usize::MAX, 7);
        assert_eq!(Rc::strong_count(&local), 1, "released once sent");
        let mut expected = b"line\n".repeat(16);
        expected.extend_from_slice(&[b'x'; 10]);
        expected.extend_from_slice(b"shared");
        expected.extend_from_slice(b"local");
        assert_eq!(out, expected);
        assert_eq!(queue.queued(), 0);
    }

    #[test]
    fn gather_stops_at_the_limit_and_at_a_producer() {
        let mut queue = OutputQueue::default();
        queue.push(Outgoing::from(vec![1; 100]));
        queue.push(Outgoing::from(vec![2; 100]));
        let mut pieces = vec![vec![3u8; 5]];
        queue.push_producer(Box::new(move || pieces.pop()));
        queue.push(Outgoing::from(vec![4; 1]));
        assert!(matches!(queue.next(), Next::Send));
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        assert_eq!(queue.gather(&mut slices, 150), (2, 150));
        assert_eq!(slices[1].len(), 50);
        assert_eq!(queue.gather(&mut slices, usize::MAX), (2, 200));
        let out = sent_all(&mut queue, 150, 33);
        let mut expected = vec![1; 100];
        expected.extend([2; 100]);
        expected.extend([3; 5]);
        expected.push(4);
        assert_eq!(out, expected);
    }

    /// A small deterministic generator (xorshift), so the random test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Pushes of every kind (sizes either side of the coalescing and flattening limits,
    /// empty ones, producers), drained by gathers of random limits and sends that take a
    /// random part: the bytes come out whole and in order, and the count of queued bytes
    /// stays true throughout.
    #[test]
    fn random_pushes_and_partial_sends_keep_every_byte_in_order() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let mut queue = OutputQueue::default();
            let mut expected = Vec::new();
            let mut out = Vec::new();
            let mut next_byte = 0u8;
            let mut make = |rng: &mut Rng| -> Vec<u8> {
                let len = match rng.below(10) {
                    0 => 0,
                    1 => COALESCE + rng.below(100),
                    2 => SMALL_SLICE + rng.below(3000),
                    _ => 1 + rng.below(100),
                };
                (0..len)
                    .map(|_| {
                        next_byte = next_byte.wrapping_add(1);
                        next_byte
                    })
                    .collect()
            };
            for _ in 0..rng.below(40) {
                let data = make(&mut rng);
                match rng.below(6) {
                    0 => queue.push(Outgoing::from(data.as_slice())),
                    1 => queue.push(Outgoing::from(data.clone())),
                    2 => queue.push(Outgoing::from(Arc::<[u8]>::from(data.as_slice()))),
                    3 => queue.push(Outgoing::from(Rc::<[u8]>::from(data.as_slice()))),
                    4 => {
                        let mut pieces = vec![make(&mut rng), data.clone()];
                        pieces.retain(|piece| !piece.is_empty()); // empty means "nothing yet"
                        let mut all: Vec<u8> = Vec::new();
                        for piece in pieces.iter().rev() {
                            all.extend_from_slice(piece);
                        }
                        expected.extend_from_slice(&all);
                        queue.push_producer(Box::new(move || pieces.pop()));
                        continue;
                    }
                    _ => queue.push(Outgoing::from(data.as_slice())),
                }
                expected.extend_from_slice(&data);
            }
            let mut turns = 0;
            while let Next::Send = queue.next() {
                turns += 1;
                assert!(turns < 100_000, "the queue does not drain");
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let capacity = 1 + rng.below(MAX_SLICES);
                let limit = 1 + rng.below(40_000);
                let (n, total) = queue.gather(&mut slices[..capacity], limit);
                assert!(n > 0 && total > 0 && total <= limit);
                let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
                assert_eq!(joined.len(), total);
                let take = if rng.below(2) == 0 {
                    total
                } else {
                    1 + rng.below(total)
                };
                let before = queue.queued();
                out.extend_from_slice(&joined[..take]);
                queue.consumed(take);
                assert_eq!(queue.queued(), before - take);
            }
            assert!(out == expected, "the bytes differ");
            assert_eq!(queue.queued(), 0);
            assert!(!queue.wants_to_send());
        }
    }
}
