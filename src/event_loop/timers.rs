//! The timer queue: a binary heap of deadlines with O(1) cancellation and rescheduling,
//! one-shot and repeating timers, for a channel (`handle_timer`) or a closure.
//!
//! A timer lives in a slab; the heap holds `(deadline, sequence, slot)` entries. An entry
//! is live only while its slot still holds that sequence *and* that deadline, so cancelling
//! (removing the timer) and rescheduling (a new deadline, a new entry) leave tombstones that
//! are skipped when they reach the top. So that tombstones cannot pile up (calloop #238),
//! the heap is rebuilt from the live timers whenever tombstones outnumber them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::{Duration, Instant};

use slab::Slab;

use super::Context;
use super::Token;

/// Names one timer: set with [`Context::call_later`](crate::Context::call_later),
/// [`call_every`](crate::Context::call_every), [`schedule`](crate::Context::schedule) or
/// [`schedule_every`](crate::Context::schedule_every); cancel it with
/// [`cancel`](crate::Context::cancel), move it with
/// [`reschedule`](crate::Context::reschedule). [`Dispatcher::handle_timer`](crate::Dispatcher::handle_timer)
/// gets it, to tell a channel's timers apart.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ioloop::EventLoop;
///
/// let mut event_loop = EventLoop::new()?;
/// let reminder = event_loop.schedule(Duration::from_secs(60), |_| {});
/// let deadline = event_loop.schedule(Duration::from_secs(60), |_| {});
/// assert_ne!(reminder, deadline);
/// assert!(event_loop.cancel(reminder));
/// assert!(event_loop.reschedule(deadline, Duration::from_secs(120)));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: usize,
    sequence: u64,
}

impl fmt::Debug for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimerId({}#{})", self.slot, self.sequence)
    }
}

/// A closure run by a timer, with a loop-level [`Context`].
pub(crate) type TimerFn<S> = Box<dyn for<'a, 'b> FnMut(&'a mut Context<'b, S>) + 'static>;

/// What a timer does when it fires.
pub(crate) enum TimerAction<S> {
    /// Calls the channel's `handle_timer`.
    Dispatch,
    /// Lets a listener paused after `EMFILE` accept again.
    ResumeAccept,
    /// Checks the channel's deadlines (see `deadlines.rs`).
    Deadline,
    /// Runs a closure; `None` while it runs.
    Call(Option<TimerFn<S>>),
}

/// A due timer, as [`Timers::pop_due`] hands it out.
pub(crate) enum Due<S> {
    Dispatch(TimerId, Token),
    ResumeAccept(Token),
    Deadline(Token),
    /// Give a repeating closure back with [`Timers::restore`] after running it.
    Call(TimerId, TimerFn<S>),
}

struct Timer<S> {
    deadline: Instant,
    sequence: u64,
    token: Token,
    /// The interval of a repeating timer.
    every: Option<Duration>,
    action: TimerAction<S>,
}

/// The loop's timers.
pub(crate) struct Timers<S> {
    live: Slab<Timer<S>>,
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    next_sequence: u64,
    /// No live timer is due before this (`None`: not known; found from the heap when
    /// asked). Inserting lowers it, cancelling leaves it (still a bound), popping forgets
    /// it: an iteration with a far timer then costs one comparison, not a heap look-up.
    due_not_before: Option<Instant>,
}

impl<S> Default for Timers<S> {
    fn default() -> Self {
        Timers {
            live: Slab::new(),
            heap: BinaryHeap::new(),
            next_sequence: 0,
            due_not_before: None,
        }
    }
}

impl<S> Timers<S> {
    /// Adds a timer due at `deadline`, repeating every `every` if given (at least 1 ms, so
    /// a zero interval cannot keep an iteration busy for ever).
    pub(crate) fn insert(
        &mut self,
        deadline: Instant,
        token: Token,
        every: Option<Duration>,
        action: TimerAction<S>,
    ) -> TimerId {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let slot = self.live.insert(Timer {
            deadline,
            sequence,
            token,
            every: every.map(|every| every.max(Duration::from_millis(1))),
            action,
        });
        self.heap.push(Reverse((deadline, sequence, slot)));
        self.lower_bound_to(deadline);
        TimerId { slot, sequence }
    }

    fn get_mut(&mut self, id: TimerId) -> Option<&mut Timer<S>> {
        self.live
            .get_mut(id.slot)
            .filter(|timer| timer.sequence == id.sequence)
    }

