//! The event-loop layer (asyncore) over real loopback sockets, once per selector backend:
//! Python's test_asyncore behaviours, plus the loop's own guarantees (tokens, timers,
//! cross-thread handles, interest bookkeeping).

mod kinds;
mod loop_util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Context, Dispatcher, EventLoop, TimerId, Token};
use socket2::{SockAddr, SockRef, Socket};

use loop_util::{
    LIMIT, Log, accept_within, for_each_kind, listener, on_thread, pattern, run_steps, run_until,
    run_until_eof, run_until_loop, run_until_read, slot_of, tcp_pair, unused_addr,
};

type Cx<'a> = Context<'a, Log>;

fn new_loop(kind: SelectorKind) -> EventLoop<Log> {
    EventLoop::with_kind(kind, Log::default()).expect("EventLoop::with_kind")
}

// ---------------------------------------------------------------------------------------
// Dispatchers shared by several tests.

/// Echoes what it reads, sending at once; keeps what the socket did not take.
#[derive(Default)]
struct Echo {
    unsent: Vec<u8>,
}

impl<S: 'static> Dispatcher<S> for Echo {
    fn readable(&self) -> bool {
        self.unsent.len() < 1024 * 1024
    }

    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        self.unsent.extend_from_slice(&buf[..n]);
        self.handle_write(cx)
    }

    fn handle_write(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        while !self.unsent.is_empty() {
            let n = cx.send(&self.unsent)?;
            if n == 0 {
                break;
            }
            self.unsent.drain(..n);
        }
        Ok(())
    }
}

/// Records what it reads in `Log::data`, and its close; counts its drops.
#[derive(Default)]
struct Reader {
    drops: Option<Arc<AtomicUsize>>,
}

impl Reader {
    fn counted(drops: &Arc<AtomicUsize>) -> Reader {
        Reader {
            drops: Some(drops.clone()),
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(drops) = &self.drops {
            drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Dispatcher<Log> for Reader {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        cx.state().push("read");
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

/// Sends `pending` while there is some (`writable` says so), logging each `handle_write`.
#[derive(Default)]
struct Sender {
    pending: Vec<u8>,
}

impl Dispatcher<Log> for Sender {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        !self.pending.is_empty()
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("write");
        let n = cx.send(&self.pending)?;
        self.pending.drain(..n);
        if self.pending.is_empty() {
            cx.state().push("sent all");
        }
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

// ---------------------------------------------------------------------------------------
// Connecting.

/// Logs `handle_connect` with the connection attributes, and what it reads.
struct Connector;

impl Dispatcher<Log> for Connector {
    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let attributes = format!(
            "connecting={} connected={} accepting={}",
            cx.is_connecting(),
            cx.is_connected(),
            cx.is_accepting()
        );
        let peer = cx.peer_addr()?;
        cx.state().push("connect");
        cx.state().push(attributes);
        cx.state().push(format!("peer {peer}"));
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 1024];
        let n = cx.recv(&mut buf)?;
        cx.state().push("read");
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        let connecting = cx.is_connecting();
        cx.state()
            .push(format!("error {:?} connecting={connecting}", error.kind()));
        cx.close();
    }
}

/// After `handle_connect` was seen: the server side sends, the client reads, and
/// `handle_connect` came once, first.
fn check_connected(event_loop: &mut EventLoop<Log>, listener: &std::net::TcpListener) {
    run_until(event_loop, |log| log.has("connect"), LIMIT);
    let (mut server_side, client_addr) = accept_within(listener, LIMIT);
    server_side.write_all(b"hello").unwrap();
    run_until(event_loop, |log| log.data.len() == 5, LIMIT);
    run_steps(event_loop, 5);
    let log = event_loop.state();
    assert_eq!(log.data, b"hello");
    assert_eq!(log.count("connect"), 1, "{:?}", log.events);
    assert!(
        log.position("connect") < log.position("read"),
        "{:?}",
        log.events
    );
    assert!(
        log.has("connecting=false connected=true accepting=false"),
        "{:?}",
        log.events
    );
    assert!(
        log.has(&format!("peer {}", listener.local_addr().unwrap())),
        "{:?}",
        log.events
    );
    assert!(client_addr.ip().is_loopback());
}

#[test]
fn handle_connect_is_called_once_when_event_loop_connect_completes() {
    for_each_kind(|kind| {
        let listener = listener();
        let mut event_loop = new_loop(kind);
        event_loop
            .connect(listener.local_addr().unwrap(), Connector)
            .expect("connect");
        assert_eq!(event_loop.len(), 1);
        check_connected(&mut event_loop, &listener);
    });
}

#[test]
fn handle_connect_is_called_once_when_context_connect_completes() {
    for_each_kind(|kind| {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let mut event_loop = new_loop(kind);
        event_loop
            .handle()
            .call_soon_threadsafe(move |cx| {
                let started = cx.connect(addr, Connector).is_ok();
                cx.state().push(format!("started={started}"));
            })
            .unwrap();
        check_connected(&mut event_loop, &listener);
        assert!(event_loop.state().has("started=true"));
    });
}

#[test]
fn refused_connect_reaches_handle_error_while_still_connecting() {
    for_each_kind(|kind| {
        let addr = unused_addr();
        let mut event_loop = new_loop(kind);
        match event_loop.connect(addr, Connector) {
            Ok(_) => {}
            // Some systems (Wine among them) refuse a loopback connect at once: the error is
            // then the call's, as documented.
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
                return;
            }
        }
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        assert_eq!(
            event_loop.state().events,
            ["error ConnectionRefused connecting=true"]
        );
    });
}

/// Logs a failed connect in `handle_error` but, unlike the default, does not close.
struct KeepsFailedConnect;

impl Dispatcher<Log> for KeepsFailedConnect {
    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("connect");
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("read");
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("write");
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?}", error.kind()));
    }
}

/// A refused connect leaves a socket that can never connect and reports ready forever. If
/// `handle_error` keeps the channel, the loop must still let go of it (close it, or report
/// `handle_close`), not poll it as "connecting" for ever — which spins the loop at full
/// speed with no callback at all.
#[test]
fn a_failed_connect_kept_open_by_handle_error_does_not_stay_connecting_for_ever() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        if let Err(e) = event_loop.connect(unused_addr(), KeepsFailedConnect) {
            // Refused at once (Wine does this): nothing is left pending.
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            return;
        }
        run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        let log = event_loop.state();
        assert_eq!(log.events[0], "error ConnectionRefused");
        assert!(
            log.events[1..].iter().all(|event| event == "close"),
            "{:?}",
            log.events
        );
    });
}

// ---------------------------------------------------------------------------------------
// Accepting.

/// A listener that logs `handle_accepted` with its address and attributes, then spawns an
/// `Echo` for the connection.
struct Server;

