//! The bench's TLS client: rustls sessions trusting the test CA (`examples/tls/ca.pem`),
//! for the two scenarios. Every echoed byte is checked.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ioloop::tls::rustls::client::Resumption;
use ioloop::tls::rustls::pki_types::ServerName;
use ioloop::tls::rustls::{self, ClientConfig, ClientConnection};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::SockRef;

use crate::servers::CERT_DIR;

/// What one run gave: messages (or handshakes) in the measured window, in all, latencies.
pub struct Count {
    /// Completed in the measured window.
    pub measured: u64,
    /// Completed in all (warm-up and drain too): the server's CPU is divided by it.
    pub total: u64,
    /// Each measured one's time, nanoseconds.
    pub latencies: Vec<u64>,
}

/// The client configuration: the test CA only, and no session resumption, so that every
/// handshake of the handshake scenario is a full one (a certificate, a signature).
pub fn config() -> io::Result<Arc<ClientConfig>> {
    let base = ioloop::tls::client_config_from_pem(format!("{CERT_DIR}/ca.pem"))?;
    let mut config = (*base).clone();
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a DNS name")
}

/// The bytes sent: message `k` is `size` bytes of `pattern` from offset `k % 251`, so that
/// an echo of the wrong message, or of bytes out of order, is caught.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size + 251).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

struct Conn {
    socket: TcpStream,
    tls: ClientConnection,
    /// The message in flight and how much of its echo came back.
    seq: usize,
    got: usize,
    waiting: bool,
    sent_at: Instant,
}

impl Conn {
    /// Writes what rustls holds while the socket takes it.
    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn send(&mut self, pattern: &[u8], size: usize) -> io::Result<()> {
        let at = self.seq % 251;
        self.tls.writer().write_all(&pattern[at..at + size])?;
        self.got = 0;
        self.waiting = true;
        self.sent_at = Instant::now();
        self.flush()
    }

    /// Reads all the socket has; checks the plaintext against the message in flight.
    /// `Ok(true)` once its echo is whole.
    fn receive(&mut self, pattern: &[u8], size: usize, scratch: &mut [u8]) -> io::Result<bool> {
        loop {
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => return Err(bad("the server closed a connection")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.tls.process_new_packets().map_err(io::Error::other)?;
            loop {
                let n = match self.tls.reader().read(scratch) {
                    Ok(0) => return Err(bad("the server ended the session")),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let at = self.seq % 251;
                let expected = &pattern[at + self.got..at + size];
                if n > expected.len() || scratch[..n] != expected[..n] {
                    return Err(bad("a wrong echo"));
                }
                self.got += n;
            }
        }
        self.flush()?; // what reading produced (a key update's answer)
        if self.waiting && self.got == size {
            self.waiting = false;
            self.seq += 1;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Bandwidth: `conns` connections, each with one `size`-byte message in flight, the next
/// sent when its echo is whole, for `warmup` then `measure`. The handshakes complete before
/// `before_load` is called (where the caller reads the server's CPU clock).
pub fn bandwidth(
    addr: SocketAddr,
    conns: usize,
    size: usize,
    warmup: Duration,
    measure: Duration,
    before_load: impl FnOnce(),
) -> io::Result<Count> {
    let config = config()?;
    let pattern = pattern(size);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut poll = Poll::new()?;
    let mut all = Vec::with_capacity(conns);
    for id in 0..conns {
        let socket = StdStream::connect(addr)?;
        socket.set_nodelay(true)?;
        socket.set_nonblocking(true)?;
        let mut socket = TcpStream::from_std(socket);
        poll.registry().register(
            &mut socket,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut tls =
            ClientConnection::new(config.clone(), server_name()).map_err(io::Error::other)?;
        tls.set_buffer_limit(None); // a whole message at once
        all.push(Conn {
            socket,
            tls,
            seq: 0,
            got: 0,
            waiting: false,
            sent_at: Instant::now(),
        });
    }
    let mut events = Events::with_capacity(1024);
    let handshake_until = Instant::now() + Duration::from_secs(10);
    while all.iter().any(|c| c.tls.is_handshaking()) {
        if Instant::now() > handshake_until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "handshakes not done in 10 s",
            ));
        }
        poll_once(&mut poll, &mut events)?;
        for event in events.iter() {
            let conn = &mut all[event.token().0];
            conn.flush()?;
            conn.receive(&pattern, size, &mut scratch)?;
            conn.flush()?;
        }
    }
    before_load();
    let start = Instant::now();
    let (measure_from, until) = (start + warmup, start + warmup + measure);
    let drain_until = until + Duration::from_secs(10);
    for conn in &mut all {
        conn.send(&pattern, size)?;
    }
    let mut count = Count {
        measured: 0,
        total: 0,
        latencies: Vec::new(),
    };
    while all.iter().any(|c| c.waiting) {
        if Instant::now() > drain_until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "echoes missing 10 s after the end",
            ));
        }
        poll_once(&mut poll, &mut events)?;
        for event in events.iter() {
            let conn = &mut all[event.token().0];
            if event.is_writable() {
                conn.flush()?;
            }
            if !conn.receive(&pattern, size, &mut scratch)? {
                continue;
            }
            count.total += 1;
            let now = Instant::now();
            if now >= measure_from && now < until {
                count.measured += 1;
                count.latencies.push((now - conn.sent_at).as_nanos() as u64);
            }
            if now < until {
                conn.send(&pattern, size)?;
            }
        }
    }
    for conn in &all {
        // A reset: no TIME_WAIT left on the client's ports, nothing for the server to flush.
        SockRef::from(&conn.socket).set_linger(Some(Duration::ZERO))?;
    }
    Ok(count)
}

fn poll_once(poll: &mut Poll, events: &mut Events) -> io::Result<()> {
    match poll.poll(events, Some(Duration::from_millis(100))) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => Ok(()),
    }
}

/// Handshakes: one connection at a time, a full TLS 1.3 handshake, one 64-byte echo, the
/// client's `close_notify`, then a reset (no TIME_WAIT left), for `warmup` then `measure`.
pub fn handshakes(addr: SocketAddr, warmup: Duration, measure: Duration) -> io::Result<Count> {
    const MAX_CONNECTIONS: u64 = 200_000;
    let config = config()?;
    let message = &pattern(64)[..64];
    let mut back = [0u8; 64];
    let start = Instant::now();
    let (measure_from, until) = (start + warmup, start + warmup + measure);
    let mut count = Count {
        measured: 0,
        total: 0,
        latencies: Vec::new(),
    };
    for _ in 0..MAX_CONNECTIONS {
        let began = Instant::now();
        if began >= until {
            break;
        }
        let mut socket = StdStream::connect(addr)?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut tls =
            ClientConnection::new(config.clone(), server_name()).map_err(io::Error::other)?;
        let mut stream = rustls::Stream::new(&mut tls, &mut socket);
        stream.write_all(message)?; // the handshake first, then the message
        stream.read_exact(&mut back)?;
        if back != message {
            return Err(bad("a wrong echo"));
        }
        tls.send_close_notify();
        tls.complete_io(&mut socket)?;
        SockRef::from(&socket).set_linger(Some(Duration::ZERO))?;
        drop(socket);
        count.total += 1;
        let done = Instant::now();
        if began >= measure_from {
            count.measured += 1;
            count.latencies.push((done - began).as_nanos() as u64);
        }
    }
    Ok(count)
}
