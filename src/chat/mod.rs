//! The chat layer: Python's `asynchat`, as [`AsyncChat`], a [`Dispatcher`] that cuts its
//! input into messages by a [`Terminator`] and queues output with `push`.
//!
//! A Python `async_chat` subclass becomes one `impl ChatHandler`:
//!
//! | Python | ioloop |
//! |---|---|
//! | `class Session(asynchat.async_chat)` | `struct Session; impl ChatHandler for Session`, run as [`AsyncChat::new(Session, terminator)`](AsyncChat::new) |
//! | `set_terminator(b'\n')`, `get_terminator()` | [`chat.set_terminator(b"\n")`](ChatChannel::set_terminator), [`chat.terminator()`](ChatChannel::terminator) |
//! | `collect_incoming_data(data)` + `found_terminator()` with `self.incoming` | [`ChatHandler::found_terminator`] receives the message as `&[u8]` (terminator stripped; lent, so `to_vec` what you keep); override [`ChatHandler::collect_incoming_data`] to stream instead |
//! | `push(data)` | [`chat.push(data)`](ChatChannel::push) (no copy of large buffers) |
//! | `push_with_producer(p)`, `simple_producer` | [`chat.push_with_producer(p)`](ChatChannel::push_with_producer), [`SimpleProducer`] |
//! | `close_when_done()` | [`chat.close_when_done()`](ChatChannel::close_when_done) |
//! | (none) | [`ChatHandler::handle_shutdown`]: a graceful shutdown of the loop; by default the queued replies are sent, then the channel closes |
//! | `discard_buffers()` | [`chat.discard_buffers()`](ChatChannel::discard_buffers) (keeps a pending close) |
//! | `ac_in_buffer_size`, `ac_out_buffer_size` | [`ChatConfig::in_buffer_size`], [`ChatConfig::out_buffer_size`] |
//! | (unbounded; `smtpd` counted `num_bytes` by hand and answered `500 Error: line too long`) | [`ChatConfig::max_message`]: a longer message is `InvalidData` → `handle_error` → that channel closes; with [`on_overflow: Overflow::Discard`](ChatConfig::on_overflow) its rest is dropped as it arrives and [`ChatHandler::message_too_long`] is told, and the session goes on; [`chat.set_max_message(n)`](ChatChannel::set_max_message) per message |
//! | (unbounded) | [`ChatConfig::high_water`]: above it the channel stops reading until the peer drains its output |
//! | (unbounded) | [`ChatConfig::max_output`]: a push past it is refused and the channel closed, so a member that never reads costs at most this |
//! | (none) | [`ChatConfig::timeouts`]: idle, message (a slowloris defence), drain and connect limits, then [`ChatHandler::handle_timeout`] |
//! | `close()` with unread input (the peer sees a reset) | [`ChatConfig::linger`]: `close_when_done` drains the peer's input before closing |
//! | another session's `push` | [`cx.get_mut::<AsyncChat<Session>>(token)`](crate::Context::get_mut)`.push(…)` |
//!
//! Differences on purpose: no message is delivered after the channel closes (asynchat went
//! on delivering buffered lines to a closed channel); `push` after `close_when_done` is an
//! error instead of a silent queue; a channel whose peer closes sends what it had queued
//! before it closes.

mod framer;
mod output;
mod pool;
mod producer;
mod terminator;

use std::fmt;
use std::io::{self, IoSlice};
use std::time::Duration;

pub use framer::{Framer, Overflow, Progress, prefix_at_end};
pub use output::Outgoing;
pub use producer::{Producer, SimpleProducer};
pub use terminator::{ByteOrder, LengthPrefix, Terminator};

use self::output::{MAX_SLICES, Next, OutputQueue, SMALL_SLICE};
use crate::diagnostics::report;
use crate::{Context, Dispatcher, TimeoutKind, Timeouts, TimerId};

/// Buffer sizes and limits of a chat channel: asynchat's `ac_in_buffer_size` and
/// `ac_out_buffer_size` class attributes, and the limits asynchat lacked.
///
/// # Examples
///
/// ```
/// use ioloop::chat::{AsyncChat, ChatConfig, Overflow};
/// # use ioloop::chat::{ChatChannel, ChatHandler};
/// # struct Session;
/// # impl ChatHandler for Session {
/// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
/// # }
///
/// // Python: class Session(async_chat): ac_in_buffer_size = 4096
/// let config = ChatConfig {
///     in_buffer_size: 4096,
///     max_message: 8 * 1024, // a longer line closes the channel
///     ..ChatConfig::default()
/// };
/// let mut session = AsyncChat::with_config(Session, b"\r\n", config);
/// assert_eq!(session.channel().config().max_message, 8 * 1024);
///
/// // smtpd's policy: a longer line is dropped, `message_too_long` answers it, the session
/// // goes on.
/// let smtp = ChatConfig { max_message: 512, on_overflow: Overflow::Discard, ..config };
/// # let _ = smtp;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatConfig {
    /// The most read from the socket at once (asynchat's `ac_in_buffer_size`). Default 64 KiB.
    pub in_buffer_size: usize,
    /// The most written to the socket at once (asynchat's `ac_out_buffer_size`). Default
    /// 64 KiB.
    pub out_buffer_size: usize,
    /// The longest message (and length-prefixed frame, header included) accepted; what a
    /// longer one does is [`on_overflow`](Self::on_overflow)'s. Default 1 MiB. A handler
    /// changes it per message with [`ChatChannel::set_max_message`].
    ///
    /// The limit is on what the channel buffers: a handler that overrides
    /// [`ChatHandler::collect_incoming_data`] and keeps nothing in the message is not
    /// limited (a length-prefixed frame still is, by its header).
    pub max_message: usize,
    /// What a message over [`max_message`](Self::max_message) does:
    /// [`Overflow::Close`] (default): an `InvalidData` error, so `handle_error` and the
    /// channel closes; [`Overflow::Discard`]: the rest of the message is dropped as it
    /// arrives (never buffered), then [`ChatHandler::message_too_long`] is called in its
    /// place and the session goes on with the next message (`smtpd`'s
    /// `500 Error: line too long`). With no terminator ([`Terminator::None`], a spent count)
    /// a message has no end to discard up to: it is an error under either policy.
    pub on_overflow: Overflow,
    /// Queued output above which the channel stops reading, so a peer that never reads
    /// cannot make the process buffer without bound. Default 1 MiB.
    pub high_water: usize,
    /// The most output one channel may hold queued, whoever pushes it. A push that would
    /// go past it is refused (an `OutOfMemory` error to the pusher), the channel's queue is
    /// dropped, and the channel is closed through its `handle_error`: a chat member who
    /// never reads costs at most this, not the room's whole traffic. (`high_water` only
    /// stops a channel's own reading.) Default 64 MiB; send larger replies with a
    /// [`Producer`], which is asked only as the socket takes data.
    pub max_output: usize,
    /// The channel's deadlines, set when it opens (see [`Timeouts`]): the message clock
    /// runs from the first byte of a message to its terminator, so a peer trickling a line
    /// one byte at a time is closed when it expires. Default: none.
    pub timeouts: Timeouts,
    /// When set, [`close_when_done`](ChatChannel::close_when_done) closes lingering (see
    /// [`Context::close_lingering`]): after the last byte is sent, the loop drains what the
    /// peer still sends, for this long at most, so that an error reply sent to a peer in
    /// mid-upload is read rather than lost to a reset. Default: none (close at once).
    pub linger: Option<Duration>,
}

