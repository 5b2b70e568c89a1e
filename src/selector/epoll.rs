//! The epoll backend (Linux, Android), directly over `rustix`.
//!
//! Why not through `polling` as the other native backends: `polling`'s epoll `wait` re-arms
//! its notifier one-shot after every wait and reads it, so each iteration costs two extra
//! `epoll_ctl` calls and a `read` (measured: 2 013 `epoll_ctl` for 1 000 echoed messages).
//! Here the wake-up socket is registered once, level-triggered, and read only when it fired:
//! a steady-state iteration is one `epoll_wait` and the I/O itself.
//!
//! Registrations are level-triggered (no `EPOLLET`), as Python's `EpollSelector`. A source
//! parked with [`Interest::NONE`] is registered `EPOLLONESHOT` with no events, because epoll
//! reports hang-ups whatever the interest and a level-triggered hang-up would spin the loop.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::epoll;

use super::backend::Backend;
use super::deadline::WaitOnce;
use super::registrations::{Registration, Registrations};
use super::source::borrow_raw;
use super::waker::WakeReceiver;
use super::{Events, Interest, RawSource, SelectorKind};

/// The key of the wake-up socket; registration slots never reach it.
const WAKE_KEY: u64 = u64::MAX;

/// The event buffer starts this large and doubles as registrations grow, up to
/// [`MAX_BUFFER`]; with more ready sources than that, level-triggered epoll reports the
/// rest on the next wait (it rotates its ready list), so none starves.
const MIN_BUFFER: usize = 256;
const MAX_BUFFER: usize = 65_536;

/// Python's `selectors.EpollSelector`: the native selector on Linux and Android (there
/// [`NativeSelector`](super::NativeSelector) is this type), the crate's own over `rustix`.
///
/// Level-triggered, as Python's. The wake-up socket is registered once and read only when
/// it fired, so a steady-state `select` is one `epoll_wait`.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use ioloop::selector::{EpollSelector, Events, Interest, Selector, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut selector = EpollSelector::new()?;
/// // SAFETY: `listener` outlives its registration (it is unregistered below).
/// unsafe { selector.register(listener.raw_source(), 7, Interest::READ)? };
/// let _client = TcpStream::connect(listener.local_addr()?)?;
/// let mut events = Events::new();
/// selector.select(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events.iter().next().map(|e| e.key()), Some(7));
/// selector.unregister(listener.as_source())?;
/// # std::io::Result::Ok(())
/// ```
#[cfg_attr(docsrs, doc(cfg(any(target_os = "linux", target_os = "android"))))]
pub struct EpollSelector {
    epoll: OwnedFd,
    registrations: Registrations,
    buffer: EventBuffer,
    wake: WakeReceiver,
    woken: bool,
}

impl std::fmt::Debug for EpollSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollSelector")
            .field("epoll", &self.epoll)
            .field("registrations", &self.registrations.len())
            .finish_non_exhaustive()
    }
}

/// The `epoll_wait` buffer. The data of an `epoll::Event` is a union that can hold a pointer,
/// which makes the type `!Send`; this backend only ever stores integers in it.
struct EventBuffer(Vec<epoll::Event>);

// SAFETY: an `epoll::Event` is plain data but for its data union's pointer variant. This
// backend writes the data only with `EventData::new_u64` (slots and `WAKE_KEY`), which the
// kernel hands back verbatim, and reads it only with `u64()`: no pointer is ever stored, so
// moving the buffer to another thread moves integers.
unsafe impl Send for EventBuffer {}

fn epoll_flags(interest: Interest) -> epoll::EventFlags {
    let mut flags = epoll::EventFlags::empty();
    if interest.is_readable() {
        flags |= epoll::EventFlags::IN | epoll::EventFlags::PRI;
    }
    if interest.is_writable() {
        flags |= epoll::EventFlags::OUT;
    }
    if interest.is_none() {
        flags |= epoll::EventFlags::ONESHOT;
    }
    flags
}

