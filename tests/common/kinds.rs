//! The selector kinds the tests run on, and the one way a behavioural test runs once per
//! backend: [`per_kind!`] makes a `#[test]` per kind, named `KIND::test` (`epoll::name`,
//! `poll::name`, `select::name` on Linux), so a failure names its backend and a filter picks
//! a backend's tests. The two harness-less binaries name and select their runs the same way
//! ([`run_without_harness`]).
//!
//! A filter matches any part of a name, and `epoll::` ends in `poll::`: `cargo test poll`
//! runs the poll and the epoll tests, `cargo test poll:: -- --skip epoll::` the poll tests
//! alone, `cargo test select::` the select tests.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ioloop::selector::SelectorKind;

use super::panic_message;

/// Every kind, available on this platform or not, in `SelectorKind`'s order.
pub const ALL_KINDS: [SelectorKind; 6] = [
    SelectorKind::Epoll,
    SelectorKind::Kqueue,
    SelectorKind::Iocp,
    SelectorKind::EventPorts,
    SelectorKind::Poll,
    SelectorKind::Select,
];

/// A kind this platform lacks (every platform lacks some).
pub fn unavailable_kind() -> SelectorKind {
    ALL_KINDS
        .into_iter()
        .find(|kind| !kind.is_available())
        .expect("no platform has every selector kind")
}

/// The one table of the kinds a target has tests for (the cfgs of
/// `SelectorKind::is_available`): calls `$callback!` once per kind with the kind's module
/// name, its variant and its cfg predicate in brackets, followed by `$($rest)*`.
macro_rules! with_kind_cfgs {
    ($callback:path { $($rest:tt)* }) => {
        $callback! { epoll Epoll [any(target_os = "linux", target_os = "android")] $($rest)* }
        $callback! {
            kqueue Kqueue [any(
                target_vendor = "apple",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "openbsd",
                target_os = "dragonfly"
            )]
            $($rest)*
        }
        $callback! { iocp Iocp [windows] $($rest)* }
        $callback! {
            event_ports EventPorts [any(target_os = "illumos", target_os = "solaris")] $($rest)*
        }
        $callback! { poll Poll [unix] $($rest)* }
        $callback! {
            select Select [any(
                windows,
                all(unix, not(any(target_os = "illumos", target_os = "solaris")))
            )]
            $($rest)*
        }
    };
}

