//! ioloop: an `AsyncChat` echo, written as an asynchat port would be. Lines:
//! `found_terminator` pushes the line and its `\n` back. Length-prefixed frames (SMPP's
//! `command_length`, which counts its own four bytes): the frame arrives with its header
//! and is pushed back whole. TCP_NODELAY on each accepted connection, as every peer sets it.
//! `IOLOOP_BENCH_TIMEOUTS=1` gives each session loop-owned deadlines (`crate::deadlines`).

use std::io;
use std::net::TcpListener;

use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler, LengthPrefix, Terminator};
use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop};

use crate::pattern::Framing;

struct Echo(Framing);

impl ChatHandler for Echo {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Context<'_, ()>,
        message: &[u8],
    ) -> io::Result<()> {
        chat.push(message)?;
        match self.0 {
            Framing::Line => chat.push(b"\n"),
            Framing::Length => Ok(()),
        }
    }
}

struct Server(Framing);

impl Dispatcher for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        socket.set_tcp_nodelay(true)?;
        let terminator = match self.0 {
            Framing::Line => Terminator::bytes(b"\n"),
            Framing::Length => Terminator::length_prefixed(LengthPrefix::new(4).adjustment(-4))?,
        };
        let config = ChatConfig {
            timeouts: crate::deadlines::from_env(),
            ..ChatConfig::default()
        };
        cx.spawn(
            socket,
            AsyncChat::with_config(Echo(self.0), terminator, config),
        )?;
        Ok(())
    }
}

pub fn serve(kind: SelectorKind, framing: Framing, listener: TcpListener) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(listener, Server(framing))?;
    event_loop.run()
}
