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
}

impl OutputQueue {
    pub(crate) fn push(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.queued += data.len();
        self.items.push_back(Item::Bytes { data, sent: 0 });
    }

    pub(crate) fn push_producer(&mut self, producer: Box<dyn Producer>) {
        self.items.push_back(Item::Producer(producer));
    }

    pub(crate) fn close_when_done(&mut self) {
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
        if self.close_requested {
            self.items.push_back(Item::Close);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes waiting to be sent.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// The next thing to do, asking producers for more as needed; at most `chunk` bytes.
    pub(crate) fn next(&mut self, chunk: usize) -> Next<'_> {
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
                    Some(piece) if piece.is_empty() => {}
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
            .finish()
    }
}