impl Dispatcher<Log> for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Cx<'_>,
        socket: Socket,
        addr: SockAddr,
    ) -> io::Result<()> {
        let addr = addr.as_socket().expect("an IP address");
        let peer = socket.peer_addr()?.as_socket().expect("an IP peer");
        let attributes = format!(
            "listener accepting={} connected={} connecting={}",
            cx.is_accepting(),
            cx.is_connected(),
            cx.is_connecting()
        );
        cx.state().push(format!("accepted {addr}"));
        cx.state().push(format!("peer {peer}"));
        cx.state().push(attributes);
        let token = cx.spawn(socket, AttributeEcho::default())?;
        cx.state().push(format!("spawned {}", slot_of(token)));
        Ok(())
    }
}

/// An `Echo` that logs its connection attributes on its first read.
#[derive(Default)]
struct AttributeEcho {
    echo: Echo,
    reported: bool,
}

impl Dispatcher<Log> for AttributeEcho {
    fn writable(&self) -> bool {
        Dispatcher::<Log>::writable(&self.echo)
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        if !self.reported {
            self.reported = true;
            let attributes = format!(
                "accepted accepting={} connected={} connecting={}",
                cx.is_accepting(),
                cx.is_connected(),
                cx.is_connecting()
            );
            cx.state().push(attributes);
        }
        self.echo.handle_read(cx)
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.echo.handle_write(cx)
    }
}

#[test]
fn listener_spawned_from_tcp_listener_gets_handle_accepted_with_socket_and_address() {
    for_each_kind(|kind| {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(listener, Server).unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(LIMIT)).unwrap();
        let client_addr = client.local_addr().unwrap();
        run_until(
            &mut event_loop,
            |log| log.count_prefix("spawned") == 1,
            LIMIT,
        );
        {
            let log = event_loop.state();
            assert!(
                log.has(&format!("accepted {client_addr}")),
                "{:?}",
                log.events
            );
            assert!(log.has(&format!("peer {client_addr}")), "{:?}", log.events);
            assert!(
                log.has("listener accepting=true connected=false connecting=false"),
                "{:?}",
                log.events
            );
        }
        assert_eq!(event_loop.len(), 2);
        // The spawned channel is the accepted connection itself.
        client.write_all(b"ping").unwrap();
        assert_eq!(run_until_read(&mut event_loop, &mut client, 4), b"ping");
        assert!(
            event_loop
                .state()
                .has("accepted accepting=false connected=true connecting=false"),
            "{:?}",
            event_loop.state().events
        );
    });
}

/// Overrides `handle_accept` itself, accepting everything waiting.
struct RawAcceptor;

impl Dispatcher<Log> for RawAcceptor {
    fn handle_accept(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("handle_accept");
        while let Some((socket, addr)) = cx.accept()? {
            let addr = addr.as_socket().expect("an IP address");
            cx.state().push(format!("raw accepted {addr}"));
            cx.spawn(socket, Echo::default())?;
        }
        Ok(())
    }

    fn handle_accepted(&mut self, cx: &mut Cx<'_>, _: Socket, _: SockAddr) -> io::Result<()> {
        cx.state().push("handle_accepted");
        Ok(())
    }
}

#[test]
fn overriding_handle_accept_replaces_the_default_accept_path() {
    for_each_kind(|kind| {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(listener, RawAcceptor).unwrap();
        let mut clients: Vec<TcpStream> = (0..3)
            .map(|_| {
                let client = TcpStream::connect(addr).unwrap();
                client.set_read_timeout(Some(LIMIT)).unwrap();
                client
            })
            .collect();
        run_until(
            &mut event_loop,
            |log| log.count_prefix("raw accepted") == 3,
            LIMIT,
        );
        let log = event_loop.state();
        assert!(!log.has("handle_accepted"), "{:?}", log.events);
        assert!(log.count("handle_accept") >= 1);
        for client in &clients {
            let local = client.local_addr().unwrap();
            assert!(
                log.has(&format!("raw accepted {local}")),
                "{:?}",
                log.events
            );
        }
        assert_eq!(event_loop.len(), 4);
        for (i, client) in clients.iter_mut().enumerate() {
            let message = format!("client {i}");
            client.write_all(message.as_bytes()).unwrap();
            let echoed = run_until_read(&mut event_loop, client, message.len());
            assert_eq!(echoed, message.as_bytes());
        }
    });
}

// ---------------------------------------------------------------------------------------
// Reading, writing, closing.

#[test]
fn handle_read_receives_what_the_peer_sent() {
    for_each_kind(|kind| {
        let (local, peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, Reader::default()).unwrap();
        let sent = pattern(200_000, 1);
        let writer = {
            let sent = sent.clone();
            let mut peer = peer.try_clone().unwrap();
            thread::spawn(move || peer.write_all(&sent))
        };
        run_until(&mut event_loop, |log| log.data.len() >= sent.len(), LIMIT);
        writer.join().unwrap().unwrap();
        assert_eq!(event_loop.state().data, sent);
        assert!(!event_loop.state().has("close"));
        peer.shutdown(Shutdown::Both).unwrap();
    });
}

