//! CPython 3.11's `smtpd` (`SMTPChannel`, `SMTPServer`, `DebuggingServer`), ported to the
//! chat layer: the same dialogue, reply for reply, with its limits enforced and its buffers
//! bounded. `smtpd.py` is 885 lines of Python (an `asynchat.async_chat` per session); this
//! port is `channel.rs` (the session), `address.rs` (the part of `email`'s address parser
//! smtpd used), `delivery.rs` (printing, or a Maildir) and this file.
//!
//! # Commands and replies
//!
//! | command | replies |
//! |---|---|
//! | (connect) | `220 HOSTNAME Python SMTP proxy version 0.3` |
//! | `HELO name` | `250 HOSTNAME`; `501 Syntax: HELO hostname` without a name; `503 Duplicate HELO/EHLO` after a HELO or EHLO |
//! | `EHLO name` | `250-HOSTNAME`, `250-SIZE LIMIT`, `250-8BITMIME`, `250-SMTPUTF8` (with `--smtputf8 on`), `250-STARTTLS` (with `--tls-cert`, before TLS is on), `250 HELP`; `501 Syntax: EHLO hostname`; `503 Duplicate HELO/EHLO` |
//! | `MAIL FROM:<a@b> [SIZE=n] [BODY=7BIT\|8BITMIME] [SMTPUTF8]` | `250 OK`; `503 Error: send HELO first`; `501 Syntax: MAIL FROM: <address>` (after EHLO: ` [SP <mail-parameters>]` added) for a bad address, parameters after HELO, or a bad `SIZE`; `503 Error: nested MAIL command`; `501 Error: BODY can only be one of 7BIT, 8BITMIME`; `501 Error: SMTPUTF8 takes no arguments`; `552 Error: message size exceeds fixed maximum message size`; `555 MAIL FROM parameters not recognized or not implemented` |
//! | `RCPT TO:<a@b>` | `250 OK`; `503 Error: send HELO first`; `503 Error: need MAIL command`; `501 Syntax: RCPT TO: <address>` (likewise); `555 RCPT TO parameters not recognized or not implemented` |
//! | `DATA` | `354 End data with <CR><LF>.<CR><LF>`, then after the data `250 OK` or `552 Error: Too much mail data`; `503 Error: send HELO first`; `503 Error: need RCPT command`; `501 Syntax: DATA` |
//! | `RSET` | `250 OK` (the transaction is dropped, the greeting kept); `501 Syntax: RSET` |
//! | `NOOP` | `250 OK`; `501 Syntax: NOOP` |
//! | `VRFY addr` | `252 Cannot VRFY user, but will accept message and attempt delivery`; `502 Could not VRFY addr`; `501 Syntax: VRFY <address>` |
//! | `EXPN` | `502 EXPN not implemented` |
//! | `HELP [command]` | `250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY`, `250 Syntax: …` for a command, `501 Supported commands: …` for another word |
//! | `QUIT` | `221 Bye`, then the connection closes (commands sent after it are not answered) |
//! | `STARTTLS` (with `--tls-cert`; RFC 3207) | `220 Ready to start TLS`, then the client's TLS handshake; the session starts over (the client must `EHLO` again; the transaction is dropped), and commands pipelined in clear text after `STARTTLS` are dropped, never run; `501 Syntax error (no parameters allowed)`; `503 Error: TLS already active`; `454 TLS not available due to temporary reason` without `--tls-cert` |
//! | an empty line | `500 Error: bad syntax` |
//! | another command | `500 Error: command "NAME" not recognized` |
//! | a line over 512 bytes (`MAIL` after EHLO: 538, 548 with SMTPUTF8) | `500 Error: line too long`; the session goes on |
//!
//! Commands are case-insensitive and may be pipelined; data lines starting with `.` lose that
//! dot (RFC 5321 §4.5.2). As in smtpd, a session ends without a reply where smtpd's
//! handler raised an exception: a command line that is not UTF-8, a reply holding non-ASCII
//! text outside an SMTPUTF8 transaction (`VRFY é`, an unknown command `É`), an address its
//! parser cannot read (`<@b>`), `SIZE` without a value. The replies queued before are sent.
//!
//! # Delivery
//!
//! Without `--maildir`, each message is printed to stdout as `DebuggingServer` prints it:
//! a `---------- MESSAGE FOLLOWS ----------` line, the `MAIL` and `RCPT` options as Python
//! lists if there are any, every line as a Python bytes literal with `b'X-Peer: IP'` where the
//! headers end, and a `------------ END MESSAGE ------------` line. So stdout carries more
//! than the `listening on IP:PORT` line of the other examples.
//!
//! With `--maildir DIR`, nothing is printed: each message becomes a file of the Maildir `DIR`
//! (created with its `tmp`, `new` and `cur` if missing), written to `tmp/`, synced to disk and
//! renamed into `new/`, so a mail reader never sees half a message. The envelope, as smtpd's
//! `process_message` receives it, comes first as three header lines: `X-Peer: IP`,
//! `X-MailFrom: ADDRESS` and `X-RcptTo: ADDRESS, ADDRESS` (prepended, as delivery agents
//! prepend `Return-Path`, rather than inserted where the headers end as `PureProxy` did with
//! `X-Peer`: a message without a header block gets them too). Then the message as
//! `process_message` sees it: dot-unstuffed, lines ended by `\n`, and a final `\n`.
//!
//! # Options, timeouts and limits
//!
//! | option | default | what it does |
//! |---|---|---|
//! | `--data-size-limit BYTES` | 33554432 | the largest message (as sent: dot-stuffed, with `\r\n`), advertised as `SIZE`; more is `552` (smtpd's `--size`; smtpd without it had no limit, which this port does not offer) |
//! | `--smtputf8 on\|off` | off | the SMTPUTF8 extension (RFC 6531; smtpd's `--smtputf8`) |
//! | `--maildir DIR` | (print) | deliver to a Maildir instead of stdout |
//! | `--hostname NAME` | the host's name | the name in the greeting and the HELO/EHLO replies (smtpd: `socket.getfqdn()`) |
//! | `--idle-timeout SECS` | 300 | a session that sends nothing for this long is closed (RFC 5321 §4.5.3.2's 5-minute server timeout) |
//! | `--line-timeout SECS` | 300 | a command or data line must arrive whole this long after its first byte (a client trickling bytes is closed) |
//! | `--drain-timeout SECS` | 60 | a client that reads none of its replies for this long is dropped |
//! | `--linger SECS` | 2 | after `221 Bye`, read what the client still sends for this long at most, so it reads the reply rather than a reset |
//! | `--max-connections N` | 1000 | connections past N wait in the listen backlog until others close |
//! | `--tls-cert FILE` | (no TLS) | the PEM certificate chain for STARTTLS (with `--tls-key`; the `tls` feature, else exit status 2) |
//! | `--tls-key FILE` | | its PEM private key |
//! | `--shutdown-grace SECS` | 10 | on SIGINT/SIGTERM the listener closes and every connection answers what it has received, for this long at most; then the server exits 0 (a second signal: at once) |
//!
//! `0` turns a time limit off.
//!
//! # Differences from smtpd, on purpose
//!
//! Each is a bug of smtpd's; the differential test (tests/example_smtp.rs) shows the port's
//! side and names the difference where it excludes smtpd's. No CPython issue was found for
//! them (smtpd was deprecated in 3.6 in favour of aiosmtpd, and removed in 3.12); aiosmtpd,
//! which started from smtpd's code, tracked the last two as aio-libs/aiosmtpd#9 (data after
//! a 552) and #56 (the shared `command_size_limits`).
//!
//! - **An empty message never ends in smtpd.** smtpd waits for `\r\n.\r\n` after `DATA`'s
//!   own `\r\n` was taken as the command's end, so `DATA` followed at once by `.` is not
//!   seen as the end of the data: smtpd waits forever (and a message whose first line is `.`
//!   swallows what follows). The port reads the data line by line, as RFC 5321 describes
//!   it: a line `.` ends the data wherever it is, and an empty message is `250 OK`.
//! - **After `552 Error: Too much mail data` smtpd stays in the data state** (its
//!   `found_terminator` returns before `_set_post_data_state`): the next commands are taken
//!   as mail data and never answered, so smtplib's `RSET` after the error hangs. The port
//!   ends the transaction, as RFC 5321 requires, and answers the next command.
//! - **smtpd's command limits are shared by all its sessions**: `command_size_limits` is a
//!   class attribute, cleared by every new connection and raised by every `EHLO`, so one
//!   client's `MAIL` limit depends on what the others did. The port keeps each session's own.
//! - **An over-long command line that is not valid UTF-8** (or cut inside a character)
//!   closed smtpd's session or got `500 Error: line too long`, depending on how TCP cut the
//!   line; the port always answers `500 Error: line too long`.
//!
//! # An extension smtpd lacked: STARTTLS
//!
//! With `--tls-cert` and `--tls-key` (the `tls` feature) the port offers STARTTLS (RFC
//! 3207); without them its dialogue is smtpd's, but for `STARTTLS` itself, which smtpd
//! answered `500 Error: command "STARTTLS" not recognized` and the port answers `454` (the
//! extension exists, TLS is not set up), as RFC 3207 says. Try it with the test certificates
//! of `examples/tls/` (never trust their CA elsewhere):
//!
//! ```sh
//! cargo run --features tls --example smtp_server -- --addr 127.0.0.1:8025 \
//!     --tls-cert examples/tls/server.pem --tls-key examples/tls/server-key.pem
//! openssl s_client -starttls smtp -connect 127.0.0.1:8025 -CAfile examples/tls/ca.pem
//! ```
//!
//! # What the port does better
//!
//! Limits are enforced as data arrives: a command line is never buffered past its limit,
//! message data never past `--data-size-limit` (smtpd kept a whole read past its limits and,
//! without `--size`, any amount); the output queue is capped and a client that does not read
//! is dropped; idle and slow clients time out (smtpd had no timeouts); `QUIT` lingers so the
//! client reads `221`. The event loop makes no network call of its own (`PureProxy` relayed
//! with a blocking `smtplib` connection inside the loop); the only blocking work is the
//! Maildir's local file write.
//!
//! Run: `cargo run --example smtp_server -- --addr 127.0.0.1:8025 [--maildir /tmp/mail]`,
//! then `swaks --server 127.0.0.1:8025 --to you@example.com`. Prints `listening on
//! IP:PORT`; exits 0 on SIGINT/SIGTERM.

