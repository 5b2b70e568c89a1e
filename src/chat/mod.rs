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
//! | `discard_buffers()` | [`chat.discard_buffers()`](ChatChannel::discard_buffers) (keeps a pending close) |
//! | `ac_in_buffer_size`, `ac_out_buffer_size` | [`ChatConfig::in_buffer_size`], [`ChatConfig::out_buffer_size`] |
//! | (unbounded) | [`ChatConfig::max_message`]: a longer message is `InvalidData` → `handle_error` → that channel closes |
//! | (unbounded) | [`ChatConfig::high_water`]: above it the channel stops reading until the peer drains its output |
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

pub use framer::{Framer, Progress, prefix_at_end};
pub use output::Outgoing;
pub use producer::{Producer, SimpleProducer};
pub use terminator::{ByteOrder, LengthPrefix, Terminator};

use self::output::{MAX_SLICES, Next, OutputQueue};
use crate::diagnostics::report;
use crate::{Context, Dispatcher, TimerId};

/// Buffer sizes and limits of a chat channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatConfig {
    /// The most read from the socket at once (asynchat's `ac_in_buffer_size`). Default 64 KiB.
    pub in_buffer_size: usize,
    /// The most written to the socket at once (asynchat's `ac_out_buffer_size`). Default
    /// 64 KiB.
    pub out_buffer_size: usize,
    /// The longest message (and length-prefixed frame) accepted; a longer one is an
    /// `InvalidData` error for that channel. Default 1 MiB.
    pub max_message: usize,
    /// Queued output above which the channel stops reading, so a peer that never reads
    /// cannot make the process buffer without bound. Default 1 MiB.
    pub high_water: usize,
}

impl Default for ChatConfig {
    fn default() -> ChatConfig {
        ChatConfig {
            in_buffer_size: 64 * 1024,
            out_buffer_size: 64 * 1024,
            max_message: 1024 * 1024,
            high_water: 1024 * 1024,
        }
    }
}

/// A chat channel's own state: its terminator machine, the message being collected, and its
/// output queue. Handlers get it as `chat`.
pub struct ChatChannel {
    framer: Framer,
    message: Vec<u8>,
    output: OutputQueue,
    config: ChatConfig,
    /// The chat closed itself (after `close_when_done`, or `close`).
    closed: bool,
}

impl ChatChannel {
    fn new(terminator: Terminator, config: ChatConfig) -> ChatChannel {
        let mut framer = Framer::new(terminator);
        framer.set_max_frame(config.max_message);
        ChatChannel {
            framer,
            message: Vec::new(),
            output: OutputQueue::default(),
            config,
            closed: false,
        }
    }

    /// Queues `data` for sending, in order (see [`Outgoing`]). A `Vec` is queued as it is,
    /// never copied; a shared `Arc<[u8]>` is queued by reference, so pushing one line to
    /// many channels copies it for none; a borrowed slice is copied, and small ones are
    /// gathered with the small pushes next to them into one buffer. Whatever is queued goes
    /// out together: one vectored send per wake-up, not one per push.
    ///
    /// # Errors
    ///
    /// `NotConnected` after [`close_when_done`](Self::close_when_done) (the data could
    /// never be sent).
    pub fn push<'a>(&mut self, data: impl Into<Outgoing<'a>>) -> io::Result<()> {
        self.check_open()?;
        self.output.push(data.into());
        Ok(())
    }

    /// Queues a producer, asked for data only when the socket can take it.
    ///
    /// # Errors
    ///
    /// `NotConnected` after [`close_when_done`](Self::close_when_done).
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
    /// data is ready (the channel is not watched for writability meanwhile).
    pub fn resume_output(&mut self) {
        self.output.resume();
    }

    /// Closes the channel once everything queued so far is sent. The channel stops reading.
    pub fn close_when_done(&mut self) {
        self.output.close_when_done();
    }

    /// Drops buffered input, the message being collected and all queued output — but not a
    /// pending [`close_when_done`](Self::close_when_done).
    pub fn discard_buffers(&mut self) {
        self.framer.clear();
        self.message.clear();
        self.output.discard();
    }

    /// Changes the terminator. Bytes already buffered are cut by the new one, so a handler
    /// can switch from headers (`b"\r\n\r\n"`) to a body ([`Terminator::count`]) inside
    /// `found_terminator`.
    pub fn set_terminator(&mut self, terminator: impl Into<Terminator>) {
        self.framer.set_terminator(terminator.into());
    }

    /// The current terminator.
    pub fn terminator(&self) -> &Terminator {
        self.framer.terminator()
    }

    /// The channel's sizes and limits.
    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// Bytes queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.output.queued()
    }

    /// Whether the channel closed itself or will once its output is sent.
    pub fn is_closing(&self) -> bool {
        self.closed || self.output.close_requested()
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
    /// handler panicked. Default: log with `log::error!` and close the channel.
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
    /// A chat channel with the default [`ChatConfig`].
    pub fn new(handler: H, terminator: impl Into<Terminator>) -> AsyncChat<H> {
        AsyncChat::with_config(handler, terminator, ChatConfig::default())
    }

    /// A chat channel with the given sizes and limits.
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
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The protocol handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The channel's own state (to push from outside a callback, e.g. a broadcast reaching
    /// this session through [`Context::get_mut`]).
    pub fn channel(&mut self) -> &mut ChatChannel {
        &mut self.channel
    }

    /// Shorthand for `channel().push(data)`.
    ///
    /// # Errors
    ///
    /// As [`ChatChannel::push`].
    pub fn push<'a>(&mut self, data: impl Into<Outgoing<'a>>) -> io::Result<()> {
        self.channel.push(data)
    }

    /// Sends what the socket takes now, the queued buffers together in one vectored send
    /// (at most `out_buffer_size` bytes per send); closes once a `close_when_done` mark is
    /// reached.
    fn initiate_send<S: 'static>(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        let limit = self.channel.config.out_buffer_size.max(1);
        loop {
            match self.channel.output.next() {
                Next::Idle => return Ok(()),
                Next::Close => {
                    self.channel.closed = true;
                    cx.close();
                    return Ok(());
                }
                Next::Send => {}
            }
            let (sent, offered) = if let Some(bytes) = self.channel.output.single(limit) {
                (cx.send(bytes)?, bytes.len())
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = self.channel.output.gather(&mut slices, limit);
                let offered: usize = slices[..n].iter().map(|slice| slice.len()).sum();
                (cx.send_vectored(&slices[..n])?, offered)
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
            // delivering buffered messages to a closed channel).
            if self.channel.is_closing() || !cx.is_open() {
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
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a message of over {} bytes (the maximum)",
                        config.max_message
                    ),
                ));
            }
            match progress {
                framer::Progress::NeedMore => return Ok(()),
                framer::Progress::Frame => {
                    // Lent to the handler, then put back empty for the next message: one
                    // buffer per read burst, not an allocation per message.
                    let mut message = std::mem::take(&mut self.channel.message);
                    let handled = self
                        .handler
                        .found_terminator(&mut self.channel, cx, &message);
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
        !self.channel.is_closing() && self.channel.output.queued() <= self.channel.config.high_water
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
        self.channel.release_if_idle();
        self.initiate_send(cx)
    }

    fn handle_write(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        self.initiate_send(cx)
    }

    fn handle_opened(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
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

    fn handle_close(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        self.handler.handle_close(&mut self.channel, cx)?;
        self.initiate_send(cx)
    }

    fn handle_timer(&mut self, cx: &mut Context<'_, S>, timer: TimerId) -> io::Result<()> {
        self.handler.handle_timer(&mut self.channel, cx, timer)?;
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