#[test]
fn handle_write_is_called_while_writable_says_so_and_not_after() {
    for_each_kind(|kind| {
        let (local, mut peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        let message = b"hello over handle_write".to_vec();
        event_loop
            .spawn(
                local,
                Sender {
                    pending: message.clone(),
                },
            )
            .unwrap();
        assert_eq!(
            run_until_read(&mut event_loop, &mut peer, message.len()),
            message
        );
        run_until(&mut event_loop, |log| log.has("sent all"), LIMIT);
        let writes = event_loop.state().count("write");
        assert!(writes >= 1);
        run_steps(&mut event_loop, 5);
        assert_eq!(
            event_loop.state().count("write"),
            writes,
            "handle_write ran after writable() turned false"
        );
    });
}

#[test]
fn handle_close_is_called_once_when_the_peer_closes() {
    for_each_kind(|kind| {
        let (local, mut peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, Reader::default()).unwrap();
        peer.write_all(b"bye").unwrap();
        drop(peer);
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        let log = event_loop.state();
        assert_eq!(log.data, b"bye");
        assert_eq!(log.count("close"), 1, "{:?}", log.events);
        assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
    });
}

/// Reads with `recv_append` in chunks of at most `max` onto `buf` (which starts with a
/// prefix, to show bytes are appended), logging each size; hands `buf` to the log at close.
struct Appender {
    max: usize,
    buf: Vec<u8>,
}

impl Appender {
    fn new(max: usize) -> Appender {
        Appender {
            max,
            buf: b"prefix:".to_vec(),
        }
    }
}

impl Dispatcher<Log> for Appender {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        loop {
            let before = self.buf.len();
            let n = cx.recv_append(&mut self.buf, self.max)?;
            assert_eq!(self.buf.len(), before + n);
            cx.state().push(format!("read {n}"));
            if n < self.max {
                return Ok(()); // drained, or end of file
            }
        }
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.state().data = std::mem::take(&mut self.buf);
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

fn check_appended(log: &Log, sent: &[u8], max: usize) {
    assert_eq!(
        log.count("close"),
        1,
        "{:?}",
        &log.events[..log.events.len().min(20)]
    );
    assert_eq!(log.count_prefix("error"), 0);
    let mut expected = b"prefix:".to_vec();
    expected.extend_from_slice(sent);
    assert!(
        log.data == expected,
        "the bytes read differ from those sent"
    );
    let sizes: Vec<usize> = log
        .events
        .iter()
        .filter_map(|event| event.strip_prefix("read ")?.parse().ok())
        .collect();
    assert!(
        sizes.iter().all(|&n| n <= max),
        "a read of over {max} bytes"
    );
    assert_eq!(sizes.iter().sum::<usize>(), sent.len());
    assert_eq!(sizes.last(), Some(&0), "end of file reads as 0");
}

#[test]
fn recv_append_appends_at_most_max_bytes_and_reads_end_of_file_as_zero() {
    for_each_kind(|kind| {
        let (local, peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        let max = 1000;
        event_loop.spawn(local, Appender::new(max)).unwrap();
        let sent = pattern(300_000, 5);
        let writer = {
            let sent = sent.clone();
            let mut peer = peer;
            thread::spawn(move || peer.write_all(&sent))
        };
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        writer.join().unwrap().unwrap();
        check_appended(event_loop.state(), &sent, max);
    });
}

/// Logs `handle_close` but keeps the channel open.
struct KeepOpen;

impl Dispatcher<Log> for KeepOpen {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 1024];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        Ok(())
    }
}

#[test]
fn handle_close_that_keeps_the_channel_open_is_not_called_again_and_the_loop_closes_it() {
    for_each_kind(|kind| {
        let (local, peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, KeepOpen).unwrap();
        drop(peer);
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        assert_eq!(event_loop.state().count("close"), 1);
    });
}

/// Closes `stream` with a reset (SO_LINGER 0) rather than a FIN.
fn reset(stream: TcpStream) {
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Writes forever (until the connection breaks), reading nothing.
struct Flooder;

impl Dispatcher<Log> for Flooder {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.send(&[7u8; 16 * 1024])?;
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

#[test]
fn writing_to_a_reset_connection_calls_handle_close_not_handle_error() {
    for_each_kind(|kind| {
        let (local, peer) = tcp_pair();
        reset(peer);
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, Flooder).unwrap();
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        let log = event_loop.state();
        assert_eq!(log.events, ["close"]);
    });
}

#[test]
fn reading_a_reset_connection_calls_handle_close_not_handle_error() {
    for_each_kind(|kind| {
        let (local, mut peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, Reader::default()).unwrap();
        peer.write_all(b"before the reset").unwrap();
        run_until(&mut event_loop, |log| log.data.len() == 16, LIMIT);
        reset(peer);
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        let log = event_loop.state();
        assert_eq!(log.count("close"), 1, "{:?}", log.events);
        assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
    });
}

/// Returns a disconnect error of its own making from `handle_read`.
struct ReturnsReset;

impl Dispatcher<Log> for ReturnsReset {
    fn handle_read(&mut self, _: &mut Cx<'_>) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "made up"))
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

#[test]
fn a_handler_returning_a_disconnect_error_gets_handle_close_not_handle_error() {
    for_each_kind(|kind| {
        let (local, mut peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, ReturnsReset).unwrap();
        peer.write_all(b"x").unwrap();
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        assert_eq!(event_loop.state().events, ["close"]);
        loop_util::assert_closed(&mut peer);
    });
}

/// Returns `WouldBlock` from its first `handle_read` without reading, then reads.
#[derive(Default)]
struct SpuriousFirst {
    calls: usize,
}

impl Dispatcher<Log> for SpuriousFirst {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.calls += 1;
        cx.state().push("read");
        if self.calls == 1 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut buf = [0u8; 64];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?}", error.kind()));
    }
}

#[test]
fn a_handler_returning_would_block_is_ignored() {
    for_each_kind(|kind| {
        let (local, mut peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, SpuriousFirst::default()).unwrap();
        peer.write_all(b"data").unwrap();
        run_until(&mut event_loop, |log| log.data == b"data", LIMIT);
        let log = event_loop.state();
        assert_eq!(log.count("read"), 2, "{:?}", log.events);
        assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
        assert_eq!(event_loop.len(), 1);
    });
}

/// Reads out-of-band data in `handle_expt`.
#[cfg(any(target_os = "linux", target_os = "android"))]
struct OobReader;

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Dispatcher<Log> for OobReader {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_expt(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut byte = [std::mem::MaybeUninit::new(0u8)];
        let socket = cx.socket().expect("a socket");
        let n = socket.recv_out_of_band(&mut byte)?;
        // SAFETY: `recv_out_of_band` initialised the first `n` bytes (and it was initialised
        // before anyway).
        let value = unsafe { byte[0].assume_init() };
        cx.state().push(format!("expt {n} {}", value as char));
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn out_of_band_data_calls_handle_expt() {
    for_each_kind(|kind| {
        // epoll, poll and select all report urgent data on Linux.
        let (local, mut peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, OobReader).unwrap();
        peer.write_all(b"ab").unwrap();
        SockRef::from(&peer).send_out_of_band(b"!").unwrap();
        run_until(&mut event_loop, |log| log.has("expt 1 !"), LIMIT);
        peer.write_all(b"cd").unwrap();
        run_until(&mut event_loop, |log| log.data == b"abcd", LIMIT);
        let log = event_loop.state();
        assert_eq!(log.count_prefix("expt"), 1, "{:?}", log.events);
        assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
    });
}

// ---------------------------------------------------------------------------------------
// Errors and panics.

/// Fails in `handle_read` in the way `mode` says; logs `handle_error`.
struct Failing {
    mode: Failure,
}

#[derive(Clone, Copy)]
enum Failure {
    /// Return an `InvalidData` error.
    Error,
    /// Panic.
    Panic,
    /// Return an error, then panic in `handle_error`.
    PanicInHandleError,
    /// Panic in `readable()` once a read was seen.
    PanicInReadable { armed: bool },
}

impl Dispatcher<Log> for Failing {
    fn readable(&self) -> bool {
        if let Failure::PanicInReadable { armed: true } = self.mode {
            panic!("readable exploded");
        }
        true
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let _ = cx.recv(&mut buf)?;
        match self.mode {
            Failure::Error | Failure::PanicInHandleError => {
                Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame 42"))
            }
            Failure::Panic => panic!("boom {}", 7),
            Failure::PanicInReadable { .. } => {
                self.mode = Failure::PanicInReadable { armed: true };
                Ok(())
            }
        }
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state()
            .push(format!("error {:?}: {error}", error.kind()));
        if let Failure::PanicInHandleError = self.mode {
            panic!("handle_error exploded");
        }
        cx.close();
    }
}

/// An idle loopback connection (an `Echo`) next to the failing one, checked to keep working.
fn check_echo_still_works(event_loop: &mut EventLoop<Log>, peer: &mut TcpStream) {
    peer.write_all(b"still here").unwrap();
    assert_eq!(run_until_read(event_loop, peer, 10), b"still here");
}

#[test]
fn a_handler_error_reaches_handle_error_with_its_kind_and_message() {
    for_each_kind(|kind| {
        let (local, mut peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop
            .spawn(
                local,
                Failing {
                    mode: Failure::Error,
                },
            )
            .unwrap();
        peer.write_all(b"x").unwrap();
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        assert_eq!(
            event_loop.state().events,
            ["error InvalidData: bad frame 42"]
        );
    });
}

#[test]
fn a_panic_in_a_handler_reaches_handle_error_and_other_channels_keep_working() {
    for_each_kind(|kind| {
        let (failing, mut failing_peer) = tcp_pair();
        let (echo, mut echo_peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop
            .spawn(
                failing,
                Failing {
                    mode: Failure::Panic,
                },
            )
            .unwrap();
        event_loop.spawn(echo, Echo::default()).unwrap();
        failing_peer.write_all(b"x").unwrap();
        run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
        let log = event_loop.state();
        assert_eq!(log.events.len(), 1, "{:?}", log.events);
        let report = &log.events[0];
        assert!(report.starts_with("error Other:"), "{report}");
        assert!(report.contains("boom 7"), "{report}");
        assert!(report.contains("handle_read"), "{report}");
        assert_eq!(run_until_eof(&mut event_loop, &mut failing_peer), b"");
        check_echo_still_works(&mut event_loop, &mut echo_peer);
    });
}

#[test]
fn a_panic_in_handle_error_closes_only_that_channel() {
    for_each_kind(|kind| {
        let (failing, mut failing_peer) = tcp_pair();
        let (echo, mut echo_peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop
            .spawn(
                failing,
                Failing {
                    mode: Failure::PanicInHandleError,
                },
            )
            .unwrap();
        event_loop.spawn(echo, Echo::default()).unwrap();
        failing_peer.write_all(b"x").unwrap();
        run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
        assert_eq!(
            event_loop.state().events,
            ["error InvalidData: bad frame 42"]
        );
        assert_eq!(run_until_eof(&mut event_loop, &mut failing_peer), b"");
        check_echo_still_works(&mut event_loop, &mut echo_peer);
    });
}

#[test]
fn a_panic_in_readable_closes_only_that_channel() {
    for_each_kind(|kind| {
        let (failing, mut failing_peer) = tcp_pair();
        let (echo, mut echo_peer) = tcp_pair();
        let mut event_loop = new_loop(kind);
        event_loop
            .spawn(
                failing,
                Failing {
                    mode: Failure::PanicInReadable { armed: false },
                },
            )
            .unwrap();
        event_loop.spawn(echo, Echo::default()).unwrap();
        failing_peer.write_all(b"x").unwrap();
        run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
        assert_eq!(run_until_eof(&mut event_loop, &mut failing_peer), b"");
        check_echo_still_works(&mut event_loop, &mut echo_peer);
    });
}

// ---------------------------------------------------------------------------------------
// Closing from callbacks.

/// Closes itself in `handle_read`; logs any later callback.
struct SelfCloser;

impl Dispatcher<Log> for SelfCloser {
    fn writable(&self) -> bool {
        true
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("read");
        cx.close();
        cx.close(); // idempotent
        let open = cx.is_open();
        cx.state().push(format!("open after close={open}"));
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("write");
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        Ok(())
    }
}

#[test]
fn closing_itself_in_handle_read_skips_the_rest_of_the_event() {
    for_each_kind(|kind| {
        let (local, mut peer) = tcp_pair();
        // Data waits before the channel exists, so its first event is readable and
        // writable at once.
        peer.write_all(b"x").unwrap();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(local, SelfCloser).unwrap();
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        assert_eq!(
            event_loop.state().events,
            ["read", "open after close=false"]
        );
        loop_util::assert_closed(&mut peer);
    });
}

/// Whichever of two runs first closes the other, spawns a fresh channel (which takes the
/// other's slot) and closes itself.
struct MutualCloser {
    name: &'static str,
    other: Option<Token>,
    spare: Option<TcpStream>,
    drops: Arc<AtomicUsize>,
}

impl Drop for MutualCloser {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Dispatcher<Log> for MutualCloser {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("read {}", self.name));
        if let Some(other) = self.other {
            let closed = cx.close_channel(other);
            let again = cx.close_channel(other);
            cx.state().push(format!(
                "closed {} = {closed}, again = {again}",
                slot_of(other)
            ));
            if let Some(spare) = self.spare.take() {
                let fresh = MutualCloser {
                    name: "fresh",
                    other: None,
                    spare: None,
                    drops: self.drops.clone(),
                };
                let token = cx.spawn(spare, fresh)?;
                cx.state().push(format!("spawned {}", slot_of(token)));
            }
        }
        cx.close();
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("close {}", self.name));
        cx.close();
        Ok(())
    }
}

#[test]
fn closing_a_peer_channel_drops_its_later_events_in_the_same_batch() {
    for_each_kind(|kind| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (a, mut a_peer) = tcp_pair();
        let (b, mut b_peer) = tcp_pair();
        let (spare_a, _spare_a_peer) = tcp_pair();
        let (spare_b, _spare_b_peer) = tcp_pair();
        // Both have data before the first wait: their events come in one batch.
        a_peer.write_all(b"a").unwrap();
        b_peer.write_all(b"b").unwrap();
        let mut event_loop = new_loop(kind);
        let closer = |name, spare| MutualCloser {
            name,
            other: None,
            spare: Some(spare),
            drops: drops.clone(),
        };
        let a_token = event_loop.spawn(a, closer("a", spare_a)).unwrap();
        let b_token = event_loop.spawn(b, closer("b", spare_b)).unwrap();
        event_loop
            .get_mut::<MutualCloser>(a_token)
            .expect("a is open")
            .other = Some(b_token);
        event_loop
            .get_mut::<MutualCloser>(b_token)
            .expect("b is open")
            .other = Some(a_token);
        run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
        run_steps(&mut event_loop, 5);
        let log = event_loop.state();
        assert_eq!(log.events.len(), 3, "{:?}", log.events);
        let (closed_slot, first) = if log.events[0] == "read a" {
            (slot_of(b_token), "a")
        } else {
            (slot_of(a_token), "b")
        };
        assert_eq!(log.events[0], format!("read {first}"));
        assert_eq!(
            log.events[1],
            format!("closed {closed_slot} = true, again = false")
        );
        // The fresh channel reuses the closed one's slot, yet the closed one's pending event
        // did not reach it: it has no data, and never read.
        assert_eq!(log.events[2], format!("spawned {closed_slot}"));
        assert!(!log.has("read fresh"), "{:?}", log.events);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "both first channels dropped"
        );
        loop_util::assert_closed(&mut a_peer);
        loop_util::assert_closed(&mut b_peer);
    });
}

// ---------------------------------------------------------------------------------------
// Tokens.

#[test]
fn a_stale_token_finds_nothing_after_its_slot_is_reused() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let (first, _first_peer) = tcp_pair();
        let old = event_loop.spawn(first, Reader::default()).unwrap();
        assert!(event_loop.close(old));
        assert!(!event_loop.close(old));
        let (second, mut second_peer) = tcp_pair();
        let new = event_loop.spawn(second, Reader::default()).unwrap();
        assert_eq!(slot_of(old), slot_of(new), "the slot is reused");
        assert_ne!(old, new);
        assert!(event_loop.get_mut::<Reader>(old).is_none());
        assert!(!event_loop.close(old));
        assert!(event_loop.get_mut::<Reader>(new).is_some());
        event_loop
            .handle()
            .call_soon_threadsafe(move |cx| {
                let found = cx.get_mut::<Reader>(old).is_some();
                let closed = cx.close_channel(old);
                cx.state()
                    .push(format!("stale found={found} closed={closed}"));
            })
            .unwrap();
        run_until(&mut event_loop, |log| log.count_prefix("stale") == 1, LIMIT);
        assert!(event_loop.state().has("stale found=false closed=false"));
        assert_eq!(event_loop.len(), 1);
        second_peer.write_all(b"new").unwrap();
        run_until(&mut event_loop, |log| log.data == b"new", LIMIT);
    });
}

