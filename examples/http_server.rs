//! A small HTTP/1.1 server on the chat layer (Python's `asynchat`, as the classic
//! `asynchat` HTTP servers did it): the header block is one message ended by `\r\n\r\n`;
//! a body switches the terminator to a byte count inside `found_terminator`, then back.
//!
//! # Resources
//!
//! | request | response |
//! |---|---|
//! | `GET /` (or `HEAD /`) | `200 OK`, `Content-Type: text/plain`, body `Hello, World!\n` (`HEAD`: the same headers, no body) |
//! | `POST /echo` with a body | `200 OK`, `Content-Type: application/octet-stream`, the body sent back |
//! | another method on `/` or `/echo` | `405 Method Not Allowed` with `Allow` |
//! | any other path | `404 Not Found` |
//!
//! Every response has `Content-Length` and `Date`, and is HTTP/1.1. The path is the request
//! target up to `?`; an absolute-form target (`http://host/path`) is routed by its path.
//!
//! # Connections
//!
//! HTTP/1.1 connections stay open unless the request says `Connection: close`; HTTP/1.0
//! ones close unless it says `Connection: keep-alive` (then the response says so too). A
//! closing response carries `Connection: close`, and the server closes once it is sent;
//! requests pipelined behind it are not answered. Pipelined requests are answered one by
//! one, in order: the framer hands them over one at a time, however they were read.
//!
//! # Bodies
//!
//! A request body is framed by `Content-Length` only (the server reads it even for paths
//! that then get a 404, so the next pipelined request parses). Bodies stream through
//! `collect_incoming_data` into the session's own buffer, so the chat channel's
//! `max_message` (8 KiB) limits only the header block; a body over 1 MiB is refused with
//! `413 Content Too Large` before any of it is read, and the connection closes.
//! `Transfer-Encoding` (chunked bodies) is not supported: `501 Not Implemented`, then close
//! (the server cannot find where such a body ends).
//!
//! # Errors
//!
//! Each closes the connection after its response (with `Connection: close`):
//!
//! | request | response |
//! |---|---|
//! | a request line that is not `METHOD SP TARGET SP HTTP/1.x` (exactly two single spaces; a token method; a target of visible ASCII starting with `/`, or absolute-form, or `*`) | `400 Bad Request` |
//! | a header block that is not UTF-8, a header line without `:`, a header name that is not a token (whitespace before the colon included), a folded (obsolete line-folding) line, a control character in a value | `400 Bad Request` |
//! | a `Content-Length` that is not a decimal number, or two that differ | `400 Bad Request` |
//! | an HTTP/1.1 request without exactly one `Host` | `400 Bad Request` |
//! | a well-formed version other than 1.x (`HTTP/2.0`) | `505 HTTP Version Not Supported` |
//! | a header block over 8 KiB (the channel's `max_message`: `InvalidData` in `handle_error`) | `431 Request Header Fields Too Large` |
//!
//! Empty lines before a request line are skipped (RFC 9112 §2.2). Header lines end in
//! `\r\n`; a client sending bare `\n` never ends its header block, so it gets a 431.
//!
//! # Timeouts and limits
//!
//! | option | default | what happens |
//! |---|---|---|
//! | `--request-timeout SECS` | 10 | a header block, or a body, must arrive whole this long after its first byte (a slowloris client trickling one byte a second is closed), else the connection closes |
//! | `--idle-timeout SECS` | 60 | a keep-alive connection with no request for this long is closed |
//! | `--drain-timeout SECS` | 30 | a client that reads none of its response for this long is dropped |
//! | `--linger SECS` | 2 | after a closing response (an error, `Connection: close`) the server stops writing and reads what the client still sends, for this long at most, before it closes: so a client still uploading (say a body over the limit) reads its `413` instead of a reset |
//! | `--max-connections N` | 1000 | connections past N wait in the listen backlog until others close |
//! | `--shutdown-grace SECS` | 10 | on SIGINT/SIGTERM the listener closes and every connection answers what it has received, for this long at most; then the server exits 0 (a second signal: at once) |
//!
//! `0` turns a time limit off. Header blocks are at most 8 KiB (`431`), bodies 1 MiB (`413`).
//!
//! # HTTPS (the `tls` feature)
//!
//! With `--tls-cert FILE --tls-key FILE` (a PEM certificate chain and its key) every
//! connection is TLS from its first byte; the sessions are the same. One without the other,
//! or either in a build without the feature, exits with status 2; files that cannot be read
//! or do not match exit with status 1. With the test certificates of `examples/tls/` (never
//! trust their CA elsewhere): `cargo run --features tls --example http_server -- --addr
//! 127.0.0.1:8443 --tls-cert examples/tls/server.pem --tls-key examples/tls/server-key.pem`,
//! then `curl --cacert examples/tls/ca.pem https://localhost:8443/`.
//!
//! Run: `cargo run --example http_server -- --addr 127.0.0.1:8080 [--selector poll]`, then
//! `curl -v http://127.0.0.1:8080/`. Prints `listening on IP:PORT`; exits 0 on
//! SIGINT/SIGTERM.

