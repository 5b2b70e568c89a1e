//! A channel (asyncore's "channel": a socket and its dispatcher) and the phases of its life.

use std::panic::{self, AssertUnwindSafe};

use super::dispatcher::AnyDispatcher;
use super::io_source::IoSource;
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
    /// A listener resting after the process ran out of descriptors: watched for nothing
    /// until its resume timer fires.
    Paused,
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
        }));
        asked.ok()
    }
}

/// What the loop keeps of an open channel between its callbacks.
pub(crate) struct Channel<S> {
    pub(crate) dispatcher: Box<dyn AnyDispatcher<S>>,
    pub(crate) io: IoSource,
    pub(crate) phase: Phase,
    /// The interest the selector has for it now.
    pub(crate) registered: Interest,
}