#[test]
fn get_mut_with_the_wrong_type_returns_none() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let (local, _peer) = tcp_pair();
        let token = event_loop.spawn(local, Reader::default()).unwrap();
        assert!(event_loop.get_mut::<Echo>(token).is_none());
        assert!(event_loop.get_mut::<Sender>(token).is_none());
        assert!(event_loop.get_mut::<Reader>(token).is_some());
    });
}

#[test]
fn a_change_made_through_get_mut_is_seen_by_writable() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let (local, mut peer) = tcp_pair();
        let token = event_loop.spawn(local, Sender::default()).unwrap();
        run_steps(&mut event_loop, 3);
        assert_eq!(event_loop.state().count("write"), 0);
        event_loop
            .get_mut::<Sender>(token)
            .expect("a Sender")
            .pending = b"queued".to_vec();
        assert_eq!(run_until_read(&mut event_loop, &mut peer, 6), b"queued");
    });
}

// ---------------------------------------------------------------------------------------
// Spawning.

#[test]
fn channels_spawned_from_callbacks_run() {
    for_each_kind(|kind| {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(listener, Server).unwrap();
        let mut clients = Vec::new();
        for i in 0..5 {
            let mut client = TcpStream::connect(addr).unwrap();
            client.set_read_timeout(Some(LIMIT)).unwrap();
            let message = format!("message {i}");
            client.write_all(message.as_bytes()).unwrap();
            assert_eq!(
                run_until_read(&mut event_loop, &mut client, message.len()),
                message.as_bytes()
            );
            clients.push(client);
        }
        assert_eq!(event_loop.len(), 6);
        assert_eq!(event_loop.state().count_prefix("spawned"), 5);
    });
}

