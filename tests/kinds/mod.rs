//! The one way every behavioural test runs: once per selector backend this platform has,
//! a failure naming the backend. Included by each test helper module with `#[path]`.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use ioloop::selector::SelectorKind;

/// Runs `test` once per backend in [`SelectorKind::available`]; a failure is re-raised
/// with `[selector KIND]` in front of its message.
pub fn for_each_kind(mut test: impl FnMut(SelectorKind)) {
    let kinds = SelectorKind::available();
    assert!(!kinds.is_empty(), "no selector kind is available");
    for kind in kinds {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| test(kind))) {
            match panic_text(payload.as_ref()) {
                Some(message) => panic!("[selector {kind}] {message}"),
                None => resume_unwind(payload),
            }
        }
    }
}

/// The text of a panic payload, if it has one.
pub fn panic_text(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}
