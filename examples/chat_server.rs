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
//! | `starttls` (before login, in clear text, with `--tls-mode starttls`) | `Ready to start TLS`, then the session turns TLS (the client starts the handshake; the session goes on, logged out, over TLS); clear text the client sent after the command is dropped, never run |
//! | `starttls` on a TLS session (every session with `--tls-mode implicit`) | `TLS already active` |
//! | `starttls` without a certificate (`--tls-cert`) | `TLS not available` |
//! | `starttls` after login | `STARTTLS only before login` (the room's lines must not reach the session in clear text while it switches) |
//! | an empty line | nothing |
//! | anything else | `Unknown command: CMD` (CMD is the first word; `say` and `look` before login count as unknown, as in the seeds' login room) |
//!
//! An abrupt disconnect announces the leave as `logout` does. A line over `--max-line`
//! bytes (default 64 KiB) closes that session only (announcing its leave).
//!
//! # Timeouts and limits
//!
//! A limit on a session closes that session only, announcing its leave as an abrupt
//! disconnect does:
//!
//! | option | default | what happens |
//! |---|---|---|
//! | `--max-line BYTES` | 65536 | a longer line closes the session |
//! | `--line-timeout SECS` | 30 | a line must arrive whole this long after its first byte (a client trickling a line byte by byte is closed) |
//! | `--idle-timeout SECS` | 600 | a session that sends nothing and reads nothing for this long is closed |
//! | `--drain-timeout SECS` | 60 | a member that reads none of the room's traffic for this long is dropped |
//! | `--max-output BYTES` | 1048576 | a member whose unread output would pass this is dropped at once: a member who never reads costs the server at most this, however much the room says |
//! | `--max-connections N` | 1000 | connections past N wait in the listen backlog until others close |
//! | `--shutdown-grace SECS` | 10 | on SIGINT/SIGTERM the listener closes and every connection answers what it has received, for this long at most; then the server exits 0 (a second signal: at once) |
//!
//! `0` turns a time limit off.
//!
//! # TLS (the `tls` feature)
//!
//! | option | default | what it does |
//! |---|---|---|
//! | `--tls-cert FILE` | (clear text) | the PEM certificate chain: with `--tls-key`, sessions run TLS |
//! | `--tls-key FILE` | | its PEM private key |
//! | `--tls-mode implicit\|starttls` | implicit | `implicit`: every session is TLS from the first byte (the greeting comes after the handshake); `starttls`: sessions start in clear text and the `starttls` command turns one TLS |
//!
//! Without the feature `--tls-cert` is an error (exit status 2). Try it with the test
//! certificates of `examples/tls/` (never trust their CA elsewhere):
//! `openssl s_client -connect 127.0.0.1:7000 -CAfile examples/tls/ca.pem -quiet`, or for
//! `starttls`, Python's `ssl` module (see tests/example_tls.rs).
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
use std::rc::Rc;
use std::time::Duration;

use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler, Terminator};
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop, TimeoutKind, Timeouts, Token, net};

/// Who is in the room: name → session.
struct Room {
    members: BTreeMap<String, Token>,
    /// Every session's limits.
    config: ChatConfig,
    /// The TLS configuration of `--tls-cert`/`--tls-key`, if any.
    tls: Option<common::TlsConfig>,
    /// `--tls-mode`: whether sessions start in TLS (else `starttls` turns them TLS).
    implicit_tls: bool,
}

/// One connection.
#[derive(Default)]
struct Session {
    name: Option<String>,
    /// The session runs TLS, or turns TLS once its `Ready to start TLS` is sent.
    tls: bool,
}

type Chat = AsyncChat<Session>;

