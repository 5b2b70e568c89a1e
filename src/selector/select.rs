//! The select backend: select(2) on Unix (through `rustix`) and Winsock `select` on Windows
//! (through `windows-sys`), over descriptor sets sized at run time (`fd_set.rs`), so any
//! descriptor number and any number of sockets work. A `select` is O(registered), as
//! select itself is.
//!
//! The except set: on Unix it holds the readers, and reports out-of-band data; on Windows it
//! holds the writers, because Winsock reports a failed non-blocking connect only there
//! (Python's `SelectSelector` does the same).

use std::io;
use std::time::Duration;

use super::backend::Backend;
use super::deadline::WaitOnce;
use super::fd_set::{self, FdSet};
use super::registrations::{Registration, Registrations};
use super::waker::WakeReceiver;
use super::{BorrowedSource, Events, Interest, RawSource, SelectorKind};

/// Python's `selectors.SelectSelector`: select(2) on Unix, Winsock `select` on Windows.
///
/// Unlike C's `fd_set` (and Python, whose `select()` fails for every descriptor once one is
/// above 1023), this backend handles any descriptor number.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use ioloop::selector::{Events, Interest, SelectSelector, Selector, Source};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut selector = SelectSelector::new()?;
/// // SAFETY: `listener` stays open until it is unregistered below.
/// unsafe { selector.register(listener.raw_source(), 5, Interest::READ)? };
/// let _client = TcpStream::connect(listener.local_addr()?)?;
/// let mut events = Events::new();
/// selector.select(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events.iter().next().map(|event| event.key()), Some(5));
/// selector.unregister(listener.as_source())?;
/// # std::io::Result::Ok(())
/// ```
pub struct SelectSelector {
    registrations: Registrations,
    read: FdSet,
    write: FdSet,
    except: FdSet,
    wake: WakeReceiver,
    wake_source: RawSource,
    /// The wake-up socket was readable in the last wait.
    woken: bool,
}

impl SelectSelector {
    /// Creates a select selector.
    ///
    /// # Errors
    ///
    /// The OS's error if the wake-up socket cannot be created.
    pub fn new() -> io::Result<SelectSelector> {
        SelectorKind::Select.check_available()?;
        let wake = WakeReceiver::with_socket()?;
        let wake_source = wake.source().expect("a socket receiver has a source");
        Ok(SelectSelector {
            registrations: Registrations::default(),
            read: FdSet::default(),
            write: FdSet::default(),
            except: FdSet::default(),
            wake,
            wake_source,
            woken: false,
        })
    }

    /// Fills the three sets from the registrations; returns the highest source in them.
    fn fill_sets(&mut self) -> RawSource {
        let count = self.registrations.len() + 1;
        let mut highest = self.wake_source;
        for (_, registration) in self.registrations.iter() {
            if !registration.interest.is_none() {
                highest = highest.max(registration.source);
            }
        }
        for set in [&mut self.read, &mut self.write, &mut self.except] {
            set.reset(count, highest);
        }
        self.read.insert(self.wake_source);
        for (_, registration) in self.registrations.iter() {
            let (source, interest) = (registration.source, registration.interest);
            if interest.is_readable() {
                self.read.insert(source);
                if cfg!(unix) {
                    self.except.insert(source);
                }
            }
            if interest.is_writable() {
                self.write.insert(source);
                if cfg!(windows) {
                    self.except.insert(source);
                }
            }
        }
        highest
    }

    /// Reports every registered source found in `set`; returns whether the wake-up socket
    /// was in it.
    fn report_set(
        registrations: &mut Registrations,
        events: &mut Events,
        set: &FdSet,
        what: SetKind,
    ) -> bool {
        let mut wake_seen = false;
        for source in set.ready() {
            let Ok(slot) = registrations.find(source) else {
                wake_seen = true; // only the wake-up socket is in a set unregistered
                continue;
            };
            let (raw, flags) = match what {
                SetKind::Read => (Interest::READ, (false, false, false)),
                SetKind::Write => (Interest::WRITE, (false, false, false)),
                // Unix: urgent data, which a read can fetch. Windows: a failed connect,
                // which the writer learns of by writing (or from SO_ERROR).
                SetKind::Except if cfg!(unix) => (Interest::READ, (false, false, true)),
                SetKind::Except => (Interest::WRITE, (true, false, false)),
            };
            registrations.report(events, slot, raw, flags);
        }
        wake_seen
    }

