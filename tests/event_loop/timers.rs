//! Timers: deadline order, never early, cancelled, and dropped with their channel;
//! repeating ones (`call_every`, `schedule_every`), closures (`schedule`), and moving one
//! (`reschedule`).

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, EventLoop, TimerId, Token};

use crate::common::LIMIT;
use crate::common::event_loop::{Log, run_steps, run_until, run_until_loop, slot_of};
use crate::common::kinds::per_kind;
use crate::common::net::tcp_pair;
use crate::dispatchers::{Cx, Echo, check_echo_still_works, new_loop, quiet_socket};

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

/// How many timers the loop holds, read from its `Debug` output (`timers: N`).
fn timer_count<S>(event_loop: &EventLoop<S>) -> usize {
    let text = format!("{event_loop:?}");
    let rest = text
        .split("timers: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no timer count in {text}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no timer count in {text}"))
}

/// Sets a repeating timer of `INTERVAL` when opened; logs each tick with whether it came
/// early, and cancels the timer at tick `cancel_at` or closes the channel at `close_at`.
struct Ticker {
    cancel_at: Option<usize>,
    close_at: Option<usize>,
    timer: Option<TimerId>,
    started: Option<Instant>,
    ticks: u32,
}

const INTERVAL: Duration = Duration::from_millis(10);

impl Ticker {
    fn new(cancel_at: Option<usize>, close_at: Option<usize>) -> Ticker {
        Ticker {
            cancel_at,
            close_at,
            timer: None,
            started: None,
            ticks: 0,
        }
    }
}

impl Dispatcher<Log> for Ticker {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.started = Some(Instant::now());
        self.timer = Some(cx.call_every(INTERVAL));
        Ok(())
    }

    fn handle_timer(&mut self, cx: &mut Cx<'_>, timer: TimerId) -> io::Result<()> {
        assert_eq!(Some(timer), self.timer, "a timer this channel did not set");
        self.ticks += 1;
        // The n-th tick is due n intervals after the start, never before.
        let early = self.started.expect("opened").elapsed() < INTERVAL * self.ticks;
        cx.state().push(format!("tick early={early}"));
        let ticks = self.ticks as usize;
        if self.cancel_at == Some(ticks) {
            let first = cx.cancel(timer);
            let second = cx.cancel(timer);
            cx.state().push(format!("cancel {first} {second}"));
        }
        if self.close_at == Some(ticks) {
            cx.close();
        }
        Ok(())
    }
}

fn call_every_fires_repeatedly_until_cancelled(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(quiet_socket(), Ticker::new(Some(3), None))
        .unwrap();
    run_until(
        &mut event_loop,
        |log| log.count_prefix("cancel") == 1,
        LIMIT,
    );
    assert_eq!(timer_count(&event_loop), 0);
    // Well past a few more intervals: no tick after the cancel.
    run_steps(&mut event_loop, 10);
    assert_eq!(
        event_loop.state().events,
        [
            "tick early=false",
            "tick early=false",
            "tick early=false",
            "cancel true false"
        ]
    );
    assert_eq!(event_loop.len(), 1);
}

fn a_repeating_timer_stops_when_its_channel_closes(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let witness = event_loop
        .spawn(quiet_socket(), Ticker::new(None, None))
        .unwrap();
    event_loop
        .spawn(quiet_socket(), Ticker::new(None, Some(2)))
        .unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
    // The closed channel's timer goes (at once, or when it comes due); the witness's stays.
    run_until_loop(
        &mut event_loop,
        |event_loop| timer_count(event_loop) == 1,
        LIMIT,
    );
    event_loop.close(witness);
    run_until_loop(
        &mut event_loop,
        |event_loop| timer_count(event_loop) == 0,
        LIMIT,
    );
    assert!(event_loop.is_empty());
}

