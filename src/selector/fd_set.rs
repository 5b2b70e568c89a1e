//! Descriptor sets for the select backend, sized at run time, and the `select` call itself.
//!
//! - Unix: a bit vector as long as the highest descriptor (`rustix`'s `FdSetElement`s), so
//!   descriptors above `FD_SETSIZE` work; C's `FD_SET` there is undefined behaviour.
//! - Windows: Winsock's counted array (`fd_count`, then the sockets), as long as the number
//!   of sockets. Winsock reads `fd_count` entries whatever its `FD_SETSIZE` of 64 says, so
//!   the set grows with the registrations. (`rustix`'s Windows `fd_set_insert` indexes the
//!   fixed 64-entry `FD_SET` and panics past 64 sockets, hence this code.)

use std::io;
use std::time::Duration;

use super::RawSource;

/// One descriptor set.
#[derive(Default)]
pub(crate) struct FdSet {
    #[cfg(unix)]
    bits: Vec<rustix::event::FdSetElement>,
    /// `[count, socket, socket, …]`, laid out as Winsock's `FD_SET` (the `u32` count is in the
    /// first `usize`, whose upper bytes stay zero; `SOCKET` is a `usize`).
    #[cfg(windows)]
    array: Vec<usize>,
}

impl FdSet {
    /// Empties the set and makes room for `count` sources numbered up to `highest`.
    pub(crate) fn reset(&mut self, count: usize, highest: RawSource) {
        #[cfg(unix)]
        {
            let _ = count;
            let elements = rustix::event::fd_set_num_elements(count, highest + 1);
            self.bits.clear();
            self.bits
                .resize(elements, rustix::event::FdSetElement::default());
        }
        #[cfg(windows)]
        {
            let _ = highest;
            self.array.clear();
            self.array.reserve(count + 1);
            self.array.push(0);
        }
    }

    /// Adds a source (once per `reset`).
    pub(crate) fn insert(&mut self, source: RawSource) {
        #[cfg(unix)]
        rustix::event::fd_set_insert(&mut self.bits, source);
        #[cfg(windows)]
        {
            self.array.push(source as usize);
            self.array[0] += 1;
        }
    }

    /// The sources the last `select` left in the set.
    pub(crate) fn ready(&self) -> impl Iterator<Item = RawSource> + '_ {
        #[cfg(unix)]
        let ready = rustix::event::FdSetIter::new(&self.bits);
        // Winsock rewrote the count (a `u32`) and compacted the ready sockets to the front.
        #[cfg(windows)]
        let ready = {
            let count = (self.array[0] & 0xffff_ffff).min(self.array.len() - 1);
            self.array[1..=count]
                .iter()
                .map(|&socket| socket as RawSource)
        };
        ready
    }
}

/// select(2) over three sets: `Ok` when it returned (ready or timed out).
///
/// # Errors
///
/// The OS's: `EINTR` (retried by the caller), `EBADF` for a closed descriptor.
pub(crate) fn select(
    highest: RawSource,
    read: &mut FdSet,
    write: &mut FdSet,
    except: &mut FdSet,
    wait: Option<Duration>,
) -> io::Result<()> {
    #[cfg(unix)]
    {
        let timespec = super::deadline::timespec(wait);
        // SAFETY: every descriptor in the sets is registered, and so open by `register`'s
        // contract; one that is not gives EBADF, not undefined behaviour (the kernel
        // validates every number). The sets are sized for `highest + 1` bits.
        unsafe {
            rustix::event::select(
                highest + 1,
                Some(&mut read.bits),
                Some(&mut write.bits),
                Some(&mut except.bits),
                timespec.as_ref(),
            )?;
        }
        Ok(())
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::Networking::WinSock::{
            FD_SET, SOCKET_ERROR, TIMEVAL, WSAGetLastError,
        };
        let _ = highest;
        let timeval = wait.map(|wait| TIMEVAL {
            tv_sec: wait.as_secs().min(i32::MAX as u64) as i32,
            tv_usec: wait.subsec_micros() as i32,
        });
        let timeout = timeval
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const TIMEVAL);
        let set = |set: &mut FdSet| set.array.as_mut_ptr().cast::<FD_SET>();
        // SAFETY: each array is laid out as an `FD_SET` whose `fd_count` entries all exist
        // (Winsock reads and writes no more than `fd_count`); the timeout outlives the call.
        let result = unsafe {
            windows_sys::Win32::Networking::WinSock::select(
                0,
                set(read),
                set(write),
                set(except),
                timeout,
            )
        };
        if result == SOCKET_ERROR {
            // SAFETY: no preconditions.
            return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
        }
        Ok(())
    }
}
