//! The load scenarios: how many connections, messages in flight per connection, and bytes
//! per message.

#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
}

pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "latency",
        conns: 1,
        inflight: 1,
        size: 64,
    },
    Scenario {
        name: "throughput",
        conns: 50,
        inflight: 16,
        size: 64,
    },
    Scenario {
        name: "bandwidth",
        conns: 2,
        inflight: 1,
        size: 64 * 1024,
    },
    // One connection at a time: connect, one 64-byte round trip, close (reset, so no
    // TIME_WAIT piles up).
    Scenario {
        name: "connect",
        conns: 1,
        inflight: 1,
        size: 64,
    },
];
