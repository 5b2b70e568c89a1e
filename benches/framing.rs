//! Framing throughput of asynchat's terminator machine ([`ioloop::chat::Framer`], no I/O):
//! 100-byte messages cut by `\n`, by `\r\n`, and length-prefixed (4-byte big-endian header
//! and 96-byte body), fed 65 500 bytes at a time (about one 64 KiB read, whole messages).
//!
//! Two ways to collect each message:
//! - `count`: the collect callback only counts bytes (the framer's own cost);
//! - `deliver`: as `AsyncChat` does it — bytes appended to the channel's message buffer,
//!   which is lent (`&[u8]`) to `found_terminator` and cleared for the next message, so a
//!   message costs a copy and no allocation.
//!
//! `cargo bench --bench framing` (criterion; MB/s in the `thrpt` column).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ioloop::chat::{Framer, LengthPrefix, Progress, Terminator};

const MESSAGE: usize = 100;
const MESSAGES_PER_CHUNK: usize = 655;
const CHUNK: usize = MESSAGE * MESSAGES_PER_CHUNK;

fn chunk(kind: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(CHUNK);
    for i in 0..MESSAGES_PER_CHUNK {
        let body = |len: usize| (0..len).map(move |j| b'a' + ((i + j) % 26) as u8);
        match kind {
            "lf" => {
                data.extend(body(MESSAGE - 1));
                data.push(b'\n');
            }
            "crlf" => {
                data.extend(body(MESSAGE - 2));
                data.extend_from_slice(b"\r\n");
            }
            _ => {
                data.extend_from_slice(&((MESSAGE - 4) as u32).to_be_bytes());
                data.extend(body(MESSAGE - 4));
            }
        }
    }
    assert_eq!(data.len(), CHUNK);
    data
}

fn terminator(kind: &str) -> Terminator {
    match kind {
        "lf" => Terminator::bytes(b"\n"),
        "crlf" => Terminator::bytes(b"\r\n"),
        _ => Terminator::length_prefixed(LengthPrefix::new(4)).expect("a valid prefix"),
    }
}

/// A handler that looks at every message (its length), as any real one does.
#[inline(never)]
fn found_terminator(message: &[u8]) -> usize {
    black_box(message.len())
}

fn bench_framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(CHUNK as u64));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    for kind in ["lf", "crlf", "length4"] {
        let input = chunk(kind);
        group.bench_function(format!("{kind}/count"), |b| {
            let mut framer = Framer::new(terminator(kind));
            b.iter(|| {
                framer.push(black_box(&input));
                let mut bytes = 0usize;
                let mut frames = 0usize;
                loop {
                    match framer.advance(&mut |data| bytes += data.len()) {
                        Ok(Progress::Frame) => frames += 1,
                        Ok(Progress::NeedMore) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                assert_eq!(frames, MESSAGES_PER_CHUNK);
                black_box(bytes)
            });
        });
        group.bench_function(format!("{kind}/deliver"), |b| {
            let mut framer = Framer::new(terminator(kind));
            let mut message = Vec::new();
            b.iter(|| {
                framer.push(black_box(&input));
                let mut frames = 0usize;
                loop {
                    match framer.advance(&mut |data| message.extend_from_slice(data)) {
                        Ok(Progress::Frame) => {
                            frames += 1;
                            found_terminator(black_box(&message));
                            message.clear();
                        }
                        Ok(Progress::NeedMore) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                assert_eq!(frames, MESSAGES_PER_CHUNK);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_framing);
criterion_main!(benches);