/// Turns tests written once as `fn name(kind: SelectorKind)` into one `#[test]` per backend
/// this target has: a module per kind (`epoll`, `kqueue`, `iocp`, `event_ports`, `poll`,
/// `select`, each under its cfg in [`with_kind_cfgs!`]) whose `name` runs `super::name(KIND)`
/// through [`run`]. Attributes written before a name (a `#[cfg]`) go on its tests.
///
/// ```ignore
/// fn reads_what_was_sent(kind: SelectorKind) { /* … */ }
///
/// per_kind! {
///     reads_what_was_sent,
///     #[cfg(unix)]
///     reads_a_pipe,
/// }
/// ```
///
/// One invocation per module: it declares the kinds' modules.
#[allow(unused_macros)] // not every test binary runs tests per kind
macro_rules! per_kind {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $crate::common::kinds::with_kind_cfgs! {
            $crate::common::kinds::kind_module { $($(#[$attr])* $name)* }
        }
    };
}

/// [`per_kind!`]'s module for one kind.
#[allow(unused_macros)] // as `per_kind!`
macro_rules! kind_module {
    ($module:ident $kind:ident [$($cfg:tt)*] $($(#[$attr:meta])* $name:ident)*) => {
        #[cfg($($cfg)*)]
        mod $module {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    $crate::common::kinds::run(
                        ::ioloop::selector::SelectorKind::$kind,
                        super::$name,
                    );
                }
            )*
        }
    };
}

/// Pushes a kind onto the vector named last if the target has the kind.
macro_rules! push_kind {
    ($module:ident $kind:ident [$($cfg:tt)*] $kinds:ident) => {
        #[cfg($($cfg)*)]
        $kinds.push(SelectorKind::$kind);
    };
}

// Not every test binary runs tests per kind.
#[allow(unused_imports)]
pub(crate) use {kind_module, per_kind, with_kind_cfgs};

/// The kinds [`per_kind!`] makes tests for on this target, best first; a test
/// (tests/selector.rs) checks that they are `SelectorKind::available()`.
#[allow(clippy::vec_init_then_push)] // one push per kind, each under its cfg
pub fn compiled_kinds() -> Vec<SelectorKind> {
    let mut kinds = Vec::new();
    with_kind_cfgs! { push_kind { kinds } }
    kinds
}

/// Runs `test` on `kind`; a kind compiled in but not available here (which
/// `SelectorKind::is_available` decides) is skipped with a note, not failed.
pub fn run(kind: SelectorKind, test: impl FnOnce(SelectorKind)) {
    if !kind.is_available() {
        println!("note: the {kind} selector is not available here; test skipped");
        return;
    }
    test(kind);
}

/// The name of `kind`'s module in test names (`event_ports` for `event-ports`).
pub fn module_name(kind: SelectorKind) -> String {
    kind.name().replace('-', "_")
}

/// A named check of a harness-less test binary, run once per backend.
pub type Check = (&'static str, fn(SelectorKind));

/// For the test binaries that run without the harness (`harness = false`): runs every check
/// on every available kind in turn, printing `test KIND::NAME ... ok` (or `FAILED` with the
/// panic's message) as the harness would name a [`per_kind!`] test, then
/// `BINARY: N passed, M failed`; exits with status 1 on a failure. The command line selects
/// as the harness's does ([`Selection`]), so `cargo test poll` or `-- --list` mean the same
/// here.
pub fn run_without_harness(binary: &str, checks: &[Check]) {
    let selection = Selection::from_args();
    let kinds = SelectorKind::available();
    assert!(!kinds.is_empty(), "no selector kind is available");
    let (mut passed, mut failed, mut listed) = (0, 0, 0);
    for kind in kinds {
        let module = module_name(kind);
        for (name, check) in checks {
            let full_name = format!("{module}::{name}");
            if !selection.wants(&full_name) {
                continue;
            }
            if selection.list {
                listed += 1;
                println!("{full_name}: test");
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| check(kind))) {
                Ok(()) => {
                    passed += 1;
                    println!("test {full_name} ... ok");
                }
                Err(payload) => {
                    failed += 1;
                    println!(
                        "test {full_name} ... FAILED: {}",
                        panic_message(payload.as_ref())
                    );
                }
            }
        }
    }
    if selection.list {
        println!("\n{listed} tests, 0 benchmarks");
        return;
    }
    println!("{binary}: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Which tests a harness-less binary was asked for, read from its command line as the
/// harness reads it: names containing a filter (every name if there is none) and no
/// `--skip` value, or equal to them with `--exact`; `--list` lists them instead of running
/// them. The harness's other options are accepted and ignored.
#[derive(Debug, Default)]
pub struct Selection {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    /// List the selected tests instead of running them.
    pub list: bool,
}

impl Selection {
    pub fn from_args() -> Selection {
        Selection::parse(std::env::args().skip(1))
    }

    pub fn parse(args: impl IntoIterator<Item = String>) -> Selection {
        // The harness's options that take their value as the next argument.
        const WITH_VALUE: [&str; 6] = [
            "--test-threads",
            "--color",
            "--format",
            "--logfile",
            "--shuffle-seed",
            "-Z",
        ];
        let mut selection = Selection::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--list" => selection.list = true,
                "--exact" => selection.exact = true,
                "--skip" => selection.skips.extend(args.next()),
                option if WITH_VALUE.contains(&option) => {
                    args.next();
                }
                option if option.starts_with('-') => {}
                _ => selection.filters.push(arg),
            }
        }
        selection
    }

    /// Whether the test named `name` is selected.
    pub fn wants(&self, name: &str) -> bool {
        let matches = |pattern: &String| {
            if self.exact {
                name == pattern
            } else {
                name.contains(pattern.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skips.iter().any(matches)
    }
}
