//! The output queue of a chat channel: pushed buffers (sent from a cursor; owned and shared
//! buffers are never copied, small borrowed pushes are gathered into one buffer), producers
//! asked only when there is room, and the `close_when_done` mark. The buffers at the front
//! go out together, in one vectored send.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;
use std::sync::Arc;

use super::Producer;

/// Borrowed pushes up to this size are copied into the buffer at the back of the queue
/// (while it stays under this size), so a handler that pushes a line and then its `\n`
/// makes one buffer, not two.
const COALESCE: usize = 16 * 1024;

/// The most buffers handed to one vectored send (under every platform's `IOV_MAX`).
pub(crate) const MAX_SLICES: usize = 64;

/// What [`ChatChannel::push`](super::ChatChannel::push) takes: owned bytes (queued as they
/// are, never copied), a shared buffer (queued by reference: a broadcast to many channels
/// does not copy the line per channel), or borrowed bytes (copied once, small ones gathered
/// with the other small pushes queued behind them into one buffer).
///
/// Made with `From`/`Into` from `Vec<u8>`, `String`, `Box<[u8]>`, `[u8; N]` (owned),
/// `Arc<[u8]>`, `&Arc<[u8]>` (shared), `&[u8]`, `&[u8; N]`, `&Vec<u8>`, `&str`, `&String`
/// (borrowed) and `Cow<[u8]>` (either).
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
pub enum Outgoing<'a> {
    /// Queued as it is.
    Owned(Vec<u8>),
    /// Queued by reference (the count is raised, the bytes are not copied).
    Shared(Arc<[u8]>),
    /// Copied into the queue.
    Borrowed(&'a [u8]),
}

impl Outgoing<'_> {
    /// How many bytes this is.
    pub(crate) fn len(&self) -> usize {
        match self {
            Outgoing::Owned(data) => data.len(),
            Outgoing::Shared(data) => data.len(),
            Outgoing::Borrowed(data) => data.len(),
        }
    }
}

impl fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, len) = match self {
            Outgoing::Owned(data) => ("Owned", data.len()),
            Outgoing::Shared(data) => ("Shared", data.len()),
            Outgoing::Borrowed(data) => ("Borrowed", data.len()),
        };
        write!(f, "Outgoing::{kind}({len} bytes)")
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

/// A queued buffer.
enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(data) => data,
            Chunk::Shared(data) => data,
        }
    }
}

enum Item {
    Bytes { data: Chunk, sent: usize },
    Producer(Box<dyn Producer>),
    Close,
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
    /// Bytes pushed and not yet sent (producers' output counts once produced).
    queued: usize,
    close_requested: bool,
    /// The producer in front answered "nothing yet" (an empty piece): it is not asked
    /// again until more output is queued or [`OutputQueue::resume`] is called.
    stalled: bool,
}

impl OutputQueue {
    pub(crate) fn push(&mut self, data: Outgoing<'_>) {
        let chunk = match data {
            Outgoing::Borrowed([]) => return,
            Outgoing::Borrowed(data) => {
                if data.len() <= COALESCE {
                    if let Some(Item::Bytes {
                        data: Chunk::Owned(back),
                        ..
                    }) = self.items.back_mut()
                    {
                        if back.len() + data.len() <= COALESCE {
                            back.extend_from_slice(data);
                            self.queued += data.len();
                            self.stalled = false;
                            return;
                        }
                    }
                    // Room for the small pushes that may follow it (a burst of replies
                    // grows it without a reallocation; it is freed once sent).
                    let mut buffer = super::pool::take(data.len().max(COALESCE / 4));
                    buffer.extend_from_slice(data);
                    Chunk::Owned(buffer)
                } else {
                    Chunk::Owned(data.to_vec())
                }
            }
            Outgoing::Owned(data) if data.is_empty() => return,
            Outgoing::Owned(data) => Chunk::Owned(data),
            Outgoing::Shared(data) if data.is_empty() => return,
            Outgoing::Shared(data) => Chunk::Shared(data),
        };
        self.queued += chunk.bytes().len();
        self.items.push_back(Item::Bytes {
            data: chunk,
            sent: 0,
        });
        self.stalled = false;
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
                Item::Bytes { .. } => return Next::Send,
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
                        self.items.push_front(Item::Bytes {
                            data: Chunk::Owned(piece),
                            sent: 0,
                        });
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
        let Some(Item::Bytes { data, sent }) = items.next() else {
            return None;
        };
        let bytes = &data.bytes()[*sent..];
        if bytes.len() < limit && matches!(items.next(), Some(Item::Bytes { .. })) {
            return None;
        }
        Some(&bytes[..bytes.len().min(limit)])
    }

    /// Fills `slices` with the unsent bytes at the front of the queue, in order, up to the
    /// first producer or close mark and at most `limit` bytes; returns how many it filled.
    /// After [`Next::Send`], at least one.
    pub(crate) fn gather<'q>(&'q self, slices: &mut [IoSlice<'q>], limit: usize) -> usize {
        let mut filled = 0;
        let mut total = 0;
        for item in &self.items {
            if filled == slices.len() || total >= limit {
                break;
            }
            let Item::Bytes { data, sent } = item else {
                break;
            };
            let bytes = &data.bytes()[*sent..];
            let take = bytes.len().min(limit - total);
            slices[filled] = IoSlice::new(&bytes[..take]);
            filled += 1;
            total += take;
        }
        filled
    }

    /// `n` bytes of the last gathered slices went out.
    pub(crate) fn consumed(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(Item::Bytes { data, sent }) = self.items.front_mut() else {
                debug_assert!(false, "more consumed than gathered");
                return;
            };
            let left = data.bytes().len() - *sent;
            if n < left {
                *sent += n;
                return;
            }
            n -= left;
            if let Some(Item::Bytes {
                data: Chunk::Owned(buffer),
                ..
            }) = self.items.pop_front()
            {
                super::pool::give(buffer);
            }
        }
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
            let n = queue.gather(&mut slices, limit);
            assert!(n > 0);
            let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
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
        assert_eq!(queue.items.len(), 3);
        assert_eq!(queue.queued(), 16 * 5 + 10 + 6);
        let out = sent_all(&mut queue, usize::MAX, 7);
        let mut expected = b"line\n".repeat(16);
        expected.extend_from_slice(&[b'x'; 10]);
        expected.extend_from_slice(b"shared");
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
        assert_eq!(queue.gather(&mut slices, 150), 2);
        assert_eq!(slices[1].len(), 50);
        assert_eq!(queue.gather(&mut slices, usize::MAX), 2);
        let out = sent_all(&mut queue, 150, 33);
        let mut expected = vec![1; 100];
        expected.extend([2; 100]);
        expected.extend([3; 5]);
        expected.push(4);
        assert_eq!(out, expected);
    }
}
