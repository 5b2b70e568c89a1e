//! Accepting and spawning: `handle_accepted` with the socket and address, an overridden
//! `handle_accept`, and channels spawned from callbacks.

use std::io::{self, Write};
use std::net::TcpStream;

use ioloop::Dispatcher;
use ioloop::selector::SelectorKind;
use socket2::{SockAddr, Socket};

use crate::common::LIMIT;
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

per_kind! {
    listener_spawned_from_tcp_listener_gets_handle_accepted_with_socket_and_address,
    overriding_handle_accept_replaces_the_default_accept_path,
    channels_spawned_from_callbacks_run,
}