#[path = "../common/mod.rs"]
mod common;

mod address;
mod channel;
mod delivery;
mod py;

use std::cell::RefCell;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use ioloop::chat::{AsyncChat, ChatConfig, Overflow};
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop, Timeouts, net};

use channel::{COMMAND_SIZE_LIMIT, Settings, SmtpChannel};
use delivery::{Maildir, Sink};

/// smtpd's `DATA_SIZE_DEFAULT`.
const DATA_SIZE_DEFAULT: usize = 33_554_432;

/// `smtpd.SMTPServer`: a listener that makes one [`SmtpChannel`] per connection.
struct SmtpServer {
    settings: Rc<Settings>,
    config: ChatConfig,
}

impl Dispatcher for SmtpServer {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        addr: SockAddr,
    ) -> io::Result<()> {
        // Replies are small and awaited: no Nagle delay behind the peer's delayed ACK.
        socket.set_tcp_nodelay(true)?;
        let peer = addr
            .as_socket()
            .map_or_else(String::new, |addr| addr.ip().to_string());
        let session = SmtpChannel::new(self.settings.clone(), peer);
        cx.spawn(
            socket,
            AsyncChat::with_config(session, b"\r\n", self.config),
        )?;
        Ok(())
    }
}

/// The machine's host name (smtpd asked `socket.getfqdn()`, which also looks the name up).
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; the name is NUL-terminated on success.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            if let Ok(name) = std::str::from_utf8(&buf[..len]) {
                if !name.is_empty() {
                    return name.to_string();
                }
            }
        }
    }
    std::env::var("COMPUTERNAME").unwrap_or_else(|_| "localhost".to_string())
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args(
        "CPython 3.11's smtpd (DebuggingServer) on the chat layer: prints each message to stdout, or writes it to --maildir.",
        &[
            common::opt(
                "data-size-limit",
                "BYTES",
                "the largest message, advertised as SIZE (default 33554432)",
            ),
            common::opt(
                "smtputf8",
                "on|off",
                "the SMTPUTF8 extension, RFC 6531 (default off)",
            ),
            common::opt(
                "maildir",
                "DIR",
                "write each message to this Maildir (created if missing) instead of printing it",
            ),
            common::opt(
                "hostname",
                "NAME",
                "the name in the greeting and HELO/EHLO replies (default: the host's name)",
            ),
            common::opt(
                "idle-timeout",
                "SECS",
                "close a session that sends nothing this long (default 300, RFC 5321's 5 minutes; 0: never)",
            ),
            common::opt(
                "line-timeout",
                "SECS",
                "a command or data line must arrive whole within this (default 300; 0: no limit)",
            ),
            common::opt(
                "drain-timeout",
                "SECS",
                "drop a client that reads none of its replies this long (default 60; 0: never)",
            ),
            common::opt(
                "linger",
                "SECS",
                "after 221 Bye, read what the client still sends at most this long (default 2; 0: close at once)",
            ),
            common::MAX_CONNECTIONS,
            common::SHUTDOWN_GRACE,
            common::TLS_CERT,
            common::TLS_KEY,
        ],
    );
    if let Err(e) = run(&args) {
        eprintln!("smtp_server: {e}");
        std::process::exit(1);
    }
}