#[path = "common/mod.rs"]
mod common;

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler, Terminator};
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Context, Dispatcher, EventLoop, Timeouts, net};

/// The longest header block (request line and headers).
const MAX_HEAD: usize = 8 * 1024;
/// The longest request body.
const MAX_BODY: u64 = 1024 * 1024;
/// Where a header block ends.
const END_OF_HEAD: &[u8] = b"\r\n\r\n";

const HELLO: &[u8] = b"Hello, World!\n";

/// A parsed request head.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    /// The version's minor number (HTTP/1.x).
    minor: u8,
    keep_alive: bool,
    content_length: u64,
}

/// Why a head was refused: the status to answer with.
#[derive(Clone, Copy, Debug)]
struct Refusal(u16);

/// Where a session is in the current request.
enum Phase {
    /// Waiting for a header block.
    Head,
    /// Reading the body of `Request`.
    Body(Request),
}

/// One connection.
struct Session {
    phase: Phase,
    /// The body being read (the chat's message stays empty meanwhile).
    body: Vec<u8>,
}

impl Session {
    fn new() -> Session {
        Session {
            phase: Phase::Head,
            body: Vec::new(),
        }
    }
}

impl ChatHandler for Session {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _cx: &mut Context<'_, ()>,
        message: &[u8],
    ) -> io::Result<()> {
        if chat.is_closing() {
            // Pipelined behind a closing response: never answered.
            return Ok(());
        }
        match std::mem::replace(&mut self.phase, Phase::Head) {
            Phase::Head => {
                let request = match parse_head(message) {
                    Ok(Some(request)) => request,
                    Ok(None) => return Ok(()), // only empty lines
                    Err(Refusal(status)) => return refuse(chat, status),
                };
                if request.content_length > MAX_BODY {
                    return refuse(chat, 413);
                }
                match usize::try_from(request.content_length) {
                    Ok(0) => respond(chat, &request, Vec::new()),
                    Ok(length) => {
                        self.body = Vec::with_capacity(length);
                        chat.set_terminator(Terminator::count(length)?);
                        self.phase = Phase::Body(request);
                        Ok(())
                    }
                    Err(_) => refuse(chat, 413),
                }
            }
            Phase::Body(request) => {
                chat.set_terminator(END_OF_HEAD);
                let body = std::mem::take(&mut self.body);
                respond(chat, &request, body)
            }
        }
    }

    fn collect_incoming_data(&mut self, data: &[u8], message: &mut Vec<u8>) {
        match self.phase {
            Phase::Head => message.extend_from_slice(data),
            Phase::Body(_) => self.body.extend_from_slice(data),
        }
    }

    fn handle_error(&mut self, chat: &mut ChatChannel, cx: &mut Context<'_, ()>, error: io::Error) {
        if error.kind() == io::ErrorKind::InvalidData && !chat.is_closing() {
            // A header block over max_message.
            log::info!("{:?}: {error}; answering 431", cx.token());
            if refuse(chat, 431).is_ok() {
                return; // AsyncChat sends the response, then closes
            }
        }
        log::warn!("{:?}: {error}; closing the connection", cx.token());
        cx.close();
    }
}

