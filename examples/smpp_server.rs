//! The seeds' SMPP v3.4 server (an SMSC that accepts binds and short messages) on the chat
//! layer: one [`AsyncChat`] per connection, framed by the PDU's own `command_length`.
//!
//! # Framing
//!
//! Every PDU starts with a 16-byte header of four big-endian `u32`s: `command_length` (the
//! whole PDU, header included), `command_id`, `command_status`, `sequence_number`. The
//! channel's terminator is `Terminator::length_prefixed(LengthPrefix::new(4).adjustment(-4))`
//! with the header kept, so each message handed to the session is one whole PDU, however the
//! bytes arrive: one at a time, or many PDUs in one segment. Bodies are made of C-strings
//! (NUL-terminated) and single-byte integers.
//!
//! # Commands
//!
//! Every response carries the request's `sequence_number`; "header only" means a 16-byte
//! response without a body.
//!
//! | request (`command_id`) | response |
//! |---|---|
//! | `bind_receiver` (`0x00000001`), `bind_transmitter` (`0x00000002`), `bind_transceiver` (`0x00000009`): body `system_id`, `password`, `system_type` (C-strings), `interface_version`, `addr_ton`, `addr_npi` (bytes), `address_range` (C-string) | the matching `bind_*_resp` (`command_id \| 0x80000000`): status 0 and body = the server's `system_id` (C-string) if `system_id` and `password` match `--system-id` / `--password` (default `admin` / `abcdef`); else header only with `0x0000000F` ESME_RINVSYSID (unknown `system_id`) or `0x0000000E` ESME_RINVPASWD (wrong password); header only with `0x00000005` ESME_RALYBND if the session is already bound |
//! | `enquire_link` (`0x00000015`), in any state | `enquire_link_resp` (`0x80000015`), status 0, header only |
//! | `submit_sm` (`0x00000004`) on a session bound as transmitter or transceiver | `submit_sm_resp` (`0x80000004`), status 0, body `message_id` (C-string): `1`, `2`, … counted across the whole server |
//! | `submit_sm` on an unbound (or receiver-only) session | `submit_sm_resp`, status `0x00000004` ESME_RINVBNDSTS, header only |
//! | `unbind` (`0x00000006`), in any state | `unbind_resp` (`0x80000006`), status 0, header only; then the server closes the connection |
//! | any other request | `generic_nack` (`0x80000000`), status `0x00000003` ESME_RINVCMDID |
//! | a response (`command_id` with the top bit set) | nothing: this server sends no requests, so there is nothing to match it with (and a nack could start a nack ping-pong) |
//!
//! Only `system_id` and `password` of a bind body matter; the rest is parsed leniently (a
//! missing field or NUL reads as an empty string or the rest of the body).
//!
//! # Bad lengths
//!
//! A `command_length` under 16 (so no complete header), or over 64 KiB, gets a
//! `generic_nack` with status `0x00000002` ESME_RINVCMDLEN, and the server closes the
//! connection: past a bad length it cannot find the next PDU. The nack's `sequence_number`
//! is 0 (a PDU under 16 bytes has none; an over-long one is refused as soon as its first
//! four bytes arrive, by the chat channel's `max_message`, before any of it is buffered).
//! Other connections are not affected.
//!
//! # Timeouts
//!
//! Each closes that connection only:
//!
//! | option | default | what happens |
//! |---|---|---|
//! | `--pdu-timeout SECS` | 10 | a PDU must arrive whole this long after its first byte (a client trickling a PDU is closed) |
//! | `--idle-timeout SECS` | 120 | a session with no PDU for this long is closed: ESMEs send `enquire_link` every 30–60 s to keep theirs |
//! | `--drain-timeout SECS` | 60 | a client that reads none of its responses for this long is dropped |
//! | `--max-connections N` | 1000 | connections past N wait in the listen backlog until others close |
//! | `--shutdown-grace SECS` | 10 | on SIGINT/SIGTERM the listener closes and every connection answers what it has received, for this long at most; then the server exits 0 (a second signal: at once) |
//!
//! `0` turns a limit off.
//!
//! Run: `cargo run --example smpp_server -- --addr 127.0.0.1:2775 [--system-id admin]
//! [--password abcdef] [--selector poll]`. Prints `listening on IP:PORT`; exits 0 on
//! SIGINT/SIGTERM.

#[path = "common/mod.rs"]
mod common;

use std::io;
use std::time::Duration;

use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler, LengthPrefix, Terminator};
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop, Timeouts, net};

/// The size of a PDU header.
const HEADER_LEN: usize = 16;
/// The longest PDU accepted.
const MAX_PDU: usize = 64 * 1024;

