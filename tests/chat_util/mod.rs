//! Helpers for the chat-layer tests: a recording state, a listener that spawns one
//! `AsyncChat` per connection, and bounded ways to drive the loop.

#![allow(dead_code)] // each test file uses its own part

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};

use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Context, Dispatcher, EventLoop, Token};
use socket2::{SockAddr, Socket};

#[allow(unused_imports)] // not every test file runs per backend
pub use crate::kinds::for_each_kind;

/// The longest any test waits for anything.
pub const LIMIT: Duration = Duration::from_secs(10);
/// One loop iteration's wait.
pub const STEP: Duration = Duration::from_millis(10);

/// What the chat handlers saw.
#[derive(Default, Debug)]
pub struct Rec {
    pub messages: Vec<Vec<u8>>,
    pub collected: Vec<u8>,
    pub errors: Vec<io::ErrorKind>,
    pub closes: usize,
    pub channels: Vec<Token>,
}

impl Rec {
    pub fn texts(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }
}

/// A listener that spawns `make()` for every accepted connection.
pub struct Spawner<F> {
    pub make: F,
}

impl<D, F> Dispatcher<Rec> for Spawner<F>
where
    D: Dispatcher<Rec>,
    F: FnMut() -> D + 'static,
{
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, Rec>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        let token = cx.spawn(socket, (self.make)())?;
        cx.state().channels.push(token);
        Ok(())
    }
}

/// A loop of `kind` with a listener spawning `make()`, and a connected client (blocking,
/// with timeouts) whose connection the loop has accepted.
pub fn serve<D, F>(kind: SelectorKind, make: F) -> (EventLoop<Rec>, TcpStream, TcpListenerAddr)
where
    D: Dispatcher<Rec>,
    F: FnMut() -> D + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = EventLoop::with_kind(kind, Rec::default()).unwrap();
    event_loop.spawn(listener, Spawner { make }).unwrap();
    let client = connect(&mut event_loop, addr);
    (event_loop, client, TcpListenerAddr(addr))
}

/// The listener's address, for more clients.
#[derive(Clone, Copy, Debug)]
pub struct TcpListenerAddr(pub std::net::SocketAddr);

/// Connects one more client and runs the loop until it was accepted.
pub fn connect(event_loop: &mut EventLoop<Rec>, addr: std::net::SocketAddr) -> TcpStream {
    let before = event_loop.state().channels.len();
    let client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    client.set_write_timeout(Some(LIMIT)).unwrap();
    client.set_nodelay(true).unwrap();
    run_until(event_loop, |rec| rec.channels.len() > before);
    client
}

/// Runs the loop until `done` holds; panics after [`LIMIT`].
pub fn run_until(event_loop: &mut EventLoop<Rec>, mut done: impl FnMut(&Rec) -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done(event_loop.state()) {
        assert!(
            Instant::now() < deadline,
            "not done within {LIMIT:?}: {:?}",
            event_loop.state()
        );
        event_loop.run_once(Some(STEP)).unwrap();
    }
}

/// Runs the loop for `n` iterations.
pub fn run_steps(event_loop: &mut EventLoop<Rec>, n: usize) {
    for _ in 0..n {
        event_loop.run_once(Some(STEP)).unwrap();
    }
}

/// Reads exactly `n` bytes while running the loop (the client is made non-blocking).
pub fn read_while_running(
    event_loop: &mut EventLoop<Rec>,
    client: &mut TcpStream,
    n: usize,
) -> Vec<u8> {
    client.set_nonblocking(true).unwrap();
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + LIMIT;
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "read {} of {n} bytes within {LIMIT:?}",
            out.len()
        );
        event_loop.run_once(Some(Duration::ZERO)).unwrap();
        match client.read(&mut buf) {
            Ok(0) => panic!("end of file after {} of {n} bytes", out.len()),
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("reading: {e}"),
        }
    }
    client.set_nonblocking(false).unwrap();
    out
}

/// Runs the loop until the client reads end of file (or a reset); returns what came first.
pub fn read_to_eof_while_running(
    event_loop: &mut EventLoop<Rec>,
    client: &mut TcpStream,
) -> Vec<u8> {
    client.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(Instant::now() < deadline, "no end of file within {LIMIT:?}");
        event_loop.run_once(Some(Duration::ZERO)).unwrap();
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading: {e}"),
        }
    }
    client.set_nonblocking(false).unwrap();
    out
}