impl Default for ChatConfig {
    fn default() -> ChatConfig {
        ChatConfig {
            in_buffer_size: 64 * 1024,
            out_buffer_size: 64 * 1024,
            max_message: 1024 * 1024,
            on_overflow: Overflow::Close,
            high_water: 1024 * 1024,
            max_output: 64 * 1024 * 1024,
            timeouts: Timeouts::NONE,
            linger: None,
        }
    }
}

/// A chat channel's own state: its terminator machine, the message being collected, and its
/// output queue. Handlers get it as `chat`.
///
/// What Python's `async_chat` subclass reached through `self` (`push`, `set_terminator`,
/// `close_when_done`…) is here, on `chat`; the socket and the loop are on the
/// [`Context`]. Outside a callback, [`AsyncChat::channel`] reaches it.
///
/// # Examples
///
/// An echo of lines, served on one end of a connection on 127.0.0.1 while this code plays
/// the peer:
///
/// ```
/// use std::io::{self, Read, Write};
/// use std::net::{Shutdown, TcpListener, TcpStream};
/// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler};
/// use ioloop::{Context, EventLoop};
///
/// struct Echo;
///
/// impl ChatHandler for Echo {
///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
///         chat.push([b"> ", line, b"\n"].concat())
///     }
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut peer = TcpStream::connect(listener.local_addr()?)?;
/// let (socket, _) = listener.accept()?;
/// let mut event_loop = EventLoop::new()?;
/// event_loop.spawn(socket, AsyncChat::new(Echo, b"\n"))?;
///
/// peer.write_all(b"hello\nworld\n")?;
/// peer.shutdown(Shutdown::Write)?; // the default handle_close sends what is queued, then closes
/// event_loop.run()?; // until the channel has closed
/// let mut reply = String::new();
/// peer.read_to_string(&mut reply)?;
/// assert_eq!(reply, "> hello\n> world\n");
/// # io::Result::Ok(())
/// ```
pub struct ChatChannel {
    framer: Framer,
    message: Vec<u8>,
    output: OutputQueue,
    config: ChatConfig,
    /// The chat closed itself (after `close_when_done`, or `close`).
    closed: bool,
    /// A push went past `max_output`: the channel is to close through `handle_error`
    /// (not yet told).
    overflowed: bool,
    /// STARTTLS asked for: the channel turns TLS once its queued output is sent, and reads
    /// nothing until then.
    #[cfg(feature = "tls")]
    starting_tls: Option<TlsStart>,
}

/// A STARTTLS the chat layer will make ([`ChatChannel::start_tls_server`]).
#[cfg(feature = "tls")]
enum TlsStart {
    Server(std::sync::Arc<crate::tls::rustls::ServerConfig>),
    Client(String, std::sync::Arc<crate::tls::rustls::ClientConfig>),
}

impl ChatChannel {
    fn new(terminator: Terminator, config: ChatConfig) -> ChatChannel {
        let mut framer = Framer::new(terminator);
        framer.set_max_frame(config.max_message);
        framer.set_overflow(config.on_overflow);
        ChatChannel {
            framer,
            message: Vec::new(),
            output: OutputQueue::default(),
            config,
            closed: false,
            overflowed: false,
            #[cfg(feature = "tls")]
            starting_tls: None,
        }
    }

