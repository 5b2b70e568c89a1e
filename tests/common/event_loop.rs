//! Driving an [`EventLoop`] in bounded steps, and [`Log`], the state most event-loop tests
//! give their loop.

use std::fmt::Debug;
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ioloop::EventLoop;

use super::LIMIT;
use super::net::is_reset;

/// One step of a driven loop: the longest a `run_once` of [`run_until`] waits.
pub const STEP: Duration = Duration::from_millis(50);

/// Drives `event_loop` in steps of at most [`STEP`] until `done(state)` holds; panics after
/// `limit`.
pub fn run_until<S: Debug>(
    event_loop: &mut EventLoop<S>,
    mut done: impl FnMut(&S) -> bool,
    limit: Duration,
) {
    run_until_loop(event_loop, |event_loop| done(event_loop.state()), limit);
}

/// As [`run_until`], with the whole loop to look at (its channel count, say).
pub fn run_until_loop<S: Debug>(
    event_loop: &mut EventLoop<S>,
    mut done: impl FnMut(&EventLoop<S>) -> bool,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    while !done(event_loop) {
        assert!(
            Instant::now() < deadline,
            "the condition did not hold within {limit:?} ({event_loop:?}, state {:?})",
            event_loop.state()
        );
        event_loop.run_once(Some(STEP)).expect("run_once");
    }
}

/// Runs `iterations` more steps of at most 10 ms (to show that nothing further happens, or
/// to let a peer's bytes arrive between steps).
pub fn run_steps<S>(event_loop: &mut EventLoop<S>, iterations: usize) {
    for _ in 0..iterations {
        event_loop
            .run_once(Some(Duration::from_millis(10)))
            .expect("run_once");
    }
}

/// Drives `event_loop` until `stream` (the test's end of a connection) has received `len`
/// bytes; returns them. Panics on end of file, on more bytes than `len`, or after [`LIMIT`].
pub fn run_until_read<S>(event_loop: &mut EventLoop<S>, stream: &TcpStream, len: usize) -> Vec<u8> {
    let data = drive_reading(event_loop, stream, Until::Length(len));
    assert_eq!(data.len(), len, "more bytes came than expected");
    data
}

/// Drives `event_loop` until `stream` sees end of file; returns what came before it. A reset
/// fails the test.
pub fn run_until_eof<S>(event_loop: &mut EventLoop<S>, stream: &TcpStream) -> Vec<u8> {
    drive_reading(event_loop, stream, Until::Eof)
}

/// Drives `event_loop` until `stream` sees end of file or a reset (a socket closed with
/// unread data sends a reset); returns what came before it.
pub fn run_until_closed<S>(event_loop: &mut EventLoop<S>, stream: &TcpStream) -> Vec<u8> {
    drive_reading(event_loop, stream, Until::Closed)
}

/// What [`drive_reading`] waits for.
#[derive(Clone, Copy, Debug)]
enum Until {
    Length(usize),
    Eof,
    Closed,
}

fn drive_reading<S>(
    event_loop: &mut EventLoop<S>,
    mut stream: &TcpStream,
    until: Until,
) -> Vec<u8> {
    stream.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + LIMIT;
    let mut data = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    'outer: loop {
        if let Until::Length(len) = until {
            if data.len() >= len {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "got {} bytes (waiting for {until:?}) within {LIMIT:?}",
            data.len()
        );
        event_loop
            .run_once(Some(Duration::from_millis(10)))
            .expect("run_once");
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    assert!(
                        !matches!(until, Until::Length(_)),
                        "end of file after {} bytes of {until:?}",
                        data.len()
                    );
                    break 'outer;
                }
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(until, Until::Closed) && is_reset(&e) => break 'outer,
                Err(e) => panic!("read: {e}"),
            }
        }
    }
    stream.set_nonblocking(false).unwrap();
    data
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

/// The slot part of a token (`Token(3v7)` → 3), to see slot reuse.
pub fn slot_of(token: ioloop::Token) -> String {
    let text = format!("{token:?}");
    let inner = text.trim_start_matches("Token(");
    inner.split('v').next().unwrap_or_default().to_string()
}
