//! The timer queue: a binary heap of deadlines with O(1) cancellation.
//!
//! Cancelling removes the timer from a slab; its heap entry becomes a tombstone that is
//! skipped when it reaches the top. So that tombstones cannot pile up (calloop #238), the
//! heap is rebuilt from the live timers whenever tombstones outnumber them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::Instant;

use slab::Slab;

use super::Token;

/// Names one timer set with [`Context::call_later`](crate::Context::call_later).
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

/// What a timer does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerAction {
    /// Calls the channel's `handle_timer`.
    Dispatch,
    /// Lets a listener paused after `EMFILE` accept again.
    ResumeAccept,
}

#[derive(Debug)]
struct Timer {
    deadline: Instant,
    sequence: u64,
    token: Token,
    action: TimerAction,
}

/// The loop's timers.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    live: Slab<Timer>,
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    next_sequence: u64,
}

impl Timers {
    pub(crate) fn insert(
        &mut self,
        deadline: Instant,
        token: Token,
        action: TimerAction,
    ) -> TimerId {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let slot = self.live.insert(Timer {
            deadline,
            sequence,
            token,
            action,
        });
        self.heap.push(Reverse((deadline, sequence, slot)));
        TimerId { slot, sequence }
    }

    /// Cancels a timer; `false` if it already fired or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        match self.live.get(id.slot) {
            Some(timer) if timer.sequence == id.sequence => {
                self.live.remove(id.slot);
                self.compact();
                true
            }
            _ => false,
        }
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

    /// The earliest live deadline.
    #[inline]
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        if self.live.is_empty() && self.heap.is_empty() {
            return None; // checked inline: most loops have no timer most of the time
        }
        self.earliest_live()
    }

    fn earliest_live(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, sequence, slot))) = self.heap.peek() {
            if self
                .live
                .get(slot)
                .is_some_and(|timer| timer.sequence == sequence)
            {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TimerId, Token, TimerAction)> {
        let deadline = self.next_deadline()?;
        if deadline > now {
            return None;
        }
        let Reverse((_, sequence, slot)) = self.heap.pop()?;
        let timer = self.live.remove(slot);
        Some((TimerId { slot, sequence }, timer.token, timer.action))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_pop_in_deadline_order_and_not_before() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let token = Token::new(0, 0);
        let late = timers.insert(
            now + Duration::from_millis(20),
            token,
            TimerAction::Dispatch,
        );
        let early = timers.insert(
            now + Duration::from_millis(10),
            token,
            TimerAction::Dispatch,
        );
        assert!(timers.pop_due(now).is_none());
        assert_eq!(
            timers.pop_due(now + Duration::from_secs(1)).map(|t| t.0),
            Some(early)
        );
        assert_eq!(
            timers.pop_due(now + Duration::from_secs(1)).map(|t| t.0),
            Some(late)
        );
        assert!(timers.pop_due(now + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn cancelled_timers_leave_the_heap() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let token = Token::new(0, 0);
        for i in 0..10_000u64 {
            let id = timers.insert(now + Duration::from_secs(i), token, TimerAction::Dispatch);
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
}
