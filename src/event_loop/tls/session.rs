//! A channel's TLS session: rustls driven over the channel's non-blocking socket.

use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::time::Duration;

use rustls::Connection;

use super::super::channel::Phase;
use super::super::io_source::IoSource;
use super::super::os_errors::is_disconnect;
use crate::selector::Interest;

/// How long [`Context::close`](crate::Context::close) of a TLS channel may wait for the
/// socket to take the records rustls still holds (the end of the last reply, then
/// `close_notify`) before the channel closes anyway.
pub(crate) const TLS_CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// How many socket reads (of at most 4 KiB each: rustls's read size) one `recv` may make
/// while no plaintext comes of them: enough for several full records, few enough that a
/// peer sending only records without data cannot hold the loop.
const MAX_PULLS: usize = 64;

/// One TLS session and what the loop knows of it.
pub(crate) struct Session {
    pub(crate) conn: Connection,
    /// The handshake completed and its notice was given.
    pub(crate) established: bool,
    /// A channel of `connect_tls`: `handle_connect` waits for the handshake.
    pub(crate) connect_pending: bool,
    /// How the peer's stream ended, once the handler was told (`recv` gave `Ok(0)`):
    /// `true` after its `close_notify`.
    pub(crate) end: Option<bool>,
    /// The socket reached end of file (or a reset).
    eof: bool,
    /// rustls reported an error: the session is unusable.
    pub(crate) failed: bool,
    /// Queued for a `handle_read` of its pending input (`Core::queue_tls_delivery`).
    pub(crate) queued: bool,
    /// Closed by the program: the loop only flushes what rustls still holds, then closes.
    pub(crate) closing: bool,
    /// Closed lingering: once flushed, writing is shut down and the linger goes on.
    pub(crate) then_linger: bool,
}

