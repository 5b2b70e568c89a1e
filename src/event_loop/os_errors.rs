//! How the loop reads the OS's errors: which mean "the peer went away", what a failed
//! `accept` means for its listener, which mean "a connect is under way", and the text of a
//! caught panic.

use std::io;

/// The errors asyncore treats as "the peer went away" (its `_DISCONNECTED` set): they lead
/// to `handle_close`, not `handle_error`.
pub(crate) fn is_disconnect(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected
    ) {
        return true;
    }
    let Some(code) = error.raw_os_error() else {
        return false;
    };
    #[cfg(unix)]
    {
        code == rustix::io::Errno::SHUTDOWN.raw_os_error()
            || code == rustix::io::Errno::BADF.raw_os_error()
    }
    #[cfg(windows)]
    {
        // WSAESHUTDOWN and WSAEBADF.
        code == 10058 || code == 10009
    }
}

/// What a failed `accept` means for its listener. None of them closes it: a listener closes
/// only when its dispatcher closes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// No connection is waiting (`EAGAIN`).
    NoneWaiting,
    /// The waiting connection went away before it was taken (`ECONNABORTED`, Winsock's
    /// `WSAECONNRESET`), or a signal interrupted the call: routine, nothing to report.
    PeerGone,
    /// A transient failure of the network or of this one connection (`EPROTO`, `EPERM` from a
    /// firewall, and what Linux's accept(2) says to treat like `EAGAIN`: `ENETDOWN`,
    /// `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`):
    /// reported, and the listener goes on.
    Transient,
    /// The process or the system ran out of something every accept needs (descriptors,
    /// socket buffers, memory): accepting again at once would fail again, so the listener
    /// rests a moment.
    Exhausted,
    /// Anything else: the handler's error, as before (`EBADF`, `EINVAL`, `ENOTSOCK`...).
    Other,
}

/// What a failed `accept` means (see [`AcceptFailure`]).
pub(crate) fn classify_accept_error(error: &io::Error) -> AcceptFailure {
    match error.kind() {
        io::ErrorKind::WouldBlock => return AcceptFailure::NoneWaiting,
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted => return AcceptFailure::PeerGone,
        _ => {}
    }
    let Some(code) = error.raw_os_error() else {
        return AcceptFailure::Other;
    };
    if is_descriptor_exhaustion(error) || EXHAUSTED.contains(&code) {
        AcceptFailure::Exhausted
    } else if TRANSIENT.contains(&code) {
        AcceptFailure::Transient
    } else if PEER_GONE.contains(&code) {
        AcceptFailure::PeerGone
    } else {
        AcceptFailure::Other
    }
}

/// Out of socket buffers or memory (descriptors are [`is_descriptor_exhaustion`]'s).
#[cfg(unix)]
const EXHAUSTED: [i32; 2] = [
    raw(rustix::io::Errno::NOBUFS),
    raw(rustix::io::Errno::NOMEM),
];
/// Winsock's `WSAENOBUFS` is in [`is_descriptor_exhaustion`]; nothing more here.
#[cfg(windows)]
const EXHAUSTED: [i32; 0] = [];

#[cfg(unix)]
const PEER_GONE: [i32; 2] = [
    raw(rustix::io::Errno::CONNABORTED),
    raw(rustix::io::Errno::INTR),
];
/// `WSAEINTR`, `WSAECONNRESET` (the connection was reset before it was accepted),
/// `WSAECONNABORTED`.
#[cfg(windows)]
const PEER_GONE: [i32; 3] = [10004, 10054, 10053];

#[cfg(any(target_os = "linux", target_os = "android"))]
const TRANSIENT: [i32; 9] = [
    raw(rustix::io::Errno::PROTO),
    raw(rustix::io::Errno::PERM),
    raw(rustix::io::Errno::NETDOWN),
    raw(rustix::io::Errno::NOPROTOOPT),
    raw(rustix::io::Errno::HOSTDOWN),
    raw(rustix::io::Errno::NONET),
    raw(rustix::io::Errno::HOSTUNREACH),
    raw(rustix::io::Errno::OPNOTSUPP),
    raw(rustix::io::Errno::NETUNREACH),
];
/// As on Linux, less `ENONET`, which only Linux has.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
const TRANSIENT: [i32; 8] = [
    raw(rustix::io::Errno::PROTO),
    raw(rustix::io::Errno::PERM),
    raw(rustix::io::Errno::NETDOWN),
    raw(rustix::io::Errno::NOPROTOOPT),
    raw(rustix::io::Errno::HOSTDOWN),
    raw(rustix::io::Errno::HOSTUNREACH),
    raw(rustix::io::Errno::OPNOTSUPP),
    raw(rustix::io::Errno::NETUNREACH),
];
/// `WSAENETDOWN`, `WSAEINPROGRESS`, `WSAEHOSTDOWN`, `WSAEHOSTUNREACH`, `WSAENETUNREACH`,
/// `WSAENETRESET`, `WSATRY_AGAIN`.
#[cfg(windows)]
const TRANSIENT: [i32; 7] = [10050, 10036, 10064, 10065, 10051, 10052, 11002];

