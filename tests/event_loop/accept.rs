//! Accepting and spawning: `handle_accepted` with the socket and address, an overridden
//! `handle_accept`, and channels spawned from callbacks.

#[cfg(not(target_vendor = "apple"))]
use std::cell::Cell;
use std::io::{self, Write};
#[cfg(not(target_vendor = "apple"))]
use std::net::SocketAddr;
use std::net::TcpStream;
#[cfg(not(target_vendor = "apple"))]
use std::rc::Rc;

use ioloop::Dispatcher;
use ioloop::selector::SelectorKind;
use socket2::{SockAddr, Socket};

use crate::common::LIMIT;
#[cfg(not(target_vendor = "apple"))]
use crate::common::event_loop::run_steps;
use crate::common::event_loop::{Log, run_until, run_until_read, slot_of};
use crate::common::kinds::per_kind;
use crate::common::net::listener;
use crate::dispatchers::{Cx, Echo, new_loop};

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

fn listener_spawned_from_tcp_listener_gets_handle_accepted_with_socket_and_address(
    kind: SelectorKind,
) {
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
    assert_eq!(run_until_read(&mut event_loop, &client, 4), b"ping");
    assert!(
        event_loop
            .state()
            .has("accepted accepting=false connected=true connecting=false"),
        "{:?}",
        event_loop.state().events
    );
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

fn overriding_handle_accept_replaces_the_default_accept_path(kind: SelectorKind) {
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
}

fn channels_spawned_from_callbacks_run(kind: SelectorKind) {
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
            run_until_read(&mut event_loop, &client, message.len()),
            message.as_bytes()
        );
        clients.push(client);
    }
    assert_eq!(event_loop.len(), 6);
    assert_eq!(event_loop.state().count_prefix("spawned"), 5);
}

/// A listener that counts what reaches it: `handle_read` (which a listener must never get)
/// and the loop's `readable()` questions, which follow every callback of the channel.
#[cfg(not(target_vendor = "apple"))]
struct CountingListener {
    reads: Rc<Cell<usize>>,
    asked: Rc<Cell<usize>>,
}

#[cfg(not(target_vendor = "apple"))]
impl Dispatcher<Log> for CountingListener {
    fn readable(&self) -> bool {
        self.asked.set(self.asked.get() + 1);
        true
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.reads.set(self.reads.get() + 1);
        cx.state().push("read");
        Ok(())
    }

    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        let accepting = cx.is_accepting();
        cx.state().push(format!("accepted accepting={accepting}"));
        cx.spawn(socket, Echo::default())?;
        Ok(())
    }
}

/// asyncore's `create_socket(); set_reuse_addr(); bind(); listen(5)` on a bare socket: the
/// loop finds out that it listens (macOS does not say: there a socket must be passed
/// through `IoSource::listener`).
#[cfg(not(target_vendor = "apple"))]
fn a_socket_made_to_listen_by_hand_accepts_and_does_not_spin(kind: SelectorKind) {
    let wanted: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let socket = ioloop::net::create_tcp(&wanted).unwrap();
    ioloop::net::set_reuse_addr(&socket).unwrap();
    socket.bind(&wanted.into()).unwrap();
    socket.listen(5).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let reads = Rc::new(Cell::new(0));
    let asked = Rc::new(Cell::new(0));
    let mut event_loop = new_loop(kind);
    let listener: ioloop::socket2::Socket = socket;
    event_loop
        .spawn(
            listener,
            CountingListener {
                reads: reads.clone(),
                asked: asked.clone(),
            },
        )
        .unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    // Either outcome ends the wait, so a listener taken for a stream fails here at once.
    run_until(
        &mut event_loop,
        |log| log.count_prefix("accepted") > 0 || log.has("read"),
        LIMIT,
    );
    assert_eq!(
        event_loop.state().events,
        ["accepted accepting=true"],
        "the listener got handle_read instead of handle_accepted"
    );
    // The accepted connection works.
    client.write_all(b"hand-made").unwrap();
    assert_eq!(run_until_read(&mut event_loop, &client, 9), b"hand-made");
    // Quiet now: a listener polled as a stream would be ready (and asked) on every one of
    // these iterations.
    let asked_before = asked.get();
    run_steps(&mut event_loop, 20);
    assert_eq!(reads.get(), 0, "handle_read reached the listener");
    let asked_while_quiet = asked.get() - asked_before;
    assert!(
        asked_while_quiet <= 2,
        "the listener was dispatched {asked_while_quiet} times in 20 quiet iterations"
    );
    assert_eq!(event_loop.state().count_prefix("accepted"), 1);
}

per_kind! {
    listener_spawned_from_tcp_listener_gets_handle_accepted_with_socket_and_address,
    overriding_handle_accept_replaces_the_default_accept_path,
    channels_spawned_from_callbacks_run,
    #[cfg(not(target_vendor = "apple"))]
    a_socket_made_to_listen_by_hand_accepts_and_does_not_spin,
}
