//! The echo server's dispatchers: `Server` listens and gives each accepted connection an
//! `Echo`, which sends back every byte it reads, in order.
//!
//! Each connection keeps what it has not yet sent back and stops reading while that is above
//! 64 KiB, so a client that writes much and reads late loses nothing and cannot grow the
//! server's memory. After the client's end of file the server sends what is left, then
//! closes.
//!
//! `examples/echo_server/main.rs` runs them; `benches/echo/` includes this file with
//! `#[path]` and measures them against other servers.

use std::io;

use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, Timeouts};

/// Above this many unsent bytes a connection stops reading.
const HIGH_WATER: usize = 64 * 1024;
/// The most read at once.
pub const READ_SIZE: usize = 16 * 1024;

/// The listening channel: one `Echo` per accepted connection.
#[derive(Default)]
pub struct Server {
    /// Set TCP_NODELAY on each accepted connection. The example does not (the default); the
    /// bench does, as for each server it measures.
    pub nodelay: bool,
    /// Each connection's limits (none by default).
    pub timeouts: Timeouts,
}

impl Dispatcher for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        if self.nodelay {
            socket.set_tcp_nodelay(true)?;
        }
        let echo = cx.spawn(socket, Echo::default())?;
        cx.set_timeouts_for(echo, self.timeouts);
        Ok(())
    }
}

/// One connection (public for the example's TLS listener, which spawns it over TLS).
#[derive(Default)]
pub struct Echo {
    unsent: Vec<u8>,
    /// The client has finished sending.
    eof: bool,
}

impl Echo {
    fn flush(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        while !self.unsent.is_empty() {
            let sent = cx.send(&self.unsent)?;
            if sent == 0 {
                break; // full: the loop calls handle_write when there is room
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
        // Read a whole burst per wake-up (up to the high-water mark), not one chunk: each
        // return to the selector costs a system call. `recv_append` reads straight into
        // `unsent`: no zeroed buffer, no copy.
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
        // End of file from the client: send back what is left, then close.
        self.eof = true;
        self.flush(cx)
    }
}