    /// Queues `data` for sending, in order (see [`Outgoing`]). A `Vec` is queued as it is,
    /// never copied; a shared `Rc<[u8]>` or `Arc<[u8]>` is queued by reference, so pushing
    /// one line to many channels keeps no copy per channel; a borrowed slice is copied, and
    /// small ones are gathered with the small pushes next to them into one buffer. Whatever
    /// is queued goes out together: one send per wake-up, not one per push (buffers that
    /// are small on average copied into one for that send, others in one vectored send).
    /// (Python's `push`.)
    ///
    /// # Errors
    ///
    /// `NotConnected` after [`close_when_done`](Self::close_when_done) (the data could
    /// never be sent). `OutOfMemory` if the queue would go past
    /// [`ChatConfig::max_output`]: the channel's queued output is dropped and the channel
    /// closes through its `handle_error` (a broadcast should log this and go on to the next
    /// member, not return it with `?`, which would close the pusher's own channel too).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\r\n");
    /// let chat = session.channel(); // in a ChatHandler callback: the `chat` argument
    /// chat.push("220 ready\r\n")?; // &str, &[u8], String or Vec<u8>
    /// chat.push(vec![b'.'; 1000])?; // queued as it is, not copied
    /// assert_eq!(chat.queued(), 11 + 1000);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn push<'a>(&mut self, data: impl Into<Outgoing<'a>>) -> io::Result<()> {
        self.check_open()?;
        let data = data.into();
        if self.output.queued() + data.len() > self.config.max_output {
            return Err(self.overflow());
        }
        self.output.push(data);
        Ok(())
    }

    /// A push went past `max_output`: drop the queue now (the memory is what the limit is
    /// for), refuse further pushes, and have the channel closed through `handle_error`.
    #[cold]
    fn overflow(&mut self) -> io::Error {
        self.output.discard();
        self.closed = true;
        self.overflowed = true;
        self.overflow_error()
    }

    fn overflow_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "output over {} bytes queued (max_output): the peer is not reading",
                self.config.max_output
            ),
        )
    }

    /// The overflow not yet reported to the loop, once.
    fn take_overflow(&mut self) -> Option<io::Error> {
        if !std::mem::take(&mut self.overflowed) {
            return None;
        }
        Some(self.overflow_error())
    }

    /// Queues a producer, asked for data only when the socket can take it (Python's
    /// `push_with_producer`): a large reply is made as it is sent, not all at once.
    ///
    /// # Errors
    ///
    /// `NotConnected` after [`close_when_done`](Self::close_when_done).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler, SimpleProducer};
    /// use ioloop::{Context, EventLoop};
    ///
    /// /// Answers any request with a file-sized reply, then hangs up.
    /// struct Download;
    ///
    /// impl ChatHandler for Download {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, _request: &[u8]) -> io::Result<()> {
    ///         // Python: self.push_with_producer(simple_producer(data)); self.close_when_done()
    ///         chat.push_with_producer(SimpleProducer::new(vec![b'x'; 10_000], 4096))?;
    ///         chat.close_when_done();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(socket, AsyncChat::new(Download, b"\n"))?; // `socket`: a 127.0.0.1 connection
    /// peer.write_all(b"GET\n")?; // `peer`: its other end
    /// event_loop.run()?;
    /// let mut received = Vec::new();
    /// peer.read_to_end(&mut received)?;
    /// assert_eq!(received.len(), 10_000);
    /// # io::Result::Ok(())
    /// ```
    pub fn push_with_producer(&mut self, producer: impl Producer) -> io::Result<()> {
        self.check_open()?;
        self.output.push_producer(Box::new(producer));
        Ok(())
    }

    /// Frees the input buffers once no partial message is left in them: an idle channel
    /// holds no input memory.
    fn release_if_idle(&mut self) {
        self.framer.release_if_empty();
        if self.message.is_empty() {
            pool::give(std::mem::take(&mut self.message));
        }
    }

    #[inline]
    fn check_open(&self) -> io::Result<()> {
        if self.closed || self.output.close_requested() {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "push after close_when_done: the data would never be sent",
            ))
        } else {
            Ok(())
        }
    }

    /// Asks a producer that answered "nothing yet" (an empty piece) again: call it when its
    /// data is ready (the channel is not watched for writability meanwhile). Python's
    /// asynchat had no such state: its producers could only block or end.
    ///
    /// # Examples
    ///
    /// A producer fed by the handler's timer, standing for data that comes from elsewhere:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::collections::VecDeque;
    /// use std::io::{self, Read};
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler};
    /// use ioloop::{Context, EventLoop, TimerId};
    ///
    /// /// Pieces to send; `None` ends the output.
    /// type Feed = Rc<RefCell<VecDeque<Option<Vec<u8>>>>>;
    ///
    /// struct Ticker(Feed);
    ///
    /// impl ChatHandler for Ticker {
    ///     fn handle_opened(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, ()>) -> io::Result<()> {
    ///         let feed = self.0.clone();
    ///         // An empty piece while the feed is empty: "nothing yet".
    ///         chat.push_with_producer(move || feed.borrow_mut().pop_front().unwrap_or(Some(Vec::new())))?;
    ///         cx.call_later(Duration::ZERO);
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_timer(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, _: TimerId) -> io::Result<()> {
    ///         self.0.borrow_mut().extend([Some(b"tick\n".to_vec()), None]);
    ///         chat.resume_output(); // the producer has something now
    ///         chat.close_when_done();
    ///         Ok(())
    ///     }
    ///     # fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut Context<'_, ()>, _: &[u8]) -> io::Result<()> { Ok(()) }
    /// }
    ///
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(socket, AsyncChat::new(Ticker(Feed::default()), b"\n"))?;
    /// event_loop.run()?;
    /// let mut received = String::new();
    /// peer.read_to_string(&mut received)?;
    /// assert_eq!(received, "tick\n");
    /// # io::Result::Ok(())
    /// ```
    pub fn resume_output(&mut self) {
        self.output.resume();
    }

    /// Closes the channel once everything queued so far is sent (Python's
    /// `close_when_done`). The channel stops reading.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\r\n");
    /// let chat = session.channel(); // in a ChatHandler callback: the `chat` argument
    /// chat.push("221 bye\r\n")?;
    /// chat.close_when_done();
    /// assert!(chat.is_closing());
    /// // asynchat queued a late push that would never leave; here it is an error.
    /// assert_eq!(chat.push("too late").unwrap_err().kind(), io::ErrorKind::NotConnected);
    /// assert_eq!(chat.queued(), 9);
    /// # io::Result::Ok(())
    /// ```
    pub fn close_when_done(&mut self) {
        self.output.close_when_done();
    }

    /// Drops buffered input, the message being collected and all queued output — but not a
    /// pending [`close_when_done`](Self::close_when_done) (Python's `discard_buffers`, which
    /// dropped that too, and the channel then never closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\r\n");
    /// let chat = session.channel(); // in a ChatHandler callback: the `chat` argument
    /// chat.push(vec![0; 4096])?;
    /// chat.close_when_done();
    /// chat.discard_buffers(); // e.g. the peer is known gone: do not send the rest
    /// assert_eq!(chat.queued(), 0);
    /// assert!(chat.is_closing()); // it still closes
    /// # std::io::Result::Ok(())
    /// ```
    pub fn discard_buffers(&mut self) {
        self.framer.clear();
        self.message.clear();
        self.output.discard();
    }

    /// Changes the terminator (Python's `set_terminator`). Bytes already buffered are cut by
    /// the new one, so a handler can switch from headers (`b"\r\n\r\n"`) to a body
    /// ([`Terminator::count`]) inside `found_terminator`.
    ///
    /// # Examples
    ///
    /// A size line, then a body of that size, then lines again; both messages arrive in one
    /// read:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::net::Shutdown;
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler, Terminator};
    /// use ioloop::{Context, EventLoop};
    ///
    /// struct Upload;
    ///
    /// impl ChatHandler for Upload {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, message: &[u8]) -> io::Result<()> {
    ///         if let Terminator::Bytes(_) = chat.terminator() {
    ///             // Python: self.set_terminator(int(line))
    ///             let size = String::from_utf8_lossy(message).parse()
    ///                 .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    ///             chat.set_terminator(Terminator::count(size)?);
    ///         } else {
    ///             chat.push([b"got ", message, b"\n"].concat())?;
    ///             chat.set_terminator(b"\n");
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(socket, AsyncChat::new(Upload, b"\n"))?; // `socket`: a 127.0.0.1 connection
    /// peer.write_all(b"5\nhello3\nabc")?; // `peer`: its other end
    /// peer.shutdown(Shutdown::Write)?;
    /// event_loop.run()?;
    /// let mut replies = String::new();
    /// peer.read_to_string(&mut replies)?;
    /// assert_eq!(replies, "got hello\ngot abc\n");
    /// # io::Result::Ok(())
    /// ```
    pub fn set_terminator(&mut self, terminator: impl Into<Terminator>) {
        self.framer.set_terminator(terminator.into());
    }

    /// The current terminator (Python's `get_terminator`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::{AsyncChat, Terminator};
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\r\n");
    /// let chat = session.channel(); // in a ChatHandler callback: the `chat` argument
    /// assert_eq!(chat.terminator(), &Terminator::bytes(b"\r\n"));
    /// chat.set_terminator(Terminator::count(512)?);
    /// assert_eq!(chat.terminator(), &Terminator::Count(512));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn terminator(&self) -> &Terminator {
        self.framer.terminator()
    }

    /// The channel's sizes and limits, as given to [`AsyncChat::with_config`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::{AsyncChat, ChatConfig};
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\r\n");
    /// assert_eq!(session.channel().config(), &ChatConfig::default());
    /// ```
    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// Changes [`ChatConfig::max_message`] for this channel, from the message being collected
    /// on (a length-prefixed frame: from the next header on). Called in `found_terminator`
    /// or `message_too_long` along with [`set_terminator`](Self::set_terminator), it applies
    /// to the next message, also when that message is already buffered: `smtpd` limits a
    /// command line to 512 bytes and a message body (`DATA`) to 32 MiB.
    ///
    /// # Examples
    ///
    /// smtpd's two limits: command lines end in `\r\n` and are at most 512 bytes; after
    /// `DATA`, the mail ends in `\r\n.\r\n` and is at most 33 554 432 bytes. Over a limit,
    /// the session answers and goes on.
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::net::Shutdown;
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler, Overflow};
    /// use ioloop::{Context, EventLoop};
    ///
    /// const COMMAND_LIMIT: usize = 512;
    /// const DATA_LIMIT: usize = 33_554_432;
    ///
    /// struct Smtp {
    ///     in_data: bool,
    /// }
    ///
    /// impl Smtp {
    ///     fn back_to_commands(&mut self, chat: &mut ChatChannel) {
    ///         self.in_data = false;
    ///         chat.set_terminator(b"\r\n");
    ///         chat.set_max_message(COMMAND_LIMIT);
    ///     }
    /// }
    ///
    /// impl ChatHandler for Smtp {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, message: &[u8]) -> io::Result<()> {
    ///         if self.in_data {
    ///             self.back_to_commands(chat);
    ///             chat.push(format!("250 OK ({} bytes)\r\n", message.len()))
    ///         } else if message == b"DATA" {
    ///             self.in_data = true;
    ///             chat.set_terminator(b"\r\n.\r\n");
    ///             chat.set_max_message(DATA_LIMIT);
    ///             chat.push("354 End data with <CR><LF>.<CR><LF>\r\n")
    ///         } else {
    ///             chat.push("250 OK\r\n")
    ///         }
    ///     }
    ///
    ///     fn message_too_long(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, _size: usize) -> io::Result<()> {
    ///         if self.in_data {
    ///             self.back_to_commands(chat);
    ///             chat.push("552 Error: Too much mail data\r\n")
    ///         } else {
    ///             chat.push("500 Error: line too long\r\n")
    ///         }
    ///     }
    /// }
    ///
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let config = ChatConfig { max_message: COMMAND_LIMIT, on_overflow: Overflow::Discard, ..ChatConfig::default() };
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(socket, AsyncChat::with_config(Smtp { in_data: false }, b"\r\n", config))?;
    /// // `peer`: the other end of `socket`. All of it in one write: pipelined.
    /// let long_line = vec![b'x'; 600];
    /// let mail = vec![b'y'; 600]; // over the command limit, within the data limit
    /// peer.write_all(&[&long_line[..], b"\r\nDATA\r\n", &mail, b"\r\n.\r\nNOOP\r\n"].concat())?;
    /// peer.shutdown(Shutdown::Write)?;
    /// event_loop.run()?;
    /// let mut replies = String::new();
    /// peer.read_to_string(&mut replies)?;
    /// assert_eq!(replies, "500 Error: line too long\r\n\
    ///                      354 End data with <CR><LF>.<CR><LF>\r\n\
    ///                      250 OK (600 bytes)\r\n\
    ///                      250 OK\r\n");
    /// # io::Result::Ok(())
    /// ```
    pub fn set_max_message(&mut self, max: usize) {
        self.config.max_message = max;
        self.framer.set_max_frame(max);
    }

    /// Input the channel holds: bytes read and not yet framed, plus the message collected so
    /// far. It stays under [`ChatConfig::max_message`] plus
    /// [`ChatConfig::in_buffer_size`] (plus a partial terminator), whatever the peer sends:
    /// what goes over the limit is an error or, with [`Overflow::Discard`], dropped as it
    /// arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\r\n");
    /// assert_eq!(session.channel().buffered_input(), 0); // nothing read yet
    /// ```
    pub fn buffered_input(&self) -> usize {
        self.framer.buffered() + self.message.len()
    }

    /// Bytes queued and not yet sent (a producer's count once it has produced them). Above
    /// [`ChatConfig::high_water`] the channel stops reading.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::{AsyncChat, SimpleProducer};
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\n");
    /// let chat = session.channel(); // in a ChatHandler callback: the `chat` argument
    /// chat.push("hello\n")?;
    /// chat.push_with_producer(SimpleProducer::new(vec![0; 4096], 512))?; // not produced yet
    /// assert_eq!(chat.queued(), 6);
    /// if chat.queued() > chat.config().high_water / 2 {
    ///     // e.g. skip a broadcast to this slow reader
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn queued(&self) -> usize {
        self.output.queued()
    }

    /// Whether the channel closed itself or will once its output is sent: pushing to it is
    /// then an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\n");
    /// let chat = session.channel(); // in a ChatHandler callback: the `chat` argument
    /// assert!(!chat.is_closing());
    /// chat.close_when_done();
    /// assert!(chat.is_closing());
    /// if !chat.is_closing() {
    ///     chat.push("news\n")?; // e.g. a broadcast that skips leaving sessions
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn is_closing(&self) -> bool {
        self.closed || self.output.close_requested()
    }

    /// STARTTLS, server side: once everything queued so far is sent in clear (the
    /// go-ahead reply), the channel turns TLS with a server session of `config`
    /// ([`Context::start_tls_server`]); [`ChatHandler::handle_tls_ready`] follows the
    /// handshake. The input the channel has buffered is dropped now, and nothing more is read
    /// until the switch: commands a client pipelined after STARTTLS in clear text are never
    /// taken for commands of the secure session (the CVE-2011-0411 class of bug).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::sync::Arc;
    /// use ioloop::Context;
    /// use ioloop::chat::{ChatChannel, ChatHandler};
    /// use ioloop::tls::rustls;
    ///
    /// struct Smtp {
    ///     tls: Arc<rustls::ServerConfig>,
    /// }
    ///
    /// impl ChatHandler for Smtp {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
    ///         if line.eq_ignore_ascii_case(b"STARTTLS") && !cx.is_tls() {
    ///             chat.push("220 Ready to start TLS\r\n")?;
    ///             chat.start_tls_server(self.tls.clone())?; // after the 220, in clear
    ///         } else {
    ///             chat.push("250 OK\r\n")?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
    /// # let tls = ioloop::tls::server_config_from_pem(format!("{dir}/server.pem"), format!("{dir}/server-key.pem"))?;
    /// # let _ = Smtp { tls };
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if a switch is pending already; `NotConnected` after
    /// [`close_when_done`](Self::close_when_done). The switch itself fails as
    /// [`Context::start_tls_server`] does (a channel that runs TLS already), through
    /// `handle_error`.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn start_tls_server(
        &mut self,
        config: std::sync::Arc<crate::tls::rustls::ServerConfig>,
    ) -> io::Result<()> {
        self.start_tls(TlsStart::Server(config))
    }

    /// STARTTLS, client side: once everything queued so far is sent, the channel turns TLS,
    /// verifying the server's certificate for `server_name` with `config`
    /// ([`Context::start_tls_client`]); buffered input is dropped (see
    /// [`start_tls_server`](Self::start_tls_server)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::sync::Arc;
    /// use ioloop::Context;
    /// use ioloop::chat::{ChatChannel, ChatHandler};
    /// use ioloop::tls::rustls;
    ///
    /// struct Client {
    ///     tls: Arc<rustls::ClientConfig>,
    /// }
    ///
    /// impl ChatHandler for Client {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
    ///         if line.starts_with(b"220 ") && !cx.is_tls() {
    ///             chat.start_tls_client("localhost", self.tls.clone())?;
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_tls_ready(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>) -> io::Result<()> {
    ///         chat.push("EHLO client.example\r\n") // the session starts over, encrypted
    ///     }
    /// }
    /// # let tls = ioloop::tls::client_config_from_pem(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls/ca.pem"))?;
    /// # let _ = Client { tls };
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`start_tls_server`](Self::start_tls_server).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn start_tls_client(
        &mut self,
        server_name: &str,
        config: std::sync::Arc<crate::tls::rustls::ClientConfig>,
    ) -> io::Result<()> {
        self.start_tls(TlsStart::Client(server_name.to_owned(), config))
    }

    #[cfg(feature = "tls")]
    fn start_tls(&mut self, start: TlsStart) -> io::Result<()> {
        self.check_open()?;
        if self.starting_tls.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a STARTTLS is pending already",
            ));
        }
        self.drop_clear_input();
        self.starting_tls = Some(start);
        Ok(())
    }

    /// Drops the clear-text input buffered when the channel turns TLS.
    #[cfg(feature = "tls")]
    fn drop_clear_input(&mut self) {
        let dropped = self.framer.buffered();
        if dropped > 0 {
            log::debug!(target: "ioloop::chat", "STARTTLS: {dropped} bytes of clear-text input after the command dropped");
        }
        self.framer.clear();
        self.message.clear();
    }

    /// Whether a STARTTLS waits for the queued output (the channel reads nothing meanwhile).
    #[inline(always)]
    fn tls_pending(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.starting_tls.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }
}

