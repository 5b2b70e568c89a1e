//! [`Producer`]: data made on demand for [`ChatChannel::push_with_producer`]
//! (asynchat's producers), and [`SimpleProducer`].
//!
//! [`ChatChannel::push_with_producer`]: super::ChatChannel::push_with_producer

use std::fmt;

/// Something that makes output a piece at a time, asked only when the channel can send:
/// asynchat's producer protocol (`more()` returning `b''` when done).
///
/// `more` returns `None` when exhausted. After
/// [`close_when_done`](super::ChatChannel::close_when_done) an empty `Some` counts as
/// exhausted too (else a channel whose peer left could never close). Before it, an empty
/// `Some` means "nothing yet": the channel
/// stops asking (and stops watching for writability) until more output is pushed or
/// [`ChatChannel::resume_output`](super::ChatChannel::resume_output) is called — from a
/// timer, or through [`Context::get_mut`](crate::Context::get_mut) when the data is ready:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use ioloop::chat::Producer;
///
/// /// Sends lines as another part of the program makes them.
/// struct Feed(Rc<RefCell<Vec<Vec<u8>>>>);
///
/// impl Producer for Feed {
///     fn more(&mut self) -> Option<Vec<u8>> {
///         let mut lines = self.0.borrow_mut();
///         if lines.is_empty() {
///             Some(Vec::new()) // not now: ask again after resume_output()
///         } else {
///             Some(lines.remove(0))
///         }
///     }
/// }
/// # let _ = Feed(Rc::default());
/// ```
pub trait Producer: 'static {
    /// The next piece, or `None` when there is no more.
    fn more(&mut self) -> Option<Vec<u8>>;
}

/// Any `FnMut() -> Option<Vec<u8>>` is a producer.
impl<F: FnMut() -> Option<Vec<u8>> + 'static> Producer for F {
    fn more(&mut self) -> Option<Vec<u8>> {
        self()
    }
}

/// Python's `simple_producer`: hands out `data` in pieces of at most `buffer_size` bytes.
///
/// # Examples
///
/// ```
/// use ioloop::chat::{Producer, SimpleProducer};
///
/// // Python: simple_producer(data) (buffer_size=512)
/// let mut producer = SimpleProducer::new(vec![b'x'; 1200], SimpleProducer::DEFAULT_BUFFER_SIZE);
/// let sizes: Vec<usize> = std::iter::from_fn(|| producer.more()).map(|piece| piece.len()).collect();
/// assert_eq!(sizes, [512, 512, 176]);
/// ```
///
/// A channel asks it for a piece only when the socket can take one: see
/// [`ChatChannel::push_with_producer`](super::ChatChannel::push_with_producer).
pub struct SimpleProducer {
    data: Vec<u8>,
    at: usize,
    buffer_size: usize,
}

impl SimpleProducer {
    /// Python's default piece size.
    pub const DEFAULT_BUFFER_SIZE: usize = 512;

    /// A producer over `data`, in pieces of `buffer_size` (at least 1) bytes.
    pub fn new(data: impl Into<Vec<u8>>, buffer_size: usize) -> SimpleProducer {
        SimpleProducer {
            data: data.into(),
            at: 0,
            buffer_size: buffer_size.max(1),
        }
    }
}

impl Producer for SimpleProducer {
    fn more(&mut self) -> Option<Vec<u8>> {
        if self.at >= self.data.len() {
            return None;
        }
        let end = (self.at + self.buffer_size).min(self.data.len());
        let piece = self.data[self.at..end].to_vec();
        self.at = end;
        Some(piece)
    }
}

impl fmt::Debug for SimpleProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleProducer")
            .field("left", &(self.data.len() - self.at))
            .field("buffer_size", &self.buffer_size)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_producer_yields_pieces_then_none() {
        let mut producer = SimpleProducer::new(b"hello world, 8 at a time".to_vec(), 8);
        let mut pieces = Vec::new();
        while let Some(piece) = producer.more() {
            assert!(piece.len() <= 8);
            pieces.extend(piece);
        }
        assert_eq!(pieces, b"hello world, 8 at a time");
        assert_eq!(producer.more(), None);
    }
}