impl EpollSelector {
    /// Creates an epoll selector (close-on-exec) with its wake-up socket registered.
    ///
    /// # Errors
    ///
    /// The OS's error (out of descriptors, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::selector::{EpollSelector, Selector, SelectorKind};
    ///
    /// let selector = EpollSelector::new()?;
    /// assert_eq!(selector.kind(), SelectorKind::Epoll);
    /// assert!(selector.is_empty());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> io::Result<EpollSelector> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = WakeReceiver::with_socket()?;
        let wake_fd = wake.as_source().expect("a socket receiver has a source");
        epoll::add(
            &epoll,
            wake_fd,
            epoll::EventData::new_u64(WAKE_KEY),
            epoll::EventFlags::IN,
        )?;
        Ok(EpollSelector {
            epoll,
            registrations: Registrations::default(),
            buffer: EventBuffer(Vec::with_capacity(MIN_BUFFER)),
            wake,
            woken: false,
        })
    }

    fn grow_buffer(&mut self) {
        let wanted = (self.registrations.len() + 1)
            .next_power_of_two()
            .clamp(MIN_BUFFER, MAX_BUFFER);
        if wanted > self.buffer.0.capacity() {
            self.buffer.0 = Vec::with_capacity(wanted);
        }
    }
}

impl Backend for EpollSelector {
    const KIND: SelectorKind = SelectorKind::Epoll;

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
        // SAFETY: the caller keeps `register`'s contract (the source stays open while
        // registered), and the borrow ends with this one epoll_ctl.
        let fd = unsafe { borrow_raw(source) };
        let data = epoll::EventData::new_u64(slot as u64);
        epoll::add(&self.epoll, fd, data, epoll_flags(interest))?;
        self.grow_buffer();
        Ok(())
    }

    fn os_modify(
        &mut self,
        source: BorrowedFd<'_>,
        slot: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let data = epoll::EventData::new_u64(slot as u64);
        epoll::modify(&self.epoll, source, data, epoll_flags(interest))?;
        Ok(())
    }

    fn os_unregister(&mut self, source: BorrowedFd<'_>, _: &Registration) -> io::Result<()> {
        epoll::delete(&self.epoll, source)?;
        Ok(())
    }
}

impl WaitOnce for EpollSelector {
    fn wait_once(&mut self, events: &mut Events, wait: Option<Duration>) -> io::Result<()> {
        let timespec = super::deadline::timespec(wait);
        let buffer = &mut self.buffer.0;
        buffer.clear();
        epoll::wait(&self.epoll, spare_capacity(buffer), timespec.as_ref())?;
        self.registrations.start_round();
        for event in &self.buffer.0 {
            let (flags, key) = (event.flags, event.data.u64());
            if key == WAKE_KEY {
                self.woken = true;
                continue;
            }
            use epoll::EventFlags as F;
            // Python's mapping (selectors.py, EpollSelector.select): any bit but EPOLLOUT
            // makes the source readable, any bit but EPOLLIN|EPOLLPRI makes it writable.
            let raw = Interest::new(
                flags.intersects(!F::OUT),
                flags.intersects(!(F::IN | F::PRI)),
            );
            let extra = (
                flags.contains(F::ERR),
                flags.intersects(F::HUP | F::RDHUP),
                flags.contains(F::PRI),
            );
            self.registrations.report(events, key as usize, raw, extra);
        }
        Ok(())
    }

    #[inline]
    fn acknowledge_wake(&mut self) -> bool {
        // Only read the wake-up socket when epoll said it is readable: no extra system
        // call in a steady-state iteration.
        if std::mem::take(&mut self.woken) {
            self.wake.acknowledge()
        } else {
            false
        }
    }
}

impl AsRawFd for EpollSelector {
    /// The epoll descriptor (Python's `selector.fileno()`), e.g. to nest this selector in
    /// another.
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.as_fd().as_raw_fd()
    }
}
