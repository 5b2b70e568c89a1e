//! The poll(2) backend (Unix), through `rustix`.
//!
//! The `pollfd` array is kept between calls and holds only sources with a non-empty interest
//! (a parked source would still get `POLLHUP`, and spin the loop), with the wake-up socket
//! always first. Registering, modifying and unregistering are O(1); a `select` is O(registered),
//! as poll(2) itself is.

use std::io;
use std::os::fd::BorrowedFd;
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
#[derive(Debug)]
pub struct PollSelector {
    registrations: Registrations,
    /// `fds[0]` is the wake-up socket; `fds[i]` for `i > 0` belongs to slot `slots[i]`.
    fds: Vec<PollFd<'static>>,
    slots: Vec<usize>,
    wake: WakeReceiver,
    /// The wake-up socket was readable in the last wait.
    woken: bool,
}

/// Marks a registration that has no place in `fds` (its interest is `NONE`).
const PARKED: usize = usize::MAX;

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

impl PollSelector {
    /// Creates a poll selector.
    ///
    /// # Errors
    ///
    /// The OS's error if the wake-up socket pair cannot be created.
    pub fn new() -> io::Result<PollSelector> {
        let wake = WakeReceiver::with_socket()?;
        let wake_source = wake.source().expect("a socket receiver has a source");
        // SAFETY: the wake-up socket is owned by `wake`, which lives as long as `fds`.
        let wake_fd = unsafe { borrow_raw(wake_source) };
        Ok(PollSelector {
            registrations: Registrations::default(),
            fds: vec![PollFd::from_borrowed_fd(wake_fd, PollFlags::IN)],
            slots: vec![PARKED],
            wake,
            woken: false,
        })
    }

    /// Puts `slot` into the `pollfd` array, or takes it out, to match its interest.
    fn place(&mut self, slot: usize) {
        let registration = self
            .registrations
            .get_mut(slot)
            .expect("placing a live slot");
        let (source, interest, position) = (
            registration.source,
            registration.interest,
            registration.position,
        );
        match (position == PARKED, interest.is_none()) {
            (true, true) => {}
            (true, false) => {
                registration.position = self.fds.len();
                // SAFETY: a registered source stays open until unregistered (`register`'s
                // contract), and `unregister` removes it from `fds`.
                let fd = unsafe { borrow_raw(source) };
                self.fds
                    .push(PollFd::from_borrowed_fd(fd, poll_flags(interest)));
                self.slots.push(slot);
            }
            (false, false) => {
                // SAFETY: as above.
                let fd = unsafe { borrow_raw(source) };
                self.fds[position] = PollFd::from_borrowed_fd(fd, poll_flags(interest));
            }
            (false, true) => {
                registration.position = PARKED;
                self.remove_position(position);
            }
        }
    }

    /// Removes `fds[position]` by swapping the last entry into its place.
    fn remove_position(&mut self, position: usize) {
        self.fds.swap_remove(position);
        self.slots.swap_remove(position);
        if let Some(&moved) = self.slots.get(position) {
            if let Some(registration) = self.registrations.get_mut(moved) {
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
        let mut ready = rustix::event::poll(&mut self.fds, timespec.as_ref())?;
        self.registrations.start_round();
        // fds[0] is the wake-up socket: `acknowledge_wake` deals with it.
        if !self.fds[0].revents().is_empty() {
            self.woken = true;
            ready -= 1;
        }
        for position in 1..self.fds.len() {
            if ready == 0 {
                break;
            }
            let revents = self.fds[position].revents();
            if revents.is_empty() {
                continue;
            }
            ready -= 1;
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
            self.registrations
                .report(events, self.slots[position], raw, flags);
        }
        Ok(())
    }

    fn acknowledge_wake(&mut self) -> bool {
        // Read the wake-up socket only when it fired: no extra system call otherwise.
        std::mem::take(&mut self.woken) && self.wake.acknowledge()
    }
}
