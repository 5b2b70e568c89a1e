//! The deadlines an ioloop server of the benches gives each connection: with
//! `IOLOOP_BENCH_TIMEOUTS=1`, idle 300 s, message 10 s and drain 60 s (none expires in a
//! run), to measure the cost of deadlines per message against a run without; none
//! otherwise. Shared by the echo and line-echo benches.

use std::time::Duration;

use ioloop::Timeouts;

/// The deadlines `IOLOOP_BENCH_TIMEOUTS=1` asks for; none otherwise.
pub fn from_env() -> Timeouts {
    if std::env::var("IOLOOP_BENCH_TIMEOUTS").as_deref() != Ok("1") {
        return Timeouts::NONE;
    }
    Timeouts {
        idle: Some(Duration::from_secs(300)),
        message: Some(Duration::from_secs(10)),
        drain: Some(Duration::from_secs(60)),
        ..Timeouts::NONE
    }
}
