//! The output queue of a chat channel: pushed buffers (sent from a cursor, never copied
//! again), producers asked only when there is room, and the `close_when_done` mark.

use std::collections::VecDeque;
use std::fmt;

use super::Producer;

enum Item {
    Bytes { data: Vec<u8>, sent: usize },
    Producer(Box<dyn Producer>),
    Close,
}

/// What the channel should do next with its output.
pub(crate) enum Next<'a> {
    /// Send (a prefix of) these bytes, then report with [`OutputQueue::consumed`].
    Send(&'a [u8]),
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
    pub(crate) fn push(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.queued += data.len();
        self.items.push_back(Item::Bytes { data, sent: 0 });
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

    /// The next thing to do, asking producers for more as needed; at most `chunk` bytes.
    /// A producer that answers with an empty piece stalls the queue ([`Next::Idle`]).
    pub(crate) fn next(&mut self, chunk: usize) -> Next<'_> {
        if self.stalled {
            return Next::Idle;
        }
        loop {
            let Some(front) = self.items.front_mut() else {
                return Next::Idle;
            };
            match front {
                Item::Bytes { data, sent } if *sent < data.len() => break,
                Item::Bytes { .. } => {
                    self.items.pop_front();
                }
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
                            data: piece,
                            sent: 0,
                        });
                    }
                    None => {
                        self.items.pop_front();
                    }
                },
            }
        }
        match self.items.front() {
            Some(Item::Bytes { data, sent }) => {
                let end = data.len().min(sent + chunk);
                Next::Send(&data[*sent..end])
            }
            _ => unreachable!("the loop above stops at unsent bytes"),
        }
    }

    /// `n` bytes of the last [`Next::Send`] went out.
    pub(crate) fn consumed(&mut self, n: usize) {
        if let Some(Item::Bytes { data, sent }) = self.items.front_mut() {
            *sent += n;
            self.queued -= n;
            if *sent >= data.len() {
                self.items.pop_front();
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
