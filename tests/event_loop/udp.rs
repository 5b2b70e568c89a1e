//! UDP sockets: datagrams echoed with `recv_from` and `send_to`.

use std::io;
use std::net::UdpSocket;

use ioloop::Dispatcher;
use ioloop::selector::SelectorKind;

use crate::common::LIMIT;
use crate::common::event_loop::{Log, run_until};
use crate::common::kinds::per_kind;
use crate::dispatchers::{Cx, new_loop};

/// Echoes datagrams with `recv_from`/`send_to`.
struct UdpEcho;

impl Dispatcher<Log> for UdpEcho {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 2048];
        let (n, from) = cx.recv_from(&mut buf)?;
        let sent = cx.send_to(&buf[..n], &from)?;
        let from = from.as_socket().expect("an IP address");
        cx.state()
            .push(format!("datagram {n} from {from} echoed {sent}"));
        Ok(())
    }
}

fn a_udp_channel_echoes_datagrams_with_recv_from_and_send_to(kind: SelectorKind) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(server, UdpEcho).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    let client_addr = client.local_addr().unwrap();
    for i in 0..10 {
        let message = format!("datagram number {i}");
        client.send_to(message.as_bytes(), server_addr).unwrap();
        run_until(&mut event_loop, |log| log.events.len() == i + 1, LIMIT);
        assert_eq!(
            event_loop.state().events[i],
            format!(
                "datagram {} from {client_addr} echoed {}",
                message.len(),
                message.len()
            )
        );
        let mut buf = [0u8; 2048];
        let (n, from) = client.recv_from(&mut buf).expect("the echo");
        assert_eq!(&buf[..n], message.as_bytes());
        assert_eq!(from, server_addr);
    }
}

per_kind! {
    a_udp_channel_echoes_datagrams_with_recv_from_and_send_to,
}
