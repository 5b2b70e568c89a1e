//! Timers: deadline order, never early, cancelled, and dropped with their channel.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, TimerId, Token};

use crate::common::LIMIT;
use crate::common::event_loop::{Log, run_steps, run_until, slot_of};
use crate::common::kinds::per_kind;
use crate::common::net::tcp_pair;
use crate::dispatchers::{Cx, new_loop, quiet_socket};

/// Logs its timers with their delay and whether they fired early.
#[derive(Default)]
struct Timed {
    name: &'static str,
    /// Each timer with its delay and when it was set (taken before `call_later`).
    set: Vec<(TimerId, Duration, Instant)>,
}

impl Dispatcher<Log> for Timed {
    fn handle_timer(&mut self, cx: &mut Cx<'_>, timer: TimerId) -> io::Result<()> {
        let now = Instant::now();
        let (_, delay, set_at) = *self
            .set
            .iter()
            .find(|(id, _, _)| *id == timer)
            .expect("a timer this channel set");
        let early = now.duration_since(set_at) < delay;
        let name = self.name;
        cx.state().push(format!(
            "{name} timer {}ms early={early}",
            delay.as_millis()
        ));
        Ok(())
    }
}

/// Sets a timer of `delay` for `token`'s `Timed` channel.
fn set_timer(cx: &mut Cx<'_>, token: Token, delay: Duration) -> TimerId {
    let set_at = Instant::now();
    let id = cx.call_later_for(token, delay);
    cx.get_mut::<Timed>(token)
        .expect("a Timed channel")
        .set
        .push((id, delay, set_at));
    id
}

fn timers_fire_in_deadline_order_and_never_early(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let token = event_loop
        .spawn(
            quiet_socket(),
            Timed {
                name: "t",
                set: Vec::new(),
            },
        )
        .unwrap();
    event_loop
        .handle()
        .call_soon_threadsafe(move |cx| {
            set_timer(cx, token, Duration::from_millis(30));
            set_timer(cx, token, Duration::from_millis(10));
        })
        .unwrap();
    run_until(&mut event_loop, |log| log.events.len() == 2, LIMIT);
    assert_eq!(
        event_loop.state().events,
        ["t timer 10ms early=false", "t timer 30ms early=false"]
    );
}

/// Sets a timer from inside its own callback with `call_later`.
struct SelfTimed {
    set_at: Option<Instant>,
}

impl Dispatcher<Log> for SelfTimed {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        cx.recv(&mut buf)?;
        self.set_at = Some(Instant::now());
        cx.call_later(Duration::from_millis(20));
        Ok(())
    }

    fn handle_timer(&mut self, cx: &mut Cx<'_>, _: TimerId) -> io::Result<()> {
        let elapsed = self.set_at.expect("set").elapsed();
        let early = elapsed < Duration::from_millis(20);
        cx.state().push(format!("timer early={early}"));
        Ok(())
    }
}

fn call_later_from_a_callback_fires_on_that_channel(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (mut peer, local) = tcp_pair();
    event_loop.spawn(local, SelfTimed { set_at: None }).unwrap();
    peer.write_all(b"go").unwrap();
    run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
    run_steps(&mut event_loop, 3);
    assert_eq!(event_loop.state().events, ["timer early=false"]);
}

fn a_cancelled_timer_never_fires(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let token = event_loop
        .spawn(
            quiet_socket(),
            Timed {
                name: "t",
                set: Vec::new(),
            },
        )
        .unwrap();
    event_loop
        .handle()
        .call_soon_threadsafe(move |cx| {
            let cancelled = set_timer(cx, token, Duration::from_millis(20));
            let first = cx.cancel(cancelled);
            let second = cx.cancel(cancelled);
            cx.state().push(format!("cancel {first} {second}"));
            set_timer(cx, token, Duration::from_millis(60));
        })
        .unwrap();
    run_until(&mut event_loop, |log| log.events.len() == 2, LIMIT);
    assert_eq!(
        event_loop.state().events,
        ["cancel true false", "t timer 60ms early=false"]
    );
}

fn timers_of_a_closed_channel_are_dropped_even_when_its_slot_is_reused(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let timed = |name| Timed {
        name,
        set: Vec::new(),
    };
    let doomed = event_loop.spawn(quiet_socket(), timed("doomed")).unwrap();
    let witness = event_loop.spawn(quiet_socket(), timed("witness")).unwrap();
    let replacement = quiet_socket();
    event_loop
        .handle()
        .call_soon_threadsafe(move |cx| {
            set_timer(cx, doomed, Duration::from_millis(10));
            set_timer(cx, witness, Duration::from_millis(60));
            cx.close_channel(doomed);
            let fresh = cx.spawn(replacement, timed("fresh")).unwrap();
            let reused = slot_of(fresh) == slot_of(doomed);
            cx.state().push(format!("reused={reused}"));
        })
        .unwrap();
    run_until(
        &mut event_loop,
        |log| log.count_prefix("witness") == 1,
        LIMIT,
    );
    assert_eq!(
        event_loop.state().events,
        ["reused=true", "witness timer 60ms early=false"]
    );
}

per_kind! {
    timers_fire_in_deadline_order_and_never_early,
    call_later_from_a_callback_fires_on_that_channel,
    a_cancelled_timer_never_fires,
    timers_of_a_closed_channel_are_dropped_even_when_its_slot_is_reused,
}
