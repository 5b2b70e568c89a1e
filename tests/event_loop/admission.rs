//! Admission: the default `handle_accept` takes a batch per event, listener limits (a cap
//! that pauses or rejects, a per-address cap), and a listener closed by an error makes `run`
//! return `Err`.

use std::io::{self, ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{ACCEPT_BATCH, Context, Dispatcher, EventLoop, ListenerLimits, WhenFull};
use socket2::{SockAddr, Socket};

use crate::common::LIMIT;
use crate::common::kinds::per_kind;
use crate::common::net::listener;

/// What the server side saw.
#[derive(Debug, Default)]
struct Counts {
    accepted: usize,
    open: usize,
    max_open: usize,
    refused: bool,
}

type Cx<'a> = Context<'a, Counts>;

/// Spawns a [`Greeter`] for each connection.
struct Server;

impl Dispatcher<Counts> for Server {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        let counts = cx.state();
        counts.accepted += 1;
        counts.open += 1;
        counts.max_open = counts.max_open.max(counts.open);
        cx.spawn(socket, Greeter)?;
        Ok(())
    }
}

/// Says "served\n", then waits for the client to leave.
struct Greeter;

impl Dispatcher<Counts> for Greeter {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.send(b"served\n")?; // fits in any socket buffer at once
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0; 64];
        cx.recv(&mut buf)?; // 0 at end of file: handle_close follows
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().open -= 1;
        cx.close();
        Ok(())
    }
}

/// What a test client has seen so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Waiting,
    Served,
    /// End of file or a reset before any byte: turned away.
    Closed,
}

struct Client {
    stream: TcpStream,
    seen: Vec<u8>,
    outcome: Outcome,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nonblocking(true).expect("non-blocking");
        Client {
            stream,
            seen: Vec::new(),
            outcome: Outcome::Waiting,
        }
    }

    /// Reads what arrived, without blocking.
    fn poll(&mut self) -> Outcome {
        if self.outcome != Outcome::Waiting {
            return self.outcome;
        }
        let mut buf = [0; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.outcome = Outcome::Closed;
                    break;
                }
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.outcome = Outcome::Closed;
                    break;
                }
                Err(e) => panic!("client read: {e}"),
            }
        }
        if self.seen == b"served\n" {
            self.outcome = Outcome::Served;
        }
        assert!(
            self.seen.is_empty()
                || self.outcome == Outcome::Served
                || b"served\n".starts_with(&self.seen),
            "unexpected bytes {:?}",
            self.seen
        );
        self.outcome
    }
}

fn new_server(kind: SelectorKind, limits: ListenerLimits) -> (EventLoop<Counts>, SocketAddr) {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = EventLoop::with_kind(kind, Counts::default()).unwrap();
    let server = event_loop.spawn(listener, Server).unwrap();
    event_loop.set_listener_limits(server, limits).unwrap();
    event_loop.run_once(Some(Duration::ZERO)).unwrap(); // the listener's handle_opened
    (event_loop, addr)
}

/// Runs the loop in short steps until `done(clients)`, checking `each(event_loop)` after
/// every iteration; panics after [`LIMIT`].
fn drive(
    event_loop: &mut EventLoop<Counts>,
    clients: &mut [Client],
    mut each: impl FnMut(&EventLoop<Counts>, &mut [Client]),
    mut done: impl FnMut(&[Client]) -> bool,
) {
    let deadline = Instant::now() + LIMIT;
    loop {
        event_loop
            .run_once(Some(Duration::from_millis(10)))
            .unwrap();
        for client in clients.iter_mut() {
            client.poll();
        }
        each(event_loop, clients);
        if done(clients) {
            return;
        }
        let outcomes: Vec<Outcome> = clients.iter().map(|c| c.outcome).collect();
        assert!(
            Instant::now() < deadline,
            "not done within {LIMIT:?}: {outcomes:?}, {event_loop:?}, {:?}",
            event_loop.state()
        );
    }
}

fn count(clients: &[Client], outcome: Outcome) -> usize {
    clients.iter().filter(|c| c.outcome == outcome).count()
}

const CAP: usize = 4;

