//! Chat-protocol echo load generator: the echo bench's closed-loop client (C connections ×
//! P messages of S bytes in flight, every echoed byte verified) sending 64-byte messages in
//! one of two framings, against echo servers run in this process:
//!
//! - `line`: `\n`-terminated lines;
//! - `length`: SMPP's shape, a 4-byte big-endian length counting the whole frame (64), then
//!   60 bytes of any value.
//!
//! The peers:
//!
//! - `mio`: written by hand over mio (and memchr for lines), the limit: reads, finds the end
//!   of the last complete message, and writes every complete message back in one call (a
//!   partial message waits for the rest);
//! - `tokio-lines` (lines only): tokio current-thread with tokio-util's
//!   `Framed<_, LinesCodec>`, each line fed back as decoded and one flush when no further
//!   line is ready;
//! - `ioloop-KIND`: ioloop's [`AsyncChat`](ioloop::chat::AsyncChat) on every selector backend
//!   this platform has, with a `\n` terminator (`found_terminator` pushes the line and its
//!   `\n` back, as an asynchat port would) or a length-prefix terminator (the frame, header
//!   kept, pushed back whole);
//! - `python-asynchat` (lines only, when `python3.11` with asynchat is found): Python's
//!   asynchat (`servers/asynchat_line_echo.py`) in a child process.
//!
//! `cargo bench --bench line_echo` runs every peer in alternation for several rounds, per
//! framing, and prints the medians with ratios to the mio server's. The options are the
//! echo bench's (`--rounds`, `--secs`, `--peers`, `--scenarios`, `--serve PEER`,
//! `--client ADDR`; see `benches/echo/main.rs`) and `--framing line,length` (default both;
//! `--serve` and `--client` take one). By default only the `latency` and `throughput`
//! scenarios (64-byte messages) run. `callgrind_echo.sh` and `strace_echo.sh` drive it with
//! `BENCH=line_echo` (and `FRAMING=length`).
//!
//! All traffic is on 127.0.0.1; every loop is bounded in time and count. The client, the
//! statistics and the report are the echo bench's files, included by path; `pattern.rs`
//! (the bytes: lines or frames) and `servers/` are this bench's own.

#[path = "../echo/cli.rs"]
mod cli;
#[path = "../echo/connect_storm.rs"]
mod connect_storm;
#[path = "../echo/cpu_clock.rs"]
mod cpu_clock;
#[path = "../echo/deadlines.rs"]
mod deadlines;
#[path = "../echo/load.rs"]
mod load;
#[path = "../common/mio_server.rs"]
mod mio_server;
#[path = "../common/options.rs"]
mod options;
mod pattern;
#[path = "../echo/report.rs"]
mod report;
#[path = "../echo/scenarios.rs"]
mod scenarios;
mod servers;
#[path = "../echo/stats.rs"]
mod stats;

use std::net::SocketAddr;
use std::time::Duration;

use cli::Options;
use cpu_clock::CpuClock;
use pattern::Framing;
use scenarios::Scenario;
use servers::{ChildGuard, Peer};
use stats::Outcome;

/// The most a server reads at once (the echo bench's).
pub const READ_SIZE: usize = 16 * 1024;

fn main() {
    let _children = ChildGuard;
    let mut options = cli::parse_options();
    let framings = parse_framings();
    if options.own.scenarios.len() == scenarios::SCENARIOS.len() {
        // Not chosen on the command line: the two line scenarios.
        options
            .own
            .scenarios
            .retain(|sc| sc.name == "latency" || sc.name == "throughput");
    }
    let warmup = Duration::from_millis(200);
    let measure = Duration::from_secs_f64(options.secs);
    if let Some(peer) = options.serve {
        let (addr, _) = peer.start(framings[0]).expect("start the server");
        println!("listening on {addr}");
        std::thread::sleep(measure);
    } else if let Some(addr) = options.client {
        pattern::set_framing(framings[0]);
        load_only(addr, &options.own.scenarios, warmup, measure);
    } else {
        for framing in framings {
            compare(framing, &options, warmup, measure);
        }
    }
}

/// `--framing line,length` (the echo bench's parser ignores it); default both.
fn parse_framings() -> Vec<Framing> {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|arg| arg == "--framing") else {
        return Framing::ALL.to_vec();
    };
    let framings: Option<Vec<Framing>> = args
        .get(at + 1)
        .map(|list| list.split(',').map(Framing::parse).collect())
        .unwrap_or(None);
    match framings {
        Some(framings) if !framings.is_empty() => framings,
        _ => {
            eprintln!("line_echo bench: --framing line,length");
            std::process::exit(2)
        }
    }
}

/// `--client ADDR`: loads a server started elsewhere with each scenario; exits 1 on a
/// failure.
fn load_only(addr: SocketAddr, scenarios: &[Scenario], warmup: Duration, measure: Duration) {
    for &sc in scenarios {
        match load::run_load(addr, sc, warmup, measure) {
            Ok(outcome) => report::client_line(sc, &outcome),
            Err(e) => {
                eprintln!("{}: {e}", sc.name);
                std::process::exit(1);
            }
        }
    }
}

/// Every scenario against every peer that serves `framing`, the peers in alternation; then
/// the table of medians.
fn compare(framing: Framing, options: &Options, warmup: Duration, measure: Duration) {
    pattern::set_framing(framing);
    let peers: Vec<(Peer, SocketAddr, CpuClock)> = options
        .peers
        .iter()
        .filter(|peer| peer.serves(framing))
        .map(|&peer| {
            let (addr, clock) = peer.start(framing).expect("start a server");
            (peer, addr, clock)
        })
        .collect();
    println!();
    println!(
        "line_echo, framing {}: {} round(s), {:.1} s measured (+{} ms warm-up) per run, peers in alternation",
        framing.name(),
        options.rounds,
        options.secs,
        warmup.as_millis()
    );
    let mut results: Vec<Vec<Vec<Outcome>>> =
        vec![vec![Vec::new(); peers.len()]; options.own.scenarios.len()];
    for round in 0..options.rounds {
        for (s, &sc) in options.own.scenarios.iter().enumerate() {
            for (p, (peer, addr, clock)) in peers.iter().enumerate() {
                let outcome = load::run_measured(*addr, clock, sc, warmup, measure)
                    .unwrap_or_else(|e| panic!("{} against {}: {e}", sc.name, peer.name()));
                report::round_line(round, sc, *peer, &outcome);
                results[s][p].push(outcome);
            }
        }
    }
    let peers: Vec<Peer> = peers.into_iter().map(|(peer, _, _)| peer).collect();
    report::medians_table(options.rounds, &options.own.scenarios, &peers, &results);
}
