//! `SelectorMap`, Python's `selector.register(fileobj, events, data)` with owned sources, on
//! every backend over real sockets on 127.0.0.1.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ioloop::selector::{Interest, SelectorKey, SelectorKind, SelectorMap, Source};

use common::kinds::{ALL_KINDS, per_kind};
use common::net::{recv_exact, send, tcp_pair};
use common::selector::{ATTEMPTS, QUIET, SANITY, WAIT};

/// Selects until `key` is reported with exactly `ready`; returns the last batch.
fn expect_key<S: Source, T>(
    map: &mut SelectorMap<S, T>,
    key: SelectorKey,
    ready: Interest,
) -> Vec<(SelectorKey, Interest)> {
    let mut seen = Vec::new();
    for _ in 0..ATTEMPTS {
        let batch = map.select(Some(WAIT)).expect("select");
        let mut keys: Vec<SelectorKey> = batch.iter().map(|(key, _)| *key).collect();
        keys.dedup();
        assert_eq!(keys.len(), batch.len(), "a key reported twice: {batch:?}");
        for &(reported, _) in &batch {
            assert!(
                map.contains(reported),
                "a stale key was reported: {batch:?}"
            );
        }
        if batch.contains(&(key, ready)) {
            return batch;
        }
        seen.extend(batch);
    }
    panic!("{key:?} was never reported {ready:?}; saw {seen:?}");
}

/// Selects for a short while and checks that `key` is not reported.
fn expect_no_key<S: Source, T>(map: &mut SelectorMap<S, T>, key: SelectorKey) {
    let batch = map.select(Some(QUIET)).expect("select");
    assert!(
        batch.iter().all(|(reported, _)| *reported != key),
        "{key:?} reported: {batch:?}"
    );
}

fn map_register_returns_a_key_that_finds_the_source_interest_and_data(kind: SelectorKind) {
    let (a, _a_peer) = tcp_pair();
    let (b, _b_peer) = tcp_pair();
    let (a_raw, b_raw) = (a.raw_source(), b.raw_source());
    let mut map: SelectorMap<TcpStream, String> = SelectorMap::with_kind(kind).unwrap();
    assert_eq!(map.kind(), kind);
    assert!(map.is_empty());

    let ka = map.register(a, Interest::READ, "a".to_string()).unwrap();
    let kb = map.register(b, Interest::WRITE, "b".to_string()).unwrap();
    assert_ne!(ka, kb);
    assert_eq!(map.len(), 2);
    assert!(!map.is_empty());
    assert!(map.contains(ka) && map.contains(kb));

    assert_eq!(map.data(ka).map(String::as_str), Some("a"));
    assert_eq!(map.source(ka).map(|s| s.raw_source()), Some(a_raw));
    assert_eq!(map.source(kb).map(|s| s.raw_source()), Some(b_raw));
    assert_eq!(map.interest(ka), Some(Interest::READ));
    assert_eq!(map.interest(kb), Some(Interest::WRITE));
    assert_eq!(map.find(map.source(ka).unwrap()), Some(ka));
    assert_eq!(map.find(map.source(kb).unwrap()), Some(kb));
    let (unregistered, _peer) = tcp_pair();
    assert_eq!(map.find(&unregistered), None);

    map.data_mut(ka).unwrap().push_str("-changed");
    assert_eq!(map.data(ka).map(String::as_str), Some("a-changed"));
    {
        let (source, data) = map.get_mut(kb).unwrap();
        assert_eq!(source.raw_source(), b_raw);
        data.push('!');
    }
    assert_eq!(map.data(kb).map(String::as_str), Some("b!"));

    // Python's get_map().
    let mut all: Vec<(SelectorKey, _, Interest, String)> = map
        .iter()
        .map(|(key, source, interest, data)| (key, source.raw_source(), interest, data.clone()))
        .collect();
    all.sort_by_key(|(_, _, _, data)| data.clone());
    assert_eq!(
        all,
        vec![
            (ka, a_raw, Interest::READ, "a-changed".to_string()),
            (kb, b_raw, Interest::WRITE, "b!".to_string()),
        ]
    );
    let debug = format!("{map:?}");
    assert!(debug.contains("len: 2"), "{debug}");
}

fn map_select_reports_ready_keys_with_their_readiness(kind: SelectorKind) {
    let (a, a_peer) = tcp_pair();
    let (b, _b_peer) = tcp_pair();
    let mut map: SelectorMap<TcpStream, u32> = SelectorMap::with_kind(kind).unwrap();
    let ka = map.register(a, Interest::READ, 1).unwrap();
    let kb = map.register(b, Interest::WRITE, 2).unwrap();
    let batch = expect_key(&mut map, kb, Interest::WRITE);
    assert!(batch.iter().all(|(key, _)| *key != ka), "{batch:?}");
    send(&a_peer, b"ping");
    expect_key(&mut map, ka, Interest::READ);
    // Read it through the map's source; then `a` is quiet again.
    let source = map.source(ka).unwrap();
    assert_eq!(recv_exact(source, 4), b"ping");
    expect_no_key(&mut map, ka);
}

