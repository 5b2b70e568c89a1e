//! Fuzzes the terminator machine: arbitrary terminators, arbitrary input cut into arbitrary
//! reads. It must never panic or loop, every split must give what the whole input gives,
//! and a message cut by a byte terminator never contains that terminator.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run framing -- -max_total_time=180`.

#![no_main]

use ioloop::chat::{ByteOrder, Framer, LengthPrefix, Progress, Terminator};
use libfuzzer_sys::fuzz_target;

/// Frames, the bytes collected after the last one, and whether the framer failed.
fn run(terminator: &Terminator, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<u8>, bool) {
    let mut framer = Framer::new(terminator.clone());
    framer.set_max_frame(1 << 16);
    let (mut frames, mut tail) = (Vec::new(), Vec::new());
    for chunk in chunks {
        framer.push(chunk);
        // Each advance consumes input or completes a frame: bounded by the input's length.
        for _ in 0..=chunk.len() + framer.buffered() + 1 {
            match framer.advance(&mut |data| tail.extend_from_slice(data)) {
                Ok(Progress::Frame) => frames.push(std::mem::take(&mut tail)),
                Ok(Progress::NeedMore) => break,
                Err(_) => return (frames, tail, true),
            }
        }
    }
    (frames, tail, false)
}

fn terminator(choice: &[u8]) -> Option<Terminator> {
    let (&kind, rest) = choice.split_first()?;
    match kind % 4 {
        0 => Some(Terminator::None),
        1 => Terminator::count(usize::from(*rest.first()?) + 1).ok(),
        2 => {
            let len = usize::from(*rest.first()? % 4) + 1;
            Some(Terminator::bytes(rest.get(1..1 + len)?.to_vec()))
        }
        _ => {
            let &[width, flags, offset, adjustment] = rest.get(..4)? else {
                return None;
            };
            let prefix = LengthPrefix::new([1, 2, 4, 8][usize::from(width % 4)])
                .order(if flags & 1 == 0 {
                    ByteOrder::Big
                } else {
                    ByteOrder::Little
                })
                .keep_header(flags & 2 == 0)
                .offset(usize::from(offset % 4))
                .adjustment(i64::from(adjustment as i8));
            Terminator::length_prefixed(prefix).ok()
        }
    }
}

fuzz_target!(|input: &[u8]| {
    // Layout: 6 bytes choose the terminator, 4 bytes the read sizes, the rest is data.
    if input.len() < 10 {
        return;
    }
    let Some(terminator) = terminator(&input[..6]) else {
        return;
    };
    let sizes: Vec<usize> = input[6..10].iter().map(|&b| usize::from(b) + 1).collect();
    let data = &input[10..];
    let mut chunks = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < data.len() {
        let end = (at + sizes[i % sizes.len()]).min(data.len());
        chunks.push(&data[at..end]);
        at = end;
        i += 1;
    }
    let whole = run(&terminator, &[data]);
    let pieces = run(&terminator, &chunks);
    assert_eq!(
        whole, pieces,
        "a split changed the outcome for {terminator:?}"
    );
    if let Terminator::Bytes(needle) = &terminator {
        for frame in &whole.0 {
            assert!(!frame.windows(needle.len()).any(|w| w == needle.as_slice()));
        }
    }
});
