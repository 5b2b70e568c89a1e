//! The limit: an echo of lines or length-prefixed frames written by hand over mio
//! (edge-triggered, registered once for both directions). Every complete message of a read
//! (lines: up to the last `\n`, found with memchr; frames: the headers walked) goes back
//! in one write, straight from the read buffer; a partial message after them waits in the
//! connection's buffer. Unsent bytes stop the reading until the writable edge (bounded
//! memory).

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;

use mio::net::TcpStream;
use mio::{Events, Interest};
use slab::Slab;

use crate::mio_server::{LISTENER, accept_all, listen, wait};

use crate::READ_SIZE;
use crate::pattern::Framing;

/// The end of the complete messages at the start of `data` (which starts at a message).
fn complete_end(framing: Framing, data: &[u8]) -> usize {
    match framing {
        Framing::Line => memchr::memrchr(b'\n', data).map_or(0, |at| at + 1),
        Framing::Length => {
            let mut end = 0;
            while let Some(header) = data.get(end..end + 4) {
                // SMPP's command_length counts the whole frame, its header included.
                let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
                if len < 4 || data.len() - end < len {
                    break; // incomplete (a length under 4 never completes: the client checks)
                }
                end += len;
            }
            end
        }
    }
}

struct Conn {
    stream: TcpStream,
    /// Bytes read: complete messages not yet written back (from `sent`), then a partial one.
    buf: Vec<u8>,
    /// The end of the complete messages in `buf`.
    lines_end: usize,
    /// How much of the complete messages went out.
    sent: usize,
}

impl Conn {
    /// Writes the complete messages; false if the socket is full (or failed: `Err`).
    fn flush(&mut self) -> io::Result<bool> {
        while self.sent < self.lines_end {
            match self.stream.write(&self.buf[self.sent..self.lines_end]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Keep only the partial message.
        self.buf.drain(..self.lines_end);
        self.lines_end = 0;
        self.sent = 0;
        Ok(true)
    }

    /// Returns true once the connection is finished. Reads into `scratch` (one for all
    /// connections); the complete messages go out from there when nothing is pending.
    fn ready(&mut self, framing: Framing, scratch: &mut [u8]) -> bool {
        match self.flush() {
            Ok(true) => {}
            Ok(false) => return false,
            Err(_) => return true,
        }
        loop {
            let n = match self.stream.read(scratch) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            };
            let data = &scratch[..n];
            if self.buf.is_empty() {
                // Nothing pending: write the complete messages straight from the read.
                let end = complete_end(framing, data);
                let mut off = 0;
                while off < end {
                    match self.stream.write(&data[off..end]) {
                        Ok(k) => off += k,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return true,
                    }
                }
                self.buf.extend_from_slice(&data[off..]);
                self.lines_end = end - off;
                if off < end {
                    return false; // full: wait for the writable edge
                }
            } else {
                self.buf.extend_from_slice(data);
                self.lines_end = complete_end(framing, &self.buf);
                match self.flush() {
                    Ok(true) => {}
                    Ok(false) => return false,
                    Err(_) => return true,
                }
            }
            if n < scratch.len() {
                return false; // drained: the next arrival raises a new edge
            }
        }
    }
}

pub fn serve(framing: Framing, listener: StdListener) -> io::Result<()> {
    let (mut poll, listener) = listen(listener)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut scratch = vec![0u8; READ_SIZE];
    let mut events = Events::with_capacity(1024);
    loop {
        wait(&mut poll, &mut events)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(
                    "mio",
                    &listener,
                    poll.registry(),
                    &mut conns,
                    Interest::READABLE | Interest::WRITABLE,
                    |stream| {
                        Ok(Conn {
                            stream,
                            buf: Vec::new(),
                            lines_end: 0,
                            sent: 0,
                        })
                    },
                )?;
                continue;
            }
            let key = event.token().0;
            let done = match conns.get_mut(key) {
                Some(conn) => conn.ready(framing, &mut scratch),
                None => continue,
            };
            if done {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}
