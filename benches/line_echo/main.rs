//! Line-echo load generator: the echo bench's closed-loop client (C connections × P lines of
//! S bytes in flight, every echoed byte verified) sending `\n`-terminated lines, against
//! line-echo servers run in this process:
//!
//! - `mio`: written by hand over mio and memchr, the limit: reads, finds the last `\n`, and
//!   writes every complete line back in one call (a partial line waits for the rest);
//! - `tokio-lines`: tokio current-thread with tokio-util's `Framed<_, LinesCodec>`, each line
//!   fed back as decoded and one flush when no further line is ready;
//! - `ioloop-KIND`: ioloop's [`AsyncChat`](ioloop::chat::AsyncChat) on every selector backend
//!   this platform has, whose `found_terminator` pushes the line and its `\n` back, as an
//!   asynchat port would.
//!
//! `cargo bench --bench line_echo` runs every peer in alternation for several rounds and
//! prints the medians with ratios to the mio server's. The options are the echo bench's
//! (`--rounds`, `--secs`, `--peers`, `--scenarios`, `--serve PEER`, `--client ADDR`; see
//! `benches/echo/main.rs`); by default only the `latency` and `throughput` scenarios
//! (64-byte lines) run. `callgrind_echo.sh` and `strace_echo.sh` drive it with
//! `BENCH=line_echo`.
//!
//! All traffic is on 127.0.0.1; every loop is bounded in time and count. The client, the
//! statistics and the report are the echo bench's files, included by path; `pattern.rs`
//! (the bytes: lines) and `servers/` are this bench's own.

#[path = "../echo/cli.rs"]
mod cli;
#[path = "../echo/connect_storm.rs"]
mod connect_storm;
#[allow(dead_code)] // `process` is the echo bench's (Python)
#[path = "../echo/cpu_clock.rs"]
mod cpu_clock;
#[path = "../echo/load.rs"]
mod load;
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
use scenarios::Scenario;
use servers::Peer;
use stats::Outcome;

/// The most a server reads at once (the echo bench's).
pub const READ_SIZE: usize = 16 * 1024;

fn main() {
    let mut options = cli::parse_options();
    if options.scenarios.len() == scenarios::SCENARIOS.len() {
        // Not chosen on the command line: the two line scenarios.
        options
            .scenarios
            .retain(|sc| sc.name == "latency" || sc.name == "throughput");
    }
    let warmup = Duration::from_millis(200);
    let measure = Duration::from_secs_f64(options.secs);
    if let Some(peer) = options.serve {
        let (addr, _) = peer.start().expect("start the server");
        println!("listening on {addr}");
        std::thread::sleep(measure);
    } else if let Some(addr) = options.client {
        load_only(addr, &options.scenarios, warmup, measure);
    } else {
        compare(&options, warmup, measure);
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

/// Every scenario against every peer, the peers in alternation; then the table of medians.
fn compare(options: &Options, warmup: Duration, measure: Duration) {
    let peers: Vec<(Peer, SocketAddr, CpuClock)> = options
        .peers
        .iter()
        .map(|&peer| {
            let (addr, clock) = peer.start().expect("start a server");
            (peer, addr, clock)
        })
        .collect();
    println!(
        "line_echo: {} round(s), {:.1} s measured (+{} ms warm-up) per run, peers in alternation",
        options.rounds,
        options.secs,
        warmup.as_millis()
    );
    let mut results: Vec<Vec<Vec<Outcome>>> =
        vec![vec![Vec::new(); peers.len()]; options.scenarios.len()];
    for round in 0..options.rounds {
        for (s, &sc) in options.scenarios.iter().enumerate() {
            for (p, (peer, addr, clock)) in peers.iter().enumerate() {
                let outcome = load::run_measured(*addr, clock, sc, warmup, measure)
                    .unwrap_or_else(|e| panic!("{} against {}: {e}", sc.name, peer.name()));
                report::round_line(round, sc, *peer, &outcome);
                results[s][p].push(outcome);
            }
        }
    }
    let peers: Vec<Peer> = peers.into_iter().map(|(peer, _, _)| peer).collect();
    report::medians_table(options.rounds, &options.scenarios, &peers, &results);
}
