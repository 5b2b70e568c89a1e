//! The bytes the client sends and expects back: lines of [`LINE`] bytes, the last of each
//! a `\n` and no other. The echo client issues messages of the scenario's size at offsets
//! that are multiples of it, so with 64-byte messages every message is one line.

/// Bytes per line, `\n` included.
const LINE: usize = 64;
/// Lines in the cycle (a prime, so connections do not line up).
const CYCLE_LINES: usize = 251;
const CYCLE: usize = LINE * CYCLE_LINES;
pub const MAX_CHUNK: usize = 64 * 1024;

pub fn table() -> Vec<u8> {
    (0..MAX_CHUNK + CYCLE)
        .map(|i| {
            let (line, at) = ((i / LINE) % CYCLE_LINES, i % LINE);
            if at == LINE - 1 {
                b'\n'
            } else {
                b' ' + ((line * 7 + at) % 94) as u8
            }
        })
        .collect()
}

/// Connection `id`'s bytes at stream `offset`: the cycle shifted by whole lines.
pub fn expected(table: &[u8], id: usize, offset: u64, len: usize) -> &[u8] {
    let start = ((offset + (id * 17 * LINE) as u64) % CYCLE as u64) as usize;
    &table[start..start + len]
}