// ---------------------------------------------------------------------------------------
// Timers.

/// Logs its timers with their delay and whether they fired early.
#[derive(Default)]
struct Timed {
    name: &'static str,
    /// Each timer with its delay and when it was set (taken before `call_later`).
    set: Vec<(TimerId, Duration, Instant)>,
}

impl Dispatcher<Log> for Timed {
    fn handle_timer(&mut self, cx: &mut Cx<'_>, timer: TimerId) -> io::Result<()> {
        let now = Instant::now();
        let (_, delay, set_at) = *self
            .set
            .iter()
            .find(|(id, _, _)| *id == timer)
            .expect("a timer this channel set");
        let early = now.duration_since(set_at) < delay;
        let name = self.name;
        cx.state().push(format!(
            "{name} timer {}ms early={early}",
            delay.as_millis()
        ));
        Ok(())
    }
}

/// Sets a timer of `delay` for `token`'s `Timed` channel.
fn set_timer(cx: &mut Cx<'_>, token: Token, delay: Duration) -> TimerId {
    let set_at = Instant::now();
    let id = cx.call_later_for(token, delay);
    cx.get_mut::<Timed>(token)
        .expect("a Timed channel")
        .set
        .push((id, delay, set_at));
    id
}

/// A silent channel to hang timers on.
fn quiet_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let token = event_loop
            .spawn(
                quiet_socket(),
                Timed {
                    name: "t",
                    set: Vec::new(),
                },
            )
            .unwrap();
        event_loop
            .handle()
            .call_soon_threadsafe(move |cx| {
                set_timer(cx, token, Duration::from_millis(30));
                set_timer(cx, token, Duration::from_millis(10));
            })
            .unwrap();
        run_until(&mut event_loop, |log| log.events.len() == 2, LIMIT);
        assert_eq!(
            event_loop.state().events,
            ["t timer 10ms early=false", "t timer 30ms early=false"]
        );
    });
}

/// Sets a timer from inside its own callback with `call_later`.
struct SelfTimed {
    set_at: Option<Instant>,
}

impl Dispatcher<Log> for SelfTimed {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        cx.recv(&mut buf)?;
        self.set_at = Some(Instant::now());
        cx.call_later(Duration::from_millis(20));
        Ok(())
    }

    fn handle_timer(&mut self, cx: &mut Cx<'_>, _: TimerId) -> io::Result<()> {
        let elapsed = self.set_at.expect("set").elapsed();
        let early = elapsed < Duration::from_millis(20);
        cx.state().push(format!("timer early={early}"));
        Ok(())
    }
}

#[test]
fn call_later_from_a_callback_fires_on_that_channel() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let (local, mut peer) = tcp_pair();
        event_loop.spawn(local, SelfTimed { set_at: None }).unwrap();
        peer.write_all(b"go").unwrap();
        run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
        run_steps(&mut event_loop, 3);
        assert_eq!(event_loop.state().events, ["timer early=false"]);
    });
}

#[test]
fn a_cancelled_timer_never_fires() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let token = event_loop
            .spawn(
                quiet_socket(),
                Timed {
                    name: "t",
                    set: Vec::new(),
                },
            )
            .unwrap();
        event_loop
            .handle()
            .call_soon_threadsafe(move |cx| {
                let cancelled = set_timer(cx, token, Duration::from_millis(20));
                let first = cx.cancel(cancelled);
                let second = cx.cancel(cancelled);
                cx.state().push(format!("cancel {first} {second}"));
                set_timer(cx, token, Duration::from_millis(60));
            })
            .unwrap();
        run_until(&mut event_loop, |log| log.events.len() == 2, LIMIT);
        assert_eq!(
            event_loop.state().events,
            ["cancel true false", "t timer 60ms early=false"]
        );
    });
}

#[test]
fn timers_of_a_closed_channel_are_dropped_even_when_its_slot_is_reused() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let timed = |name| Timed {
            name,
            set: Vec::new(),
        };
        let doomed = event_loop.spawn(quiet_socket(), timed("doomed")).unwrap();
        let witness = event_loop.spawn(quiet_socket(), timed("witness")).unwrap();
        let replacement = quiet_socket();
        event_loop
            .handle()
            .call_soon_threadsafe(move |cx| {
                set_timer(cx, doomed, Duration::from_millis(10));
                set_timer(cx, witness, Duration::from_millis(60));
                cx.close_channel(doomed);
                let fresh = cx.spawn(replacement, timed("fresh")).unwrap();
                let reused = slot_of(fresh) == slot_of(doomed);
                cx.state().push(format!("reused={reused}"));
            })
            .unwrap();
        run_until(
            &mut event_loop,
            |log| log.count_prefix("witness") == 1,
            LIMIT,
        );
        assert_eq!(
            event_loop.state().events,
            ["reused=true", "witness timer 60ms early=false"]
        );
    });
}

