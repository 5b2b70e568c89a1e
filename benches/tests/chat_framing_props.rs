//! Property tests of the terminator machine (`ioloop::chat::Framer`): however the input is
//! split into reads, the same messages come out, and for byte terminators they are the ones
//! Python's asynchat algorithm gives.

use ioloop::chat::{ByteOrder, Framer, LengthPrefix, Progress, Terminator, prefix_at_end};
use proptest::prelude::*;

/// What a framer produced: delivered messages, bytes collected after the last one, and
/// whether it stopped on an error.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    tail: Vec<u8>,
    failed: bool,
}

fn run(terminator: &Terminator, chunks: &[&[u8]]) -> Outcome {
    let mut framer = Framer::new(terminator.clone());
    let mut outcome = Outcome {
        frames: Vec::new(),
        tail: Vec::new(),
        failed: false,
    };
    for chunk in chunks {
        framer.push(chunk);
        loop {
            match framer.advance(&mut |data| outcome.tail.extend_from_slice(data)) {
                Ok(Progress::Frame) => outcome.frames.push(std::mem::take(&mut outcome.tail)),
                Ok(Progress::NeedMore) => break,
                Err(_) => {
                    outcome.failed = true;
                    return outcome;
                }
            }
        }
    }
    outcome
}

/// Cuts `data` into chunks of the given sizes (cycled), the last one taking what is left.
fn split<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let size = sizes[i % sizes.len()].max(1);
        let end = (at + size).min(data.len());
        chunks.push(&data[at..end]);
        at = end;
        i += 1;
    }
    chunks
}

/// Python's asynchat with a bytes terminator, by the book: find the terminator from the
/// start of what is left; each find delivers what came before it.
fn python_messages(data: &[u8], needle: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut messages = Vec::new();
    let mut rest = data;
    while let Some(index) = rest
        .windows(needle.len())
        .position(|window| window == needle)
    {
        messages.push(rest[..index].to_vec());
        rest = &rest[index + needle.len()..];
    }
    (messages, rest.to_vec())
}

fn naive_prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
    (1..needle.len())
        .rev()
        .find(|&k| haystack.ends_with(&needle[..k]))
        .unwrap_or(0)
}

fn small_alphabet(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'\r', b'\n']), 0..max)
}

fn byte_terminator() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'\r', b'\n']), 1..=4)
}

/// A length-prefix layout, as plain numbers the test can also write frames with.
#[derive(Clone, Copy, Debug)]
struct Layout {
    width: usize,
    big: bool,
    keep: bool,
    offset: usize,
    adjustment: i64,
}

impl Layout {
    fn prefix(&self) -> LengthPrefix {
        LengthPrefix::new(self.width)
            .order(if self.big {
                ByteOrder::Big
            } else {
                ByteOrder::Little
            })
            .keep_header(self.keep)
            .offset(self.offset)
            .adjustment(self.adjustment)
    }

    /// Frames around `bodies`: the field holds `body.len() - adjustment` (a negative value
    /// is written as 0, which makes an invalid frame: every split must fail alike).
    fn frames(&self, bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for body in bodies {
            out.extend(std::iter::repeat_n(b'h', self.offset));
            let value = (body.len() as i64 - self.adjustment).max(0) as u64;
            if self.big {
                out.extend_from_slice(&value.to_be_bytes()[8 - self.width..]);
            } else {
                out.extend_from_slice(&value.to_le_bytes()[..self.width]);
            }
            out.extend_from_slice(body);
        }
        out
    }
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop::sample::select(vec![1usize, 2, 4, 8]),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        -3i64..3,
    )
        .prop_map(|(width, big, keep, offset, adjustment)| Layout {
            width,
            big,
            keep,
            offset,
            adjustment,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn byte_terminators_give_the_same_messages_for_any_split_and_match_python(
        needle in byte_terminator(),
        data in small_alphabet(300),
        sizes in prop::collection::vec(1usize..40, 1..10),
    ) {
        let terminator = Terminator::bytes(needle.clone());
        let whole = run(&terminator, &[&data]);
        let pieces = run(&terminator, &split(&data, &sizes));
        prop_assert_eq!(&pieces, &whole);
        let (messages, _) = python_messages(&data, &needle);
        prop_assert_eq!(&whole.frames, &messages);
        // Every byte of the input is a message byte, a terminator byte, or still pending.
        for frame in &whole.frames {
            prop_assert!(!frame.windows(needle.len()).any(|w| w == needle.as_slice()));
        }
    }

    #[test]
    fn counts_and_none_give_the_same_outcome_for_any_split(
        count in 1usize..40,
        data in small_alphabet(200),
        sizes in prop::collection::vec(1usize..40, 1..10),
    ) {
        for terminator in [Terminator::count(count).unwrap(), Terminator::None] {
            let whole = run(&terminator, &[&data]);
            let pieces = run(&terminator, &split(&data, &sizes));
            prop_assert_eq!(&pieces, &whole);
        }
        let counted = run(&Terminator::count(count).unwrap(), &[&data]);
        if data.len() >= count {
            prop_assert_eq!(counted.frames, vec![data[..count].to_vec()]);
            prop_assert_eq!(counted.tail, data[count..].to_vec());
        } else {
            prop_assert!(counted.frames.is_empty());
        }
    }

    #[test]
    fn length_prefixed_frames_are_the_same_for_any_split(
        layout in layout(),
        bodies in prop::collection::vec(small_alphabet(40), 0..6),
        noise in small_alphabet(20),
        sizes in prop::collection::vec(1usize..40, 1..10),
    ) {
        let mut data = layout.frames(&bodies);
        data.extend_from_slice(&noise);
        let terminator = Terminator::length_prefixed(layout.prefix()).unwrap();
        let whole = run(&terminator, &[&data]);
        let pieces = run(&terminator, &split(&data, &sizes));
        prop_assert_eq!(&pieces, &whole);
        if layout.adjustment == 0 && !whole.failed {
            // Well-formed frames come out whole, header kept or not.
            let header = layout.offset + layout.width;
            for (frame, body) in whole.frames.iter().zip(&bodies) {
                let expected = if layout.keep { header + body.len() } else { body.len() };
                prop_assert_eq!(frame.len(), expected);
                prop_assert!(frame.ends_with(body));
            }
        }
    }

    #[test]
    fn prefix_at_end_matches_a_naive_search(
        haystack in small_alphabet(30),
        needle in byte_terminator(),
    ) {
        prop_assert_eq!(prefix_at_end(&haystack, &needle), naive_prefix_at_end(&haystack, &needle));
    }
}