fn run(args: &common::Args) -> io::Result<()> {
    let enable_smtputf8 = match args.extra("smtputf8").unwrap_or("off") {
        "on" | "yes" | "true" | "1" => true,
        "off" | "no" | "false" | "0" => false,
        other => {
            eprintln!("smtp_server: --smtputf8 takes on or off, not {other:?}");
            std::process::exit(2);
        }
    };
    let fqdn = args
        .extra("hostname")
        .map_or_else(host_name, str::to_string);
    let sink = match args.extra("maildir") {
        Some(dir) => Sink::Maildir(Maildir::open(Path::new(dir), &fqdn)?),
        None => Sink::Print,
    };
    let settings = Rc::new(Settings {
        fqdn,
        data_size_limit: args.count("data-size-limit", DATA_SIZE_DEFAULT),
        enable_smtputf8,
        sink: Rc::new(RefCell::new(sink)),
        tls: common::tls_server_config(args),
    });
    let config = ChatConfig {
        max_message: COMMAND_SIZE_LIMIT,
        on_overflow: Overflow::Discard,
        timeouts: Timeouts {
            idle: args.seconds("idle-timeout", Some(Duration::from_secs(300))),
            message: args.seconds("line-timeout", Some(Duration::from_secs(300))),
            drain: args.seconds("drain-timeout", Some(Duration::from_secs(60))),
            ..Timeouts::NONE
        },
        linger: args.seconds("linger", Some(Duration::from_secs(2))),
        ..ChatConfig::default()
    };

    let mut event_loop = EventLoop::with_kind(args.selector, ())?;
    let listener = net::listen(args.addr, net::DEFAULT_BACKLOG)?;
    let local = listener.local_addr()?;
    let token = event_loop.spawn(listener, SmtpServer { settings, config })?;
    event_loop.set_listener_limits(token, common::listener_limits(args))?;
    common::shut_down_on_signal(&mut event_loop, args);
    common::announce(local);
    event_loop.run()
}
