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
//! # Limits
//!
//! | option | default | what happens |
//! |---|---|---|
//! | `--idle-timeout SECS` | 300 | a connection that sends nothing and takes nothing for this long is closed |
//! | `--drain-timeout SECS` | 60 | a connection whose echo waits this long for the client to read any of it is closed |
//! | `--max-connections N` | 1000 | connections past N wait in the listen backlog until others close |
//! | `--shutdown-grace SECS` | 10 | on SIGINT/SIGTERM the listener closes and every connection answers what it has received, for this long at most; then the server exits 0 (a second signal: at once) |
//!
//! `0` turns a limit off.
//!
//! # TLS (the `tls` feature)
//!
//! | option | default | what it does |
//! |---|---|---|
//! | `--tls-cert FILE` | (clear text) | the PEM certificate chain: with `--tls-key`, every connection is TLS from the first byte, and the echo is of the plaintext |
//! | `--tls-key FILE` | | its PEM private key |
//!
//! Without the feature `--tls-cert` is an error (exit status 2). With the test certificates
//! of `examples/tls/` (never trust their CA elsewhere):
//!
//! ```sh
//! cargo run --features tls --example echo_server -- --addr 127.0.0.1:7000 \
//!     --tls-cert examples/tls/server.pem --tls-key examples/tls/server-key.pem
//! cargo run --features tls --example echo_client -- --addr 127.0.0.1:7000 --tls-ca examples/tls/ca.pem
//! ```
//!
//! Run: `cargo run --example echo_server -- --addr 127.0.0.1:7000 [--selector poll]`.
//! Prints `listening on IP:PORT`; exits 0 on SIGINT/SIGTERM.

#[path = "../common/mod.rs"]
mod common;
mod echo;

use std::io;

use std::time::Duration;

use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop, Timeouts, net};

use echo::{Echo, Server};

/// The listener with `--tls-cert`: each connection an [`Echo`] over TLS, with the limits
/// of the clear-text [`Server`]. (`echo.rs` is shared with a bench built without the `tls`
/// feature, so TLS stays here.)
struct TlsServer {
    config: common::TlsConfig,
    server: Server,
}

impl Dispatcher for TlsServer {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        if self.server.nodelay {
            socket.set_tcp_nodelay(true)?;
        }
        let echo = common::spawn_maybe_tls(cx, socket, Some(&self.config), Echo::default())?;
        cx.set_timeouts_for(echo, self.server.timeouts);
        Ok(())
    }
}

fn main() {
    // Errors the loop logs (a handler's failure) go to stderr.
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args(
        "A byte-exact echo server on the asyncore layer.",
        &[
            common::opt(
                "idle-timeout",
                "SECS",
                "close a connection silent this long (default 300; 0: never)",
            ),
            common::opt(
                "drain-timeout",
                "SECS",
                "close a connection that reads none of its echo this long (default 60; 0: never)",
            ),
            common::MAX_CONNECTIONS,
            common::SHUTDOWN_GRACE,
            common::TLS_CERT,
            common::TLS_KEY,
        ],
    );
    let tls = common::tls_server_config(&args);
    if let Err(e) = run(&args, tls) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}

fn run(args: &common::Args, tls: Option<common::TlsConfig>) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(args.selector, ())?;
    let listener = net::listen(args.addr, net::DEFAULT_BACKLOG)?;
    let local = listener.local_addr()?;
    let server = Server {
        nodelay: false,
        timeouts: Timeouts {
            idle: args.seconds("idle-timeout", Some(Duration::from_secs(300))),
            drain: args.seconds("drain-timeout", Some(Duration::from_secs(60))),
            ..Timeouts::NONE
        },
    };
    let token = match tls {
        Some(config) => event_loop.spawn(listener, TlsServer { config, server })?,
        None => event_loop.spawn(listener, server)?,
    };
    event_loop.set_listener_limits(token, common::listener_limits(args))?;
    common::shut_down_on_signal(&mut event_loop, args);
    common::announce(local);
    event_loop.run()
}
