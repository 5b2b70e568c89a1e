//! [`SendBuffer`]: asyncore's `dispatcher_with_send`, as an output buffer a dispatcher
//! embeds.

use std::io;

use super::context::Context;

/// asyncore's `dispatcher_with_send`: send what the socket takes now, keep the rest, and
/// send it as the socket drains. A dispatcher embeds one, answers
/// [`writable`](crate::Dispatcher::writable) with `!is_empty()`, and calls
/// [`flush`](Self::flush) from `handle_write`; partial sends are this type's business.
///
/// The seeds' echo handler (`class EchoHandler(asyncore.dispatcher_with_send)`), with the
/// bound asyncore lacked: it stops reading while much is unsent.
///
/// ```
/// use std::io;
/// use ioloop::{Context, Dispatcher, SendBuffer};
///
/// #[derive(Default)]
/// struct EchoHandler {
///     out: SendBuffer,
/// }
///
/// impl Dispatcher for EchoHandler {
///     fn readable(&self) -> bool {
///         self.out.len() < 64 * 1024 // a peer that does not read stops being read from
///     }
///
///     fn writable(&self) -> bool {
///         !self.out.is_empty()
///     }
///
///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
///         let mut buf = [0; 8192];
///         let n = cx.recv(&mut buf)?;
///         self.out.send(cx, &buf[..n])
///     }
///
///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
///         self.out.flush(cx)
///     }
/// }
/// # let _ = EchoHandler::default();
/// ```
#[derive(Debug, Default)]
pub struct SendBuffer {
    data: Vec<u8>,
    /// How much of `data` went out already.
    sent: usize,
}

impl SendBuffer {
    /// An empty buffer.
    pub fn new() -> SendBuffer {
        SendBuffer::default()
    }

    /// Sends `data` after whatever is still buffered: as much as the socket takes now when
    /// nothing is buffered (no copy of that part), the rest kept for [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// As [`Context::send`] (a closed channel, an OS error other than would-block or a
    /// disconnection).
    pub fn send<S: 'static>(&mut self, cx: &mut Context<'_, S>, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        if self.is_empty() && !rest.is_empty() {
            let n = cx.send(rest)?;
            rest = &rest[n..];
        }
        self.data.extend_from_slice(rest);
        Ok(())
    }

    /// Sends what is buffered, as much as the socket takes; call it from `handle_write`.
    ///
    /// # Errors
    ///
    /// As [`Context::send`].
    pub fn flush<S: 'static>(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        while !self.is_empty() {
            let n = cx.send(&self.data[self.sent..])?;
            if n == 0 {
                break; // full, or the peer left (handle_close follows)
            }
            self.sent += n;
        }
        if self.is_empty() {
            // Everything went out: keep the allocation only if it is small.
            self.data.clear();
            self.sent = 0;
            if self.data.capacity() > 64 * 1024 {
                self.data = Vec::new();
            }
        } else if self.sent > self.data.len() / 2 {
            // Most of it went out: drop the sent part so the buffer does not creep.
            self.data.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }

    /// Bytes buffered and not yet sent.
    pub fn len(&self) -> usize {
        self.data.len() - self.sent
    }

    /// Whether nothing is waiting to be sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops what is buffered (asynchat's `discard_buffers`, for the output side).
    pub fn clear(&mut self) {
        self.data = Vec::new();
        self.sent = 0;
    }
}
