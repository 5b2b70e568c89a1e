//! ioloop: an `AsyncChat` line echo, written as an asynchat port would be:
//! `found_terminator` pushes the line and its `\n` back. TCP_NODELAY on each accepted
//! connection, as every peer sets it.

use std::io;
use std::net::TcpListener;

use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler, Terminator};
use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop};

struct LineEcho;

impl ChatHandler for LineEcho {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Context<'_, ()>,
        line: &[u8],
    ) -> io::Result<()> {
        chat.push(line)?;
        chat.push(b"\n")
    }
}

struct Server;

impl Dispatcher for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        socket.set_tcp_nodelay(true)?;
        cx.spawn(socket, AsyncChat::new(LineEcho, Terminator::bytes(b"\n")))?;
        Ok(())
    }
}

pub fn serve(kind: SelectorKind, listener: TcpListener) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(listener, Server)?;
    event_loop.run()
}
