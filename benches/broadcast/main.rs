//! Chat-room broadcast: M members (default 100) connected to one room; one of them says
//! 64-byte lines (`\n`-terminated), keeping P (default 16) in flight, and the server sends
//! every line to all M members (the sayer included). Every member verifies every byte it
//! gets; a line is done when the slowest member has it. Peers, each a room server on a
//! thread of this process:
//!
//! - `mio`: written by hand over mio and memchr, the limit: the complete lines of a read go
//!   to each member in one write, straight from the read buffer;
//! - `ioloop-KIND`: ioloop's [`AsyncChat`](ioloop::chat::AsyncChat) per member, as
//!   `examples/chat_server.rs` broadcasts: the line made once into an `Rc<[u8]>` and pushed
//!   to each member through `cx.get_mut::<AsyncChat<_>>(token)`.
//!
//! Reported per peer (medians over the rounds, measured window only): lines said and
//! delivered (said × M) per second, the p50/p99 of a line's time to its slowest member,
//! the server thread's CPU time and its allocations (a counting global allocator, counting
//! the server threads only) per delivered line, and ratios to mio's.
//!
//! `cargo bench --bench broadcast [-- --rounds N --secs F --members M --inflight P
//! --peers mio,ioloop-epoll]`. As the echo benches, `--serve PEER [--secs F]` only serves
//! (prints `listening on ADDR`) and `--client ADDR` only loads (and prints `; N echoed in
//! all`, N the delivered lines), so that `BENCH=broadcast bash benches/callgrind_echo.sh
//! any 3 mio ioloop-epoll` counts instructions per delivered line and
//! `BENCH=broadcast TRACER=perf bash benches/strace_echo.sh PEER` system calls. All traffic is on 127.0.0.1; every loop is bounded in time
//! and count.

mod counting_alloc;
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

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use options::CommandLine;
use servers::{Peer, Started};

#[global_allocator]
static ALLOCATOR: counting_alloc::CountingAlloc = counting_alloc::CountingAlloc;

/// Bytes per line, `\n` included.
const LINE: usize = 64;
/// Lines in the cycle of the bytes said (a prime).
const CYCLE_LINES: usize = 251;

/// This bench's own options (the shared ones: `../common/options.rs`).
struct Own {
    /// `--members M` (1 to 1000, default 100): the room's members, the sayer included.
    members: usize,
    /// `--inflight P` (1 to 1000, default 16): lines said and not yet at the slowest member.
    inflight: usize,
}

type Options = options::Options<Peer, Own>;

fn parse_options() -> Options {
    let mut options = CommandLine {
        bench: "broadcast",
        secs: 1.0,
        peers: Peer::all(),
        peer: Peer::parse,
        own: Own {
            members: 100,
            inflight: 16,
        },
        flags: &[
            ("--members", |own, value| {
                options::set(&mut own.members, value, "--members M")
            }),
            ("--inflight", |own, value| {
                options::set(&mut own.inflight, value, "--inflight P")
            }),
        ],
    }
    .parse();
    options.own.members = options.own.members.clamp(1, 1000);
    options.own.inflight = options.own.inflight.clamp(1, 1000);
    options
}

/// The bytes said: lines of 63 printable bytes and a `\n`, a cycle of `CYCLE_LINES`.
fn table() -> Vec<u8> {
    (0..2 * LINE * CYCLE_LINES)
        .map(|i| {
            let (line, at) = ((i / LINE) % CYCLE_LINES, i % LINE);
            if at == LINE - 1 {
                b'\n'
            } else {
                b' ' + ((line * 7 + at) % 94) as u8
            }
        })
        .collect()
}

/// The bytes at stream `offset` (the same for every member).
fn expected(table: &[u8], offset: u64, len: usize) -> &[u8] {
    let start = (offset % (LINE * CYCLE_LINES) as u64) as usize;
    &table[start..start + len]
}

/// One run against one server, measured window only.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    said_per_sec: f64,
    delivered_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_ns: f64,
    allocations: f64,
    /// Lines delivered in all, warm-up and drain included (for the scripts' counts).
    total: u64,
}

struct MemberConn {
    stream: TcpStream,
    received: u64,
}

/// What the server had spent when the window opened or closed.
struct Snapshot {
    at: Instant,
    lines_done: u64,
    cpu: Option<u64>,
    allocations: u64,
}

/// `server`: the probes of a server of this process (none for `--client`).
fn snapshot(server: Option<&Started>, lines_done: u64) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        lines_done,
        cpu: server.and_then(|s| s.clock.nanos()),
        allocations: server.map_or(0, |s| s.allocations.load(Ordering::Relaxed)),
    }
}