impl fmt::Debug for ChatChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatChannel")
            .field("framer", &self.framer)
            .field("message", &self.message.len())
            .field("output", &self.output)
            .field("closed", &self.closed)
            .finish()
    }
}

/// What a chat protocol does with its messages: the methods of a Python `async_chat`
/// subclass. Only [`found_terminator`](Self::found_terminator) is required.
///
/// `S` is the loop's state ([`Context::state`]), shared by every channel: a chat room's
/// members, say.
///
/// # Examples
///
/// A port of a small `async_chat` subclass:
///
/// ```python
/// class Session(asynchat.async_chat):
///     def __init__(self, sock):
///         asynchat.async_chat.__init__(self, sock)
///         self.set_terminator(b"\r\n")
///         self.data = b""
///         self.push(b"220 ready\r\n")
///     def collect_incoming_data(self, data):
///         self.data += data
///     def found_terminator(self):
///         line, self.data = self.data, b""
///         if line == b"QUIT":
///             self.push(b"221 bye\r\n")
///             self.close_when_done()
///         else:
///             self.push(b"250 " + line + b"\r\n")
/// ```
///
/// ```
/// use std::io::{self, Read, Write};
/// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler};
/// use ioloop::{Context, EventLoop};
///
/// struct Session;
///
/// impl ChatHandler for Session {
///     fn handle_opened(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>) -> io::Result<()> {
///         chat.push("220 ready\r\n")
///     }
///
///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
///         if line == b"QUIT" {
///             chat.push("221 bye\r\n")?;
///             chat.close_when_done();
///             Ok(())
///         } else {
///             chat.push([b"250 ", line, b"\r\n"].concat())
///         }
///     }
/// }
///
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
/// # let (socket, _) = listener.accept()?;
/// let mut event_loop = EventLoop::new()?;
/// event_loop.spawn(socket, AsyncChat::new(Session, b"\r\n"))?; // `socket`: a 127.0.0.1 connection
/// peer.write_all(b"HELO there\r\nQUIT\r\n")?; // `peer`: its other end
/// event_loop.run()?; // until the session closes itself
/// let mut replies = String::new();
/// peer.read_to_string(&mut replies)?;
/// assert_eq!(replies, "220 ready\r\n250 HELO there\r\n221 bye\r\n");
/// # io::Result::Ok(())
/// ```
#[allow(unused_variables)] // the defaults ignore most arguments
pub trait ChatHandler<S: 'static = ()>: 'static {
    /// A complete message (terminator stripped; for a length-prefixed terminator, the whole
    /// frame unless the header is stripped). May push replies, change the terminator, close.
    ///
    /// The message is lent: the channel reuses its buffer for the next message of the same
    /// read, so framing costs no allocation per message. Copy (`to_vec`) what must outlive
    /// the call.
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, S>,
        message: &[u8],
    ) -> io::Result<()>;

    /// A message over [`ChatConfig::max_message`] was discarded under
    /// [`Overflow::Discard`]: called once its end (its terminator, or the end of its count
    /// or of its length-prefixed frame) has arrived, in its place among the messages, so a
    /// reply pushed here comes before the reply to the next message. `size` is the size the
    /// message had (what `found_terminator` would have received; for a frame refused by its
    /// header, the frame's declared size, the header counted if it is kept). The bytes past
    /// the limit were never buffered.
    ///
    /// May push a reply, change the terminator or the limit, close. Default: an
    /// `InvalidData` error, so `handle_error` closes the channel, as
    /// [`Overflow::Close`] does (but only once the message has ended). Under
    /// [`Overflow::Close`] (the default policy) it is never called.
    ///
    /// # Examples
    ///
    /// smtpd's answer to an over-long command line:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::net::Shutdown;
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler, Overflow};
    /// use ioloop::{Context, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl ChatHandler for Session {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
    ///         chat.push([b"250 ", line, b"\r\n"].concat())
    ///     }
    ///
    ///     fn message_too_long(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, size: usize) -> io::Result<()> {
    ///         assert_eq!(size, 100_000);
    ///         chat.push("500 Error: line too long\r\n")
    ///     }
    /// }
    ///
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let config = ChatConfig { max_message: 512, on_overflow: Overflow::Discard, ..ChatConfig::default() };
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(socket, AsyncChat::with_config(Session, b"\r\n", config))?;
    /// // `peer`: the other end of `socket`
    /// peer.write_all(&[&vec![b'x'; 100_000][..], b"\r\nNOOP\r\n"].concat())?;
    /// peer.shutdown(Shutdown::Write)?;
    /// event_loop.run()?;
    /// let mut replies = String::new();
    /// peer.read_to_string(&mut replies)?;
    /// assert_eq!(replies, "500 Error: line too long\r\n250 NOOP\r\n");
    /// # io::Result::Ok(())
    /// ```
    fn message_too_long(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, S>,
        size: usize,
    ) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a message of {size} bytes (the maximum is {}) was discarded, and the handler \
                 has no message_too_long",
                chat.config().max_message
            ),
        ))
    }

    /// Bytes of the current message as they arrive. The default appends them to `message`,
    /// which `found_terminator` then receives; a streaming handler consumes them here and
    /// leaves `message` empty (so the size limit never applies).
    fn collect_incoming_data(&mut self, data: &[u8], message: &mut Vec<u8>) {
        message.extend_from_slice(data);
    }

    /// The channel joined the loop (see [`Dispatcher::handle_opened`]): greet the peer, arm
    /// a timer. What is pushed here is sent at once.
    fn handle_opened(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, S>) -> io::Result<()> {
        Ok(())
    }

    /// The TLS handshake completed (see [`Dispatcher::handle_tls_ready`]): after STARTTLS,
    /// the place to greet the peer anew. What is pushed here is sent at once, encrypted.
    fn handle_tls_ready(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, S>,
    ) -> io::Result<()> {
        Ok(())
    }

    /// A connection started with [`Context::connect`] is up.
    fn handle_connect(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, S>,
    ) -> io::Result<()> {
        Ok(())
    }

    /// The peer closed (or the connection broke). Default: send what is queued, then close
    /// ([`close_when_done`](ChatChannel::close_when_done)).
    fn handle_close(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, S>) -> io::Result<()> {
        chat.close_when_done();
        Ok(())
    }

    /// A handler failed, a message was over [`ChatConfig::max_message`] (`InvalidData`), or a
    /// handler panicked. Default: log it (to stderr without a logger) and close the channel.
    ///
    /// An override that keeps the channel open after an over-long message must call
    /// [`chat.discard_buffers()`](ChatChannel::discard_buffers): the input that overflowed is
    /// still buffered, and would be reported again. To go on after an over-long message, use
    /// [`Overflow::Discard`] and [`message_too_long`](Self::message_too_long) instead: they
    /// keep the messages that follow it.
    fn handle_error(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, S>, error: io::Error) {
        report!(Error, target: "ioloop::chat", "{:?}: {error}; closing the channel", cx.label());
        cx.close();
    }

    /// A timer set with [`Context::call_later`] fired.
    fn handle_timer(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, S>,
        timer: TimerId,
    ) -> io::Result<()> {
        Ok(())
    }

    /// One of [`ChatConfig::timeouts`] expired. The default closes the channel at once
    /// (logged at debug level); an expired connect is a `TimedOut` error for
    /// [`handle_error`](Self::handle_error). Override it to push a last word and
    /// [`close_when_done`](ChatChannel::close_when_done) instead. If the channel stays open
    /// (neither closes it), that limit's clock starts again.
    ///
    /// # Examples
    ///
    /// A line protocol that answers a client slower than 100 ms per line, then hangs up:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::time::Duration;
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler};
    /// use ioloop::{Context, EventLoop, TimeoutKind, Timeouts};
    ///
    /// struct Session;
    ///
    /// impl ChatHandler for Session {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
    ///         chat.push([b"250 ", line, b"\r\n"].concat())
    ///     }
    ///
    ///     fn handle_timeout(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, timeout: TimeoutKind) -> io::Result<()> {
    ///         chat.push(format!("421 {timeout}\r\n"))?;
    ///         chat.close_when_done();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let config = ChatConfig {
    ///     timeouts: Timeouts { message: Some(Duration::from_millis(100)), ..Timeouts::NONE },
    ///     ..ChatConfig::default()
    /// };
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(socket, AsyncChat::with_config(Session, b"\r\n", config))?;
    /// peer.write_all(b"NOOP\r\nNO")?; // `peer`: a line and a half, then silence
    /// # event_loop.schedule(Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run()?;
    /// let mut replies = String::new();
    /// peer.read_to_string(&mut replies)?;
    /// assert_eq!(replies, "250 NOOP\r\n421 message timeout\r\n");
    /// # io::Result::Ok(())
    /// ```
    fn handle_timeout(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, S>,
        timeout: TimeoutKind,
    ) -> io::Result<()> {
        timeout.close_by_default(cx, "ioloop::chat")
    }

    /// The loop is shutting down gracefully (see [`Dispatcher::handle_shutdown`]). Default:
    /// [`chat.close_when_done()`](ChatChannel::close_when_done): the replies already queued
    /// are sent, then the channel closes.
    ///
    /// Every message received before the shutdown was delivered to
    /// [`found_terminator`](Self::found_terminator) as it arrived, so its reply is among
    /// those queued. From here on the channel reads nothing more: a request that arrives
    /// after the shutdown began is not served, and a partly received message is not waited
    /// for — it is dropped when the channel closes. What is queued must be sent within the
    /// shutdown's grace period; a peer that does not read is cut off when it ends.
    ///
    /// # Examples
    ///
    /// A last word before the queued replies' end:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::time::Duration;
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler};
    /// use ioloop::{Context, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl ChatHandler for Session {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
    ///         chat.push([b"250 ", line, b"\r\n"].concat())?;
    ///         cx.shutdown_loop(Duration::from_secs(5)); // one request is all this one serves
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_shutdown(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>) -> io::Result<()> {
    ///         chat.push("421 closing\r\n")?;
    ///         chat.close_when_done();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(socket, AsyncChat::new(Session, b"\r\n"))?; // `socket`: a 127.0.0.1 connection
    /// peer.write_all(b"NOOP\r\n")?; // `peer`: its other end
    /// event_loop.run()?; // until the session has closed
    /// let mut replies = String::new();
    /// peer.read_to_string(&mut replies)?;
    /// assert_eq!(replies, "250 NOOP\r\n421 closing\r\n");
    /// # io::Result::Ok(())
    /// ```
    fn handle_shutdown(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, S>,
    ) -> io::Result<()> {
        chat.close_when_done();
        Ok(())
    }
}

