//! The limit: a line echo written by hand over mio (edge-triggered, registered once for both
//! directions) and memchr. Everything up to the last `\n` of a read (every complete line)
//! goes back in one write, straight from the read buffer; a partial line after it waits in
//! the connection's buffer. Unsent bytes stop the reading until the writable edge (bounded
//! memory).

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::READ_SIZE;

struct Conn {
    stream: TcpStream,
    /// Bytes read: complete lines not yet written back (from `sent`), then a partial line.
    buf: Vec<u8>,
    /// The end of the complete lines in `buf`.
    lines_end: usize,
    /// How much of the complete lines went out.
    sent: usize,
}

impl Conn {
    /// Writes the complete lines; false if the socket is full (or failed: `Err`).
    fn flush(&mut self) -> io::Result<bool> {
        while self.sent < self.lines_end {
            match self.stream.write(&self.buf[self.sent..self.lines_end]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Keep only the partial line.
        self.buf.drain(..self.lines_end);
        self.lines_end = 0;
        self.sent = 0;
        Ok(true)
    }

    /// Returns true once the connection is finished. Reads into `scratch` (one for all
    /// connections); the complete lines go out from there when nothing is pending.
    fn ready(&mut self, scratch: &mut [u8]) -> bool {
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
            if let Some(at) = memchr::memrchr(b'\n', data) {
                if self.buf.is_empty() {
                    // Nothing pending: write the lines straight from the read.
                    let end = at + 1;
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
                    self.lines_end = self.buf.len() + at + 1;
                    self.buf.extend_from_slice(data);
                    match self.flush() {
                        Ok(true) => {}
                        Ok(false) => return false,
                        Err(_) => return true,
                    }
                }
            } else {
                self.buf.extend_from_slice(data);
            }
            if n < scratch.len() {
                return false; // drained: the next arrival raises a new edge
            }
        }
    }
}

pub fn serve(listener: StdListener) -> io::Result<()> {
    const LISTENER: Token = Token(usize::MAX);
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut scratch = vec![0u8; READ_SIZE];
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            let entry = conns.vacant_entry();
                            poll.registry().register(
                                &mut stream,
                                Token(entry.key()),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            entry.insert(Conn {
                                stream,
                                buf: Vec::new(),
                                lines_end: 0,
                                sent: 0,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("mio accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let key = event.token().0;
            let done = match conns.get_mut(key) {
                Some(conn) => conn.ready(&mut scratch),
                None => continue,
            };
            if done {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}