fn run(
    addr: SocketAddr,
    server: Option<&Started>,
    options: &Options,
    warmup: Duration,
) -> io::Result<Outcome> {
    let table = table();
    let members = options.own.members;
    let mut poll = Poll::new()?;
    // The sayer connects last: the server accepts in order, so by the time it reads the
    // sayer's first line every other member is in the room.
    let mut conns = Vec::with_capacity(members);
    for id in 0..members {
        let stream = StdStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(id), Interest::READABLE)?;
        conns.push(MemberConn {
            stream,
            received: 0,
        });
    }
    let sayer = members - 1;
    let mut out: Vec<u8> = Vec::new();
    let mut issued = 0u64;
    let mut done = 0u64;
    let mut started: VecDeque<Instant> = VecDeque::new();
    let mut latencies: Vec<u64> = Vec::new();
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let issue_until = measure_from + Duration::from_secs_f64(options.secs);
    let drain_until = issue_until + Duration::from_secs(10);
    let (mut first, mut last): (Option<Snapshot>, Option<Snapshot>) = (None, None);
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if first.is_none() && now >= measure_from {
            first = Some(snapshot(server, done));
        }
        if last.is_none() && now >= issue_until {
            last = Some(snapshot(server, done));
        }
        if last.is_some() && done == issued {
            break;
        }
        if now > drain_until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "lines missing 10 s after the end",
            ));
        }
        // The sayer keeps `inflight` lines on their way to the slowest member.
        while now < issue_until && issued - done < options.own.inflight as u64 {
            out.extend_from_slice(expected(&table, issued * LINE as u64, LINE));
            issued += 1;
            started.push_back(now);
        }
        let mut off = 0;
        while off < out.len() {
            match conns[sayer].stream.write(&out[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        out.drain(..off);
        if !out.is_empty() {
            // Rare (16 lines fit any socket buffer): retry shortly.
            std::thread::sleep(Duration::from_micros(50));
        }
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
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
                            "the server closed a member's connection",
                        ));
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if conn.received + n as u64 > issued * LINE as u64
                    || buf[..n] != *expected(&table, conn.received, n)
                {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "member {}: wrong bytes at {}",
                            event.token().0,
                            conn.received
                        ),
                    ));
                }
                conn.received += n as u64;
                if n < buf.len() {
                    break;
                }
            }
        }
        let slowest = conns.iter().map(|c| c.received).min().unwrap_or(0) / LINE as u64;
        let now = Instant::now();
        while done < slowest {
            done += 1;
            let said = started.pop_front().expect("a line in flight");
            if said >= measure_from && now < issue_until {
                latencies.push((now - said).as_nanos() as u64);
            }
        }
    }
    let (first, last) = (first.expect("window opened"), last.expect("window closed"));
    let secs = (last.at - first.at).as_secs_f64();
    let delivered = ((last.lines_done - first.lines_done) * members as u64).max(1) as f64;
    let cpu_ns = match (first.cpu, last.cpu) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / delivered,
        _ => f64::NAN,
    };
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |&ns| ns as f64 / 1e3)
    };
    Ok(Outcome {
        said_per_sec: (last.lines_done - first.lines_done) as f64 / secs,
        delivered_per_sec: delivered / secs,
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        cpu_ns,
        allocations: (last.allocations - first.allocations) as f64 / delivered,
        total: done * members as u64,
    })
}

fn main() {
    let options = parse_options();
    let warmup = Duration::from_millis(200);
    if let Some(peer) = options.serve {
        let started = peer.start().expect("start the server");
        println!("listening on {}", started.addr);
        std::thread::sleep(Duration::from_secs_f64(options.secs));
        return;
    }
    if let Some(addr) = options.client {
        match run(addr, None, &options, warmup) {
            // The scripts read `; N echoed in all`: here N counts delivered lines.
            Ok(o) => println!(
                "broadcast: {:.0} lines said/s, {:.0} delivered/s, p50 {:.1} µs, p99 {:.1} µs; {} echoed in all",
                o.said_per_sec, o.delivered_per_sec, o.p50_us, o.p99_us, o.total
            ),
            Err(e) => {
                eprintln!("broadcast: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let servers: Vec<(Peer, Started)> = options
        .peers
        .iter()
        .map(|&peer| (peer, peer.start().expect("start a server")))
        .collect();
    println!(
        "broadcast: {} members, {} lines in flight, {} round(s), {:.1} s measured (+{} ms warm-up) per run, peers in alternation",
        options.own.members,
        options.own.inflight,
        options.rounds,
        options.secs,
        warmup.as_millis()
    );
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(); servers.len()];
    for round in 0..options.rounds {
        for (p, (peer, server)) in servers.iter().enumerate() {
            let o = run(server.addr, Some(server), &options, warmup)
                .unwrap_or_else(|e| panic!("broadcast against {}: {e}", peer.name()));
            println!(
                "round {} {:<14} {:>9.0} said/s {:>10.0} delivered/s p50 {:>8.1} µs p99 {:>8.1} µs CPU {:>6.0} ns/delivered allocs {:.4}/delivered",
                round + 1,
                peer.name(),
                o.said_per_sec,
                o.delivered_per_sec,
                o.p50_us,
                o.p99_us,
                o.cpu_ns,
                o.allocations
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
                said_per_sec: m(|o| o.said_per_sec),
                delivered_per_sec: m(|o| o.delivered_per_sec),
                p50_us: m(|o| o.p50_us),
                p99_us: m(|o| o.p99_us),
                cpu_ns: m(|o| o.cpu_ns),
                allocations: m(|o| o.allocations),
                total: 0,
            }
        })
        .collect();
    let mio = servers
        .iter()
        .position(|(peer, _)| *peer == Peer::Mio)
        .map(|p| medians[p]);
    println!();
    println!(
        "medians over {} round(s); delivered = lines said × {} members; CPU and allocations: the server thread's, per delivered line",
        options.rounds, options.own.members
    );
    println!(
        "| peer | lines said/s | delivered/s | × mio | p50 µs | p99 µs | server CPU ns/delivered | CPU × mio | allocations/delivered |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (p, (peer, _)) in servers.iter().enumerate() {
        let o = medians[p];
        let ratio = |f: fn(&Outcome) -> f64| {
            mio.map_or("-".to_string(), |m| format!("{:.2}", f(&o) / f(&m)))
        };
        println!(
            "| {} | {:.0} | {:.0} | {} | {:.1} | {:.1} | {:.0} | {} | {:.4} |",
            peer.name(),
            o.said_per_sec,
            o.delivered_per_sec,
            ratio(|o| o.delivered_per_sec),
            o.p50_us,
            o.p99_us,
            o.cpu_ns,
            ratio(|o| o.cpu_ns),
            o.allocations
        );
    }
}