    /// After `EBADF`: reports every registered descriptor that is no longer open as an error
    /// for that source alone, so one closed descriptor cannot starve the others.
    #[cfg(unix)]
    fn report_closed(&mut self, events: &mut Events) {
        let closed: Vec<usize> = self
            .registrations
            .iter()
            .filter(|(_, registration)| !registration.interest.is_none())
            .filter(|(_, registration)| {
                // SAFETY: the number goes to one fcntl(F_GETFD), which only validates it, and
                // the borrow ends with the call. A registered source is open by `register`'s
                // contract, unless the caller broke it, which is what this looks for: the
                // kernel answers EBADF for a closed number, with no undefined behaviour.
                let fd = unsafe { super::source::borrow_raw(registration.source) };
                rustix::io::fcntl_getfd(fd).is_err()
            })
            .map(|(slot, _)| slot)
            .collect();
        for slot in closed {
            self.registrations
                .report(events, slot, Interest::BOTH, (true, false, false));
        }
    }
}

impl std::fmt::Debug for SelectSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectSelector")
            .field("registrations", &self.registrations.len())
            .field("wake_source", &self.wake_source)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum SetKind {
    Read,
    Write,
    Except,
}

impl Backend for SelectSelector {
    const KIND: SelectorKind = SelectorKind::Select;

    fn registrations(&self) -> &Registrations {
        &self.registrations
    }

    fn registrations_mut(&mut self) -> &mut Registrations {
        &mut self.registrations
    }

    fn wake_receiver(&self) -> &WakeReceiver {
        &self.wake
    }

    // The sets are filled from the table before each wait: adding, changing or removing a
    // registration needs no system call, except the up-front check of a new one.

    unsafe fn os_register(&mut self, source: RawSource, _: usize, _: Interest) -> io::Result<()> {
        // select(2) would fail later, for every source at once; refuse a closed descriptor
        // now instead, as epoll and kqueue do.
        #[cfg(unix)]
        {
            // SAFETY: the caller keeps `register`'s contract (the source is open);
            // fcntl(F_GETFD) validates the number anyway, and the borrow ends with the call.
            let fd = unsafe { super::source::borrow_raw(source) };
            rustix::io::fcntl_getfd(fd)?;
        }
        #[cfg(windows)]
        let _ = source;
        Ok(())
    }

    fn os_modify(&mut self, _: BorrowedSource<'_>, _: usize, _: Interest) -> io::Result<()> {
        Ok(())
    }

    fn os_unregister(&mut self, _: BorrowedSource<'_>, _: &Registration) -> io::Result<()> {
        Ok(())
    }
}

impl WaitOnce for SelectSelector {
    fn wait_once(&mut self, events: &mut Events, wait: Option<Duration>) -> io::Result<()> {
        let highest = self.fill_sets();
        let result = fd_set::select(
            highest,
            &mut self.read,
            &mut self.write,
            &mut self.except,
            wait,
        );
        self.registrations.start_round();
        match result {
            Ok(_) => {}
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BADF.raw_os_error()) => {
                self.report_closed(events);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.woken = Self::report_set(&mut self.registrations, events, &self.read, SetKind::Read);
        Self::report_set(&mut self.registrations, events, &self.write, SetKind::Write);
        Self::report_set(
            &mut self.registrations,
            events,
            &self.except,
            SetKind::Except,
        );
        Ok(())
    }

    fn acknowledge_wake(&mut self) -> bool {
        // Read the wake-up socket only when it fired: no extra system call otherwise.
        std::mem::take(&mut self.woken) && self.wake.acknowledge()
    }
}
