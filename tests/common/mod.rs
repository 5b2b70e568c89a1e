//! The helpers of every test binary under tests/: each tests/NAME.rs declares `mod common;`,
//! tests/event_loop/main.rs includes this file with `#[path]`. Each binary uses its own part.
//!
//! - [`kinds`]: the selector kinds, and [`per_kind!`](kinds::per_kind), which turns a test
//!   written once as `fn name(kind: SelectorKind)` into one `#[test]` per backend
//!   (`epoll::name`, `poll::name`, `select::name` on Linux).
//! - [`net`]: loopback socket pairs and bounded blocking reads.
//! - [`selector`]: driving a bare `Selector` and checking its events.
//! - [`event_loop`]: driving an `EventLoop` in bounded steps, and a log for its callbacks.
//! - [`chat`]: the chat-layer tests' recording state and listener.
//! - [`example`]: starting and stopping the example servers.

#![allow(dead_code)] // each test binary uses its own part

pub mod chat;
pub mod event_loop;
pub mod example;
pub mod kinds;
pub mod net;
pub mod selector;

use std::any::Any;
use std::thread;
use std::time::Duration;

/// How long any wait in the tests may last before it counts as a failure; also the read and
/// write timeout of the tests' own blocking sockets.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

/// Runs `body` on a thread of its own (an `EventLoop` is not `Send`: build it there) and
/// returns its result; panics if it takes longer than [`LIMIT`] or panics itself.
pub fn on_thread<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the thread did not finish within {LIMIT:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the thread panicked"),
    }
}

/// A payload whose bytes depend on their position, so a lost, doubled or reordered chunk
/// shows.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32 * 7) as u8 ^ (i >> 8) as u8)
        .collect()
}

/// A small deterministic pseudo-random sequence (an LCG), so tests need no `rand`.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    /// A number in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}
