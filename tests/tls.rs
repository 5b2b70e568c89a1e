//! TLS under the loop (the `tls` feature), once per backend: clients and servers of the
//! loop, rustls's blocking client, raw sockets sending what no TLS peer would, and
//! `openssl s_client` where it is installed. `cargo test --features tls` runs them.

#![cfg(feature = "tls")]

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ioloop::chat::{AsyncChat, ChatChannel, ChatHandler};
use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::tls::rustls;
use ioloop::{Context, Dispatcher, EventLoop, TimeoutKind, Timeouts};

use common::event_loop::{run_steps, run_until, run_until_loop};
use common::kinds::per_kind;
use common::{LIMIT, Lcg, pattern};

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");

fn server_config(name: &str) -> Arc<rustls::ServerConfig> {
    ioloop::tls::server_config_from_pem(
        format!("{CERTS}/{name}.pem"),
        format!("{CERTS}/{name}-key.pem"),
    )
    .expect("the test certificates load")
}

fn client_config() -> Arc<rustls::ClientConfig> {
    ioloop::tls::client_config_from_pem(format!("{CERTS}/ca.pem")).expect("the test CA loads")
}

/// What the tests' dispatchers saw.
#[derive(Default, Debug)]
struct Seen {
    /// Plaintext each server session received, in order, all sessions together.
    received: Vec<u8>,
    /// Plaintext the clients received.
    echoed: Vec<u8>,
    events: Vec<String>,
    errors: Vec<String>,
    closed_cleanly: Vec<Option<bool>>,
    done: usize,
}

/// Accepts connections and spawns a TLS session of `make()` for each.
struct TlsListener<F> {
    config: Arc<rustls::ServerConfig>,
    make: F,
}

impl<D: Dispatcher<Seen>, F: FnMut() -> D + 'static> Dispatcher<Seen> for TlsListener<F> {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, Seen>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        cx.spawn_tls(socket, self.config.clone(), (self.make)())?;
        Ok(())
    }
}

/// A TLS echo session: reads at most `chunk` bytes per `handle_read` (so decrypted input is
/// left in rustls between calls), echoes with back-pressure.
struct Echo {
    chunk: usize,
    unsent: Vec<u8>,
    handshake: Option<Duration>,
}

impl Echo {
    fn new(chunk: usize) -> Echo {
        Echo {
            chunk,
            unsent: Vec::new(),
            handshake: None,
        }
    }
}

impl Dispatcher<Seen> for Echo {
    fn readable(&self) -> bool {
        self.unsent.len() < 256 * 1024
    }
    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }
    fn handle_opened(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        assert!(cx.is_tls() && cx.is_tls_handshaking());
        if let Some(limit) = self.handshake {
            cx.set_timeouts(Timeouts {
                handshake: Some(limit),
                ..Timeouts::NONE
            });
        }
        Ok(())
    }
    fn handle_tls_ready(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        assert!(!cx.is_tls_handshaking());
        cx.state().events.push("server ready".into());
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        let mut buf = vec![0; self.chunk];
        let n = cx.recv(&mut buf)?;
        if n == 0 {
            let clean = cx.tls_closed_cleanly();
            cx.state().closed_cleanly.push(clean);
        }
        cx.state().received.extend_from_slice(&buf[..n]);
        self.unsent.extend_from_slice(&buf[..n]);
        self.handle_write(cx)
    }
    fn handle_write(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        let n = cx.send(&self.unsent)?;
        self.unsent.drain(..n);
        Ok(())
    }
    fn handle_error(&mut self, cx: &mut Context<'_, Seen>, error: io::Error) {
        cx.state().errors.push(format!("server: {error}"));
        cx.close();
    }
    fn handle_timeout(
        &mut self,
        cx: &mut Context<'_, Seen>,
        timeout: TimeoutKind,
    ) -> io::Result<()> {
        cx.state().events.push(timeout.to_string());
        cx.close();
        Ok(())
    }
}

/// A TLS client of the loop: sends `payload`, reads the echo, then closes.
struct Client {
    payload: Vec<u8>,
    sent: usize,
    received: usize,
}

impl Client {
    fn new(payload: Vec<u8>) -> Client {
        Client {
            payload,
            sent: 0,
            received: 0,
        }
    }
}