fn map_modify_changes_the_interest(kind: SelectorKind) {
    let (a, a_peer) = tcp_pair();
    let mut map: SelectorMap<TcpStream, ()> = SelectorMap::with_kind(kind).unwrap();
    let key = map.register(a, Interest::NONE, ()).unwrap();
    send(&a_peer, b"x");
    expect_no_key(&mut map, key);
    map.modify(key, Interest::READ).unwrap();
    assert_eq!(map.interest(key), Some(Interest::READ));
    expect_key(&mut map, key, Interest::READ);
    map.modify(key, Interest::BOTH).unwrap();
    expect_key(&mut map, key, Interest::BOTH);
    // Unchanged interest: fine, and still reported.
    map.modify(key, Interest::BOTH).unwrap();
    expect_key(&mut map, key, Interest::BOTH);
    map.modify(key, Interest::WRITE).unwrap();
    assert_eq!(map.interest(key), Some(Interest::WRITE));
    expect_key(&mut map, key, Interest::WRITE);
    assert_eq!(map.len(), 1);
}

fn map_unregister_returns_the_open_source_and_its_data(kind: SelectorKind) {
    let (a, mut a_peer) = tcp_pair();
    let raw = a.raw_source();
    let mut map: SelectorMap<TcpStream, Vec<u8>> = SelectorMap::with_kind(kind).unwrap();
    let key = map.register(a, Interest::READ, b"data".to_vec()).unwrap();
    let (mut source, data) = map.unregister(key).unwrap();
    assert_eq!(data, b"data");
    assert_eq!(source.raw_source(), raw);
    assert!(map.is_empty());
    assert!(!map.contains(key));
    assert_eq!(map.find(&source), None);
    // The source is still open and connected.
    source.write_all(b"still open").unwrap();
    assert_eq!(recv_exact(&a_peer, 10), b"still open");
    a_peer.write_all(b"back").unwrap();
    let mut buf = [0u8; 4];
    source.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"back");
    // It can be registered again, under a new key.
    let again = map.register(source, Interest::WRITE, Vec::new()).unwrap();
    assert_ne!(again, key);
    expect_key(&mut map, again, Interest::WRITE);
}

fn map_unknown_and_stale_keys_are_not_found(kind: SelectorKind) {
    let (a, _a_peer) = tcp_pair();
    let (b, b_peer) = tcp_pair();
    let mut map: SelectorMap<TcpStream, &str> = SelectorMap::with_kind(kind).unwrap();
    let old = map.register(a, Interest::READ, "a").unwrap();
    let (a, _) = map.unregister(old).unwrap();

    let check_stale = |map: &mut SelectorMap<TcpStream, &str>, key: SelectorKey| {
        assert!(!map.contains(key));
        assert!(map.data(key).is_none());
        assert!(map.data_mut(key).is_none());
        assert!(map.source(key).is_none());
        assert!(map.interest(key).is_none());
        assert!(map.get_mut(key).is_none());
        let err = map.modify(key, Interest::WRITE).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let err = map.unregister(key).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    };
    check_stale(&mut map, old);

    // The slot is reused by a new registration: the old key is still stale and must not
    // reach the new one.
    let new = map.register(b, Interest::READ, "b").unwrap();
    assert_ne!(new, old);
    check_stale(&mut map, old);
    assert_eq!(map.len(), 1);
    assert_eq!(map.data(new), Some(&"b"));
    assert_eq!(map.interest(new), Some(Interest::READ));
    send(&b_peer, b"x");
    let batch = expect_key(&mut map, new, Interest::READ);
    assert!(batch.iter().all(|(key, _)| *key != old), "{batch:?}");

    drop(a);
}

/// A source registered through a second handle to the same descriptor (here two shared
/// references, so nothing is closed twice) is `AlreadyExists`; the first registration stays.
fn map_registering_the_same_descriptor_twice_is_already_exists(kind: SelectorKind) {
    let (a, _a_peer) = tcp_pair();
    let mut map: SelectorMap<&TcpStream, u8> = SelectorMap::with_kind(kind).unwrap();
    let key = map.register(&a, Interest::WRITE, 1).unwrap();
    let err = map.register(&a, Interest::READ, 2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(map.len(), 1);
    assert_eq!(map.data(key), Some(&1));
    assert_eq!(map.interest(key), Some(Interest::WRITE));
    assert_eq!(map.find(&a), Some(key));
    expect_key(&mut map, key, Interest::WRITE);
}

fn map_distinct_sources_of_different_kinds_coexist(kind: SelectorKind) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, a_peer) = tcp_pair();
    let mut map: SelectorMap<socket2::Socket, &str> = SelectorMap::with_kind(kind).unwrap();
    let addr = listener.local_addr().unwrap();
    let kl = map
        .register(socket2::Socket::from(listener), Interest::READ, "listener")
        .unwrap();
    let ka = map
        .register(socket2::Socket::from(a), Interest::READ, "stream")
        .unwrap();
    assert_eq!(map.len(), 2);
    let _client = TcpStream::connect(addr).unwrap();
    expect_key(&mut map, kl, Interest::READ);
    send(&a_peer, b"y");
    expect_key(&mut map, ka, Interest::READ);
    assert_eq!(map.data(kl), Some(&"listener"));
    assert_eq!(map.data(ka), Some(&"stream"));
}

