//! What the bench prints: a line per run, and the table of medians (BENCHMARKS.md's).

use crate::scenarios::Scenario;
use crate::servers::Peer;
use crate::stats::{Outcome, median};

/// A `--client` run's line, which the scripts read (`; N echoed in all`).
pub fn client_line(sc: Scenario, o: &Outcome) {
    println!(
        "{}: {} msgs in {:.2} s: {:.0} msgs/s, {:.1} MB/s, p50 {:?}, p99 {:?}; {} echoed in all",
        sc.name,
        o.msgs,
        o.secs,
        o.rate(),
        o.mbps(),
        o.p50,
        o.p99,
        o.total
    );
}

/// One run of a round (`round` counts from 0).
pub fn round_line(round: usize, sc: Scenario, peer: Peer, outcome: &Outcome) {
    println!(
        "round {} {:<10} {:<16} {:>10.0} msgs/s {:>8.1} MB/s p50 {:>8.1} µs p99 {:>8.1} µs CPU {:>7.0} ns/msg",
        round + 1,
        sc.name,
        peer.name(),
        outcome.rate(),
        outcome.mbps(),
        outcome.p50.as_secs_f64() * 1e6,
        outcome.p99.as_secs_f64() * 1e6,
        outcome.cpu_ns.unwrap_or(f64::NAN)
    );
}

/// The medians over the rounds, in Markdown, with ratios to raw mio's when mio ran.
/// `results[scenario][peer]` holds the outcomes of the rounds.
pub fn medians_table(
    rounds: usize,
    scenarios: &[Scenario],
    peers: &[Peer],
    results: &[Vec<Vec<Outcome>>],
) {
    println!();
    println!(
        "medians over {} round(s); ratio = msgs/s ÷ raw mio's",
        rounds
    );
    println!(
        "server CPU = the server's own CPU time per message echoed (Linux schedstat), × mio's"
    );
    println!(
        "| scenario | peer | msgs/s | MB/s | p50 µs | p99 µs | × mio | server CPU ns/msg | CPU × mio |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (s, sc) in scenarios.iter().enumerate() {
        let medians: Vec<[f64; 5]> = results[s]
            .iter()
            .map(|outcomes| {
                let mut cpu: Vec<f64> = outcomes
                    .iter()
                    .map(|o| o.cpu_ns.unwrap_or(f64::NAN))
                    .collect();
                let mut rate: Vec<f64> = outcomes.iter().map(Outcome::rate).collect();
                let mut mbps: Vec<f64> = outcomes.iter().map(Outcome::mbps).collect();
                let mut p50: Vec<f64> =
                    outcomes.iter().map(|o| o.p50.as_secs_f64() * 1e6).collect();
                let mut p99: Vec<f64> =
                    outcomes.iter().map(|o| o.p99.as_secs_f64() * 1e6).collect();
                [
                    median(&mut rate),
                    median(&mut mbps),
                    median(&mut p50),
                    median(&mut p99),
                    median(&mut cpu),
                ]
            })
            .collect();
        let mio = peers
            .iter()
            .position(|peer| *peer == Peer::Mio)
            .map(|p| medians[p]);
        let label = format!("{} ({}×{}×{} B)", sc.name, sc.conns, sc.inflight, sc.size);
        for (p, peer) in peers.iter().enumerate() {
            let [rate, mbps, p50, p99, cpu] = medians[p];
            let ratio = mio.map_or("-".to_string(), |m| format!("{:.2}", rate / m[0]));
            let cpu_ratio = mio
                .filter(|m| m[4].is_finite() && cpu.is_finite())
                .map_or("-".to_string(), |m| format!("{:.2}", cpu / m[4]));
            let cpu = if cpu.is_finite() {
                format!("{cpu:.0}")
            } else {
                "-".to_string()
            };
            println!(
                "| {label} | {} | {rate:.0} | {mbps:.1} | {p50:.1} | {p99:.1} | {ratio} | {cpu} | {cpu_ratio} |",
                peer.name()
            );
        }
    }
}
