//! Echo load generator: a closed-loop client (C connections × P messages of S bytes in
//! flight, every echoed byte verified) against several echo servers run in this process —
//! raw `mio`, `tokio` current-thread, and ioloop's echo server (the dispatchers of
//! `examples/echo_server/echo.rs`, included below) on every selector backend this platform
//! has — and Python's asyncore (`servers/asyncore_echo.py`, a child process), when a
//! `python3` with asyncore (3.11 or older) is on the PATH.
//!
//! `cargo bench --bench echo` runs every peer in alternation for several rounds and prints
//! the medians with ratios to raw mio. Options (after `--`):
//!
//! - `--rounds N` (default 3), `--secs F` measured seconds per run (default 1.0),
//!   `--peers mio,tokio,ioloop-epoll,python-asyncore,…`,
//!   `--scenarios latency,throughput,bandwidth,connect`;
//! - `--serve PEER [--secs F]`: only serve (prints `listening on ADDR`), for `strace -f -c`;
//!   exits after F seconds (default 10);
//! - `--client ADDR --scenarios NAME`: only load a server started elsewhere.
//!
//! All traffic is on 127.0.0.1; every loop is bounded in time and count.
//!
//! The files: `cli.rs` (the options, over the benches' shared `../common/options.rs`),
//! `servers/` (the peers), `scenarios.rs`, `load.rs` (the closed-loop client),
//! `connect_storm.rs`, `pattern.rs` (the bytes sent), `cpu_clock.rs`, `stats.rs` and
//! `report.rs` (what is printed).

mod cli;
mod connect_storm;
mod cpu_clock;
mod deadlines;
#[path = "../../examples/echo_server/echo.rs"]
mod echo;
mod load;
#[path = "../common/mio_server.rs"]
mod mio_server;
#[path = "../common/options.rs"]
mod options;
mod pattern;
mod report;
mod scenarios;
mod servers;
mod stats;

use std::net::SocketAddr;
use std::time::Duration;

use cli::Options;
use cpu_clock::CpuClock;
use scenarios::Scenario;
use servers::{ChildGuard, Peer};
use stats::Outcome;

fn main() {
    let _children = ChildGuard;
    let options = cli::parse_options();
    let warmup = Duration::from_millis(200);
    let measure = Duration::from_secs_f64(options.secs);
    if let Some(peer) = options.serve {
        serve(peer, measure);
    } else if let Some(addr) = options.client {
        load_only(addr, &options.own.scenarios, warmup, measure);
    } else {
        compare(&options, warmup, measure);
    }
}

/// `--serve PEER`: serves for `measure`, then exits.
fn serve(peer: Peer, measure: Duration) {
    let (addr, _) = peer.start().expect("start the server");
    println!("listening on {addr}");
    std::thread::sleep(measure);
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

/// Every scenario against every peer, the peers in alternation, for the rounds asked; then
/// the table of medians.
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
        "echo: {} round(s), {:.1} s measured (+{} ms warm-up) per run, peers in alternation",
        options.rounds,
        options.secs,
        warmup.as_millis()
    );
    // results[scenario][peer] = outcomes over rounds
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
