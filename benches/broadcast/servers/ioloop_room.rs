//! ioloop: the room as `examples/chat_server.rs` keeps it: one `AsyncChat` per member, the
//! members' tokens in the loop's shared state. A line is made once into an `Rc<[u8]>` (the
//! line and its `\n`, one allocation per line said) and pushed to every member by
//! reference: the sayer's own queue through its `chat`, the others' through
//! `cx.get_mut::<AsyncChat<_>>(token)`.

use std::io;
use std::net::TcpListener;
use std::rc::Rc;

use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler, Terminator};
use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop, Token};

/// The members, in the order they joined.
#[derive(Default)]
struct Room {
    members: Vec<Token>,
}

struct Member;

type Chat = AsyncChat<Member>;

impl ChatHandler<Room> for Member {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Room>,
        line: &[u8],
    ) -> io::Result<()> {
        // Exactly sized: the chained iterator's length is known, so one allocation.
        let text: Rc<[u8]> = line.iter().copied().chain([b'\n']).collect();
        let me = cx.token();
        // By index: `get_mut` needs the context while the list is read.
        for i in 0..cx.state().members.len() {
            let token = cx.state().members[i];
            if Some(token) == me {
                chat.push(&text)?;
            } else if let Some(other) = cx.get_mut::<Chat>(token) {
                if let Err(e) = other.push(&text) {
                    eprintln!("{token:?}: not sent, it is closing: {e}");
                }
            }
        }
        Ok(())
    }

    fn handle_close(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Room>,
    ) -> io::Result<()> {
        if let Some(me) = cx.token() {
            cx.state().members.retain(|&token| token != me);
        }
        chat.close_when_done();
        Ok(())
    }
}

struct Server;

impl Dispatcher<Room> for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, Room>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        socket.set_tcp_nodelay(true)?;
        let token = cx.spawn(socket, Chat::new(Member, Terminator::bytes(b"\n")))?;
        cx.state().members.push(token);
        Ok(())
    }
}

pub fn serve(kind: SelectorKind, listener: TcpListener) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, Room::default())?;
    event_loop.spawn(listener, Server)?;
    event_loop.run()
}