/// asynchat's `async_chat`: a [`Dispatcher`] that frames input with a [`Terminator`] and
/// hands messages to a [`ChatHandler`].
///
/// # Examples
///
/// A line-echo protocol:
///
/// ```no_run
/// use std::io;
/// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler, Terminator};
/// use ioloop::{Context, Dispatcher, EventLoop, net};
/// use ioloop::socket2::{SockAddr, Socket};
///
/// struct Shout;
///
/// impl ChatHandler for Shout {
///     fn found_terminator(&mut self, chat: &mut ChatChannel, _: &mut Context<'_, ()>, line: &[u8]) -> io::Result<()> {
///         chat.push(line.to_ascii_uppercase())?;
///         chat.push(b"\n")
///     }
/// }
///
/// struct Server;
///
/// impl Dispatcher for Server {
///     fn handle_accepted(&mut self, cx: &mut Context<'_, ()>, socket: Socket, _: SockAddr) -> io::Result<()> {
///         cx.spawn(socket, AsyncChat::new(Shout, Terminator::bytes(b"\n")))?;
///         Ok(())
///     }
/// }
///
/// let mut event_loop = EventLoop::new()?;
/// event_loop.spawn(net::listen("127.0.0.1:7000".parse().unwrap(), 128)?, Server)?;
/// event_loop.run()?;
/// # io::Result::Ok(())
/// ```
pub struct AsyncChat<H> {
    channel: ChatChannel,
    handler: H,
}

