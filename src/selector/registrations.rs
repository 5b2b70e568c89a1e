//! The bookkeeping every backend shares: which raw sources are registered, under which key
//! and interest, and the per-call merging that makes each source appear at most once in
//! [`Events`].
//!
//! Backends index registrations by a slot (a `slab` index) so that an OS event finds its
//! registration without hashing; the source → slot map is only used by `register`, `modify`
//! and `unregister` (and by `select`'s scan of its ready sets). That map hashes with
//! [`SourceHasher`], not the standard library's SipHash: every interest change looks a source
//! up, and SipHash cost more than the rest of a `modify` put together.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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

/// A hasher for raw sources (a descriptor, or a Windows `SOCKET`): one multiplication by an
/// odd constant (Fibonacci hashing). The low bits of the product are a permutation of the
/// source's own low bits, so the small consecutive numbers a process's descriptors are fall
/// in distinct buckets, and the high bits (the map's control bytes) mix every bit of it. No
/// defence against chosen keys is needed: the OS, not a peer, picks the numbers.
#[derive(Default)]
pub(crate) struct SourceHasher(u64);

impl Hasher for SourceHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.write_u64(u64::from(n as u32)); // a `RawFd` on Unix
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    /// Any other key shape (not used by `RawSource`, but correct for anything).
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }
}

/// The table of registrations.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    slots: Slab<Registration>,
    by_source: HashMap<RawSource, usize, BuildHasherDefault<SourceHasher>>,
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn finds_every_source_and_forgets_removed_ones() {
        let mut table = Registrations::default();
        // Consecutive descriptors, as a process gets them, and a few far apart.
        let sources: Vec<RawSource> = (3..2003).chain([65_535, 1 << 20, 1 << 30]).collect();
        let slots: Vec<usize> = sources
            .iter()
            .map(|&source| {
                table
                    .insert(source, source as usize * 7, Interest::READ)
                    .unwrap()
            })
            .collect();
        for (&source, &slot) in sources.iter().zip(&slots) {
            assert_eq!(table.find(source).unwrap(), slot);
            assert_eq!(table.get_mut(slot).unwrap().key, source as usize * 7);
        }
        let again = table.insert(sources[5], 0, Interest::WRITE).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        for &slot in slots.iter().step_by(2) {
            table.remove(slot);
        }
        for (i, &source) in sources.iter().enumerate() {
            let found = table.find(source);
            if i % 2 == 0 {
                assert_eq!(found.unwrap_err().kind(), io::ErrorKind::NotFound);
            } else {
                assert_eq!(found.unwrap(), slots[i]);
            }
        }
        assert_eq!(table.len(), sources.len() / 2);
    }

    #[test]
    fn consecutive_sources_hash_to_distinct_buckets() {
        let hasher = BuildHasherDefault::<SourceHasher>::default();
        // The low bits pick the bucket: 1 024 consecutive descriptors in a table of 1 024
        // buckets take every one of them once.
        let buckets: HashSet<u64> = (0..1024 as RawSource)
            .map(|source| hasher.hash_one(source) & 1023)
            .collect();
        assert_eq!(buckets.len(), 1024);
        // The high bits (the map's control bytes) differ too.
        let tops: HashSet<u64> = (0..1024 as RawSource)
            .map(|source| hasher.hash_one(source) >> 57)
            .collect();
        assert!(tops.len() > 64, "only {} distinct top bits", tops.len());
    }
}
