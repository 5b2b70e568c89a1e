//! The poll(2) backend (Unix), through `rustix`.
//!
//! The poll list is kept between calls as raw entries (descriptor number, events, slot) and
//! holds only sources with a non-empty interest (a parked source would still get `POLLHUP`,
//! and spin the loop), with the wake-up socket always first. The `PollFd`s rustix's `poll`
//! takes borrow their descriptors, so they are built for each wait from the raw entries and
//! dropped before it returns: no borrow outlives the call it was made for. Registering,
//! modifying and unregistering are O(1); a `select` is O(registered), as poll(2) itself is.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use super::backend::Backend;
use super::deadline::WaitOnce;
use super::registrations::{Registration, Registrations};
use super::source::borrow_raw;
use super::waker::WakeReceiver;
use super::{Events, Interest, RawSource, SelectorKind};

/// Python's `selectors.PollSelector`: poll(2), on every Unix.
///
/// Read interest also asks for `POLLPRI`, so out-of-band data shows as readable with
/// [`Event::is_priority`](super::Event::is_priority). A source closed while registered is
/// reported readable and writable with [`Event::is_error`](super::Event::is_error)
/// (`POLLNVAL`) until it is unregistered; the other sources are unaffected.
///
/// # Examples
///
/// poll(2) takes any descriptor: here one end of a Unix socket pair.
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use ioloop::selector::{Events, Interest, PollSelector, Selector, Source};
///
/// let (reader, mut writer) = UnixStream::pair()?;
/// let mut selector = PollSelector::new()?;
/// // SAFETY: `reader` stays open until it is unregistered below.
/// unsafe { selector.register(reader.raw_source(), 1, Interest::READ)? };
/// writer.write_all(b"x")?;
/// let mut events = Events::new();
/// selector.select(&mut events, Some(Duration::from_secs(5)))?;
/// assert!(events.iter().any(|event| event.key() == 1 && event.is_readable()));
/// selector.unregister(reader.as_source())?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub struct PollSelector {
    registrations: Registrations,
    /// What poll(2) is asked: `entries[0]` is the wake-up socket, the others are the
    /// registrations whose interest is not `NONE`, each at its `position`.
    entries: Vec<PollEntry>,
    /// The allocation of the `PollFd` array, kept between waits but always empty then, so it
    /// borrows nothing (see [`recycle`]).
    spare: Vec<PollFd<'static>>,
    wake: WakeReceiver,
    /// The wake-up socket was readable in the last wait.
    woken: bool,
}

/// One `pollfd`, by number: the borrow is made for each wait.
#[derive(Debug, Clone, Copy)]
struct PollEntry {
    fd: RawFd,
    events: PollFlags,
    /// The registration's slot, or [`WAKE`] for the wake-up socket.
    slot: usize,
}

/// Marks a registration that has no place in `entries` (its interest is `NONE`).
const PARKED: usize = usize::MAX;

/// The slot of the wake-up socket's entry; registration slots never reach it.
const WAKE: usize = usize::MAX;

fn poll_flags(interest: Interest) -> PollFlags {
    let mut flags = PollFlags::empty();
    if interest.is_readable() {
        flags |= PollFlags::IN | PollFlags::PRI;
    }
    if interest.is_writable() {
        flags |= PollFlags::OUT;
    }
    flags
}

/// Empties `fds` and gives it back with a new lifetime, keeping its allocation: an empty
/// vector borrows nothing, and std collects a `vec::IntoIter` into a vector of a type of the
/// same layout in place (were that to change, this would allocate, nothing worse).
fn recycle<'a>(mut fds: Vec<PollFd<'_>>) -> Vec<PollFd<'a>> {
    fds.clear();
    fds.into_iter()
        .map(|_| unreachable!("the vector was emptied"))
        .collect()
}

impl PollSelector {
    /// Creates a poll selector.
    ///
    /// # Errors
    ///
    /// The OS's error if the wake-up socket pair cannot be created.
    pub fn new() -> io::Result<PollSelector> {
        let wake = WakeReceiver::with_socket()?;
        let wake_source = wake.source().expect("a socket receiver has a source");
        Ok(PollSelector {
            registrations: Registrations::default(),
            entries: vec![PollEntry {
                fd: wake_source,
                events: PollFlags::IN,
                slot: WAKE,
            }],
            spare: Vec::new(),
            wake,
            woken: false,
        })
    }

    /// Puts `slot` into the poll list, or takes it out, to match its interest.
    fn place(&mut self, slot: usize) {
        let registration = self
            .registrations
            .get_mut(slot)
            .expect("placing a live slot");
        let (fd, interest, position) = (
            registration.source,
            registration.interest,
            registration.position,
        );
        let events = poll_flags(interest);
        match (position == PARKED, interest.is_none()) {
            (true, true) => {}
            (true, false) => {
                registration.position = self.entries.len();
                self.entries.push(PollEntry { fd, events, slot });
            }
            (false, false) => self.entries[position].events = events,
            (false, true) => {
                registration.position = PARKED;
                self.remove_position(position);
            }
        }
    }