impl<H> AsyncChat<H> {
    /// A chat channel with the default [`ChatConfig`] (Python's `async_chat(sock)` followed
    /// by `set_terminator`; the socket is given to [`EventLoop::spawn`](crate::EventLoop::spawn)).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::{AsyncChat, Terminator};
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\r\n");
    /// assert_eq!(session.channel().terminator(), &Terminator::bytes(b"\r\n"));
    /// ```
    pub fn new(handler: H, terminator: impl Into<Terminator>) -> AsyncChat<H> {
        AsyncChat::with_config(handler, terminator, ChatConfig::default())
    }

    /// A chat channel with the given sizes and limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::{AsyncChat, ChatConfig};
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// // Python: ac_out_buffer_size = 4096
    /// let config = ChatConfig { out_buffer_size: 4096, ..ChatConfig::default() };
    /// let mut session = AsyncChat::with_config(Session, b"\r\n", config);
    /// assert_eq!(session.channel().config().out_buffer_size, 4096);
    /// ```
    pub fn with_config(
        handler: H,
        terminator: impl Into<Terminator>,
        config: ChatConfig,
    ) -> AsyncChat<H> {
        AsyncChat {
            channel: ChatChannel::new(terminator.into(), config),
            handler,
        }
    }

    /// The protocol handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// struct Session {
    ///     name: String,
    /// }
    ///
    /// let session = AsyncChat::new(Session { name: "guest".into() }, b"\n");
    /// assert_eq!(session.handler().name, "guest");
    /// ```
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The protocol handler, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// struct Session {
    ///     name: String,
    /// }
    ///
    /// let mut session = AsyncChat::new(Session { name: "guest".into() }, b"\n");
    /// session.handler_mut().name = "alice".into(); // e.g. renamed by an admin's command
    /// assert_eq!(session.handler().name, "alice");
    /// ```
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The channel's own state (to push from outside a callback, e.g. a broadcast reaching
    /// this session through [`Context::get_mut`]).
    ///
    /// # Examples
    ///
    /// A chat room: what one member says goes to every member. The loop's state holds the
    /// members' tokens.
    ///
    /// ```
    /// use std::io;
    /// use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler};
    /// use ioloop::{Context, Token};
    ///
    /// struct Member;
    ///
    /// impl ChatHandler<Vec<Token>> for Member {
    ///     fn found_terminator(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, Vec<Token>>, line: &[u8]) -> io::Result<()> {
    ///         let said = [line, b"\n"].concat();
    ///         for token in cx.state().clone() {
    ///             // The other members (this one's channel is `chat`, lent to this call).
    ///             if let Some(member) = cx.get_mut::<AsyncChat<Member>>(token) {
    ///                 member.channel().push(said.clone()).ok(); // one that is leaving: skipped
    ///             }
    ///         }
    ///         chat.push(said)
    ///     }
    /// }
    /// # let _ = AsyncChat::new(Member, b"\n");
    /// ```
    pub fn channel(&mut self) -> &mut ChatChannel {
        &mut self.channel
    }

