//! The bytes the client sends and expects back: messages of [`MESSAGE`] bytes in the
//! framing the run chose (see [`Framing`]). The echo client issues messages of the
//! scenario's size at offsets that are multiples of it, so with 64-byte messages every
//! message is one line or one frame.

use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes per message, its `\n` or its header included.
const MESSAGE: usize = 64;
/// Messages in the cycle (a prime, so connections do not line up).
const CYCLE_MESSAGES: usize = 251;
const CYCLE: usize = MESSAGE * CYCLE_MESSAGES;
pub const MAX_CHUNK: usize = 64 * 1024;

/// How the messages are cut.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Framing {
    /// Lines: 63 printable bytes and a `\n`.
    Line,
    /// SMPP's shape: a 4-byte big-endian length counting the whole frame (64), then 60
    /// bytes (any byte value, `\n` included).
    Length,
}

impl Framing {
    pub const ALL: [Framing; 2] = [Framing::Line, Framing::Length];

    pub fn name(self) -> &'static str {
        match self {
            Framing::Line => "line",
            Framing::Length => "length",
        }
    }

    pub fn parse(name: &str) -> Option<Framing> {
        Framing::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The framing of the bytes `table` makes: one per run of the client, set before it starts
/// (the echo bench's client, shared by path, calls `table()` without arguments).
static LENGTH: AtomicBool = AtomicBool::new(false);

pub fn set_framing(framing: Framing) {
    LENGTH.store(framing == Framing::Length, Ordering::Relaxed);
}

pub fn framing() -> Framing {
    if LENGTH.load(Ordering::Relaxed) {
        Framing::Length
    } else {
        Framing::Line
    }
}

pub fn table() -> Vec<u8> {
    let framing = framing();
    (0..MAX_CHUNK + CYCLE)
        .map(|i| {
            let (message, at) = ((i / MESSAGE) % CYCLE_MESSAGES, i % MESSAGE);
            match framing {
                Framing::Line if at == MESSAGE - 1 => b'\n',
                Framing::Line => b' ' + ((message * 7 + at) % 94) as u8,
                Framing::Length if at < 4 => (MESSAGE as u32).to_be_bytes()[at],
                Framing::Length => ((message * 7 + at * 13) % 256) as u8,
            }
        })
        .collect()
}

/// Connection `id`'s bytes at stream `offset`: the cycle shifted by whole messages.
pub fn expected(table: &[u8], id: usize, offset: u64, len: usize) -> &[u8] {
    let start = ((offset + (id * 17 * MESSAGE) as u64) % CYCLE as u64) as usize;
    &table[start..start + len]
}
