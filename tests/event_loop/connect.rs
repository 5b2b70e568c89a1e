//! Connecting: `handle_connect` once a connect completes (from the loop or from a
//! callback), and a refused connect.

use std::io::{self, Write};
use std::net::SocketAddr;

use ioloop::selector::SelectorKind;
use ioloop::socket2::{Domain, Protocol, Socket, Type};
use ioloop::{Dispatcher, EventLoop};

use crate::common::LIMIT;
use crate::common::event_loop::{Log, run_steps, run_until, run_until_loop};
use crate::common::kinds::per_kind;
use crate::common::net::{accept_within, listener, unused_addr};
use crate::dispatchers::{Cx, new_loop};

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

fn handle_connect_is_called_once_when_event_loop_connect_completes(kind: SelectorKind) {
    let listener = listener();
    let mut event_loop = new_loop(kind);
    event_loop
        .connect(listener.local_addr().unwrap(), Connector)
        .expect("connect");
    assert_eq!(event_loop.len(), 1);
    check_connected(&mut event_loop, &listener);
}

fn handle_connect_is_called_once_when_context_connect_completes(kind: SelectorKind) {
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
}

fn refused_connect_reaches_handle_error_while_still_connecting(kind: SelectorKind) {
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
fn a_failed_connect_kept_open_by_handle_error_does_not_stay_connecting_for_ever(
    kind: SelectorKind,
) {
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
}

fn connect_by_name_or_by_host_and_port_reaches_handle_connect(kind: SelectorKind) {
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let mut event_loop = new_loop(kind);
    // A name, resolved when connect is called (to ::1 too, maybe: nothing listens there, so
    // that address is refused and the next one tried).
    event_loop
        .connect(format!("localhost:{port}"), Connector)
        .expect("connect by name");
    check_connected(&mut event_loop, &listener);
    let mut event_loop = new_loop(kind);
    event_loop
        .connect(("127.0.0.1", port), Connector)
        .expect("connect by host and port");
    check_connected(&mut event_loop, &listener);
    assert_eq!(event_loop.state().count_prefix("error"), 0);
}

fn connect_tries_the_next_address_when_one_is_refused(kind: SelectorKind) {
    let listener = listener();
    let addrs = [unused_addr(), listener.local_addr().unwrap()];
    let mut event_loop = new_loop(kind);
    event_loop.connect(&addrs[..], Connector).expect("connect");
    assert_eq!(event_loop.len(), 1);
    check_connected(&mut event_loop, &listener);
    let log = event_loop.state();
    assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
}

fn connect_reports_one_refusal_to_handle_error_when_every_address_is_refused(kind: SelectorKind) {
    let addrs = [unused_addr(), unused_addr(), unused_addr()];
    let mut event_loop = new_loop(kind);
    match event_loop.connect(&addrs[..], Connector) {
        Ok(_) => {}
        // Refused at once (Wine does this): the last address's error is the call's.
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            return;
        }
    }
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    run_steps(&mut event_loop, 3);
    assert_eq!(
        event_loop.state().events,
        ["error ConnectionRefused connecting=true"]
    );
}

/// Logs `handle_connect` with the connection's local address and whether `TCP_NODELAY`
/// is still set.
struct PreparedConnector;

impl Dispatcher<Log> for PreparedConnector {
    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let local = cx.local_addr()?;
        let nodelay = cx.socket().expect("a socket").tcp_nodelay()?;
        cx.state()
            .push(format!("connect from {local} nodelay={nodelay}"));
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

fn connect_socket_connects_the_prepared_socket_from_its_bound_address(kind: SelectorKind) {
    let listener = listener();
    let server: SocketAddr = listener.local_addr().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any_port.into()).unwrap();
    socket.set_tcp_nodelay(true).unwrap();
    let bound = socket.local_addr().unwrap().as_socket().unwrap();
    assert_ne!(bound.port(), 0);
    let mut event_loop = new_loop(kind);
    event_loop
        .connect_socket(socket, &server.into(), PreparedConnector)
        .expect("connect_socket");
    let (_server_side, seen_from) = accept_within(&listener, LIMIT);
    assert_eq!(seen_from, bound, "the server saw another local address");
    run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
    assert_eq!(
        event_loop.state().events,
        [format!("connect from {bound} nodelay=true")]
    );
}

/// Logs `handle_connect` and what it reads, on a Unix-domain connection.
#[cfg(unix)]
struct UnixConnector;

#[cfg(unix)]
impl Dispatcher<Log> for UnixConnector {
    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let connected = cx.is_connected();
        cx.state().push(format!("connect connected={connected}"));
        cx.send(b"hello from the loop")?;
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 256];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

/// A socket path in the temporary directory, unique to this process, backend and moment;
/// removed on drop.
#[cfg(unix)]
struct SocketPath(std::path::PathBuf);

#[cfg(unix)]
impl SocketPath {
    fn new(kind: SelectorKind) -> SocketPath {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!(
            "ioloop-connect-{}-{}-{nanos}.sock",
            std::process::id(),
            crate::common::kinds::module_name(kind)
        );
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

#[cfg(unix)]
impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(unix)]
fn connect_unix_reaches_handle_connect_and_talks(kind: SelectorKind) {
    use std::io::Read;
    use std::os::unix::net::UnixListener;

    let path = SocketPath::new(kind);
    let listener = UnixListener::bind(&path.0).unwrap();
    let mut event_loop = new_loop(kind);
    event_loop
        .connect_unix(&path.0, UnixConnector)
        .expect("connect_unix");
    run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, ["connect connected=true"]);
    let (mut server_side, _) = listener.accept().unwrap();
    server_side.set_read_timeout(Some(LIMIT)).unwrap();
    let mut greeting = [0u8; 19];
    server_side.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"hello from the loop");
    server_side.write_all(b"hello back").unwrap();
    run_until(&mut event_loop, |log| log.data == b"hello back", LIMIT);
    assert_eq!(event_loop.state().count_prefix("error"), 0);
    drop(event_loop);
    drop(path);
}

per_kind! {
    handle_connect_is_called_once_when_event_loop_connect_completes,
    handle_connect_is_called_once_when_context_connect_completes,
    refused_connect_reaches_handle_error_while_still_connecting,
    a_failed_connect_kept_open_by_handle_error_does_not_stay_connecting_for_ever,
    connect_by_name_or_by_host_and_port_reaches_handle_connect,
    connect_tries_the_next_address_when_one_is_refused,
    connect_reports_one_refusal_to_handle_error_when_every_address_is_refused,
    connect_socket_connects_the_prepared_socket_from_its_bound_address,
    #[cfg(unix)]
    connect_unix_reaches_handle_connect_and_talks,
}
