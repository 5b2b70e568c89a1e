//! The reference: a TLS echo server over mio and rustls, written for this bench in the
//! structure of rustls's own `tlsserver-mio` example (rustls 0.23's
//! `examples/src/bin/tlsserver-mio.rs`, its echo mode), the way rustls shows to drive a
//! session from a readiness loop: one mio `Poll`, a `ServerConnection` per socket; on a
//! readable event one `read_tls` then `process_new_packets`, the plaintext taken from
//! `reader()` and given back to `writer()`; on a writable event one `write_tls`; after each
//! event the socket is re-registered with the interest rustls asks for (`wants_read`,
//! `wants_write`).
//!
//! Where it departs from the example, it is for a fair measure, not for speed: plaintext
//! goes through one reused buffer (the example allocates one per read); what `writer()`
//! does not take (its 64 KiB limit) waits in `pending` and reading stops meanwhile (the
//! example's `write_all` would fail there); errors close the one connection (the example
//! unwraps).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener as StdListener};
use std::sync::Arc;

use ioloop::tls::rustls::{ServerConfig, ServerConnection};
use mio::net::TcpStream;
use mio::{Events, Interest, Registry, Token};
use slab::Slab;

use crate::mio_server::{LISTENER, accept_all, listen, wait};

/// Above this many bytes of plaintext that rustls did not take, a connection stops reading.
const HIGH_WATER: usize = 64 * 1024;

struct Conn {
    socket: TcpStream,
    tls: ServerConnection,
    /// Plaintext read that `writer()` has not taken yet.
    pending: Vec<u8>,
    closing: bool,
}

impl Conn {
    /// One event: the example's `ready`.
    fn ready(&mut self, readable: bool, writable: bool, scratch: &mut Vec<u8>) {
        if readable {
            self.tls_read();
            self.plain_read(scratch);
        }
        if writable {
            self.tls_write();
            self.give_pending();
        }
    }

    /// One `read_tls`, then `process_new_packets` (the example's `do_tls_read`).
    fn tls_read(&mut self) {
        match self.tls.read_tls(&mut self.socket) {
            Ok(0) => {
                self.closing = true;
                return;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                self.closing = true;
                return;
            }
        }
        if self.tls.process_new_packets().is_err() {
            self.tls_write(); // the alert, last gasp
            self.closing = true;
        }
    }

    /// All the plaintext rustls holds, echoed (the example's `try_plain_read`).
    fn plain_read(&mut self, scratch: &mut Vec<u8>) {
        let Ok(state) = self.tls.process_new_packets() else {
            return;
        };
        let n = state.plaintext_bytes_to_read();
        if n > 0 {
            scratch.resize(n, 0);
            if self.tls.reader().read_exact(scratch).is_err() {
                self.closing = true;
                return;
            }
            self.pending.extend_from_slice(scratch);
        }
        self.give_pending();
    }

    /// Hands rustls as much of the pending plaintext as it takes.
    fn give_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match self.tls.writer().write(&self.pending) {
            Ok(taken) => {
                self.pending.drain(..taken);
            }
            Err(_) => self.closing = true,
        }
    }

    /// One `write_tls` (the example's `do_tls_write_and_handle_error`).
    fn tls_write(&mut self) {
        match self.tls.write_tls(&mut self.socket) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.closing = true,
        }
    }

    /// The example's `event_set`, reading paused while too much waits.
    fn interest(&self) -> Interest {
        let read = self.tls.wants_read() && self.pending.len() < HIGH_WATER;
        match (read, self.tls.wants_write()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        }
    }

    fn reregister(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = self.interest();
        registry.reregister(&mut self.socket, token, interest)
    }
}

pub fn serve(listener: StdListener, config: Arc<ServerConfig>) -> io::Result<()> {
    let (mut poll, listener) = listen(listener)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut scratch = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        wait(&mut poll, &mut events)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(
                    "mio-rustls",
                    &listener,
                    poll.registry(),
                    &mut conns,
                    Interest::READABLE,
                    |socket| {
                        let tls =
                            ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                        Ok(Conn {
                            socket,
                            tls,
                            pending: Vec::new(),
                            closing: false,
                        })
                    },
                )?;
                continue;
            }
            let token = event.token();
            let Some(conn) = conns.get_mut(token.0) else {
                continue;
            };
            conn.ready(event.is_readable(), event.is_writable(), &mut scratch);
            if !conn.closing && conn.reregister(poll.registry(), token).is_ok() {
                continue;
            }
            let mut conn = conns.remove(token.0);
            let _ = conn.socket.shutdown(Shutdown::Both);
            let _ = poll.registry().deregister(&mut conn.socket);
        }
    }
}