// ---------------------------------------------------------------------------------------
// Running, stopping, cross-thread calls.

#[test]
fn stop_from_another_thread_ends_run() {
    for_each_kind(|kind| {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (ran_tx, ran_rx) = mpsc::channel();
        let loop_thread = thread::spawn(move || {
            let mut event_loop = new_loop(kind);
            let (local, peer) = tcp_pair();
            event_loop.spawn(local, Reader::default()).unwrap(); // an idle channel
            handle_tx.send(event_loop.handle()).unwrap();
            let outcome = event_loop.run();
            let _ = ran_tx.send((outcome.is_ok(), event_loop.len()));
            drop(peer);
        });
        let handle = handle_rx.recv_timeout(LIMIT).expect("the loop's handle");
        // Give run() time to block in its wait (no assertion depends on it).
        thread::sleep(Duration::from_millis(100));
        handle.stop();
        let (ok, channels) = ran_rx
            .recv_timeout(LIMIT)
            .expect("run() returned after stop()");
        assert!(ok);
        assert_eq!(channels, 1, "stop() closes nothing");
        loop_thread.join().unwrap();
    });
}

/// Reads one byte per call and stops the loop.
struct StopAfterRead;

impl Dispatcher<Log> for StopAfterRead {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut byte = [0u8; 1];
        let n = cx.recv(&mut byte)?;
        cx.state().data.extend_from_slice(&byte[..n]);
        cx.stop();
        Ok(())
    }
}

#[test]
fn stop_from_a_callback_ends_run_after_that_iteration() {
    for_each_kind(|kind| {
        let read = on_thread(move || {
            let mut event_loop = new_loop(kind);
            let (local, mut peer) = tcp_pair();
            peer.write_all(b"0123456789").unwrap();
            event_loop.spawn(local, StopAfterRead).unwrap();
            event_loop.run().unwrap();
            let first = event_loop.state().data.clone();
            // The loop is reusable after a stop.
            event_loop.run().unwrap();
            (first, event_loop.state().data.clone())
        });
        assert_eq!(read.0, b"0");
        assert_eq!(read.1, b"01");
    });
}

#[test]
fn call_soon_threadsafe_runs_the_closure_on_the_loop_thread() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let handle = event_loop.handle();
        let loop_thread = format!("{:?}", thread::current().id());
        let sender = thread::spawn(move || {
            handle
                .call_soon_threadsafe(|cx| {
                    let here = format!("{:?}", thread::current().id());
                    cx.state().push(format!("ran on {here}"));
                })
                .unwrap();
            format!("{:?}", thread::current().id())
        });
        let sender_thread = sender.join().unwrap();
        run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
        assert_eq!(event_loop.state().events, [format!("ran on {loop_thread}")]);
        assert_ne!(loop_thread, sender_thread);
    });
}

#[test]
fn call_soon_threadsafe_wakes_and_stops_an_empty_loop() {
    for_each_kind(|kind| {
        let events = on_thread(move || {
            let mut event_loop = new_loop(kind);
            let handle = event_loop.handle();
            let sender = thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                handle
                    .call_soon_threadsafe(|cx| {
                        cx.state().push("job");
                        cx.stop();
                    })
                    .unwrap();
            });
            event_loop.run_until_stopped().unwrap();
            sender.join().unwrap();
            std::mem::take(&mut event_loop.state_mut().events)
        });
        assert_eq!(events, ["job"]);
    });
}

/// Jobs from many threads, and jobs queued by jobs, each run once: none is lost between the
/// queue and the flag that tells the loop to look at it.
#[test]
fn every_job_runs_once_whoever_queues_it() {
    const THREADS: usize = 4;
    const JOBS: usize = 300;
    const CHAIN: usize = 100;
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let senders: Vec<_> = (0..THREADS)
            .map(|t| {
                let handle = event_loop.handle();
                thread::spawn(move || {
                    for i in 0..JOBS {
                        handle
                            .call_soon_threadsafe(move |cx| cx.state().push(format!("job {t} {i}")))
                            .unwrap();
                    }
                })
            })
            .collect();
        fn chain(handle: ioloop::LoopHandle<Log>, left: usize) {
            let next = handle.clone();
            handle
                .call_soon_threadsafe(move |cx| {
                    cx.state().push("chain");
                    if left > 1 {
                        chain(next, left - 1);
                    }
                })
                .unwrap();
        }
        chain(event_loop.handle(), CHAIN);
        let total = THREADS * JOBS + CHAIN;
        run_until(&mut event_loop, |log| log.events.len() >= total, LIMIT);
        for sender in senders {
            sender.join().unwrap();
        }
        run_steps(&mut event_loop, 3);
        let log = event_loop.state();
        assert_eq!(log.events.len(), total);
        assert_eq!(log.count("chain"), CHAIN);
        let mut jobs: Vec<&String> = log.events.iter().filter(|e| e.starts_with("job")).collect();
        jobs.sort();
        jobs.dedup();
        assert_eq!(jobs.len(), THREADS * JOBS, "a job ran twice or not at all");
    });
}

#[test]
fn a_panicking_closure_does_not_stop_the_loop() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let handle = event_loop.handle();
        handle
            .call_soon_threadsafe(|_| panic!("a job exploded"))
            .unwrap();
        handle
            .call_soon_threadsafe(|cx| cx.state().push("after"))
            .unwrap();
        run_until(&mut event_loop, |log| log.has("after"), LIMIT);
        let (local, mut peer) = tcp_pair();
        event_loop.spawn(local, Echo::default()).unwrap();
        check_echo_still_works(&mut event_loop, &mut peer);
    });
}

/// Logs its timers.
struct TimerLog;

impl Dispatcher<Log> for TimerLog {
    fn handle_timer(&mut self, cx: &mut Cx<'_>, _: TimerId) -> io::Result<()> {
        cx.state().push("timer");
        Ok(())
    }
}

/// `Context::stop` is for `run`; a program that drives the loop with `run_once` must still
/// get blocking waits afterwards, not a loop that never waits again.
#[test]
fn run_once_still_waits_for_the_next_timer_after_a_callback_called_stop() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let token = event_loop.spawn(quiet_socket(), TimerLog).unwrap();
        let handle = event_loop.handle();
        handle.call_soon_threadsafe(|cx| cx.stop()).unwrap();
        event_loop.run_once(Some(Duration::ZERO)).unwrap();
        handle
            .call_soon_threadsafe(move |cx| {
                cx.call_later_for(token, Duration::from_millis(50));
            })
            .unwrap();
        event_loop.run_once(Some(Duration::ZERO)).unwrap();
        // Nothing but the timer can end these waits: each one lasts until it is due (a
        // selector may round its timeout down and wake a little early, hence a few calls).
        let mut waits = 0;
        while !event_loop.state().has("timer") {
            waits += 1;
            assert!(
                waits <= 5,
                "run_once(None) returned {waits} times without waiting"
            );
            event_loop.run_once(None).unwrap();
        }
    });
}