impl Dispatcher<Seen> for Client {
    fn writable(&self) -> bool {
        self.sent < self.payload.len()
    }
    fn handle_connect(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        assert!(
            !cx.is_tls_handshaking(),
            "handle_connect waits for the handshake"
        );
        cx.state().events.push("client connected".into());
        Ok(())
    }
    fn handle_tls_ready(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        cx.state().events.push("client ready".into());
        self.handle_write(cx)
    }
    fn handle_write(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        let end = (self.sent + 64 * 1024).min(self.payload.len());
        self.sent += cx.send(&self.payload[self.sent..end])?;
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
        let data = cx.recv_scratch(64 * 1024)?.to_vec();
        self.received += data.len();
        cx.state().echoed.extend_from_slice(&data);
        if self.received == self.payload.len() {
            cx.state().done += 1;
            cx.close(); // close_notify
        }
        Ok(())
    }
    fn handle_error(&mut self, cx: &mut Context<'_, Seen>, error: io::Error) {
        let detail = match ioloop::tls::tls_error(&error) {
            Some(tls) => format!("client: {:?}: {tls:?}", error.kind()),
            None => format!("client: {:?}: {error}", error.kind()),
        };
        cx.state().errors.push(detail);
        cx.close();
    }
}

/// A loop of `kind` with a TLS listener of `certificate` spawning `make()`.
fn tls_server<D, F>(kind: SelectorKind, certificate: &str, make: F) -> (EventLoop<Seen>, SocketAddr)
where
    D: Dispatcher<Seen>,
    F: FnMut() -> D + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = EventLoop::with_kind(kind, Seen::default()).unwrap();
    let config = server_config(certificate);
    event_loop
        .spawn(listener, TlsListener { config, make })
        .unwrap();
    (event_loop, addr)
}

type BlockingClient = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A blocking rustls client of the loop's server at `addr`, its handshake done (made on a
/// thread while the loop runs).
fn connect_blocking(event_loop: &mut EventLoop<Seen>, addr: SocketAddr) -> BlockingClient {
    let client = std::thread::spawn(move || blocking_client(addr));
    run_until_loop(event_loop, |_| client.is_finished(), LIMIT);
    client.join().expect("the client's handshake")
}

/// A blocking rustls client of `addr` for `localhost`, handshake done.
fn blocking_client(addr: SocketAddr) -> BlockingClient {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    tcp.set_write_timeout(Some(LIMIT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let conn =
        rustls::ClientConnection::new(client_config(), "localhost".try_into().unwrap()).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("handshake");
    }
    stream
}

fn echo_between_loop_client_and_server(kind: SelectorKind) {
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo::new(4096));
    let payload = pattern(200 * 1024, 3);
    event_loop
        .connect_tls(
            addr,
            "localhost",
            client_config(),
            Client::new(payload.clone()),
        )
        .unwrap();
    run_until(
        &mut event_loop,
        |seen| seen.done == 1 && seen.closed_cleanly.len() == 1,
        LIMIT,
    );
    let seen = event_loop.state();
    assert_eq!(seen.echoed, payload);
    assert_eq!(seen.received, payload);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    // handle_connect waited for the handshake, and handle_tls_ready came right after it.
    let client: Vec<_> = seen
        .events
        .iter()
        .filter(|e| e.starts_with("client"))
        .collect();
    assert_eq!(client, ["client connected", "client ready"]);
    assert!(seen.events.contains(&"server ready".to_string()));
    // The client's close sent close_notify: the server told a clean end from a truncation.
    assert_eq!(seen.closed_cleanly, [Some(true)]);
}

/// Decrypted input left in rustls (the server reads one byte per call) is delivered without
/// the peer sending anything more.
fn pending_plaintext_is_delivered_without_more_packets(kind: SelectorKind) {
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo::new(1));
    let mut client = connect_blocking(&mut event_loop, addr);
    client
        .write_all(b"one record, read a byte at a time")
        .unwrap(); // one record
    client.flush().unwrap();
    run_until(&mut event_loop, |seen| seen.received.len() == 33, LIMIT);
    assert_eq!(
        event_loop.state().received,
        b"one record, read a byte at a time"
    );
}

