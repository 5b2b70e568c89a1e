//! TLS under a channel (the `tls` feature): a rustls session between the channel's socket
//! and its dispatcher, so that `Dispatcher`s and `AsyncChat` sessions run unchanged over
//! TLS, as servers (`Context::spawn_tls`), clients (`Context::connect_tls`) or after
//! STARTTLS (`Context::start_tls_server`, `Context::start_tls_client`).
//!
//! # Design
//!
//! - **Where the session lives.** A channel's `TlsSlot` holds its `rustls::Connection`,
//!   boxed: one word in every channel, `None` for clear text (and no field at all without
//!   the feature). It moves with the channel when the channel is lent to its callbacks.
//! - **I/O keeps asyncore's meanings.** On a TLS channel, `Context::recv` and its kin
//!   return plaintext: they read TLS records from the socket (`read_tls`,
//!   `process_new_packets`) until some plaintext is decrypted or the socket has no more
//!   (`WouldBlock`). `Ok(0)` is the end of the peer's stream, its `close_notify` or a bare
//!   end of file, and `handle_close` follows as for a plain socket; an undecryptable record
//!   is an `InvalidData` error carrying rustls's error. `Context::send` first flushes the
//!   records already queued in rustls; if the socket does not take them all it returns
//!   `Ok(0)` (full, as a plain socket says), otherwise it gives rustls as much plaintext as
//!   its buffer limit takes (64 KiB), flushes what the socket takes, and returns the
//!   plaintext count. So at most one send's records wait in rustls, and back-pressure
//!   works as for a plain socket.
//! - **Readiness follows rustls.** During the handshake the loop drives the session itself
//!   on readiness (it reads while rustls wants to read, writes while it has records to
//!   write) and calls neither `handle_read` nor `handle_write`; `readable()`/`writable()`
//!   are not asked. Afterwards the interest is the dispatcher's, plus writing while rustls
//!   has records queued (alerts, key updates, session tickets, the rest of a send) even
//!   when the dispatcher has nothing to send.
//! - **Nothing waits in rustls.** A read may decrypt more than the handler takes, or a
//!   `close_notify` the handler has not seen. When a channel's callbacks return with its
//!   interest including reading and such input pending, the loop queues the channel and
//!   calls its `handle_read` at the next iteration, which does not wait in the selector:
//!   the socket may never be readable again for it.
//! - **The handshake notice.** `Dispatcher::handle_tls_ready`
//!   runs when a handshake completes, on every side (a spawned server channel, a client,
//!   either end of STARTTLS): the place to read the peer's certificate, the negotiated
//!   ALPN protocol or the SNI name (`Context::tls_connection`). On a channel of
//!   `Context::connect_tls`, `handle_connect` waits for the handshake too (it runs just
//!   before `handle_tls_ready`): an asyncore client that sends its request in
//!   `handle_connect` runs unchanged, and talks to a verified peer. `handle_opened` keeps its
//!   timing (at once); what a handler sends before the handshake completes waits in rustls
//!   and goes out after it.
//! - **Errors.** A failed handshake or a bad record reaches `handle_error` with rustls's
//!   error (an `io::Error` of kind `InvalidData` wrapping a `rustls::Error`, which
//!   `tls_error` digs out), after the alert rustls queued is
//!   flushed (best effort); the channel is then closed whatever `handle_error` did: the
//!   session is dead. Random bytes or clear-text HTTP sent to a TLS port end so, never in a
//!   hang. A peer that goes away during the handshake (end of file, reset) is a
//!   disconnection: `handle_close`, as for a plain socket.
//! - **Close.** `Context::close` sends `close_notify` and flushes the records rustls still
//!   holds; if the socket does not take them all, the channel stays in the loop (no
//!   callback runs) until they are written, for `TLS_CLOSE_LIMIT` at most, then closes.
//!   The other closes (the loop's, after an error, at the end of a graceful shutdown) send
//!   `close_notify` best effort, without waiting. `Context::close_lingering` sends
//!   `close_notify` and flushes before it shuts down writing.
//! - **Close or truncation.** The peer's end is `Ok(0)` from `recv` either way (many HTTP
//!   clients never send `close_notify`, and an error would make every one of them a logged
//!   failure); `Context::tls_closed_cleanly` then tells them apart: `Some(true)` after a
//!   `close_notify`, `Some(false)` after an end of file or a reset without one (a truncation,
//!   which a protocol without its own framing must treat as an error).
//! - **The handshake timeout.** `Timeouts::handshake`, a clock
//!   of the deadlines: it starts when TLS starts on the channel (or when the limit is set
//!   during a handshake) and stops when the handshake completes;
//!   `TimeoutKind::Handshake` reaches `handle_timeout`.
//! - **STARTTLS.** The switch takes effect at once: what the socket receives from then on is
//!   TLS. A clear-text reply ("220 ready to start TLS") must be sent in full before the call;
//!   the chat layer's `ChatChannel::start_tls_server`
//!   waits for its queued output to be sent, and drops the input it had buffered: clear text
//!   pipelined after the STARTTLS command is never taken for input of the secure session
//!   (the CVE-2011-0411 class of bug).