/// Parses a header block (without its final `\r\n\r\n`). `Ok(None)` for a block of empty
/// lines only.
fn parse_head(head: &[u8]) -> Result<Option<Request>, Refusal> {
    let bad = Refusal(400);
    let text = std::str::from_utf8(head).map_err(|_| bad)?;
    let text = text.trim_start_matches("\r\n");
    if text.is_empty() {
        return Ok(None);
    }
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(bad);
    };
    if !is_token(method) || !is_valid_target(target) {
        return Err(bad);
    }
    let minor = parse_version(version)?;
    let mut request = Request {
        method: method.to_string(),
        path: path_of(target).to_string(),
        minor,
        keep_alive: minor >= 1,
        content_length: 0,
    };
    let mut content_length: Option<u64> = None;
    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive = false;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(bad)?;
        // A name is a token: no whitespace before the colon, no folded lines.
        if !is_token(name) {
            return Err(bad);
        }
        let value = value.trim_matches([' ', '\t']);
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(bad);
        }
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            let length: u64 = value.parse().map_err(|_| Refusal(413))?;
            if content_length.is_some_and(|earlier| earlier != length) {
                return Err(bad);
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal(501));
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                close |= option.eq_ignore_ascii_case("close");
                keep_alive |= option.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    if minor >= 1 && hosts != 1 {
        return Err(bad); // RFC 9112 §3.2
    }
    request.keep_alive = !close && (minor >= 1 || keep_alive);
    request.content_length = content_length.unwrap_or(0);
    Ok(Some(request))
}

/// `HTTP/1.x` → x; another well-formed version → 505; anything else → 400.
fn parse_version(version: &str) -> Result<u8, Refusal> {
    let numbers = version.strip_prefix("HTTP/").ok_or(Refusal(400))?;
    match numbers.as_bytes() {
        [b'1', b'.', minor] if minor.is_ascii_digit() => Ok(minor - b'0'),
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Err(Refusal(505))
        }
        _ => Err(Refusal(400)),
    }
}

/// An RFC 9110 token (methods, header names).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Origin-form (`/path?query`), absolute-form (`http://host/path`) or `*`, in visible ASCII.
fn is_valid_target(target: &str) -> bool {
    target.bytes().all(|b| b.is_ascii_graphic())
        && (target.starts_with('/')
            || target == "*"
            || target.starts_with("http://")
            || target.starts_with("https://"))
}

/// The path of a target: without the query, and without scheme and authority.
fn path_of(target: &str) -> &str {
    let target = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => target,
    };
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// Answers `request` (its body read) and closes afterwards unless it is kept alive.
fn respond(chat: &mut ChatChannel, request: &Request, body: Vec<u8>) -> io::Result<()> {
    let method = request.method.as_str();
    let (status, content_type, extra, content) = match (request.path.as_str(), method) {
        ("/", "GET" | "HEAD") => (200, "text/plain", "", HELLO.to_vec()),
        ("/echo", "POST") => (200, "application/octet-stream", "", body),
        ("/", _) => (405, "text/plain", "Allow: GET, HEAD\r\n", status_body(405)),
        ("/echo", _) => (405, "text/plain", "Allow: POST\r\n", status_body(405)),
        _ => (404, "text/plain", "", status_body(404)),
    };
    let connection = match (request.keep_alive, request.minor) {
        (false, _) => "Connection: close\r\n",
        (true, 0) => "Connection: keep-alive\r\n",
        (true, _) => "",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nDate: {date}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}{connection}\r\n",
        reason = reason(status),
        date = http_date(SystemTime::now()),
        length = content.len(),
    );
    chat.push(head)?;
    if method != "HEAD" && !content.is_empty() {
        chat.push(content)?;
    }
    if !request.keep_alive {
        chat.close_when_done();
    }
    Ok(())
}