fn map_drop_closes_the_sources(kind: SelectorKind) {
    let (a, mut a_peer) = tcp_pair();
    let (b, mut b_peer) = tcp_pair();
    let mut map: SelectorMap<TcpStream, ()> = SelectorMap::with_kind(kind).unwrap();
    map.register(a, Interest::READ, ()).unwrap();
    map.register(b, Interest::NONE, ()).unwrap();
    drop(map);
    let mut buf = [0u8; 8];
    assert_eq!(a_peer.read(&mut buf).unwrap(), 0, "end of file expected");
    assert_eq!(b_peer.read(&mut buf).unwrap(), 0, "end of file expected");
}

fn map_waker_ends_a_blocking_select(kind: SelectorKind) {
    let (a, _a_peer) = tcp_pair();
    let mut map: SelectorMap<TcpStream, ()> = SelectorMap::with_kind(kind).unwrap();
    map.register(a, Interest::READ, ()).unwrap();
    let waker = map.waker();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        waker.wake()
    });
    let start = std::time::Instant::now();
    let batch = map.select(Some(Duration::from_secs(30))).unwrap();
    let elapsed = start.elapsed();
    thread.join().unwrap().unwrap();
    assert!(batch.is_empty(), "{batch:?}");
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < SANITY, "{elapsed:?}");
}

/// Python's echo pattern with the callback as data, unregistering inside the loop: keys
/// removed by an earlier callback of the batch are skipped by lookups.
fn map_callbacks_may_unregister_during_a_batch(kind: SelectorKind) {
    #[derive(Clone, Copy)]
    struct Callback(fn(&mut Map, SelectorKey) -> usize);
    type Map = SelectorMap<TcpStream, Callback>;
    fn close_both(map: &mut Map, key: SelectorKey) -> usize {
        // Unregister every registration, this one included.
        let keys: Vec<SelectorKey> = map.iter().map(|(key, ..)| key).collect();
        for other in keys {
            map.unregister(other).unwrap();
        }
        assert!(!map.contains(key));
        1
    }
    let (a, a_peer) = tcp_pair();
    let (b, b_peer) = tcp_pair();
    let mut map: Map = SelectorMap::with_kind(kind).unwrap();
    map.register(a, Interest::READ, Callback(close_both))
        .unwrap();
    map.register(b, Interest::READ, Callback(close_both))
        .unwrap();
    send(&a_peer, b"1");
    send(&b_peer, b"2");
    let mut calls = 0;
    for _ in 0..ATTEMPTS {
        let batch = map.select(Some(WAIT)).unwrap();
        for (key, _) in batch {
            if let Some(&Callback(callback)) = map.data(key) {
                calls += callback(&mut map, key);
            }
        }
        if map.is_empty() {
            break;
        }
    }
    assert_eq!(calls, 1);
    assert!(map.is_empty());
}

#[test]
fn map_of_an_unavailable_kind_is_unsupported() {
    for kind in ALL_KINDS {
        let result = SelectorMap::<TcpStream, ()>::with_kind(kind);
        if kind.is_available() {
            assert_eq!(result.unwrap().kind(), kind);
        } else {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::Unsupported);
        }
    }
}

/// A map of `Send` sources and data is `Send`, as its selector is: it may be filled on one
/// thread and served on another.
fn map_of_send_sources_and_data_can_move_to_another_thread(kind: SelectorKind) {
    fn assert_send<T: Send>() {}
    assert_send::<SelectorMap<TcpStream, Box<dyn FnMut() + Send>>>();
    let (a, b) = tcp_pair();
    let mut map: SelectorMap<TcpStream, &'static str> = SelectorMap::with_kind(kind).unwrap();
    let key = map.register(a, Interest::READ, "a").unwrap();
    send(&b, b"x");
    let map = std::thread::spawn(move || {
        expect_key(&mut map, key, Interest::READ);
        map
    })
    .join()
    .unwrap();
    assert_eq!(map.data(key), Some(&"a"));
}

per_kind! {
    map_of_send_sources_and_data_can_move_to_another_thread,
    map_register_returns_a_key_that_finds_the_source_interest_and_data,
    map_select_reports_ready_keys_with_their_readiness,
    map_modify_changes_the_interest,
    map_unregister_returns_the_open_source_and_its_data,
    map_unknown_and_stale_keys_are_not_found,
    map_registering_the_same_descriptor_twice_is_already_exists,
    map_distinct_sources_of_different_kinds_coexist,
    map_drop_closes_the_sources,
    map_waker_ends_a_blocking_select,
    map_callbacks_may_unregister_during_a_batch,
}
