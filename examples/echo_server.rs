//! A byte-exact echo server on the asyncore layer — the seeds' `asyncore` echo server, with
//! its bugs fixed:
//!
//! ```python
//! class EchoHandler(asyncore.dispatcher_with_send):
//!     def handle_read(self):
//!         data = self.recv(8192)
//!         if data:
//!             self.send(data)
//! class EchoServer(asyncore.dispatcher):
//!     def __init__(self, host, port):
//!         asyncore.dispatcher.__init__(self)
//!         self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
//!         self.set_reuse_addr()
//!         self.bind((host, port))
//!         self.listen(5)
//!     def handle_accepted(self, sock, addr):
//!         EchoHandler(sock)
//! asyncore.loop()
//! ```
//!
//! Each connection keeps what it has not yet sent back and stops reading while that is above
//! 64 KiB, so a client that writes much and reads late loses nothing and cannot grow the
//! server's memory. After the client's end of file the server sends what is left, then
//! closes.
//!
//! Run: `cargo run --example echo_server -- --addr 127.0.0.1:7000 [--selector poll]`.
//! Prints `listening on IP:PORT`; exits 0 on SIGINT/SIGTERM.

#[path = "common/mod.rs"]
mod common;

use std::io;

use ioloop::{Context, Dispatcher, EventLoop, net};
use socket2::{SockAddr, Socket};

/// Above this many unsent bytes a connection stops reading.
const HIGH_WATER: usize = 64 * 1024;
/// The most read at once.
const READ_SIZE: usize = 16 * 1024;

/// The listening channel: one `Echo` per accepted connection.
struct Server;

impl Dispatcher for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        cx.spawn(socket, Echo::default())?;
        Ok(())
    }
}

/// One connection.
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

fn main() {
    env_logger_lite();
    let args = common::parse_args("A byte-exact echo server on the asyncore layer.", &[]);
    if let Err(e) = run(&args) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}

fn run(args: &common::Args) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(args.selector, ())?;
    let listener = net::listen(args.addr, net::DEFAULT_BACKLOG)?;
    let local = listener.local_addr()?;
    event_loop.spawn(listener, Server)?;
    let handle = event_loop.handle();
    common::stop_on_signal_with(move || handle.stop());
    common::announce(local);
    event_loop.run()
}

/// Errors the loop logs (a handler's failure) go to stderr.
fn env_logger_lite() {
    common::log_to_stderr(log::LevelFilter::Warn);
}
