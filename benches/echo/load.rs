//! The closed-loop load generator: C connections, each keeping P messages of S bytes in
//! flight, every echoed byte verified, on one thread over mio.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::connect_storm;
use crate::cpu_clock::CpuClock;
use crate::pattern::{MAX_CHUNK, expected, table};
use crate::scenarios::Scenario;
use crate::stats::{Outcome, summarize};

struct ClientConn {
    id: usize,
    stream: TcpStream,
    /// Bytes issued (the stream offset of the next message).
    issued: u64,
    out: Vec<u8>,
    out_off: usize,
    /// Bytes received and verified.
    received: u64,
    /// Messages completed.
    completed: u64,
    started: VecDeque<Instant>,
}

impl ClientConn {
    fn issue(&mut self, table: &[u8], size: usize) {
        let mut left = size;
        while left > 0 {
            let n = left.min(MAX_CHUNK);
            self.out
                .extend_from_slice(expected(table, self.id, self.issued, n));
            self.issued += n as u64;
            left -= n;
        }
        self.started.push_back(Instant::now());
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.out_off < self.out.len() {
            match self.stream.write(&self.out[self.out_off..]) {
                Ok(n) => self.out_off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.out_off == self.out.len() {
            self.out.clear();
            self.out_off = 0;
        } else if self.out_off > 1 << 20 {
            self.out.drain(..self.out_off);
            self.out_off = 0;
        }
        Ok(())
    }
}

struct Window {
    measure_from: Instant,
    issue_until: Instant,
}

pub fn run_load(
    addr: SocketAddr,
    sc: Scenario,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Outcome> {
    if sc.name == "connect" {
        return connect_storm::run(addr, sc, warmup, measure);
    }
    let table = table();
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(sc.conns);
    for id in 0..sc.conns {
        let stream = StdStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry().register(
            &mut stream,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(ClientConn {
            id,
            stream,
            issued: 0,
            out: Vec::new(),
            out_off: 0,
            received: 0,
            completed: 0,
            started: VecDeque::new(),
        });
    }
    let start = Instant::now();
    let window = Window {
        measure_from: start + warmup,
        issue_until: start + warmup + measure,
    };
    let drain_until = window.issue_until + Duration::from_secs(10);
    for conn in &mut conns {
        for _ in 0..sc.inflight {
            conn.issue(&table, sc.size);
        }
        conn.flush()?;
    }
    let mut latencies: Vec<u64> = Vec::new();
    let mut msgs = 0u64;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; MAX_CHUNK];
    let size = sc.size as u64;
    loop {
        let now = Instant::now();
        let outstanding = conns.iter().any(|c| c.received < c.issued);
        if !outstanding {
            break;
        }
        if now > drain_until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{}: echoes missing 10 s after the end", sc.name),
            ));
        }
        let wait = if now < window.issue_until {
            window.issue_until - now
        } else {
            drain_until - now
        };
        match poll.poll(&mut events, Some(wait.min(Duration::from_millis(100)))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            loop {
                let n = match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        ));
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if conn.received + n as u64 > conn.issued
                    || buf[..n] != *expected(&table, conn.id, conn.received, n)
                {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "connection {}: wrong echo at byte {}",
                            conn.id, conn.received
                        ),
                    ));
                }
                conn.received += n as u64;
                let done_now = Instant::now();
                while conn.received >= (conn.completed + 1) * size {
                    conn.completed += 1;
                    let sent_at = conn.started.pop_front().expect("a message in flight");
                    if done_now >= window.measure_from && done_now < window.issue_until {
                        msgs += 1;
                        latencies.push((done_now - sent_at).as_nanos() as u64);
                    }
                    if done_now < window.issue_until {
                        conn.issue(&table, sc.size);
                    }
                }
                if n < buf.len() {
                    break;
                }
            }
            conn.flush()?;
        }
    }
    let total = conns.iter().map(|c| c.completed).sum();
    Ok(summarize(msgs, total, measure, sc.size, latencies))
}

/// `run_load`, with the server's CPU time per message echoed.
pub fn run_measured(
    addr: SocketAddr,
    clock: &CpuClock,
    sc: Scenario,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Outcome> {
    let before = clock.nanos();
    let mut outcome = run_load(addr, sc, warmup, measure)?;
    if let (Some(before), Some(after)) = (before, clock.nanos()) {
        outcome.cpu_ns = Some(after.saturating_sub(before) as f64 / outcome.total.max(1) as f64);
    }
    Ok(outcome)
}
