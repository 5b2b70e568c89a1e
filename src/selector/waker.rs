//! The cross-thread wake-up: a [`Waker`] ends a blocking [`Selector::select`] from any thread.
//!
//! The kqueue, IOCP and event-port backends use `polling`'s own notification (a kqueue user
//! event, an IOCP packet). epoll, poll and select watch a private socket: a Unix socket
//! pair's read end on Unix, a UDP socket connected to itself on Windows. A flag
//! coalesces wake-ups, so a thousand `wake` calls before the loop runs cost one write.
//!
//! [`Selector::select`]: super::Selector::select

use std::fmt;
use std::io;
#[cfg(unix)]
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(windows)]
use std::net::UdpSocket;
#[cfg(unix)]
use std::os::unix::net::UnixStream;

use super::{BorrowedSource, RawSource, Source};

/// A handle that wakes one selector's blocking `select` from any thread.
///
/// `Clone + Send + Sync`. A wake that comes while no `select` is waiting makes the next one
/// return at once. Wakes are coalesced: one return can answer many `wake` calls. A woken
/// `select` returns `Ok` with whatever events it found (maybe none).
///
/// # Examples
///
/// ```
/// use ioloop::selector::{DefaultSelector, Events, Selector};
///
/// let mut selector = DefaultSelector::new()?;
/// let waker = selector.waker();
/// let thread = std::thread::spawn(move || waker.wake());
/// let mut events = Events::new();
/// selector.select(&mut events, None)?; // returns once the other thread wakes it
/// thread.join().unwrap()?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct Waker {
    shared: Arc<Shared>,
}

struct Shared {
    pending: AtomicBool,
    signal: Signal,
}

enum Signal {
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    Poller(Arc<polling::Poller>),
    #[cfg(unix)]
    Socket(UnixStream),
    #[cfg(windows)]
    Socket(UdpSocket),
}

impl Waker {
    /// Wakes the selector (or makes its next `select` return at once).
    ///
    /// # Errors
    ///
    /// Only if the OS refuses the notification (it never does in practice). A full wake-up
    /// socket counts as success, since a wake is then already pending, and so does a wake
    /// after the selector was dropped: there is nothing left to wake.
    pub fn wake(&self) -> io::Result<()> {
        if self.shared.pending.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let result = match &self.shared.signal {
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Signal::Poller(poller) => poller.notify(),
            #[cfg(unix)]
            Signal::Socket(socket) => {
                let mut writer: &UnixStream = socket;
                writer.write(&[1]).map(drop)
            }
            #[cfg(windows)]
            Signal::Socket(socket) => socket.send(&[1]).map(drop),
        };
        match result {
            // Full: a wake is pending already.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            // The selector is gone (it owned the read end): there is nobody to wake.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => {
                // Nothing was signalled: let the next wake try again.
                self.shared.pending.store(false, Ordering::SeqCst);
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The selector's side of a [`Waker`].
pub(crate) struct WakeReceiver {
    shared: Arc<Shared>,
    #[cfg(unix)]
    reader: Option<UnixStream>,
    #[cfg(windows)]
    reader: Option<UdpSocket>,
}

impl WakeReceiver {
    /// A receiver for a `polling::Poller`, which wakes itself.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn for_poller(poller: Arc<polling::Poller>) -> WakeReceiver {
        WakeReceiver {
            shared: Arc::new(Shared {
                pending: AtomicBool::new(false),
                signal: Signal::Poller(poller),
            }),
            reader: None,
        }
    }

    /// A receiver with its own wake-up socket, whose read end the selector must watch
    /// (see [`source`](Self::source)).
    pub(crate) fn with_socket() -> io::Result<WakeReceiver> {
        #[cfg(unix)]
        let (reader, writer) = UnixStream::pair()?;
        #[cfg(windows)]
        let (reader, writer) = {
            let socket = UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
            socket.connect(socket.local_addr()?)?;
            (socket.try_clone()?, socket)
        };
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(WakeReceiver {
            shared: Arc::new(Shared {
                pending: AtomicBool::new(false),
                signal: Signal::Socket(writer),
            }),
            reader: Some(reader),
        })
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker {
            shared: self.shared.clone(),
        }
    }

    /// The wake-up socket to watch for readability, if this receiver has one.
    pub(crate) fn source(&self) -> Option<RawSource> {
        self.reader.as_ref().map(Source::raw_source)
    }

    /// The wake-up socket, borrowed, if this receiver has one.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) fn as_source(&self) -> Option<BorrowedSource<'_>> {
        self.reader.as_ref().map(Source::as_source)
    }

    /// Consumes pending wake-ups; `true` if there was one since the last call.
    ///
    /// The socket is drained before the flag is cleared: a `wake` racing with this call then
    /// either sees the flag still set (and this call reports it) or writes a fresh byte that the
    /// next wait sees. No wake is lost; at worst one extra wait returns early and is repeated.
    pub(crate) fn acknowledge(&mut self) -> bool {
        if let Some(reader) = &mut self.reader {
            let mut sink = [0u8; 64];
            loop {
                #[cfg(unix)]
                let read = reader.read(&mut sink);
                #[cfg(windows)]
                let read = reader.recv(&mut sink);
                match read {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // WouldBlock: drained. Anything else cannot be fixed by reading again.
                    Err(_) => break,
                }
            }
        }
        self.shared.pending.swap(false, Ordering::SeqCst)
    }
}

impl fmt::Debug for WakeReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeReceiver")
            .field("source", &self.source())
            .finish_non_exhaustive()
    }
}
