//! ioloop: a minimal HTTP/1.1 keep-alive responder on the chat layer, shaped as
//! `examples/http_server.rs` answers `GET /`: the header block is one message ended by
//! `\r\n\r\n`; the response goes out as two pushes, a head made with `format!` and the body,
//! which the channel's gathered output sends together. No `Date` header (the mio peer sends
//! the same bytes); requests other than `GET` get a 405 and the connection closes.

use std::io;
use std::net::TcpListener;

use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler, Terminator};
use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop};

use super::BODY;

struct Session;

impl ChatHandler for Session {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Context<'_, ()>,
        head: &[u8],
    ) -> io::Result<()> {
        if !head.starts_with(b"GET ") {
            chat.push(&b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..])?;
            chat.close_when_done();
            return Ok(());
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            BODY.len()
        );
        chat.push(head)?;
        chat.push(BODY)
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
        cx.spawn(
            socket,
            AsyncChat::new(Session, Terminator::bytes(b"\r\n\r\n")),
        )?;
        Ok(())
    }
}

pub fn serve(kind: SelectorKind, listener: TcpListener) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(listener, Server)?;
    event_loop.run()
}
