//! A global allocator that counts the allocations (and reallocations) made by the threads
//! that asked to be counted, each into its own counter: the server threads, not the client.

// Clippy 1.85 (the MSRV's, run by ci/cross.sh) asks for `const` on `COUNTER` on Windows
// although its initialiser is const already: a false positive of that version.
#![allow(clippy::missing_const_for_thread_local)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct CountingAlloc;

thread_local! {
    // Const-initialised and without a destructor: safe to touch from inside the allocator.
    static COUNTER: Cell<Option<&'static AtomicU64>> = const { Cell::new(None) };
}

/// From now on, the calling thread's allocations add to `counter`.
pub fn count_this_thread(counter: &'static AtomicU64) {
    COUNTER.with(|c| c.set(Some(counter)));
}

fn count() {
    let _ = COUNTER.try_with(|c| {
        if let Some(counter) = c.get() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
}

// SAFETY: every call is passed to `System` unchanged; counting touches no allocation.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}
