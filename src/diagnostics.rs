//! Where the crate's own warnings and errors go: to the [`log`] facade when the program
//! installed a logger, and otherwise one line on stderr, so that a failure is never silent
//! in a program that set up no logging (asyncore's `log_info` printed too).
//!
//! "No logger" is read as `log::max_level()` being `Off`, which is what it is until a
//! logger (env_logger, simplelog, …) sets a level. A program that wants silence installs a
//! logger and filters `ioloop`'s targets out.

use std::fmt;

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
        let level = level.as_str().to_ascii_lowercase();
        eprintln!("{target}: {level}: {message}");
    } else {
        log::log!(target: target, level, "{message}");
    }
}
