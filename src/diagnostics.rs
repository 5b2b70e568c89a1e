//! Where the crate's own warnings and errors go: to the [`log`] facade when the program
//! installed a logger, and otherwise one line on stderr, so that a failure is never silent
//! in a program that set up no logging (asyncore's `log_info` printed too).
//!
//! "No logger" is read as `log::max_level()` being `Off`, which is what it is until a
//! logger (env_logger, simplelog, …) sets a level. A logger whose filter turns everything
//! off sets it to `Off` too: a program that wants silence then also calls
//! [`set_stderr_fallback(false)`](crate::set_stderr_fallback).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether messages go to stderr when no logger listens.
static STDERR_FALLBACK: AtomicBool = AtomicBool::new(true);

/// Whether the crate's warnings and errors go to stderr when no `log` logger listens
/// (`log::max_level()` is `Off`): on by default, so that a program with no logging set up
/// still sees why a channel closed. Turn it off for silence, e.g. with a logger configured
/// to drop everything (`RUST_LOG=off`).
///
/// ```
/// ioloop::set_stderr_fallback(false); // nothing from ioloop without a logger
/// # ioloop::set_stderr_fallback(true);
/// ```
pub fn set_stderr_fallback(enabled: bool) {
    STDERR_FALLBACK.store(enabled, Ordering::Relaxed);
}

/// Emits a warning or an error: `report!(Error, target: "ioloop::…", "format", args…)`.
macro_rules! report {
    ($level:ident, target: $target:expr, $($arg:tt)+) => {
        $crate::diagnostics::emit(log::Level::$level, $target, format_args!($($arg)+))
    };
}
pub(crate) use report;

/// Sends one message to the logger, or to stderr when no logger is installed.
#[cold]
pub(crate) fn emit(level: log::Level, target: &str, message: fmt::Arguments<'_>) {
    if log::max_level() == log::LevelFilter::Off {
        if !STDERR_FALLBACK.load(Ordering::Relaxed) {
            return;
        }
        let level = level.as_str().to_ascii_lowercase();
        eprintln!("{target}: {level}: {message}");
    } else {
        log::log!(target: target, level, "{message}");
    }
}
