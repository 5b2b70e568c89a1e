//! What one run of a scenario against one server gave, and the statistics over runs.

use std::time::Duration;

/// One run: messages counted, their rate and latency percentiles, the server's CPU cost.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub msgs: u64,
    /// Messages echoed in all, warm-up and drain included (for syscall counts).
    pub total: u64,
    pub secs: f64,
    pub size: usize,
    pub p50: Duration,
    pub p99: Duration,
    /// The server's CPU time per message echoed (warm-up included), where it can be read.
    pub cpu_ns: Option<f64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.msgs as f64 / self.secs
    }
    pub fn mbps(&self) -> f64 {
        self.rate() * self.size as f64 / 1e6
    }
}

/// An outcome from the messages counted in the measured window, those echoed in all, and
/// the measured window's latencies (nanoseconds).
pub fn summarize(
    msgs: u64,
    total: u64,
    measure: Duration,
    size: usize,
    mut latencies: Vec<u64>,
) -> Outcome {
    latencies.sort_unstable();
    let pick = |q: f64| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
            Duration::from_nanos(latencies[i])
        }
    };
    Outcome {
        msgs,
        total,
        secs: measure.as_secs_f64(),
        size,
        p50: pick(0.50),
        p99: pick(0.99),
        cpu_ns: None,
    }
}

/// The middle value (the upper one of an even count); sorts `values`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