/// Always writable; logs each `handle_write` and closes itself after `close_after` of them.
struct Ticker {
    close_after: Option<usize>,
    calls: usize,
}

impl Dispatcher<Log> for Ticker {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.calls += 1;
        cx.state().push("tick");
        if self.close_after == Some(self.calls) {
            cx.close();
        }
        Ok(())
    }
}

#[test]
fn run_count_runs_at_most_n_iterations() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let (local, _peer) = tcp_pair();
        event_loop
            .spawn(
                local,
                Ticker {
                    close_after: None,
                    calls: 0,
                },
            )
            .unwrap();
        // The socket is always writable: every iteration has exactly one event.
        event_loop.run_count(5, Some(LIMIT)).unwrap();
        assert_eq!(event_loop.state().count("tick"), 5);
        event_loop.run_count(0, Some(LIMIT)).unwrap();
        assert_eq!(event_loop.state().count("tick"), 5);
    });
}

#[test]
fn run_count_returns_early_when_the_last_channel_closes() {
    for_each_kind(|kind| {
        let mut event_loop = new_loop(kind);
        let (local, _peer) = tcp_pair();
        event_loop
            .spawn(
                local,
                Ticker {
                    close_after: Some(3),
                    calls: 0,
                },
            )
            .unwrap();
        event_loop.run_count(1000, Some(LIMIT)).unwrap();
        assert_eq!(event_loop.state().count("tick"), 3);
        assert!(event_loop.is_empty());
    });
}

#[test]
fn run_returns_when_no_channel_is_left() {
    for_each_kind(|kind| {
        let log = on_thread(move || {
            let mut event_loop = new_loop(kind);
            let (local, mut peer) = tcp_pair();
            event_loop.spawn(local, Reader::default()).unwrap();
            peer.write_all(b"last words").unwrap();
            drop(peer);
            event_loop.run().unwrap();
            std::mem::take(event_loop.state_mut())
        });
        assert_eq!(log.data, b"last words");
        assert_eq!(log.count("close"), 1);
    });
}

// ---------------------------------------------------------------------------------------
// Other sources: pipes and UDP.

#[cfg(unix)]
#[test]
fn a_pipe_read_end_gets_handle_read_then_handle_close_when_the_writer_closes() {
    for_each_kind(|kind| {
        let (read_end, write_end) = rustix::pipe::pipe().expect("pipe");
        let mut event_loop = new_loop(kind);
        event_loop.spawn(read_end, Reader::default()).unwrap();
        let mut writer = std::fs::File::from(write_end);
        writer.write_all(b"through a pipe").unwrap();
        run_until(&mut event_loop, |log| log.data.len() == 14, LIMIT);
        assert_eq!(event_loop.state().data, b"through a pipe");
        drop(writer);
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        let log = event_loop.state();
        assert_eq!(log.count("close"), 1, "{:?}", log.events);
        assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
    });
}

#[cfg(unix)]
#[test]
fn recv_append_reads_a_pipe() {
    for_each_kind(|kind| {
        let (read_end, write_end) = rustix::pipe::pipe().expect("pipe");
        let mut event_loop = new_loop(kind);
        let max = 4096;
        event_loop.spawn(read_end, Appender::new(max)).unwrap();
        let sent = pattern(100_000, 6);
        let writer = {
            let sent = sent.clone();
            let mut writer = std::fs::File::from(write_end);
            thread::spawn(move || writer.write_all(&sent))
        };
        run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
        writer.join().unwrap().unwrap();
        check_appended(event_loop.state(), &sent, max);
    });
}

#[cfg(unix)]
#[test]
fn a_pipe_write_end_gets_handle_write() {
    for_each_kind(|kind| {
        let (read_end, write_end) = rustix::pipe::pipe().expect("pipe");
        let mut event_loop = new_loop(kind);
        let message = pattern(10_000, 3);
        event_loop
            .spawn(
                write_end,
                Sender {
                    pending: message.clone(),
                },
            )
            .unwrap();
        run_until(&mut event_loop, |log| log.has("sent all"), LIMIT);
        let mut reader = std::fs::File::from(read_end);
        let mut received = vec![0; message.len()];
        reader.read_exact(&mut received).unwrap();
        assert_eq!(received, message);
    });
}

/// Echoes datagrams with `recv_from`/`send_to`.
struct UdpEcho;

impl Dispatcher<Log> for UdpEcho {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 2048];
        let (n, from) = cx.recv_from(&mut buf)?;
        let sent = cx.send_to(&buf[..n], &from)?;
        let from = from.as_socket().expect("an IP address");
        cx.state()
            .push(format!("datagram {n} from {from} echoed {sent}"));
        Ok(())
    }
}

#[test]
fn a_udp_channel_echoes_datagrams_with_recv_from_and_send_to() {
    for_each_kind(|kind| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(server, UdpEcho).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(LIMIT)).unwrap();
        let client_addr = client.local_addr().unwrap();
        for i in 0..10 {
            let message = format!("datagram number {i}");
            client.send_to(message.as_bytes(), server_addr).unwrap();
            run_until(&mut event_loop, |log| log.events.len() == i + 1, LIMIT);
            assert_eq!(
                event_loop.state().events[i],
                format!(
                    "datagram {} from {client_addr} echoed {}",
                    message.len(),
                    message.len()
                )
            );
            let mut buf = [0u8; 2048];
            let (n, from) = client.recv_from(&mut buf).expect("the echo");
            assert_eq!(&buf[..n], message.as_bytes());
            assert_eq!(from, server_addr);
        }
    });
}

// ---------------------------------------------------------------------------------------
// Closing everything.

#[test]
fn dropping_the_loop_closes_every_socket_and_drops_every_dispatcher() {
    for_each_kind(|kind| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut event_loop = new_loop(kind);
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (local, peer) = tcp_pair();
            event_loop.spawn(local, Reader::counted(&drops)).unwrap();
            peers.push(peer);
        }
        let listener = listener();
        let listening_at = listener.local_addr().unwrap();
        event_loop.spawn(listener, Reader::counted(&drops)).unwrap();
        run_steps(&mut event_loop, 2);
        drop(event_loop);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        for peer in &mut peers {
            assert_eq!(loop_util::read_to_eof(peer), b"", "end of file");
        }
        assert!(
            TcpStream::connect_timeout(&listening_at, LIMIT).is_err(),
            "the listener is closed"
        );
    });
}

