//! Raw mio: edge-triggered, registered once for both directions (no epoll_ctl after the
//! accept), reads until WouldBlock or a short read.

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;

use mio::net::TcpStream;
use mio::{Events, Interest};
use slab::Slab;

use crate::mio_server::{LISTENER, accept_all, listen, wait};

use crate::echo::READ_SIZE;

struct MioConn {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl MioConn {
    /// Returns true once the connection is finished.
    fn ready(&mut self, readable: bool, buf: &mut [u8]) -> bool {
        let had_pending = !self.pending.is_empty();
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        if !readable && !had_pending {
            return false;
        }
        loop {
            let n = match self.stream.read(buf) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            };
            let mut off = 0;
            while off < n {
                match self.stream.write(&buf[off..n]) {
                    Ok(k) => off += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Stop reading until the writable edge: bounded memory.
                        self.pending.extend_from_slice(&buf[off..n]);
                        return false;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return true,
                }
            }
            if n < buf.len() {
                return false; // drained: the next arrival raises a new edge
            }
        }
    }
}

pub fn serve(listener: StdListener) -> io::Result<()> {
    let (mut poll, listener) = listen(listener)?;
    let mut conns: Slab<MioConn> = Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; READ_SIZE];
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
                        Ok(MioConn {
                            stream,
                            pending: Vec::new(),
                        })
                    },
                )?;
                continue;
            }
            let key = event.token().0;
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let done = match conns.get_mut(key) {
                Some(conn) => conn.ready(readable, &mut buf),
                None => continue,
            };
            if done {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}
