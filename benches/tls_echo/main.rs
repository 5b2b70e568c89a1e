//! TLS echo: ioloop's TLS channels (`Context::spawn_tls` under a raw echo dispatcher, on
//! every selector backend) against the reference way to drive rustls from a readiness
//! loop, a mio + rustls server in the structure of rustls's `tlsserver-mio` example
//! (`servers/mio_rustls.rs`), the peers in alternation over several rounds. Two scenarios:
//!
//! - `bandwidth`: C connections (default 4), each with one message of S bytes (default
//!   64 KiB) in flight, the next sent when its echo is whole and checked: MB/s echoed, the
//!   p50 round trip, and the server thread's CPU time per message;
//! - `handshake`: one connection at a time: a full TLS 1.3 handshake (no resumption: a
//!   certificate and an ECDSA signature each time), one 64-byte echo, the client's
//!   `close_notify`, a reset: handshakes/s and the server's CPU per handshake.
//!
//! The client is rustls over mio (bandwidth) or the standard library's blocking sockets
//! (handshake), in this process, trusting the test CA of `examples/tls/`. The peers share
//! one server configuration (`ioloop::tls::server_config_from_pem`: rustls's defaults,
//! the ring provider, the ECDSA P-256 test certificate).
//!
//! `cargo bench --bench tls_echo --features tls [-- --rounds N --secs F --conns C --size S
//! --peers mio-rustls,ioloop-epoll --scenarios bandwidth,handshake]`; `--serve PEER [--secs
//! F]` only serves (prints `listening on ADDR`); `--client ADDR --scenarios NAME` only loads
//! a server started elsewhere and prints `; N echoed in all` (messages or handshakes), so
//! that `BENCH=tls_echo bash benches/callgrind_echo.sh bandwidth 3` counts instructions per
//! message. All traffic is on 127.0.0.1; every loop is bounded in time and count.

mod client;
#[allow(dead_code)] // `process` is for the Python peers of the echo benches
#[path = "../echo/cpu_clock.rs"]
mod cpu_clock;
#[allow(dead_code)] // `Server` is the clear-text echo's listener; this bench has its own
#[path = "../../examples/echo_server/echo.rs"]
mod echo;
#[path = "../common/mio_server.rs"]
mod mio_server;
#[path = "../common/options.rs"]
mod options;
mod servers;
#[allow(dead_code)] // `Outcome` and `summarize` are the echo bench's
#[path = "../echo/stats.rs"]
mod stats;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use cpu_clock::CpuClock;
use options::CommandLine;
use servers::Peer;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Bandwidth,
    Handshake,
}

impl Scenario {
    const ALL: [Scenario; 2] = [Scenario::Bandwidth, Scenario::Handshake];

    fn name(self) -> &'static str {
        match self {
            Scenario::Bandwidth => "bandwidth",
            Scenario::Handshake => "handshake",
        }
    }

    fn named(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|sc| sc.name() == name)
    }
}

/// This bench's own options (the shared ones: `../common/options.rs`).
struct Own {
    /// `--conns C` (1 to 1000, default 4): connections of the bandwidth scenario.
    conns: usize,
    /// `--size S` (1 byte to 16 MiB, default 64 KiB): its message size.
    size: usize,
    /// `--scenarios a,b` (default both).
    scenarios: Vec<Scenario>,
}

type Options = options::Options<Peer, Own>;

fn parse_options() -> Options {
    let mut options = CommandLine {
        bench: "tls_echo",
        secs: 2.0,
        peers: Peer::all(),
        peer: Peer::parse,
        own: Own {
            conns: 4,
            size: 64 * 1024,
            scenarios: Scenario::ALL.to_vec(),
        },
        flags: &[
            ("--conns", |own, value| {
                options::set(&mut own.conns, value, "--conns C")
            }),
            ("--size", |own, value| {
                options::set(&mut own.size, value, "--size S")
            }),
            ("--scenarios", |own, value| {
                own.scenarios = options::list(value, Scenario::named, "scenario")?;
                Ok(())
            }),
        ],
    }
    .parse();
    options.own.conns = options.own.conns.clamp(1, 1000);
    options.own.size = options.own.size.clamp(1, 16 << 20);
    options
}

/// One run against one server (medians are taken field by field).
#[derive(Clone, Copy, Debug)]
struct Outcome {
    /// Messages (handshakes) per second in the measured window.
    rate: f64,
    /// Megabytes echoed per second (bandwidth only).
    mbps: f64,
    p50_us: f64,
    /// Server CPU per message (handshake), microseconds; NaN when it cannot be read.
    cpu_us: f64,
    /// Completed in all, warm-up and drain included (for the scripts' counts).
    total: u64,
}

