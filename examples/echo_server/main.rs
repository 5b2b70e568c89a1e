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
//! The dispatchers are in `echo.rs` (shared with `benches/echo/`): each connection keeps
//! what it has not yet sent back and stops reading while that is above 64 KiB.
//!
//! Run: `cargo run --example echo_server -- --addr 127.0.0.1:7000 [--selector poll]`.
//! Prints `listening on IP:PORT`; exits 0 on SIGINT/SIGTERM.

#[path = "../common/mod.rs"]
mod common;
mod echo;

use std::io;

use ioloop::{EventLoop, net};

use echo::Server;

fn main() {
    // Errors the loop logs (a handler's failure) go to stderr.
    common::log_to_stderr(log::LevelFilter::Warn);
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
    event_loop.spawn(listener, Server::default())?;
    common::stop_on_signal(&mut event_loop);
    common::announce(local);
    event_loop.run()
}