/// The chat layer over TLS, its lines' records cut into single bytes on the wire.
fn chat_over_tls_split_at_every_byte(kind: SelectorKind) {
    struct Lines;
    impl ChatHandler<Seen> for Lines {
        fn found_terminator(
            &mut self,
            chat: &mut ChatChannel,
            cx: &mut Context<'_, Seen>,
            line: &[u8],
        ) -> io::Result<()> {
            cx.state()
                .events
                .push(String::from_utf8_lossy(line).into_owned());
            chat.push(format!("> {}\n", String::from_utf8_lossy(line)))
        }
    }
    let (mut event_loop, addr) = tls_server(kind, "server", || AsyncChat::new(Lines, b"\n"));
    let client = std::thread::spawn(move || {
        let mut stream = blocking_client(addr);
        stream.conn.writer().write_all(b"hello\nworld\n").unwrap();
        let mut wire = Vec::new();
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut wire).unwrap();
        }
        for byte in wire {
            stream.sock.write_all(&[byte]).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut reply = vec![0; 16];
        stream.read_exact(&mut reply).unwrap();
        reply
    });
    run_until(&mut event_loop, |seen| seen.events.len() == 2, LIMIT);
    run_steps(&mut event_loop, 5);
    assert_eq!(client.join().unwrap(), b"> hello\n> world\n");
    assert_eq!(event_loop.state().events, ["hello", "world"]);
}

/// 8 MiB each way through one session: the echo server stops reading while its output
/// waits, so memory stays bounded and everything arrives in order.
fn eight_mib_with_back_pressure(kind: SelectorKind) {
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo::new(16 * 1024));
    let payload = pattern(8 << 20, 9);
    event_loop
        .connect_tls(
            addr,
            "localhost",
            client_config(),
            Client::new(payload.clone()),
        )
        .unwrap();
    run_until(
        &mut event_loop,
        |seen| seen.done == 1,
        Duration::from_secs(60),
    );
    assert!(event_loop.state().echoed == payload, "the echo differs");
}

fn hundred_concurrent_sessions(kind: SelectorKind) {
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo::new(4096));
    let config = client_config();
    let mut expected = 0;
    for i in 0..100u8 {
        let payload = pattern(1000 + i as usize, i);
        expected += payload.len();
        event_loop
            .connect_tls(addr, "localhost", config.clone(), Client::new(payload))
            .unwrap();
    }
    run_until(
        &mut event_loop,
        |seen| seen.done == 100,
        Duration::from_secs(60),
    );
    assert_eq!(event_loop.state().echoed.len(), expected);
    assert!(event_loop.state().errors.is_empty());
}

/// Resets the connection (`SO_LINGER` 0) when `stream` is dropped.
fn reset_on_drop(stream: &TcpStream) {
    Socket::from(stream.try_clone().unwrap())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

/// A peer that resets in the middle of its hello, and one that resets in the middle of a
/// record: each closes its own channel only, and a truncation is told from a clean close.
fn resets_mid_handshake_and_mid_record(kind: SelectorKind) {
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo::new(4096));
    // A real hello, cut short.
    let conn =
        rustls::ClientConnection::new(client_config(), "localhost".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    let mut conn = conn;
    conn.write_tls(&mut hello).unwrap();
    let early = TcpStream::connect(addr).unwrap();
    (&early).write_all(&hello[..hello.len() / 2]).unwrap();
    run_until_loop(&mut event_loop, |l| l.len() == 2, LIMIT);
    reset_on_drop(&early);
    drop(early);
    run_until_loop(&mut event_loop, |l| l.len() == 1, LIMIT);

    // A session up, then half a record and a reset.
    let mut late = connect_blocking(&mut event_loop, addr);
    run_until(
        &mut event_loop,
        |seen| seen.events.iter().filter(|e| *e == "server ready").count() == 1,
        LIMIT,
    );
    late.conn.writer().write_all(&[7; 3000]).unwrap();
    let mut wire = Vec::new();
    late.conn.write_tls(&mut wire).unwrap();
    late.sock.write_all(&wire[..wire.len() / 2]).unwrap();
    run_steps(&mut event_loop, 3);
    reset_on_drop(&late.sock);
    drop(late);
    run_until_loop(&mut event_loop, |l| l.len() == 1, LIMIT);
    assert_eq!(
        event_loop.state().closed_cleanly,
        [Some(false)],
        "a truncation"
    );
    assert!(
        event_loop.state().received.is_empty(),
        "no partial record delivered"
    );

    // The listener still serves.
    event_loop
        .connect_tls(
            addr,
            "localhost",
            client_config(),
            Client::new(b"still here".to_vec()),
        )
        .unwrap();
    run_until(&mut event_loop, |seen| seen.done == 1, LIMIT);
}

/// Random bytes and a clear-text HTTP request sent to the TLS port: both connections end
/// (never hang), with an error naming the bad input; a TLS session alongside is untouched.
fn garbage_and_clear_text_get_a_clean_close(kind: SelectorKind) {
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo::new(4096));
    let good = connect_blocking(&mut event_loop, addr);
    let mut lcg = Lcg::new(15);
    let random: Vec<u8> = (0..4096).map(|_| lcg.below(256) as u8).collect();
    let mut peers = Vec::new();
    for junk in [&random[..], b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"] {
        let peer = TcpStream::connect(addr).unwrap();
        peer.set_read_timeout(Some(LIMIT)).unwrap();
        (&peer).write_all(junk).unwrap();
        peers.push(peer);
    }
    run_until(&mut event_loop, |seen| seen.errors.len() == 2, LIMIT);
    for peer in &peers {
        // An alert, then the end (or a reset, if our junk was still unread): not a hang.
        let mut rest = Vec::new();
        let mut reader = peer;
        match reader.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.len() < 64, "only an alert: {rest:?}"),
            Err(e) => assert!(common::net::is_reset(&e), "{e}"),
        }
    }
    for error in &event_loop.state().errors {
        assert!(error.starts_with("server: "), "{error}");
    }
    let mut good = good;
    let echo = std::thread::spawn(move || {
        good.write_all(b"ping").unwrap();
        let mut reply = [0; 4];
        good.read_exact(&mut reply).unwrap();
        reply
    });
    run_until(
        &mut event_loop,
        |seen| seen.received.ends_with(b"ping"),
        LIMIT,
    );
    run_steps(&mut event_loop, 3);
    assert_eq!(&echo.join().unwrap(), b"ping");
}