    /// Shorthand for `channel().push(data)`.
    ///
    /// # Errors
    ///
    /// As [`ChatChannel::push`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::chat::AsyncChat;
    /// # use ioloop::chat::{ChatChannel, ChatHandler};
    /// # struct Session;
    /// # impl ChatHandler for Session {
    /// #     fn found_terminator(&mut self, _: &mut ChatChannel, _: &mut ioloop::Context<'_, ()>, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// # }
    ///
    /// let mut session = AsyncChat::new(Session, b"\n");
    /// session.push("welcome\n")?;
    /// assert_eq!(session.channel().queued(), 8);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn push<'a>(&mut self, data: impl Into<Outgoing<'a>>) -> io::Result<()> {
        self.channel.push(data)
    }

    /// Sends what the socket takes now, the queued buffers together in one send
    /// (at most `out_buffer_size` bytes per send); closes once a `close_when_done` mark is
    /// reached.
    fn initiate_send<S: 'static>(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        if let Some(overflow) = self.channel.take_overflow() {
            // A push of this channel's own callbacks went past max_output, and the handler
            // did not pass the error on: the channel closes all the same.
            return Err(overflow);
        }
        let limit = self.channel.config.out_buffer_size.max(1);
        loop {
            match self.channel.output.next() {
                #[cfg(feature = "tls")]
                Next::Idle if self.channel.starting_tls.is_some() => {
                    // The clear-text reply is out: the channel turns TLS now.
                    return match self.channel.starting_tls.take() {
                        Some(TlsStart::Server(config)) => cx.start_tls_server(config),
                        Some(TlsStart::Client(name, config)) => cx.start_tls_client(&name, config),
                        None => Ok(()),
                    };
                }
                Next::Idle => return Ok(()),
                Next::Close => {
                    self.channel.closed = true;
                    match self.channel.config.linger {
                        Some(limit) => cx.close_lingering(limit),
                        None => cx.close(),
                    }
                    return Ok(());
                }
                Next::Send => {}
            }
            let (sent, offered) = if let Some(bytes) = self.channel.output.single(limit) {
                (cx.send(bytes)?, bytes.len())
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let (n, offered) = self.channel.output.gather(&mut slices, limit);
                (send_gathered(cx, &slices[..n], offered)?, offered)
            };
            if sent == 0 {
                return Ok(()); // full (or the peer left: the loop calls handle_close)
            }
            self.channel.output.consumed(sent);
            if sent < offered {
                // The socket took part: it is full now, and asking again would only cost a
                // system call that says so. The rest goes when it is writable.
                return Ok(());
            }
        }
    }

    /// Runs the terminator machine over buffered input, delivering messages while the
    /// channel stays open.
    fn deliver<S: 'static>(&mut self, cx: &mut Context<'_, S>) -> io::Result<()>
    where
        H: ChatHandler<S>,
    {
        loop {
            // Nothing is delivered once the channel closes or asked to (asynchat went on
            // delivering buffered messages to a closed channel), nor once a STARTTLS is due.
            if self.channel.is_closing() || !cx.is_open() || self.channel.tls_pending() {
                return Ok(());
            }
            let ChatChannel {
                framer,
                message,
                config,
                ..
            } = &mut self.channel;
            let handler = &mut self.handler;
            let progress =
                framer.advance(&mut |data| handler.collect_incoming_data(data, message))?;
            if message.len() > config.max_message {
                // A message cut off with no terminator to end it (`None`, a spent count)
                // has no end to discard up to.
                let endless = progress == framer::Progress::NeedMore && !framer.can_end_a_message();
                if config.on_overflow == Overflow::Close || endless {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a message of over {} bytes (the maximum)",
                            config.max_message
                        ),
                    ));
                }
                // Discard: what was collected goes now, the rest as it arrives.
                let size = message.len();
                message.clear();
                match progress {
                    framer::Progress::NeedMore => framer.discard_message(size),
                    framer::Progress::Frame => {
                        self.handler.message_too_long(&mut self.channel, cx, size)?;
                    }
                }
                continue;
            }
            match progress {
                framer::Progress::NeedMore => return Ok(()),
                framer::Progress::Frame => {
                    if let Some(size) = framer.take_discarded() {
                        message.clear(); // bytes of it collected before the discard began
                        self.handler.message_too_long(&mut self.channel, cx, size)?;
                        continue;
                    }
                    // Lent to the handler, then put back empty for the next message: one
                    // buffer per read burst, not an allocation per message.
                    let mut message = std::mem::take(&mut self.channel.message);
                    #[cfg(feature = "tls")]
                    let was_tls = cx.is_tls();
                    let handled = self
                        .handler
                        .found_terminator(&mut self.channel, cx, &message);
                    #[cfg(feature = "tls")]
                    if !was_tls && cx.is_tls() {
                        // The handler turned the channel TLS itself: what followed its
                        // command in clear text is not input of the secure session.
                        self.channel.drop_clear_input();
                    }
                    message.clear();
                    if self.channel.message.capacity() == 0 {
                        self.channel.message = message;
                    }
                    handled?;
                }
            }
        }
    }
}