fn run(
    addr: SocketAddr,
    clock: Option<&CpuClock>,
    sc: Scenario,
    options: &Options,
) -> io::Result<Outcome> {
    let warmup = Duration::from_millis(200);
    let measure = Duration::from_secs_f64(options.secs);
    let mut cpu_before = None;
    let count = match sc {
        Scenario::Bandwidth => client::bandwidth(
            addr,
            options.own.conns,
            options.own.size,
            warmup,
            measure,
            || cpu_before = clock.and_then(CpuClock::nanos),
        )?,
        Scenario::Handshake => {
            cpu_before = clock.and_then(CpuClock::nanos);
            client::handshakes(addr, warmup, measure)?
        }
    };
    // Let the server finish with the last connections (closes, resets) before reading its
    // clock: they are its work too.
    std::thread::sleep(Duration::from_millis(50));
    let cpu_us = match (cpu_before, clock.and_then(CpuClock::nanos)) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e3 / count.total.max(1) as f64,
        _ => f64::NAN,
    };
    let mut latencies: Vec<f64> = count.latencies.iter().map(|&ns| ns as f64 / 1e3).collect();
    let p50_us = if latencies.is_empty() {
        f64::NAN
    } else {
        stats::median(&mut latencies)
    };
    let rate = count.measured as f64 / options.secs;
    let mbps = match sc {
        Scenario::Bandwidth => rate * options.own.size as f64 / 1e6,
        Scenario::Handshake => f64::NAN,
    };
    Ok(Outcome {
        rate,
        mbps,
        p50_us,
        cpu_us,
        total: count.total,
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
        for &sc in &options.own.scenarios {
            match run(addr, None, sc, &options) {
                Ok(o) => println!(
                    "{addr} {}: {:.0}/s, {:.1} MB/s, p50 {:.1} µs; {} echoed in all",
                    sc.name(),
                    o.rate,
                    o.mbps,
                    o.p50_us,
                    o.total
                ),
                Err(e) => {
                    eprintln!("{addr} {}: {e}", sc.name());
                    std::process::exit(1);
                }
            }
        }
        return;
    }
    compare(&options);
}

/// Every scenario against every peer, the peers in alternation, for the rounds asked; then
/// the tables of medians with ratios to the reference.
fn compare(options: &Options) {
    let servers: Vec<(Peer, SocketAddr, CpuClock)> = options
        .peers
        .iter()
        .map(|&peer| {
            let (addr, clock) = peer.start().expect("start a server");
            (peer, addr, clock)
        })
        .collect();
    println!(
        "tls_echo: bandwidth {} connections × one {}-byte message in flight; handshake one at a time; {} round(s), {:.1} s measured (+200 ms warm-up) per run, peers in alternation",
        options.own.conns, options.own.size, options.rounds, options.secs
    );
    // results[scenario][peer] = outcomes over rounds
    let mut results: Vec<Vec<Vec<Outcome>>> =
        vec![vec![Vec::new(); servers.len()]; options.own.scenarios.len()];
    for round in 0..options.rounds {
        for (s, &sc) in options.own.scenarios.iter().enumerate() {
            for (p, (peer, addr, clock)) in servers.iter().enumerate() {
                let o = run(*addr, Some(clock), sc, options)
                    .unwrap_or_else(|e| panic!("{} against {}: {e}", sc.name(), peer.name()));
                println!(
                    "round {} {:<9} {:<14} {:>9.0}/s {:>8.1} MB/s p50 {:>8.1} µs server CPU {:>8.1} µs each",
                    round + 1,
                    sc.name(),
                    peer.name(),
                    o.rate,
                    o.mbps,
                    o.p50_us,
                    o.cpu_us
                );
                results[s][p].push(o);
            }
        }
    }
    for (s, &sc) in options.own.scenarios.iter().enumerate() {
        let medians: Vec<Outcome> = results[s]
            .iter()
            .map(|runs| {
                let m = |f: fn(&Outcome) -> f64| {
                    let mut values: Vec<f64> = runs.iter().map(f).collect();
                    stats::median(&mut values)
                };
                Outcome {
                    rate: m(|o| o.rate),
                    mbps: m(|o| o.mbps),
                    p50_us: m(|o| o.p50_us),
                    cpu_us: m(|o| o.cpu_us),
                    total: 0,
                }
            })
            .collect();
        let reference = servers
            .iter()
            .position(|(peer, _, _)| *peer == Peer::MioRustls)
            .map(|p| medians[p]);
        let what = match sc {
            Scenario::Bandwidth => "message",
            Scenario::Handshake => "handshake",
        };
        println!();
        println!("{}: medians over {} round(s)", sc.name(), options.rounds);
        println!(
            "| peer | {what}s/s | MB/s | × mio-rustls | p50 µs | server CPU µs/{what} | CPU × mio-rustls |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (p, (peer, _, _)) in servers.iter().enumerate() {
            let o = medians[p];
            let ratio = |f: fn(&Outcome) -> f64| {
                reference.map_or("-".to_string(), |r| format!("{:.2}", f(&o) / f(&r)))
            };
            let mbps = if o.mbps.is_nan() {
                "-".to_string()
            } else {
                format!("{:.1}", o.mbps)
            };
            println!(
                "| {} | {:.0} | {mbps} | {} | {:.1} | {:.1} | {} |",
                peer.name(),
                o.rate,
                ratio(|o| o.rate),
                o.p50_us,
                o.cpu_us,
                ratio(|o| o.cpu_us)
            );
        }
    }
}
