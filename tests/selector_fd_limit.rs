//! Python's test_above_fd_setsize: more than `FD_SETSIZE` (1024) descriptors registered at
//! once, many of them numbered above 1024, on every backend. Raising `RLIMIT_NOFILE` affects
//! the whole process, so this file is its own test binary, and its backends' runs take turns
//! (each holds 1 200 descriptors). Unix only.

#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock, PoisonError};

use ioloop::selector::{Events, Interest, Selector, SelectorKind, Source};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use common::kinds::per_kind;
use common::selector::{ATTEMPTS, WAIT, check_events, modify, register, selector, unregister};

const PAIRS: usize = 600;
const WANTED: u64 = 65_536;

/// The backends' runs take turns: each holds `2 * PAIRS` descriptors, as the one test that
/// ran every backend in turn did.
static ONE_BACKEND_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Raises the soft descriptor limit to the hard one (at most `WANTED`), once; returns that
/// hard limit (at most `WANTED`).
fn raised_limit() -> u64 {
    static RAISED: OnceLock<u64> = OnceLock::new();
    *RAISED.get_or_init(|| {
        let limit = getrlimit(Resource::Nofile);
        let hard = limit.maximum.unwrap_or(WANTED).min(WANTED);
        if limit.current.is_some_and(|soft| soft < hard) {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(hard),
                    maximum: limit.maximum,
                },
            )
            .expect("raising RLIMIT_NOFILE");
        }
        hard
    })
}

fn descriptors_above_fd_setsize_are_reported(kind: SelectorKind) {
    let _turn = ONE_BACKEND_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let hard = raised_limit();
    if hard < 2 * PAIRS as u64 + 900 {
        eprintln!("note: RLIMIT_NOFILE hard limit {hard} is too low; test skipped");
        return;
    }

    let pairs: Vec<(UnixStream, UnixStream)> = (0..PAIRS)
        .map(|_| UnixStream::pair().expect("socket pair"))
        .collect();
    let highest = pairs
        .iter()
        .map(|(reader, writer)| reader.raw_source().max(writer.raw_source()))
        .max()
        .unwrap();
    assert!(highest > 1024, "highest descriptor {highest}");
    let above = pairs
        .iter()
        .filter(|(reader, writer)| reader.raw_source() > 1024 && writer.raw_source() > 1024)
        .count();
    assert!(above > 0, "no pair numbered above 1024");

    let mut sel = selector(kind);
    let mut events = Events::new();
    // Reader i has key 2i (READ), its writer 2i + 1 (WRITE), as in Python's test.
    for (i, (reader, writer)) in pairs.iter().enumerate() {
        register(&mut sel, reader, 2 * i, Interest::READ).unwrap();
        register(&mut sel, writer, 2 * i + 1, Interest::WRITE).unwrap();
    }
    assert_eq!(sel.len(), 2 * PAIRS);

    // Every writer is ready, no reader: gathered over a bounded number of selects, since
    // a backend may report a large set over several calls.
    let mut writers = HashSet::new();
    for _ in 0..20 {
        sel.select(&mut events, Some(WAIT)).unwrap();
        check_events(&events);
        for event in &events {
            assert_eq!(event.key() % 2, 1, "a reader was reported: {event:?}");
            assert_eq!(event.readiness(), Interest::WRITE, "{event:?}");
            writers.insert(event.key());
        }
        if writers.len() == PAIRS {
            break;
        }
    }
    assert_eq!(writers.len(), PAIRS, "not every writer was reported");

    // A byte into the highest-numbered pair makes exactly its reader ready.
    let (index, (reader, writer)) = pairs
        .iter()
        .enumerate()
        .max_by_key(|(_, (reader, _))| reader.raw_source())
        .unwrap();
    assert!(reader.raw_source() > 1024);
    modify(&mut sel, writer, 2 * index + 1, Interest::NONE).unwrap();
    let mut writer_ref: &UnixStream = writer;
    writer_ref.write_all(b"!").unwrap();
    let mut found = false;
    for _ in 0..ATTEMPTS {
        sel.select(&mut events, Some(WAIT)).unwrap();
        check_events(&events);
        if events
            .iter()
            .any(|event| event.key() == 2 * index && event.readiness() == Interest::READ)
        {
            found = true;
            break;
        }
    }
    assert!(
        found,
        "the reader numbered {} was never reported",
        reader.raw_source()
    );
    let mut byte = [0u8; 1];
    let mut reader_ref: &UnixStream = reader;
    reader_ref.read_exact(&mut byte).unwrap();

    for (reader, writer) in &pairs {
        unregister(&mut sel, reader).unwrap();
        unregister(&mut sel, writer).unwrap();
    }
    assert!(sel.is_empty());
}

per_kind! {
    descriptors_above_fd_setsize_are_reported,
}
