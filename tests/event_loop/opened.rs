//! `handle_opened`: called once when a channel joins the loop, before any other callback of
//! it — for channels spawned outside the loop, from a callback, and by `connect`.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Duration;

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, TimerId};
use socket2::{SockAddr, Socket};

use crate::common::LIMIT;
use crate::common::event_loop::{Log, run_steps, run_until};
use crate::common::kinds::per_kind;
use crate::common::net::{accept_within, listener, recv_exact, tcp_pair};
use crate::common::on_thread;
use crate::dispatchers::{Cx, new_loop, quiet_socket};

const GREETING: &[u8] = b"220 ready\r\n";

/// Greets its peer from `handle_opened` and logs every callback, named after `name`.
struct Greeter {
    name: String,
}

impl Greeter {
    fn new(name: impl Into<String>) -> Greeter {
        Greeter { name: name.into() }
    }
}

impl Dispatcher<Log> for Greeter {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let connecting = cx.is_connecting();
        cx.state()
            .push(format!("{} opened connecting={connecting}", self.name));
        if !connecting {
            let sent = cx.send(GREETING)?;
            assert_eq!(sent, GREETING.len(), "a new socket has room for a greeting");
        }
        Ok(())
    }

    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("{} connect", self.name));
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 1024];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        cx.state().push(format!("{} read", self.name));
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("{} close", self.name));
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state()
            .push(format!("{} error {:?} {error}", self.name, error.kind()));
        cx.close();
    }
}

fn handle_opened_runs_once_before_handle_read_even_with_data_already_waiting(kind: SelectorKind) {
    let (mut peer, local) = tcp_pair();
    // The peer's data is there before the channel exists: its first event is a read.
    peer.write_all(b"early").unwrap();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, Greeter::new("c")).unwrap();
    assert!(
        event_loop.state().events.is_empty(),
        "handle_opened ran inside spawn"
    );
    run_until(&mut event_loop, |log| log.data == b"early", LIMIT);
    assert_eq!(recv_exact(&peer, GREETING.len()), GREETING);
    run_steps(&mut event_loop, 5);
    let log = event_loop.state();
    assert_eq!(
        log.events[0], "c opened connecting=false",
        "{:?}",
        log.events
    );
    assert_eq!(
        log.count("c opened connecting=false"),
        1,
        "{:?}",
        log.events
    );
    assert!(log.has("c read"), "{:?}", log.events);
}

fn handle_opened_runs_before_handle_connect(kind: SelectorKind) {
    let listener = listener();
    let mut event_loop = new_loop(kind);
    event_loop
        .connect(listener.local_addr().unwrap(), Greeter::new("c"))
        .unwrap();
    run_until(&mut event_loop, |log| log.has("c connect"), LIMIT);
    let (server_side, _) = accept_within(&listener, LIMIT);
    run_steps(&mut event_loop, 5);
    let log = event_loop.state();
    assert_eq!(
        log.events,
        ["c opened connecting=true", "c connect"],
        "handle_opened once, first, while connecting"
    );
    drop(server_side);
}

/// A listener that spawns a numbered `Greeter` for each connection, logging each spawn.
#[derive(Default)]
struct GreetingServer {
    accepted: usize,
}

impl Dispatcher<Log> for GreetingServer {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("listener opened");
        Ok(())
    }

    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        self.accepted += 1;
        let name = format!("s{}", self.accepted);
        cx.spawn(socket, Greeter::new(name.clone()))?;
        // Not yet: the spawned channel opens once this callback has returned.
        let log = cx.state();
        let opened_already = log.has(&format!("{name} opened connecting=false"));
        log.push(format!("spawned {name} opened_already={opened_already}"));
        Ok(())
    }
}

