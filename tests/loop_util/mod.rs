//! Helpers for the event-loop tests (tests/event_loop*.rs, tests/examples.rs): one run per
//! selector backend, loops driven in bounded steps, and loopback socket pairs.

#![allow(dead_code)] // each test file uses its own part

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};

use std::thread;
use std::time::{Duration, Instant};

use ioloop::EventLoop;

#[allow(unused_imports)] // not every test file runs per backend
pub use crate::kinds::for_each_kind;

/// How long any wait in these tests may last before it counts as a failure.
pub const LIMIT: Duration = Duration::from_secs(10);

/// One step of a driven loop.
pub const STEP: Duration = Duration::from_millis(50);

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

/// Drives `event_loop` in steps of at most [`STEP`] until `done(state)` holds; panics after
/// `limit`.
pub fn run_until<S>(
    event_loop: &mut EventLoop<S>,
    mut done: impl FnMut(&S) -> bool,
    limit: Duration,
) {
    run_until_loop(event_loop, |event_loop| done(event_loop.state()), limit);
}

/// As [`run_until`], with the whole loop to look at (its channel count, say).
pub fn run_until_loop<S>(
    event_loop: &mut EventLoop<S>,
    mut done: impl FnMut(&EventLoop<S>) -> bool,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    while !done(event_loop) {
        assert!(
            Instant::now() < deadline,
            "the condition did not hold within {limit:?} ({event_loop:?})"
        );
        event_loop.run_once(Some(STEP)).expect("run_once");
    }
}

/// Runs `iterations` more steps (to show that nothing further happens).
pub fn run_steps<S>(event_loop: &mut EventLoop<S>, iterations: usize) {
    for _ in 0..iterations {
        event_loop
            .run_once(Some(Duration::from_millis(10)))
            .expect("run_once");
    }
}

/// What the callbacks saw, in order: the loops' shared state in most tests.
#[derive(Debug, Default)]
pub struct Log {
    pub events: Vec<String>,
    /// Bytes the callbacks read.
    pub data: Vec<u8>,
}

impl Log {
    pub fn push(&mut self, event: impl Into<String>) {
        self.events.push(event.into());
    }

    /// How many events are exactly `name`.
    pub fn count(&self, name: &str) -> usize {
        self.events.iter().filter(|event| *event == name).count()
    }

    /// How many events start with `prefix`.
    pub fn count_prefix(&self, prefix: &str) -> usize {
        self.events
            .iter()
            .filter(|event| event.starts_with(prefix))
            .count()
    }

    pub fn has(&self, name: &str) -> bool {
        self.count(name) > 0
    }

    /// The position of the first event exactly `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.events.iter().position(|event| event == name)
    }
}

/// A listener on a free loopback port.
pub fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A connected loopback pair: (the end for the loop, the test's peer end). The peer has read
/// and write timeouts of [`LIMIT`].
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = listener();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (local, _) = accept_within(&listener, LIMIT);
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    peer.set_write_timeout(Some(LIMIT)).unwrap();
    (local, peer)
}

/// Accepts one connection, waiting at most `limit`. The accepted stream is blocking.
pub fn accept_within(listener: &TcpListener, limit: Duration) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, addr)) => {
                stream.set_nonblocking(false).unwrap();
                listener.set_nonblocking(false).unwrap();
                return (stream, addr);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no connection within {limit:?}");
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A loopback address nothing listens on (a port just released).
pub fn unused_addr() -> SocketAddr {
    let listener = listener();
    listener.local_addr().unwrap()
}

/// Drives `event_loop` until `stream` (the test's end of a connection) has received `len`
/// bytes; returns them. Panics on end of file or after [`LIMIT`].
pub fn run_until_read<S>(
    event_loop: &mut EventLoop<S>,
    stream: &mut TcpStream,
    len: usize,
) -> Vec<u8> {
    let data = drive_reading(event_loop, stream, Some(len));
    assert_eq!(data.len(), len, "more bytes came than expected");
    data
}

/// Drives `event_loop` until `stream` sees end of file; returns what came before it.
pub fn run_until_eof<S>(event_loop: &mut EventLoop<S>, stream: &mut TcpStream) -> Vec<u8> {
    drive_reading(event_loop, stream, None)
}

fn drive_reading<S>(
    event_loop: &mut EventLoop<S>,
    stream: &mut TcpStream,
    len: Option<usize>,
) -> Vec<u8> {
    stream.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + LIMIT;
    let mut data = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    'outer: loop {
        if len.is_some_and(|len| data.len() >= len) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "got {} bytes (wanted {len:?}, or end of file) within {LIMIT:?}",
            data.len()
        );
        event_loop
            .run_once(Some(Duration::from_millis(10)))
            .expect("run_once");
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    assert!(
                        len.is_none(),
                        "end of file after {} bytes of {len:?}",
                        data.len()
                    );
                    break 'outer;
                }
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
    stream.set_nonblocking(false).unwrap();
    data
}

/// Runs `body` on a thread of its own (an `EventLoop` is not `Send`: build it there) and
/// returns its result; panics if it takes longer than [`LIMIT`] or panics itself.
pub fn on_thread<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the thread did not finish within {LIMIT:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the thread panicked"),
    }
}

/// The slot part of a token (`Token(3v7)` → 3), to see slot reuse.
pub fn slot_of(token: ioloop::Token) -> String {
    let text = format!("{token:?}");
    let inner = text.trim_start_matches("Token(");
    inner.split('v').next().unwrap_or_default().to_string()
}

/// Reads until end of file (bounded by the stream's read timeout).
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    stream.read_to_end(&mut data).expect("read to end of file");
    data
}

/// Checks that the other end of `stream` was closed: end of file, or a reset (a socket
/// closed with unread data in its buffer sends a reset instead of a FIN). No data may come
/// first.
pub fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!("{n} bytes came instead of the close"),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return;
            }
            Err(e) => panic!("waiting for the close: {e}"),
        }
    }
}

/// Whether the tests run under Wine (cross-check sets `CROSS_CHECK_WINE`), whose socket
/// emulation differs in places the tests name where they skip.
pub fn under_wine() -> bool {
    std::env::var_os("CROSS_CHECK_WINE").is_some()
}

/// A payload whose bytes depend on their position, so a lost, doubled or reordered chunk
/// shows.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32 * 7) as u8 ^ (i >> 8) as u8)
        .collect()
}