fn schedule_runs_a_closure_once_after_the_delay_never_early(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let delay = Duration::from_millis(30);
    // From the loop, and from a loop-level context.
    let set_at = Instant::now();
    event_loop.schedule(delay, move |cx| {
        let early = set_at.elapsed() < delay;
        cx.state().push(format!("loop job early={early}"));
    });
    event_loop
        .handle()
        .call_soon_threadsafe(move |cx| {
            let set_at = Instant::now();
            cx.schedule(delay, move |cx| {
                let early = set_at.elapsed() < delay;
                let own = cx.token();
                cx.state()
                    .push(format!("context job early={early} token={own:?}"));
            });
        })
        .unwrap();
    run_until(&mut event_loop, |log| log.events.len() == 2, LIMIT);
    run_steps(&mut event_loop, 5);
    let mut events = event_loop.state().events.clone();
    events.sort();
    assert_eq!(
        events,
        ["context job early=false token=None", "loop job early=false"]
    );
    assert_eq!(timer_count(&event_loop), 0);
}

fn schedule_every_runs_until_cancelled_from_the_loop_or_from_the_closure(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let outside = event_loop.schedule_every(Duration::from_millis(5), |cx| {
        cx.state().push("outside");
    });
    let own_id: Rc<Cell<Option<TimerId>>> = Rc::default();
    let inside = event_loop.schedule_every(Duration::from_millis(5), {
        let own_id = own_id.clone();
        move |cx| {
            cx.state().push("inside");
            if cx.state().count("inside") == 3 {
                let cancelled = cx.cancel(own_id.get().expect("the id"));
                cx.state().push(format!("inside cancelled {cancelled}"));
            }
        }
    });
    own_id.set(Some(inside));
    run_until(
        &mut event_loop,
        |log| log.count("outside") >= 3 && log.has("inside cancelled true"),
        LIMIT,
    );
    assert!(event_loop.cancel(outside));
    assert!(!event_loop.cancel(outside), "cancelled twice");
    assert!(!event_loop.cancel(inside), "cancelled twice");
    assert_eq!(timer_count(&event_loop), 0);
    let outside_runs = event_loop.state().count("outside");
    run_steps(&mut event_loop, 5);
    let log = event_loop.state();
    assert_eq!(log.count("outside"), outside_runs, "ran after cancel");
    assert_eq!(log.count("inside"), 3, "ran after cancel");
}

fn a_panicking_repeating_closure_is_cancelled_and_the_loop_goes_on(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let failing = event_loop.schedule_every(Duration::from_millis(5), |cx| {
        cx.state().push("failing");
        panic!("a repeating job exploded");
    });
    event_loop.schedule_every(Duration::from_millis(5), |cx| {
        cx.state().push("steady");
    });
    run_until(&mut event_loop, |log| log.count("steady") >= 5, LIMIT);
    assert_eq!(event_loop.state().count("failing"), 1);
    assert!(
        !event_loop.cancel(failing),
        "the panicking timer is still set"
    );
    assert_eq!(timer_count(&event_loop), 1);
    let (mut peer, local) = tcp_pair();
    event_loop.spawn(local, Echo::default()).unwrap();
    check_echo_still_works(&mut event_loop, &mut peer);
}

fn reschedule_moves_a_timer_later_and_a_fired_one_shot_cannot_be_moved(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let fired: Rc<Cell<Option<Instant>>> = Rc::default();
    let id = event_loop.schedule(Duration::from_millis(10), {
        let fired = fired.clone();
        move |cx| {
            fired.set(Some(Instant::now()));
            cx.state().push("fired");
        }
    });
    let later = Duration::from_millis(80);
    let moved_at = Instant::now();
    assert!(event_loop.reschedule(id, later));
    run_until(&mut event_loop, |log| log.has("fired"), LIMIT);
    let after = fired.get().expect("fired").duration_since(moved_at);
    assert!(
        after >= later,
        "fired {after:?} after the reschedule, before the new deadline {later:?}"
    );
    run_steps(&mut event_loop, 3);
    assert_eq!(event_loop.state().count("fired"), 1);
    assert!(
        !event_loop.reschedule(id, later),
        "a fired one-shot timer moved"
    );
    assert!(!event_loop.cancel(id), "a fired one-shot timer cancelled");
    assert_eq!(timer_count(&event_loop), 0);
}