/// Answers with an error `status` and closes once it is sent.
fn refuse(chat: &mut ChatChannel, status: u16) -> io::Result<()> {
    let content = status_body(status);
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nDate: {date}\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        reason = reason(status),
        date = http_date(SystemTime::now()),
        length = content.len(),
    );
    chat.push(head)?;
    chat.push(content)?;
    chat.close_when_done();
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A short text body for an error status: its reason and a newline.
fn status_body(status: u16) -> Vec<u8> {
    format!("{}\n", reason(status)).into_bytes()
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 9110 §5.6.7.
fn http_date(time: SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm), all unsigned.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{weekday}, {day:02} {month} {year} {hour:02}:{minute:02}:{second:02} GMT",
        weekday = WEEKDAYS[(days % 7) as usize],
        month = MONTHS[(month - 1) as usize],
    )
}

/// The listening channel: one [`Session`] per connection.
/// The listener: one `Session` per connection, with the limits of the command line.
struct Server {
    config: ChatConfig,
    /// HTTPS (`--tls-cert`, `--tls-key`; the `tls` feature): every connection is TLS.
    tls: Option<common::TlsConfig>,
}

impl Dispatcher for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        // Replies are small and awaited: send them at once, not after the peer's delayed
        // ACK (Nagle's algorithm holds a small segment while one is unacknowledged).
        socket.set_tcp_nodelay(true)?;
        let session = AsyncChat::with_config(Session::new(), END_OF_HEAD, self.config);
        // The same session, over TLS with --tls-cert.
        common::spawn_maybe_tls(cx, socket, self.tls.as_ref(), session)?;
        Ok(())
    }
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args(
        "A small HTTP/1.1 server on the chat layer.",
        &[
            common::opt(
                "request-timeout",
                "SECS",
                "a header block or body must arrive whole within this (default 10; 0: no limit)",
            ),
            common::opt(
                "idle-timeout",
                "SECS",
                "close a keep-alive connection idle this long (default 60; 0: never)",
            ),
            common::opt(
                "drain-timeout",
                "SECS",
                "drop a client that reads none of its response this long (default 30; 0: never)",
            ),
            common::opt(
                "linger",
                "SECS",
                "read what a client still sends after a closing response, at most this long (default 2; 0: close at once)",
            ),
            common::MAX_CONNECTIONS,
            common::SHUTDOWN_GRACE,
            common::TLS_CERT,
            common::TLS_KEY,
        ],
    );
    if let Err(e) = run(&args) {
        eprintln!("http_server: {e}");
        std::process::exit(1);
    }
}

fn run(args: &common::Args) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(args.selector, ())?;
    let listener = net::listen(args.addr, net::DEFAULT_BACKLOG)?;
    let local = listener.local_addr()?;
    let config = ChatConfig {
        max_message: MAX_HEAD,
        timeouts: Timeouts {
            message: args.seconds("request-timeout", Some(Duration::from_secs(10))),
            idle: args.seconds("idle-timeout", Some(Duration::from_secs(60))),
            drain: args.seconds("drain-timeout", Some(Duration::from_secs(30))),
            ..Timeouts::NONE
        },
        linger: args.seconds("linger", Some(Duration::from_secs(2))),
        ..ChatConfig::default()
    };
    let server = Server {
        config,
        tls: common::tls_server_config(args),
    };
    let token = event_loop.spawn(listener, server)?;
    event_loop.set_listener_limits(token, common::listener_limits(args))?;
    common::shut_down_on_signal(&mut event_loop, args);
    common::announce(local);
    event_loop.run()
}