    /// Removes `entries[position]` by swapping the last entry into its place.
    fn remove_position(&mut self, position: usize) {
        self.entries.swap_remove(position);
        if let Some(moved) = self.entries.get(position) {
            if let Some(registration) = self.registrations.get_mut(moved.slot) {
                registration.position = position;
            }
        }
    }
}

impl Backend for PollSelector {
    const KIND: SelectorKind = SelectorKind::Poll;

    fn registrations(&self) -> &Registrations {
        &self.registrations
    }

    fn registrations_mut(&mut self) -> &mut Registrations {
        &mut self.registrations
    }

    fn wake_receiver(&self) -> &WakeReceiver {
        &self.wake
    }

    unsafe fn os_register(
        &mut self,
        source: RawSource,
        slot: usize,
        _: Interest,
    ) -> io::Result<()> {
        // poll(2) accepts any number and reports POLLNVAL later; refuse a closed descriptor
        // now instead, as epoll and kqueue do.
        // SAFETY: the caller keeps `register`'s contract (the source is open); fcntl(F_GETFD)
        // validates the number anyway, and the borrow ends with the call.
        rustix::io::fcntl_getfd(unsafe { borrow_raw(source) })?;
        self.place(slot);
        Ok(())
    }

    fn os_modify(&mut self, _: BorrowedFd<'_>, slot: usize, _: Interest) -> io::Result<()> {
        self.place(slot);
        Ok(())
    }

    fn os_unregister(&mut self, _: BorrowedFd<'_>, registration: &Registration) -> io::Result<()> {
        if registration.position != PARKED {
            self.remove_position(registration.position);
        }
        Ok(())
    }
}

impl WaitOnce for PollSelector {
    fn wait_once(&mut self, events: &mut Events, wait: Option<Duration>) -> io::Result<()> {
        let timespec = super::deadline::timespec(wait);
        let mut fds = recycle(std::mem::take(&mut self.spare));
        fds.extend(self.entries.iter().map(|entry| {
            // SAFETY: each entry is the wake-up socket, owned by `self.wake`, or a registered
            // source, open until unregistered by `register`'s contract; the borrows end
            // when `recycle` empties `fds` below, before this wait returns.
            let fd = unsafe { borrow_raw(entry.fd) };
            PollFd::from_borrowed_fd(fd, entry.events)
        }));
        let polled = rustix::event::poll(&mut fds, timespec.as_ref());
        if let Ok(ready) = polled {
            self.report(events, &fds, ready);
        }
        self.spare = recycle(fds);
        polled?;
        Ok(())
    }

    fn acknowledge_wake(&mut self) -> bool {
        // Read the wake-up socket only when it fired: no extra system call otherwise.
        std::mem::take(&mut self.woken) && self.wake.acknowledge()
    }
}

impl PollSelector {
    /// Reports what the wait found: `fds[i]` was built from `entries[i]`, and `ready`
    /// entries have events.
    fn report(&mut self, events: &mut Events, fds: &[PollFd<'_>], mut ready: usize) {
        self.registrations.start_round();
        for (fd, entry) in fds.iter().zip(&self.entries) {
            if ready == 0 {
                break;
            }
            let revents = fd.revents();
            if revents.is_empty() {
                continue;
            }
            ready -= 1;
            if entry.slot == WAKE {
                // `acknowledge_wake` reads the wake-up socket.
                self.woken = true;
                continue;
            }
            // Python's mapping (selectors.py, PollSelector.select): any bit but POLLOUT makes
            // the source readable, any bit but POLLIN|POLLPRI makes it writable.
            let raw = Interest::new(
                revents.intersects(!PollFlags::OUT),
                revents.intersects(!(PollFlags::IN | PollFlags::PRI)),
            );
            let flags = (
                revents.intersects(PollFlags::ERR | PollFlags::NVAL),
                revents.contains(PollFlags::HUP),
                revents.contains(PollFlags::PRI),
            );
            self.registrations.report(events, entry.slot, raw, flags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycling_keeps_the_allocation() {
        let wake = WakeReceiver::with_socket().unwrap();
        let fd = wake.as_source().unwrap();
        let mut fds = recycle(Vec::with_capacity(64));
        fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
        let pointer = fds.as_ptr();
        let recycled: Vec<PollFd<'static>> = recycle(fds);
        assert!(recycled.capacity() >= 64);
        assert_eq!(recycled.as_ptr(), pointer);
    }
}
