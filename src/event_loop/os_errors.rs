//! How the loop reads the OS's errors: which mean "the peer went away", which mean "out of
//! descriptors", which mean "a connect is under way", and the text of a caught panic.

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