/// Sends `line` (plus `\n`) to every member but `except`. The line is made once, as a
/// shared `Rc<[u8]>` (the loop and its sessions share one thread, so its count needs no
/// atomic instruction): each member's queue holds a reference to it, not a copy. The running
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
    let text: Rc<[u8]> = Rc::from(format!("{line}\n").into_bytes());
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
            // Closing, or over its output cap: that session closes (and leaves the room)
            // through its handle_error; the others still get the line.
            log::debug!("{token:?}: not sent: {e}");
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

    /// `starttls`: the reply in clear text, then the switch. Only before login: a member
    /// gets the room's lines, which must not go out in clear text between the reply and
    /// the handshake (the client would take them for TLS records).
    fn start_tls(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, Room>) -> io::Result<()> {
        if self.tls {
            return reply(chat, "TLS already active");
        }
        if self.name.is_some() {
            return reply(chat, "STARTTLS only before login");
        }
        let room = cx.state();
        let config = match &room.tls {
            Some(config) if !room.implicit_tls => config.clone(),
            _ => return reply(chat, "TLS not available"),
        };
        reply(chat, "Ready to start TLS")?;
        // The chat layer sends the reply, drops what the client sent after the command,
        // then switches: nothing pipelined in clear text runs inside the TLS session.
        common::start_tls(chat, &config)?;
        self.tls = true;
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
            "starttls" => self.start_tls(chat, cx),
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

    fn handle_timeout(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Room>,
        timeout: TimeoutKind,
    ) -> io::Result<()> {
        log::info!("{:?}: {timeout}; closing the session", cx.token());
        self.leave(chat, cx);
        cx.close();
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
        let room = cx.state();
        let config = room.config;
        // With --tls-mode implicit the session is TLS from the first byte; the greeting
        // waits for the handshake.
        let tls = room.tls.clone().filter(|_| room.implicit_tls);
        let session = Session {
            name: None,
            tls: tls.is_some(),
        };
        let mut session = AsyncChat::with_config(session, Terminator::bytes(b"\n"), config);
        session.push(&b"Connect Success\n"[..])?;
        common::spawn_maybe_tls(cx, socket, tls.as_ref(), session)?;
        Ok(())
    }
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args(
        "The seeds' chat room on the chat layer.",
        &[
            common::opt(
                "max-line",
                "BYTES",
                "close a session that sends a longer line (default 65536)",
            ),
            common::opt(
                "line-timeout",
                "SECS",
                "a line must arrive whole within this of its first byte (default 30; 0: no limit)",
            ),
            common::opt(
                "idle-timeout",
                "SECS",
                "close a session silent this long (default 600; 0: never)",
            ),
            common::opt(
                "drain-timeout",
                "SECS",
                "drop a member that reads nothing this long (default 60; 0: never)",
            ),
            common::opt(
                "max-output",
                "BYTES",
                "drop a member whose unread output would pass this (default 1048576)",
            ),
            common::MAX_CONNECTIONS,
            common::SHUTDOWN_GRACE,
            common::TLS_CERT,
            common::TLS_KEY,
            common::opt(
                "tls-mode",
                "implicit|starttls",
                "with --tls-cert: TLS from the first byte, or clear text until the starttls command (default implicit)",
            ),
        ],
    );
    let max_output = args.count("max-output", 1024 * 1024);
    let config = ChatConfig {
        max_message: args.count("max-line", 64 * 1024),
        max_output,
        // A session stops reading (so its speaker waits) while its own output is a quarter
        // of the cap: what one read then adds stays below the cap, so a fast speaker is
        // slowed, never dropped, by its own echo.
        high_water: max_output / 4,
        timeouts: Timeouts {
            message: args.seconds("line-timeout", Some(Duration::from_secs(30))),
            idle: args.seconds("idle-timeout", Some(Duration::from_secs(600))),
            drain: args.seconds("drain-timeout", Some(Duration::from_secs(60))),
            ..Timeouts::NONE
        },
        ..ChatConfig::default()
    };
    let tls = common::tls_server_config(&args);
    let implicit_tls = match args.extra("tls-mode") {
        None | Some("implicit") => true,
        Some("starttls") => false,
        Some(other) => {
            eprintln!("chat_server: --tls-mode takes implicit or starttls, not {other:?}");
            std::process::exit(2);
        }
    };
    if tls.is_none() && args.extra("tls-mode").is_some() {
        eprintln!("chat_server: --tls-mode needs --tls-cert and --tls-key");
        std::process::exit(2);
    }
    if let Err(e) = run(&args, config, tls, implicit_tls) {
        eprintln!("chat_server: {e}");
        std::process::exit(1);
    }
}

fn run(
    args: &common::Args,
    config: ChatConfig,
    tls: Option<common::TlsConfig>,
    implicit_tls: bool,
) -> io::Result<()> {
    let room = Room {
        members: BTreeMap::new(),
        config,
        tls,
        implicit_tls,
    };
    let mut event_loop = EventLoop::with_kind(args.selector, room)?;
    let listener = net::listen(args.addr, net::DEFAULT_BACKLOG)?;
    let local = listener.local_addr()?;
    let token = event_loop.spawn(listener, Server)?;
    event_loop.set_listener_limits(token, common::listener_limits(args))?;
    common::shut_down_on_signal(&mut event_loop, args);
    common::announce(local);
    event_loop.run()
}
