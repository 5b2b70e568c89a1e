//! Tokens: a stale token finds nothing after its slot is reused, and `get_mut` by type.

use std::io::Write;

use ioloop::selector::SelectorKind;

use crate::common::LIMIT;
use crate::common::event_loop::{run_steps, run_until, run_until_read, slot_of};
use crate::common::kinds::per_kind;
use crate::common::net::tcp_pair;
use crate::dispatchers::{Echo, Reader, Sender, new_loop};

fn a_stale_token_finds_nothing_after_its_slot_is_reused(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_first_peer, first) = tcp_pair();
    let old = event_loop.spawn(first, Reader::default()).unwrap();
    assert!(event_loop.close(old));
    assert!(!event_loop.close(old));
    let (mut second_peer, second) = tcp_pair();
    let new = event_loop.spawn(second, Reader::default()).unwrap();
    assert_eq!(slot_of(old), slot_of(new), "the slot is reused");
    assert_ne!(old, new);
    assert!(event_loop.get_mut::<Reader>(old).is_none());
    assert!(!event_loop.close(old));
    assert!(event_loop.get_mut::<Reader>(new).is_some());
    event_loop
        .handle()
        .call_soon_threadsafe(move |cx| {
            let found = cx.get_mut::<Reader>(old).is_some();
            let closed = cx.close_channel(old);
            cx.state()
                .push(format!("stale found={found} closed={closed}"));
        })
        .unwrap();
    run_until(&mut event_loop, |log| log.count_prefix("stale") == 1, LIMIT);
    assert!(event_loop.state().has("stale found=false closed=false"));
    assert_eq!(event_loop.len(), 1);
    second_peer.write_all(b"new").unwrap();
    run_until(&mut event_loop, |log| log.data == b"new", LIMIT);
}

fn get_mut_with_the_wrong_type_returns_none(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_peer, local) = tcp_pair();
    let token = event_loop.spawn(local, Reader::default()).unwrap();
    assert!(event_loop.get_mut::<Echo>(token).is_none());
    assert!(event_loop.get_mut::<Sender>(token).is_none());
    assert!(event_loop.get_mut::<Reader>(token).is_some());
}

fn a_change_made_through_get_mut_is_seen_by_writable(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (peer, local) = tcp_pair();
    let token = event_loop.spawn(local, Sender::default()).unwrap();
    run_steps(&mut event_loop, 3);
    assert_eq!(event_loop.state().count("write"), 0);
    event_loop
        .get_mut::<Sender>(token)
        .expect("a Sender")
        .pending = b"queued".to_vec();
    assert_eq!(run_until_read(&mut event_loop, &peer, 6), b"queued");
}

per_kind! {
    a_stale_token_finds_nothing_after_its_slot_is_reused,
    get_mut_with_the_wrong_type_returns_none,
    a_change_made_through_get_mut_is_seen_by_writable,
}