fn a_paused_listener_never_exceeds_its_cap_and_serves_everyone_in_turn(kind: SelectorKind) {
    let (mut event_loop, addr) = new_server(
        kind,
        ListenerLimits {
            max_connections: Some(CAP),
            resume_below: Some(CAP),
            when_full: WhenFull::Pause,
            ..ListenerLimits::default()
        },
    );
    let mut clients: Vec<Client> = (0..2 * CAP).map(|_| Client::connect(addr)).collect();
    // Clients stay a few iterations after being served, so that the cap is reached while
    // others wait; then they leave, and the waiting ones are let in.
    let mut served_at: Vec<Option<usize>> = vec![None; clients.len()];
    let mut iteration = 0;
    drive(
        &mut event_loop,
        &mut clients,
        |event_loop, clients| {
            iteration += 1;
            assert!(
                event_loop.len() <= 1 + CAP,
                "{} channels open",
                event_loop.len()
            );
            for (client, served) in clients.iter_mut().zip(&mut served_at) {
                if client.outcome == Outcome::Served && served.is_none() {
                    *served = Some(iteration);
                }
                if served.is_some_and(|at| iteration >= at + 3) {
                    let _ = client.stream.shutdown(std::net::Shutdown::Both);
                }
            }
        },
        |clients| count(clients, Outcome::Served) == 2 * CAP,
    );
    let counts = event_loop.state();
    assert_eq!(counts.accepted, 2 * CAP);
    assert!(counts.max_open <= CAP, "{counts:?}");
    assert_eq!(counts.max_open, CAP, "the cap was reached: {counts:?}");
}

fn a_rejecting_listener_closes_the_extras_at_once(kind: SelectorKind) {
    let (mut event_loop, addr) = new_server(
        kind,
        ListenerLimits {
            max_connections: Some(CAP),
            when_full: WhenFull::Reject,
            ..ListenerLimits::default()
        },
    );
    let mut clients: Vec<Client> = (0..2 * CAP).map(|_| Client::connect(addr)).collect();
    drive(
        &mut event_loop,
        &mut clients,
        |event_loop, _| assert!(event_loop.len() <= 1 + CAP),
        |clients| count(clients, Outcome::Waiting) == 0,
    );
    assert_eq!(count(&clients, Outcome::Served), CAP);
    assert_eq!(count(&clients, Outcome::Closed), CAP);
    assert_eq!(event_loop.state().accepted, CAP); // handle_accepted never saw the extras
    assert_eq!(event_loop.len(), 1 + CAP);
}

fn a_per_address_limit_closes_a_peers_connections_over_it(kind: SelectorKind) {
    let (mut event_loop, addr) = new_server(
        kind,
        ListenerLimits {
            max_per_ip: Some(2),
            ..ListenerLimits::default()
        },
    );
    let mut clients: Vec<Client> = (0..5).map(|_| Client::connect(addr)).collect();
    #[cfg(target_os = "linux")]
    clients.push(client_from("127.0.0.2", addr)); // another address has its own share
    drive(
        &mut event_loop,
        &mut clients,
        |_, _| {},
        |clients| count(clients, Outcome::Waiting) == 0,
    );
    let from_localhost = &clients[..5];
    assert_eq!(count(from_localhost, Outcome::Served), 2);
    assert_eq!(count(from_localhost, Outcome::Closed), 3);
    #[cfg(target_os = "linux")]
    assert_eq!(clients[5].outcome, Outcome::Served);

    // One leaves: the address may connect once more.
    let leaving = clients
        .iter()
        .position(|c| c.outcome == Outcome::Served)
        .unwrap();
    clients.remove(leaving);
    let open_before = event_loop.len();
    crate::common::event_loop::run_until_loop(
        &mut event_loop,
        |event_loop| event_loop.len() < open_before,
        LIMIT,
    );
    let mut again = [Client::connect(addr)];
    drive(
        &mut event_loop,
        &mut again,
        |_, _| {},
        |clients| count(clients, Outcome::Waiting) == 0,
    );
    assert_eq!(again[0].outcome, Outcome::Served);
}

/// A client connecting from `local` (a loopback address other than 127.0.0.1).
#[cfg(target_os = "linux")]
fn client_from(local: &str, addr: SocketAddr) -> Client {
    let socket = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{local}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    Client {
        stream: socket.into(),
        seen: Vec::new(),
        outcome: Outcome::Waiting,
    }
}

fn the_default_handle_accept_takes_a_batch_per_event(kind: SelectorKind) {
    let (mut event_loop, addr) = new_server(kind, ListenerLimits::default());
    let clients: Vec<TcpStream> = (0..ACCEPT_BATCH + 36)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // Loopback connects complete in the kernel before `connect` returns: all are waiting.
    event_loop.run_once(Some(LIMIT)).unwrap();
    assert_eq!(event_loop.state().accepted, ACCEPT_BATCH, "one iteration");
    event_loop.run_once(Some(LIMIT)).unwrap();
    assert_eq!(event_loop.state().accepted, clients.len(), "two iterations");
}

