//! Loopback sockets for the tests: connected pairs, bounded accepts, and blocking reads and
//! writes bounded by the sockets' timeouts.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::LIMIT;

/// A listener on a free loopback port.
pub fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A connected loopback pair: (the connecting end, the accepted end), both blocking, with
/// read and write timeouts of [`LIMIT`] and `TCP_NODELAY`.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    tcp_pair_from(&listener())
}

/// A connected pair made through `listener`, as [`tcp_pair`]: (the connecting end, the
/// accepted end).
pub fn tcp_pair_from(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().expect("local_addr")).expect("connect");
    let (server, _) = accept_within(listener, LIMIT);
    for stream in [&client, &server] {
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        stream.set_write_timeout(Some(LIMIT)).unwrap();
        stream.set_nodelay(true).unwrap();
    }
    (client, server)
}

/// Accepts one connection, waiting at most `limit`. The accepted stream is blocking, and so
/// is the listener again.
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
    listener().local_addr().unwrap()
}

/// Writes all of `data` (blocking, bounded by the write timeout).
pub fn send(mut stream: &TcpStream, data: &[u8]) {
    stream.write_all(data).expect("write_all");
}

/// Reads exactly `len` bytes (blocking, bounded by the read timeout).
pub fn recv_exact(mut stream: &TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {len} bytes: {e}"));
    buf
}

/// Reads until end of file (bounded by the read timeout).
pub fn read_to_eof(mut stream: &TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    stream.read_to_end(&mut data).expect("read to end of file");
    data
}

/// Whether `error` is the other end's reset (a socket closed with unread data in its buffer
/// sends a reset instead of a FIN; Windows may call it an abort).
pub fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

/// Checks that the other end of `stream` was closed: end of file, or a reset. No data may
/// come first.
pub fn assert_closed(mut stream: &TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!("{n} bytes came instead of the close"),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_reset(&e) => return,
            Err(e) => panic!("waiting for the close: {e}"),
        }
    }
}

/// Checks that the other end closed the connection in an orderly way (a read returns 0)
/// with nothing more sent.
pub fn expect_eof(mut stream: &TcpStream) {
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "expected end of file, got {n} more bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("expected end of file, got {e}"),
    }
}

/// Checks that nothing arrives within `wait` and the connection stays open; the stream's
/// read timeout is restored afterwards.
pub fn expect_silence(mut stream: &TcpStream, wait: Duration) {
    let timeout = stream.read_timeout().unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => panic!("the other end closed the connection"),
        Ok(n) => panic!(
            "expected silence, got {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        Err(e) => panic!("expected silence, got {e}"),
    }
    stream.set_read_timeout(timeout).unwrap();
}
