//! Python's test_above_fd_setsize: more than `FD_SETSIZE` (1024) descriptors registered at
//! once, many of them numbered above 1024, on every backend. Raising `RLIMIT_NOFILE` affects
//! the whole process, so this file is its own test binary with a single test.

#[cfg(unix)]
mod kinds;
#[cfg(unix)]
mod util;

#[cfg(unix)]
#[test]
fn descriptors_above_fd_setsize_are_reported_on_every_backend() {
    use std::collections::HashSet;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use ioloop::selector::{Events, Interest, Selector, Source};
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    use util::{check_events, for_each_kind, register, selector};

    const PAIRS: usize = 600;
    const WANTED: u64 = 65_536;

    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(WANTED).min(WANTED);
    if hard < 2 * PAIRS as u64 + 900 {
        eprintln!("note: RLIMIT_NOFILE hard limit {hard} is too low; test skipped");
        return;
    }
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

    for_each_kind(|kind| {
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
            sel.select(&mut events, Some(util::WAIT)).unwrap();
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
        sel.modify(writer.as_source(), 2 * index + 1, Interest::NONE)
            .unwrap();
        let mut writer_ref: &UnixStream = writer;
        writer_ref.write_all(b"!").unwrap();
        let mut found = false;
        for _ in 0..util::ATTEMPTS {
            sel.select(&mut events, Some(util::WAIT)).unwrap();
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
            sel.unregister(reader.as_source()).unwrap();
            sel.unregister(writer.as_source()).unwrap();
        }
        assert!(sel.is_empty());
    });
}
