//! The native backend off Linux and Android: kqueue (macOS, iOS, the BSDs), IOCP (Windows)
//! or event ports (illumos, Solaris), through `polling`. This file is not built on Linux
//! and Android, whose native backend is the crate's own epoll over `rustix` (`epoll.rs`).
//!
//! `polling` is used in level mode wherever it supports it (kqueue and IOCP). Event ports
//! only associate a source one-shot: there the backend registers one-shot and re-associates
//! each source after reporting it, so the caller sees level-triggered behaviour either way.
//! A source parked with [`Interest::NONE`] is registered one-shot on every OS and never
//! re-armed: should the OS report a hang-up or an error for it anyway (event ports, like
//! poll(2), report those whatever was asked), it does so once, and the loop cannot spin on
//! it. kqueue and IOCP watch nothing at all for such a source.

use std::io;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use polling::{PollMode, Poller};

use super::backend::Backend;
use super::deadline::WaitOnce;
use super::registrations::{Registration, Registrations};
use super::source::borrow_raw;
use super::waker::WakeReceiver;
use super::{BorrowedSource, Events, Interest, RawSource, SelectorKind};

/// The OS event buffer starts this large and doubles as registrations grow, up to
/// [`MAX_BUFFER`]; more ready sources than that are reported over several calls, which
/// level-triggered reporting makes safe: a source left out of one call stays ready for the
/// next.
const MIN_BUFFER: usize = 256;
const MAX_BUFFER: usize = 65_536;

/// The platform's own selector off Linux and Android: kqueue (macOS, iOS, the BSDs), IOCP
/// (Windows) or event ports (illumos, Solaris), through the `polling` crate. On Linux and
/// Android, `NativeSelector` names the crate's own `EpollSelector` instead.
///
/// Python's `selectors.KqueueSelector` on macOS and the BSDs; Python has no IOCP or
/// event-port selector (its `DevpollSelector` uses Solaris's older `/dev/poll`).
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use ioloop::selector::{Events, Interest, NativeSelector, Selector, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut selector = NativeSelector::new()?;
/// // SAFETY: `listener` outlives its registration (it is unregistered below).
/// unsafe { selector.register(listener.raw_source(), 7, Interest::READ)? };
/// let _client = TcpStream::connect(listener.local_addr()?)?;
/// let mut events = Events::new();
/// selector.select(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events.iter().next().map(|e| e.key()), Some(7));
/// selector.unregister(listener.as_source())?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(not(any(target_os = "linux", target_os = "android")))))]
pub struct NativeSelector {
    poller: Arc<Poller>,
    registrations: Registrations,
    buffer: polling::Events,
    level: bool,
    wake: WakeReceiver,
}

impl NativeSelector {
    /// Creates the platform's native selector.
    ///
    /// # Errors
    ///
    /// `Unsupported` where this crate knows no native selector for the platform
    /// ([`SelectorKind::native`] is `None`); the OS's error if it cannot create one (out of
    /// descriptors, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::{NativeSelector, Selector, SelectorKind};
    ///
    /// let selector = NativeSelector::new()?;
    /// assert_eq!(Some(selector.kind()), SelectorKind::native());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> io::Result<NativeSelector> {
        SelectorKind::native()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this platform has no native selector",
                )
            })?
            .check_available()?;
        let poller = Arc::new(Poller::new()?);
        let level = poller.supports_level();
        Ok(NativeSelector {
            wake: WakeReceiver::for_poller(poller.clone()),
            poller,
            registrations: Registrations::default(),
            buffer: polling::Events::with_capacity(NonZeroUsize::new(MIN_BUFFER).unwrap()),
            level,
        })
    }

    fn mode(&self, interest: Interest) -> PollMode {
        if self.level && !interest.is_none() {
            PollMode::Level
        } else {
            PollMode::Oneshot
        }
    }

    /// Grows the OS buffer towards one slot per registration (as Python's epoll selector
    /// passes `maxevents = len(map)`).
    fn grow_buffer(&mut self) {
        let wanted = self
            .registrations
            .len()
            .next_power_of_two()
            .clamp(MIN_BUFFER, MAX_BUFFER);
        if wanted > self.buffer.capacity().get() {
            self.buffer = polling::Events::with_capacity(NonZeroUsize::new(wanted).unwrap());
        }
    }
}

fn polling_event(slot: usize, interest: Interest) -> polling::Event {
    polling::Event::new(slot, interest.is_readable(), interest.is_writable())
}

impl Backend for NativeSelector {
    const KIND: SelectorKind = match SelectorKind::native() {
        Some(kind) => kind,
        None => SelectorKind::Poll,
    };

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
        interest: Interest,
    ) -> io::Result<()> {
        let mode = self.mode(interest);
        // SAFETY: the caller keeps `register`'s contract (`source` stays open until it is
        // unregistered), which is what `Poller::add_with_mode` requires.
        unsafe {
            self.poller
                .add_with_mode(source, polling_event(slot, interest), mode)?;
        }
        self.grow_buffer();
        Ok(())
    }

    fn os_modify(
        &mut self,
        source: BorrowedSource<'_>,
        slot: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let mode = self.mode(interest);
        self.poller
            .modify_with_mode(source, polling_event(slot, interest), mode)
    }

    fn os_unregister(&mut self, source: BorrowedSource<'_>, _: &Registration) -> io::Result<()> {
        self.poller.delete(source)
    }
}

impl WaitOnce for NativeSelector {
    fn wait_once(&mut self, events: &mut Events, wait: Option<Duration>) -> io::Result<()> {
        self.buffer.clear();
        self.poller.wait(&mut self.buffer, wait)?;
        self.registrations.start_round();
        for event in self.buffer.iter() {
            let slot = event.key;
            let Some(registration) = self.registrations.get(slot) else {
                continue;
            };
            if !self.level && !registration.interest.is_none() {
                // Event ports fire once per association: re-arm, so the source stays
                // level-triggered as the contract says.
                let (source, interest) = (registration.source, registration.interest);
                // SAFETY: the source is registered, hence open (`register`'s contract); the
                // borrow ends with this one call.
                let source = unsafe { borrow_raw(source) };
                self.poller.modify_with_mode(
                    source,
                    polling_event(slot, interest),
                    PollMode::Oneshot,
                )?;
            }
            let raw = Interest::new(event.readable, event.writable);
            let flags = (
                event.is_err().unwrap_or(false),
                event.is_interrupt(),
                event.is_priority(),
            );
            self.registrations.report(events, slot, raw, flags);
        }
        Ok(())
    }

    fn acknowledge_wake(&mut self) -> bool {
        self.wake.acknowledge()
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "solaris",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "illumos",
        target_os = "solaris",
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
    )))
)]
impl std::os::fd::AsRawFd for NativeSelector {
    /// The kqueue or event-port descriptor (Python's `selector.fileno()`), e.g. to nest this
    /// selector inside another.
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&*self.poller)
    }
}
