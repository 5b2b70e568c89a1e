//! [`SendBuffer`]: asyncore's `dispatcher_with_send`, as an output buffer a dispatcher
//! embeds.

use std::io;

use super::context::Context;

/// asyncore's `dispatcher_with_send`: send what the socket takes now, keep the rest, and
/// send it as the socket drains. A dispatcher embeds one, answers
/// [`writable`](crate::Dispatcher::writable) with `!is_empty()`, and calls
/// [`flush`](Self::flush) from `handle_write`; partial sends are this type's business.
///
/// # Examples
///
/// The echo handler of asyncore's documentation
/// (`class EchoHandler(asyncore.dispatcher_with_send)`), with the bound asyncore lacked: it
/// stops reading while much is unsent.
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
///
/// Like asyncore's, the buffer has no limit of its own: bound it as the example does, by
/// not reading while [`len`](Self::len) is large, or a peer that never reads makes the
/// process hold everything sent to it.
#[derive(Debug, Default)]
pub struct SendBuffer {
    data: Vec<u8>,
    /// How much of `data` went out already.
    sent: usize,
}

impl SendBuffer {
    /// An empty buffer (`SendBuffer::default()` too).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::SendBuffer;
    ///
    /// let out = SendBuffer::new();
    /// assert!(out.is_empty());
    /// assert_eq!(out.len(), 0);
    /// ```
    pub fn new() -> SendBuffer {
        SendBuffer::default()
    }

    /// Sends `data` after whatever is still buffered: as much as the socket takes now when
    /// nothing is buffered (no copy of that part), the rest kept for [`flush`](Self::flush).
    /// asyncore's `dispatcher_with_send.send(data)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Greeter {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Greeter {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    ///
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.send(cx, b"220 ready\r\n") // what does not fit now waits
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.flush(cx)
    ///     }
    /// }
    ///
    /// # fn pair() -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    /// #     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// #     let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// #     client.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    /// #     Ok((client, listener.accept()?.0))
    /// # }
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Greeter::default())?; // `client`: the peer
    /// event_loop.run_count(3, Some(Duration::ZERO))?;
    /// let mut greeting = [0; 11];
    /// client.read_exact(&mut greeting)?;
    /// assert_eq!(&greeting, b"220 ready\r\n");
    /// # io::Result::Ok(())
    /// ```
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
    /// # Examples
    ///
    /// A reply that may not fit the socket's buffers at once, sent over as many
    /// `handle_write`s as it takes while the peer reads (here in a thread); then the channel
    /// closes:
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use ioloop::{Context, Dispatcher, EventLoop, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Download {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Download {
    ///     fn close_when_sent(&self, cx: &mut Context<'_>) {
    ///         if self.out.is_empty() {
    ///             cx.close();
    ///         }
    ///     }
    /// }
    ///
    /// impl Dispatcher for Download {
    ///     fn readable(&self) -> bool {
    ///         false
    ///     }
    ///
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    ///
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.send(cx, &vec![b'x'; 1 << 20])?; // what the socket takes now
    ///         self.close_when_sent(cx);
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.flush(cx)?; // more of the rest
    ///         self.close_when_sent(cx);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # fn pair() -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    /// #     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// #     let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// #     client.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    /// #     Ok((client, listener.accept()?.0))
    /// # }
    /// let mut event_loop = EventLoop::new()?;
    /// # let (mut client, conn) = pair()?;
    /// event_loop.spawn(conn, Download::default())?; // `client`: the peer
    /// let reader = std::thread::spawn(move || {
    ///     let mut received = Vec::new();
    ///     client.read_to_end(&mut received).map(|_| received.len())
    /// });
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// assert_eq!(reader.join().unwrap()?, 1 << 20);
    /// # io::Result::Ok(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// A bound on what a peer that does not read can make the channel keep:
    ///
    /// ```
    /// use ioloop::{Dispatcher, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Echo {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Echo {
    ///     fn readable(&self) -> bool {
    ///         self.out.len() < 64 * 1024
    ///     }
    /// }
    ///
    /// assert!(Echo::default().readable());
    /// ```
    pub fn len(&self) -> usize {
        self.data.len() - self.sent
    }

    /// Whether nothing is waiting to be sent: the answer to
    /// [`writable`](crate::Dispatcher::writable).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::{Dispatcher, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Session {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Session {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    /// }
    ///
    /// assert!(!Session::default().writable());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops what is buffered (asynchat's `discard_buffers`, for the output side).
    ///
    /// # Examples
    ///
    /// A pending reply dropped when the peer cancels the request:
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher, SendBuffer};
    ///
    /// #[derive(Default)]
    /// struct Session {
    ///     out: SendBuffer,
    /// }
    ///
    /// impl Dispatcher for Session {
    ///     fn writable(&self) -> bool {
    ///         !self.out.is_empty()
    ///     }
    ///
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 512];
    ///         let n = cx.recv(&mut buf)?;
    ///         if buf[..n].starts_with(b"ABOR") {
    ///             self.out.clear(); // the rest of the listing is not wanted
    ///             self.out.send(cx, b"226 aborted\r\n")?;
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         self.out.flush(cx)
    ///     }
    /// }
    /// # let _ = Session::default();
    /// ```
    pub fn clear(&mut self) {
        self.data = Vec::new();
        self.sent = 0;
    }
}
