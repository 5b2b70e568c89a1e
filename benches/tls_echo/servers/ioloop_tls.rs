//! ioloop: a TLS echo server. The listener spawns each accepted connection with
//! `Context::spawn_tls` (the loop runs the handshake), and its dispatcher is the echo
//! example's own `Echo` (`examples/echo_server/echo.rs`, included by the bench's `main.rs`):
//! `recv_append` of plaintext into what is unsent (up to a high-water mark), `send` of it;
//! TCP_NODELAY on each connection, as every peer.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::tls::rustls::ServerConfig;
use ioloop::{Context, Dispatcher, EventLoop};

use crate::echo::Echo;

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

pub fn serve(
    kind: SelectorKind,
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(listener, Server { config })?;
    event_loop.run()
}
