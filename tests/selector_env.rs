//! The `IOLOOP_SELECTOR` override. Environment variables are global to the process, so this
//! file holds a single test (its own process, no parallel readers) that sets, checks and
//! removes the variable in sequence.

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;

use ioloop::selector::{DefaultSelector, SELECTOR_ENV, Selector, SelectorKind, SelectorMap};

use common::kinds::unavailable_kind;

fn set(value: &str) {
    // SAFETY: this is the only test in this binary, so no other thread reads or writes the
    // environment meanwhile.
    unsafe { std::env::set_var(SELECTOR_ENV, value) };
}

fn unset() {
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var(SELECTOR_ENV) };
}

#[test]
fn selector_env_override_is_honoured_by_every_default_constructor() {
    assert_eq!(SELECTOR_ENV, "IOLOOP_SELECTOR");

    unset();
    assert_eq!(SelectorKind::from_env().unwrap(), SelectorKind::best());
    assert_eq!(DefaultSelector::new().unwrap().kind(), SelectorKind::best());

    for kind in SelectorKind::available() {
        for value in [
            kind.name().to_string(),
            kind.name().to_ascii_uppercase(),
            format!(" {} ", kind.name()),
        ] {
            set(&value);
            assert_eq!(SelectorKind::from_env().unwrap(), kind, "{value:?}");
            assert_eq!(DefaultSelector::new().unwrap().kind(), kind, "{value:?}");
            let map: SelectorMap<TcpStream, ()> = SelectorMap::new().unwrap();
            assert_eq!(map.kind(), kind, "{value:?}");
        }
    }

    for value in ["auto", "AUTO", ""] {
        set(value);
        assert_eq!(
            SelectorKind::from_env().unwrap(),
            SelectorKind::best(),
            "{value:?}"
        );
        assert_eq!(DefaultSelector::new().unwrap().kind(), SelectorKind::best());
    }

    // A wrong value is reported, never silently replaced; the message names the variable,
    // the value and the kinds available here.
    set("no-such-selector");
    let err = SelectorKind::from_env().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let message = err.to_string();
    assert!(message.contains(SELECTOR_ENV), "{message}");
    assert!(message.contains("no-such-selector"), "{message}");
    for kind in SelectorKind::available() {
        assert!(message.contains(kind.name()), "{message}");
    }
    assert_eq!(
        DefaultSelector::new().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        SelectorMap::<TcpStream, ()>::new().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );

    let unavailable = unavailable_kind();
    set(unavailable.name());
    let err = SelectorKind::from_env().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let message = err.to_string();
    assert!(message.contains(SELECTOR_ENV), "{message}");
    for kind in SelectorKind::available() {
        assert!(message.contains(kind.name()), "{message}");
    }
    assert_eq!(
        DefaultSelector::new().unwrap_err().kind(),
        ErrorKind::Unsupported
    );

    // An explicit choice ignores the variable.
    for kind in SelectorKind::available() {
        assert_eq!(DefaultSelector::with_kind(kind).unwrap().kind(), kind);
    }

    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"po\xffll");
        // SAFETY: as in `set`.
        unsafe { std::env::set_var(SELECTOR_ENV, bad) };
        let err = SelectorKind::from_env().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(SELECTOR_ENV), "{err}");
    }

    unset();
    assert_eq!(SelectorKind::from_env().unwrap(), SelectorKind::best());
}
