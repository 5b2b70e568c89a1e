//! HTTP/1.1 keep-alive, as `ab -k -c 50` loads a server: C connections (default 50), each
//! with one `GET /` in flight, the next sent as soon as the response is complete (its
//! `Content-Length` body read and checked). Peers, each on a thread of this process:
//!
//! - `mio`: a responder written by hand over mio and memchr (every complete header block
//!   of a read answered, the answers in one write), the limit;
//! - `ioloop-KIND`: a minimal `AsyncChat` responder shaped as `examples/http_server.rs`
//!   answers `GET /` (the head ended by `\r\n\r\n` as one message; a `format!`-made head and
//!   the body pushed apart, sent together by the gathered output).
//!
//! Reported per peer (medians over the rounds): requests/s, p50/p99 latency, the server
//! thread's CPU per request, ratios to mio's.
//!
//! `cargo bench --bench http_keepalive [-- --rounds N --secs F --conns C --peers
//! mio,ioloop-epoll]`; `--serve PEER [--secs F]` only serves (prints `listening on
//! ADDR`); `--client ADDR` only loads a server started elsewhere (e.g.
//! `cargo run --release --example http_server -- --addr 127.0.0.1:8080`; any response
//! to `GET /` with a `Content-Length` body of `Hello, World!\n` counts) and prints `; N
//! echoed in all` (N requests), so that `BENCH=http_keepalive bash
//! benches/callgrind_echo.sh any 3 mio ioloop-epoll` counts instructions per request and
//! `BENCH=http_keepalive TRACER=perf bash benches/strace_echo.sh PEER` system calls. All traffic is on
//! 127.0.0.1; every loop is bounded in time and count.

#[allow(dead_code)] // `process` is for the Python peers of the echo benches
#[path = "../echo/cpu_clock.rs"]
mod cpu_clock;
#[path = "../common/mio_server.rs"]
mod mio_server;
#[path = "../common/options.rs"]
mod options;
mod servers;
#[allow(dead_code)] // `Outcome` and `summarize` are the echo bench's
#[path = "../echo/stats.rs"]
mod stats;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::time::{Duration, Instant};

use memchr::memmem;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use cpu_clock::CpuClock;
use options::CommandLine;
use servers::{BODY, Peer};