/// The socket as rustls reads and writes it.
struct Wire<'a>(&'a IoSource);

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(super::super::context::as_uninit(buf)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match self.0.write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What one step of a handshake came to.
pub(crate) enum Step {
    /// Still under way: wait for readiness.
    Waiting,
    /// Complete.
    Established,
    /// The peer went away (end of file, reset).
    PeerGone,
    /// rustls refused the peer's messages, or the socket failed.
    Failed(io::Error),
}

impl Session {
    pub(crate) fn new(conn: Connection, connect_pending: bool) -> Box<Session> {
        Box::new(Session {
            conn,
            established: false,
            connect_pending,
            end: None,
            eof: false,
            failed: false,
            queued: false,
            closing: false,
            then_linger: false,
        })
    }

    /// The selector interest (see `TlsSlot::interest`).
    #[inline]
    pub(crate) fn interest(&self, phase: Phase, app: Interest) -> Interest {
        let flush = self.conn.wants_write();
        match phase {
            // The connect's own interest until it completes.
            Phase::Connecting | Phase::Listening | Phase::Paused => app,
            Phase::Lingering => Interest::new(true, flush),
            Phase::Open | Phase::Closing if self.closing => Interest::new(true, flush),
            Phase::Open | Phase::Closing if !self.established => {
                Interest::new(!self.failed && self.conn.wants_read(), flush)
            }
            Phase::Open | Phase::Closing => {
                Interest::new(app.is_readable(), app.is_writable() || flush)
            }
        }
    }

    /// Whether input the handler has not read is held (see `TlsSlot::needs_delivery`).
    #[inline]
    pub(crate) fn needs_delivery(&mut self, interest: Interest) -> bool {
        if self.queued || !self.established || self.closing || !interest.is_readable() {
            return false;
        }
        if self.end.is_some() || self.failed {
            return false;
        }
        let pending = match self.conn.process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() || self.eof,
            Err(_) => false,
        };
        self.queued = pending;
        pending
    }

    /// Reads TLS from the socket once, and processes what came (see `process`). Returns
    /// the plaintext bytes ready to read; the end of file sets `eof`.
    fn pull(&mut self, io: &IoSource) -> io::Result<usize> {
        let n = self.conn.read_tls(&mut Wire(io))?;
        if n == 0 {
            self.eof = true;
        }
        self.process(io)
    }

    /// Processes the records received: the plaintext bytes now ready to read. An error
    /// of rustls fails the session, after the alert it queued is flushed (if the socket
    /// takes it).
    fn process(&mut self, io: &IoSource) -> io::Result<usize> {
        match self.conn.process_new_packets() {
            Ok(state) => Ok(state.plaintext_bytes_to_read()),
            Err(error) => {
                self.failed = true;
                let _ = self.flush(io);
                Err(crate::tls::invalid_data(error))
            }
        }
    }

    /// Writes queued records while the socket takes them. `Ok(true)` once none is left.
    pub(crate) fn flush(&mut self, io: &IoSource) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut Wire(io)) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// `recv` on a TLS channel: plaintext, `Ok(0)` at the peer's end (recorded in
    /// `end`), `WouldBlock` when no plaintext can be had now. A disconnection of the
    /// socket is an end too (a truncation).
    ///
    /// rustls copies only into initialised memory: each read initialises as much of `buf`
    /// as rustls holds plaintext for (one byte when it holds none, to learn why), not all
    /// of `buf`, which would be a 16 KiB memset per call for a 16 KiB `recv_append`.
    pub(crate) fn read_plain(
        &mut self,
        io: &IoSource,
        buf: &mut [MaybeUninit<u8>],
    ) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.failed {
            return Err(dead());
        }
        // What an earlier read decrypted and left (a record larger than that `buf`).
        let mut ready = self.process(io)?;
        for _ in 0..MAX_PULLS {
            let len = ready.clamp(1, buf.len());
            match self.conn.reader().read(initialised(&mut buf[..len])) {
                Ok(0) => {
                    self.end = Some(true);
                    return Ok(0);
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.end = Some(false);
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            match self.pull(io) {
                Ok(now) => ready = now,
                Err(e) if is_disconnect(&e) => {
                    self.eof = true;
                    self.end = Some(false);
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            // Records the reading produced (a key update's answer, an alert) go out
            // even if the handler sends nothing; a failure shows at the next send.
            if self.conn.wants_write() {
                let _ = self.flush(io);
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// `send` on a TLS channel (see the module docs): the plaintext count rustls took,
    /// `Ok(0)` while earlier records wait for the socket.
    pub(crate) fn write_plain(&mut self, io: &IoSource, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.failed {
            return Err(dead());
        }
        if !self.flush(io)? {
            return Ok(0);
        }
        let taken = self.conn.writer().write_vectored(bufs)?;
        self.flush(io)?;
        Ok(taken)
    }

    /// `close_notify`, and as much as the socket takes now of what rustls holds.
    /// Returns whether all of it was written.
    pub(crate) fn notify_close(&mut self, io: &IoSource) -> bool {
        if !self.failed && !self.closing {
            self.conn.send_close_notify();
        }
        self.closing = true;
        self.flush(io).unwrap_or(true)
    }

    /// One step of the handshake, on readiness: write what rustls has, read what the
    /// peer sent, until the handshake completes or the socket has nothing more.
    pub(crate) fn handshake(&mut self, io: &IoSource) -> Step {
        for _ in 0..MAX_PULLS {
            match self.flush(io) {
                Ok(_) => {}
                Err(e) if is_disconnect(&e) => return Step::PeerGone,
                Err(e) => return Step::Failed(e),
            }
            if !self.conn.is_handshaking() {
                return Step::Established;
            }
            if !self.conn.wants_read() {
                return Step::Waiting; // records to write first
            }
            match self.pull(io) {
                Ok(_) if self.eof => return Step::PeerGone,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Waiting,
                Err(e) if is_disconnect(&e) => return Step::PeerGone,
                Err(e) => return Step::Failed(e),
            }
        }
        Step::Waiting
    }
}

/// `buf` zeroed, as the initialised bytes rustls reads into.
fn initialised(buf: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    for byte in buf.iter_mut() {
        byte.write(0);
    }
    // SAFETY: every byte of `buf` was just initialised, and `MaybeUninit<u8>` has the
    // layout of `u8`.
    unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) }
}

/// What I/O on a session that failed returns.
fn dead() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "the TLS session failed")
}
