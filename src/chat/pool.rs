//! A few spare byte buffers per thread, shared by the chat channels running on it. A channel
//! gives its input, message and output buffers back as soon as they hold nothing (so an idle
//! channel keeps no memory) and takes one when data comes: a wake-up that reads a line and
//! answers it then costs no trip to the allocator.

// The initializer below is `const`; the clippy of Rust 1.85 (ci/cross.sh) says otherwise on
// some targets.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::RefCell;

/// Buffers kept per thread.
const KEEP: usize = 4;
/// Larger buffers go back to the allocator.
const MAX_CAPACITY: usize = 64 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes: a spare one if there is one.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    match SPARE.try_with(|spare| spare.borrow_mut().pop()) {
        Ok(Some(mut buffer)) => {
            // Exactly: a doubled spare could pass MAX_CAPACITY and be dropped by `give`,
            // to be allocated again by the next take.
            buffer.reserve_exact(capacity);
            buffer
        }
        _ => Vec::with_capacity(capacity),
    }
}

/// Keeps `buffer` (emptied) for the next [`take`], unless enough are kept or it is large.
pub(crate) fn give(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > MAX_CAPACITY {
        return;
    }
    buffer.clear();
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < KEEP {
            spare.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_comes_back_empty_and_large_ones_are_not_kept() {
        let mut buffer = Vec::with_capacity(1000);
        buffer.extend_from_slice(b"old");
        let at = buffer.as_ptr();
        give(buffer);
        let again = take(10);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), at);
        give(Vec::with_capacity(MAX_CAPACITY + 1));
        assert_eq!(take(0).capacity(), 0);
    }
}