/// A client refuses an expired certificate and one for another name, with a clear error.
fn client_refuses_expired_and_wrong_name_certificates(kind: SelectorKind) {
    for (certificate, expect) in [("expired", "Expired"), ("wrong-name", "NotValidForName")] {
        let (mut event_loop, addr) = tls_server(kind, certificate, || Echo::new(4096));
        event_loop
            .connect_tls(
                addr,
                "localhost",
                client_config(),
                Client::new(b"x".to_vec()),
            )
            .unwrap();
        run_until(
            &mut event_loop,
            |seen| seen.errors.iter().any(|e| e.starts_with("client")),
            LIMIT,
        );
        let seen = event_loop.state();
        let client = seen
            .errors
            .iter()
            .find(|e| e.starts_with("client"))
            .unwrap();
        assert!(
            client.contains("InvalidData") && client.contains(expect),
            "{certificate}: {client}"
        );
        assert!(
            !seen.events.iter().any(|e| e == "client connected"),
            "no handle_connect"
        );
    }
}

/// A client that connects and says nothing is dropped at the handshake deadline.
fn handshake_timeout(kind: SelectorKind) {
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo {
        handshake: Some(Duration::from_millis(100)),
        ..Echo::new(4096)
    });
    let silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(LIMIT)).unwrap();
    run_until(&mut event_loop, |seen| !seen.events.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, ["TLS handshake timeout"]);
    let mut rest = Vec::new();
    (&silent).read_to_end(&mut rest).unwrap();
    assert!(rest.len() <= 7, "at most an alert, then the end: {rest:?}");
}