/// Set in the `command_id` of every response.
const RESPONSE: u32 = 0x8000_0000;
const GENERIC_NACK: u32 = 0x8000_0000;
const BIND_RECEIVER: u32 = 0x0000_0001;
const BIND_TRANSMITTER: u32 = 0x0000_0002;
const SUBMIT_SM: u32 = 0x0000_0004;
const UNBIND: u32 = 0x0000_0006;
const BIND_TRANSCEIVER: u32 = 0x0000_0009;
const ENQUIRE_LINK: u32 = 0x0000_0015;

const ESME_ROK: u32 = 0x0000_0000;
const ESME_RINVCMDLEN: u32 = 0x0000_0002;
const ESME_RINVCMDID: u32 = 0x0000_0003;
const ESME_RINVBNDSTS: u32 = 0x0000_0004;
const ESME_RALYBND: u32 = 0x0000_0005;
const ESME_RINVPASWD: u32 = 0x0000_000E;
const ESME_RINVSYSID: u32 = 0x0000_000F;

/// The server's shared state: the credentials and the message-id counter.
struct Smsc {
    system_id: String,
    password: String,
    /// Every session's limits.
    config: ChatConfig,
    /// The last `message_id` handed out.
    last_message_id: u64,
}

/// How a session is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    Receiver,
    Transmitter,
    Transceiver,
}

impl Bound {
    fn may_submit(self) -> bool {
        matches!(self, Bound::Transmitter | Bound::Transceiver)
    }
}

/// One connection.
#[derive(Default)]
struct Session {
    bound: Option<Bound>,
}

/// A PDU: `command_length` (computed), `command_id`, `command_status`, `sequence_number`,
/// then `body`.
fn pdu(command_id: u32, status: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(HEADER_LEN + body.len()).expect("a PDU under 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `text` as a C-string.
fn c_string(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 1);
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    out
}

/// The big-endian `u32` at `at`, if the bytes are there.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(field))
}

/// Reads C-strings off the front of a body, leniently: a missing NUL ends the string at the
/// end of the body, and a missing field is empty.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn c_string(&mut self) -> &'a [u8] {
        let (field, rest) = match self.rest.iter().position(|&b| b == 0) {
            Some(nul) => (&self.rest[..nul], &self.rest[nul + 1..]),
            None => (self.rest, &self.rest[self.rest.len()..]),
        };
        self.rest = rest;
        field
    }
}

impl Session {
    fn bind(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Smsc>,
        command_id: u32,
        sequence: u32,
        body: &[u8],
    ) -> io::Result<()> {
        let response = command_id | RESPONSE;
        if self.bound.is_some() {
            return chat.push(pdu(response, ESME_RALYBND, sequence, &[]));
        }
        let mut fields = Fields { rest: body };
        let system_id = fields.c_string();
        let password = fields.c_string();
        // system_type, interface_version, addr_ton, addr_npi and address_range follow; this
        // server has no use for them.
        let smsc = cx.state();
        let status = if system_id != smsc.system_id.as_bytes() {
            ESME_RINVSYSID
        } else if password != smsc.password.as_bytes() {
            ESME_RINVPASWD
        } else {
            ESME_ROK
        };
        if status != ESME_ROK {
            // SMPP 3.4 §4.1: the body (system_id) is sent only with a status of 0.
            return chat.push(pdu(response, status, sequence, &[]));
        }
        self.bound = Some(match command_id {
            BIND_RECEIVER => Bound::Receiver,
            BIND_TRANSMITTER => Bound::Transmitter,
            _ => Bound::Transceiver,
        });
        let body = c_string(&smsc.system_id);
        chat.push(pdu(response, ESME_ROK, sequence, &body))
    }

    fn submit(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Smsc>,
        sequence: u32,
    ) -> io::Result<()> {
        let response = SUBMIT_SM | RESPONSE;
        if !self.bound.is_some_and(Bound::may_submit) {
            return chat.push(pdu(response, ESME_RINVBNDSTS, sequence, &[]));
        }
        let smsc = cx.state();
        smsc.last_message_id += 1;
        let message_id = c_string(&smsc.last_message_id.to_string());
        chat.push(pdu(response, ESME_ROK, sequence, &message_id))
    }
}

/// Answers a bad `command_length` and closes once the answer is sent.
fn refuse_length(chat: &mut ChatChannel, sequence: u32) -> io::Result<()> {
    chat.push(pdu(GENERIC_NACK, ESME_RINVCMDLEN, sequence, &[]))?;
    chat.close_when_done();
    Ok(())
}

