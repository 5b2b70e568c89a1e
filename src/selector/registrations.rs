//! The bookkeeping every backend shares: which raw sources are registered, under which key
//! and interest, and the per-call merging that makes each source appear at most once in
//! [`Events`].
//!
//! Backends index registrations by a slot (a `slab` index) so that an OS event finds its
//! registration without hashing; the source → slot map is only used by `register`, `modify`
//! and `unregister`.

use std::collections::HashMap;
use std::io;

use slab::Slab;

use super::{Event, Events, Interest, RawSource};

/// One registered source.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) source: RawSource,
    pub(crate) key: usize,
    pub(crate) interest: Interest,
    /// The poll backend's index in its poll list (poll is Unix-only).
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) position: usize,
    /// The `select` round in which this source was last reported, and where.
    reported_round: u64,
    reported_index: usize,
}

/// The table of registrations.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    slots: Slab<Registration>,
    by_source: HashMap<RawSource, usize>,
    round: u64,
}

impl Registrations {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds a registration and returns its slot.
    pub(crate) fn insert(
        &mut self,
        source: RawSource,
        key: usize,
        interest: Interest,
    ) -> io::Result<usize> {
        if let Some(&slot) = self.by_source.get(&source) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "source {source:?} is already registered (key {})",
                    self.slots[slot].key
                ),
            ));
        }
        let slot = self.slots.insert(Registration {
            source,
            key,
            interest,
            position: usize::MAX,
            reported_round: 0,
            reported_index: 0,
        });
        self.by_source.insert(source, slot);
        Ok(slot)
    }

    /// The slot of a registered source.
    pub(crate) fn find(&self, source: RawSource) -> io::Result<usize> {
        self.by_source.get(&source).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("source {source:?} is not registered"),
            )
        })
    }

    #[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))]
    pub(crate) fn get(&self, slot: usize) -> Option<&Registration> {
        self.slots.get(slot)
    }

    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Registration> {
        self.slots.get_mut(slot)
    }

    pub(crate) fn remove(&mut self, slot: usize) -> Registration {
        let registration = self.slots.remove(slot);
        self.by_source.remove(&registration.source);
        registration
    }

    pub(crate) fn iter(&self) -> slab::Iter<'_, Registration> {
        self.slots.iter()
    }

    /// Starts a new `select` round: what is reported from now on is merged per source.
    #[inline]
    pub(crate) fn start_round(&mut self) {
        self.round += 1;
    }

    /// Reports OS readiness `raw` for `slot`, masked to its interest, into `events`; a second
    /// report for the same source in the same round is merged into the first.
    #[inline]
    pub(crate) fn report(
        &mut self,
        events: &mut Events,
        slot: usize,
        raw: Interest,
        flags: (bool, bool, bool),
    ) {
        let Some(registration) = self.slots.get_mut(slot) else {
            return;
        };
        let ready = raw.intersect(registration.interest);
        if ready.is_none() {
            return;
        }
        let (error, hangup, priority) = flags;
        if registration.reported_round == self.round {
            events.merge(registration.reported_index, ready, error, hangup, priority);
        } else {
            registration.reported_round = self.round;
            registration.reported_index = events.len();
            events.push(Event::new(registration.key, ready).with_flags(error, hangup, priority));
        }
    }
}
