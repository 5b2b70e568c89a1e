//! ioloop: a TLS echo server. The listener spawns each accepted connection with
//! `Context::spawn_tls` (the loop runs the handshake), and its dispatcher is a raw echo as
//! `examples/echo_server/echo.rs` writes it: `recv_append` of plaintext into what is unsent
//! (up to a high-water mark), `send` of it; TCP_NODELAY on each connection, as every peer.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::tls::rustls::ServerConfig;
use ioloop::{Context, Dispatcher, EventLoop};

/// Above this many unsent bytes a connection stops reading (the echo example's).
const HIGH_WATER: usize = 64 * 1024;
/// The most read at once (the echo example's).
const READ_SIZE: usize = 16 * 1024;

struct Server {
    config: Arc<ServerConfig>,
}

impl Dispatcher for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        socket.set_tcp_nodelay(true)?;
        cx.spawn_tls(socket, self.config.clone(), Echo::default())?;
        Ok(())
    }
}

/// One connection: plaintext in, the same plaintext out.
#[derive(Default)]
struct Echo {
    unsent: Vec<u8>,
    /// The client has finished sending.
    eof: bool,
}

impl Echo {
    fn flush(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        while !self.unsent.is_empty() {
            let sent = cx.send(&self.unsent)?;
            if sent == 0 {
                break; // full: handle_write follows when there is room
            }
            self.unsent.drain(..sent);
        }
        if self.eof && self.unsent.is_empty() {
            cx.close();
        }
        Ok(())
    }
}

impl Dispatcher for Echo {
    fn readable(&self) -> bool {
        !self.eof && self.unsent.len() < HIGH_WATER
    }

    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        // A whole burst per wake-up, as the echo example reads (on TLS a `recv` gives at
        // most one record's plaintext, 16 KiB).
        while self.unsent.len() < HIGH_WATER {
            let n = match cx.recv_append(&mut self.unsent, READ_SIZE) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            if n < READ_SIZE {
                break; // drained, or end of file (handle_close follows)
            }
        }
        self.flush(cx)
    }

    fn handle_write(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        self.flush(cx)
    }

    fn handle_close(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        self.eof = true;
        self.flush(cx)
    }
}

pub fn serve(
    kind: SelectorKind,
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(listener, Server { config })?;
    event_loop.run()
}