impl ChatHandler<Smsc> for Session {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Smsc>,
        request: &[u8],
    ) -> io::Result<()> {
        if chat.is_closing() {
            // PDUs that arrived in the same read as an unbind: the session is over.
            return Ok(());
        }
        if request.len() < HEADER_LEN {
            // command_length 4..=15: a whole frame without a whole header, so without a
            // sequence number.
            return refuse_length(chat, 0);
        }
        let command_id = be_u32(request, 4).unwrap_or(0);
        let sequence = be_u32(request, 12).unwrap_or(0);
        let body = &request[HEADER_LEN..];
        match command_id {
            BIND_RECEIVER | BIND_TRANSMITTER | BIND_TRANSCEIVER => {
                self.bind(chat, cx, command_id, sequence, body)
            }
            ENQUIRE_LINK => chat.push(pdu_header(ENQUIRE_LINK | RESPONSE, sequence)),
            SUBMIT_SM => self.submit(chat, cx, sequence),
            UNBIND => {
                self.bound = None;
                chat.push(pdu_header(UNBIND | RESPONSE, sequence))?;
                chat.close_when_done();
                Ok(())
            }
            id if id & RESPONSE != 0 => {
                log::debug!(
                    "{:?}: ignored an unsolicited response {id:#010x}",
                    cx.token()
                );
                Ok(())
            }
            _ => chat.push(pdu(GENERIC_NACK, ESME_RINVCMDID, sequence, &[])),
        }
    }

    fn handle_error(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Smsc>,
        error: io::Error,
    ) {
        if error.kind() == io::ErrorKind::InvalidData && !chat.is_closing() {
            // The framer refused a command_length under 4 or over MAX_PDU as soon as it read
            // it. The sequence number is not read yet: 0.
            log::info!("{:?}: {error}; answering generic_nack", cx.token());
            if refuse_length(chat, 0).is_ok() {
                return; // AsyncChat sends the nack, then closes
            }
        }
        log::warn!("{:?}: {error}; closing the session", cx.token());
        cx.close();
    }
}

/// A response without a body and with status 0.
fn pdu_header(command_id: u32, sequence: u32) -> Vec<u8> {
    pdu(command_id, ESME_ROK, sequence, &[])
}

/// The listening channel: one [`Session`] per connection.
struct Server;

impl Dispatcher<Smsc> for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, Smsc>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        // Replies are small and awaited: send them at once, not after the peer's delayed
        // ACK (Nagle's algorithm holds a small segment while one is unacknowledged).
        socket.set_tcp_nodelay(true)?;
        let terminator = Terminator::length_prefixed(LengthPrefix::new(4).adjustment(-4))?;
        let config = cx.state().config;
        cx.spawn(
            socket,
            AsyncChat::with_config(Session::default(), terminator, config),
        )?;
        Ok(())
    }
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args(
        "The seeds' SMPP v3.4 server on the chat layer.",
        &[
            common::opt(
                "system-id",
                "ID",
                "the system_id binds must give (default admin)",
            ),
            common::opt(
                "password",
                "PASSWORD",
                "the password binds must give (default abcdef)",
            ),
            common::opt(
                "pdu-timeout",
                "SECS",
                "a PDU must arrive whole within this of its first byte (default 10; 0: no limit)",
            ),
            common::opt(
                "idle-timeout",
                "SECS",
                "close a session with no PDU this long (default 120; 0: never)",
            ),
            common::opt(
                "drain-timeout",
                "SECS",
                "drop a client that reads no response this long (default 60; 0: never)",
            ),
            common::MAX_CONNECTIONS,
            common::SHUTDOWN_GRACE,
        ],
    );
    let config = ChatConfig {
        max_message: MAX_PDU,
        timeouts: Timeouts {
            message: args.seconds("pdu-timeout", Some(Duration::from_secs(10))),
            idle: args.seconds("idle-timeout", Some(Duration::from_secs(120))),
            drain: args.seconds("drain-timeout", Some(Duration::from_secs(60))),
            ..Timeouts::NONE
        },
        ..ChatConfig::default()
    };
    let smsc = Smsc {
        system_id: args.extra("system-id").unwrap_or("admin").to_string(),
        password: args.extra("password").unwrap_or("abcdef").to_string(),
        config,
        last_message_id: 0,
    };
    if let Err(e) = run(&args, smsc) {
        eprintln!("smpp_server: {e}");
        std::process::exit(1);
    }
}

fn run(args: &common::Args, smsc: Smsc) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(args.selector, smsc)?;
    let listener = net::listen(args.addr, net::DEFAULT_BACKLOG)?;
    let local = listener.local_addr()?;
    let token = event_loop.spawn(listener, Server)?;
    event_loop.set_listener_limits(token, common::listener_limits(args))?;
    common::shut_down_on_signal(&mut event_loop, args);
    common::announce(local);
    event_loop.run()
}