impl<H> fmt::Debug for AsyncChat<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncChat")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl<S: 'static, H: ChatHandler<S>> Dispatcher<S> for AsyncChat<H> {
    fn readable(&self) -> bool {
        !self.channel.is_closing()
            && !self.channel.tls_pending()
            && self.channel.output.queued() <= self.channel.config.high_water
    }

    fn writable(&self) -> bool {
        self.channel.output.wants_to_send()
    }

    fn handle_read(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        if self.channel.is_closing() {
            return Ok(());
        }
        let size = self.channel.config.in_buffer_size.max(1);
        // Read into the loop's scratch buffer and keep only what was read: a channel's own
        // buffer then holds no more than its unfinished message, and nothing when idle
        // (asynchat kept `ac_in_buffer_size` per channel; 10 000 idle chats kept 640 MiB).
        let data = cx.recv_scratch(size)?;
        let n = data.len();
        self.channel.framer.push(data);
        if n > 0 {
            if self.channel.message.capacity() == 0 {
                self.channel.message = pool::take(0);
            }
            self.deliver(cx)?;
        }
        // The message clock (ChatConfig::timeouts) runs while part of a message is held, or
        // the rest of an over-long one is being discarded (a peer trickling an endless line
        // is a slowloris too).
        let pending = self.channel.buffered_input() > 0 || self.channel.framer.is_discarding();
        cx.set_message_pending(pending);
        self.channel.release_if_idle();
        self.initiate_send(cx)
    }

    fn handle_write(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        self.initiate_send(cx)
    }

    fn handle_opened(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        if !self.channel.config.timeouts.is_none() {
            cx.set_timeouts(self.channel.config.timeouts);
        }
        self.handler.handle_opened(&mut self.channel, cx)?;
        if cx.is_connecting() {
            return Ok(()); // sent once the connection is up
        }
        self.initiate_send(cx)
    }

    fn handle_connect(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        self.handler.handle_connect(&mut self.channel, cx)?;
        self.initiate_send(cx)
    }

    fn handle_tls_ready(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        self.handler.handle_tls_ready(&mut self.channel, cx)?;
        self.initiate_send(cx)
    }

    fn handle_close(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        self.handler.handle_close(&mut self.channel, cx)?;
        self.initiate_send(cx)
    }

    fn handle_timer(&mut self, cx: &mut Context<'_, S>, timer: TimerId) -> io::Result<()> {
        self.handler.handle_timer(&mut self.channel, cx, timer)?;
        self.initiate_send(cx)
    }

    fn handle_timeout(&mut self, cx: &mut Context<'_, S>, timeout: TimeoutKind) -> io::Result<()> {
        self.handler
            .handle_timeout(&mut self.channel, cx, timeout)?;
        self.initiate_send(cx)
    }

    /// A push from another channel went past `max_output`: this channel's `handle_error`.
    fn take_error(&mut self) -> Option<io::Error> {
        self.channel.take_overflow()
    }

    fn handle_shutdown(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        self.handler.handle_shutdown(&mut self.channel, cx)?;
        self.initiate_send(cx)
    }

    fn handle_error(&mut self, cx: &mut Context<'_, S>, error: io::Error) {
        self.handler.handle_error(&mut self.channel, cx, error);
        if cx.is_open() {
            // The handler may have queued a last word (an error reply) and asked to close.
            if let Err(e) = self.initiate_send(cx) {
                log::debug!(target: "ioloop::chat", "{:?}: send after an error failed: {e}", cx.label());
                cx.close();
            }
        }
    }
}

/// Sends gathered slices: small ones (on average) copied into one buffer and sent with a
/// plain send (see [`SMALL_SLICE`]), others in one vectored send.
fn send_gathered<S: 'static>(
    cx: &mut Context<'_, S>,
    slices: &[IoSlice<'_>],
    total: usize,
) -> io::Result<usize> {
    if slices.len() < 2 || total > slices.len() * SMALL_SLICE {
        return cx.send_vectored(slices);
    }
    // Over TLS the plaintext is copied into records anyway: no copy before that one.
    #[cfg(feature = "tls")]
    if cx.is_tls() {
        return cx.send_vectored(slices);
    }
    let mut flat = pool::take(total);
    for slice in slices {
        flat.extend_from_slice(slice);
    }
    let sent = cx.send(&flat);
    pool::give(flat);
    sent
}
