//! The bytes the client sends and expects back.

/// The byte stream a connection sends: a 251-cycle shifted per connection, compared with
/// memcmp against one table.
const CYCLE: usize = 251;
pub const MAX_CHUNK: usize = 64 * 1024;

pub fn table() -> Vec<u8> {
    (0..MAX_CHUNK + CYCLE).map(|i| (i % CYCLE) as u8).collect()
}

pub fn expected(table: &[u8], id: usize, offset: u64, len: usize) -> &[u8] {
    let start = ((offset + id as u64 * 17) % CYCLE as u64) as usize;
    &table[start..start + len]
}
