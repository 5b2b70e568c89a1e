//! Property tests of the terminator machine (`ioloop::chat::Framer`): however the input is
//! split into reads, the same messages come out, and for byte terminators they are the ones
//! Python's asynchat algorithm gives. Under `Overflow::Discard`, the messages delivered are
//! exactly those within the limit, in order, and each over-long one is reported once, in its
//! place, with its size.

use ioloop::chat::{
    ByteOrder, Framer, LengthPrefix, Overflow, Progress, Terminator, prefix_at_end,
};
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

/// What a chat channel's `deliver` makes of the input under `Overflow::Discard`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Message(Vec<u8>),
    TooLong(usize),
}

/// Frames `chunks` as `AsyncChat::deliver` does with a limit of `max` and the discard
/// policy: a message that grows over `max` is discarded from there on. Returns the events
/// and the most input held at once (the framer's buffer plus the message).
fn run_discarding(terminator: &Terminator, max: usize, chunks: &[&[u8]]) -> (Vec<Event>, usize) {
    let mut framer = Framer::new(terminator.clone());
    framer.set_max_frame(max);
    framer.set_overflow(Overflow::Discard);
    let mut events = Vec::new();
    let mut message = Vec::new();
    let mut held = 0;
    for chunk in chunks {
        framer.push(chunk);
        loop {
            let progress = framer
                .advance(&mut |data| message.extend_from_slice(data))
                .expect("no error under the discard policy");
            held = held.max(framer.buffered() + message.len());
            if message.len() > max {
                let size = message.len();
                message.clear();
                match progress {
                    Progress::NeedMore => framer.discard_message(size),
                    Progress::Frame => events.push(Event::TooLong(size)),
                }
                continue;
            }
            match progress {
                Progress::NeedMore => break,
                Progress::Frame => match framer.take_discarded() {
                    Some(size) => {
                        message.clear();
                        events.push(Event::TooLong(size));
                    }
                    None => events.push(Event::Message(std::mem::take(&mut message))),
                },
            }
        }
    }
    (events, held)
}

/// What the discard policy must give for complete messages of these sizes: each one
/// within `max` delivered, each one over it reported by its size.
fn expected_events(messages: &[Vec<u8>], max: usize, size: impl Fn(&[u8]) -> usize) -> Vec<Event> {
    messages
        .iter()
        .map(|message| {
            if size(message) > max {
                Event::TooLong(message.len())
            } else {
                Event::Message(message.clone())
            }
        })
        .collect()
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

    #[test]
    fn discarding_byte_terminators_delivers_exactly_the_messages_within_the_limit(
        needle in byte_terminator(),
        data in small_alphabet(300),
        max in 0usize..20,
        sizes in prop::collection::vec(1usize..40, 1..10),
    ) {
        let terminator = Terminator::bytes(needle.clone());
        let (messages, _) = python_messages(&data, &needle);
        let expected = expected_events(&messages, max, |message| message.len());
        let (whole, _) = run_discarding(&terminator, max, &[&data]);
        prop_assert_eq!(&whole, &expected);
        let (pieces, held) = run_discarding(&terminator, max, &split(&data, &sizes));
        prop_assert_eq!(&pieces, &expected);
        // One read past the limit at most, and a partial terminator.
        prop_assert!(held <= max + 40 + needle.len(), "held {} bytes", held);
    }

    #[test]
    fn discarding_a_count_over_the_limit_reports_it_once(
        count in 1usize..40,
        data in small_alphabet(200),
        max in 0usize..40,
        sizes in prop::collection::vec(1usize..40, 1..10),
    ) {
        let terminator = Terminator::count(count).unwrap();
        let (pieces, _) = run_discarding(&terminator, max, &split(&data, &sizes));
        let (whole, _) = run_discarding(&terminator, max, &[&data]);
        prop_assert_eq!(&pieces, &whole);
        if data.len() >= count {
            let messages = [data[..count].to_vec()];
            prop_assert_eq!(whole, expected_events(&messages, max, |message| message.len()));
        } else {
            prop_assert!(whole.is_empty());
        }
    }

    #[test]
    fn discarding_length_prefixed_frames_skips_exactly_those_over_the_limit(
        layout in layout(),
        bodies in prop::collection::vec(small_alphabet(40), 0..6),
        max in 0usize..50,
        sizes in prop::collection::vec(1usize..40, 1..10),
    ) {
        // Well-formed frames only (no adjustment), so that every frame has a known size.
        let layout = Layout { adjustment: 0, ..layout };
        let data = layout.frames(&bodies);
        let terminator = Terminator::length_prefixed(layout.prefix()).unwrap();
        let header = layout.offset + layout.width;
        let messages: Vec<Vec<u8>> = data_messages(&layout, &bodies);
        // The limit counts the header (the frame's size), as the header check does.
        let expected = expected_events(&messages, max, |message| {
            if layout.keep { message.len() } else { message.len() + header }
        });
        let (whole, _) = run_discarding(&terminator, max, &[&data]);
        prop_assert_eq!(&whole, &expected);
        let (pieces, _) = run_discarding(&terminator, max, &split(&data, &sizes));
        prop_assert_eq!(&pieces, &expected);
    }
}

/// The messages well-formed frames give: header and body, or the body alone.
fn data_messages(layout: &Layout, bodies: &[Vec<u8>]) -> Vec<Vec<u8>> {
    bodies
        .iter()
        .map(|body| {
            let frame = layout.frames(std::slice::from_ref(body));
            if layout.keep { frame } else { body.clone() }
        })
        .collect()
}