use std::fmt;
#[cfg(not(feature = "tls"))]
use std::io;

use super::channel::Phase;
use super::io_source::IoSource;
use crate::selector::Interest;

#[cfg(feature = "tls")]
mod context;
#[cfg(feature = "tls")]
mod session;

#[cfg(feature = "tls")]
pub(in crate::event_loop) use context::begin_linger;
#[cfg(feature = "tls")]
pub(crate) use session::{Session, Step, TLS_CLOSE_LIMIT};

/// A channel's TLS session, if it has one: one word.
#[derive(Default)]
pub(crate) struct TlsSlot {
    #[cfg(feature = "tls")]
    pub(crate) session: Option<Box<Session>>,
}

impl fmt::Debug for TlsSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_active() { "Tls" } else { "Clear" })
    }
}

impl TlsSlot {
    /// Whether the channel runs TLS.
    #[inline(always)]
    pub(crate) fn is_active(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.session.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }

    /// Whether the channel's TLS handshake is under way.
    #[inline(always)]
    pub(crate) fn is_handshaking(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.session.as_ref().is_some_and(|s| !s.established)
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }

    /// The interest the selector needs for a channel in `phase` whose dispatcher asked for
    /// `app`: rustls's wishes during the handshake, the dispatcher's plus flushing after.
    #[inline(always)]
    pub(crate) fn interest(&self, phase: Phase, app: Interest) -> Interest {
        #[cfg(feature = "tls")]
        if let Some(session) = &self.session {
            return session.interest(phase, app);
        }
        let _ = phase;
        app
    }

    /// Whether the channel, whose interest is now `interest`, holds decrypted input (or the
    /// peer's end) its handler has not read, and is not queued for it yet; if so it is now
    /// marked queued.
    #[inline(always)]
    pub(crate) fn needs_delivery(&mut self, interest: Interest) -> bool {
        #[cfg(feature = "tls")]
        if let Some(session) = &mut self.session {
            return session.needs_delivery(interest);
        }
        let _ = interest;
        false
    }

    /// The channel is closing without waiting: `close_notify`, written if the socket takes
    /// it now. Nothing for a clear-text channel.
    #[inline(always)]
    pub(crate) fn notify_close(&mut self, io: &IoSource) {
        #[cfg(feature = "tls")]
        if let Some(session) = &mut self.session {
            session.notify_close(io);
        }
        let _ = io;
    }
}

/// Without the feature no channel runs TLS, and the `Context` I/O never comes here.
#[cfg(not(feature = "tls"))]
impl<S: 'static> super::Context<'_, S> {
    pub(super) fn tls_recv(&mut self, _: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn tls_send(&mut self, _: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn tls_close(&mut self) {}
}