/// Arms an idle timer when opened, and pushes it back on every read (the doc's idle-timer
/// pattern); logs each read with whether the reschedule succeeded, and the timer with
/// whether it came before the deadline last set.
struct Idle {
    timer: Option<TimerId>,
    /// When the timer was last set or moved.
    moved_at: Option<Instant>,
}

const IDLE: Duration = Duration::from_millis(150);

impl Dispatcher<Log> for Idle {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.moved_at = Some(Instant::now());
        self.timer = Some(cx.call_later(IDLE));
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        cx.recv(&mut buf)?;
        let at = Instant::now();
        let moved = cx.reschedule(self.timer.expect("armed"), IDLE);
        if moved {
            self.moved_at = Some(at);
        }
        cx.state().push(format!("read moved={moved}"));
        Ok(())
    }

    fn handle_timer(&mut self, cx: &mut Cx<'_>, _: TimerId) -> io::Result<()> {
        let early = self.moved_at.expect("opened").elapsed() < IDLE;
        cx.state().push(format!("idle early={early}"));
        let moved = cx.reschedule(self.timer.expect("armed"), IDLE);
        cx.state().push(format!("moved after firing={moved}"));
        Ok(())
    }
}

fn context_reschedule_pushes_a_channel_timer_back(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (mut peer, local) = tcp_pair();
    event_loop
        .spawn(
            local,
            Idle {
                timer: None,
                moved_at: None,
            },
        )
        .unwrap();
    // Heard from the peer three times, each well inside the idle limit (on a machine that
    // keeps up): the timer waits for IDLE after the last.
    for reads in 1..=3 {
        peer.write_all(b"x").unwrap();
        run_until(
            &mut event_loop,
            |log| log.count_prefix("read") == reads,
            LIMIT,
        );
        run_steps(&mut event_loop, 2);
    }
    run_until(&mut event_loop, |log| log.count_prefix("idle") == 1, LIMIT);
    run_steps(&mut event_loop, 3);
    let log = event_loop.state();
    let fired = log.position("idle early=false").unwrap_or_else(|| {
        panic!(
            "the timer fired before the deadline it was moved to: {:?}",
            log.events
        )
    });
    assert_eq!(log.count_prefix("idle"), 1, "{:?}", log.events);
    assert_eq!(log.events[fired + 1], "moved after firing=false");
    // Reads before the timer fired moved it; one after it (a stalled machine) could not.
    for (i, event) in log.events.iter().enumerate() {
        if event.starts_with("read") {
            let expected = if i < fired {
                "read moved=true"
            } else {
                "read moved=false"
            };
            assert_eq!(event, expected, "{:?}", log.events);
        }
    }
    assert!(
        log.events[..fired]
            .iter()
            .any(|event| event == "read moved=true"),
        "no read moved the timer: {:?}",
        log.events
    );
}

per_kind! {
    timers_fire_in_deadline_order_and_never_early,
    call_later_from_a_callback_fires_on_that_channel,
    a_cancelled_timer_never_fires,
    timers_of_a_closed_channel_are_dropped_even_when_its_slot_is_reused,
    call_every_fires_repeatedly_until_cancelled,
    a_repeating_timer_stops_when_its_channel_closes,
    schedule_runs_a_closure_once_after_the_delay_never_early,
    schedule_every_runs_until_cancelled_from_the_loop_or_from_the_closure,
    a_panicking_repeating_closure_is_cancelled_and_the_loop_goes_on,
    reschedule_moves_a_timer_later_and_a_fired_one_shot_cannot_be_moved,
    context_reschedule_pushes_a_channel_timer_back,
}
