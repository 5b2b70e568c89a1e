//! A channel (asyncore's "channel": a socket and its dispatcher) and the phases of its life.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};

use super::admission::Admission;
use super::deadlines::Clocks;
use super::dispatcher::AnyDispatcher;
use super::io_source::IoSource;
use super::tls::TlsSlot;
use super::token::Token;
use crate::selector::Interest;

/// Where a channel is in its life. The phase decides which handlers an event reaches and
/// what the loop watches for, whatever the dispatcher answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A connect is under way: the loop watches for writability, and the next event
    /// completes it (`handle_connect`, or `handle_error` with the socket's error).
    Connecting,
    /// Established (or a datagram socket, or a plain descriptor): reads and writes.
    Open,
    /// The peer went away and `handle_close` ran, but the dispatcher kept the channel open
    /// (to flush a reply, say). The next disconnection closes it without asking again.
    Closing,
    /// A listening socket: readability means `handle_accept`; never watched for writing.
    Listening,
    /// A listener resting after the process ran out of descriptors (until its resume timer
    /// fires), or at its connection limit (until one of its connections closes): watched
    /// for nothing. Its `ListenerBook` says which holds it.
    Paused,
    /// Closed for the program ([`Context::close_lingering`](super::Context::close_lingering)):
    /// this side has shut down writing, and the loop reads and discards what the peer still
    /// sends until its end of file or the linger deadline, then closes. No handler runs.
    Lingering,
}

impl Phase {
    /// The phase a new channel starts in.
    pub(crate) fn initial(io: &IoSource, connecting: bool) -> Phase {
        if io.is_listener() {
            Phase::Listening
        } else if connecting {
            Phase::Connecting
        } else {
            Phase::Open
        }
    }

    /// Whether the channel accepts connections (its read events go to `handle_accept`).
    pub(crate) fn is_accepting(self) -> bool {
        matches!(self, Phase::Listening | Phase::Paused)
    }

    /// The interest the selector should have for a channel in this phase whose dispatcher
    /// is `dispatcher`; `None` if `readable()` or `writable()` panicked.
    ///
    /// This is the one place the loop asks those two questions.
    #[inline]
    pub(crate) fn interest<S: 'static>(
        self,
        dispatcher: &dyn AnyDispatcher<S>,
    ) -> Option<Interest> {
        let asked = panic::catch_unwind(AssertUnwindSafe(|| match self {
            // A connect completes on writability; asyncore needed `writable()` for this.
            Phase::Connecting => Interest::new(dispatcher.readable(), true),
            Phase::Open | Phase::Closing => {
                Interest::new(dispatcher.readable(), dispatcher.writable())
            }
            Phase::Listening => Interest::new(dispatcher.readable(), false),
            Phase::Paused => Interest::NONE,
            Phase::Lingering => Interest::READ,
        }));
        asked.ok()
    }
}

/// An open channel, as the loop's table keeps it.
///
/// While its callbacks run, the channel is lent to them: its dispatcher and source are
/// taken out (and held by the running [`Dispatch`](super::dispatch::Dispatch)), so the slot
/// shows `None` in both, and `phase` is the running copy's to change until it comes back.
pub(crate) struct Channel<S> {
    /// Generation of the slot, so that a token of a closed channel stays stale.
    pub(crate) generation: usize,
    pub(crate) dispatcher: Option<Box<dyn AnyDispatcher<S>>>,
    pub(crate) io: Option<IoSource>,
    pub(crate) phase: Phase,
    /// The interest the selector has for it now.
    pub(crate) registered: Interest,
    /// Queued for an interest refresh (`Core::mark_dirty`).
    pub(crate) dirty: bool,
    /// A warning of [`Context::warn_once`](super::Context::warn_once) was given already.
    pub(crate) warned: bool,
    /// While connecting: the addresses to try next if this attempt fails.
    #[allow(clippy::box_collection)] // one word in every channel, not four
    pub(crate) fallbacks: Option<Box<VecDeque<SocketAddr>>>,
    /// The channel's deadlines, while it has any (or lingers).
    pub(crate) clocks: Option<Box<Clocks>>,
    /// [`Context::close_when_drained`](super::Context::close_when_drained) was called: the
    /// loop no longer reads from the channel, and closes it once `writable()` answers false.
    pub(crate) close_when_drained: bool,
    /// Spawned from a listener with limits: that listener, which counts this channel until
    /// it leaves the table (`Core::remove_channel`).
    pub(crate) admission: Option<Box<Admission>>,
    /// The channel's TLS session, if it runs TLS (`None` while lent).
    pub(crate) tls: TlsSlot,
}

impl<S> Channel<S> {
    /// Whether the channel is in its slot (not lent to its running callbacks).
    pub(crate) fn is_idle(&self) -> bool {
        self.dispatcher.is_some()
    }
}

/// The channel whose callbacks run now, taken out of the loop's table for the duration.
/// Its [`Context`](super::Context) reaches it directly, and records here what the callbacks ask for.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) token: Token,
    /// `None` once closed: the source was unregistered and dropped at the `close` call.
    pub(crate) io: Option<IoSource>,
    pub(crate) phase: Phase,
    /// End of file or a disconnection was seen: `handle_close` is due when the current
    /// handler returns.
    pub(crate) disconnected: bool,
    /// The channel's one warning was given.
    pub(crate) warned: bool,
    /// The channel's deadlines, lent with it.
    pub(crate) clocks: Option<Box<Clocks>>,
    /// As [`Channel::close_when_drained`], while the channel is lent.
    pub(crate) close_when_drained: bool,
    /// The channel's TLS session, lent with it.
    pub(crate) tls: TlsSlot,
}

impl Running {
    pub(crate) fn new(
        token: Token,
        io: Option<IoSource>,
        phase: Phase,
        warned: bool,
        clocks: Option<Box<Clocks>>,
        tls: TlsSlot,
    ) -> Running {
        Running {
            token,
            io,
            phase,
            disconnected: false,
            warned,
            clocks,
            close_when_drained: false,
            tls,
        }
    }
}