    /// Cancels a timer; `false` if it already fired (a one-shot one) or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        if self.get_mut(id).is_none() {
            return false;
        }
        self.live.remove(id.slot);
        if self.live.is_empty() {
            self.due_not_before = None;
        }
        self.compact();
        true
    }

    /// Moves a live timer to `deadline` (a repeating one goes on from there); `false` if
    /// it already fired or was cancelled.
    pub(crate) fn reschedule(&mut self, id: TimerId, deadline: Instant) -> bool {
        let Some(timer) = self.get_mut(id) else {
            return false;
        };
        timer.deadline = deadline;
        self.heap.push(Reverse((deadline, id.sequence, id.slot)));
        self.lower_bound_to(deadline);
        self.compact();
        true
    }

    fn compact(&mut self) {
        if self.heap.len() > 2 * self.live.len() + 64 {
            self.heap = self
                .live
                .iter()
                .map(|(slot, timer)| Reverse((timer.deadline, timer.sequence, slot)))
                .collect();
        }
    }

    /// An instant no live timer is due before: the earliest live deadline, or earlier if
    /// the timer that was earliest has been cancelled since (a wait until then only ends
    /// early, and the next look finds the true earliest).
    #[inline]
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        if self.live.is_empty() {
            return None; // checked inline: most loops have no timer most of the time
        }
        if self.due_not_before.is_none() {
            self.due_not_before = self.earliest_live();
        }
        self.due_not_before
    }

    fn lower_bound_to(&mut self, deadline: Instant) {
        if let Some(bound) = &mut self.due_not_before {
            *bound = (*bound).min(deadline);
        }
    }

    fn earliest_live(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, sequence, slot))) = self.heap.peek() {
            if self
                .live
                .get(slot)
                .is_some_and(|timer| timer.sequence == sequence && timer.deadline == deadline)
            {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes one timer due at `now`, earliest first. A one-shot timer leaves the queue; a
    /// repeating one is due again one interval after this deadline (or after `now`, if the
    /// loop fell that far behind: no burst of catch-up calls).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due<S>> {
        if self.next_deadline()? > now {
            return None; // the usual answer, from the bound alone
        }
        let deadline = self.earliest_live()?;
        // Whatever happens next changes the earliest: found again when next asked.
        self.due_not_before = None;
        if deadline > now {
            return None;
        }
        let Reverse((_, sequence, slot)) = self.heap.pop()?;
        let id = TimerId { slot, sequence };
        let timer = &mut self.live[slot];
        let Some(every) = timer.every else {
            let timer = self.live.remove(slot);
            return Some(match timer.action {
                TimerAction::Dispatch => Due::Dispatch(id, timer.token),
                TimerAction::ResumeAccept => Due::ResumeAccept(timer.token),
                TimerAction::Deadline => Due::Deadline(timer.token),
                TimerAction::Call(call) => Due::Call(id, call?),
            });
        };
        let next = deadline + every;
        timer.deadline = if next > now { next } else { now + every };
        let token = timer.token;
        let due = match &mut timer.action {
            TimerAction::Dispatch => Due::Dispatch(id, token),
            TimerAction::ResumeAccept => Due::ResumeAccept(token),
            TimerAction::Deadline => Due::Deadline(token),
            TimerAction::Call(call) => Due::Call(id, call.take()?),
        };
        let next = timer.deadline;
        self.heap.push(Reverse((next, sequence, slot)));
        Some(due)
    }

    /// Puts a repeating timer's closure back after it ran, unless the timer was cancelled
    /// meanwhile (then the closure is dropped here).
    pub(crate) fn restore(&mut self, id: TimerId, call: TimerFn<S>) {
        if let Some(timer) = self.get_mut(id) {
            if let TimerAction::Call(slot @ None) = &mut timer.action {
                *slot = Some(call);
            }
        }
    }

    /// Heap entries, live or cancelled (for tests of the compaction).
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

impl<S> fmt::Debug for Timers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("live", &self.live.len())
            .field("heap", &self.heap.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due_id(due: Option<Due<()>>) -> Option<TimerId> {
        match due? {
            Due::Dispatch(id, _) | Due::Call(id, _) => Some(id),
            Due::ResumeAccept(_) | Due::Deadline(_) => None,
        }
    }

    #[test]
    fn timers_pop_in_deadline_order_and_not_before() {
        let mut timers = Timers::<()>::default();
        let now = Instant::now();
        let token = Token::new(0, 0);
        let late = timers.insert(
            now + Duration::from_millis(20),
            token,
            None,
            TimerAction::Dispatch,
        );
        let early = timers.insert(
            now + Duration::from_millis(10),
            token,
            None,
            TimerAction::Dispatch,
        );
        assert!(timers.pop_due(now).is_none());
        let later = now + Duration::from_secs(1);
        assert_eq!(due_id(timers.pop_due(later)), Some(early));
        assert_eq!(due_id(timers.pop_due(later)), Some(late));
        assert!(timers.pop_due(later).is_none());
    }

    #[test]
    fn the_bound_is_never_later_than_the_earliest_and_becomes_exact_after_a_look() {
        let mut timers = Timers::<()>::default();
        let now = Instant::now();
        let token = Token::new(0, 0);
        let ms = Duration::from_millis;
        let first = timers.insert(now + ms(10), token, None, TimerAction::Dispatch);
        timers.insert(now + ms(20), token, None, TimerAction::Dispatch);
        assert_eq!(timers.next_deadline(), Some(now + ms(10)));
        assert!(timers.cancel(first));
        // Still a bound (the cancelled one's deadline): a wait until then ends early.
        assert!(timers.next_deadline().is_some_and(|d| d <= now + ms(20)));
        assert!(timers.pop_due(now + ms(15)).is_none());
        assert_eq!(timers.next_deadline(), Some(now + ms(20)));
        // An earlier insert lowers it at once.
        timers.insert(now + ms(5), token, None, TimerAction::Dispatch);
        assert_eq!(timers.next_deadline(), Some(now + ms(5)));
        assert!(timers.pop_due(now + ms(4)).is_none());
        assert!(timers.pop_due(now + ms(5)).is_some());
        assert_eq!(timers.next_deadline(), Some(now + ms(20)));
    }

    #[test]
    fn cancelled_timers_leave_the_heap() {
        let mut timers = Timers::<()>::default();
        let now = Instant::now();
        let token = Token::new(0, 0);
        for i in 0..10_000u64 {
            let id = timers.insert(
                now + Duration::from_secs(i),
                token,
                None,
                TimerAction::Dispatch,
            );
            assert!(timers.cancel(id));
            assert!(!timers.cancel(id));
        }
        assert_eq!(timers.len(), 0);
        assert!(
            timers.heap_len() <= 64 + 1,
            "heap kept {} tombstones",
            timers.heap_len()
        );
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn a_rescheduled_timer_fires_once_at_its_new_deadline_and_the_heap_stays_small() {
        let mut timers = Timers::<()>::default();
        let now = Instant::now();
        let token = Token::new(0, 0);
        let id = timers.insert(
            now + Duration::from_millis(10),
            token,
            None,
            TimerAction::Dispatch,
        );
        // The idle-timer pattern: pushed back on every message.
        for i in 1..=10_000u64 {
            assert!(timers.reschedule(id, now + Duration::from_millis(10 + i)));
        }
        assert!(timers.heap_len() <= 2 * timers.len() + 64 + 1);
        assert!(
            timers
                .pop_due(now + Duration::from_millis(10_009))
                .is_none()
        );
        let at = now + Duration::from_millis(10_010);
        assert_eq!(due_id(timers.pop_due(at)), Some(id));
        assert!(timers.pop_due(at + Duration::from_secs(60)).is_none());
        assert!(!timers.reschedule(id, at), "a fired one-shot timer is gone");
    }

    #[test]
    fn a_repeating_timer_comes_back_each_interval_until_cancelled() {
        let mut timers = Timers::<()>::default();
        let now = Instant::now();
        let token = Token::new(0, 0);
        let every = Duration::from_millis(10);
        let id = timers.insert(now + every, token, Some(every), TimerAction::Dispatch);
        for round in 1..=5u32 {
            let at = now + every * round;
            assert!(timers.pop_due(at - Duration::from_nanos(1)).is_none());
            assert_eq!(due_id(timers.pop_due(at)), Some(id));
            assert!(timers.pop_due(at).is_none(), "due once per interval");
        }
        assert!(timers.cancel(id));
        assert!(timers.pop_due(now + Duration::from_secs(60)).is_none());
    }

    #[test]
    fn a_repeating_timer_far_behind_fires_once_not_in_a_burst() {
        let mut timers = Timers::<()>::default();
        let now = Instant::now();
        let every = Duration::from_millis(10);
        let id = timers.insert(
            now + every,
            Token::new(0, 0),
            Some(every),
            TimerAction::Dispatch,
        );
        let late = now + Duration::from_secs(5);
        assert_eq!(due_id(timers.pop_due(late)), Some(id));
        assert!(timers.pop_due(late).is_none());
        assert_eq!(timers.next_deadline(), Some(late + every));
    }
}
