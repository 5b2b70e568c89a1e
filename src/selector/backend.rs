//! The bookkeeping every backend shares, written once.
//!
//! A backend (`EpollSelector`, `NativeSelector` over `polling`, `PollSelector`,
//! `SelectSelector`) implements [`Backend`]: what to tell the OS when a registration is
//! added, changed or removed, and one OS wait ([`WaitOnce`]). The blanket [`Selector`] impl
//! below does the rest, the same way for all of them:
//!
//! - `AlreadyExists` and `NotFound` from the [`Registrations`] table, before any system call;
//! - a registration the OS refuses is taken out of the table again;
//! - `modify` with an unchanged interest only records the new key (no system call);
//! - a `modify` the OS refuses unregisters the source (as Python does);
//! - `unregister` leaves the table first and swallows the OS's error;
//! - `select` retries and wakes through [`select_until`]; `waker` and `len` forward.
//!
//! Not here: the event mapping of each OS, which stays in the backend's `wait_once`.

use std::fmt::Debug;
use std::io;
use std::time::Duration;

use super::deadline::{WaitOnce, select_until};
use super::registrations::{Registration, Registrations};
use super::waker::WakeReceiver;
use super::{BorrowedSource, Events, Interest, RawSource, Selector, SelectorKind, Source, Waker};

/// What one backend does at the OS boundary. Crate-private: with [`Selector`] sealed, this is
/// where a new backend plugs in.
pub(crate) trait Backend: WaitOnce + Debug {
    /// Which backend this is.
    const KIND: SelectorKind;

    /// The table of registrations.
    fn registrations(&self) -> &Registrations;

    /// The table of registrations, mutably.
    fn registrations_mut(&mut self) -> &mut Registrations;

    /// The selector's side of its [`Waker`].
    fn wake_receiver(&self) -> &WakeReceiver;

    /// Hands a new registration to the OS; it is in the table already, at `slot`, with
    /// `interest`. On error the caller takes it out of the table again.
    ///
    /// # Safety
    ///
    /// [`Selector::register`]'s contract: `source` stays open until it is unregistered or the
    /// selector is dropped.
    unsafe fn os_register(
        &mut self,
        source: RawSource,
        slot: usize,
        interest: Interest,
    ) -> io::Result<()>;

    /// Tells the OS the new interest of the registration at `slot` (the table has it
    /// already). On error the caller takes the registration out of the table and hands it to
    /// [`os_unregister`](Backend::os_unregister).
    fn os_modify(
        &mut self,
        source: BorrowedSource<'_>,
        slot: usize,
        interest: Interest,
    ) -> io::Result<()>;

    /// Takes a registration, already out of the table, away from the OS. The caller logs an
    /// error and otherwise ignores it ("unregister is tolerant").
    fn os_unregister(
        &mut self,
        source: BorrowedSource<'_>,
        registration: &Registration,
    ) -> io::Result<()>;
}

/// `-1` (Unix) and `INVALID_SOCKET` (Windows) are not sources: the standard library's
/// borrowed handles cannot even hold them, so they are refused before anything else.
fn check_not_invalid(source: RawSource) -> io::Result<()> {
    #[cfg(unix)]
    let invalid: RawSource = -1;
    #[cfg(windows)]
    let invalid: RawSource = windows_sys::Win32::Networking::WinSock::INVALID_SOCKET as _;
    if source == invalid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{source:?} is not a valid source"),
        ));
    }
    Ok(())
}

impl<B: Backend> Selector for B {
    fn kind(&self) -> SelectorKind {
        B::KIND
    }

    unsafe fn register(
        &mut self,
        source: RawSource,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        check_not_invalid(source)?;
        let slot = self.registrations_mut().insert(source, key, interest)?;
        // SAFETY: the caller keeps `register`'s contract, which is `os_register`'s.
        let added = unsafe { self.os_register(source, slot, interest) };
        if let Err(e) = added {
            self.registrations_mut().remove(slot);
            return Err(e);
        }
        Ok(())
    }

    fn modify(
        &mut self,
        source: BorrowedSource<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let slot = self.registrations().find(source.raw_source())?;
        let registration = self
            .registrations_mut()
            .get_mut(slot)
            .expect("slot of a found source");
        // The OS knows the slot, not the key: a new key alone needs no system call.
        registration.key = key;
        if registration.interest == interest {
            return Ok(());
        }
        registration.interest = interest;
        if let Err(e) = self.os_modify(source, slot, interest) {
            // As Python's selectors: a refused change leaves nothing registered. The
            // removal's own failure is irrelevant next to `e`.
            let registration = self.registrations_mut().remove(slot);
            let _ = self.os_unregister(source, &registration);
            return Err(e);
        }
        Ok(())
    }

    fn unregister(&mut self, source: BorrowedSource<'_>) -> io::Result<()> {
        let raw = source.raw_source();
        let slot = self.registrations().find(raw)?;
        let registration = self.registrations_mut().remove(slot);
        // A source closed while registered, and its number reused, gives the OS's error
        // here (EBADF, ENOENT): swallowed, as Python does.
        if let Err(e) = self.os_unregister(source, &registration) {
            log::debug!(target: "ioloop::selector", "unregister of {raw:?} ({}): the OS's removal failed ({e}); ignored", B::KIND);
        }
        Ok(())
    }

    fn select(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        select_until(self, events, timeout)
    }

    fn waker(&self) -> Waker {
        self.wake_receiver().waker()
    }

    fn len(&self) -> usize {
        self.registrations().len()
    }
}
