//! The seeds' chat room on the chat layer (Python's `asynchat`): one [`AsyncChat`] per
//! connection, the room in the loop's shared state.
//!
//! Protocol (one command per line, ended by `\n` or `\r\n`; every line the server sends ends
//! in `\n`):
//!
//! | client sends | server answers |
//! |---|---|
//! | (connects) | `Connect Success` |
//! | `login NAME` | `Username empty` if NAME is blank, `Username exists` if taken, else `login success`, then `NAME has entered the room.` to everyone in the room (the newcomer included) |
//! | `say TEXT` (logged in) | `NAME:TEXT` to everyone in the room |
//! | `look` (logged in) | `Online Users:` then one line per name, sorted |
//! | `logout` | `NAME has left the room.` to the others (if logged in), then the server closes the connection |
//! | an empty line | nothing |
//! | anything else | `Unknown command: CMD` (CMD is the first word; `say` and `look` before login count as unknown, as in the seeds' login room) |
//!
//! An abrupt disconnect announces the leave as `logout` does. A line over `--max-line`
//! bytes (default 64 KiB) closes that session only (announcing its leave).
//!
//! The Python original had three bugs this port fixes: `handle_closed` (never called) left
//! disconnected users in the room forever; pushes lacked the newline; an unknown command
//! crashed the session.
//!
//! Run: `cargo run --example chat_server -- --addr 127.0.0.1:7000`, then `nc 127.0.0.1 7000`
//! from several terminals. Prints `listening on IP:PORT`; exits 0 on SIGINT/SIGTERM.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler, Terminator};
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop, Token, net};

/// Who is in the room: name → session.
#[derive(Default)]
struct Room {
    members: BTreeMap<String, Token>,
    max_line: usize,
}

/// One connection.
#[derive(Default)]
struct Session {
    name: Option<String>,
}

type Chat = AsyncChat<Session>;

/// Sends `line` (plus `\n`) to every member but `except`. The line is made once, as a
/// shared `Arc<[u8]>`: each member's queue holds a reference to it, not a copy. The running
/// session is not reachable through `get_mut` (its dispatcher is out of its slot), so its
/// own reference goes through its own `chat`.
fn broadcast(
    chat: &mut ChatChannel,
    cx: &mut Context<'_, Room>,
    line: &str,
    except: Option<Token>,
) {
    let me = cx.token();
    let members: Vec<Token> = cx.state().members.values().copied().collect();
    let text: Arc<[u8]> = Arc::from(format!("{line}\n").into_bytes());
    for token in members.into_iter().filter(|&token| Some(token) != except) {
        let pushed = if Some(token) == me {
            chat.push(&text)
        } else {
            match cx.get_mut::<Chat>(token) {
                Some(other) => other.push(&text),
                None => continue, // gone in this very iteration
            }
        };
        if let Err(e) = pushed {
            log::debug!("{token:?}: not sent, it is closing: {e}");
        }
    }
}

fn reply(chat: &mut ChatChannel, line: &str) -> io::Result<()> {
    chat.push(format!("{line}\n"))
}

impl Session {
    fn leave(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, Room>) {
        if let Some(name) = self.name.take() {
            cx.state().members.remove(&name);
            broadcast(chat, cx, &format!("{name} has left the room."), cx.token());
        }
    }

    fn login(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Room>,
        name: &str,
    ) -> io::Result<()> {
        if name.is_empty() {
            return reply(chat, "Username empty");
        }
        if cx.state().members.contains_key(name) {
            return reply(chat, "Username exists");
        }
        let Some(token) = cx.token() else {
            return Ok(()); // only a session's own callbacks log in
        };
        cx.state().members.insert(name.to_string(), token);
        self.name = Some(name.to_string());
        reply(chat, "login success")?;
        broadcast(chat, cx, &format!("{name} has entered the room."), None);
        Ok(())
    }
}

impl ChatHandler<Room> for Session {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Room>,
        line: &[u8],
    ) -> io::Result<()> {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let (command, rest) = match line.split_once(' ') {
            Some((command, rest)) => (command, rest.trim()),
            None => (line.trim(), ""),
        };
        if command.is_empty() {
            return Ok(()); // an empty line, as in the seeds: no answer
        }
        let logged_in = self.name.is_some();
        match command {
            "login" if !logged_in => self.login(chat, cx, rest),
            "say" if logged_in => {
                let name = self.name.clone().unwrap_or_default();
                broadcast(chat, cx, &format!("{name}:{rest}"), None);
                Ok(())
            }
            "look" if logged_in => {
                let mut text = String::from("Online Users:\n");
                for name in cx.state().members.keys() {
                    text.push_str(name);
                    text.push('\n');
                }
                chat.push(text)
            }
            "logout" => {
                self.leave(chat, cx);
                chat.close_when_done();
                Ok(())
            }
            other => reply(chat, &format!("Unknown command: {other}")),
        }
    }

    fn handle_close(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Room>,
    ) -> io::Result<()> {
        self.leave(chat, cx);
        chat.close_when_done();
        Ok(())
    }

    fn handle_error(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Room>,
        error: io::Error,
    ) {
        log::warn!("{:?}: {error}; closing the session", cx.token());
        self.leave(chat, cx);
        cx.close();
    }
}

/// The listening channel.
struct Server;

impl Dispatcher<Room> for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, Room>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        // Replies are small and awaited: send them at once, not after the peer's delayed
        // ACK (Nagle's algorithm holds a small segment while one is unacknowledged).
        socket.set_tcp_nodelay(true)?;
        let config = ChatConfig {
            max_message: cx.state().max_line,
            ..ChatConfig::default()
        };
        let mut session =
            AsyncChat::with_config(Session::default(), Terminator::bytes(b"\n"), config);
        session.push(&b"Connect Success\n"[..])?;
        cx.spawn(socket, session)?;
        Ok(())
    }
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args("The seeds' chat room on the chat layer.", &["max-line"]);
    let max_line = match args.extra("max-line").map(str::parse::<usize>) {
        None => 64 * 1024,
        Some(Ok(max)) if max > 0 => max,
        Some(_) => {
            eprintln!("chat_server: --max-line takes a positive number of bytes");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args, max_line) {
        eprintln!("chat_server: {e}");
        std::process::exit(1);
    }
}

fn run(args: &common::Args, max_line: usize) -> io::Result<()> {
    let room = Room {
        members: BTreeMap::new(),
        max_line,
    };
    let mut event_loop = EventLoop::with_kind(args.selector, room)?;
    let listener = net::listen(args.addr, net::DEFAULT_BACKLOG)?;
    let local = listener.local_addr()?;
    event_loop.spawn(listener, Server)?;
    common::stop_on_signal(&mut event_loop);
    common::announce(local);
    event_loop.run()
}