/// STARTTLS in the chat layer: commands a client pipelined in clear text after STARTTLS
/// are dropped, not run inside the secure session (CVE-2011-0411).
fn starttls_drops_pipelined_clear_text(kind: SelectorKind) {
    struct Smtp {
        config: Arc<rustls::ServerConfig>,
    }
    impl ChatHandler<Seen> for Smtp {
        fn found_terminator(
            &mut self,
            chat: &mut ChatChannel,
            cx: &mut Context<'_, Seen>,
            line: &[u8],
        ) -> io::Result<()> {
            let line = String::from_utf8_lossy(line).into_owned();
            let tls = if cx.is_tls() { "tls" } else { "clear" };
            cx.state().events.push(format!("{tls} {line}"));
            if line == "STARTTLS" {
                chat.push("220 go ahead\r\n")?;
                chat.start_tls_server(self.config.clone())?;
            } else {
                chat.push(format!("250 {line}\r\n"))?;
            }
            Ok(())
        }
        fn handle_tls_ready(
            &mut self,
            _: &mut ChatChannel,
            cx: &mut Context<'_, Seen>,
        ) -> io::Result<()> {
            cx.state().events.push("ready".into());
            Ok(())
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = EventLoop::with_kind(kind, Seen::default()).unwrap();
    let peer = TcpStream::connect(addr).unwrap();
    let (conn, _) = listener.accept().unwrap();
    let config = server_config("server");
    event_loop
        .spawn(conn, AsyncChat::new(Smtp { config }, b"\r\n"))
        .unwrap();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    // One write: the command and an injected one behind it.
    (&peer)
        .write_all(b"NOOP\r\nSTARTTLS\r\nRCPT TO:<injected>\r\n")
        .unwrap();
    let client = std::thread::spawn(move || {
        let mut reply = vec![0; b"250 NOOP\r\n220 go ahead\r\n".len()];
        (&peer).read_exact(&mut reply).unwrap();
        assert_eq!(reply, b"250 NOOP\r\n220 go ahead\r\n");
        let conn = rustls::ClientConnection::new(client_config(), "localhost".try_into().unwrap())
            .unwrap();
        let mut stream = rustls::StreamOwned::new(conn, peer);
        stream.write_all(b"EHLO secure\r\n").unwrap();
        let mut reply = vec![0; b"250 EHLO secure\r\n".len()];
        stream.read_exact(&mut reply).unwrap();
        reply
    });
    run_until(&mut event_loop, |seen| seen.events.len() == 4, LIMIT);
    run_steps(&mut event_loop, 3);
    assert_eq!(client.join().unwrap(), b"250 EHLO secure\r\n");
    assert_eq!(
        event_loop.state().events,
        ["clear NOOP", "clear STARTTLS", "ready", "tls EHLO secure"],
        "the injected command never ran"
    );
}

/// `openssl s_client`, a client no one here wrote, against the TLS echo.
fn openssl_s_client_echo(kind: SelectorKind) {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        println!("note: openssl is not installed; test skipped");
        return;
    }
    let (mut event_loop, addr) = tls_server(kind, "server", || Echo::new(4096));
    let mut child = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
        ])
        .args([
            "-CAfile",
            &format!("{CERTS}/ca.pem"),
            "-verify_return_error",
            "-quiet",
            "-no_ign_eof",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin.write_all(b"hello from openssl\n").unwrap();
    let reader = std::thread::spawn(move || {
        let mut echo = [0; 19];
        stdout.read_exact(&mut echo).map(|()| echo.to_vec())
    });
    run_until_loop(&mut event_loop, |_| reader.is_finished(), LIMIT);
    assert_eq!(reader.join().unwrap().unwrap(), b"hello from openssl\n");
    drop(stdin); // s_client closes at the end of its input
    run_until_loop(&mut event_loop, |l| l.len() == 1, LIMIT);
    assert!(child.wait().unwrap().success());
}

/// `close` flushes what rustls holds and ends with `close_notify`: a reply sent just before
/// it arrives whole, and the client sees a clean end.
fn close_sends_the_reply_then_close_notify(kind: SelectorKind) {
    struct Bye;
    impl Dispatcher<Seen> for Bye {
        fn handle_tls_ready(&mut self, cx: &mut Context<'_, Seen>) -> io::Result<()> {
            let reply = pattern(300 * 1024, 1);
            let mut sent = 0;
            while sent < reply.len() {
                let n = cx.send(&reply[sent..])?;
                if n == 0 {
                    break; // the socket is full: the rest is not ours to send
                }
                sent += n;
            }
            cx.state().done = sent;
            cx.close();
            Ok(())
        }
    }
    let (mut event_loop, addr) = tls_server(kind, "server", || Bye);
    let client = std::thread::spawn(move || {
        let mut stream = blocking_client(addr);
        let mut data = Vec::new();
        let end = stream.read_to_end(&mut data).map(|_| ()); // Ok only after close_notify
        (data, end.map_err(|e| e.kind()))
    });
    run_until(&mut event_loop, |seen| seen.done > 0, LIMIT);
    run_until_loop(&mut event_loop, |l| l.len() == 1, LIMIT);
    let (data, end) = client.join().unwrap();
    assert_eq!(end, Ok(()), "a clean close_notify");
    assert_eq!(data.len(), event_loop.state().done);
    assert_eq!(data, pattern(300 * 1024, 1)[..data.len()]);
}

per_kind! {
    echo_between_loop_client_and_server,
    pending_plaintext_is_delivered_without_more_packets,
    chat_over_tls_split_at_every_byte,
    eight_mib_with_back_pressure,
    hundred_concurrent_sessions,
    resets_mid_handshake_and_mid_record,
    garbage_and_clear_text_get_a_clean_close,
    client_refuses_expired_and_wrong_name_certificates,
    handshake_timeout,
    starttls_drops_pipelined_clear_text,
    openssl_s_client_echo,
    close_sends_the_reply_then_close_notify,
}