#[test]
fn close_all_closes_every_channel_without_handle_close_and_the_loop_stays_usable() {
    for_each_kind(|kind| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut event_loop = new_loop(kind);
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (local, peer) = tcp_pair();
            event_loop.spawn(local, Reader::counted(&drops)).unwrap();
            peers.push(peer);
        }
        run_steps(&mut event_loop, 2);
        event_loop.close_all();
        assert!(event_loop.is_empty());
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        for peer in &mut peers {
            assert_eq!(loop_util::read_to_eof(peer), b"", "end of file");
        }
        run_steps(&mut event_loop, 2);
        assert!(
            event_loop.state().events.is_empty(),
            "{:?}",
            event_loop.state().events
        );
        let (local, mut peer) = tcp_pair();
        event_loop.spawn(local, Echo::default()).unwrap();
        check_echo_still_works(&mut event_loop, &mut peer);
    });
}

// ---------------------------------------------------------------------------------------
// Interest bookkeeping and load.

/// Buffers in `handle_read` and sends only from `handle_write`: its `writable()` answer
/// flips twice per message.
#[derive(Default)]
struct BufferedEcho {
    unsent: Vec<u8>,
}

impl Dispatcher<Log> for BufferedEcho {
    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let n = cx.recv(&mut buf)?;
        self.unsent.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let n = cx.send(&self.unsent)?;
        self.unsent.drain(..n);
        Ok(())
    }
}

const MESSAGES: usize = 1000;

/// Echoes `MESSAGES` messages one at a time over one connection; returns how many interest
/// changes the loop made meanwhile (after a first, warming-up message).
fn interest_changes_for_echo<D: Dispatcher<Log>>(kind: SelectorKind, dispatcher: D) -> u64 {
    let mut event_loop = new_loop(kind);
    let (local, mut peer) = tcp_pair();
    event_loop.spawn(local, dispatcher).unwrap();
    let mut exchange = |event_loop: &mut EventLoop<Log>, i: usize| {
        let message = format!("message {i:05}\n");
        peer.write_all(message.as_bytes()).unwrap();
        let echoed = run_until_read(event_loop, &mut peer, message.len());
        assert_eq!(echoed, message.as_bytes());
    };
    exchange(&mut event_loop, 0);
    let before = event_loop.interest_changes();
    for i in 1..=MESSAGES {
        exchange(&mut event_loop, i);
    }
    event_loop.interest_changes() - before
}

#[test]
fn steady_state_echo_makes_no_interest_changes() {
    for_each_kind(|kind| {
        let changes = interest_changes_for_echo(kind, Echo::default());
        println!(
            "[{kind}] echo sending at once: {changes} interest changes for {MESSAGES} messages"
        );
        assert_eq!(
            changes, 0,
            "modify calls while readable/writable did not change"
        );
    });
}

#[test]
fn interest_changes_count_each_change_of_writable() {
    for_each_kind(|kind| {
        let changes = interest_changes_for_echo(kind, BufferedEcho::default());
        println!(
            "[{kind}] echo sending from handle_write: {changes} interest changes for {MESSAGES} messages"
        );
        assert_eq!(changes, 2 * MESSAGES as u64, "one on, one off per message");
    });
}

/// A listener that counts its connections and spawns an `Echo` for each.
struct CountingServer;

impl Dispatcher<Log> for CountingServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        cx.spawn(socket, Echo::default())?;
        cx.state().push("accepted");
        Ok(())
    }
}

const CLIENTS: usize = 500;

#[test]
fn five_hundred_concurrent_clients_each_get_their_echo() {
    for_each_kind(|kind| {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        thread::spawn(move || {
            let outcome = (|| -> io::Result<usize> {
                let mut event_loop = new_loop(kind);
                let listener = ioloop::net::listen("127.0.0.1:0".parse().unwrap(), 1024)?;
                let addr = listener.local_addr()?;
                event_loop.spawn(listener, CountingServer)?;
                let _ = ready_tx.send((addr, event_loop.handle()));
                event_loop.run()?;
                Ok(event_loop.state().count("accepted"))
            })();
            let _ = done_tx.send(outcome.map_err(|e| e.to_string()));
        });
        let (addr, handle) = ready_rx.recv_timeout(LIMIT).expect("the server started");
        let mut clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|i| {
                let client = TcpStream::connect_timeout(&addr, LIMIT)
                    .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
                client.set_read_timeout(Some(LIMIT)).unwrap();
                client.set_write_timeout(Some(LIMIT)).unwrap();
                client
            })
            .collect();
        for (i, client) in clients.iter_mut().enumerate() {
            client.write_all(&pattern(1024, i as u8)).unwrap();
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let mut echoed = vec![0; 1024];
            client
                .read_exact(&mut echoed)
                .unwrap_or_else(|e| panic!("client {i}: read: {e}"));
            assert!(echoed == pattern(1024, i as u8), "client {i}: wrong echo");
        }
        handle.stop();
        let accepted = done_rx
            .recv_timeout(LIMIT)
            .expect("run() returned after stop()")
            .expect("the server ran without error");
        assert_eq!(accepted, CLIENTS);
    });
}

/// Accepts Unix-domain connections and echoes what each sends.
#[cfg(unix)]
struct UnixEchoServer;

#[cfg(unix)]
impl Dispatcher<Log> for UnixEchoServer {
    fn handle_accepted(
        &mut self,
        cx: &mut Cx<'_>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        let accepting = cx.is_accepting();
        cx.state()
            .push(format!("unix accepted accepting={accepting}"));
        cx.spawn(socket, UnixEcho)?;
        Ok(())
    }
}

#[cfg(unix)]
struct UnixEcho;

#[cfg(unix)]
impl Dispatcher<Log> for UnixEcho {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 256];
        let n = cx.recv(&mut buf)?;
        let sent = cx.send(&buf[..n])?;
        assert_eq!(sent, n, "a short reply fits in an empty socket buffer");
        Ok(())
    }
}

#[cfg(unix)]
#[test]
fn a_unix_domain_listener_accepts_and_its_connections_echo() {
    use std::os::unix::net::{UnixListener, UnixStream};
    for_each_kind(|kind| {
        let path =
            std::env::temp_dir().join(format!("ioloop-test-{}-{kind}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let mut event_loop = new_loop(kind);
        event_loop.spawn(listener, UnixEchoServer).unwrap();
        let mut client = UnixStream::connect(&path).unwrap();
        client.set_nonblocking(true).unwrap();
        client.write_all(b"over a unix socket").unwrap();
        let mut echoed = Vec::new();
        let deadline = Instant::now() + LIMIT;
        while echoed.len() < 18 {
            assert!(
                Instant::now() < deadline,
                "no echo within {LIMIT:?}: {echoed:?}"
            );
            event_loop.run_once(Some(loop_util::STEP)).unwrap();
            let mut buf = [0u8; 64];
            match client.read(&mut buf) {
                Ok(n) => echoed.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading the echo: {e}"),
            }
        }
        assert_eq!(echoed, b"over a unix socket");
        assert!(
            event_loop.state().has("unix accepted accepting=true"),
            "{:?}",
            event_loop.state().events
        );
        drop(event_loop);
        let _ = std::fs::remove_file(&path);
    });
}
