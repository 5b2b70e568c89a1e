//! The connect scenario: one connection at a time, one message each, closed with a reset.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::SockRef;

use crate::pattern::{expected, table};
use crate::scenarios::Scenario;
use crate::stats::{Outcome, summarize};

pub fn run(
    addr: SocketAddr,
    sc: Scenario,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Outcome> {
    const MAX_CONNECTIONS: u64 = 200_000;
    let table = table();
    let message = expected(&table, 0, 0, sc.size).to_vec();
    let mut back = vec![0u8; sc.size];
    let start = Instant::now();
    let (measure_from, until) = (start + warmup, start + warmup + measure);
    let mut latencies = Vec::new();
    let mut msgs = 0;
    let mut total = 0;
    for _ in 0..MAX_CONNECTIONS {
        let began = Instant::now();
        if began >= until {
            break;
        }
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(&message)?;
        stream.read_exact(&mut back)?;
        if back != message {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "wrong echo"));
        }
        // Reset rather than FIN: no TIME_WAIT left on the client's ports.
        SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
        drop(stream);
        total += 1;
        let done = Instant::now();
        if began >= measure_from {
            msgs += 1;
            latencies.push((done - began).as_nanos() as u64);
        }
    }
    Ok(summarize(msgs, total, measure, sc.size, latencies))
}