fn channels_spawned_from_handle_accepted_are_opened_and_their_greeting_arrives_unasked(
    kind: SelectorKind,
) {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(listener, GreetingServer::default())
        .unwrap();
    let mut clients = Vec::new();
    for i in 1..=2 {
        let client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(LIMIT)).unwrap();
        let opened = format!("s{i} opened connecting=false");
        run_until(&mut event_loop, |log| log.has(&opened), LIMIT);
        // The client has sent nothing: the greeting comes unasked.
        assert_eq!(recv_exact(&client, GREETING.len()), GREETING);
        clients.push(client);
    }
    clients[0].write_all(b"hi").unwrap();
    run_until(&mut event_loop, |log| log.has("s1 read"), LIMIT);
    run_steps(&mut event_loop, 5);
    let log = event_loop.state();
    assert_eq!(log.count("listener opened"), 1, "{:?}", log.events);
    assert_eq!(log.events[0], "listener opened", "{:?}", log.events);
    for name in ["s1", "s2"] {
        let opened = format!("{name} opened connecting=false");
        let spawned = format!("spawned {name} opened_already=false");
        assert_eq!(log.count(&opened), 1, "{:?}", log.events);
        assert_eq!(log.count(&spawned), 1, "{:?}", log.events);
        assert!(
            log.position(&spawned) < log.position(&opened),
            "{:?}",
            log.events
        );
    }
    assert!(log.has("s1 read"), "{:?}", log.events);
    assert!(
        log.position("s1 opened connecting=false") < log.position("s1 read"),
        "{:?}",
        log.events
    );
}

/// Logs `handle_opened` and `handle_timer`.
struct OpenedThenTimer;

impl Dispatcher<Log> for OpenedThenTimer {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("opened");
        Ok(())
    }

    fn handle_timer(&mut self, cx: &mut Cx<'_>, _: TimerId) -> io::Result<()> {
        cx.state().push("timer");
        Ok(())
    }
}

/// A listener that spawns an `OpenedThenTimer` and sets it a timer due at once.
struct ArmsAtOnce;

impl Dispatcher<Log> for ArmsAtOnce {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        let token = cx.spawn(socket, OpenedThenTimer)?;
        cx.call_later_for(token, Duration::ZERO);
        Ok(())
    }
}

/// "Before any other callback of the channel" holds for its timers too: a timer set by
/// the callback that spawned the channel, due in the same iteration, fires after
/// `handle_opened`.
fn handle_opened_runs_before_a_timer_due_in_the_iteration_that_spawned_the_channel(
    kind: SelectorKind,
) {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(listener, ArmsAtOnce).unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    run_until(&mut event_loop, |log| log.events.len() == 2, LIMIT);
    run_steps(&mut event_loop, 3);
    assert_eq!(event_loop.state().events, ["opened", "timer"]);
}

/// Stops the loop, or closes its own channel, from `handle_opened`.
struct QuitsAtOnce {
    stop: bool,
}

impl Dispatcher<Log> for QuitsAtOnce {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        if self.stop {
            cx.stop();
        } else {
            cx.close();
        }
        Ok(())
    }
}

/// What a greet-and-go server does: `run()` must see a stop or the last channel's close
/// asked for in `handle_opened` without first blocking in a wait that nothing ends.
fn a_stop_or_close_in_handle_opened_ends_run_without_waiting(kind: SelectorKind) {
    let channels_left = on_thread(move || {
        let mut left = Vec::new();
        for stop in [true, false] {
            let mut event_loop = new_loop(kind);
            event_loop
                .spawn(quiet_socket(), QuitsAtOnce { stop })
                .unwrap();
            event_loop.run().expect("run");
            left.push(event_loop.len());
        }
        left
    });
    // Stopped with its channel still open; closed, so nothing is left.
    assert_eq!(channels_left, [1, 0]);
}

per_kind! {
    a_stop_or_close_in_handle_opened_ends_run_without_waiting,
    handle_opened_runs_once_before_handle_read_even_with_data_already_waiting,
    handle_opened_runs_before_handle_connect,
    channels_spawned_from_handle_accepted_are_opened_and_their_greeting_arrives_unasked,
    handle_opened_runs_before_a_timer_due_in_the_iteration_that_spawned_the_channel,
}