#[cfg(unix)]
const fn raw(errno: rustix::io::Errno) -> i32 {
    errno.raw_os_error()
}

/// Whether an accept failed because the process or system ran out of descriptors.
pub(crate) fn is_descriptor_exhaustion(error: &io::Error) -> bool {
    let Some(code) = error.raw_os_error() else {
        return false;
    };
    #[cfg(unix)]
    {
        code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    }
    #[cfg(windows)]
    {
        // WSAEMFILE, and WSAENOBUFS, which Winsock gives when it runs out of socket buffers.
        code == 10024 || code == 10055
    }
}

/// Whether a non-blocking `connect` answered "under way" rather than failing.
pub(crate) fn is_connect_in_progress(error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::WouldBlock {
        return true; // Winsock's WSAEWOULDBLOCK
    }
    #[cfg(unix)]
    {
        error.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error())
    }
    #[cfg(windows)]
    {
        false
    }
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(code: i32) -> AcceptFailure {
        classify_accept_error(&io::Error::from_raw_os_error(code))
    }

    #[cfg(unix)]
    #[test]
    fn unix_accept_errors_never_close_the_listener() {
        use rustix::io::Errno;
        for errno in [Errno::NOBUFS, Errno::NOMEM, Errno::MFILE, Errno::NFILE] {
            assert_eq!(
                code(errno.raw_os_error()),
                AcceptFailure::Exhausted,
                "{errno:?}"
            );
        }
        for errno in [Errno::CONNABORTED, Errno::INTR] {
            assert_eq!(
                code(errno.raw_os_error()),
                AcceptFailure::PeerGone,
                "{errno:?}"
            );
        }
        for errno in [
            Errno::PROTO,
            Errno::PERM,
            Errno::NETDOWN,
            Errno::NOPROTOOPT,
            Errno::HOSTDOWN,
            Errno::HOSTUNREACH,
            Errno::OPNOTSUPP,
            Errno::NETUNREACH,
        ] {
            assert_eq!(
                code(errno.raw_os_error()),
                AcceptFailure::Transient,
                "{errno:?}"
            );
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(code(Errno::NONET.raw_os_error()), AcceptFailure::Transient);
        assert_eq!(
            code(Errno::AGAIN.raw_os_error()),
            AcceptFailure::NoneWaiting
        );
        // A listener that is no listener, or a closed one: the handler's error.
        for errno in [Errno::BADF, Errno::INVAL, Errno::NOTSOCK] {
            assert_eq!(
                code(errno.raw_os_error()),
                AcceptFailure::Other,
                "{errno:?}"
            );
        }
    }

    #[cfg(windows)]
    #[test]
    fn winsock_accept_errors_never_close_the_listener() {
        assert_eq!(code(10024), AcceptFailure::Exhausted); // WSAEMFILE
        assert_eq!(code(10055), AcceptFailure::Exhausted); // WSAENOBUFS
        assert_eq!(code(10054), AcceptFailure::PeerGone); // WSAECONNRESET
        assert_eq!(code(10004), AcceptFailure::PeerGone); // WSAEINTR
        assert_eq!(code(10050), AcceptFailure::Transient); // WSAENETDOWN
        assert_eq!(code(10035), AcceptFailure::NoneWaiting); // WSAEWOULDBLOCK
        assert_eq!(code(10038), AcceptFailure::Other); // WSAENOTSOCK
        assert_eq!(code(10022), AcceptFailure::Other); // WSAEINVAL: not listening
    }

    #[test]
    fn errors_without_a_code_are_the_handlers() {
        let error = io::Error::other("no code");
        assert_eq!(classify_accept_error(&error), AcceptFailure::Other);
        let error = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(classify_accept_error(&error), AcceptFailure::NoneWaiting);
    }
}