/// A listener whose accepts fail with an error that is not transient.
struct Broken {
    panic: bool,
}

impl Dispatcher<Counts> for Broken {
    fn handle_accept(&mut self, _: &mut Cx<'_>) -> io::Result<()> {
        if self.panic {
            panic!("the listener broke");
        }
        Err(io::Error::new(ErrorKind::InvalidData, "the listener broke"))
    }
}

fn run_returns_err_when_a_listener_was_closed_by_an_error(kind: SelectorKind) {
    for panic in [false, true] {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let mut event_loop = EventLoop::with_kind(kind, Counts::default()).unwrap();
        event_loop.spawn(listener, Broken { panic }).unwrap();
        event_loop.schedule(LIMIT, |cx| cx.stop()); // a safety net
        let _client = TcpStream::connect(addr).unwrap();
        let error = event_loop.run().expect_err("a listener died");
        let text = error.to_string();
        assert!(text.contains("the listener broke"), "{text}");
        assert!(text.contains(&addr.to_string()), "{text}");
        if !panic {
            assert_eq!(error.kind(), ErrorKind::InvalidData);
        }
        assert!(event_loop.is_empty());
        event_loop.run().expect("the loss was reported once");
    }
}

/// A listener that closes itself on its first connection: a deliberate close.
struct Once;

impl Dispatcher<Counts> for Once {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, _: Socket, _: SockAddr) -> io::Result<()> {
        cx.close();
        Ok(())
    }
}

fn run_returns_ok_when_a_listener_closed_itself(kind: SelectorKind) {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = EventLoop::with_kind(kind, Counts::default()).unwrap();
    event_loop.spawn(listener, Once).unwrap();
    event_loop.schedule(LIMIT, |cx| cx.stop()); // a safety net
    let _client = TcpStream::connect(addr).unwrap();
    event_loop.run().expect("a deliberate close is no error");
    assert!(event_loop.is_empty());
}

fn set_listener_limits_refuses_what_is_no_listener(kind: SelectorKind) {
    let (mut event_loop, addr) = new_server(kind, ListenerLimits::default());
    let client = TcpStream::connect(addr).unwrap();
    let connection = event_loop.spawn(client, Greeter).unwrap();
    let error = event_loop
        .set_listener_limits(connection, ListenerLimits::default())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    event_loop.schedule(Duration::ZERO, |cx| {
        // A loop-level context has no listener of its own.
        cx.state().refused = cx.set_listener_limits(ListenerLimits::default()).is_err();
        cx.stop();
    });
    event_loop.run().unwrap();
    assert!(event_loop.state().refused);
}

/// A listener with a cap of one that closes its connection itself, from its own timer:
/// the connection leaves while the listener's callback runs.
#[derive(Default)]
struct Recycler {
    current: Option<ioloop::Token>,
}

impl Dispatcher<Counts> for Recycler {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.set_listener_limits(ListenerLimits {
            max_connections: Some(1),
            ..ListenerLimits::default()
        })
    }

    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        cx.state().accepted += 1;
        self.current = Some(cx.spawn(socket, Greeter)?);
        cx.call_later(Duration::from_millis(20));
        Ok(())
    }

    fn handle_timer(&mut self, cx: &mut Cx<'_>, _: ioloop::TimerId) -> io::Result<()> {
        if let Some(current) = self.current.take() {
            cx.close_channel(current); // the count drops while this callback runs
        }
        Ok(())
    }
}

fn a_listener_that_closes_its_own_connection_resumes(kind: SelectorKind) {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = EventLoop::with_kind(kind, Counts::default()).unwrap();
    event_loop.spawn(listener, Recycler::default()).unwrap();
    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(addr)).collect();
    drive(
        &mut event_loop,
        &mut clients,
        |event_loop, _| assert!(event_loop.len() <= 2, "over the cap of one"),
        |clients| count(clients, Outcome::Served) == 3,
    );
    assert_eq!(event_loop.state().accepted, 3);
}

per_kind! {
    a_paused_listener_never_exceeds_its_cap_and_serves_everyone_in_turn,
    a_rejecting_listener_closes_the_extras_at_once,
    a_per_address_limit_closes_a_peers_connections_over_it,
    the_default_handle_accept_takes_a_batch_per_event,
    run_returns_err_when_a_listener_was_closed_by_an_error,
    run_returns_ok_when_a_listener_closed_itself,
    set_listener_limits_refuses_what_is_no_listener,
    a_listener_that_closes_its_own_connection_resumes,
}