/// What `ab -k` sends, give or take the agent's name.
const REQUEST: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ioloop-bench\r\nAccept: */*\r\n\r\n";

/// This bench's own options (the shared ones: `../common/options.rs`).
struct Own {
    /// `--conns C` (1 to 1000, default 50): connections, one request in flight on each.
    conns: usize,
}

fn parse_options() -> options::Options<Peer, Own> {
    let mut options = CommandLine {
        bench: "http_keepalive",
        secs: 1.0,
        peers: Peer::all(),
        peer: Peer::parse,
        own: Own { conns: 50 },
        flags: &[("--conns", |own, value| {
            options::set(&mut own.conns, value, "--conns C")
        })],
    }
    .parse();
    options.own.conns = options.own.conns.clamp(1, 1000);
    options
}

/// One run against one server: requests answered in the measured window.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    /// Server CPU per request answered (warm-up included); NaN when it cannot be read.
    cpu_ns: f64,
    /// Requests answered in all, warm-up and drain included (for the scripts' counts).
    total: u64,
}

struct Conn {
    stream: TcpStream,
    /// Response bytes received, not yet a whole response.
    inbuf: Vec<u8>,
    sent_at: Instant,
    /// Whether a request is in flight.
    waiting: bool,
}

impl Conn {
    fn send(&mut self) -> io::Result<()> {
        // One small request on an idle connection: the socket takes it whole.
        let n = self.stream.write(REQUEST)?;
        if n != REQUEST.len() {
            return Err(io::Error::other("a request written in part"));
        }
        self.sent_at = Instant::now();
        self.waiting = true;
        Ok(())
    }

    /// A whole response at the front of `inbuf`: removes it, checks it. Ok(false): not yet.
    fn take_response(&mut self, finder: &memmem::Finder<'_>) -> io::Result<bool> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let Some(end) = finder.find(&self.inbuf) else {
            return Ok(false);
        };
        let head = std::str::from_utf8(&self.inbuf[..end]).map_err(|_| bad("a head not UTF-8"))?;
        if !head.starts_with("HTTP/1.1 200 ") {
            return Err(bad(&format!("a response {head:?}")));
        }
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| bad("no Content-Length"))?;
        let total = end + 4 + length;
        if self.inbuf.len() < total {
            return Ok(false);
        }
        if &self.inbuf[end + 4..total] != BODY {
            return Err(bad("a wrong body"));
        }
        self.inbuf.drain(..total);
        self.waiting = false;
        Ok(true)
    }
}

fn run(addr: SocketAddr, clock: Option<&CpuClock>, conns: usize, secs: f64) -> io::Result<Outcome> {
    let finder = memmem::Finder::new(b"\r\n\r\n");
    let mut poll = Poll::new()?;
    let mut all = Vec::with_capacity(conns);
    for id in 0..conns {
        let stream = StdStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(id), Interest::READABLE)?;
        all.push(Conn {
            stream,
            inbuf: Vec::new(),
            sent_at: Instant::now(),
            waiting: false,
        });
    }
    let cpu_before = clock.and_then(CpuClock::nanos);
    let start = Instant::now();
    let measure_from = start + Duration::from_millis(200);
    let issue_until = measure_from + Duration::from_secs_f64(secs);
    let drain_until = issue_until + Duration::from_secs(10);
    for conn in &mut all {
        conn.send()?;
    }
    let mut latencies: Vec<u64> = Vec::new();
    let mut answered = 0u64;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while all.iter().any(|c| c.waiting) {
        if Instant::now() > drain_until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "responses missing 10 s after the end",
            ));
        }
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            let conn = &mut all[event.token().0];
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed a connection",
                        ));
                    }
                    Ok(n) => conn.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if conn.waiting && conn.take_response(&finder)? {
                answered += 1;
                let now = Instant::now();
                if now >= measure_from && now < issue_until {
                    latencies.push((now - conn.sent_at).as_nanos() as u64);
                }
                if now < issue_until {
                    conn.send()?;
                }
            }
        }
    }
    let cpu_ns = match (cpu_before, clock.and_then(CpuClock::nanos)) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / answered.max(1) as f64,
        _ => f64::NAN,
    };
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |&ns| ns as f64 / 1e3)
    };
    Ok(Outcome {
        rate: latencies.len() as f64 / secs,
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        cpu_ns,
        total: answered,
    })
}

fn main() {
    let options = parse_options();
    if let Some(peer) = options.serve {
        let (addr, _) = peer.start().expect("start the server");
        println!("listening on {addr}");
        std::thread::sleep(Duration::from_secs_f64(options.secs));
        return;
    }
    if let Some(addr) = options.client {
        match run(addr, None, options.own.conns, options.secs) {
            Ok(o) => println!(
                "{addr}: {:.0} requests/s, p50 {:.1} µs, p99 {:.1} µs; {} echoed in all",
                o.rate, o.p50_us, o.p99_us, o.total
            ),
            Err(e) => {
                eprintln!("{addr}: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let servers: Vec<(Peer, SocketAddr, CpuClock)> = options
        .peers
        .iter()
        .map(|&peer| {
            let (addr, clock) = peer.start().expect("start a server");
            (peer, addr, clock)
        })
        .collect();
    println!(
        "http_keepalive: {} connections, one request in flight each, {} round(s), {:.1} s measured (+200 ms warm-up) per run, peers in alternation",
        options.own.conns, options.rounds, options.secs
    );
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(); servers.len()];
    for round in 0..options.rounds {
        for (p, (peer, addr, clock)) in servers.iter().enumerate() {
            let o = run(*addr, Some(clock), options.own.conns, options.secs)
                .unwrap_or_else(|e| panic!("http_keepalive against {}: {e}", peer.name()));
            println!(
                "round {} {:<14} {:>9.0} requests/s p50 {:>8.1} µs p99 {:>8.1} µs CPU {:>6.0} ns/request",
                round + 1,
                peer.name(),
                o.rate,
                o.p50_us,
                o.p99_us,
                o.cpu_ns
            );
            results[p].push(o);
        }
    }
    let medians: Vec<Outcome> = results
        .iter()
        .map(|runs| {
            let m = |f: fn(&Outcome) -> f64| {
                let mut values: Vec<f64> = runs.iter().map(f).collect();
                stats::median(&mut values)
            };
            Outcome {
                rate: m(|o| o.rate),
                p50_us: m(|o| o.p50_us),
                p99_us: m(|o| o.p99_us),
                cpu_ns: m(|o| o.cpu_ns),
                total: 0,
            }
        })
        .collect();
    let mio = servers
        .iter()
        .position(|(peer, _, _)| *peer == Peer::Mio)
        .map(|p| medians[p]);
    println!();
    println!("medians over {} round(s)", options.rounds);
    println!("| peer | requests/s | × mio | p50 µs | p99 µs | server CPU ns/request | CPU × mio |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (p, (peer, _, _)) in servers.iter().enumerate() {
        let o = medians[p];
        let ratio = |f: fn(&Outcome) -> f64| {
            mio.map_or("-".to_string(), |m| format!("{:.2}", f(&o) / f(&m)))
        };
        println!(
            "| {} | {:.0} | {} | {:.1} | {:.1} | {:.0} | {} |",
            peer.name(),
            o.rate,
            ratio(|o| o.rate),
            o.p50_us,
            o.p99_us,
            o.cpu_ns,
            ratio(|o| o.cpu_ns)
        );
    }
}
